"""Chat prompts for VLM checkpoints: the model's own template, text and video turns.

    from ablate.models.chat import text_ready, video_prompt_ids, text_prompt_ids
    tok = text_ready(AutoTokenizer.from_pretrained(d))     # string-content messages render everywhere
    ids = video_prompt_ids(tok, family, "What happens first?", n_video_tokens=8)

llava-hf's templates (LLaVA-NeXT-Video, LLaVA-OneVision) render only list-form content
(`selectattr('type', 'equalto', 'text')`), so a plain `{"content": "..."}` message, which TRL and the
text benchmarks send, would silently lose its text. `text_ready` detects that on a probe message
and prepends a few Jinja lines that turn string content into `[{"type": "text", "text": ...}]`; a
template that already renders strings is left alone. Video turns are `[{"type": "video"}, {"type":
"text", ...}]`: the template emits the family's single video placeholder, which is expanded here
into one token per visual feature (what the HF processors do).
"""

from __future__ import annotations

from ablate.core import UserError

_PROBE = "zq probe text qz"
_PRELUDE = (
    "{%- set _ns = namespace(msgs=[]) -%}{%- for _m in messages -%}{%- if _m['content'] is string -%}"
    "{%- set _ns.msgs = _ns.msgs + [{'role': _m['role'], 'content': [{'type': 'text', 'text': _m['content']}]}] -%}"
    "{%- else -%}{%- set _ns.msgs = _ns.msgs + [_m] -%}{%- endif -%}{%- endfor -%}{%- set messages = _ns.msgs -%}"
)


def _render(tok, content) -> str:
    return tok.apply_chat_template([{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True)


def text_ready(tok):
    """`tok` with a chat template that renders string content (fixed in place if it did not)."""
    if not getattr(tok, "chat_template", None):
        raise UserError(f"{getattr(tok, 'name_or_path', 'tokenizer')}: no chat template (tokenizer_config.json / chat_template.jinja)")
    if _PROBE in _render(tok, _PROBE):
        return tok
    tok.chat_template = _PRELUDE + tok.chat_template
    if _PROBE not in _render(tok, _PROBE):
        raise UserError(f"{tok.name_or_path}: the chat template drops the message text, with string or list content")
    return tok


def text_prompt_ids(tok, text: str) -> list[int]:
    return list(tok(_render(tok, [{"type": "text", "text": text}]), add_special_tokens=False)["input_ids"])


def video_prompt_text(tok, question: str) -> str:
    """The templated prompt with the family's single video placeholder (vLLM native expands it itself)."""
    return _render(tok, [{"type": "video"}, {"type": "text", "text": question}])


def video_prompt_ids(tok, family, question: str, n_video_tokens: int) -> list[int]:
    text = video_prompt_text(tok, question)
    vid = tok.convert_tokens_to_ids(family.video_token)
    ids = list(tok(text, add_special_tokens=False)["input_ids"])
    if ids.count(vid) != 1:
        raise UserError(f"{tok.name_or_path}: the chat template put {ids.count(vid)} {family.video_token} "
                        f"tokens in a one-video prompt (expected 1)")
    k = ids.index(vid)
    return ids[:k] + [vid] * n_video_tokens + ids[k + 1:]
