"""Prompt construction shared by training and evaluation, so both see exactly the same tokens.

    >>> from ablate.base.prompts import video_user_text
    >>> print(video_user_text(2, "What is shown?"))
    Based on the following frames of a video, answer the next question.
    <BLANKLINE>
    Frames:
    <image>
    <image>
    What is shown?

A video prompt's user text has the shape of a T3 text video (t3.layout): an intro line, a header,
then one slot per line in temporal order, here each frame's `<image>` placeholder where T3 has a
caption, then the question. The base's stage 2 poses non-temporal questions over such lists with
frame slots, caption slots or both, under either header (ablate.base.slots), so that what T3 text
teaches about caption lists applies to frame lists. `chat_token_ids` applies the chat template.
"""

from __future__ import annotations

IMAGE_TOKEN = "<image>"
VIDEO_INTRO = "Based on the following frames of a video, answer the next question."


def slot_list_text(slots: list[str], question: str, intro: str = VIDEO_INTRO, header: str = "Frames:") -> str:
    """Intro, blank line, header, one slot (an `<image>` or a caption) per line, then the question block."""
    return "\n".join([intro, "", header, *slots, question])


def video_user_text(n_frames: int, question: str) -> str:
    """The user turn for a video of `n_frames` frames: intro, "Frames:", one `<image>` line per frame, question."""
    return slot_list_text([IMAGE_TOKEN] * n_frames, question)


def chat_text(tokenizer, user_text: str, assistant: str | None = None) -> str:
    """The chat-templated text; with `assistant`, the full turn ending in the end token."""
    messages = [{"role": "user", "content": user_text}]
    if assistant is not None:
        messages.append({"role": "assistant", "content": assistant})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=assistant is None)


def chat_token_ids(tokenizer, user_text: str) -> list[int]:
    """Token ids of the chat-templated user turn plus the assistant generation prompt."""
    return list(tokenizer(chat_text(tokenizer, user_text), add_special_tokens=False)["input_ids"])
