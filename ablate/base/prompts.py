"""Prompt construction shared by training and evaluation, so both see exactly the same tokens.

    >>> from ablate.base.prompts import video_user_text
    >>> print(video_user_text(2, "What is shown?"))
    Frame 1: <image>
    Frame 2: <image>
    What is shown?

A video prompt's user text is one line per frame in temporal order, "Frame k: " and the frame's
`<image>` placeholder (InternVL's video layout: frames interleaved with their index as text), then
the question. `chat_token_ids` applies the model's chat template with the generation prompt.
"""

from __future__ import annotations

IMAGE_TOKEN = "<image>"


def video_user_text(n_frames: int, question: str) -> str:
    """The user turn for a video of `n_frames` frames: one "Frame k: <image>" line per frame, question."""
    return "".join(f"Frame {k}: {IMAGE_TOKEN}\n" for k in range(1, n_frames + 1)) + question


def chat_text(tokenizer, user_text: str, assistant: str | None = None) -> str:
    """The chat-templated text; with `assistant`, the full turn ending in the end token."""
    messages = [{"role": "user", "content": user_text}]
    if assistant is not None:
        messages.append({"role": "assistant", "content": assistant})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=assistant is None)


def chat_token_ids(tokenizer, user_text: str) -> list[int]:
    """Token ids of the chat-templated user turn plus the assistant generation prompt."""
    return list(tokenizer(chat_text(tokenizer, user_text), add_special_tokens=False)["input_ids"])
