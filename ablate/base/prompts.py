"""Prompt construction shared by training and evaluation, so both see exactly the same tokens.

    >>> from ablate.base.prompts import video_user_text
    >>> print(video_user_text(2, "What is shown?"))
    Frame 1: <image>
    Frame 2: <image>
    What is shown?
    >>> print(video_user_text(2, "What is shown?", layout="slots"))
    Based on the following frames of a video, answer the next question.
    <BLANKLINE>
    Frames:
    <image>
    <image>
    What is shown?

Two video layouts, a property of the base (its config's `layout`, read back by `base_layout`):
- "frame_k" (the `micro` base): one line per frame, "Frame k: " and the frame's `<image>` placeholder
  (InternVL's video layout), then the question;
- "slots" (the `smol` base): the shape of a T3 text video (t3.layout): an intro line, a header, one
  `<image>` per line where T3 has a caption, then the question, so that what T3 text teaches about
  caption lists can apply to frame lists.
`chat_token_ids` applies the model's chat template with the generation prompt.
"""

from __future__ import annotations

IMAGE_TOKEN = "<image>"
VIDEO_INTRO = "Based on the following frames of a video, answer the next question."


def slot_list_text(slots: list[str], question: str, intro: str = VIDEO_INTRO, header: str = "Frames:") -> str:
    """Intro, blank line, header, one slot (an `<image>` or a caption) per line, then the question block."""
    return "\n".join([intro, "", header, *slots, question])


LAYOUTS = ("frame_k", "slots")


def video_user_text(n_frames: int, question: str, layout: str = "frame_k") -> str:
    """The user turn for a video of `n_frames` frames in the base's layout (see the module docstring)."""
    if layout == "slots":
        return slot_list_text([IMAGE_TOKEN] * n_frames, question)
    return "".join(f"Frame {k}: {IMAGE_TOKEN}\n" for k in range(1, n_frames + 1)) + question


def base_layout(base) -> str:
    """The video layout a base was trained with: its manifest's config `layout`; "frame_k" if none."""
    import json
    from pathlib import Path

    root = getattr(base, "root", None)
    m = Path(root) / "manifest.json" if root is not None else None
    if m is None or not m.is_file():
        return "frame_k"
    try:
        return json.loads(m.read_text()).get("config", {}).get("layout") or "frame_k"
    except (OSError, ValueError):
        return "frame_k"


def chat_text(tokenizer, user_text: str, assistant: str | None = None) -> str:
    """The chat-templated text; with `assistant`, the full turn ending in the end token."""
    messages = [{"role": "user", "content": user_text}]
    if assistant is not None:
        messages.append({"role": "assistant", "content": assistant})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=assistant is None)


def chat_token_ids(tokenizer, user_text: str) -> list[int]:
    """Token ids of the chat-templated user turn plus the assistant generation prompt."""
    return list(tokenizer(chat_text(tokenizer, user_text), add_special_tokens=False)["input_ids"])
