"""The embedded base's tokenizer: byte-level BPE trained here for a from-scratch LM (`micro`) with chat
tokens and template, or a pretrained LM's own (`smol`) plus `<image>`.

    >>> from ablate.base.tokenizer import train_tokenizer
    >>> tok = train_tokenizer(["A red circle in the top left corner."], vocab_size=300)
    >>> tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
    ...                         add_generation_prompt=True)
    '<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\n'

Normalisation and pre-tokenisation are Qwen2's (NFC; words never merge across spaces, digits split
one by one), because `lm/` is a Qwen2 directory: transformers, TRL and vLLM load its tokenizer as a
`Qwen2Tokenizer`, which rebuilds exactly these two steps around our vocabulary and merges. Training
with anything else would make pretraining and serving tokenise the same text differently. An
attribute word is the same token in a caption, a question and an option: a small LM can match them. The corpus (world captions,
T3 and TempCompass prompt vocabulary) is assembled by `ablate.base.data.tokenizer_corpus`.
The template marks the assistant turn with {% generation %} (TRL's assistant_only_loss) and ends it
with <|im_end|>, the EOS token, so loss on the assistant turn teaches the model to stop.
"""

from __future__ import annotations

IM_START, IM_END, PAD, IMAGE = "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<image>"
SPECIAL_TOKENS = [PAD, IM_START, IM_END, IMAGE]

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}"
    "{%- else %}"
    "{{- message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def train_tokenizer(texts: list[str], vocab_size: int = 2048):
    """A PreTrainedTokenizerFast trained on `texts`, with the chat tokens and template set."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tk = Tokenizer(models.BPE())
    tk.normalizer = normalizers.NFC()
    tk.pre_tokenizer = pre_tokenizers.Sequence([  # what Qwen2Tokenizer sets when it loads lm/
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tk.train_from_iterator(texts, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token=None, eos_token=IM_END, pad_token=PAD, unk_token=None,
        extra_special_tokens={"image_token": IMAGE}, model_max_length=4096, padding_side="right",
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def pretrained_tokenizer(lm_dir):
    """A pretrained LM's own tokenizer and chat template, plus `<image>` (the frame placeholder) as a special token.

    Its pad token is the end-of-turn token where it has none of its own; the template is the LM's, unchanged
    (SmolLM2's adds its default system line), so the base is prompted exactly as its LM was tuned.
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(lm_dir)
    tok.add_special_tokens({"additional_special_tokens": [IMAGE]}, replace_extra_special_tokens=False)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok
