"""Which precision the embedded base pretrains in on this CPU: bf16 autocast only where it is native.

    >>> from ablate.base.precision import resolve_precision
    >>> resolve_precision("fp32")
    'fp32'

bf16 autocast halves the matmul time where the CPU has bf16 instructions (AVX512-BF16 or AMX, e.g.
Intel Sapphire Rapids and later, AMD Zen 4 and later) and is an order of magnitude slower where it is
emulated (an AVX2-only AMD EPYC ran a stage-1 step in 3.0 s with bf16 against 0.23 s in fp32). So
`precision = "auto"` (the default) resolves to "bf16" only when /proc/cpuinfo lists `avx512_bf16` or
`amx_bf16`, else "fp32". The resolved value, never "auto", is what the base's cache key and manifest
hold: a bf16 base and an fp32 base are different models. The decision reads /proc/cpuinfo only (no
torch import), so `ablate plan` stays instant.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

PRECISIONS = ("auto", "bf16", "fp32")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def native_bf16() -> list[str]:
    """The native-bf16 flags this CPU has (empty: bf16 would be emulated)."""
    flags = cpu_flags()
    return [f for f in NATIVE_BF16_FLAGS if f in flags]


def resolve_precision(precision: str = "auto") -> str:
    """"bf16" or "fp32": `precision` itself unless "auto", which picks bf16 only where it is native."""
    if precision not in PRECISIONS:
        from ablate.core import UserError

        raise UserError(f"unknown base precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bf16" if native_bf16() else "fp32"


def describe_cpu() -> dict[str, str]:
    """CPU model, torch's kernel capability and the precision a base build will use (for doctor)."""
    model = "-"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    try:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - doctor reports whatever it can
        capability = "-"
    flags = native_bf16()
    return {"cpu": model, "torch_capability": capability,
            "native_bf16": ", ".join(flags) or "none",
            "base_precision": resolve_precision("auto")}
