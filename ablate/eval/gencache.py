"""The item-level generation cache of the evaluation stage: one SQLite table shared by every run on a
machine, and `CachingEngine`, the cache as a wrapper around any engine (as lm-eval's CachingLM).

    from ablate.eval.gencache import CachingEngine, GenCache
    cache = GenCache()  # node_cache_root()/eval/generations.sqlite
    cache.put_many({"k": {"reply": "A", "prompt_tokens": 3, "gen_tokens": 1, "latency_s": 0.1}})
    cache.get_many(["k"])  # {"k": {...}}; damaged entries and databases are misses, never errors

    with CachingEngine(lambda: load_engine("vllm", lm_dir, adapters)) as ce:
        hits = ce.cached(keys)                   # no engine started
        new = ce.generate(miss_keys, requests)   # the engine starts on the first real request; stored

Keys are built by ablate.eval.stage (base hash, adapter sha256, item content hash, frames, sampling,
prompt and eval versions); this module only stores and returns JSON values.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Callable

from ablate.core import node_cache_root


_WHERE = "ABLATE_NODE_CACHE (else ABLATE_CACHE)"


def _warn(msg: str) -> None:
    import sys

    print(f"warning: {msg}", file=sys.stderr, flush=True)



class GenCache:
    """Item-level generation cache: one SQLite table shared by every run on this machine."""

    def __init__(self, path: Path | None = None):
        from ablate.core import UserError
        from ablate.fs import doing, ensure_dir

        path = path or node_cache_root() / "eval" / "generations.sqlite"
        ensure_dir(path.parent, "creating the generation cache dir", _WHERE)
        self.path = path
        try:
            self.db = self._open(path)
        except sqlite3.DatabaseError as e:  # a damaged cache is set aside, never fatal: it only saves time
            if not path.is_file():  # not damaged: it cannot be created (read-only dir, a directory in the way)
                fix = (f"{path} is a directory where ablate writes a file: move it away" if path.is_dir() else
                       f"make {path.parent} writable")
                raise UserError(f"{path}: opening the generation cache failed ({e}). Fix: {fix}, or set "
                                f"{_WHERE} to a writable directory") from None
            bad = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            with doing("setting aside the damaged generation cache", path, _WHERE):
                path.replace(bad)
            _warn(f"{path}: not a usable SQLite database ({e}); moved to {bad.name}, starting an empty cache")
            self.db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), timeout=120)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS gen (key TEXT PRIMARY KEY, value TEXT)")
            db.execute("SELECT key, value FROM gen LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        out = {}
        try:
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                q = f"SELECT key, value FROM gen WHERE key IN ({','.join('?' * len(part))})"
                for k, v in self.db.execute(q, part):
                    try:
                        out[k] = json.loads(v)
                    except (TypeError, ValueError):
                        continue  # a damaged entry is a miss
        except sqlite3.DatabaseError as e:
            _warn(f"{self.path}: cannot read cached generations ({e}); generating them again")
        return {k: g for k, g in out.items() if isinstance(g, dict) and isinstance(g.get("reply"), str)
                and all(f in g for f in ("prompt_tokens", "gen_tokens", "latency_s"))}

    def put_many(self, entries: dict[str, dict]) -> None:
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO gen VALUES (?, ?)",
                                    [(k, json.dumps(v)) for k, v in entries.items()])
        except sqlite3.DatabaseError as e:
            _warn(f"{self.path}: cannot store generations ({e}); this run's results are unaffected")

    def close(self) -> None:
        self.db.close()


class CachingEngine:
    """An engine behind the generation cache: cached replies never start it; new ones are stored.

    `start()` builds the engine, once, when the first request that is not cached comes. `seconds` and
    `requests` count generation only (engine start excluded), for a requests/s figure.
    """

    def __init__(self, start: Callable, cache: GenCache | None = None):
        self.start, self.cache, self.engine = start, cache or GenCache(), None
        self.seconds, self.requests = 0.0, 0
        self.stats = None  # the engine's own counters (prefill tokens, prefix-cache hits), kept at close

    def cached(self, keys: list[str]) -> dict[str, dict]:
        return self.cache.get_many(keys)

    def generate(self, keys: list[str], requests: list) -> dict[str, dict]:
        """key -> {reply, prompt_tokens, gen_tokens, latency_s} for each request, stored in the cache."""
        if not requests:
            return {}
        if self.engine is None:
            self.engine = self.start()
        t0 = time.perf_counter()
        gens = self.engine.generate(requests)
        self.seconds += time.perf_counter() - t0
        self.requests += len(requests)
        new = {k: {"reply": g.text, "prompt_tokens": g.prompt_tokens, "gen_tokens": g.gen_tokens,
                   "latency_s": g.latency_s} for k, g in zip(keys, gens)}
        self.cache.put_many(new)
        return new

    def close(self) -> None:
        try:
            if self.engine is not None:
                self.stats = getattr(self.engine, "stats", None)
                self.engine.close()
        finally:
            self.cache.close()

    def __enter__(self) -> "CachingEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
