"""Tucker methods against ground truth: exact low-rank recovery, exact SVDs of the
unfoldings (HOSVD's classical bound, Eckart-Young on matrices), dense residuals."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from tensorbench.engine.decompose import DecompositionError, get_method, relative_error
from tensorbench.engine.decompose import tucker as tk
from tensorbench.engine.run import Cancelled

METHODS = ["hosvd", "hooi", "tucker_rand", "tucker_sketch"]
DIMS, RANKS = (30, 35, 40), [3, 4, 5]


def low_rank(dims, ranks, seed=0, dtype=torch.float64):
    """Random core times random (non-orthogonal) factors: multilinear rank exactly ``ranks``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(ranks, generator=g, dtype=dtype)
    for k, (n, r) in enumerate(zip(dims, ranks, strict=True)):
        u = torch.randn(n, r, generator=g, dtype=dtype)
        x = torch.movedim(torch.tensordot(x, u, dims=([k], [1])), -1, k)
    return x / torch.linalg.vector_norm(x)


def noisy(dims=DIMS, ranks=RANKS, level=0.05, seed=0):
    x = low_rank(dims, ranks, seed)
    e = torch.randn(dims, generator=torch.Generator().manual_seed(seed + 100), dtype=x.dtype)
    return x + level * e / torch.linalg.vector_norm(e)


def run(name, x, **params):
    return get_method(name).func(x, **params)


def unfolding_tails(x, ranks):
    """Discarded squared singular values per mode, from exact SVDs of the unfoldings."""
    tails = []
    for k, r in enumerate(ranks):
        sv = torch.linalg.svdvals(x.movedim(k, 0).reshape(x.shape[k], -1))
        tails.append(float((sv[r:] ** 2).sum()))
    return tails


@pytest.fixture(scope="module")
def exact():
    return low_rank(DIMS, RANKS)


@pytest.fixture(scope="module")
def noisy_x():
    return noisy()


@pytest.fixture(scope="module")
def noisy_runs(noisy_x):
    return {m: run(m, noisy_x, ranks=RANKS) for m in METHODS}


def test_registered():
    for m in METHODS:
        spec = get_method(m)
        assert spec.family == "tucker"
        assert spec.sketched == (m in ("tucker_rand", "tucker_sketch"))


@pytest.mark.parametrize("method", METHODS)
def test_exact_low_rank_is_recovered(method, exact):
    d = run(method, exact, ranks=RANKS, seed=3)
    assert d.rel_error < 1e-6
    assert relative_error(exact, d.reconstruct()) < 1e-6
    for u in d.cores[1:]:  # orthonormal factors
        eye = torch.eye(u.shape[1], dtype=u.dtype)
        assert torch.allclose(u.T @ u, eye, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_network_cores_and_reconstruction(method, noisy_x, noisy_runs):
    d = noisy_runs[method]
    net = d.network
    assert [t.name for t in net.tensors] == ["G", "U0", "U1", "U2"]
    assert net.tensors[0].indices == ("r0", "r1", "r2")
    assert [t.indices for t in net.tensors[1:]] == [("i0", "r0"), ("i1", "r1"), ("i2", "r2")]
    assert list(net.output) == ["i0", "i1", "i2"]
    for t, c in zip(net.tensors, d.cores, strict=True):
        assert tuple(c.shape) == tuple(net.sizes[i] for i in t.indices)
    own = tk.tucker_to_tensor(d.cores[0], d.cores[1:])
    dense = d.reconstruct()
    assert torch.allclose(dense, own, atol=1e-12)
    # The error recorded from norms equals the dense residual's.
    assert d.rel_error == pytest.approx(relative_error(noisy_x, dense), rel=1e-8)
    assert d.cores[0].dtype == torch.float64


def test_hosvd_obeys_classical_bound(noisy_x, noisy_runs):
    d = noisy_runs["hosvd"]
    bound = math.sqrt(sum(unfolding_tails(noisy_x, RANKS))) / float(noisy_x.norm())
    assert d.rel_error <= bound
    assert d.info["hosvd_bound"] == pytest.approx(bound, rel=1e-8)
    assert d.rel_error > 0.5 * bound  # the noise really is there


def test_hooi_never_worse_than_hosvd(noisy_runs):
    h = noisy_runs["hooi"]
    assert h.rel_error <= noisy_runs["hosvd"].rel_error + 1e-12
    errors = [r["rel_error"] for r in h.history]
    assert errors[0] == pytest.approx(noisy_runs["hosvd"].rel_error, rel=1e-12)
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(errors))
    assert h.info["converged"]


