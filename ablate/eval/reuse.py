"""Request order for shared-prefix reuse: items that share a prompt prefix are evaluated back to back.

    from ablate.eval.reuse import reuse_order
    todo = reuse_order(work)          # work: (variant, prepared item, cache key) triples

The world bench asks 4 questions per video over the same caption list (world-text) or the same
frames (world-video), and every prompt opens with the chat template's system turn and one of a few
intro lines. vLLM's prefix caching (on in ablate.eval.engines.vllm_engine, with prompt token ids and
with prompt embeddings alike; per LoRA, since an adapter changes the keys and values) computes a
shared block once, as long as the block is still cached when the next request needing it arrives.
Sorting the items by their prompt (token ids; for video: the video's hash, then the question) puts
the longest shared prefixes next to each other, so they fall into the same engine chunk; the order
within an item (variant after variant) stays, so a video's prompt embeddings are still held for
one chunk only, and the engine then groups each chunk by adapter (stable), keeping this order.
"""

from __future__ import annotations


def prefix_key(p) -> tuple:
    """The sort key of a prepared item: text by token ids, video by (video hash, token ids), errors last."""
    if p.error is not None:
        return (2,)
    if p.item.modality == "video":
        return (1, p.vhash or "", tuple(p.ids or ()))
    return (0, "", tuple(p.ids or ()))


def reuse_order(work: list) -> list:
    """(variant, item, key) triples, items sorted by `prefix_key` (stable), variants of an item adjacent."""
    first: dict[int, int] = {}
    items = []
    for _, p, _k in work:
        if id(p) not in first:
            first[id(p)] = len(first)
            items.append(p)
    rank = {id(p): r for r, p in enumerate(sorted(items, key=lambda p: (prefix_key(p), first[id(p)])))}
    return sorted(work, key=lambda w: rank[id(w[1])])
