"""Shared pieces of every decomposition method: the result type, errors, the iteration
callback contract and the method registry.

A method is a function ``(X, *, seed, callback, **params) -> Decomposition`` registered
with its typed parameters (:class:`~tensorbench.engine.params.Param`), so the ``decompose``
task, the CLI, exported scripts and the Decompose page all offer the same options.

Contract every method follows:

* works on the input's device and dtype (torch), seeded by ``seed`` alone (same seed, same
  numbers);
* calls ``callback(record)`` after every iteration (or pass) with at least
  ``{"iter": k, "rel_error": float, "elapsed": seconds}``; the callback may raise
  :class:`~tensorbench.engine.run.Cancelled` to stop, which the method lets through;
* returns a :class:`Decomposition` whose ``network`` has the data's modes as its output
  indices, in order, and whose ``cores`` follow the network's tensors and their index order;
* estimates memory before allocating anything large and raises
  :class:`~tensorbench.engine.errors.ResourceError` with a clear message instead of dying.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import TensorbenchError
from ..params import Param

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..network import Network

__all__ = [
    "METHODS",
    "Callback",
    "Decomposition",
    "DecompositionError",
    "IterationClock",
    "MethodSpec",
    "get_method",
    "register_method",
    "relative_error",
]

Callback = Callable[[dict[str, Any]], None]


class DecompositionError(TensorbenchError):
    """A decomposition cannot run on this input with these settings (the message says why)."""


@dataclass
class Decomposition:
    """The result of a decomposition: a network structure, its cores and the run's history.

    Parameters
    ----------
    method : str
        Registered method name.
    network : Network
        Structure; its output indices are the data's modes in order.
    cores : list of torch.Tensor
        One per tensor of ``network``, axes in that tensor's index order.
    history : list of dict
        One record per iteration (``iter``, ``rel_error``, ``elapsed`` and extras).
    info : dict
        Method-specific facts (sketch sizes, convergence flag, ...), JSON-able. A
        ``warning`` (str) says the result should not be trusted as it stands and why;
        the summary, the CLI and the Decompose page show it.
    """

    method: str
    network: Network
    cores: list[torch.Tensor]
    history: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_params(self) -> int:
        """Entries over all cores."""
        return self.network.num_params

    @property
    def compression(self) -> float:
        """Entries of the data over entries of the cores."""
        return self.network.compression

    @property
    def rel_error(self) -> float | None:
        """The last recorded relative error (None if the method recorded none)."""
        return self.history[-1]["rel_error"] if self.history else None

    def reconstruct(self) -> torch.Tensor:
        """The dense tensor the cores represent (axes in data-mode order)."""
        from ..contract import contract

        return contract(self.network, self.cores, optimize="auto")


#: Entries per slice when :func:`relative_error` walks the first mode.
_ERROR_SLICE = 1 << 22


def relative_error(X: torch.Tensor, X_hat: torch.Tensor) -> float:
    """``||X - X_hat|| / ||X||`` (Frobenius), accumulated in float64.

    Computed over slices of the first mode, so the difference (and a float32 tensor's
    float64 copy) is never formed whole: at the largest sizes the task measures, it was
    a third full-size array beside ``X`` and ``X_hat``.
    """
    import torch

    if X.shape != X_hat.shape:
        raise ValueError(f"relative_error: shapes {tuple(X.shape)} and {tuple(X_hat.shape)} differ")
    if X.ndim == 0:
        X, X_hat = X.reshape(1), X_hat.reshape(1)
    step = max(1, _ERROR_SLICE // max(1, X[0].numel()))
    num_sq = den_sq = 0.0
    for i in range(0, X.shape[0], step):
        x = X[i : i + step].to(torch.float64)
        num_sq += float(torch.linalg.vector_norm(x - X_hat[i : i + step].to(torch.float64)) ** 2)
        den_sq += float(torch.linalg.vector_norm(x) ** 2)
    num, den = math.sqrt(num_sq), math.sqrt(den_sq)
    return num / den if den > 0 else num


class IterationClock:
    """Records per-iteration metrics, times them, and forwards them to the callback."""

    def __init__(self, callback: Callback | None) -> None:
        self._callback = callback
        self._t0 = time.perf_counter()
        self.history: list[dict[str, Any]] = []

    def record(self, **metrics: Any) -> dict[str, Any]:
        """Append ``{"iter", "rel_error", ..., "elapsed"}`` and call the callback with it."""
        rec = {**metrics, "elapsed": time.perf_counter() - self._t0}
        self.history.append(rec)
        if self._callback is not None:
            self._callback(rec)
        return rec


@dataclass(frozen=True)
class MethodSpec:
    """A registered decomposition method."""

    name: str
    family: str  # "cp", "tucker", "tt", "tr", "network"
    func: Callable[..., Decomposition]
    params: tuple[Param, ...]
    doc: str
    sketched: bool = False
    exact_counterpart: str | None = None  # for sampled methods: the exact one to compare to


METHODS: dict[str, MethodSpec] = {}


def register_method(
    name: str,
    family: str,
    *params: Param,
    doc: str,
    sketched: bool = False,
    exact_counterpart: str | None = None,
) -> Callable[[Callable[..., Decomposition]], Callable[..., Decomposition]]:
    """Register a method next to its code (used as a decorator)."""

    def deco(func: Callable[..., Decomposition]) -> Callable[..., Decomposition]:
        METHODS[name] = MethodSpec(
            name, family, func, tuple(params), doc, sketched, exact_counterpart
        )
        return func

    return deco


_FAMILY_MODULES = ("cp", "tucker", "tt", "tr", "network_als")


def _load_builtins() -> None:
    import importlib

    for mod in _FAMILY_MODULES:
        try:
            importlib.import_module(f"tensorbench.engine.decompose.{mod}")
        except ModuleNotFoundError as e:  # a family not written yet
            if e.name != f"tensorbench.engine.decompose.{mod}":
                raise


def get_method(name: str) -> MethodSpec:
    """The spec of method ``name``; an unknown name lists the valid ones."""
    _load_builtins()
    if name not in METHODS:
        raise DecompositionError(
            f"unknown decomposition method {name!r}; choose one of: {', '.join(sorted(METHODS))}"
        )
    return METHODS[name]


def check_ranks(ranks: int | Sequence[int], n: int, what: str) -> list[int]:
    """Broadcast one rank to ``n`` values or check a list has ``n`` positive values."""
    if isinstance(ranks, int):
        ranks = [ranks] * n
    ranks = list(ranks)
    if len(ranks) != n or any((not isinstance(r, int)) or r < 1 for r in ranks):
        raise DecompositionError(f"{what}: expected {n} positive integers, got {ranks}")
    return ranks


def dense_bytes(shape: Sequence[int], itemsize: int) -> int:
    """Bytes of a dense array of ``shape``."""
    return math.prod(shape) * itemsize


def all_finite(X: torch.Tensor) -> bool:
    """Whether every entry of ``X`` is finite, usually at the cost of one norm.

    A NaN or an infinity makes the norm non-finite, so a finite norm settles it in one
    fused reduction (~25x cheaper than an elementwise check on a large tensor); only a norm
    that overflows with finite entries needs the full elementwise check.
    """
    import torch

    if bool(torch.isfinite(torch.linalg.vector_norm(X))):
        return True
    return bool(torch.isfinite(X).all())


def no_fit(best: float) -> bool:
    """Whether a sampled run's best exact relative error is no better than all zeros.

    An exact ALS update never ends above an error of 1 (zero is one of its candidates);
    a sampled one can, by its sampling excess: with too few samples for its start, or
    where X has almost no structure at the ranks asked (Gaussian noise at rank 2 fits to
    0.999 exactly, and a sampled iterate can land just above 1). Such a run stopped by
    stagnation has not converged to a fit, and must not say so.
    """
    return best >= 1.0


def stall_warning(sweeps: int, best: float, advice: str) -> str:
    """The ``info["warning"]`` of a sampled run that ended with :func:`no_fit`."""
    return (
        f"stalled: after {sweeps} sweeps the relative error is {best:.6g}, no better than "
        "all zeros (too few samples for this start, or X has little structure at these "
        f"ranks); {advice}"
    )
