"""Residuals without the full tensor: exact (inner products) and randomized (probes).

Ground truth is always the dense difference ``torch.linalg.norm(X - X_hat)`` of the
contracted tensors, in float64.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from tensorbench.engine.contract import contract
from tensorbench.engine.decompose import Decomposition, DecompositionError
from tensorbench.engine.decompose.residual import (
    ResidualEstimate,
    estimate_residual,
    network_inner,
    network_norm,
    network_residual,
    relative_residual,
)
from tensorbench.engine.network import Network
from tensorbench.engine.templates import cp, tensor_ring, tensor_train, tucker

F64 = torch.float64
DIMS = (5, 6, 4, 3)


def _net(template, ranks, seed, dims=DIMS):
    net = template(dims, ranks)
    return net, net.random_arrays(seed=seed)


def _dense(pair):
    return contract(pair[0], pair[1])


NETS = {
    "tt": lambda seed: _net(tensor_train, [2, 3, 2], seed),
    "tucker": lambda seed: _net(tucker, [2, 3, 2, 2], seed),
    "ring": lambda seed: _net(tensor_ring, 2, seed),
    "cp": lambda seed: _net(cp, 3, seed),
}


# --------------------------------------------------------------------------- exact


@pytest.mark.parametrize("name", ["tt", "tucker", "ring", "cp"])
def test_dense_target_network_approx_equals_dense(name):
    approx = NETS[name](1)
    X = torch.randn(DIMS, dtype=F64, generator=torch.Generator().manual_seed(5))
    ref = float(torch.linalg.norm(X - _dense(approx)))
    assert network_residual(X, approx) == pytest.approx(ref, rel=1e-10)
    assert relative_residual(X, approx) == pytest.approx(ref / float(X.norm()), rel=1e-10)
    # Symmetric, and the approximation may be the dense side.
    assert network_residual(approx, X) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize(("a", "b"), [("tt", "tucker"), ("ring", "tt"), ("tucker", "ring")])
def test_network_target_network_approx_equals_dense(a, b):
    target, approx = NETS[a](2), NETS[b](3)
    Xt, Xa = _dense(target), _dense(approx)
    ref = float(torch.linalg.norm(Xt - Xa))
    assert network_residual(target, approx) == pytest.approx(ref, rel=1e-10)
    assert relative_residual(target, approx) == pytest.approx(ref / float(Xt.norm()), rel=1e-10)
    assert network_norm(target) == pytest.approx(float(Xt.norm()), rel=1e-12)
    ip = network_inner(target, approx)
    assert ip.real == pytest.approx(float((Xt * Xa).sum()), rel=1e-10)


def test_a_network_close_to_its_target_is_still_measured():
    # A low-rank target and an approximation with a known relative error of about 1e-2.
    target = NETS["tt"](4)
    net, cores = target
    noisy = [c + 1e-2 * torch.randn_like(c) for c in cores]
    ref = float(torch.linalg.norm(_dense(target) - contract(net, noisy)))
    assert network_residual(target, (net, noisy)) == pytest.approx(ref, rel=1e-10)


def test_outputs_are_matched_by_position_not_name():
    target = NETS["tt"](6)
    net, cores = NETS["tucker"](7)
    # The same Tucker network with other index names and tensor order.
    names = {f"i{k}": f"mode{k}" for k in range(4)} | {f"r{k}": f"core{k}" for k in range(4)}
    doc = net.to_dict()
    for t in doc["tensors"]:
        t["indices"] = [names[ix] for ix in t["indices"]]
    doc["tensors"] = doc["tensors"][::-1]
    doc["sizes"] = {names[ix]: d for ix, d in doc["sizes"].items()}
    doc["output"] = [names[ix] for ix in doc["output"]]
    renamed = Network.from_dict(doc)
    ref = float(torch.linalg.norm(_dense(target) - _dense((net, cores))))
    assert network_residual(target, (renamed, cores[::-1])) == pytest.approx(ref, rel=1e-10)


def test_index_names_of_both_networks_may_clash():
    # Two TTs with the same internal index names but different ranks.
    a, b = _net(tensor_train, 2, 8), _net(tensor_train, 3, 9)
    ref = float(torch.linalg.norm(_dense(a) - _dense(b)))
    assert network_residual(a, b) == pytest.approx(ref, rel=1e-10)


def test_complex_networks():
    net, cores = _net(tensor_ring, 2, 10, dims=(3, 4, 5))
    g = torch.Generator().manual_seed(0)
    cz = [torch.complex(c, torch.randn(c.shape, generator=g, dtype=F64)) for c in cores]
    X = torch.complex(torch.randn(3, 4, 5, dtype=F64), torch.randn(3, 4, 5, dtype=F64))
    ref = float(torch.linalg.norm(X - contract(net, cz)))
    assert network_residual(X, (net, cz)) == pytest.approx(ref, rel=1e-10)
    assert network_residual((net, cz), (net, cores)) == pytest.approx(
        float(torch.linalg.norm(contract(net, cz) - contract(net, cores))), rel=1e-10
    )


def test_float32_inputs_are_computed_in_float64():
    net, cores = NETS["tucker"](11)
    X32 = torch.randn(DIMS, dtype=torch.float32)
    c32 = [c.float() for c in cores]
    # Ground truth: the same float32 numbers, contracted and subtracted in float64.
    ref = float(torch.linalg.norm(X32.double() - contract(net, [c.double() for c in c32])))
    assert network_residual(X32, (net, c32)) == pytest.approx(ref, rel=1e-10)


def test_decomposition_objects_are_accepted():
    net, cores = NETS["tt"](12)
    dec = Decomposition("tt_svd", net, cores)
    X = torch.randn(DIMS, dtype=F64)
    ref = float(torch.linalg.norm(X - dec.reconstruct()))
    assert network_residual(X, dec) == pytest.approx(ref, rel=1e-10)


def test_cancellation_falls_back_to_the_dense_difference():
    net, cores = NETS["tt"](13)
    X = contract(net, cores)
    eps = 1e-10 * X / X.norm()
    ref = float(torch.linalg.norm(eps))  # relative error 1e-10: the formula would give noise
    got = network_residual(X + eps, (net, cores))
    assert got == pytest.approx(ref, rel=1e-4)
    assert network_residual((net, cores), (net, [c.clone() for c in cores])) < 1e-12


def test_cancellation_warns_when_the_tensor_cannot_be_formed():
    net, cores = NETS["tt"](14)
    other = [cores[0] * (1 + 1e-12), *cores[1:]]
    with pytest.warns(RuntimeWarning, match="not reliable"):
        network_residual((net, cores), (net, other), dense_limit=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        network_residual((net, cores), (net, other))  # small: formed densely, no warning


def test_bad_operands_raise_clear_errors():
    net, cores = NETS["tt"](15)
    with pytest.raises(DecompositionError, match="must match mode by mode"):
        network_residual(torch.zeros(5, 6, 4, dtype=F64), (net, cores))
    with pytest.raises(DecompositionError, match="NaN"):
        network_residual(torch.full(DIMS, float("nan"), dtype=F64), (net, cores))
    with pytest.raises(DecompositionError, match="cores for a network"):
        network_residual(torch.zeros(DIMS, dtype=F64), (net, cores[:2]))
    with pytest.raises(DecompositionError, match="has shape"):
        network_residual(torch.zeros(DIMS, dtype=F64), (net, [cores[1], *cores[1:]]))
    with pytest.raises(DecompositionError, match="float or complex"):
        network_residual(torch.zeros(DIMS, dtype=torch.int64), (net, cores))
    with pytest.raises(DecompositionError, match="must be a torch.Tensor"):
        network_residual(np.zeros(DIMS), (net, cores))
    with pytest.raises(DecompositionError, match="probes must be"):
        estimate_residual(torch.zeros(DIMS, dtype=F64), (net, cores), probes=1)
    with pytest.raises(DecompositionError, match="unknown probe kind"):
        estimate_residual(torch.zeros(DIMS, dtype=F64), (net, cores), kind="sparse")


# --------------------------------------------------------------------------- randomized

TRIALS = 50


def _coverage(target, approx, true, **kw) -> tuple[int, list[ResidualEstimate]]:
    ests = [estimate_residual(target, approx, seed=s, **kw) for s in range(TRIALS)]
    return sum(e.ci_low <= true <= e.ci_high for e in ests), ests


def test_gaussian_interval_brackets_the_residual():
    # Interval: exact chi-squared with `probes` degrees of freedom (Gaussian probe values
    # are exactly normal), 95% level.
    approx = NETS["tucker"](20)
    X = torch.randn(DIMS, dtype=F64, generator=torch.Generator().manual_seed(21))
    true = float(torch.linalg.norm(X - _dense(approx)))
    hits, ests = _coverage(X, approx, true, probes=16, kind="gaussian")
    assert hits >= 0.9 * TRIALS
    assert all(e.kind == "gaussian" and e.dof == 16 and e.confidence == 0.95 for e in ests)
    mean_est = sum(e.estimate**2 for e in ests) / TRIALS
    assert math.sqrt(mean_est) == pytest.approx(true, rel=0.1)
    assert ests[0].target_norm == pytest.approx(float(X.norm()))
    assert ests[0].rel_estimate == pytest.approx(ests[0].estimate / float(X.norm()))


@pytest.mark.parametrize(("a", "b"), [("tt", "tucker"), ("ring", "cp")])
def test_tt_probe_interval_brackets_the_residual_of_networks(a, b):
    # Interval: chi-squared with 2p/(kappa-1) degrees of freedom, kappa = 3 (1 + 2/r)^(N-1)
    # the kurtosis bound of rank-r TT probes (conservative), 95% level.
    target, approx = NETS[a](22), NETS[b](23)
    true = float(torch.linalg.norm(_dense(target) - _dense(approx)))
    hits, ests = _coverage(target, approx, true, probes=16, kind="tt", rank=6)
    assert hits >= 0.9 * TRIALS
    kappa = 3 * (1 + 2 / 6) ** 3
    assert ests[0].kind == "tt"
    assert ests[0].dof == pytest.approx(2 * 16 / (kappa - 1))
    mean_sq = sum(e.estimate**2 for e in ests) / TRIALS
    assert math.sqrt(mean_sq) == pytest.approx(true, rel=0.15)


@pytest.mark.parametrize("kind", ["gaussian", "tt"])
def test_more_probes_shrink_the_spread(kind):
    target, approx = NETS["ring"](24), NETS["tt"](25)
    true = float(torch.linalg.norm(_dense(target) - _dense(approx)))
    few = estimate_residual(target, approx, probes=8, kind=kind, seed=3)
    many = estimate_residual(target, approx, probes=128, kind=kind, seed=3)
    assert many.ci_high - many.ci_low < 0.45 * (few.ci_high - few.ci_low)
    assert many.std_error < few.std_error
    assert many.ci_low <= true <= many.ci_high
    assert many.estimate == pytest.approx(true, rel=0.35)


@pytest.mark.parametrize("kind", ["gaussian", "tt"])
def test_probes_are_seeded_and_independent_of_batching(kind, monkeypatch):
    from tensorbench.engine.decompose import residual

    target, approx = NETS["tt"](26), NETS["tucker"](27)
    a = estimate_residual(target, approx, probes=10, kind=kind, seed=5)
    assert a == estimate_residual(target, approx, probes=10, kind=kind, seed=5)
    assert a.estimate != estimate_residual(target, approx, probes=10, kind=kind, seed=6).estimate
    monkeypatch.setattr(residual, "PROBE_BATCH_BYTES", 1)  # one probe per batch
    b = estimate_residual(target, approx, probes=10, kind=kind, seed=5)
    assert b.estimate == pytest.approx(a.estimate, rel=1e-12)
    # More probes extend the same sequence: the sum of squares only grows.
    sums = [
        estimate_residual(target, approx, probes=p, kind=kind, seed=5).estimate ** 2 * p
        for p in (4, 8, 12)
    ]
    assert sums[0] <= sums[1] <= sums[2]


def test_auto_uses_tt_probes_for_large_networks():
    dims = (40, 40, 40, 40)  # 2.6M entries: above the Gaussian auto limit
    target, approx = _net(tensor_train, 3, 30, dims), _net(tucker, 2, 31, dims)
    est = estimate_residual(target, approx, probes=16, seed=0)
    assert est.kind == "tt" and est.rank == 16
    true = network_residual(target, approx)
    assert est.ci_low <= true <= est.ci_high
    small = estimate_residual(torch.randn(DIMS, dtype=F64), NETS["cp"](32), probes=4)
    assert small.kind == "gaussian" and small.rank is None


def test_estimate_has_no_cancellation_floor():
    # Relative error 1e-11: below what the inner-product formula can resolve, but probe
    # values are subtracted before squaring, so the estimate keeps its accuracy.
    net, cores = NETS["tt"](28)
    X = contract(net, cores)
    E = torch.randn(DIMS, dtype=F64, generator=torch.Generator().manual_seed(1))
    E = 1e-11 * float(X.norm()) * E / E.norm()
    ests = [estimate_residual(X + E, (net, cores), probes=64, seed=s) for s in range(20)]
    true = float(E.norm())
    assert sum(e.ci_low <= true <= e.ci_high for e in ests) >= 18
    assert sum(e.rel_estimate for e in ests) / 20 == pytest.approx(1e-11, rel=0.1)


def test_to_dict_is_json_ready():
    import json

    X = torch.randn(DIMS, dtype=F64)
    est = estimate_residual(X, NETS["cp"](29), probes=4, seed=0)
    d = json.loads(json.dumps(est.to_dict()))
    assert set(d) >= {"estimate", "std_error", "ci_low", "ci_high", "probes", "kind", "rel_ci"}
