"""Tucker core shapes under a core-size budget (Ghadiri, Fahrbach, Fu & Mirrokni 2023).

Choose ranks ``r = (r_1, ..., r_N)`` with ``prod(r) <= budget`` for a Tucker
decomposition of ``X``. Fitting every shape is out of the question, so the shape is chosen
on the HOSVD surrogate: with ``s_k`` the squared singular values of the mode-``k``
unfolding, a truncated HOSVD has ``||X - X_r||^2 <= sum_k sum_{i > r_k} s_k[i]``, so the
shape that keeps the most energy ``sum_k sum_{i <= r_k} s_k[i]`` minimizes that bound.
The budget is on the core, as in the paper; the factors add ``sum_k n_k r_k`` parameters,
reported next to it.

Solvers of that surrogate problem:

* ``ip``: exact, an integer program for :func:`scipy.optimize.milp` -- one binary per
  (mode, rank), one rank per mode, and ``sum_k log r_k <= log budget`` (the product
  constraint made linear by logarithms); it is never worse than the others on the
  surrogate (tested);
* ``greedy``: from all ranks 1, raise the rank whose next singular value is largest while
  the budget allows;
* ``bang_for_buck``: the same, by energy gained per core entry added;
* ``threshold``: the smallest ranks keeping a share ``1 - tau`` of each mode's energy,
  ``tau`` bisected to fit the budget (the usual rule of thumb, a baseline).

:func:`evaluate_shape` then fits a HOSVD of the chosen shape and reports its real error.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import TensorbenchError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["SOLVERS", "core_shape", "evaluate_shape", "mode_spectra", "surrogate"]

SOLVERS = ("ip", "greedy", "bang_for_buck", "threshold")


def mode_spectra(X: torch.Tensor) -> list[list[float]]:
    """Squared singular values of every unfolding of ``X``, largest first (float64)."""
    import torch

    out = []
    X = X.to(torch.float64)
    for k in range(X.ndim):
        others = [j for j in range(X.ndim) if j != k]
        gram = torch.tensordot(X, X, dims=(others, others))
        ev = torch.linalg.eigvalsh(gram).flip(0).clamp_min(0.0)
        out.append([float(v) for v in ev])
    return out


def surrogate(spectra: Sequence[Sequence[float]], shape: Sequence[int]) -> float:
    """Energy kept by ``shape``: ``sum_k sum_{i <= r_k} s_k[i]`` (higher is better)."""
    return sum(sum(s[:r]) for s, r in zip(spectra, shape, strict=True))


def _check(spectra: Sequence[Sequence[float]], budget: int) -> None:
    if budget < 1:
        raise TensorbenchError(f"the core budget must be at least 1, got {budget}")
    if not spectra:
        raise TensorbenchError("core_shape needs the spectra of at least one mode")


def _grow(spectra: Sequence[Sequence[float]], budget: int, per_entry: bool) -> list[int]:
    shape = [1] * len(spectra)
    size = 1
    while True:
        best, best_k = -1.0, -1
        for k, s in enumerate(spectra):
            r = shape[k]
            if r >= len(s) or size // r * (r + 1) > budget:
                continue
            gain = s[r]
            if per_entry:
                gain /= size // r  # entries added: the core grows by prod of the others
            if gain > best:
                best, best_k = gain, k
        if best_k < 0:
            return shape
        size = size // shape[best_k] * (shape[best_k] + 1)
        shape[best_k] += 1


def _threshold(spectra: Sequence[Sequence[float]], budget: int) -> list[int]:
    def ranks_for(tau: float) -> list[int]:
        out = []
        for s in spectra:
            total, kept, r = sum(s), 0.0, 0
            while r < len(s) and kept < (1 - tau) * total:
                kept += s[r]
                r += 1
            out.append(max(1, r))
        return out

    lo, hi = 0.0, 1.0  # tau = 1 keeps rank 1 everywhere: always feasible
    for _ in range(60):
        mid = (lo + hi) / 2
        if math.prod(ranks_for(mid)) <= budget:
            hi = mid
        else:
            lo = mid
    return ranks_for(hi)


def _ip(spectra: Sequence[Sequence[float]], budget: int) -> list[int]:
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp

    sizes = [len(s) for s in spectra]
    offsets = np.cumsum([0, *sizes])
    nvar = int(offsets[-1])
    gain = np.zeros(nvar)
    logr = np.zeros(nvar)
    one_per_mode = np.zeros((len(spectra), nvar))
    for k, s in enumerate(spectra):
        head = np.cumsum(s)
        for r in range(1, sizes[k] + 1):
            v = offsets[k] + r - 1
            gain[v] = head[r - 1]
            logr[v] = math.log(r)
            one_per_mode[k, v] = 1.0
    scale = max(float(gain.max()), 1e-300)
    res = milp(
        c=-gain / scale,  # maximize kept energy
        constraints=[
            LinearConstraint(one_per_mode, 1, 1),
            # a hair of slack: log(prod r) == log(budget) must stay feasible
            LinearConstraint(logr[None, :], -np.inf, math.log(budget) + 1e-9),
        ],
        integrality=np.ones(nvar),
        bounds=Bounds(0, 1),
    )
    if res.x is None:  # pragma: no cover - all-ones is always feasible
        raise TensorbenchError(f"the integer program found no core shape: {res.message}")
    shape = []
    for k in range(len(spectra)):
        block = res.x[offsets[k] : offsets[k + 1]]
        shape.append(int(np.argmax(block)) + 1)
    # Rounding of the solver's binaries can break the product by a hair: repair if so.
    while math.prod(shape) > budget:  # pragma: no cover - defensive
        k = max(range(len(shape)), key=lambda j: shape[j])
        shape[k] -= 1
    return shape


def core_shape(
    spectra: Sequence[Sequence[float]], budget: int, solver: str = "ip"
) -> tuple[list[int], dict[str, Any]]:
    """The core shape chosen by ``solver`` under ``prod(shape) <= budget``.

    Returns the shape and ``{"surrogate", "core", "seconds"}``.
    """
    _check(spectra, budget)
    t0 = time.perf_counter()
    if solver == "ip":
        shape = _ip(spectra, budget)
    elif solver == "greedy":
        shape = _grow(spectra, budget, per_entry=False)
    elif solver == "bang_for_buck":
        shape = _grow(spectra, budget, per_entry=True)
    elif solver == "threshold":
        shape = _threshold(spectra, budget)
    else:
        raise TensorbenchError(
            f"unknown core-shape solver {solver!r}; choose one of: {', '.join(SOLVERS)}"
        )
    return shape, {
        "surrogate": surrogate(spectra, shape),
        "core": math.prod(shape),
        "seconds": time.perf_counter() - t0,
    }


def evaluate_shape(X: torch.Tensor, shape: Sequence[int]) -> dict[str, Any]:
    """Fit a truncated HOSVD of ``shape``; its relative error and parameter counts."""
    from ..decompose.tucker import hosvd

    d = hosvd(X, ranks=list(shape))
    dims = list(X.shape)
    return {
        "shape": list(shape),
        "rse": float(d.rel_error),
        "core": math.prod(shape),
        "params": math.prod(shape) + sum(n * r for n, r in zip(dims, shape, strict=True)),
    }
