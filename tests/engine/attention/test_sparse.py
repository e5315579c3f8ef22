"""HyperAttention and LevAttention: exact at full budget, errors falling as budgets grow."""

from __future__ import annotations

import pytest
import torch

from tensorbench.engine.attention import reference_attention
from tensorbench.engine.attention.core import AttentionError
from tensorbench.engine.attention.hyper import gray_bucket, hyper_attention
from tensorbench.engine.attention.lev import lev_attention, leverage_scores, universal_set


def rel(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


def gaussian(b=1, h=2, hkv=2, n=256, d=16, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, n, d, generator=g, dtype=dtype)
    k = torch.randn(b, hkv, n, d, generator=g, dtype=dtype)
    v = torch.randn(b, hkv, n, d, generator=g, dtype=dtype)
    return q, k, v


def heavy(n=512, d=16, hot=12, seed=0):
    """Keys with a few planted outliers that dominate every row (LevAttention's case)."""
    q, k, v = gaussian(n=n, d=d, seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    k = 0.3 * k
    idx = torch.randperm(n, generator=g)[:hot]
    k[..., idx, :] = 4.0 * torch.randn(1, 2, hot, d, generator=g, dtype=torch.float64)
    return q, k, v


@pytest.mark.parametrize("causal", [False, True])
def test_hyper_is_exact_at_full_budget(causal):
    q, k, v = gaussian(n=300)
    ref, _ = reference_attention(q, k, v, causal=causal)
    big_block, _ = hyper_attention(q, k, v, causal=causal, block=512, min_seq_len=64)
    all_samples, _ = hyper_attention(q, k, v, causal=causal, block=32, samples=300, min_seq_len=64)
    assert rel(big_block, ref) < 1e-12
    assert rel(all_samples, ref) < 1e-12


def test_hyper_exact_pieces_when_the_sequence_is_short():
    q, k, v = gaussian(n=100)
    ref, _ = reference_attention(q, k, v, causal=True)
    out, _ = hyper_attention(q, k, v, causal=True, block=8, samples=8, min_seq_len=128)
    assert rel(out, ref) < 1e-12


@pytest.mark.parametrize("causal", [False, True])
def test_hyper_error_falls_as_its_budget_grows(causal):
    errs = []
    for samples, block in ((16, 16), (64, 64), (192, 128)):
        e = []
        for seed in range(4):
            q, k, v = gaussian(n=512, seed=seed)
            ref, _ = reference_attention(q, k, v, causal=causal)
            out, _ = hyper_attention(
                q, k, v, causal=causal, block=block, samples=samples, min_seq_len=128, seed=seed
            )
            e.append(rel(out, ref))
        errs.append(sum(e) / len(e))
    assert errs[0] > errs[1] > errs[2], errs


def test_hyper_handles_uneven_lengths_gqa_and_half_precision():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(2, 4, 70, 8, generator=g)
    k = torch.randn(2, 2, 130, 8, generator=g)
    v = torch.randn(2, 2, 130, 8, generator=g)
    ref, _ = reference_attention(q, k, v)
    out, _ = hyper_attention(q, k, v, block=32, samples=40)
    # (diffuse Gaussian attention: a 40-key sample is a rough estimate, so only its shape
    # and finiteness are checked here; error against budget is checked above)
    assert out.shape == (2, 4, 70, 8) and torch.isfinite(out).all()
    exact, _ = hyper_attention(q, k, v, block=32, samples=130)
    assert rel(exact, ref) < 1e-5
    bf, _ = hyper_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), block=32, samples=130)
    assert bf.dtype == torch.bfloat16 and rel(bf, ref) < 2e-2


