"""Tucker core shapes: the integer program is optimal on the HOSVD surrogate (never worse
than greedy, bang-for-buck or the threshold rule), every solver respects the budget, and
the surrogate bounds the real HOSVD error."""

from __future__ import annotations

import itertools
import math
import random

import pytest
import torch

from tensorbench.engine.errors import TensorbenchError
from tensorbench.engine.search.tucker_shape import (
    SOLVERS,
    core_shape,
    evaluate_shape,
    mode_spectra,
    surrogate,
)


def random_spectra(rng: random.Random, modes: int, n: int) -> list[list[float]]:
    out = []
    for _ in range(modes):
        decay = rng.uniform(0.3, 0.95)
        s = [rng.uniform(0.5, 1.5) * decay**i for i in range(n)]
        out.append(sorted(s, reverse=True))
    return out


def brute_force(spectra, budget):
    best = None
    for shape in itertools.product(*[range(1, len(s) + 1) for s in spectra]):
        if math.prod(shape) <= budget:
            v = surrogate(spectra, shape)
            if best is None or v > best[0] + 1e-12:
                best = (v, shape)
    return best


def test_ip_is_optimal_and_never_worse_than_the_heuristics():
    rng = random.Random(0)
    for trial in range(40):
        modes = 3 if trial % 2 else 4
        spectra = random_spectra(rng, modes, 7)
        budget = rng.randint(1, 7**modes)
        values = {}
        for solver in SOLVERS:
            shape, info = core_shape(spectra, budget, solver)
            assert math.prod(shape) <= budget and info["core"] == math.prod(shape)
            assert all(1 <= r <= 7 for r in shape)
            values[solver] = info["surrogate"]
        for solver in SOLVERS:
            assert values["ip"] >= values[solver] - 1e-9 * values["ip"], (trial, values)
        assert values["ip"] == pytest.approx(brute_force(spectra, budget)[0], rel=1e-9)


def test_surrogate_bounds_the_hosvd_error_and_finds_a_planted_shape():
    g = torch.Generator().manual_seed(0)
    dims, true = (30, 40, 50), (3, 5, 8)
    core = torch.randn(true, generator=g, dtype=torch.float64)
    fs = [
        torch.linalg.qr(torch.randn(n, r, generator=g, dtype=torch.float64)).Q
        for n, r in zip(dims, true, strict=True)
    ]
    X = torch.einsum("abc,ia,jb,kc->ijk", core, *fs)
    X = X + 1e-3 * X.norm() / math.sqrt(X.numel()) * torch.randn(
        dims, generator=g, dtype=torch.float64
    )
    spectra = mode_spectra(X)
    total = float(X.norm() ** 2)
    for shape in [(1, 1, 1), (2, 4, 6), (3, 5, 8), (5, 5, 5)]:
        fit = evaluate_shape(X, shape)
        tail = sum(sum(s[r:]) for s, r in zip(spectra, shape, strict=True))
        assert fit["rse"] ** 2 * total <= tail * (1 + 1e-9)
    shape, _ = core_shape(spectra, math.prod(true), "ip")
    assert tuple(shape) == true
    assert evaluate_shape(X, shape)["rse"] < 2e-3


def test_bad_budget_or_solver_is_refused():
    with pytest.raises(TensorbenchError, match="at least 1"):
        core_shape([[1.0, 0.5]], 0)
    with pytest.raises(TensorbenchError, match="choose one of: ip"):
        core_shape([[1.0, 0.5]], 2, "annealing")


def test_search_task_in_tucker_mode():
    from tensorbench.engine import load_config, run

    cfg = load_config(
        {
            "task": {
                "kind": "search",
                "mode": "tucker",
                "data": {
                    "kind": "synthetic",
                    "template": "tucker",
                    "args": {"dims": [12, 14, 16], "ranks": [2, 3, 4]},
                    "noise": 0.01,
                },
                "tucker": {"budgets": [24, 60], "solvers": ["ip", "greedy"]},
            },
            "device": "cpu",
        }
    )
    res = run(cfg)
    rows = res.metrics["tucker"]
    assert [(r["budget"], r["solver"]) for r in rows] == [
        (24, "ip"),
        (24, "greedy"),
        (60, "ip"),
        (60, "greedy"),
    ]
    ip24 = rows[0]
    assert ip24["shape"] == [2, 3, 4] and ip24["rse"] < 0.02
    assert "budget 24 ip: shape (2, 3, 4)" in res.summary()
