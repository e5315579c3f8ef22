"""The primitive, the merge, exact methods, Hydragen and block-sparse masks against float64
exact attention."""

from __future__ import annotations

import itertools

import pytest
import torch

from tensorbench.engine.attention import (
    AttentionError,
    PrefixLevel,
    block_attention,
    hydragen_attention,
    hydragen_reference_inputs,
    make_mask,
    masked_attention,
    merge,
    reference_attention,
    sdpa,
    topk_attention,
)


def qkv(b=2, h=4, hkv=2, nq=33, nk=33, d=16, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, nq, d, generator=g, dtype=dtype)
    k = torch.randn(b, hkv, nk, d, generator=g, dtype=dtype)
    v = torch.randn(b, hkv, nk, d, generator=g, dtype=dtype)
    return q, k, v


def rel(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


@pytest.mark.parametrize("causal", [False, True])
def test_block_attention_matches_sdpa_in_float64(causal):
    q, k, v = qkv()
    out, lse = block_attention(q, k, v, causal=causal)
    ref = sdpa(q, k, v, causal=causal)
    assert rel(out, ref) < 1e-12
    # lse by definition: log sum exp of the kept scaled scores
    s = q @ k.repeat_interleave(2, dim=1).transpose(-1, -2) / 4.0
    if causal:
        s = s.masked_fill(torch.ones(33, 33, dtype=torch.bool).triu(1), float("-inf"))
    assert torch.allclose(lse, torch.logsumexp(s, -1))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("cuts", [[1], [7, 20], [5, 6, 30], [32]])
def test_merge_of_any_key_split_is_exact(causal, cuts):
    q, k, v = qkv(nq=33, nk=33)
    ref, ref_lse = reference_attention(q, k, v, causal=causal)
    edges = [0, *cuts, 33]
    parts = [
        block_attention(q, k[..., a:b, :], v[..., a:b, :], causal=causal, k_start=a)
        for a, b in itertools.pairwise(edges)
    ]
    out, lse = merge(parts)
    assert rel(out, ref) < 1e-13
    assert torch.allclose(lse, ref_lse)


def test_rows_with_nothing_kept_give_zero_and_drop_out_of_merges():
    q, k, v = qkv(b=1, h=1, hkv=1, nq=4, nk=6)
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1] = False
    out, lse = block_attention(q, k, v, mask=mask)
    assert torch.isneginf(lse[0, 0, 1]) and torch.all(out[0, 0, 1] == 0)
    assert torch.isfinite(out).all()
    merged, _ = merge([(out, lse), block_attention(q, k, v)])
    assert torch.isfinite(merged).all()
    full, _ = block_attention(q, k, v)
    assert rel(merged[0, 0, 1], full[0, 0, 1]) < 1e-13


def test_float32_and_bfloat16_are_close_to_the_float64_reference():
    q, k, v = qkv(dtype=torch.float32)
    ref, _ = reference_attention(q, k, v, causal=True)
    assert rel(block_attention(q, k, v, causal=True)[0], ref) < 1e-5
    qb, kb, vb = (x.bfloat16() for x in (q, k, v))
    got = block_attention(qb, kb, vb, causal=True)[0]
    assert got.dtype == torch.bfloat16
    # as in PyTorch's flex-attention tests: judged against SDPA in the same low precision
    same = sdpa(qb, kb, vb, causal=True)
    assert rel(got, ref) <= 2 * rel(same, ref) + 1e-3


def test_reference_runs_in_row_chunks(monkeypatch):
    from tensorbench.engine.attention import core

    q, k, v = qkv(nq=50, nk=40)
    whole = reference_attention(q, k, v, causal=True)
    monkeypatch.setattr(core, "REFERENCE_CHUNK", 7 * 40 * 8)
    chunked = reference_attention(q, k, v, causal=True)
    assert torch.allclose(whole[0], chunked[0]) and torch.allclose(whole[1], chunked[1])


