"""Shared-prefix reuse (ablate.eval.reuse, vLLM prefix caching) and vLLM's CPU setup (ablate.eval.cpu_setup).

    .venv/bin/pytest tests/test_eval_reuse.py -q            # fast ones
    .venv/bin/pytest tests/test_eval_reuse.py -q -m slow    # the micro base with and without reuse
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fixtures_eval import build_lora

from ablate.eval.cpu_setup import MARK, bind_cpus, kv_cache_gib, launch_env, relaunch_with_cpu_setup
from ablate.eval.reuse import reuse_order


@dataclass
class _It:
    modality: str = "text"


@dataclass
class _P:
    ids: tuple | None
    vhash: str | None = None
    error: str | None = None
    item: _It = field(default_factory=_It)


def test_reuse_order_puts_shared_prefixes_together_and_keeps_variants_of_an_item_adjacent():
    a1, b, a2 = _P((1, 2, 3, 9)), _P((5, 6)), _P((1, 2, 3, 7))
    bad = _P(None, error="unreadable")
    v1, v2 = _P((4,), "h2", item=_It("video")), _P((3,), "h1", item=_It("video"))
    v3 = _P((5,), "h2", item=_It("video"))
    items = [a1, b, bad, a2, v1, v2, v3]
    work = [(v, p, f"{v}{i}") for i, p in enumerate(items) for v in ("x", "y")]
    out = reuse_order(work)
    assert sorted(k for _, _, k in out) == sorted(k for _, _, k in work)  # a permutation
    order = [p for _, p, _ in out][::2]
    assert order == [a2, a1, b, v2, v1, v3, bad]  # token-id order (a2 < a1), video by hash, errors last
    assert [v for v, _, _ in out] == ["x", "y"] * len(items)  # variants of an item stay back to back


def test_launch_env_preloads_and_binds(monkeypatch, tmp_path):
    import ablate.eval.cpu_setup as cs

    monkeypatch.setattr(cs, "tcmalloc_path", lambda: "/x/libtcmalloc_minimal.so.4")
    monkeypatch.setattr(cs, "iomp_path", lambda: "/x/libiomp5.so")
    monkeypatch.setattr(cs, "allowed_cpus", lambda: [0, 1, 2, 3])
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0-1,3")
    add = launch_env({"LD_PRELOAD": "/y/libfoo.so"})
    assert add["LD_PRELOAD"] == "/x/libtcmalloc_minimal.so.4:/y/libfoo.so:/x/libiomp5.so"
    assert add["KMP_AFFINITY"].endswith("proclist=[0,1,3]") and add["OMP_NUM_THREADS"] == "3"
    # what the user preloaded or bound stays; nothing is added twice
    add = launch_env({"LD_PRELOAD": "/z/libtcmalloc.so:/z/libgomp.so", "OMP_PLACES": "{0}"})
    assert "LD_PRELOAD" not in add and "KMP_AFFINITY" not in add and "OMP_NUM_THREADS" not in add
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    assert bind_cpus() is None and "KMP_AFFINITY" not in launch_env({})


def test_kv_cache_gib_follows_the_lm(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"num_hidden_layers": 30, "num_attention_heads": 9,
                                                      "num_key_value_heads": 3, "hidden_size": 576}))
    # SmolLM2-135M: 2 x 30 x 3 x 64 x 4 bytes = 46,080 bytes a token
    assert kv_cache_gib(tmp_path, tokens=1 << 16) == min(3, max(1, kv_cache_gib(tmp_path, tokens=1 << 40)))
    assert kv_cache_gib(tmp_path, tokens=1000) == 1
    assert kv_cache_gib(tmp_path / "missing") == 1


def test_relaunch_only_from_an_entry_point(monkeypatch):
    monkeypatch.delenv(MARK, raising=False)
    monkeypatch.setattr(os, "execve", lambda *a: pytest.fail("pytest must never be re-executed"))
    relaunch_with_cpu_setup()  # argv[0] is pytest's: no-op


def test_relaunched_entry_point_has_the_preloads(tmp_path):
    """A script named like an entry point re-executes once with LD_PRELOAD and binding set."""
    import ablate.eval.cpu_setup as cs

    if not cs.cpu_vllm() or not (cs.tcmalloc_path() or cs.iomp_path()):
        pytest.skip("no CPU vLLM or no preloadable library here")
    script = tmp_path / "bench_eval.py"
    script.write_text("import os, sys\nsys.path.insert(0, %r)\nprint('start', flush=True)\n"
                      "from ablate.eval import cpu_setup as c\nc.relaunch_with_cpu_setup()\n"
                      "print('LIBS', sorted(n for n in c.loaded_libs() if 'tcmalloc' in n or 'iomp' in n))\n"
                      "print('MARK', os.environ.get(c.MARK))\n" % str(Path(__file__).parents[1]))
    env = {k: v for k, v in os.environ.items() if k not in (MARK, "LD_PRELOAD")}
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120).stdout
    assert out.count("start") == 2 and "MARK 1" in out
    libs = out.split("LIBS", 1)[1].splitlines()[0]
    assert ("tcmalloc" in libs) == bool(cs.tcmalloc_path()) and ("iomp" in libs) == bool(cs.iomp_path())


@pytest.mark.slow
def test_replies_agree_with_and_without_prefix_reuse(micro_base, micro_world, tmp_path, monkeypatch):
    """world-text on the micro base with two adapters: reuse changes what is computed, not the replies."""
    import polars as pl

    from ablate.eval.benchmarks import BenchSpec
    from ablate.eval.stage import evaluate

    adapters = {"base": None, **{f"v{i}": build_lora(micro_base.lm_dir, tmp_path / f"a{i}", seed=i + 1) for i in range(2)}}
    specs = [BenchSpec("world-text", micro_world / "bench")]
    runs = {}
    for reuse in ("0", "1"):
        monkeypatch.setenv("ABLATE_PREFIX_REUSE", reuse)
        monkeypatch.setenv("ABLATE_NODE_CACHE", str(tmp_path / f"cache{reuse}"))  # no generation-cache hits
        out = evaluate(micro_base, adapters, specs, tmp_path / f"out{reuse}", frames=8, max_tokens=12, show_progress=False)
        runs[reuse] = (pl.read_parquet(out / "predictions.parquet").sort("variant", "item_id"),
                       json.loads((out / "eval.json").read_text())["engine_stats"])
    (off, off_stats), (on, on_stats) = runs["0"], runs["1"]
    assert off.height == on.height > 200
    agree = (off["reply"] == on["reply"]).mean()
    assert agree >= 0.99, f"replies agree on {agree:.1%} of items"
    assert abs(off["correct"].mean() - on["correct"].mean()) * 100 <= 0.5
    assert off_stats["cached_tokens"] == 0 and off_stats["prompt_tokens"] == on_stats["prompt_tokens"]
    computed = 1 - on_stats["cached_tokens"] / on_stats["prompt_tokens"]
    assert computed <= 0.5, f"with reuse {computed:.1%} of world-text prefill tokens were computed"
