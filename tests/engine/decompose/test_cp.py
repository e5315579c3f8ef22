"""CP decompositions: exact ALS and sampled ALS against ground truth (known factors, SVD)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from tensorbench.engine.decompose import DecompositionError, get_method, relative_error
from tensorbench.engine.decompose.cp import (
    _leading_left_vectors,
    _solve_gram,
    cp_als,
    cp_als_lev,
    cp_als_uniform,
    cp_to_tensor,
    default_samples,
    heavy_rows,
    mttkrp,
)
from tensorbench.engine.run import Cancelled

METHODS = [cp_als, cp_als_lev, cp_als_uniform]
DIMS = (20, 25, 30)


def low_rank(dims, rank, noise=0.0, seed=0, weights=None):
    """A rank-``rank`` tensor from Gaussian factors plus ``noise`` relative Gaussian noise.

    Returns the data, the true factors and the relative norm of the noise (the error the
    true factors achieve, which a best fit cannot exceed).
    """
    g = torch.Generator().manual_seed(seed)
    factors = [torch.randn(d, rank, generator=g, dtype=torch.float64) for d in dims]
    clean = torch.einsum(
        "ir,jr,kr->ijk" if len(dims) == 3 else "ir,jr,kr,lr->ijkl",
        *[factors[0] * (1 if weights is None else weights), *factors[1:]],
    )
    if not noise:
        return clean, factors, 0.0
    E = torch.randn(clean.shape, generator=g, dtype=torch.float64)
    X = clean + noise * E * clean.norm() / E.norm()
    return X, factors, float((X - clean).norm() / X.norm())


def unfold(X, mode):
    return X.movedim(mode, 0).reshape(X.shape[mode], -1)


def khatri_rao(mats):
    """Row (i_0, i_1, ...) = prod_k mats[k][i_k] with the LAST index fastest (C order)."""
    out = mats[0]
    for m in mats[1:]:
        out = torch.einsum("ir,jr->ijr", out, m).reshape(-1, m.shape[1])
    return out


def congruence(true, found):
    """Mean over true components of the best product of |cosines| across modes."""
    prod = 1.0
    for A, B in zip(true, found, strict=True):
        prod = prod * ((A / A.norm(dim=0)).T @ (B / B.norm(dim=0))).abs()
    return float(prod.max(dim=1).values.mean())


# --------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("dims", [(4, 5), (5, 6, 7), (3, 4, 5, 6)])
def test_mttkrp_equals_unfolding_times_khatri_rao(dims):
    g = torch.Generator().manual_seed(1)
    X = torch.randn(dims, generator=g, dtype=torch.float64)
    U = [torch.randn(d, 3, generator=g, dtype=torch.float64) for d in dims]
    for n in range(len(dims)):
        ref = unfold(X, n) @ khatri_rao([U[k] for k in range(len(dims)) if k != n])
        torch.testing.assert_close(mttkrp(X, U, n), ref, rtol=1e-12, atol=1e-12)


def test_cp_to_tensor_equals_einsum():
    g = torch.Generator().manual_seed(2)
    U = [torch.randn(d, 3, generator=g, dtype=torch.float64) for d in (3, 4, 5, 2)]
    w = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    ref = torch.einsum("ir,jr,kr,lr,r->ijkl", *U, w)
    torch.testing.assert_close(cp_to_tensor(U, w), ref)


def test_heavy_rows_finds_exactly_the_rows_above_tau():
    g = torch.Generator().manual_seed(3)
    probs = [torch.rand(d, generator=g, dtype=torch.float64) ** 4 for d in (7, 5, 6)]
    probs = [p / p.sum() for p in probs]
    tau = 2e-3
    rows, pr = heavy_rows(probs, tau)
    want = {
        ijk
        for ijk in itertools.product(*(range(p.numel()) for p in probs))
        if math.prod(float(p[i]) for p, i in zip(probs, ijk, strict=True)) >= tau
    }
    assert want and {tuple(r) for r in rows.tolist()} == want
    for r, p in zip(rows.tolist(), pr.tolist(), strict=True):
        assert p == pytest.approx(math.prod(float(q[i]) for q, i in zip(probs, r, strict=True)))


def test_leading_left_vectors_span_the_svd_subspace():
    # 60 > 2 (r + 10): the randomized range finder; 8 rows: the exact Gram.
    X, _, _ = low_rank((60, 8, 30), 3, noise=0.05, seed=4)
    for k in range(3):
        got = _leading_left_vectors(X, k, 3, torch.Generator().manual_seed(0))
        ref = torch.linalg.svd(unfold(X, k), full_matrices=False).U[:, :3]
        # Same leading singular vectors up to sign: exactly from the Gram, closely from the
        # randomized range finder (enough for a starting point).
        atol = 1e-2 if X.shape[k] > 26 else 1e-8
        eye = torch.eye(3, dtype=X.dtype)
        torch.testing.assert_close((got.T @ ref).abs(), eye, atol=atol, rtol=0)


def test_singular_normal_equations_give_the_minimum_norm_solution():
    g = torch.Generator().manual_seed(5)
    A = torch.randn(6, 2, generator=g, dtype=torch.float64)
    V = A @ A.T  # rank 2 of 6
    B = torch.randn(6, 4, generator=g, dtype=torch.float64)
    torch.testing.assert_close(_solve_gram(V, B), torch.linalg.pinv(V) @ B)


# --------------------------------------------------------------------------- recovery

# The sampled methods get 250 rows per solve (default would be 161 for R = 5) and room for
# 500 sweeps: on exact data their sampled solves become exact as the iterates converge.
EXACT_KW = {cp_als: {}, cp_als_lev: {"samples": 250}, cp_als_uniform: {"samples": 250}}


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("rank", [3, 5])
def test_exactly_low_rank_tensors_are_recovered(method, rank):
    X, true, _ = low_rank(DIMS, rank, seed=10 + rank)
    dec = method(X, rank=rank, max_iter=500, **EXACT_KW[method])
    assert dec.rel_error < 1e-6
    assert relative_error(X, dec.reconstruct()) < 1e-6
    # The components themselves (up to order and scale) are the true ones.
    assert congruence(true, dec.cores[:-1]) > 1 - 1e-6


@pytest.mark.parametrize("noise", [0.01, 0.1])
def test_noisy_lev_fit_is_within_10_percent_of_als(noise):
    for seed in range(3):
        X, _, floor = low_rank(DIMS, 4, noise=noise, seed=seed)
        als = cp_als(X, rank=4, seed=seed)
        lev = cp_als_lev(X, rank=4, seed=seed)  # default sample count
        # Ground truth: the true factors reach `floor`; ALS may only do better.
        assert als.rel_error <= floor * (1 + 1e-9)
        assert lev.info["samples"] == default_samples(4)
        assert (1 - lev.rel_error) >= 0.9 * (1 - als.rel_error)
        # In practice the sampled fit is far closer than 10%: within 10% of the error.
        assert lev.rel_error < 1.1 * als.rel_error


@pytest.mark.parametrize("method", [cp_als_lev, cp_als_uniform])
def test_averaging_the_sampled_iterates_closes_most_of_the_gap_to_als(method):
    # At the noise floor every sampled iterate sits a few percent above the exact fit
    # (measured 4-6% here); the mean of each evaluation window is within ~1%.
    for seed in range(3):
        X, _, _ = low_rank((40, 50, 60), 4, noise=0.01, seed=seed)
        exact = cp_als(X, rank=4, seed=seed).rel_error
        on = method(X, rank=4, seed=seed)
        off = method(X, rank=4, seed=seed, average=False)
        gap_on, gap_off = on.rel_error / exact - 1, off.rel_error / exact - 1
        assert gap_off > 0.02  # the scatter is there to remove
        assert gap_on < 0.025 and gap_on < 0.5 * gap_off
        assert on.info["average"] and not off.info["average"]


def test_leverage_sampling_fits_a_coherent_tensor_that_uniform_sampling_misses():
    # Component 0 is a heavy spike at one entry: one row of each Khatri-Rao product.
    dims, R = DIMS, 4
    g = torch.Generator().manual_seed(0)
    U = [torch.randn(d, R, generator=g, dtype=torch.float64) for d in dims]
    for k, u in enumerate(U):
        u[:, 0] = 0
        u[3 + k, 0] = 1
    X = cp_to_tensor(U, torch.tensor([60.0, 1, 1, 1], dtype=torch.float64))
    als = cp_als(X, rank=R)
    lev = cp_als_lev(X, rank=R)
    uni = cp_als_uniform(X, rank=R)
    assert als.rel_error < 1e-6
    assert lev.rel_error < 1e-6
    assert uni.rel_error > 0.1


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
def test_returned_network_reconstructs_what_the_method_reports(method):
    X, _, _ = low_rank(DIMS, 4, noise=0.05, seed=7)
    dec = method(X, rank=4)
    net = dec.network
    assert [t.name for t in net.tensors] == ["U0", "U1", "U2", "lambda"]
    assert list(net.output) == ["i0", "i1", "i2"]
    for t, core in zip(net.tensors, dec.cores, strict=True):
        assert tuple(core.shape) == net.shape(t)
        assert core.dtype == X.dtype
    own = cp_to_tensor(dec.cores[:-1], dec.cores[-1])
    torch.testing.assert_close(dec.reconstruct(), own)
    assert relative_error(X, own) == pytest.approx(dec.rel_error, rel=1e-9)
    # Normalization: unit columns, non-negative weights in decreasing order.
    for u in dec.cores[:-1]:
        torch.testing.assert_close(u.norm(dim=0), torch.ones(4, dtype=X.dtype))
    lam = dec.cores[-1]
    assert bool((lam >= 0).all()) and bool((lam[:-1] >= lam[1:]).all())


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
def test_seeded_runs_are_reproducible(method):
    X, _, _ = low_rank(DIMS, 3, noise=0.05, seed=8)
    a = method(X, rank=3, init="random", seed=5, max_iter=20)
    b = method(X, rank=3, init="random", seed=5, max_iter=20)
    c = method(X, rank=3, init="random", seed=6, max_iter=20)
    assert [r["rel_error"] for r in a.history] == [r["rel_error"] for r in b.history]
    for x, y in zip(a.cores, b.cores, strict=True):
        assert torch.equal(x, y)
    assert [r["rel_error"] for r in a.history] != [r["rel_error"] for r in c.history]


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("X", "rank", "match"),
    [
        (torch.randn(30, dtype=torch.float64), 2, "at least 2 modes"),
        (torch.randn(4, 5, 6, dtype=torch.float64), 0, "rank"),
        (torch.randn(4, 5, 6, dtype=torch.float64), 25, "largest CP rank"),
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]], dtype=torch.float64), 1, "NaN"),
        (torch.ones(4, 5, 6, dtype=torch.int64), 2, "dtype"),
        (torch.zeros(4, 5, 6, dtype=torch.float64), 2, "all zeros"),
    ],
    ids=["order-1", "rank-0", "rank-too-big", "nan", "int", "zeros"],
)
def test_bad_input_raises(method, X, rank, match):
    with pytest.raises(DecompositionError, match=match):
        method(X, rank=rank)


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
def test_callback_sees_every_iteration_and_can_cancel(method):
    X, _, _ = low_rank(DIMS, 3, noise=0.05, seed=9)
    seen = []
    dec = method(X, rank=3, callback=seen.append)
    assert seen == dec.history and len(seen) == dec.info["iterations"]
    assert [r["iter"] for r in seen] == list(range(1, len(seen) + 1))
    assert all({"iter", "rel_error", "elapsed"} <= set(r) for r in seen)

    calls = []

    def stop_at_3(rec):
        calls.append(rec)
        if rec["iter"] == 3:
            raise Cancelled({"iter": 3})

    with pytest.raises(Cancelled):
        method(X, rank=3, callback=stop_at_3, tol=0.0)
    assert len(calls) == 3


def test_sampled_runs_stop_on_stagnation_with_an_exact_last_record():
    X, _, _ = low_rank(DIMS, 4, noise=0.1, seed=11)
    for method in (cp_als_lev, cp_als_uniform):
        dec = method(X, rank=4, eval_every=4, patience=2)
        assert dec.info["stop"] == "stagnation"
        last = dec.history[-1]
        assert last["exact"] and last["iter"] % 4 == 0
        exact = [r for r in dec.history if r["iter"] % 4 == 0]
        assert all(r["exact"] for r in exact)
        assert last["rel_error"] == pytest.approx(min(r["rel_error"] for r in exact))


def test_hosvd_init_pads_modes_smaller_than_the_rank_and_float32_works():
    X, _, _ = low_rank((3, 20, 25), 5, noise=0.01, seed=12)
    dec = cp_als(X.float(), rank=5, init="hosvd")
    assert all(c.dtype == torch.float32 for c in dec.cores)
    assert dec.rel_error < 0.02
    assert relative_error(X.float(), dec.reconstruct()) == pytest.approx(dec.rel_error, rel=1e-3)


def test_methods_are_registered_with_their_parameters():
    for name in ("cp_als", "cp_als_lev", "cp_als_uniform"):
        spec = get_method(name)
        assert spec.family == "cp"
        assert {p.name for p in spec.params} >= {"rank", "max_iter", "tol", "init"}
    lev = get_method("cp_als_lev")
    assert lev.sketched and lev.exact_counterpart == "cp_als"
    assert {p.name for p in lev.params} >= {"samples", "det_threshold", "eval_every", "patience"}
    with pytest.raises(DecompositionError, match="samples"):
        cp_als_lev(torch.randn(4, 5, 6, dtype=torch.float64), rank=2, samples=0)


def test_fibre_init_spans_each_unfoldings_range_from_a_sample():
    """On an exactly rank-R tensor, the singular vectors of sampled fibres span the same
    space as the true factor (the sample has more fibres than R)."""
    from tensorbench.engine.decompose.cp import _fibre_vectors

    x, fs, _ = low_rank((40, 35, 50), 4, seed=3)
    gen = torch.Generator().manual_seed(0)
    for k in range(3):
        U = _fibre_vectors(x, k, 4, gen)
        assert U.shape == (x.shape[k], 4)
        Q = torch.linalg.qr(fs[k]).Q
        # every true direction lies in span(U): projection residual ~ 0
        resid = Q - U @ (U.T @ Q)
        assert float(resid.norm()) < 1e-8


def test_fibre_init_pads_when_the_rank_exceeds_a_mode():
    x, _, _ = low_rank((3, 30, 40), 5, noise=0.01, seed=1)
    d = cp_als_lev(x, rank=5, seed=0, max_iter=3)
    assert d.info["init"] == "fibres" and d.cores[0].shape == (3, 5)


def test_sampled_cp_defaults_are_the_documented_ones():
    spec = get_method("cp_als_lev")
    defaults = {p.name: p.default for p in spec.params}
    assert defaults["init"] == "fibres" and defaults["patience"] == 8
    assert defaults["average"] is True


def test_sampled_cp_worse_than_zeros_is_a_stall_with_a_warning():
    # 10 sampled rows for 8 unknowns: the fit never gets below an error of 1 (worse than
    # all zeros); the stagnation rule stopped it as "converged".
    g = torch.Generator().manual_seed(0)
    fs = [torch.randn(60, 8, generator=g, dtype=torch.float64) for _ in range(3)]
    X = torch.einsum("ir,jr,kr->ijk", *fs)
    X += 0.01 * X.norm() * torch.randn(X.shape, generator=g, dtype=X.dtype) / X.numel() ** 0.5
    warnings = {}
    for name in ("cp_als_lev", "cp_als_uniform"):
        dec = get_method(name).func(X, seed=0, rank=8, samples=10, max_iter=200)
        assert dec.info["best_rel_error"] >= 1, name
        assert dec.info["stop"] == "stalled" and not dec.info["converged"]
        assert dec.info["iterations"] < 200
        warnings[name] = dec.info["warning"]
        assert warnings[name].startswith(
            f"stalled: after {dec.info['iterations']} sweeps the relative error is "
        )
        assert "(now 10)" in warnings[name] and warnings[name].endswith("or cp_als")
    # leverage-score rows are offered to the uniform sampler only
    assert "cp_als_lev (leverage-score rows)" in warnings["cp_als_uniform"]
    assert "leverage-score" not in warnings["cp_als_lev"]
