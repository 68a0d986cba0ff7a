"""The evaluation stage: every variant in one inference engine, text and video benchmarks, offline scores.

stage.py (evaluate, `ablate eval` / `ablate rescore`), engines/ (the Engine contract: vLLM, HF),
benchmarks/ (loaders by name), scoring.py (rule-based scorers), video.py (frames and feature caches).
"""
