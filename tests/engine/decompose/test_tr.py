"""Tensor rings: TR-ALS and TR-ALS with leverage-score sampling.

Ground truth: dense tensors built here with torch.einsum from random ring cores, and the
exact matrix SVD (a 2-mode ring with ranks (a, b) is a rank-ab matrix factorization).
TR-ALS from a random start can stall in a swamp for some starts (about one in ten on
4-way rank-3 rings); the seeds below were picked among converging ones.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from tensorbench.engine.decompose import DecompositionError, get_method, relative_error
from tensorbench.engine.decompose.tr import (
    _chain_mul,
    _init_cores,
    _merge_draws,
    _rel_error_via_inner,
    _subchain_gram,
    _subtensor_sizes,
    _take_slices,
    _transfer,
    default_samples,
    tr_als,
    tr_als_lev,
    tr_to_dense,
)
from tensorbench.engine.run import Cancelled

F64 = torch.float64
DIMS = [8, 9, 10, 11]
RANKS = [2, 3, 2, 3]


def random_tr(dims, ranks, seed):
    """Gaussian ring cores (r_{k-1}, n_k, r_k), scaled so entries have about unit size."""
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(ranks[k - 1], d, ranks[k], generator=g, dtype=F64) / math.sqrt(ranks[k - 1])
        for k, d in enumerate(dims)
    ]


def dense(cores):
    """Independent reconstruction: one einsum around the ring."""
    n = len(cores)
    bonds, modes = "abcdefgh"[:n], "ijklmnop"[:n]
    terms = [bonds[k - 1] + modes[k] + bonds[k] for k in range(n)]
    return torch.einsum(",".join(terms) + "->" + modes, *cores)


def noisy(X, level, seed):
    E = torch.randn(X.shape, generator=torch.Generator().manual_seed(seed), dtype=X.dtype)
    return X + level * E * X.norm() / E.norm()


@pytest.fixture(scope="module")
def exact_ring():
    cores = random_tr(DIMS, RANKS, seed=11)
    return cores, dense(cores)


@pytest.fixture(scope="module")
def noisy_ring():
    """10 x 11 x 12 x 13 ring of rank 3 plus 10% noise."""
    dims = [10, 11, 12, 13]
    X = dense(random_tr(dims, [3] * 4, seed=3))
    return noisy(X, 0.1, seed=103)


# --------------------------------------------------------------------------- recovery


def test_tr_als_recovers_exact_ring(exact_ring):
    _, X = exact_ring
    dec = tr_als(X, ranks=RANKS, seed=0, tol=1e-12, max_iter=300)
    assert relative_error(X, dec.reconstruct()) < 1e-6
    assert dec.rel_error < 1e-6
    assert dec.info["converged"]


def test_tr_als_lev_recovers_exact_ring(exact_ring):
    _, X = exact_ring
    dec = tr_als_lev(X, ranks=RANKS, seed=0, samples=2000, tol=1e-12, max_iter=300)
    assert relative_error(X, dec.reconstruct()) < 1e-6
    assert dec.rel_error < 1e-6
    assert dec.history[-1]["exact"]


def test_two_mode_ring_matches_eckart_young():
    X = torch.randn(9, 12, generator=torch.Generator().manual_seed(0), dtype=F64)
    s = torch.linalg.svdvals(X)
    best = float(s[4:].square().sum().sqrt() / X.norm())  # ranks (2, 2): a rank-4 matrix
    dec = tr_als(X, ranks=[2, 2], seed=0, tol=1e-13, max_iter=500)
    assert dec.rel_error == pytest.approx(best, rel=1e-6)
    assert relative_error(X, dec.reconstruct()) == pytest.approx(best, rel=1e-6)


def test_tr_als_error_record_matches_dense(noisy_ring):
    dec = tr_als(noisy_ring, ranks=3, seed=0, max_iter=5, tol=0.0)
    assert dec.rel_error == pytest.approx(relative_error(noisy_ring, dec.reconstruct()), rel=1e-8)
    errs = [r["rel_error"] for r in dec.history]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(errs))  # ALS is monotone


def test_lev_within_ten_percent_of_als_at_default_samples(noisy_ring):
    X = noisy_ring
    exact = tr_als(X, ranks=3, seed=0)
    assert exact.rel_error < 0.1  # at the noise floor
    dec = tr_als_lev(X, ranks=3, seed=0)
    assert dec.info["samples"] == default_samples([3] * 4) == 1440
    assert dec.rel_error <= 1.1 * exact.rel_error
    assert dec.rel_error == pytest.approx(relative_error(X, dec.reconstruct()), rel=1e-10)
    flags = [r["exact"] for r in dec.history]
    assert flags[-1]
    assert flags[: len(flags) - 1] == [(k + 1) % 5 == 0 for k in range(len(flags) - 1)]


def subchain(cores, k):
    """Cores ``k+1, .., k-1`` (cyclic) contracted: ``(r_k, prod n_j, r_{k-1})``."""
    n = len(cores)
    P = cores[(k + 1) % n]
    for j in range(2, n):
        c = cores[(k + j) % n]
        a, m, b = P.shape
        P = (P.reshape(a * m, b) @ c.reshape(b, -1)).reshape(a, m * c.shape[1], c.shape[2])
    return P


@pytest.mark.parametrize(
    ("dims", "ranks"),
    [([5, 6, 7, 4, 3], [2, 3, 4, 2, 5]), ([9, 7], [3, 2]), ([4, 5, 6], [1, 1, 1])],
)
def test_tr_als_sweeps_equal_the_textbook_sweeps(dims, ranks):
    # The textbook update of core k: least squares of X_(k) (modes cyclic from k+1, a
    # permuted copy) against the formed subchain -- what tr_als avoids forming. Every
    # bond has its own size, so a mixed-up index cannot pass.
    X = noisy(dense(random_tr(dims, ranks, seed=4)), 0.05, seed=5)
    n = len(dims)
    got = tr_als(X, ranks=ranks, seed=2, max_iter=3, tol=0.0)
    assert got.info["iterations"] == 3
    cores = _init_cores(X, ranks, 2)  # tr_als's start for seed 2
    for _ in range(3):
        for k in range(n):
            S = subchain(cores, k)
            A = S.permute(1, 2, 0).reshape(S.shape[1], -1)  # rows j, columns (a, b)
            Xk = X.permute([(k + j) % n for j in range(n)]).reshape(dims[k], -1)
            H = torch.linalg.lstsq(A, Xk.T).solution  # ((a, b), n_k)
            cores[k] = H.reshape(ranks[k - 1], ranks[k], -1).permute(0, 2, 1)
    torch.testing.assert_close(dense(got.cores), dense(cores), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("level", [0.3, 1e-3, 0.0])
def test_error_from_inner_products_equals_dense(level):
    # 0.0: the model is X itself, where the inner-product sum cancels and the dense
    # residual must take over (else the error would read ~1e-8, not ~1e-16)
    dims, ranks = [5, 6, 7, 4], [2, 3, 4, 5]
    cores = random_tr(dims, ranks, seed=6)
    X = noisy(dense(cores), level, seed=7) if level else dense(cores)
    got = _rel_error_via_inner(X, cores, float(X.norm()))
    want = relative_error(X, dense(cores))
    assert got == pytest.approx(want, rel=1e-8, abs=1e-14)


def test_sample_last_small_products_equal_bmm():
    g = torch.Generator().manual_seed(8)
    S1 = torch.randn(3, 5, 7, generator=g, dtype=F64)  # (r, r', n)
    S2 = torch.randn(5, 2, 6, generator=g, dtype=F64)
    i1, i2 = torch.randint(0, 7, (40,), generator=g), torch.randint(0, 6, (40,), generator=g)
    P, Q = _take_slices(S1, i1), _take_slices(S2, i2)
    torch.testing.assert_close(P, S1[:, :, i1])
    want = torch.bmm(P.permute(2, 0, 1), Q.permute(2, 0, 1)).permute(1, 2, 0)
    torch.testing.assert_close(_chain_mul(P, Q), want)


def test_gram_from_transfer_matrices_equals_design_gram(exact_ring):
    cores, _ = exact_ring
    E = [_transfer(c) for c in cores]
    for k in range(len(cores)):
        S = subchain(cores, k)
        At = S.permute(2, 0, 1).reshape(RANKS[k - 1] * RANKS[k], -1)
        torch.testing.assert_close(_subchain_gram(E, k, RANKS[k - 1], RANKS[k]), At @ At.T)


# --------------------------------------------------------------------------- sub-tensor start

BIG = [12] * 5  # large enough for the sub-tensor start at ranks 2 (6 of 12 per mode)


@pytest.fixture(scope="module")
def big_ring():
    """12^5 ring of rank 2, exact and with 1% noise."""
    X = dense(random_tr(BIG, [2] * 5, seed=21))
    return X, noisy(X, 0.01, seed=121)


def test_subtensor_sizes_only_where_the_start_pays():
    assert _subtensor_sizes(BIG, [2] * 5) == [6] * 5
    # Two 30-index modes beside small ones: small modes are taken whole.
    assert _subtensor_sizes([30, 30, 3, 30, 30], [2] * 5) == [8, 8, 3, 8, 8]
    # 10 x 11 x 12 x 13 at ranks 3: a sub-tensor with enough entries is most of X.
    assert _subtensor_sizes([10, 11, 12, 13], [3] * 4) is None
    assert _subtensor_sizes([16] * 6, [4] * 6) == [6] * 6  # the benchmark's 16^6 case


def test_subtensor_start_is_at_the_noise_floor(big_ring):
    _, X = big_ring
    exact = tr_als(X, ranks=2, seed=0)
    dec = tr_als_lev(X, ranks=2, seed=0)
    assert dec.info["init"] == "subtensor" and dec.info["subtensor"] == [6] * 5
    start = dec.history[0]
    assert start["iter"] == 0 and start["exact"]
    # The start alone (one fit to 6^5 of the 12^5 entries) is within 5% of exact ALS.
    assert start["rel_error"] <= 1.05 * exact.rel_error
    assert dec.rel_error <= 1.05 * exact.rel_error
    assert dec.rel_error == pytest.approx(relative_error(X, dec.reconstruct()), rel=1e-10)
    # init="random" is the Gaussian start, with no record before the first sweep.
    gauss = tr_als_lev(X, ranks=2, seed=0, init="random", max_iter=5)
    assert gauss.info["init"] == "random" and gauss.history[0]["iter"] == 1


def test_subtensor_start_recovers_exact_ring(big_ring):
    X, _ = big_ring
    dec = tr_als_lev(X, ranks=2, seed=1, tol=1e-12, max_iter=200)
    assert dec.info["init"] == "subtensor"
    assert relative_error(X, dec.reconstruct()) < 1e-6


def test_subtensor_start_on_a_large_share_of_x():
    # 6 of 8 indices per mode is 24% of X: that start was refused (over an eighth of X)
    # and the Gaussian start's sampled sweeps, at few samples, stalled worse than zeros.
    assert _subtensor_sizes([8] * 5, [2] * 5) == [6] * 5
    assert _subtensor_sizes([8] * 6, [4] * 6) == [6] * 6  # the benchmark's 8^6 case
    X = noisy(dense(random_tr([8] * 5, [2] * 5, 5)), 1e-3, 6)
    exact = tr_als(X, ranks=2, seed=0)
    dec = tr_als_lev(X, ranks=2, seed=0, samples=12, max_iter=20)
    assert dec.info["init"] == "subtensor" and "warning" not in dec.info
    assert dec.rel_error <= 1.05 * exact.rel_error
    gauss = tr_als_lev(X, ranks=2, seed=0, samples=12, max_iter=20, init="random")
    # It stalls worse than zeros; this X has a sub-tensor start, so the warning offers it.
    assert gauss.rel_error > 1 and gauss.info["warning"].endswith("init='subtensor', or tr_als")


def test_lev_stuck_above_zero_fit_is_a_stall_not_convergence():
    # 30 samples for 9 unknowns from a Gaussian start: every evaluation is above an
    # error of 1 (worse than all zeros), and the stagnation rule stopped it, reported as
    # "converged". It is a stall, and the result says what to change.
    X = noisy(dense(random_tr([8] * 5, [3] * 5, 5)), 1e-3, 6)
    dec = tr_als_lev(X, ranks=3, seed=1, samples=30, max_iter=100, init="random")
    best = min(r["rel_error"] for r in dec.history if r["exact"])
    assert best >= 1 and dec.rel_error == pytest.approx(best, rel=1e-10)
    assert dec.info["iterations"] < 100 and not dec.info["converged"]  # stopped, stalled
    warning = dec.info["warning"]
    sweeps = dec.info["iterations"]
    assert warning.startswith(f"stalled: after {sweeps} sweeps the relative error is {best:.6g},")
    # 8^5 at ranks 3 has no sub-tensor start (it would be all of X): not suggested
    assert warning.endswith("use more samples (now 30), or tr_als")
    # A run that fits says nothing of the kind.
    ok = tr_als_lev(X, ranks=3, seed=1, max_iter=20)
    assert ok.rel_error < 0.01 and "warning" not in ok.info and ok.info["converged"]


def test_lev_returns_its_best_evaluated_iterate(big_ring):
    # With 4 samples for 4 unknowns every sampled solve interpolates noise, so the
    # sweeps end far above the start: the result must be the start, and say so.
    _, X = big_ring
    dec = tr_als_lev(X, ranks=2, seed=0, samples=4, max_iter=10)
    start, last = dec.history[0], dec.history[-1]
    assert last["restored"] == 0 and last["rel_error"] == start["rel_error"]
    assert [r["rel_error"] for r in dec.history if r["exact"]][1:-1]  # sweeps were checked
    assert all(r["rel_error"] > start["rel_error"] for r in dec.history[1:-1] if r["exact"])
    assert relative_error(X, dec.reconstruct()) == pytest.approx(start["rel_error"], rel=1e-10)


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("name", ["tr_als", "tr_als_lev"])
def test_network_reconstruct_and_seeds(name, noisy_ring):
    spec = get_method(name)
    assert spec.family == "tr"
    a = spec.func(noisy_ring, ranks=[2, 3, 2, 3], seed=4, max_iter=3)
    b = spec.func(noisy_ring, ranks=[2, 3, 2, 3], seed=4, max_iter=3)
    c = spec.func(noisy_ring, ranks=[2, 3, 2, 3], seed=5, max_iter=3)
    assert all(torch.equal(x, y) for x, y in zip(a.cores, b.cores, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a.cores, c.cores, strict=True))
    net = a.network
    assert list(net.output) == ["i0", "i1", "i2", "i3"]
    assert [tuple(t.shape) for t in a.cores] == [net.shape(t) for t in net.tensors]
    torch.testing.assert_close(a.reconstruct(), dense(a.cores))
    torch.testing.assert_close(tr_to_dense(a.cores), dense(a.cores))


def test_float32_stays_float32(exact_ring):
    _, X = exact_ring
    dec = tr_als(X.float(), ranks=RANKS, seed=0, max_iter=50, tol=1e-7)
    assert all(c.dtype == torch.float32 for c in dec.cores)
    assert dec.rel_error < 1e-3


@pytest.mark.parametrize("method", [tr_als, tr_als_lev])
def test_callback_contract_and_cancel(method, exact_ring):
    _, X = exact_ring
    seen = []
    dec = method(X, ranks=RANKS, seed=0, max_iter=4, tol=0.0, callback=seen.append)
    assert [r["iter"] for r in seen] == [1, 2, 3, 4]
    assert all({"iter", "rel_error", "elapsed"} <= set(r) for r in seen)
    assert seen == dec.history
    assert not dec.info["converged"]

    def stop(record):
        if record["iter"] == 2:
            raise Cancelled({"at": 2})

    with pytest.raises(Cancelled):
        method(X, ranks=RANKS, seed=0, max_iter=10, callback=stop)


@pytest.mark.parametrize(
    ("X", "kwargs", "match"),
    [
        (torch.ones(4, 5, 6, dtype=torch.int32), {"ranks": 2}, "dtype"),
        (torch.ones(4, 5, 6, dtype=torch.complex128), {"ranks": 2}, "dtype"),
        (torch.ones(6, dtype=F64), {"ranks": 2}, "at least 2 modes"),
        (torch.full((3, 3, 3), math.inf, dtype=F64), {"ranks": 2}, "NaN or infinite"),
        (torch.ones(2, 2, 2, dtype=F64), {"ranks": 3}, "too large"),
        (torch.ones(4, 5, 6, dtype=F64), {"ranks": [2, 2]}, "expected 3"),
        (torch.ones(4, 5, 6, dtype=F64), {"ranks": 2, "max_iter": 0}, "max_iter"),
        (torch.ones(4, 5, 6, dtype=F64), {"ranks": 2, "tol": -1.0}, "tol"),
    ],
)
def test_bad_input_raises(X, kwargs, match):
    for method in (tr_als, tr_als_lev):
        with pytest.raises(DecompositionError, match=match):
            method(X, **kwargs)


def test_too_few_samples_raises(exact_ring):
    _, X = exact_ring
    with pytest.raises(DecompositionError, match="samples"):
        tr_als_lev(X, ranks=RANKS, samples=5)


@pytest.mark.parametrize("sizes", [[8, 8, 8, 8, 8], [3, 1, 5], [2**21, 2**21, 2**21]])
def test_merged_draws_match_unique_over_rows(sizes: list[int]) -> None:
    # The mixed-radix key must give the rows, their order and their counts exactly as
    # torch.unique(dim=0) does (the last case overflows the key and takes that path).
    g = torch.Generator().manual_seed(0)
    draws = [torch.randint(0, min(s, 4), (3000,), generator=g) for s in sizes]
    idx, counts = _merge_draws(draws, sizes)
    uniq, ref_counts = torch.unique(torch.stack(draws, dim=1), dim=0, return_counts=True)
    assert torch.equal(torch.stack(idx, dim=1), uniq)
    assert torch.equal(counts, ref_counts)
    assert int(counts.sum()) == 3000


def test_tr_als_in_float32_neither_stops_on_a_rise_nor_returns_it():
    # moon and astronaut stacked, ranks 3: the float32 normal equations raised the error
    # (0.2958 -> 0.3154 at sweep 4), the stopping rule took that for convergence, and the
    # worse iterate was returned at 0.318, where float64 goes on to 0.269
    pytest.importorskip("skimage")
    from tensorbench.engine.data import load_data
    from tensorbench.engine.decompose.task import method_seed

    spec = {"kind": "image", "mode": "stack", "images": ["moon", "astronaut"], "split": 3}
    X, _ = load_data(spec, dtype="float32")
    d32 = tr_als(X, ranks=3, seed=method_seed(0))
    d64 = tr_als(X.double(), ranks=3, seed=method_seed(0))
    assert all(c.dtype == torch.float32 for c in d32.cores)
    e32 = relative_error(X.double(), d32.reconstruct().double())
    e64 = relative_error(X.double(), d64.reconstruct())
    assert e32 < 1.02 * e64
    errors = [h["rel_error"] for h in d32.history]
    assert math.isclose(errors[-1], min(errors), rel_tol=1e-9)  # the best is returned
    assert math.isclose(errors[-1], e32, rel_tol=1e-3)  # and reported as measured
