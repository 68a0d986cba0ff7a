"""LLaVA-1.5 style checkpoints (`LlavaForConditionalGeneration`, CLIP tower, one <image> per frame).

What ablate.base.embed handles: frames -> CLIP tower (feature layer, CLS drop) -> projector, spliced
into the LM embeddings at each "Frame k: <image>" line (ablate.base.prompts.video_user_text). Served
by vLLM prompt embeddings on the language model, or the HF engine on the same embeddings.
"""

from ablate.models.family import Family

FAMILY = Family(
    name="llava",
    model_types=("llava",),
    architectures=("LlavaForConditionalGeneration",),
    hf_class="LlavaForConditionalGeneration",
    lm_prefix="model.language_model",
    vision_prefixes=("model.vision_tower", "model.multi_modal_projector"),
    positions="1d",
    video_token="<image>",
    vllm_arch="LlavaForConditionalGeneration",
    vllm_lora=True,
    vllm_prefix_map={"model.language_model.": "language_model.model.", "model.vision_tower.": "vision_tower.",
                     "model.multi_modal_projector.": "multi_modal_projector.", "lm_head.": "language_model.lm_head."},
    impl=None,
    notes="video through ablate.base.embed.FrameEncoder (one <image> per frame)",
)