def test_decode_causal_sees_every_key():
    q, k, v = qkv(nq=1, nk=20)
    assert rel(sdpa(q, k, v, causal=True), sdpa(q, k, v)) < 1e-14
    assert rel(block_attention(q, k, v, causal=True, q_start=19)[0], sdpa(q, k, v)) < 1e-14


def test_bad_shapes_say_what_is_wrong():
    q, k, v = qkv(h=3, hkv=2)
    with pytest.raises(AttentionError, match="multiple of key/value heads"):
        block_attention(q, k, v)
    q, k, v = qkv()
    with pytest.raises(AttentionError, match="head"):
        block_attention(q, k[..., :8], v)
    with pytest.raises(AttentionError, match="boolean"):
        block_attention(q, k, v, mask=torch.ones(33, 33))


def test_topk_keeps_the_largest_scores_and_is_exact_at_full_budget():
    q, k, v = qkv(nq=40, nk=40)
    ref, _ = reference_attention(q, k, v)
    errs = [rel(topk_attention(q, k, v, t)[0], ref) for t in (2, 8, 20, 40)]
    assert errs == sorted(errs, reverse=True) and errs[-1] < 1e-13
    causal_ref, _ = reference_attention(q, k, v, causal=True)
    assert rel(topk_attention(q, k, v, 40, causal=True)[0], causal_ref) < 1e-13


# --------------------------------------------------------------------------- Hydragen


