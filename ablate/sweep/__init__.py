"""The sweep: recipe -> variants -> chained stages -> live table -> report (`ablate sweep/validate/plan/report`).

recipe.py (TOML -> validated dataclasses of sections.py), plan.py (grid -> variants), runner.py
(chains the stages; bookkeeping.py: its state and records; eval_shards.py: evaluation sharding),
worker.py (the child process a stage job runs in), live.py (progress table), lock.py (one sweep per
runs dir), report.py (Markdown + figures from predictions; report_stats.py, report_sections.py),
cli.py (the commands).
"""