def test_hyper_is_seeded():
    q, k, v = gaussian(n=400)
    a, _ = hyper_attention(q, k, v, block=32, samples=32, seed=5)
    b, _ = hyper_attention(q, k, v, block=32, samples=32, seed=5)
    c, _ = hyper_attention(q, k, v, block=32, samples=32, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_gray_buckets_put_one_flip_neighbours_next_to_each_other():
    planes = torch.eye(3, dtype=torch.float64)
    signs = torch.tensor(
        [[a, b, c] for a in (-1.0, 1.0) for b in (-1.0, 1.0) for c in (-1.0, 1.0)],
        dtype=torch.float64,
    )
    buckets = gray_bucket(signs, planes)
    assert sorted(buckets.tolist()) == list(range(8))
    order = signs[buckets.argsort()]
    flips = (order[1:] != order[:-1]).sum(-1)
    assert torch.all(flips == 1)


def test_hyper_refuses_bad_parameters():
    q, k, v = gaussian(n=64)
    with pytest.raises(AttentionError, match="block"):
        hyper_attention(q, k, v, block=0)
    with pytest.raises(AttentionError, match="as many queries as keys"):
        hyper_attention(q[..., :10, :], k, v, causal=True)


# --------------------------------------------------------------------------- LevAttention


def test_leverage_scores_sum_to_the_rank():
    k = torch.randn(3, 200, 16, dtype=torch.float64)
    assert torch.allclose(leverage_scores(k).sum(-1), torch.full((3,), 16.0, dtype=torch.float64))
    k[..., 8:] = 0
    assert torch.allclose(leverage_scores(k).sum(-1), torch.full((3,), 8.0, dtype=torch.float64))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("power", [None, 2.0])
def test_lev_is_exact_with_every_key(causal, power):
    q, k, v = gaussian(n=128)
    ref, _ = reference_attention(q, k, v, causal=causal, power=power)
    out, info = lev_attention(q, k, v, keys=128, causal=causal, power=power)
    assert info["set_size"] == 128 and rel(out, ref) < 1e-12
    # a window on top of the full set adds nothing twice
    out, _ = lev_attention(q, k, v, keys=128, window=16, causal=causal, power=power)
    assert rel(out, ref) < 1e-12


@pytest.mark.parametrize("causal", [False, True])
def test_lev_window_and_set_together_are_exact_when_they_cover_everything(causal):
    q, k, v = gaussian(n=96)
    ref, _ = reference_attention(q, k, v, causal=causal)
    out, _ = lev_attention(q, k, v, keys=10, window=96, causal=causal)
    assert rel(out, ref) < 1e-12


@pytest.mark.parametrize("power", [None, 2.0])
def test_lev_error_falls_as_the_set_grows_and_finds_planted_keys(power):
    q, k, v = heavy()
    ref, _ = reference_attention(q, k, v, power=power)
    errs = [rel(lev_attention(q, k, v, keys=m, power=power)[0], ref) for m in (4, 16, 64, 256)]
    assert errs == sorted(errs, reverse=True), errs
    kept = universal_set(k, keys=12)
    tau = leverage_scores(k)
    assert torch.equal(kept.sort(-1).values, tau.topk(12, -1).indices.sort(-1).values)
    big = (k.norm(dim=-1) > 3).nonzero()[:, -1].unique()
    assert set(big.tolist()) <= set(kept.flatten().tolist())


def test_lev_threshold_and_bad_input():
    q, k, v = gaussian(n=64)
    out, info = lev_attention(q, k, v, keys=None, eps=0.3)
    assert 0 < info["set_size"] < 64 and torch.isfinite(out).all()
    with pytest.raises(AttentionError, match="keys"):
        lev_attention(q, k, v, keys=None)
    with pytest.raises(AttentionError, match="window"):
        lev_attention(q, k, v, window=-1)


@pytest.mark.parametrize("causal", [False, True])
def test_hyper_kept_map_grows_with_budget_and_covers_everything_at_full(causal):
    q, k, v = gaussian(n=256)
    sizes = []
    for block, samples in ((16, 8), (64, 32), (256, 256)):
        _, info = hyper_attention(
            q,
            k,
            v,
            causal=causal,
            block=block,
            samples=samples,
            min_seq_len=64,
            return_kept=True,
        )
        sizes.append(int(info["kept"].sum()))
    full = torch.ones(256, 256, dtype=torch.bool)
    full = full.tril() if causal else full
    assert sizes[0] < sizes[1] < sizes[2] == int(full.sum()) * 2  # 2 heads
