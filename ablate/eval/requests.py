"""Requests of the evaluation stage: benchmark items -> engine requests, one interface for both serving paths.

    from ablate.eval.requests import request_builder
    rb = request_builder(base, engine="vllm", frames=8, has_adapters=True, video=True)  # the path, chosen once
    prepared = rb.prepare(items)                     # prompt ids and resolved videos; per-item errors
    req, nbytes = rb.request(prepared[0], "t3", sampling, memo={})
    eng = rb.engine({"base": None, "t3": Path("runs/train/abc")})
    rb.cache_key, rb.route, rb.notice                # what the generation cache keys on; how it is served

Two builders behind one `RequestBuilder` protocol:
- `EmbeddedRequests`: the embedded tiny base and LLaVA-1.5 (ablate.base): text prompts as chat token
  ids; video prompts as prompt embeddings, the frames through the base's FrameEncoder with features
  cached per video (ablate.eval.video.FeatureCache); the engine serves the exported language model.
- `ServedRequests`: a VLM checkpoint (Qwen2-VL, LLaVA-NeXT-Video, LLaVA-OneVision), through its family's
  own chat template and preprocessing (ablate.eval.vlm.VideoServer, which also picks the route).
`request(p, adapter, sampling, memo)` returns the request and the bytes of video input it adds to the
chunk being built; `memo` (one per chunk) lets variants of one item share its prompt embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from ablate.eval.benchmarks import Item
from ablate.eval.engines.base import Engine, Request, SamplingParams
from ablate.eval.video import VideoError, resolve_video, video_hash


@dataclass
class Prepared:
    """One benchmark item ready for requests: its prompt ids, its resolved video, or why it cannot run."""

    item: Item
    ids: tuple[int, ...] | None = None
    video_path: Path | None = None
    vhash: str | None = None
    error: str | None = None


def prepare(items: list[Item], ids: Callable[[Item], tuple[int, ...]]) -> list[Prepared]:
    """Resolve every item's video (a missing or unsafe one is that item's error) and its prompt ids."""
    out = []
    for it in items:
        p = Prepared(it, error=it.error)
        if p.error is None and it.modality == "video":
            try:
                p.video_path = resolve_video(it.root or ".", it.video or "")
                p.vhash = video_hash(p.video_path)
            except VideoError as e:
                p.error = str(e)
        if p.error is None:
            p.ids = ids(it)
        out.append(p)
    return out


class RequestBuilder(Protocol):
    route: str  # how requests are served (the engine name, or a VLM route: hf, vllm-embeds, vllm-native)
    notice: str | None  # a one-line note on the route (a fallback), or None
    cache_key: str  # the base model's part of every generation-cache key

    def prepare(self, items: list[Item]) -> list[Prepared]: ...

    def request(self, p: Prepared, adapter: str | None, sampling: SamplingParams, memo: dict) -> tuple[Request, int]:
        """The request for item `p` under `adapter`, and the bytes of video input it adds (VideoError: p fails)."""
        ...

    def engine(self, adapters: dict[str, Path | None]) -> Engine: ...


class EmbeddedRequests:
    """The embedded base / LLaVA-1.5: chat token ids, and prompt embeddings for video."""

    def __init__(self, base, engine: str, frames: int, video: bool):
        from transformers import AutoTokenizer

        from ablate.base.prompts import base_layout

        self.base, self.route, self.notice, self.cache_key = base, engine, None, base.hash
        self.frames, self.video, self.layout = frames, video, base_layout(base)
        self.tok = AutoTokenizer.from_pretrained(base.lm_dir)
        self._encoder = self._features = None

    def _text(self, it: Item) -> str:
        from ablate.base.prompts import video_user_text

        return video_user_text(self.frames, it.prompt, self.layout) if it.modality == "video" else it.prompt

    def prepare(self, items: list[Item]) -> list[Prepared]:
        from ablate.base.prompts import chat_token_ids

        return prepare(items, lambda it: tuple(chat_token_ids(self.tok, self._text(it))))

    def request(self, p: Prepared, adapter, sampling, memo: dict) -> tuple[Request, int]:
        if p.item.modality != "video":
            return Request(prompt_ids=p.ids, adapter=adapter, sampling=sampling), 0
        added = 0
        if p.item.item_id not in memo:
            emb = memo[p.item.item_id] = self._embeds(p)
            added = emb.numel() * emb.element_size()
        return Request(prompt_embeds=memo[p.item.item_id], adapter=adapter, sampling=sampling), added

    def _embeds(self, p: Prepared):
        if self._features is None:  # the frame encoder loads on the first video
            from ablate.base.embed import FrameEncoder
            from ablate.eval.video import FeatureCache

            self._encoder = FrameEncoder(self.base)
            self._features = FeatureCache(self._encoder, self.base.hash, self.frames)
        return self._encoder.prompt_embeds(self._features.features(p.video_path, p.vhash), self._text(p.item))

    def engine(self, adapters: dict[str, Path | None]) -> Engine:
        from ablate.eval.engines import load_engine

        return load_engine(self.route, self.base.lm_dir, adapters, prompt_embeds=self.video)


class ServedRequests:
    """A VLM checkpoint through ablate.eval.vlm.VideoServer (its template, preprocessing and route)."""

    def __init__(self, server):
        self.server, self.route, self.notice = server, server.route, server.notice
        self.cache_key = f"{server.base.hash}:{server.key()}"

    def prepare(self, items: list[Item]) -> list[Prepared]:  # video ids are built per request
        return prepare(items, lambda it: tuple(self.server.text_ids(it.prompt)) if it.modality != "video" else ())

    def request(self, p: Prepared, adapter, sampling, memo: dict) -> tuple[Request, int]:
        if p.item.modality != "video":
            return Request(prompt_ids=p.ids, adapter=adapter, sampling=sampling), 0
        req = self.server.video_request(p.video_path, p.vhash, p.item.prompt, adapter, sampling)
        return req, self.server.nbytes(req)

    def engine(self, adapters: dict[str, Path | None]) -> Engine:
        return self.server.engine(adapters)


def request_builder(base, engine: str, frames: int, has_adapters: bool, video: bool) -> RequestBuilder:
    """ServedRequests for a VLM checkpoint (its route's notice printed once), else EmbeddedRequests."""
    from ablate.models import family_of_base

    fam = family_of_base(base)
    if not fam.is_vlm:
        return EmbeddedRequests(base, engine, frames, video)
    from ablate.eval.vlm import VideoServer

    server = VideoServer(base, fam, engine, frames, has_adapters)
    if server.notice:
        from ablate.ui import console

        console.print(f"note: {server.notice}", highlight=False)
    return ServedRequests(server)
