"""Fitting candidates: seeded ALS restarts, a cache by structure, pruning, budgets, workers.

Every strategy proposes :class:`~tensorbench.engine.search.objective.Structure` objects and
hands them to one :class:`Evaluator`, which

* returns the cached evaluation of a structure it has seen (same network = same key, so
  a permuted copy of a seen candidate is not refitted either);
* skips a candidate whose parameter count alone cannot beat the incumbent (its score
  with a perfect fit is not lower) -- it is reported as ``pruned`` and costs no budget;
* fits the rest with :func:`~tensorbench.engine.decompose.network_als.network_als`
  (``restarts`` seeded starts, the best error kept; sampled least squares when the data
  is large), in worker processes when ``workers > 1``;
* counts fits against ``max_evals`` and wall time against ``max_seconds`` and stops the
  strategy (:class:`BudgetSpent`) when either is spent, or on cancel.

Fit seeds derive from the search seed and the structure's key, so a structure gets the
same error whichever strategy proposes it, in whatever order, on however many workers.
"""

from __future__ import annotations

import math
import os
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import TensorbenchError
from .objective import Objective, SearchSpace, Structure

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

__all__ = ["BudgetSpent", "Evaluation", "Evaluator", "FitOptions", "fit_structure"]

#: Data with more entries than this is fitted with sampled least squares.
SAMPLED_ABOVE = 2**20


class BudgetSpent(Exception):  # noqa: N818 - a stop signal, not an error
    """The evaluation or time budget is spent: the strategy stops with what it has."""


@dataclass(frozen=True)
class FitOptions:
    """How one candidate is fitted.

    Parameters
    ----------
    restarts : int
        Seeded random starts; the lowest error counts (ALS on loops has local minima).
    max_iter : int
        Most ALS sweeps per start. ALS on a ring with more rank than the data needs
        creeps: on an order-4 ring of true ranks (2, 3, 2, 3), ranks (3, 3, 2, 3) reached
        RSE 0.029 after 100 sweeps and 4e-7 after 172-217, and a search that believes the
        first number walks away from the truth; hence 300.
    tol : float
        ALS stagnation tolerance (relative decrease of the error per sweep).
    """

    restarts: int = 2
    max_iter: int = 300
    tol: float = 1e-8


