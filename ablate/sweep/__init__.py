"""The sweep: recipe -> variants -> chained stages -> live table -> report (`ablate sweep/validate/plan/report`).

recipe.py (TOML -> validated dataclasses), plan.py (grid -> variants), runner.py (chains the stages),
worker.py (the child process a stage job runs in), live.py (progress table), lock.py (one sweep per
runs dir), report.py (Markdown + figures from predictions), cli.py (the commands).
"""
