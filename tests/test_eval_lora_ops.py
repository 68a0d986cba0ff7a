"""The grouped CPU LoRA ops of the vLLM backend give what vLLM's reference torch ops give.

    .venv/bin/pytest tests/test_eval_lora_ops.py -q
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
ref = pytest.importorskip("vllm.lora.ops.torch_ops")

from ablate.eval.engines import vllm_engine as ve  # noqa: E402

T, L, R, H, O = 50, 5, 8, 128, 96


@pytest.fixture(params=["interleaved", "runs", "single"])
def idx(request):
    """Adapter per row: interleaved (more runs than _MAX_RUNS), a few runs, one adapter. (The reference
    ops read -1, no LoRA, as the last slot; see test_rows_without_lora_get_nothing.)"""
    if request.param == "interleaved":
        return torch.randint(0, L, (T,), generator=torch.Generator().manual_seed(1))
    if request.param == "runs":
        return torch.tensor([3] * 20 + [1] * 5 + [0] * 15 + [3] * 10)
    return torch.full((T,), 2)


def _w(*shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))


def test_shrink_matches_reference(idx):
    x, a = _w(T, H), _w(L, 1, R, H)
    want, got = torch.zeros(T, R), torch.zeros(T, R)
    ref.bgmv_shrink(x, a, want, idx, 0.5)
    ve._bgmv_shrink(x, a, got, idx, 0.5)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("add", [True, False])
def test_expand_matches_reference(idx, add):
    x, b = _w(T, R), _w(L, 1, O, R)
    want = _w(T, O + 16)
    got = want.clone()
    ref.bgmv_expand_slice(x, b, want, idx, 16, O, add)
    ve._bgmv_expand_slice(x, b, got, idx, 16, O, add)
    torch.testing.assert_close(got, want)
    want = _w(T, O - 8)  # the model pads differently from the adapter
    got = want.clone()
    ref.bgmv_expand(x, b, want, idx, add)
    ve._bgmv_expand(x, b, got, idx, add)
    torch.testing.assert_close(got, want)


def test_sgmv_matches_reference():
    x, a = _w(T, H), _w(L, 1, R, H)
    lens, loras, start = torch.tensor([20, 10, 20]), torch.tensor([1, 3, 1]), torch.tensor([0, 20, 30])
    want, got = torch.zeros(T, R), torch.zeros(T, R)
    ref.sgmv_shrink(x, a, want, start, lens, loras, 3, 20, T, 2.0)
    ve._sgmv_shrink(x, a, got, start, lens, loras, 3, 20, T, 2.0)
    torch.testing.assert_close(got, want)


def test_sgmv_with_fewer_rows_than_scheduled_tokens_does_not_index_past_them():
    """vLLM's LoRA embedding of a batch that mixes prompt embeddings and token ids passes only the token-id
    rows while the prefill metadata counts every token; with many adapter runs (the main job's five
    variants, item by item) the per-row path indexed past those rows (IndexError). Runs are clipped instead."""
    n_seq = 2 * ve._MAX_RUNS  # alternating adapters: more runs than _MAX_RUNS
    lens = torch.full((n_seq,), 3)
    loras = torch.arange(n_seq) % 2
    x, b = _w(n_seq, R), _w(L, 1, O, R)  # one row per sequence, not one per scheduled token
    out = torch.zeros(n_seq, O)
    ve._sgmv_expand(x, b, out, torch.zeros(n_seq), lens, loras, n_seq, 3, int(lens.sum()), True)
    # the rows that are there get their run's adapter, as the clipped runs say
    torch.testing.assert_close(out[0], x[0] @ b[0, 0].T)


@pytest.mark.parametrize("reps", [10, 20])  # 30 runs (one GEMM each), 60 runs (sorted first)
def test_rows_without_lora_get_nothing(reps):
    idx = torch.tensor([0, -1, 1] * reps)
    n = len(idx)
    x, a, b = _w(n, H), _w(L, 1, R, H), _w(L, 1, O, R)
    y = torch.ones(n, R)
    ve._bgmv_shrink(x, a, y, idx, 1.0)
    assert y[1::3].abs().max() == 0
    y = torch.ones(n, O)
    ve._bgmv_expand(_w(n, R), b, y, idx, True)
    assert (y[1::3] == 1).all() and not (y[0::3] == 1).all()


def test_free_cpus_keeps_at_least_one_thread():
    before = torch.get_num_threads()
    try:
        free = ve._FreeCpus(every_s=0.0)
        free.update()
        assert 1 <= torch.get_num_threads() <= before
    finally:
        torch.set_num_threads(before)
