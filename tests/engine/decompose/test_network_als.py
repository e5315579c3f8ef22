"""network_als: ALS over the cores of any drawn network, checked against ground truth.

Data are built exactly from random cores of the same structure (exact recovery), or from
them plus noise, where a TT-SVD computed here with plain torch SVDs is the reference.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from tensorbench.engine import templates
from tensorbench.engine.contract import contract
from tensorbench.engine.decompose import network_als as nals_module
from tensorbench.engine.decompose.base import METHODS, DecompositionError, relative_error
from tensorbench.engine.decompose.network_als import network_als
from tensorbench.engine.errors import ResourceError
from tensorbench.engine.network import Network, Tensor
from tensorbench.engine.params import check_params
from tensorbench.engine.run import Cancelled

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are tiny: threads only add synchronization, which stalls a busy CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def exact_data(net: Network, seed: int = 7) -> torch.Tensor:
    """A tensor that ``net`` represents exactly (random cores, contracted densely)."""
    return contract(net, net.random_arrays(seed=seed, dtype="float64", device="cpu"))


def noisy(net: Network, noise: float, seed: int = 7) -> torch.Tensor:
    """Exact data plus Gaussian noise of relative norm ``noise``."""
    X = exact_data(net, seed)
    g = torch.Generator().manual_seed(seed + 1000)
    N = torch.randn(X.shape, generator=g, dtype=F64)
    return X + noise * N * (X.norm() / N.norm())


def check_result(dec, net: Network, X: torch.Tensor) -> float:
    """The contract every result follows; return the error of its reconstruction."""
    assert dec.network is net  # names, positions and tags preserved
    assert len(dec.cores) == len(net.tensors)
    for core, t in zip(dec.cores, net.tensors, strict=True):
        assert tuple(core.shape) == net.shape(t)
        assert core.dtype == X.dtype and core.device == X.device
    err = relative_error(X, dec.reconstruct())
    # The recorded error is the error of the returned cores.
    assert dec.rel_error == pytest.approx(err, rel=1e-6, abs=1e-12)
    for k, rec in enumerate(dec.history):
        assert {"iter", "rel_error", "elapsed"} <= set(rec)
        assert k == 0 or rec["elapsed"] >= dec.history[k - 1]["elapsed"]
    return err


def tt_svd(X: torch.Tensor, ranks: list[int]) -> torch.Tensor:
    """Reference TT-SVD (sequential truncated SVDs), returned as the dense reconstruction."""
    dims = list(X.shape)
    cores, r_prev = [], 1
    C = X.reshape(dims[0], -1)
    for k, r in enumerate(ranks):
        C = C.reshape(r_prev * dims[k], -1)
        U, s, Vh = torch.linalg.svd(C, full_matrices=False)
        cores.append(U[:, :r].reshape(r_prev, dims[k], r))
        C = s[:r, None] * Vh[:r]
        r_prev = r
    cores.append(C.reshape(r_prev, dims[-1], 1))
    Y = cores[0]
    for G in cores[1:]:
        Y = torch.tensordot(Y, G, dims=([Y.ndim - 1], [0]))
    return Y.reshape(dims)


# ------------------------------------------------------------------ exact recovery


@pytest.mark.parametrize(
    "net",
    [
        templates.tensor_train((9, 10, 11, 12), (2, 3, 2)),
        templates.tucker((9, 10, 11, 12), (2, 3, 2, 3)),
        templates.cp((9, 10, 11, 12), 3),  # CP drawn as a rank hyperedge
        templates.hierarchical_tucker((6, 7, 8, 9), 2),  # a tree
    ],
    ids=["tt", "tucker", "cp_hyperedge", "ht_tree"],
)
def test_exact_recovery(net: Network) -> None:
    X = exact_data(net)
    dec = network_als(X, network=net, seed=0, max_iter=300, tol=1e-9)
    assert check_result(dec, net, X) < 1e-6
    assert dec.info["converged"]


def test_tensor_ring_recovers_with_seeded_restarts() -> None:
    # Random-start ALS on rings can stall in a swamp; a few seeds are the usual remedy
    # (with this data seeds 0-7 each succeed on their own, in 4-18 sweeps).
    net = templates.tensor_ring((6, 7, 8, 9), 2)
    X = exact_data(net)
    errors = []
    for seed in range(3):
        dec = network_als(X, network=net, seed=seed, max_iter=300, tol=1e-9)
        errors.append(check_result(dec, net, X))
        if errors[-1] < 1e-6:
            break
    assert min(errors) < 1e-6, errors


def test_loopy_peps_converges() -> None:
    net = templates.peps(2, 2, bond=2, phys=6)
    X = exact_data(net)
    dec = network_als(X, network=net, seed=0, max_iter=300, tol=1e-9)
    assert check_result(dec, net, X) < 1e-6
    errs = [r["rel_error"] for r in dec.history]
    assert errs[-1] < 1e-3 * errs[0]
    # Every core update is an exact least-squares solve, so sweeps never lose ground.
    assert all(b <= a * (1 + 1e-6) + 1e-12 for a, b in itertools.pairwise(errs))


def test_drawn_network_positions_and_summed_leg() -> None:
    # A user drawing: custom names and positions, one leg that is not a data mode
    # (summed over), indices listed in no particular order.
    net = Network(
        [
            Tensor("left", ("a", "x", "i"), pos=(0.0, 1.0), tags=("mine",)),
            Tensor("mid", ("j", "a", "b"), pos=(1.0, 1.0)),
            Tensor("right", ("b", "k", "x"), pos=(2.0, 1.0)),
            Tensor("extra", ("z", "b2"), pos=(1.0, 0.0)),
            Tensor("hub", ("b2", "l"), pos=(1.0, -1.0)),
        ],
        {"a": 2, "b": 2, "x": 2, "i": 5, "j": 6, "k": 7, "l": 4, "z": 3, "b2": 2},
        ["i", "j", "k", "l"],
    )
    assert net.kind("z") == "summed"
    X = exact_data(net)
    dec = network_als(X, network=net, seed=1, max_iter=300, tol=1e-9)
    assert check_result(dec, net, X) < 1e-6
    assert dec.network.tensor("left").pos == (0.0, 1.0)


# ------------------------------------------------------------------ against references


def test_tt_structure_matches_tt_svd_on_noisy_data() -> None:
    net = templates.tensor_train((12, 13, 14, 15), (3, 4, 3))
    X = noisy(net, 0.1)
    ref = relative_error(X, tt_svd(X, [3, 4, 3]))
    dec = network_als(X, network=net, seed=0)
    err = check_result(dec, net, X)
    # ALS optimizes the fit itself, so it does at least as well as TT-SVD, up to 10%.
    assert err <= 1.1 * ref, (err, ref)
    assert err >= 0.9 * ref, (err, ref)  # and the noise floor is not beaten by a wide margin


def test_two_mode_networks_reach_eckart_young() -> None:
    # On a matrix, A (i, r) - B (j, r) is a rank-r factorization: the best one leaves the
    # trailing singular values (Eckart-Young). Also with the output order unlike the
    # tensors' and the rank-1 case drawn as two unconnected vectors.
    g = torch.Generator().manual_seed(3)
    X = torch.randn(20, 25, generator=g, dtype=F64)
    s = torch.linalg.svdvals(X)

    def best(r: int) -> float:
        return math.sqrt(float((s[r:] ** 2).sum() / (s**2).sum()))

    cases = [
        (templates.cp((20, 25), 3), 3),
        (
            Network(
                [Tensor("B", ("j", "r")), Tensor("A", ("r", "i"))],
                {"i": 20, "j": 25, "r": 2},
                ["i", "j"],
            ),
            2,
        ),
        (Network([Tensor("A", ("i",)), Tensor("B", ("j",))], {"i": 20, "j": 25}, ["i", "j"]), 1),
    ]
    for net, r in cases:
        dec = network_als(X, network=net, seed=0, max_iter=500, tol=1e-12)
        assert check_result(dec, net, X) == pytest.approx(best(r), rel=1e-5)


@pytest.mark.parametrize(
    ("net", "sampling"),
    [
        (templates.tensor_train((16, 17, 18, 19), 3), "leverage"),
        (templates.tensor_train((16, 17, 18, 19), 3), "uniform"),
        (templates.tucker((16, 17, 18, 19), 3), "leverage"),
        (templates.tensor_ring((16, 17, 18, 19), 2), "leverage"),
    ],
    ids=["tt-leverage", "tt-uniform", "tucker-leverage", "tr-leverage"],
)
def test_sampled_within_ten_percent_of_exact(net: Network, sampling: str) -> None:
    X = noisy(net, 0.1)
    exact = network_als(X, network=net, seed=0)
    dec = network_als(X, network=net, seed=0, sampled=True, sampling=sampling)
    err = check_result(dec, net, X)
    assert err <= 1.1 * exact.rel_error, (err, exact.rel_error)
    assert dec.info["sampled"] and dec.info["sampling"] == sampling
    assert all(s > 0 for s in dec.info["samples_per_core"])
    assert any(r["exact"] for r in dec.history) and not all(r["exact"] for r in dec.history)


def test_sampled_sample_counts() -> None:
    # A given count applies to every core whose environment has more rows than that; a
    # core with fewer rows (here the last: 4 * 5 * 6 = 120 <= 130) is solved exactly.
    net = templates.tensor_train((16, 17, 18, 19), 2)
    X = noisy(net, 0.01)
    dec = network_als(X, network=net, seed=0, sampled=True, samples=300, eval_every=2)
    assert dec.info["samples_per_core"] == [300, 300, 300, 300]
    assert check_result(dec, net, X) < 0.011
    small = templates.tensor_train((4, 5, 6, 7), 2)
    X = noisy(small, 0.01)
    dec = network_als(X, network=small, seed=0, sampled=True, samples=130)
    assert dec.info["samples_per_core"] == [130, 130, 130, 0]
    check_result(dec, small, X)


# ------------------------------------------------------------------ contract and errors


def test_registered_with_params() -> None:
    spec = METHODS["network_als"]
    assert spec.family == "network"
    names = {p.name for p in spec.params}
    assert {"max_iter", "tol", "reg", "sampled", "samples", "eval_every", "init"} <= names
    assert "network" not in names  # passed by the decompose task from the config
    defaults = check_params(spec.params, {}, "t")
    assert defaults["sampled"] is False and defaults["init"] == "random"


def test_seeds_reproducible() -> None:
    net = templates.tensor_ring((8, 9, 10), 2)
    X = noisy(net, 0.05)
    for kw in ({"max_iter": 5}, {"sampled": True, "samples": 40, "max_iter": 6}):
        a = network_als(X, network=net, seed=5, **kw)
        b = network_als(X, network=net, seed=5, **kw)
        c = network_als(X, network=net, seed=6, **kw)
        for x, y in zip(a.cores, b.cores, strict=True):
            assert torch.equal(x, y)
        assert [r["rel_error"] for r in a.history] == [r["rel_error"] for r in b.history]
        assert not torch.equal(a.cores[0], c.cores[0])


def test_initial_reconstruction_has_the_data_norm() -> None:
    net = templates.peps(2, 2, bond=2, phys=4)
    X = 1e3 * exact_data(net)
    setup = nals_module._Setup(net, X)
    setup.build_norms()
    X_norm2 = float((X * X).sum())
    cores = nals_module._init_cores(setup, torch.Generator().manual_seed(0), F64, X.device)
    cores = nals_module._scale_to(setup, cores, X_norm2)
    assert float(contract(net, cores).norm()) == pytest.approx(math.sqrt(X_norm2), rel=1e-10)


def test_callback_records_and_cancel_propagates() -> None:
    net = templates.tensor_train((8, 9, 10), 2)
    X = noisy(net, 0.1)
    seen: list[dict] = []
    network_als(X, network=net, callback=seen.append, max_iter=3, tol=0.0)
    assert [r["iter"] for r in seen] == [1, 2, 3]
    assert all(isinstance(r["rel_error"], float) and r["elapsed"] >= 0 for r in seen)

    def cancel(record: dict) -> None:
        if record["iter"] == 2:
            raise Cancelled({"at": 2})

    with pytest.raises(Cancelled):
        network_als(X, network=net, callback=cancel, max_iter=10, tol=0.0)


def test_float32_stays_float32() -> None:
    net = templates.tensor_train((8, 9, 10), 2)
    X = exact_data(net).float()
    dec = network_als(X, network=net, seed=0)
    assert all(c.dtype == torch.float32 for c in dec.cores)
    assert relative_error(X, dec.reconstruct()) < 2e-5


def test_zero_data_and_single_tensor() -> None:
    net = templates.tensor_train((4, 5, 6), 2)
    dec = network_als(torch.zeros(4, 5, 6, dtype=F64), network=net)
    assert dec.rel_error == 0.0 and float(dec.reconstruct().abs().max()) == 0.0
    one = Network([Tensor("T", ("b", "a"))], {"a": 3, "b": 4}, ["a", "b"])
    X = torch.randn(3, 4, dtype=F64)
    dec = network_als(X, network=one)
    assert torch.equal(dec.reconstruct(), X)


def test_bad_input_messages() -> None:
    net = templates.tensor_train((4, 5, 6), 2)
    X = torch.randn(4, 5, 6, dtype=F64)
    with pytest.raises(DecompositionError, match=r"mode 1 of X has size 7 .* index 'i1'"):
        network_als(torch.randn(4, 7, 6, dtype=F64), network=net)
    with pytest.raises(DecompositionError, match="X has 2 modes but the network's output has 3"):
        network_als(torch.randn(4, 5, dtype=F64), network=net)
    hyper_out = Network(
        [Tensor("A", ("i", "r")), Tensor("B", ("j", "r")), Tensor("C", ("k", "r"))],
        {"i": 4, "j": 5, "k": 6, "r": 2},
        ["i", "j", "r"],
    )
    with pytest.raises(DecompositionError, match="output index 'r' is shared by tensors A, B, C"):
        network_als(torch.randn(4, 5, 2, dtype=F64), network=hyper_out)
    bad = X.clone()
    bad[1, 2, 3] = float("nan")
    with pytest.raises(DecompositionError, match="NaN or infinite"):
        network_als(bad, network=net)
    with pytest.raises(DecompositionError, match="real floating dtype"):
        network_als(torch.ones(4, 5, 6, dtype=torch.int64), network=net)
    with pytest.raises(DecompositionError, match="must be a tensorbench Network"):
        network_als(X, network=net.to_dict())  # type: ignore[arg-type]


def test_refuses_oversize_environments(monkeypatch: pytest.MonkeyPatch) -> None:
    net = templates.tucker((4, 5, 6), 3)
    X = torch.randn(4, 5, 6, dtype=F64)
    monkeypatch.setattr(nals_module, "MAX_UNKNOWNS", 20)
    with pytest.raises(DecompositionError, match=r"tensor 'G' has 27 unknowns per row"):
        network_als(X, network=net)
    monkeypatch.undo()
    from tensorbench.engine import device

    monkeypatch.setattr(device, "available_memory", lambda _device="cpu": 1000)
    with pytest.raises(ResourceError, match="network_als: .* lower the bond sizes"):
        network_als(X, network=net)


def test_init_cores_start_where_they_are_given_and_are_checked():
    net = templates.build("tensor_train", dims=[5, 6, 7], ranks=[2, 3])
    X = noisy(net, 0.01)
    cold = network_als(X, network=net, max_iter=200, tol=1e-10)
    # from the converged cores, one or two sweeps confirm the fit
    warm = network_als(X, network=net, init_cores=cold.cores, max_iter=200, tol=1e-10)
    assert check_result(warm, net, X) == pytest.approx(float(cold.rel_error), rel=1e-6)
    assert warm.info["sweeps"] <= 2 < cold.info["sweeps"] and warm.info["init"] == "given"
    with pytest.raises(DecompositionError, match="init_cores has 2 cores"):
        network_als(X, network=net, init_cores=cold.cores[:2])
    bad = [cold.cores[0], cold.cores[1].mT, cold.cores[2]]
    why = r"init_cores\[1\] has shape \(2, 3, 6\); tensor .G1. needs \(2, 6, 3\)"
    with pytest.raises(DecompositionError, match=why):
        network_als(X, network=net, init_cores=bad)


def test_sampled_run_worse_than_zeros_is_a_stall_with_a_warning() -> None:
    # 16 uniform samples for a ring's 27 unknowns per row: every evaluation is above an
    # error of 1, and the stagnation rule stopped it as "converged". It is a stall.
    net = templates.tensor_ring((8, 8, 8, 8, 8), 3)
    X = noisy(net, 0.01)
    dec = network_als(
        X, network=net, seed=0, sampled=True, samples=16, sampling="uniform", max_iter=200
    )
    assert min(r["rel_error"] for r in dec.history if r["exact"]) >= 1
    assert dec.info["stop"] == "stalled" and not dec.info["converged"]
    assert dec.info["sweeps"] < 200
    assert dec.info["warning"].startswith(
        f"stalled: after {dec.info['sweeps']} sweeps the relative error is "
    )
    assert "(now 16 per core), or sampled=False" in dec.info["warning"]