@pytest.mark.parametrize("level", [0.01, 0.05])
def test_randomized_methods_close_to_hosvd(level):
    x = noisy(level=level, seed=7)
    ref = min(run("hosvd", x, ranks=RANKS).rel_error, run("hooi", x, ranks=RANKS).rel_error)
    rand = run("tucker_rand", x, ranks=RANKS)
    sketch = run("tucker_sketch", x, ranks=RANKS)
    # Randomized HOSVD with a power iteration: within 10% of the error itself.
    assert rand.rel_error <= 1.1 * ref
    # One pass (no power iteration possible): within 10% of the fit 1 - rel_error, and
    # within Sun et al.'s guarantee, twice the HOSVD bound.
    assert 1 - sketch.rel_error >= 0.9 * (1 - ref)
    bound = math.sqrt(sum(unfolding_tails(x, RANKS))) / float(x.norm())
    assert sketch.rel_error <= 2 * bound
    assert sketch.info["rel_error_two_pass"] <= sketch.rel_error + 1e-12


def test_hosvd_on_a_matrix_is_the_truncated_svd():
    x = noisy((25, 30), [4, 4], level=0.1)
    sv = torch.linalg.svdvals(x)
    eckart_young = float((sv[4:] ** 2).sum().sqrt() / sv.norm())
    assert run("hosvd", x, ranks=4).rel_error == pytest.approx(eckart_young, rel=1e-9)
    assert run("hooi", x, ranks=4).rel_error == pytest.approx(eckart_young, rel=1e-9)


def test_one_rank_is_capped_per_mode_and_rel_tol_wins():
    x = low_rank((30, 35, 3), [3, 4, 3])
    for m in METHODS:
        d = run(m, x)  # default ranks=10: [10, 10, 3]
        assert d.info["ranks"] == [10, 10, 3]
        assert d.rel_error < 1e-6
    assert run("hosvd", x, ranks=5, rel_tol=1e-6).info["ranks"] == [3, 4, 3]


def test_rel_tol_picks_ranks():
    exact = low_rank(DIMS, RANKS)
    for solver in ("gram", "svd"):
        d = run("hosvd", exact, rel_tol=1e-8, solver=solver)
        assert d.info["ranks"] == RANKS
    x = noisy(level=0.1)
    for tol in (0.05, 0.3):
        d = run("hosvd", x, rel_tol=tol)
        assert d.rel_error <= tol
        assert d.rel_error <= d.info["hosvd_bound"] <= tol
    assert run("hooi", x, rel_tol=0.3).rel_error <= 0.3


def test_svd_solver_agrees_with_gram(noisy_x, noisy_runs):
    d = run("hosvd", noisy_x, ranks=RANKS, solver="svd")
    assert d.info["solver"] == ["svd"] * 3
    assert d.rel_error == pytest.approx(noisy_runs["hosvd"].rel_error, rel=1e-10)
    # A mode larger than the product of the others: auto takes the thin SVD there.
    tall = noisy((50, 4, 5), [3, 2, 2])
    assert run("hosvd", tall, ranks=[3, 2, 2]).info["solver"] == ["svd", "gram", "gram"]


@pytest.mark.parametrize("method", METHODS)
def test_chunked_paths_four_modes(method, monkeypatch):
    """Tiny blocks: Gram/sketch accumulation over many chunks and slabs stays exact."""
    monkeypatch.setattr(tk, "_CHUNK_BYTES", 4096)
    x = low_rank((9, 10, 11, 12), [2, 3, 2, 3], seed=5)
    d = run(method, x, ranks=[2, 3, 2, 3], seed=1)
    assert relative_error(x, d.reconstruct()) < 1e-6


def test_rand_not_sequential_and_float32(exact):
    d = run("tucker_rand", exact, ranks=RANKS, sequential=False, power_iters=0)
    assert relative_error(exact, d.reconstruct()) < 1e-6
    x32 = noisy().float()
    for m in METHODS:
        d = run(m, x32, ranks=RANKS)
        assert d.cores[0].dtype == torch.float32
        true = relative_error(x32.double(), d.reconstruct().double())
        assert d.rel_error == pytest.approx(true, rel=1e-3)


@pytest.mark.parametrize("method", ["tucker_rand", "tucker_sketch"])
def test_seed_reproducible(method, noisy_x):
    a, b = (run(method, noisy_x, ranks=RANKS, seed=11) for _ in range(2))
    c = run(method, noisy_x, ranks=RANKS, seed=12)
    assert all(torch.equal(p, q) for p, q in zip(a.cores, b.cores, strict=True))
    assert not torch.equal(a.cores[1], c.cores[1])


