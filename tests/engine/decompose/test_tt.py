"""Tensor trains: TT-SVD (exact, randomized), TT arithmetic and rounding (exact, randomized).

Ground truth: dense tensors built here with torch.einsum from random cores (not with the
module's own helpers), exact matrix SVDs (Eckart-Young) and dense norms.
"""

from __future__ import annotations

import math

import pytest
import torch

from tensorbench.engine.decompose import DecompositionError, get_method, relative_error
from tensorbench.engine.decompose import tt as tt_module
from tensorbench.engine.decompose.tt import (
    _tall_orth,
    _wide_svd,
    admissible_tt_ranks,
    tt_add,
    tt_inner,
    tt_norm,
    tt_rand,
    tt_round,
    tt_round_rand,
    tt_round_sum_rand,
    tt_svd,
    tt_to_dense,
)
from tensorbench.engine.run import Cancelled

F64 = torch.float64
DIMS = [6, 7, 8, 9]
RANKS = [3, 4, 5]


def random_tt(dims, ranks, seed):
    """Gaussian TT cores (r_{k-1}, n_k, r_k) with r_0 = r_N = 1."""
    g = torch.Generator().manual_seed(seed)
    rs = [1, *ranks, 1]
    return [torch.randn(rs[k], d, rs[k + 1], generator=g, dtype=F64) for k, d in enumerate(dims)]


