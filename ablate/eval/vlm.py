"""Requests and engines for a VLM checkpoint in the evaluation stage (ablate.eval.stage calls this).

    from ablate.eval.vlm import VideoServer
    srv = VideoServer(base, family, engine="vllm", frames=8, has_adapters=True)
    srv.route, srv.notice                       # e.g. "hf", "qwen2_vl: M-RoPE positions ... HF engine serves it here"
    ids = srv.text_ids("Question ...")          # chat-templated text prompt
    req = srv.video_request(path, vhash, "Question ...", adapter="t3", sampling=sp)
    engine = srv.engine({"base": None, "t3": adapter_dir})

Routes (ablate.models.routes): `hf` sends ids with expanded video tokens plus the family's arrays to
ablate.eval.engines.hf_vlm; `vllm-embeds` turns them into prompt embeddings with the checkpoint's own
vision tower, projector and embedding table (`get_video_features`, features scattered into the video
token positions exactly as the model's forward does) for vLLM on the exported language model;
`vllm-native` (GPU) sends the templated text and the raw frames to vLLM serving the whole checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from ablate.core import stable_hash
from ablate.eval.engines.base import Request
from ablate.models.chat import text_prompt_ids, text_ready, video_prompt_ids, video_prompt_text
from ablate.eval.video import load_raw_frames
from ablate.models.frames import processor_config
from ablate.models.routes import pick_route

SERVE_VERSION = 1  # bump when request construction for VLM families changes


class VideoServer:
    def __init__(self, base, family, engine: str, frames: int, has_adapters: bool):
        from transformers import AutoConfig, AutoTokenizer

        self.base, self.family, self.frames = base, family, frames
        self.dir = Path(base.full_dir or base.root)
        self.route, self.notice = pick_route(family, engine, has_adapters)
        self.tok = text_ready(AutoTokenizer.from_pretrained(self.dir))
        self.config = AutoConfig.from_pretrained(self.dir)
        self.pp = processor_config(self.dir)
        self.impl = family.module()
        self._vlm = None

    def key(self) -> str:
        """What the generation cache must also key on (preprocessing and prompt layout)."""
        return stable_hash([self.family.name, self.pp, self.frames, SERVE_VERSION])

    def text_ids(self, text: str) -> list[int]:
        return text_prompt_ids(self.tok, text)

    def _model(self):
        if self._vlm is None:
            import torch
            from transformers import AutoModelForImageTextToText

            self._vlm = AutoModelForImageTextToText.from_pretrained(self.dir, dtype=torch.float32).eval()
        return self._vlm

    def video_request(self, path: Path, vhash: str, question: str, adapter: str | None, sampling) -> Request:
        frames = load_raw_frames(path, self.frames, vhash)
        if self.route == "vllm-native":
            return Request(prompt_ids=tuple(self.text_ids(question)), adapter=adapter, sampling=sampling,
                           mm={"prompt": video_prompt_text(self.tok, question), **self.impl.vllm_video(frames)})
        arrays = self.impl.preprocess(frames, self.pp)
        ids = video_prompt_ids(self.tok, self.family, question, self.impl.video_tokens(arrays, self.config))
        if self.route == "hf":
            return Request(prompt_ids=tuple(ids), mm=arrays, adapter=adapter, sampling=sampling)
        return Request(prompt_embeds=self.embeds(ids, arrays), adapter=adapter, sampling=sampling)

    def embeds(self, ids: list[int], arrays: dict):
        """[L, hidden] float32: token embeddings with the video features in the video-token slots."""
        import torch

        m = self._model()
        with torch.no_grad():
            t = torch.tensor(ids)
            emb = m.get_input_embeddings()(t).float()
            pv = torch.from_numpy(arrays["pixel_values_videos"]).float()
            out = m.model.get_video_features(pixel_values_videos=pv)
            feats = out.pooler_output if hasattr(out, "pooler_output") else out
            parts = feats if isinstance(feats, (list, tuple)) else [feats]
            feats = torch.cat([f.reshape(-1, emb.shape[-1]) for f in parts], 0)
            slots = t == int(self.config.video_token_id if hasattr(self.config, "video_token_id") else self.config.video_token_index)
            emb[slots] = feats.to(emb.dtype)
        return emb

    def nbytes(self, req: Request) -> int:
        if req.prompt_embeds is not None:
            return req.prompt_embeds.numel() * req.prompt_embeds.element_size()
        return sum(getattr(v, "nbytes", 0) for v in (req.mm or {}).values())

    def engine(self, adapters: dict[str, Path | None]):
        if self.route == "hf":
            from ablate.eval.engines.hf_vlm import VLMEngine

            return VLMEngine(self.dir, adapters, self.family)
        from ablate.eval.engines.vllm_engine import VLLMEngine

        if self.route == "vllm-native":
            return VLLMEngine(self.dir, adapters, prompt_embeds=False, limit_mm_per_prompt={"video": 1})
        from ablate.models.adapters import export_lm, lm_adapter

        lm_dir = export_lm(self.dir, self.family, self.base.hash, model=self._vlm)
        return VLLMEngine(lm_dir, {k: (lm_adapter(p, self.family) if p else None) for k, p in adapters.items()},
                          prompt_embeds=True)
