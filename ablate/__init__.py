"""ablate: a high-throughput ablation runner for T3 (temporal reasoning transfer from text to video).

Stages, each a function from files to files, chained by the runner:
    t3/ synthesis -> ablate.train (TRL + PEFT LoRA) -> ablate.eval.stage (vLLM) -> ablate.sweep.report (Polars)

    $ ablate sweep recipes/data_scale.toml

Importing this package is cheap (no torch): heavy libraries are imported inside the functions that
need them. It does one thing at import time: hide CUDA-only media libraries that cannot load next to
a CPU torch (see ablate.compat).
"""

__version__ = "0.1.0"

from ablate import compat as _compat

_compat.hide_broken_media_libs()
