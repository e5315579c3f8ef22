"""Fitting candidates: seeded ALS restarts, a cache by structure, pruning, budgets, workers.

Every strategy proposes :class:`~tensorbench.engine.search.objective.Structure` objects and
hands them to one :class:`Evaluator`, which

* returns the cached evaluation of a structure it has seen (same network = same key, so
  a permuted copy of a seen candidate is not refitted either);
* skips a candidate whose parameter count alone cannot beat the incumbent (its score
  with a perfect fit is not lower) -- it is reported as ``pruned`` and costs no budget;
  so is one with a core too large to fit (``FitOptions.max_unknowns``) or with more
  unknowns than equations (:meth:`Structure.underdetermined`), as infeasible;
* fits the rest with :func:`~tensorbench.engine.decompose.network_als.network_als`
  (``restarts`` seeded starts, the best error kept; sampled least squares when the data
  is large), in worker processes when ``workers > 1``;
* counts fits against ``max_evals`` and wall time against ``max_seconds`` and stops the
  strategy (:class:`BudgetSpent`) when either is spent, or on cancel; a fit still running
  when the time is up is abandoned after its current sweep.

Fit seeds derive from the search seed and the structure's key, so a structure gets the
same error whichever strategy proposes it, in whatever order, on however many workers.

One exception, asked for explicitly: a strategy may fit a candidate that grows from a
fitted one (every rank at least as large) *warm*, from that parent's cores
(``keep_cores`` and ``evaluate_many(..., warm_from=parent)``; greedy's ``warm_start``).
A warm fit is as deterministic as a normal one (its new slices are seeded by the
structure's key), but its error is that of one ALS run from the parent's optimum, so it
can differ from the normal fit's and depends on the parent; when the warm run does not
converge the normal fit is run too and the lower error kept (``warm_check``: always).
The evaluation says so (``info["warm"]``); the cache keeps a structure's first
evaluation either way and never refits it.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from ..errors import TensorbenchError
from .objective import INFEASIBLE, Objective, SearchSpace, Structure

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

__all__ = [
    "BudgetSpent",
    "Evaluation",
    "Evaluator",
    "FitOptions",
    "PastDeadline",
    "embed_cores",
    "fit_structure",
    "grows_from",
    "warm_fit",
]

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
    max_unknowns : int
        A candidate with a core of more unknowns per row than this (the product of its
        bond ranks; see :meth:`Structure.unknowns`) is not fitted but reported as
        infeasible (``info["refused"]``, no fit counted): its Gram matrix is this size
        squared and every sweep solves it. The default is ALS's own limit
        (:data:`~tensorbench.engine.decompose.network_als.MAX_UNKNOWNS`).
    """

    restarts: int = 2
    max_iter: int = 300
    tol: float = 1e-8
    max_unknowns: int = 8192


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


class PastDeadline(Exception):  # noqa: N818 - a stop signal, not an error
    """A fit was abandoned: past the evaluator's time budget, or the user cancelled."""


def _deadline_check(
    deadline: float | None, stop: Callable[[], bool] | None = None
) -> Callable[[dict], None] | None:
    """An ALS sweep callback that abandons the fit past ``deadline`` or once ``stop()``."""
    if deadline is None and stop is None:
        return None

    def check(_record: dict) -> None:
        if (deadline is not None and time.time() > deadline) or (stop is not None and stop()):
            raise PastDeadline

    return check


