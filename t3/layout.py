"""The T3 "text video" prompt layout, shared by synthesis (t3/) and the world's text twin.

    >>> from t3.layout import text_video_prompt
    >>> print(text_video_prompt(["A red circle.", "A blue square."], "Which comes first?",
    ...                         ["the red circle", "the blue square"]))
    Based on the following captions describing keyframes of a video, answer the next question.
    <BLANKLINE>
    Captions:
    A red circle.
    A blue square.
    Question: Which comes first?
    (A) the red circle
    (B) the blue square
    Only give the best option:

Each caption stands for one frame, in temporal order. The answer turn is the full option line,
e.g. "(B) the blue square" (see `answer_text`).
"""

from __future__ import annotations

LETTERS = "ABCDEFGHIJ"
DEFAULT_INTRO = "Based on the following captions describing keyframes of a video, answer the next question."
DEFAULT_CLOSING = "Only give the best option:"


def format_options(options: list[str]) -> str:
    """One line per option: "(A) first option"."""
    return "\n".join(f"({LETTERS[i]}) {opt}" for i, opt in enumerate(options))


def answer_text(options: list[str], letter: str) -> str:
    """The assistant turn for a multiple-choice item: the full option, "(C) from loose to tight"."""
    return f"({letter}) {options[LETTERS.index(letter)]}"


def text_video_prompt(
    captions: list[str],
    question: str,
    options: list[str] | None,
    intro: str = DEFAULT_INTRO,
    closing: str = DEFAULT_CLOSING,
) -> str:
    """The user turn of a T3 sample: intro, captions one per line, question, options, closing line."""
    parts = [intro, "", "Captions:", *captions, f"Question: {question}"]
    if options:
        parts.append(format_options(options))
    if closing:
        parts.append(closing)
    return "\n".join(parts)
