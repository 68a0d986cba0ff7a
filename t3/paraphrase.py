"""Paraphrases of the intro line and the closing instruction of a T3 prompt (see t3.layout).

    >>> from t3.paraphrase import INTROS, CLOSINGS
    >>> INTROS[0]
    'Based on the following captions describing keyframes of a video, answer the next question.'

The first entry of each list is the layout's default, so the world's text twin (which uses the
defaults) reads like one of the training paraphrases. Question paraphrases live with their family
in t3.families.
"""

from t3.layout import DEFAULT_CLOSING, DEFAULT_INTRO

INTROS = (
    DEFAULT_INTRO,
    "The captions below describe the keyframes of a video in temporal order. Answer the question that follows.",
    "Here are captions of consecutive frames from a video. Use them to answer the question.",
    "Read the following frame captions of a video, listed from first to last, and answer the question.",
    "Each caption below describes one keyframe of a video, in the order they occur. Answer the next question.",
)

CLOSINGS = (
    DEFAULT_CLOSING,
    "Answer with the option's letter from the given choices directly.",
    "Please directly give the best option:",
    "Choose the correct option:",
)