@dataclass
class Evaluation:
    """One candidate's outcome.

    ``rse`` is ``None`` for a pruned candidate (not fitted); ``score`` is then its lower
    bound. ``index`` counts fits in order (0 for pruned and cached ones).
    """

    structure: Structure
    params: int
    rse: float | None
    score: float
    seconds: float = 0.0
    index: int = 0
    pruned: bool = False
    cached: bool = False
    strategy: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (one record per evaluation)."""
        return {
            "structure": self.structure.to_dict(),
            "key": list(self.structure.key()),
            "edges": self.structure.describe(),
            "params": self.params,
            "rse": self.rse,
            "score": self.score,
            "seconds": self.seconds,
            "index": self.index,
            "pruned": self.pruned,
            "cached": self.cached,
        }


def _fit_seed(seed: int, key: tuple[int, ...]) -> int:
    return (int(seed) * 1_000_003 + zlib.crc32(repr(key).encode())) % 2**31


def fit_structure(
    X: torch.Tensor, structure: Structure, options: FitOptions, seed: int
) -> tuple[float, dict[str, Any]]:
    """Fit ``structure`` to ``X``; return the best relative error over the restarts and
    facts about the fit (sweeps per start, whether sampled)."""
    from ..decompose.network_als import network_als

    net = structure.network(list(X.shape))
    sampled = X.numel() > SAMPLED_ABOVE
    base = _fit_seed(seed, structure.key())
    best, sweeps = math.inf, []
    for r in range(options.restarts):
        d = network_als(
            X,
            network=net,
            seed=base + r,
            max_iter=options.max_iter,
            tol=options.tol,
            sampled=sampled,
        )
        sweeps.append(int(d.info.get("sweeps", len(d.history))))
        err = float(d.rel_error)
        if math.isfinite(err):
            best = min(best, err)
    return best, {"sweeps": sweeps, "sampled": sampled}


# Worker processes hold the data once (set by the pool's initializer) and fit by key.
_WORKER: dict[str, Any] = {}


def _worker_init(data: np.ndarray, options: FitOptions) -> None:
    import torch

    torch.set_num_threads(1)  # one process per core: no oversubscription
    _WORKER["X"] = torch.from_numpy(data)
    _WORKER["options"] = options


def _worker_fit(structure: Structure, seed: int) -> tuple[float, dict[str, Any], float]:
    t0 = time.perf_counter()
    rse, info = fit_structure(_WORKER["X"], structure, _WORKER["options"], seed)
    return rse, info, time.perf_counter() - t0


class Evaluator:
    """Evaluates candidates for one strategy run (see the module docstring).

    Parameters
    ----------
    X : torch.Tensor
        The data (float, order ``N``).
    space : SearchSpace
        Candidates' space (its ``dims`` are ``X``'s shape).
    objective : Objective
        What is minimized.
    options : FitOptions
        How each candidate is fitted.
    seed : int
        Search seed (fit seeds derive from it and the structure).
    max_evals : int
        Most fits (cached and pruned candidates are free).
    max_seconds : float
        Most wall time, checked before each fit.
    workers : int
        Fit in this many worker processes (1: in this process).
    on_eval : callable, optional
        Called with every :class:`Evaluation` (fits, cache hits and pruned ones).
    cancelled : callable, optional
        Returns True when the user asked to stop; checked before each fit.
    strategy : str
        Name stamped on the evaluations.
    """

    def __init__(
        self,
        X: torch.Tensor,
        space: SearchSpace,
        objective: Objective,
        options: FitOptions | None = None,
        *,
        seed: int = 0,
        max_evals: int = 300,
        max_seconds: float = 600.0,
        workers: int = 1,
        on_eval: Callable[[Evaluation], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        strategy: str = "",
    ) -> None:
        if tuple(X.shape) != tuple(space.dims):
            raise TensorbenchError(f"data shape {tuple(X.shape)} differs from {space.dims}")
        self.X = X
        self.space = space
        self.objective = objective
        self.options = options or FitOptions()
        self.seed = seed
        self.max_evals = max_evals
        self.max_seconds = max_seconds
        self.workers = max(1, int(workers))
        self.on_eval = on_eval
        self.cancelled = cancelled
        self.strategy = strategy
        self.cache: dict[tuple[int, ...], Evaluation] = {}
        self.fits = 0
        self.pruned = 0
        self.hits = 0
        self.best: Evaluation | None = None
        self.history: list[Evaluation] = []
        self.started = time.perf_counter()
        self._pool: Executor | None = None

    # ------------------------------------------------------------------ budget

    @property
    def elapsed(self) -> float:
        """Seconds since the evaluator was made."""
        return time.perf_counter() - self.started

    @property
    def spent(self) -> bool:
        """Whether no further fit is allowed."""
        return self.fits >= self.max_evals or self.elapsed >= self.max_seconds

    def _check(self) -> None:
        if self.cancelled is not None and self.cancelled():
            from ..run import Cancelled

            raise Cancelled(None)
        if self.spent:
            raise BudgetSpent

    # ------------------------------------------------------------------ evaluate

    def evaluate(self, structure: Structure) -> Evaluation:
        """Evaluate one candidate."""
        return self.evaluate_many([structure])[0]

    def evaluate_many(self, structures: Sequence[Structure]) -> list[Evaluation]:
        """Evaluate candidates (fitted in parallel when there are workers); raises
        :class:`BudgetSpent` once the budget is spent, after recording what was fitted."""
        out: list[Evaluation | None] = [None] * len(structures)
        todo: list[tuple[int, Structure]] = []
        queued: set[tuple[int, ...]] = set()
        for i, s in enumerate(structures):
            key = s.key()
            if key in self.cache:
                self.hits += 1
                hit = self.cache[key]
                ev = Evaluation(**{**hit.__dict__, "structure": s, "cached": True})
                out[i] = ev
                self._emit(ev, record=False)
                continue
            params = s.params(self.space.dims)
            bound = self.objective.lower_bound(params, self.space.entries)
            if self.best is not None and bound >= self.best.score:
                ev = Evaluation(s, params, None, bound, pruned=True, strategy=self.strategy)
                self.cache[key] = ev
                self.pruned += 1
                out[i] = ev
                self._emit(ev)
                continue
            if key not in queued:
                queued.add(key)
                todo.append((i, s))
        stop = False
        # Fit in batches no larger than the remaining budget (and the worker count).
        while todo:
            try:
                self._check()
            except BudgetSpent:
                stop = True
                break
            room = self.max_evals - self.fits
            batch, todo = todo[: min(room, self.workers)], todo[min(room, self.workers) :]
            for (i, s), (rse, info, secs) in zip(batch, self._fit(batch), strict=True):
                self.fits += 1
                params = s.params(self.space.dims)
                score = self.objective.score(params, rse, self.space.entries)
                ev = Evaluation(
                    s, params, rse, score, secs, self.fits, strategy=self.strategy, info=info
                )
                self.cache[s.key()] = ev
                out[i] = ev
                if self.best is None or score < self.best.score:
                    self.best = ev
                self._emit(ev)
        # Duplicates within the call (same key twice) take the first one's evaluation.
        for i, s in enumerate(structures):
            if out[i] is None and s.key() in self.cache:
                out[i] = self.cache[s.key()]
        if stop or any(e is None for e in out):
            raise BudgetSpent
        return out  # type: ignore[return-value]

    def _fit(self, batch: list[tuple[int, Structure]]) -> list[tuple[float, dict, float]]:
        # With workers, every fit runs in a worker (one torch thread each), single ones
        # too: the same candidate then gives the same bits whichever way it was proposed.
        if self.workers == 1:
            res = []
            for _, s in batch:
                t0 = time.perf_counter()
                rse, info = fit_structure(self.X, s, self.options, self.seed)
                res.append((rse, info, time.perf_counter() - t0))
            return res
        pool = self._get_pool()
        futures = [pool.submit(_worker_fit, s, self.seed) for _, s in batch]
        return [f.result() for f in futures]

    def _get_pool(self) -> Executor:
        if self._pool is None:
            import multiprocessing

            # spawn: a forked child of a process with torch threads running can deadlock
            ctx = multiprocessing.get_context("spawn")
            data = self.X.detach().cpu().numpy()
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=ctx,
                initializer=_worker_init,
                initargs=(data, self.options),
            )
        return self._pool

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _emit(self, ev: Evaluation, record: bool = True) -> None:
        if record:
            self.history.append(ev)
        if self.on_eval is not None:
            self.on_eval(ev)


def default_workers() -> int:
    """One worker per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)
