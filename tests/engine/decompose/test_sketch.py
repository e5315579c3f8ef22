"""Random embeddings: unbiased norms, spread within the stated bound, structure = dense."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch

from tensorbench.engine.contract import contract
from tensorbench.engine.decompose import DecompositionError
from tensorbench.engine.decompose.sketch import (
    count_sketch,
    dct,
    gaussian,
    khatri_rao_gaussian,
    srtt,
    tt_gaussian,
)
from tensorbench.engine.templates import cp, tensor_ring, tensor_train, tucker

F64 = torch.float64
DRAWS = 400


def _vec(n: int, seed: int = 10**6) -> torch.Tensor:
    # The seed lies outside the sketches' seeds 0..DRAWS-1: a sketch drawn from the same
    # stream as x would contain x itself.
    return torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _ratios(make, x: torch.Tensor, draws: int = DRAWS) -> tuple[torch.Tensor, float]:
    """``||S x||^2 / ||x||^2`` over seeded draws, and the stated bound ``rel_std``."""
    out = []
    for seed in range(draws):
        S = make(seed)
        out.append(float(S.apply(x).pow(2).sum() / x.pow(2).sum()))
    return torch.tensor(out, dtype=F64), S.rel_std


def _check_distortion(
    r: torch.Tensor, rel_std: float, *, exact: bool = False, heavy: bool = False
) -> None:
    mean, std = float(r.mean()), float(r.std())
    se = std / math.sqrt(len(r))
    # Unbiased: the mean is within 4 standard errors of 1, and (unless the spread is
    # heavy-tailed by design) within a few percent.
    assert abs(mean - 1.0) < 4 * se
    if not heavy:
        assert abs(mean - 1.0) < 0.05
    # Spread within the stated bound (20% allowance for estimating a std from 400 draws).
    assert std < 1.2 * rel_std
    if exact:
        assert std > 0.85 * rel_std
    # Chebyshev: at least 8/9 of the draws lie within 3 rel_std of 1.
    assert float(((r - 1).abs() <= 3 * rel_std).double().mean()) >= 8 / 9


# --------------------------------------------------------------------------- DCT


@pytest.mark.parametrize("n", [1, 2, 5, 8, 31])
def test_dct_matches_scipy(n):
    x = torch.randn(n, 3, 2, dtype=F64)
    ref = scipy.fft.dct(x.numpy(), axis=0, norm="ortho")
    np.testing.assert_allclose(dct(x, dim=0).numpy(), ref, atol=1e-13)
    z = torch.complex(x, torch.randn_like(x))
    ref_z = scipy.fft.dct(z.numpy(), axis=1, norm="ortho")
    np.testing.assert_allclose(dct(z, dim=1).numpy(), ref_z, atol=1e-13)


# --------------------------------------------------------------------------- distortion


def test_gaussian_distortion_is_chi_squared():
    m, n = 64, 200
    r, bound = _ratios(lambda s: gaussian(m, n, seed=s), _vec(n))
    assert bound == pytest.approx(math.sqrt(2 / m))
    _check_distortion(r, bound, exact=True)


@pytest.mark.parametrize("s", [1, 3])
def test_sparse_sign_distortion(s):
    m, n = 64, 300
    x = _vec(n)
    r, bound = _ratios(lambda seed: count_sketch(m, n, s=s, seed=seed), x)
    _check_distortion(r, bound)
    # Var = 2 (||x||^4 - ||x||_4^4) / m exactly, for every s.
    exact = math.sqrt(2 / m * (1 - float(x.pow(4).sum() / x.pow(2).sum() ** 2)))
    assert float(r.std()) == pytest.approx(exact, rel=0.15)


def test_count_sketch_columns_have_unit_norm():
    S = count_sketch(10, 40, s=3, seed=4).to_dense()
    np.testing.assert_allclose(S.pow(2).sum(0).numpy(), 1.0, atol=1e-14)
    nz = (S != 0).sum(0)
    assert bool((nz == 3).all())  # three distinct rows per column
    np.testing.assert_allclose(S[S != 0].abs().numpy(), 1 / math.sqrt(3), rtol=1e-14)


@pytest.mark.parametrize(("m", "n"), [(64, 250), (48, 32)])  # without / with replacement
def test_srtt_distortion(m, n):
    for x in (_vec(n), torch.eye(n, dtype=F64)[3]):  # spread out and spiky inputs
        r, bound = _ratios(lambda s, m=m, n=n: srtt(m, n, seed=s), x)
        _check_distortion(r, bound)


def test_khatri_rao_distortion():
    dims, m = (4, 5, 6), 256
    r, bound = _ratios(lambda s: khatri_rao_gaussian(m, dims, seed=s), _vec(math.prod(dims)))
    assert bound == pytest.approx(math.sqrt(26 / m))
    _check_distortion(r, bound)


def test_tt_gaussian_distortion():
    dims, m = (3, 4, 5), 32
    r, bound = _ratios(lambda s: tt_gaussian(m, dims, rank=64, seed=s), _vec(math.prod(dims)))
    assert bound == pytest.approx(math.sqrt((1 + 2 / 64) ** 2 * (1 + 2 / m) - 1))
    _check_distortion(r, bound)


def test_tt_gaussian_rank_one_spread_is_larger_but_bounded():
    dims, m = (3, 4, 5), 32
    r, bound = _ratios(lambda s: tt_gaussian(m, dims, rank=1, seed=s), _vec(60), draws=300)
    _check_distortion(r, bound, heavy=True)
    assert float(r.std()) > math.sqrt(2 / m)


# --------------------------------------------------------------------------- structure


def _all_sketches(n_dims=(3, 4, 5)):
    n = math.prod(n_dims)
    return [
        gaussian(7, n, seed=1),
        count_sketch(7, n, seed=1),
        count_sketch(7, n, s=4, seed=1),
        srtt(7, n, seed=1),
        srtt(2 * n, n, seed=1),
        khatri_rao_gaussian(7, n_dims, seed=1),
        tt_gaussian(7, n_dims, rank=3, seed=1),
    ]


@pytest.mark.parametrize("k", range(7))
def test_apply_equals_dense_matrix(k):
    S = _all_sketches()[k]
    D = S.to_dense()
    assert D.shape == (S.m, S.n)
    A = torch.randn(S.n, 6, dtype=F64)
    np.testing.assert_allclose(S.apply(A).numpy(), (D @ A).numpy(), atol=1e-12)
    np.testing.assert_allclose(S.apply(A.T, dim=1).numpy(), (A.T @ D.T).numpy(), atol=1e-12)
    np.testing.assert_allclose(S.apply(A[:, 0]).numpy(), (D @ A[:, 0]).numpy(), atol=1e-12)
    T = torch.randn(2, S.n, 3, dtype=F64)
    ref = torch.einsum("mn,anb->amb", D, T)
    np.testing.assert_allclose(S.apply(T, dim=1).numpy(), ref.numpy(), atol=1e-12)
    # Complex data: real and imaginary parts sketched alike.
    Z = torch.complex(A, torch.randn_like(A))
    np.testing.assert_allclose(S.apply(Z).numpy(), (D.to(Z.dtype) @ Z).numpy(), atol=1e-12)


@pytest.mark.parametrize("k", range(7))
def test_apply_modes_equals_unfolding(k):
    S = _all_sketches((3, 4, 5))[k]
    X = torch.randn(4, 6, 3, 5, dtype=F64)  # modes 2, 0, 3 have sizes 3, 4, 5
    got = S.apply_modes(X, [2, 0, 3])
    unf = X.permute(2, 0, 3, 1).reshape(60, 6)
    np.testing.assert_allclose(got.numpy(), (S.to_dense() @ unf).numpy(), atol=1e-12)


def test_srtt_is_scaled_sampled_dct_of_signed_input():
    n, m = 20, 6
    S = srtt(m, n, seed=5)
    F = torch.from_numpy(scipy.fft.dct(np.eye(n), axis=0, norm="ortho"))
    ref = math.sqrt(n / m) * F[S.rows] * S.signs[None, :]
    np.testing.assert_allclose(S.to_dense().numpy(), ref.numpy(), atol=1e-13)
    assert len(set(S.rows.tolist())) == m  # without replacement


def test_khatri_rao_rows_are_kronecker_products():
    dims = (3, 2, 4)
    S = khatri_rao_gaussian(5, dims, seed=2)
    G = S.factors
    for i in range(5):
        row = torch.kron(torch.kron(G[0][i], G[1][i]), G[2][i])
        np.testing.assert_allclose(S.to_dense()[i].numpy(), row.numpy(), atol=1e-13)


def test_khatri_rao_sketch_of_factors_equals_dense():
    dims, R = (3, 4, 5), 6
    S = khatri_rao_gaussian(9, dims, seed=3)
    As = [torch.randn(d, R, dtype=F64) for d in dims]
    K = torch.einsum("ir,jr,kr->ijkr", *As).reshape(-1, R)  # rows row-major, i slowest
    ref = S.to_dense() @ K
    np.testing.assert_allclose(S.apply_factors(As).numpy(), ref.numpy(), atol=1e-10)
    # The same S on the data side of a CP least-squares problem (mode-0 unfolding).
    X = torch.randn(7, *dims, dtype=F64)
    got = S.apply_modes(X, [1, 2, 3])
    np.testing.assert_allclose(got.numpy(), (S.to_dense() @ X.reshape(7, -1).T).numpy(), atol=1e-10)


def test_tt_gaussian_is_the_chain_of_its_cores():
    dims = (3, 4, 2)
    S = tt_gaussian(5, dims, rank=[2, 3], seed=6)
    a, b, c = S.cores
    ref = torch.einsum("xia,ajb,bkm->mijk", a, b, c).reshape(5, -1)
    np.testing.assert_allclose(S.to_dense().numpy(), ref.numpy(), atol=1e-13)


def test_tt_gaussian_on_tt_input_equals_dense():
    dims = (4, 3, 5, 2)
    S = tt_gaussian(6, dims, rank=3, seed=7)
    net = tensor_train(dims, [2, 3, 2])
    cores = net.random_arrays(seed=8)
    T = contract(net, cores).reshape(-1)
    ref = S.to_dense() @ T
    tt = [cores[0][None], *cores[1:-1], cores[-1][..., None]]
    np.testing.assert_allclose(S.apply_tt(tt)[0, :, 0].numpy(), ref.numpy(), rtol=1e-10, atol=0)
    np.testing.assert_allclose(S.apply_network(net, cores).numpy(), ref.numpy(), rtol=1e-10)
    # A piece of a longer train keeps its boundary ranks: (s0, m, sN).
    piece = [torch.randn(2 if k == 0 else 3, d, 3, dtype=F64) for k, d in enumerate(dims)]
    full = torch.einsum("aib,bjc,ckd,dle->aijkle", *piece).reshape(2, -1, 3)
    ref_piece = torch.einsum("mn,anb->amb", S.to_dense(), full)
    np.testing.assert_allclose(S.apply_tt(piece).numpy(), ref_piece.numpy(), atol=1e-10)


@pytest.mark.parametrize("template", [tucker, tensor_ring, cp])
def test_structured_sketches_on_networks_equal_dense(template):
    dims = (3, 4, 5)
    net = template(dims, 2)
    cores = net.random_arrays(seed=9)
    T = contract(net, cores).reshape(-1)
    for S in (tt_gaussian(6, dims, rank=2, seed=1), khatri_rao_gaussian(6, dims, seed=1)):
        ref = S.to_dense() @ T
        got = S.apply_network(net, cores)
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-10, atol=1e-13)


def test_khatri_rao_on_cp_factors_equals_network():
    dims = (3, 4, 5)
    net = cp(dims, 4)
    cores = net.random_arrays(seed=2)
    S = khatri_rao_gaussian(8, dims, seed=0)
    np.testing.assert_allclose(
        S.apply_factors(cores).sum(1).numpy(), S.apply_network(net, cores).numpy(), rtol=1e-10
    )


# --------------------------------------------------------------------------- contract


def test_same_seed_same_sketch_and_dtype_device():
    for make in (
        lambda s, **kw: gaussian(5, 30, seed=s, **kw),
        lambda s, **kw: count_sketch(5, 30, s=2, seed=s, **kw),
        lambda s, **kw: srtt(5, 30, seed=s, **kw),
        lambda s, **kw: khatri_rao_gaussian(5, (5, 6), seed=s, **kw),
        lambda s, **kw: tt_gaussian(5, (5, 6), seed=s, **kw),
    ):
        a, b, c = make(3).to_dense(), make(3).to_dense(), make(4).to_dense()
        assert torch.equal(a, b)
        assert not torch.equal(a, c)
        f = make(3, dtype="float32").to_dense()
        assert f.dtype == torch.float32
        np.testing.assert_allclose(f.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)
        A = torch.randn(30, 2, dtype=torch.float32)
        assert make(3).apply(A).dtype == torch.float32  # follows the data


def test_bad_input_raises_clear_errors():
    with pytest.raises(DecompositionError, match="axis 0 of the input has size 9"):
        gaussian(3, 10).apply(torch.zeros(9, 2, dtype=F64))
    with pytest.raises(DecompositionError, match="exceeds the sketch size"):
        count_sketch(3, 10, s=4)
    with pytest.raises(DecompositionError, match="positive integer"):
        srtt(0, 10)
    with pytest.raises(DecompositionError, match="float or complex"):
        srtt(3, 10).apply(torch.zeros(10, dtype=torch.int64))
    with pytest.raises(DecompositionError, match="internal ranks"):
        tt_gaussian(3, (2, 3, 4), rank=[2])
    with pytest.raises(DecompositionError, match="expected \\(3, R\\)"):
        khatri_rao_gaussian(3, (3, 4)).apply_factors([torch.zeros(4, 2), torch.zeros(4, 2)])
    with pytest.raises(DecompositionError, match="sizes"):
        tt_gaussian(3, (3, 4)).apply_network(tucker((3, 5), 2), tucker((3, 5), 2).random_arrays())