@pytest.mark.parametrize("method", METHODS)
def test_bad_input_raises(method, exact):
    with pytest.raises(DecompositionError, match="exceeds mode 0's size 30"):
        run(method, exact, ranks=[31, 4, 5])
    with pytest.raises(DecompositionError, match="expected 3 positive integers"):
        run(method, exact, ranks=[3, 4])
    bad = exact.clone()
    bad[1, 2, 3] = float("nan")
    with pytest.raises(DecompositionError, match="NaN or infinite"):
        run(method, bad, ranks=RANKS)
    bad[1, 2, 3] = float("inf")
    with pytest.raises(DecompositionError, match="NaN or infinite"):
        run(method, bad, ranks=RANKS)
    with pytest.raises(DecompositionError, match="dtype torch.int64"):
        run(method, torch.ones(4, 5, 6, dtype=torch.int64), ranks=2)
    with pytest.raises(DecompositionError, match="at least 2"):
        run(method, torch.ones(6, dtype=torch.float64), ranks=2)
    with pytest.raises(DecompositionError, match="torch.Tensor"):
        run(method, [[1.0, 2.0], [3.0, 4.0]], ranks=1)


def test_bad_parameters_raise(exact):
    with pytest.raises(DecompositionError, match="ranks must be an integer"):
        run("tucker_rand", exact, ranks=None)
    with pytest.raises(DecompositionError, match="oversample"):
        run("tucker_rand", exact, ranks=3, oversample=-1)
    with pytest.raises(DecompositionError, match="factor_sketch"):
        run("tucker_sketch", exact, ranks=RANKS, factor_sketch=2)
    with pytest.raises(DecompositionError, match="core_sketch"):
        run("tucker_sketch", exact, ranks=RANKS, factor_sketch=6, core_sketch=5)
    with pytest.raises(DecompositionError, match="solver"):
        run("hosvd", exact, ranks=3, solver="qr")


@pytest.mark.parametrize("method", METHODS)
def test_callback_and_cancel(method, noisy_x):
    seen = []
    d = run(method, noisy_x, ranks=RANKS, callback=seen.append)
    assert seen and seen == d.history
    for rec in seen:
        assert {"iter", "rel_error", "elapsed"} <= rec.keys()
        assert isinstance(rec["rel_error"], float)

    def stop(rec):
        raise Cancelled({"at": rec["iter"]})

    with pytest.raises(Cancelled):
        run(method, noisy_x, ranks=RANKS, callback=stop)


@pytest.mark.parametrize("level", [0.01, 0.1])
def test_presketched_first_mode_matches_hosvd(level):
    """With a large other mode, the first mode's range comes from X x_j Omega_j: X is read
    twice, and the error stays within 2% of the HOSVD's (1% noise: within 0.5%)."""
    x = noisy((90, 70, 200), [5, 4, 6], level=level, seed=3)
    ref = run("hosvd", x, ranks=[5, 4, 6]).rel_error
    d = run("tucker_rand", x, ranks=[5, 4, 6], seed=1)
    plain = run("tucker_rand", x, ranks=[5, 4, 6], seed=1, presketch=False)
    # mode 2 shrinks most, so it goes first; mode 0 is the largest other mode: sketched
    assert d.info["presketched_mode"] == 0 and plain.info["presketched_mode"] is None
    assert d.rel_error <= (1.005 if level < 0.05 else 1.02) * ref
    assert plain.rel_error <= 1.02 * ref
    # the error it reports is the true one
    assert d.rel_error == pytest.approx(relative_error(x, d.reconstruct()), rel=1e-6)


def test_presketch_is_skipped_where_it_saves_nothing():
    x = noisy((20, 30, 25), [3, 3, 3], level=0.01)
    assert run("tucker_rand", x, ranks=3).info["presketched_mode"] is None  # 13 * 4 > 30


@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("width", [3, 10, 12])
def test_mode_product_padding_keeps_the_value(k, width):
    g = torch.Generator().manual_seed(k + width)
    y = torch.randn(50, 40, 60, generator=g, dtype=torch.float64)  # >= 2**16 elements
    m = torch.randn(y.shape[k], width, generator=g, dtype=torch.float64)
    out = tk.mode_product(y, m, k)
    ref = torch.movedim(torch.tensordot(y, m, dims=([k], [0])), -1, k)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (2050, 3, 700), (1, 4096, 1025)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_relative_error_by_slices_matches_the_whole(shape, dtype):
    # relative_error walks the first mode in slices (no full-size difference); the
    # shapes straddle the slice size and cross its boundary mid-mode
    g = torch.Generator().manual_seed(0)
    X = torch.randn(shape, generator=g, dtype=torch.float64)
    Y = X + 1e-3 * torch.randn(shape, generator=g, dtype=torch.float64)
    want = float(
        torch.linalg.vector_norm(X.to(dtype).double() - Y.to(dtype).double())
        / torch.linalg.vector_norm(X.to(dtype).double())
    )
    assert relative_error(X.to(dtype), Y.to(dtype)) == pytest.approx(want, rel=1e-12)
    assert relative_error(X.to(dtype), X.to(dtype)) == 0.0
    with pytest.raises(ValueError, match="differ"):
        relative_error(X, X.reshape(-1, 1))