def prefix_case(b=3, h=8, hkv=1, np_=17, ns=9, nq=9, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    pk = torch.randn(hkv, np_, d, generator=g, dtype=torch.float64)
    pv = torch.randn(hkv, np_, d, generator=g, dtype=torch.float64)
    sk = torch.randn(b, hkv, ns, d, generator=g, dtype=torch.float64)
    sv = torch.randn(b, hkv, ns, d, generator=g, dtype=torch.float64)
    q = torch.randn(b, h, nq, d, generator=g, dtype=torch.float64)
    return q, (pk, pv), sk, sv


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize(("np_", "ns", "nq"), [(17, 9, 9), (1, 30, 30), (64, 5, 1), (8, 1, 1)])
def test_hydragen_equals_attention_over_copied_prefixes(causal, np_, ns, nq):
    q, prefix, sk, sv = prefix_case(np_=np_, ns=ns, nq=nq)
    got = hydragen_attention(q, prefix, sk, sv, causal=causal)
    k, v, keep = hydragen_reference_inputs(prefix, sk, sv, nq, causal=causal)
    ref, _ = reference_attention(q, k, v, mask=keep)
    assert rel(got, ref) < 1e-13
    # the baseline it is benchmarked against gives the same numbers
    assert rel(sdpa(q, k, v, mask=keep), ref) < 1e-12


def test_hierarchical_prefixes():
    g = torch.Generator().manual_seed(1)
    b, h, hkv, d = 4, 4, 2, 8
    top = PrefixLevel(
        torch.randn(1, hkv, 10, d, generator=g, dtype=torch.float64),
        torch.randn(1, hkv, 10, d, generator=g, dtype=torch.float64),
    )
    groups = torch.tensor([0, 1, 1, 0])
    mid = PrefixLevel(
        torch.randn(2, hkv, 6, d, generator=g, dtype=torch.float64),
        torch.randn(2, hkv, 6, d, generator=g, dtype=torch.float64),
        groups,
    )
    sk = torch.randn(b, hkv, 5, d, generator=g, dtype=torch.float64)
    sv = torch.randn(b, hkv, 5, d, generator=g, dtype=torch.float64)
    q = torch.randn(b, h, 5, d, generator=g, dtype=torch.float64)
    got = hydragen_attention(q, [top, mid], sk, sv)
    k, v, keep = hydragen_reference_inputs([top, mid], sk, sv, 5)
    assert rel(got, reference_attention(q, k, v, mask=keep)[0]) < 1e-13
    with pytest.raises(AttentionError, match="groups"):
        hydragen_attention(q, [PrefixLevel(mid.k, mid.v)], sk, sv)


def test_hydragen_in_bfloat16_is_as_close_as_sdpa_in_bfloat16():
    q, (pk, pv), sk, sv = prefix_case(np_=256, ns=32, nq=32, d=64)
    k, v, keep = hydragen_reference_inputs((pk, pv), sk, sv, 32)
    ref, _ = reference_attention(q, k, v, mask=keep)
    bf = [x.bfloat16() for x in (q, pk, pv, sk, sv)]
    got = hydragen_attention(bf[0], (bf[1], bf[2]), bf[3], bf[4])
    base = sdpa(bf[0], k.bfloat16(), v.bfloat16(), mask=keep)
    assert rel(got, ref) <= 2 * rel(base, ref) + 1e-3


# --------------------------------------------------------------------------- masks


MASK_CASES = [
    ("causal", {}),
    ("sliding_window", {"window": 7}),
    ("sliding_window", {"window": 5, "causal": False}),
    ("dilated", {"window": 4, "dilation": 3}),
    ("global_window", {"globals": 3, "window": 6}),
    ("bigbird", {"block": 8, "window": 3, "globals": 1, "random": 2, "n": 100}),
    ("prefix_lm", {"prefix": 20}),
    ("document", {"lengths": [30, 45, 25]}),
]


@pytest.mark.parametrize(("name", "params"), MASK_CASES)
@pytest.mark.parametrize("block", [8, 16, 128])
def test_block_sparse_path_equals_dense_masked_attention(name, params, block):
    q, k, v = qkv(nq=100, nk=100)
    spec = make_mask(name, **params)
    dense = spec.dense(100, 100)
    assert dense[torch.arange(100), torch.arange(100)].all()  # every row keeps its own token
    ref, _ = reference_attention(q, k, v, mask=dense)
    out, info = masked_attention(q, k, v, spec, block=block, backend="blocks")
    assert rel(out, ref) < 1e-13
    assert 0 < info["blocks_kept"] <= info["blocks_total"]
    bmap = spec.block_map(100, 100, block)
    # a block is kept exactly when the dense mask keeps something in it
    nb = bmap.shape[0]
    for i in range(nb):
        for j in range(bmap.shape[1]):
            sub = dense[i * block : (i + 1) * block, j * block : (j + 1) * block]
            assert bool(bmap[i, j]) == bool(sub.any())


def test_masks_refuse_bad_parameters_and_lengths():
    with pytest.raises(AttentionError, match="unknown mask"):
        make_mask("diagonal")
    with pytest.raises(AttentionError, match="unknown parameter"):
        make_mask("sliding_window", width=3)
    with pytest.raises(AttentionError, match="positive integer"):
        make_mask("sliding_window", window=0)
    # taken before as none (prefix_lm) or as a number (causal "yes" was true)
    with pytest.raises(AttentionError, match="prefix must be an integer >= 0, got -1"):
        make_mask("prefix_lm", prefix=-1)
    with pytest.raises(AttentionError, match="globals must be an integer >= 0"):
        make_mask("global_window", globals=-1)
    with pytest.raises(AttentionError, match="causal must be true or false, got 'yes'"):
        make_mask("sliding_window", causal="yes")
    q, k, v = qkv(nq=64, nk=64)
    with pytest.raises(AttentionError, match="made for 32 tokens"):
        masked_attention(q, k, v, make_mask("bigbird", n=32, block=8))
    assert 0 < make_mask("sliding_window", window=8).density(64, 64) < 0.2


def test_sdpa_kernels_can_be_pinned_and_an_impossible_one_is_refused():
    q, k, v = qkv(dtype=torch.float32)
    ref, _ = reference_attention(q, k, v, causal=True)
    assert rel(sdpa(q, k, v, causal=True, backend="math"), ref) < 1e-5
    with pytest.raises(AttentionError, match="cannot run this input here"):
        sdpa(q, k, v, backend="cudnn")  # a CUDA-only kernel on CPU tensors
    with pytest.raises(AttentionError, match="backend must be"):
        sdpa(q, k, v, backend="fast")
