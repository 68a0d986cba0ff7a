"""The embedded bases (`smol` / `micro`, built by `ablate base build`): a split LLaVA-style model.

Trained on its causal-LM view `lm/` (the whole model is the language model, so every Linear but the
head is a candidate target); video prompts are frames -> `vision/` tower + projector -> prompt
embeddings for vLLM or the HF engine on `lm/` (ablate.base.embed). Nothing here needs torch.
"""

from ablate.models.family import Family

FAMILY = Family(
    name="tiny",
    model_types=(),
    architectures=(),
    hf_class="Qwen2ForCausalLM",
    lm_prefix="",
    vision_prefixes=(),
    positions="1d",
    video_token="<image>",
    vllm_arch="Qwen2ForCausalLM",
    vllm_lora=True,
    impl=None,
    notes="video through ablate.base.embed.FrameEncoder (prompt embeddings); lm/ is what PEFT and vLLM load",
)
