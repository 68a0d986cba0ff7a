"""Session fixtures of the base area: a micro base model that builds in seconds.

    def test_something(micro_base):          # ablate.base.BaseModel
        micro_base.lm_dir, micro_base.full_dir, micro_base.root / "vision"

The micro model has the real layout and architecture (Llava: CLIP tower + projector + Qwen2 LM with
head_dim 64, trained tokenizer with chat template and <image>) but is trained for a few steps only:
use it for formats and mechanics, never for quality. Built once per test session, in the session's
temporary ABLATE_CACHE.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def micro_base():
    import ablate  # noqa: F401  (hides the broken media libraries before transformers loads)
    from ablate.base import build_base

    return build_base("micro", verbose=False)