def fit_structure(
    X: torch.Tensor,
    structure: Structure,
    options: FitOptions,
    seed: int,
    *,
    keep_cores: bool = False,
    deadline: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> tuple[float, dict[str, Any]]:
    """Fit ``structure`` to ``X``; return the best relative error over the restarts and
    facts about the fit (sweeps per start, whether sampled; with ``keep_cores`` also the
    best start's cores under ``"cores"``). Past ``deadline`` (a :func:`time.time`) the
    fit stops after the sweep it is in (:class:`PastDeadline`); so it does once ``stop()``
    is true (a cancel)."""
    from ..decompose.network_als import network_als

    net = structure.network(list(X.shape))
    sampled = _is_sampled(X)
    base = _fit_seed(seed, structure.key())
    best, sweeps, cores = math.inf, [], None
    check = _deadline_check(deadline, stop)
    for r in range(options.restarts):
        d = network_als(
            X,
            network=net,
            seed=base + r,
            max_iter=options.max_iter,
            tol=options.tol,
            sampled=sampled,
            callback=check,
        )
        sweeps.append(int(d.info.get("sweeps", len(d.history))))
        err = float(d.rel_error)
        if math.isfinite(err) and err < best:
            best, cores = err, d.cores
    info: dict[str, Any] = {"sweeps": sweeps, "sampled": sampled}
    if keep_cores:
        info["cores"] = cores
    return best, info


def _is_sampled(X: torch.Tensor) -> bool:
    """Whether data this large is fitted with sampled least squares (no warm starts)."""
    return X.numel() > SAMPLED_ABOVE


def grows_from(parent: Structure, child: Structure) -> bool:
    """Whether ``child`` has at least ``parent``'s rank between every two data modes (and
    differs from it): ``parent``'s cores then embed in ``child``'s."""
    pm, cm = parent.mode_matrix(), child.mode_matrix()
    n = child.order
    if parent.order != n:
        return False
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    return all(cm[a][b] >= pm[a][b] for a, b in pairs) and any(
        cm[a][b] > pm[a][b] for a, b in pairs
    )


def embed_cores(
    parent: Structure,
    parent_cores: Sequence[torch.Tensor],
    child: Structure,
    dims: Sequence[int],
    seed: int,
    scale: float = 1e-2,
) -> list[torch.Tensor]:
    """Initial cores of ``child`` (which :func:`grows_from` ``parent``): each core holds its
    data mode's parent core in the leading slices of every bond and seeded Gaussian noise,
    ``scale`` times the parent core's RMS entry, in the new slices -- the network then
    reconstructs almost what the parent did, and ALS starts from there."""
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    n = child.order
    at = {parent.perm[j]: j for j in range(n)}  # data mode -> parent core position
    pnet, cnet = parent.network(dims), child.network(dims)
    out = []
    for k, t in enumerate(cnet.tensors):
        j = at[child.perm[k]]
        P = parent_cores[j]
        pnames = pnet.tensors[j].indices
        # where each child index of core k sits on parent core j (None: a new bond)
        axes: list[int | None] = []
        for ix in t.indices:
            if ix.startswith("i"):
                axes.append(pnames.index(ix))
                continue
            a, b = (int(x) for x in ix[1:].split("_"))
            other = at[child.perm[b if a == k else a]]
            name = f"r{min(j, other)}_{max(j, other)}"
            axes.append(pnames.index(name) if name in pnames else None)
        kept = [x for x in axes if x is not None]
        block = P.permute(kept).reshape([P.shape[x] if x is not None else 1 for x in axes])
        shape = [cnet.sizes[ix] for ix in t.indices]
        rms = float(P.double().pow(2).mean().sqrt()) if P.numel() else 1.0
        C = torch.randn(shape, generator=gen, dtype=torch.float64) * (scale * (rms or 1.0))
        C = C.to(dtype=P.dtype, device=P.device)
        C[tuple(slice(0, d) for d in block.shape)] = block
        out.append(C)
    return out


def warm_fit(
    X: torch.Tensor,
    structure: Structure,
    parent: Structure,
    parent_cores: Sequence[torch.Tensor],
    options: FitOptions,
    seed: int,
    *,
    keep_cores: bool = False,
    deadline: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> tuple[float, dict[str, Any]]:
    """Fit ``structure`` by ALS from ``parent``'s fitted cores (:func:`embed_cores`): one
    start, exact sweeps until the error stagnates (``options.tol``) or ``max_iter``.

    The greedy heuristic of fitting only the new slices: the parent's slices start where
    its fit ended, so the sweeps mostly place the new ones. The start reconstructs the
    parent's fit up to the small new slices, so the error ends near or below the parent's.
    Returns what :func:`fit_structure` returns (``info["warm"]`` is True)."""
    from ..decompose.network_als import network_als

    if _is_sampled(X):  # warm starts are for exact sweeps
        return fit_structure(
            X, structure, options, seed, keep_cores=keep_cores, deadline=deadline, stop=stop
        )
    dims = list(X.shape)
    fit_seed = _fit_seed(seed, structure.key())
    d = network_als(
        X,
        network=structure.network(dims),
        init_cores=embed_cores(parent, parent_cores, structure, dims, fit_seed + 7919),
        max_iter=options.max_iter,
        tol=options.tol,
        callback=_deadline_check(deadline, stop),
    )
    rel, cores = float(d.rel_error), d.cores
    info: dict[str, Any] = {
        "sweeps": [int(d.info["sweeps"])],
        "sampled": False,
        "warm": True,
        "converged": bool(d.info["converged"]),
    }
    if keep_cores:
        info["cores"] = cores if math.isfinite(rel) else None
    return (rel if math.isfinite(rel) else math.inf), info


# Worker processes hold the data once (set by the pool's initializer) and fit by key.
_WORKER: dict[str, Any] = {}


def _worker_init(data: np.ndarray, options: FitOptions, stop: Any = None) -> None:
    import torch

    from ..worker import exit_when_orphaned

    # a killed search (its run's worker SIGKILLed, the server stopped) skips close():
    # its fitting processes would run on for good
    exit_when_orphaned()
    torch.set_num_threads(1)  # one process per core: no oversubscription
    _WORKER["X"] = torch.from_numpy(data)
    _WORKER["options"] = options
    _WORKER["stop"] = stop  # a multiprocessing Event the parent sets on cancel


#: A warm start: the parent structure, its fitted cores, and whether to also run the
#: normal seeded fit and keep the better of the two.
Warm = tuple[Structure, Sequence["torch.Tensor"], bool]


def _one_fit(
    X: torch.Tensor,
    structure: Structure,
    options: FitOptions,
    seed: int,
    warm: Warm | None,
    keep_cores: bool,
    deadline: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> tuple[float, dict[str, Any], float]:
    """One candidate's fit (cold, warm, or both keeping the better), timed."""
    t0 = time.perf_counter()
    kw: dict[str, Any] = {"keep_cores": keep_cores, "deadline": deadline, "stop": stop}
    if warm is None:
        rse, info = fit_structure(X, structure, options, seed, **kw)
        return rse, info, time.perf_counter() - t0
    parent, parent_cores, also_cold = warm
    rse, info = warm_fit(X, structure, parent, parent_cores, options, seed, **kw)
    # a warm start that has not converged in max_iter sweeps is creeping (it started in
    # a poor basin: the parent's): the normal fit decides too
    if also_cold or not info.get("converged", True):
        cold, cinfo = fit_structure(X, structure, options, seed, **kw)
        info = {**info, "warm_rse": rse, "cold_rse": cold, "cold_sweeps": cinfo["sweeps"]}
        if cold < rse:
            rse, info["warm"] = cold, False
            if keep_cores:
                info["cores"] = cinfo.get("cores")
    return rse, info, time.perf_counter() - t0


def _worker_fit(
    structure: Structure,
    seed: int,
    warm: Warm | None = None,
    keep_cores: bool = False,
    deadline: float | None = None,
) -> tuple[float, dict[str, Any], float]:
    event = _WORKER.get("stop")
    stop = event.is_set if event is not None else None
    return _one_fit(
        _WORKER["X"], structure, _WORKER["options"], seed, warm, keep_cores, deadline, stop
    )


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
        Most wall time, checked before each fit and after every ALS sweep (a fit still
        running then is abandoned, uncounted). A cancel is checked at the same points, so
        it takes effect within one sweep, in worker processes too.
    workers : int
        Fit in this many worker processes (1: in this process).
    on_eval : callable, optional
        Called with every :class:`Evaluation` (fits, cache hits and pruned ones).
    cancelled : callable, optional
        Returns True when the user asked to stop; checked before each fit.
    strategy : str
        Name stamped on the evaluations.
    keep_cores : bool
        Keep the fitted cores of the latest batch and of the best candidate, so that
        :meth:`evaluate_many` can warm-start candidates from them (``warm_from``).
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
        keep_cores: bool = False,
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
        self.deadline = time.time() + max_seconds  # for fits (also in worker processes)
        self.refused = 0
        self._pool: Executor | None = None
        self._stop_event: Any = None  # set on cancel; the worker processes watch it
        self.keep_cores = keep_cores
        # fitted cores by key: the latest batch's and the best candidate's (keep_cores)
        self._cores: dict[tuple[int, ...], list[torch.Tensor]] = {}

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

    def evaluate_many(
        self,
        structures: Sequence[Structure],
        warm_from: Structure | None = None,
        warm_check: bool = False,
    ) -> list[Evaluation]:
        """Evaluate candidates (fitted in parallel when there are workers); raises
        :class:`BudgetSpent` once the budget is spent, after recording what was fitted.

        ``warm_from``: a fitted structure whose cores this evaluator kept
        (``keep_cores``); every new candidate that :func:`grows_from` it is fitted by
        :func:`warm_fit` from those cores instead of the seeded restarts (``warm_check``:
        by both, the lower error kept). The others, and all when the cores are not kept,
        get the normal fit. A warm fit is one ALS run from the parent's optimum: its
        error can differ from the normal fit's (usually lower for a grown candidate, as
        it starts from the parent's fit rather than from random cores), and it depends on
        which parent proposed it. The cache keeps the first evaluation of a structure."""
        out: list[Evaluation | None] = [None] * len(structures)
        todo: list[tuple[int, Structure]] = []
        sized: dict[int, tuple[int, float]] = {}  # candidate -> (params, score bound)
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
            sized[i] = params, bound
            under = s.underdetermined(self.space.dims)
            if under is not None:
                k, u, rows = under
                out[i] = self._refuse(
                    s,
                    params,
                    bound,
                    f"core {k} has {u} unknowns per row but only {rows} equations: it "
                    "would hold more numbers than the data",
                )
                continue
            if (u := s.unknowns()) > self.options.max_unknowns:
                out[i] = self._refuse(
                    s,
                    params,
                    bound,
                    f"a core has {u} unknowns per row, above max_unknowns "
                    f"{self.options.max_unknowns}",
                )
                continue
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
            fitted = self._fit(batch, warm_from, warm_check)
            for (i, s), res in zip(batch, fitted, strict=True):
                if res is None:  # abandoned at the deadline
                    stop = True
                    continue
                params, bound = sized[i]
                if isinstance(res, TensorbenchError):  # ALS refused it (memory, size)
                    out[i] = self._refuse(s, params, bound, str(res))
                    continue
                rse, info, secs = res
                self.fits += 1
                cores = info.pop("cores", None)
                if self.keep_cores and cores is not None:
                    self._cores[s.key()] = cores
                score = self.objective.score(params, rse, self.space.entries)
                ev = Evaluation(
                    s, params, rse, score, secs, self.fits, strategy=self.strategy, info=info
                )
                self.cache[s.key()] = ev
                out[i] = ev
                if self.best is None or score < self.best.score:
                    self.best = ev
                self._emit(ev)
            if stop:
                break
        if self.keep_cores:  # the latest batch's cores and the best's
            keep = {s.key() for s in structures}
            if self.best is not None:
                keep.add(self.best.structure.key())
            if warm_from is not None:
                keep.add(warm_from.key())
            self._cores = {k: v for k, v in self._cores.items() if k in keep}
        # Duplicates within the call (same key twice) take the first one's evaluation.
        for i, s in enumerate(structures):
            if out[i] is None and s.key() in self.cache:
                out[i] = self.cache[s.key()]
        if stop or any(e is None for e in out):
            self._check()  # a fit abandoned on cancel raises Cancelled here
            raise BudgetSpent
        return out  # type: ignore[return-value]

    def _refuse(self, s: Structure, params: int, bound: float, why: str) -> Evaluation:
        """Record ``s`` (``params`` parameters, score at least ``bound``) as infeasible
        without a fit (too large to fit here)."""
        ev = Evaluation(
            s,
            params,
            None,
            INFEASIBLE + bound,
            pruned=True,
            strategy=self.strategy,
            info={"refused": why},
        )
        self.cache[s.key()] = ev
        self.refused += 1
        self._emit(ev)
        return ev

    def kept_cores(self, structure: Structure) -> list[torch.Tensor] | None:
        """The fitted cores kept for ``structure`` (``keep_cores``), or None."""
        return self._cores.get(structure.key())

    def _warm(self, s: Structure, warm_from: Structure | None, check: bool) -> Warm | None:
        if warm_from is None:
            return None
        cores = self._cores.get(warm_from.key())
        if cores is None or _is_sampled(self.X) or not grows_from(warm_from, s):
            return None
        return (warm_from, cores, check)

    def _fit(
        self,
        batch: list[tuple[int, Structure]],
        warm_from: Structure | None = None,
        warm_check: bool = False,
    ) -> list[tuple[float, dict, float] | TensorbenchError | None]:
        """Fit a batch; None for a fit abandoned at the deadline, the error for a
        candidate ALS refuses (too large for memory)."""
        # With workers, every fit runs in a worker (one torch thread each), single ones
        # too: the same candidate then gives the same bits whichever way it was proposed.
        warms = [self._warm(s, warm_from, warm_check) for _, s in batch]
        calls: list[Callable[[], tuple[float, dict, float]]]
        if self.workers == 1:
            kw = {"keep_cores": self.keep_cores, "deadline": self.deadline}
            calls = [
                partial(_one_fit, self.X, s, self.options, self.seed, w, stop=self.cancelled, **kw)
                for (_, s), w in zip(batch, warms, strict=True)
            ]
        else:
            pool = self._get_pool()
            futures = [
                pool.submit(_worker_fit, s, self.seed, w, self.keep_cores, self.deadline)
                for (_, s), w in zip(batch, warms, strict=True)
            ]
            # wait in short steps so that a cancel reaches fits already running: the
            # workers check the event after every ALS sweep (a fit can take minutes)
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=0.2)
                if pending and self.cancelled is not None and self.cancelled():
                    self._stop_event.set()
            calls = [f.result for f in futures]
        out: list[tuple[float, dict, float] | TensorbenchError | None] = []
        for call in calls:  # in-process fits run here, one after the other
            try:
                out.append(call())
            except PastDeadline:
                out.append(None)
            except TensorbenchError as exc:
                out.append(exc)
        return out

    def _get_pool(self) -> Executor:
        if self._pool is None:
            import multiprocessing

            # spawn: a forked child of a process with torch threads running can deadlock
            ctx = multiprocessing.get_context("spawn")
            data = self.X.detach().cpu().numpy()
            self._stop_event = ctx.Event()
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=ctx,
                initializer=_worker_init,
                initargs=(data, self.options, self._stop_event),
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
    from ..device import available_cores

    return available_cores()
