"""Frames -> vision tower + projector -> LM input embeddings, for vLLM's `prompt_embeds` input.

    from ablate.base import resolve_base
    from ablate.base.embed import FrameEncoder
    from ablate.base.prompts import video_user_text
    enc = FrameEncoder(resolve_base("smol"))
    feats = enc.encode(frames)                      # uint8 [T, H, W, 3] -> [T, tokens_per_frame, hidden]
    emb = enc.prompt_embeds(feats, video_user_text(len(frames), "Describe each frame in order."))
    llm.generate({"prompt_embeds": emb}, ...)       # vLLM running base.lm_dir (plus a LoRA)

This reproduces LlavaModel exactly (same preprocessing, same feature layer and CLS drop, same
projector, placeholder tokens replaced in order), so the HF `full/` model and this split path agree;
`ablate base check` measures that on world videos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ablate.base.prompts import IMAGE_TOKEN, chat_token_ids
from ablate.core import UserError


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 [T,H,W,3] -> uint8 [T,size,size,3] with PIL bicubic (CLIP's resize); unchanged if already that size.

    Pretraining, held-out metrics and evaluation all resize through here, so the base sees frames of
    a video exactly as it saw frames of its training images.
    """
    if frames.shape[1:3] == (size, size):
        return frames
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).convert("RGB").resize((size, size), Image.BICUBIC)) for f in frames])


def preprocess(frames: np.ndarray, size: int, mean, std) -> np.ndarray:
    """uint8 [T,H,W,3] -> float32 [T,3,size,size]: resize if needed (PIL bicubic), CLIP normalise."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise UserError(f"frames must be uint8 [T,H,W,3], got shape {frames.shape}")
    frames = resize_frames(frames, size)
    x = frames.astype(np.float32) * np.float32(1 / 255)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class FrameEncoder:
    """Vision tower + projector of a LLaVA-style base, plus the LM's token embedding table."""

    def __init__(self, base, device: str = "cpu"):
        import json

        import torch
        from safetensors.torch import load_file
        from transformers import AutoTokenizer, CLIPVisionModel, LlavaConfig
        from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

        if base.kind != "llava":
            raise UserError(f"{base.root}: base kind {base.kind!r} has no vision tower; video needs a llava base")
        vdir = Path(base.root) / "vision"
        src = vdir if (vdir / "model.safetensors").exists() else Path(base.full_dir)
        self.config = LlavaConfig.from_pretrained(src)
        if src == vdir:
            weights = load_file(str(vdir / "model.safetensors"))
        else:  # a real llava checkpoint: take the two parts from the full model's weights
            from transformers import LlavaForConditionalGeneration

            full = LlavaForConditionalGeneration.from_pretrained(src, dtype=torch.float32)
            weights = {f"vision_tower.{k}": v for k, v in full.model.vision_tower.state_dict().items()}
            weights.update({f"multi_modal_projector.{k}": v for k, v in full.model.multi_modal_projector.state_dict().items()})
        self.device = torch.device(device)
        self.tower = CLIPVisionModel(self.config.vision_config)
        self.tower.load_state_dict({k[len("vision_tower."):]: v for k, v in weights.items() if k.startswith("vision_tower.")})
        self.projector = LlavaMultiModalProjector(self.config)
        self.projector.load_state_dict({k[len("multi_modal_projector."):]: v for k, v in weights.items() if k.startswith("multi_modal_projector.")})
        self.tower.to(self.device).float().eval()
        self.projector.to(self.device).float().eval()
        self.tokenizer = AutoTokenizer.from_pretrained(base.lm_dir)
        lm_weights = _load_lm_embeddings(Path(base.lm_dir))
        self.embed_tokens = lm_weights.to(self.device).float()
        self.image_token_id = self.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        ipc: dict = {}  # normalisation constants: new (processor_config) or old (preprocessor_config) layout
        for name, key in (("processor_config.json", "image_processor"), ("preprocessor_config.json", None)):
            f = Path(base.full_dir) / name
            if f.exists() and not ipc:
                d = json.loads(f.read_text())
                ipc = d.get(key, {}) if key else d
        self.mean = ipc.get("image_mean", [0.48145466, 0.4578275, 0.40821073])
        self.std = ipc.get("image_std", [0.26862954, 0.26130258, 0.27577711])
        self.frame_size = int(self.config.vision_config.image_size)
        self.tokens_per_frame = (self.frame_size // int(self.config.vision_config.patch_size)) ** 2
        self.hidden = int(self.embed_tokens.shape[1])

    def encode(self, frames: np.ndarray):
        """uint8 [T,H,W,3] -> float32 tensor [T, tokens_per_frame, hidden]."""
        import torch

        x = torch.from_numpy(preprocess(frames, self.frame_size, self.mean, self.std)).to(self.device)
        with torch.no_grad():
            out = self.tower(x, output_hidden_states=True, return_dict=True)
            hs = out.hidden_states[self.config.vision_feature_layer]
            if self.config.vision_feature_select_strategy == "default":
                hs = hs[:, 1:]
            return self.projector(hs)

    def prompt_embeds(self, frame_feats, user_text: str):
        """[L, hidden] embeddings of the chat prompt with frame features spliced in at `<image>`s."""
        import torch

        ids = torch.tensor(chat_token_ids(self.tokenizer, user_text), device=self.device)
        slots = (ids == self.image_token_id).nonzero().flatten().tolist()
        if len(slots) != len(frame_feats):
            raise UserError(f"prompt has {len(slots)} {IMAGE_TOKEN} placeholders but {len(frame_feats)} frames were encoded")
        parts, prev = [], 0
        emb = self.embed_tokens[ids]
        for k, s in enumerate(slots):
            parts.append(emb[prev:s])
            parts.append(frame_feats[k].to(emb.dtype))
            prev = s + 1
        parts.append(emb[prev:])
        return torch.cat(parts, 0)


def _load_lm_embeddings(lm_dir: Path):
    """The input embedding table of a causal-LM directory (single or sharded safetensors)."""
    import json

    from safetensors import safe_open

    files = [lm_dir / "model.safetensors"]
    index = lm_dir / "model.safetensors.index.json"
    if index.exists():
        wm = json.loads(index.read_text())["weight_map"]
        files = [lm_dir / wm[k] for k in wm if k.endswith("embed_tokens.weight")]
    for f in files:
        with safe_open(str(f), framework="pt") as h:
            for k in h.keys():
                if k.endswith("embed_tokens.weight"):
                    return h.get_tensor(k)
    raise UserError(f"{lm_dir}: no embed_tokens weight found")
