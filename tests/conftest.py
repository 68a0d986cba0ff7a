"""Shared test setup.

Every test session gets its own ABLATE_CACHE (so nothing is read from, or written to, the user's
cache). Area-specific fixtures live in tests/fixtures_<area>.py and are loaded as plugins here.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

_HERE = Path(__file__).parent
sys.path.insert(0, str(_HERE))
pytest_plugins = sorted(p.stem for p in _HERE.glob("fixtures_*.py"))

if "ABLATE_CACHE" not in os.environ or os.environ.get("ABLATE_TEST_KEEP_CACHE") != "1":
    os.environ["ABLATE_CACHE"] = tempfile.mkdtemp(prefix="ablate-test-cache-")
    # vLLM's own cache too (model-class inspection results, ~/.cache/vllm): a test must pass on a
    # machine where it is cold, as on a fresh CI machine, whatever ran here before (issue #13, item 6)
    os.environ["VLLM_CACHE_ROOT"] = os.path.join(os.environ["ABLATE_CACHE"], "vllm")


def _gpu_visible() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


def pytest_collection_modifyitems(config, items):
    if any("gpu" in item.keywords for item in items) and not _gpu_visible():
        skip = pytest.mark.skip(reason="no CUDA GPU visible")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
