"""The embedded world: procedurally rendered scenes, captions, clips and a TempCompass-format bench.

    from ablate.world import build_world, default_world
    manifest = build_world("/tmp/world", images=2000, videos=60)
    root = default_world()           # cached under cache_root()/world/<key>/

Modules: scene (data + vocabularies), render (pixels), captions (English), clips (events over time),
questions (what is asked about a clip), bench (TempCompass layout + text twin), build (the command).
"""

from __future__ import annotations

from ablate.world.build import add_cli, build_world, default_world

__all__ = ["add_cli", "build_world", "default_world"]