def dense(cores):
    """Independent reconstruction: one einsum over the whole chain."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    bonds, modes = letters[: len(cores) + 1], letters[13 : 13 + len(cores)]
    terms = [bonds[k] + modes[k] + bonds[k + 1] for k in range(len(cores))]
    eq = ",".join(terms) + "->" + bonds[0] + modes + bonds[-1]
    return torch.einsum(eq, *cores)[0, ..., 0]


def noisy(X, level, seed):
    E = torch.randn(X.shape, generator=torch.Generator().manual_seed(seed), dtype=X.dtype)
    return X + level * E * X.norm() / E.norm()


@pytest.fixture(scope="module")
def low_rank():
    cores = random_tt(DIMS, RANKS, seed=1)
    return cores, dense(cores)


# --------------------------------------------------------------------------- TT-SVD


@pytest.mark.parametrize("method", [tt_svd, tt_rand])
def test_exact_low_rank_recovered(method, low_rank):
    _, X = low_rank
    dec = method(X, ranks=RANKS)
    assert relative_error(X, dec.reconstruct()) < 1e-6
    assert dec.rel_error < 1e-6
    assert dec.info["ranks"] == RANKS


def test_tt_svd_matches_eckart_young_on_matrices():
    X = torch.randn(30, 40, generator=torch.Generator().manual_seed(0), dtype=F64)
    s = torch.linalg.svdvals(X)
    for r in (1, 5, 17):
        dec = tt_svd(X, ranks=r)
        best = float(s[r:].square().sum().sqrt() / X.norm())
        assert relative_error(X, dec.reconstruct()) == pytest.approx(best, rel=1e-10)
        assert dec.rel_error == pytest.approx(best, rel=1e-10)


@pytest.mark.parametrize("eps", [0.05, 0.2, 0.5])
def test_tt_svd_eps_meets_its_bound(eps, low_rank):
    _, X = low_rank
    Y = noisy(X, 0.3, seed=2)
    dec = tt_svd(Y, eps=eps)
    err = relative_error(Y, dec.reconstruct())
    assert err <= eps
    assert dec.rel_error == pytest.approx(err, rel=1e-8)  # the sweep's error is exact
    assert sum(dec.info["ranks"]) < sum(admissible_tt_ranks(DIMS))  # it did truncate


def test_tt_svd_caps_and_eps_together(low_rank):
    _, X = low_rank
    dec = tt_svd(noisy(X, 0.01, seed=3), ranks=[2, 8, 8], eps=0.5)
    assert dec.info["ranks"][0] <= 2
    assert all(r <= 8 for r in dec.info["ranks"])


def test_tt_svd_default_is_an_error_target(low_rank):
    _, X = low_rank
    dec = tt_svd(X)  # neither ranks nor eps: eps = 0.01
    assert dec.rel_error < 0.01
    assert dec.info["ranks"] == RANKS  # exact input: the tolerance finds its ranks


def test_tt_rand_within_ten_percent_of_tt_svd(low_rank):
    _, X = low_rank
    Y = noisy(X, 0.1, seed=4)
    for ranks in ([2, 3, 3], RANKS):
        exact = relative_error(Y, tt_svd(Y, ranks=ranks).reconstruct())
        dec = tt_rand(Y, ranks=ranks, seed=0)
        err = relative_error(Y, dec.reconstruct())
        assert err <= 1.1 * exact  # TT-SVD is quasi-optimal: tt_rand may even beat it
        assert dec.rel_error == pytest.approx(err, rel=1e-8)


def test_tt_rand_seeds_reproducible(low_rank):
    _, X = low_rank
    Y = noisy(X, 0.1, seed=5)
    a, b = tt_rand(Y, ranks=3, seed=7), tt_rand(Y, ranks=3, seed=7)
    c = tt_rand(Y, ranks=3, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a.cores, b.cores, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a.cores, c.cores, strict=True))


@pytest.mark.parametrize("name", ["tt_svd", "tt_rand"])
def test_network_and_reconstruct(name, low_rank):
    _, X = low_rank
    spec = get_method(name)
    assert spec.family == "tt"
    dec = spec.func(X, ranks=RANKS)
    net = dec.network
    assert list(net.output) == [f"i{k}" for k in range(len(DIMS))]
    assert [tuple(c.shape) for c in dec.cores] == [net.shape(t) for t in net.tensors]
    # the network's contraction against a plain chain product of the cores
    chain = dec.cores[0]
    for c in dec.cores[1:]:
        chain = torch.tensordot(chain, c, dims=([-1], [0]))
    torch.testing.assert_close(dec.reconstruct(), chain)
    assert dec.cores[0].dtype == F64


def test_float32_stays_float32(low_rank):
    _, X = low_rank
    dec = tt_rand(X.float(), ranks=RANKS)
    assert all(c.dtype == torch.float32 for c in dec.cores)
    assert relative_error(X, dec.reconstruct().double()) < 1e-4


def test_callback_contract_and_cancel(low_rank):
    _, X = low_rank
    seen = []
    dec = tt_svd(X, ranks=RANKS, callback=seen.append)
    assert [r["iter"] for r in seen] == [1, 2, 3]
    assert all({"iter", "rel_error", "elapsed", "rank"} <= set(r) for r in seen)
    assert seen == dec.history

    def stop(record):
        raise Cancelled({"at": record["iter"]})

    for method in (tt_svd, tt_rand):
        with pytest.raises(Cancelled):
            method(X, ranks=RANKS, callback=stop)


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (torch.ones(4, 5, dtype=torch.int64), {"ranks": 2}, "dtype"),
        (torch.ones(6, dtype=F64), {"ranks": 2}, "at least 2 modes"),
        (torch.tensor([[1.0, math.nan], [0.0, 1.0]], dtype=F64), {"ranks": 1}, "NaN"),
        ([[1.0, 2.0]], {"ranks": 1}, "torch.Tensor"),
        (torch.ones(3, 4, 5, dtype=F64), {"ranks": [4, 2]}, "too large"),
        (torch.ones(3, 4, 5, dtype=F64), {"ranks": [2, 2, 2]}, "expected 2"),
        (torch.ones(3, 4, 5, dtype=F64), {"ranks": 0}, "between"),
        (torch.ones(3, 4, 5, dtype=F64), {"eps": 2.0}, "eps"),
    ],
)
def test_bad_input_raises(X, kwargs, match):
    with pytest.raises(DecompositionError, match=match):
        tt_svd(X, **kwargs)
    if "eps" not in kwargs:
        with pytest.raises(DecompositionError, match=match):
            tt_rand(X, **kwargs)


# --------------------------------------------------------------------------- TT tools


def test_add_inner_norm_against_dense(low_rank):
    x, X = low_rank
    y = random_tt(DIMS, [2, 3, 2], seed=9)
    Y = dense(y)
    torch.testing.assert_close(tt_to_dense(tt_add(x, y)), X + Y)
    assert float(tt_inner(x, y)) == pytest.approx(float((X * Y).sum()), rel=1e-12)
    assert float(tt_norm(x)) == pytest.approx(float(X.norm()), rel=1e-12)


def test_round_of_sum_back_to_original_rank(low_rank):
    x, X = low_rank
    s = tt_add(x, x)  # ranks double, but 2x has the ranks of x
    for out in (
        tt_round(s, RANKS),
        tt_round(s, eps=1e-12),
        tt_round_rand(s, RANKS, seed=0),
        tt_round_sum_rand([x, x], RANKS, seed=0),
    ):
        assert [c.shape[2] for c in out[:-1]] == RANKS
        assert relative_error(2 * X, dense(out)) < 1e-10


def test_round_of_minimal_tt_is_exact(low_rank):
    x, X = low_rank
    for out in (tt_round(x, RANKS), tt_round(x, eps=1e-12), tt_round_rand(x, RANKS)):
        assert [c.shape[2] for c in out[:-1]] == RANKS
        assert relative_error(X, dense(out)) < 1e-12


def test_round_matches_eckart_young_on_two_cores():
    x = random_tt([20, 30], [15], seed=3)
    X = dense(x)
    s = torch.linalg.svdvals(X)
    out = tt_round(x, 4)
    assert relative_error(X, dense(out)) == pytest.approx(
        float(s[4:].square().sum().sqrt() / X.norm()), rel=1e-10
    )


def test_round_eps_bound_and_orthogonality():
    s = tt_add(random_tt(DIMS, RANKS, seed=4), random_tt(DIMS, RANKS, seed=5))
    S = dense(s)
    for eps in (0.1, 0.4):
        out = tt_round(s, eps=eps)
        assert relative_error(S, dense(out)) <= eps
        assert max(c.shape[2] for c in out) < 2 * max(RANKS)
    out = tt_round(s, 3)
    for c in out[:-1]:  # left-orthonormal cores
        M = c.reshape(-1, c.shape[2])
        torch.testing.assert_close(M.T @ M, torch.eye(M.shape[1], dtype=F64))


def test_randomized_rounding_close_to_exact():
    a, b = random_tt(DIMS, RANKS, seed=6), random_tt(DIMS, RANKS, seed=7)
    s = tt_add(a, b)
    S = dense(s)
    for target in (2, 4, [3, 6, 5]):
        exact = relative_error(S, dense(tt_round(s, target)))
        for seed in range(3):
            rnd = relative_error(S, dense(tt_round_rand(s, target, seed=seed)))
            summed = relative_error(S, dense(tt_round_sum_rand([a, b], target, seed=seed)))
            assert rnd <= 1.25 * exact
            assert summed <= 1.25 * exact
    # same seed, same numbers; the sum form sketches the same operator
    r1, r2 = tt_round_rand(s, 3, seed=1), tt_round_rand(s, 3, seed=1)
    assert all(torch.equal(u, v) for u, v in zip(r1, r2, strict=True))


@pytest.mark.parametrize("decay", [1.0, 1e-3, 1e-6, 1e-12])
def test_wide_svd_matches_lapack_and_stays_orthonormal(decay):
    # singular values from 1 down to `decay`: the Gram route, its fallback, and the drop
    # of values that are rounding noise
    g = torch.Generator().manual_seed(0)
    U, _ = torch.linalg.qr(torch.randn(30, 30, generator=g, dtype=F64))
    V, _ = torch.linalg.qr(torch.randn(3000, 30, generator=g, dtype=F64))
    S = torch.logspace(0, math.log10(decay), 30, dtype=F64)
    C = (U * S) @ V.T
    Uw, Sw, Vw = _wide_svd(C, 20)
    r = Sw.numel()
    assert r == 20  # no gap: nothing is rounding noise
    torch.testing.assert_close(Sw, S[:r], rtol=1e-9, atol=1e-14)
    torch.testing.assert_close(Vw @ Vw.T, torch.eye(r, dtype=F64), rtol=0, atol=1e-9)
    best = float(S[r:].square().sum().sqrt())
    assert float((C - (Uw * Sw) @ Vw).norm()) <= best + 1e-12


def test_wide_svd_drops_an_exactly_lower_rank():
    g = torch.Generator().manual_seed(1)
    C = torch.randn(40, 5, generator=g, dtype=F64) @ torch.randn(5, 2000, generator=g, dtype=F64)
    U, S, V = _wide_svd(C, 30)
    assert S.numel() == 5
    torch.testing.assert_close((U * S) @ V, C)


@pytest.mark.parametrize("decay", [0.5, 2.9, 3.1, 6.0])
def test_tall_orth_spans_the_range_and_stays_orthonormal(decay):
    # Condition numbers 3 and 800 take one Gram pass, 1300 and 1e6 take two; the
    # documented loss of orthonormality is ~1e-10 at most.
    g = torch.Generator().manual_seed(2)
    U, _ = torch.linalg.qr(torch.randn(3000, 30, generator=g, dtype=F64))
    V, _ = torch.linalg.qr(torch.randn(30, 30, generator=g, dtype=F64))
    Y = (U * torch.logspace(0, -decay, 30, dtype=F64)) @ V.T
    Q = _tall_orth(Y)
    assert Q.shape == (3000, 30)
    torch.testing.assert_close(Q.T @ Q, torch.eye(30, dtype=F64), rtol=0, atol=1e-10)
    torch.testing.assert_close(Q @ (Q.T @ Y), Y, rtol=0, atol=1e-12)


def test_tall_orth_exactly_lower_rank_and_float32():
    g = torch.Generator().manual_seed(3)
    Y = torch.randn(2000, 4, generator=g, dtype=F64) @ torch.randn(4, 20, generator=g, dtype=F64)
    Q = _tall_orth(Y)
    assert Q.shape == (2000, 4)  # the noise directions are dropped, the range is kept
    torch.testing.assert_close(Q @ (Q.T @ Y), Y)
    Q32 = _tall_orth(Y.float())  # Householder: the Gram thresholds assume float64
    assert Q32.dtype == torch.float32 and Q32.shape == (2000, 20)
    torch.testing.assert_close(Q32.T @ Q32, torch.eye(20), rtol=0, atol=1e-5)


def test_randomized_rounding_keeps_one_pass_where_the_second_cannot_show(monkeypatch):
    # b at 1e-3 of a: most bonds' sketches spread past _GRAM_SAFE, and rounding to rank 10
    # discards ~1e-3 of the sum. One Gram pass per bond is kept there; forcing the second
    # pass changes the result by less than the summed estimate and the error not at all.
    dims, ranks = [10] * 8, [10] * 7
    a, b = random_tt(dims, ranks, seed=1), random_tt(dims, ranks, seed=2)
    b = [1e-3 * b[0], *b[1:]]
    calls = []
    real = tt_module._tall_orth_factor

    def spy(Y, refine=True):
        out = real(Y, refine)
        calls.append((refine, out[2]))
        return out

    monkeypatch.setattr(tt_module, "_tall_orth_factor", spy)
    one = tt_round_sum_rand([a, b], 10, seed=0)
    assert sum(d > 0 for _, d in calls) >= 3  # second passes skipped ...
    assert not any(refine for refine, _ in calls)  # ... and the one sweep kept
    drift = sum(d for _, d in calls)
    monkeypatch.setattr(tt_module, "_DRIFT_SHARE", -1.0)  # any skip sweeps again
    calls.clear()
    both = tt_round_sum_rand([a, b], 10, seed=0)
    assert any(refine for refine, _ in calls)
    s = tt_add(a, b)
    norm = float(tt_norm(s))

    def dist(x, y):
        return float(tt_norm(tt_add(x, [-y[0], *y[1:]]))) / norm

    assert 0 < dist(one, both) <= drift
    assert dist(s, one) == pytest.approx(dist(s, both), rel=1e-8)
    assert dist(s, one) == pytest.approx(1e-3, rel=0.2)


def test_randomized_rounding_of_a_near_exact_sum_takes_both_passes():
    # a + 1e-5 b + c - c: input rank 4x, the sum's rank is the target, so nothing real is
    # discarded and the one-pass bases' error (1e-9 here) would be all of the result's.
    a, b, c = (random_tt(DIMS, RANKS, seed=s) for s in (1, 2, 3))
    b = [1e-5 * b[0], *b[1:]]
    want = dense(a) + dense(b)
    full = [2 * r for r in RANKS]
    for seed in range(3):
        out = tt_round_sum_rand([a, b, c, [-c[0], *c[1:]]], full, oversample=2, seed=seed)
        assert relative_error(want, dense(out)) < 1e-13


def test_randomized_rounding_of_an_ill_conditioned_sum_keeps_it_exactly():
    # Ranks 6, 8, 10 kept whole: bonds 0 and 1 are as wide as the input rank, bond 2 as
    # the last mode (9). A square random sketch there lost up to half of b, which is at
    # 1e-5 of a (its directions fell under the bases' noise floor), and a float32 one
    # left ~1e-7 of b's share; the sum must come back to rounding level for every seed.
    a, b = random_tt(DIMS, RANKS, seed=10), random_tt(DIMS, RANKS, seed=11)
    b = [1e-5 * b[0], *b[1:]]
    want = dense(a) + dense(b)
    full = [2 * r for r in RANKS]  # no truncation: the rounding must reproduce the sum
    for seed in range(3):
        out = tt_round_sum_rand([a, b], full, seed=seed)
        assert relative_error(want, dense(out)) < 1e-11
        for c in out[1:]:
            M = c.reshape(c.shape[0], -1)
            torch.testing.assert_close(M @ M.T, torch.eye(M.shape[0], dtype=F64))


def test_rounding_a_sum_that_cancels_gives_zero_not_nan():
    a = random_tt(DIMS, RANKS, seed=5)
    minus_a = [-a[0], *a[1:]]
    for out in (
        tt_round_sum_rand([a, minus_a], 3, seed=0),
        tt_round_rand(tt_add(a, minus_a), 3, seed=0),
        tt_round(tt_add(a, minus_a), 3),
    ):
        d = dense(out)
        assert torch.isfinite(d).all() and float(d.abs().max()) < 1e-12
    Q = _tall_orth(torch.zeros(50, 4, dtype=F64))
    torch.testing.assert_close(Q.T @ Q, torch.eye(Q.shape[1], dtype=F64))


def test_randomized_rounding_right_orthonormal_and_float32():
    a, b = random_tt(DIMS, RANKS, seed=8), random_tt(DIMS, RANKS, seed=9)
    out = tt_round_sum_rand([a, b], 3, seed=0)
    for c in out[1:]:  # right-orthonormal cores
        M = c.reshape(c.shape[0], -1)
        torch.testing.assert_close(M @ M.T, torch.eye(M.shape[0], dtype=F64))
    a32, b32 = [c.float() for c in a], [c.float() for c in b]
    out32 = tt_round_sum_rand([a32, b32], 3, seed=0)
    assert all(c.dtype == torch.float32 for c in out32)
    assert relative_error(dense(out), dense([c.double() for c in out32])) < 1e-4


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: tt_round(x), "ranks, eps or both"),
        (lambda x: tt_round(x, eps=-1.0), "eps"),
        (lambda x: tt_round(x[1:], 2), "rank 1"),
        (lambda x: tt_round([x[0][0], *x[1:]], 2), "3-way"),
        (lambda x: tt_add(x, random_tt([6, 7, 8, 10], RANKS, 0)), "mode sizes"),
        (lambda x: tt_round_rand(x, 2, oversample=-1), "oversample"),
        (lambda x: tt_round_rand(x, [2, 2]), "expected 3"),
        (lambda x: tt_round_sum_rand([], 2), "non-empty"),
    ],
)
def test_bad_tt_raises(call, match, low_rank):
    x, _ = low_rank
    with pytest.raises(DecompositionError, match=match):
        call(x)


def test_tt_als_recovers_an_exact_train_and_records_each_sweep():
    from tensorbench.engine.decompose import get_method

    g = torch.Generator().manual_seed(5)
    cores = [
        torch.randn(1, 6, 2, generator=g, dtype=torch.float64),
        torch.randn(2, 7, 3, generator=g, dtype=torch.float64),
        torch.randn(3, 8, 1, generator=g, dtype=torch.float64),
    ]
    X = torch.einsum("aib,bjc,ckd->ijk", *cores)
    seen = []
    dec = get_method("tt_als").func(
        X, ranks=[2, 3], seed=0, callback=seen.append, tol=0.0, max_iter=60
    )
    assert dec.method == "tt_als" and dec.rel_error < 1e-6
    assert len(seen) == len(dec.history) >= 2
    assert torch.allclose(dec.reconstruct(), X, atol=1e-8 * float(X.norm()))
    capped = get_method("tt_als").func(X, ranks=50, seed=0, max_iter=2)
    assert [capped.network.sizes[f"r{k}"] for k in range(2)] == [6, 8]
    assert capped.info["ranks"] == [6, 8] and dec.info["ranks"] == [2, 3]  # as it ran
