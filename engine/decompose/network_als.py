"""Alternating least squares over the cores of any drawn network (``network_als``).

The user draws a structure in the editor (a train, a ring, a tree, a PEPS-like loop, CP as
a hyperedge, ...); its output indices are the data's modes in order. Each sweep solves, for
one core at a time, the linear least-squares problem ``min ||X - env . core||`` where
``env`` is the contraction of every other core. Nothing the size of ``env`` is formed:

* the Gram matrix ``env^T env`` is the contraction of the network minus the core with a
  second copy of itself (output legs joined, internal legs primed);
* the right-hand side ``env^T X`` is the contraction of ``X`` with every other core;

both along cotengra paths (:func:`~tensorbench.engine.cost.find_path`) compiled once per
core into :class:`~tensorbench.engine.contract.ContractionPlan` objects. Bonds, loops and
hyperedges (an index shared by three or more cores) need no special case: they are
indices of those contractions. The sampled variant solves each core's problem on a random
subset of the fibres of ``X`` (only those entries are gathered).

The ``decompose`` task passes the config's ``network`` to this method (it is the one
method argument that is not a :class:`~tensorbench.engine.params.Param`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..contract import ContractionPlan
from ..cost import find_path, path_cost
from ..device import check_memory
from ..errors import TensorbenchError
from ..network import Network, Tensor
from ..params import Param
from .base import (
    Callback,
    Decomposition,
    DecompositionError,
    IterationClock,
    all_finite,
    no_fit,
    register_method,
    stall_warning,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["MAX_UNKNOWNS", "network_als"]

#: Most unknowns per row of one core's least-squares problem (the product of its internal
#: index sizes): the Gram matrix is this size squared and its solve costs the cube.
MAX_UNKNOWNS = 8192
#: Share of every row kept uniform when sampling by leverage scores, so every fibre keeps a
#: positive probability and the importance weights stay bounded (at most 1 / (0.1 * S * p)).
_UNIFORM_MIX = 0.1
#: Auto sample count per core update: this many sampled fibres per unknown of a row.
_OVERSAMPLE = 40
_MIN_SAMPLES = 256
#: Sampled runs stop after this many exact evaluations in a row without improvement.
_PATIENCE = 3


@dataclass
class _Core:
    """One core's least-squares problem: which legs are data modes, plans, sizes."""

    open: tuple[str, ...]  # output (data) indices on this core
    inner: tuple[str, ...]  # every other (reduced) index on this core
    perm: list[int]  # reduced axis order -> open + inner
    inv: list[int]  # open + inner -> reduced axis order
    Q: int  # entries per row: product of open sizes
    P: int  # unknowns per row: product of inner sizes
    rows: int  # rows of the environment: product of the other cores' open sizes
    rhs: ContractionPlan | None = None  # X with every other core -> open + inner
    gram: ContractionPlan | None = None  # doubled network minus this core -> inner + inner'
    env: ContractionPlan | None = None  # sampled: other cores sliced at 's' -> s + inner
    samples: int = 0  # sampled fibres per update (0: exact update)
    others_open: list[int] = field(default_factory=list)  # other cores holding data modes


def _fail(msg: str) -> DecompositionError:
    return DecompositionError(f"network_als: {msg}")


def check_network_fits(network: Network, shape: Sequence[int]) -> None:
    """Refuse a network whose output does not match data of ``shape``: one output index
    per mode, in order, of the mode's size (before any data is loaded, where the shape is
    known without it)."""
    out = network.output
    if len(shape) != len(out):
        raise _fail(
            f"X has {len(shape)} modes but the network's output has {len(out)} indices "
            f"({', '.join(out) or 'none'}); the output must list one index per data mode, in order"
        )
    sizes = network.sizes
    for m, ix in enumerate(out):
        if shape[m] != sizes[ix]:
            raise _fail(
                f"mode {m} of X has size {shape[m]} but the network's output index {ix!r} has "
                f"size {sizes[ix]}; set {ix!r} to {shape[m]} in the network (X has shape "
                f"{tuple(shape)})"
            )


def _check_input(X: Any, network: Any) -> None:
    """Refuse input ALS cannot fit, with what to change."""
    import torch

    if not isinstance(network, Network):
        raise _fail(
            f"network must be a tensorbench Network (the structure to fit), got "
            f"{type(network).__name__}; draw one on the Network page or build one with "
            "tensorbench.engine.templates"
        )
    if not isinstance(X, torch.Tensor):
        raise _fail(f"X must be a torch.Tensor, got {type(X).__name__}")
    if not X.dtype.is_floating_point:
        raise _fail(
            f"X has dtype {X.dtype}; use a real floating dtype (float64 or float32), e.g. "
            "X.double()"
        )
    check_network_fits(network, list(X.shape))
    out = network.output
    for ix in out:
        holders = network.tensors_with(ix)
        if len(holders) > 1:
            names = ", ".join(network.tensors[j].name for j in holders)
            raise _fail(
                f"output index {ix!r} is shared by tensors {names} (a hyperedge in the output); "
                "ALS needs each data mode on exactly one tensor: give it to one tensor only"
            )
    if not all_finite(X):
        raise _fail("X contains NaN or infinite values; clean or impute them first")


class _Setup:
    """The network prepared for ALS: reduced indices, short names, per-core problems."""

    def __init__(self, net: Network, X: torch.Tensor) -> None:
        import torch

        self.net = net
        self.X = X
        self.sizes = net.sizes
        self.output = net.output
        self.M = len(net.tensors)
        # Legs on one tensor that are not data modes are summed over: fitting the network
        # without them is the same problem, and the legs are restored at the end.
        self.red = [tuple(ix for ix in t.indices if net.kind(ix) != "summed") for t in net.tensors]
        # Short, collision-free names for the auxiliary networks: layer 1 (and X) use
        # x<n>, the primed copy y<n>, the sample index s.
        self.x = {ix: f"x{n}" for n, ix in enumerate(net.indices)}
        self.y = {ix: f"y{n}" for n, ix in enumerate(net.indices)}
        out = set(self.output)
        self.cores: list[_Core] = []
        for inds in self.red:
            op = tuple(ix for ix in inds if ix in out)
            inner = tuple(ix for ix in inds if ix not in out)
            perm = [inds.index(ix) for ix in (*op, *inner)]
            inv = sorted(range(len(perm)), key=perm.__getitem__)
            rows = math.prod(self.sizes[ix] for ix in self.output if ix not in op)
            self.cores.append(
                _Core(
                    op,
                    inner,
                    perm,
                    inv,
                    math.prod(self.sizes[ix] for ix in op),
                    math.prod(self.sizes[ix] for ix in inner),
                    rows,
                )
            )
        self.itemsize = X.element_size()
        # Gram matrices and their solves run in at least double precision (see the Notes
        # of network_als); they hold cores and P x P matrices only, never X.
        self.work = X.dtype if X.element_size() >= 8 else torch.float64
        self._recon: ContractionPlan | None = None
        self._recon_refused = False

    # ---------------------------------------------------------------- auxiliary networks

    def _network(
        self,
        tensors: Sequence[tuple[str, Sequence[str]]],
        output: Sequence[str],
        extra_sizes: dict[str, int] | None = None,
    ) -> Network:
        sizes: dict[str, int] = {}
        base = {self.x[ix]: d for ix, d in self.sizes.items()}
        base |= {self.y[ix]: d for ix, d in self.sizes.items()}
        base |= extra_sizes or {}
        for _, inds in tensors:
            for ix in inds:
                sizes[ix] = base[ix]
        return Network([Tensor(name, tuple(inds)) for name, inds in tensors], sizes, output)

    def _layer(self, skip: int | None, primed: bool) -> list[tuple[str, list[str]]]:
        """Every core but ``skip``; in the primed copy only the data modes keep their names."""
        out = set(self.output)
        tag = "B" if primed else "A"
        layer = []
        for j, inds in enumerate(self.red):
            if j == skip:
                continue
            names = [self.y[ix] if primed and ix not in out else self.x[ix] for ix in inds]
            layer.append((f"{tag}{j}", names))
        return layer

    def _plan(self, net: Network, what: str, given: int = 0) -> ContractionPlan:
        """Compile a contraction, refusing it first when it would not fit in memory.

        ``given`` is the number of input elements already allocated (X), not counted again.
        """
        path = find_path(net, "auto")
        cost = path_cost(net, path)
        new = cost.peak_size + cost.largest_intermediate - given
        check_memory(
            new * self.itemsize,
            self.X.device,
            f"network_als: {what}",
            "lower the bond sizes of the network, or use sampled=True",
        )
        return ContractionPlan(net, path)

    def x_tensor(self) -> tuple[str, list[str]]:
        return ("X", [self.x[ix] for ix in self.output])

    def build_exact(self, k: int) -> None:
        """Plans for core ``k``'s exact normal equations."""
        c = self.cores[k]
        name = self.net.tensors[k].name
        self._check_unknowns(k)
        keep = [self.x[ix] for ix in (*c.open, *c.inner)]
        c.rhs = self._plan(
            self._network([self.x_tensor(), *self._layer(k, False)], keep),
            f"the right-hand side of tensor {name!r} (X contracted with the other cores)",
            given=self.X.numel(),
        )
        gram_out = [self.x[ix] for ix in c.inner] + [self.y[ix] for ix in c.inner]
        c.gram = self._plan(
            self._network([*self._layer(k, False), *self._layer(k, True)], gram_out),
            f"the Gram matrix of tensor {name!r}'s environment",
        )

    def build_sampled(self, k: int, samples: int) -> None:
        """Plan for core ``k``'s sampled environment rows (``samples`` of them)."""
        c = self.cores[k]
        name = self.net.tensors[k].name
        self._check_unknowns(k)
        c.samples = samples
        c.others_open = [j for j in range(self.M) if j != k and self.cores[j].open]
        tensors = []
        for j in range(self.M):
            if j == k:
                continue
            inner = [self.x[ix] for ix in self.cores[j].inner]
            tensors.append((f"A{j}", ["s", *inner] if self.cores[j].open else inner))
        need = (samples * (c.P + 2 * c.Q) + 2 * c.P * c.P) * self.itemsize
        check_memory(
            need,
            self.X.device,
            f"network_als: {samples} sampled rows of tensor {name!r}'s environment",
            "use fewer samples or lower the bond sizes",
        )
        c.env = self._plan(
            self._network(tensors, ["s", *(self.x[ix] for ix in c.inner)], {"s": samples}),
            f"the sampled environment of tensor {name!r}",
        )

    def _check_unknowns(self, k: int) -> None:
        c = self.cores[k]
        if c.P > MAX_UNKNOWNS:
            t = self.net.tensors[k]
            dims = " x ".join(f"{ix}={self.sizes[ix]}" for ix in c.inner)
            raise _fail(
                f"tensor {t.name!r} has {c.P} unknowns per row of its least-squares problem "
                f"({dims}), above the limit of {MAX_UNKNOWNS} (its Gram matrix alone would "
                f"hold {c.P * c.P:,} entries); lower the sizes of its bonds"
            )

    def build_norms(self) -> None:
        """Plans for ``<X, Y>`` and ``||Y||^2`` (initial scale and exact errors)."""
        self.inner_plan = self._plan(
            self._network([self.x_tensor(), *self._layer(None, False)], []),
            "<X, reconstruction>",
            given=self.X.numel(),
        )
        self.norm_plan = self._plan(
            self._network([*self._layer(None, False), *self._layer(None, True)], []),
            "the norm of the reconstruction",
        )

    def reconstruction_plan(self) -> ContractionPlan | None:
        """The dense reconstruction's plan, or None when it would not fit in memory."""
        if self._recon is None and not self._recon_refused:
            try:
                self._recon = self._plan(
                    self._network(self._layer(None, False), [self.x[ix] for ix in self.output]),
                    "the reconstruction",
                )
            except TensorbenchError:
                self._recon_refused = True
        return self._recon


# -------------------------------------------------------------------------- linear algebra


def _solve(M: torch.Tensor, R: torch.Tensor, reg: float) -> torch.Tensor:
    """``G`` with ``G (M + lam I) = R``: rows of ``R`` are right-hand sides, ``M`` a Gram.

    ``lam = reg * mean(diag M)`` (at least ten machine epsilons of it), so the ridge is
    scale-free; it is raised a hundredfold until the Cholesky factorization succeeds.
    """
    import torch

    M = 0.5 * (M + M.T)
    P = M.shape[0]
    finfo = torch.finfo(M.dtype)
    scale = float(torch.diagonal(M).mean())
    lam = max(reg, 10 * finfo.eps) * scale if scale > 0 else finfo.tiny
    eye = torch.eye(P, dtype=M.dtype, device=M.device)
    for _ in range(8):
        L, info = torch.linalg.cholesky_ex(M + lam * eye)
        if int(info) == 0:
            return torch.cholesky_solve(R.T, L).T
        lam *= 100.0
    return torch.linalg.lstsq(M + lam * eye, R.T).solution.T  # pragma: no cover


def _leverage(core: torch.Tensor, c: _Core) -> torch.Tensor:
    """Sampling probabilities of the rows of ``core`` unfolded as (open legs) x (the rest).

    Leverage scores (squared row norms of an orthonormal basis of the column space), mixed
    with the uniform distribution (:data:`_UNIFORM_MIX`).
    """
    import torch

    A = core.permute(c.perm).reshape(c.Q, c.P)
    uniform = torch.full((c.Q,), 1.0 / c.Q, dtype=A.dtype, device=A.device)
    if c.Q <= c.P:  # a full-rank wide unfolding has all scores 1
        return uniform
    q, _ = torch.linalg.qr(A)
    lev = (q * q).sum(1)
    total = float(lev.sum())
    if not total > 0:
        return uniform
    return (1 - _UNIFORM_MIX) * lev / total + _UNIFORM_MIX * uniform


# -------------------------------------------------------------------------- the method


@register_method(
    "network_als",
    "network",
    Param("max_iter", "int", 100, "most sweeps over the cores", max=100_000),
    Param(
        "tol",
        "float",
        1e-6,
        "stop when a sweep improves the error by less than this share",
        min=0.0,
        max=1.0,
    ),
    Param(
        "reg",
        "float",
        1e-12,
        "ridge, relative to the mean diagonal of each Gram matrix",
        min=0.0,
        max=1.0,
    ),
    Param("sampled", "bool", False, "solve each core on sampled fibres of X, not all of X"),
    Param(
        "samples",
        "int",
        0,
        f"sampled fibres per core update (0: auto, {_OVERSAMPLE} per unknown of a row, "
        f"at least {_MIN_SAMPLES})",
        min=0,
        max=10**7,
    ),
    Param(
        "sampling",
        "choice",
        "leverage",
        "how fibres are drawn when sampled",
        choices=("leverage", "uniform"),
    ),
    Param(
        "eval_every",
        "int",
        5,
        "sampled: compute the exact error every this many sweeps",
        max=10_000,
    ),
    Param(
        "init",
        "choice",
        "random",
        "initial cores: seeded Gaussian, scaled to ||X||",
        choices=("random",),
    ),
    doc="ALS over the cores of any drawn network (trees, rings, loops, hyperedges)",
)
def network_als(
    X: torch.Tensor,
    *,
    network: Network,
    seed: int = 0,
    callback: Callback | None = None,
    max_iter: int = 100,
    tol: float = 1e-6,
    reg: float = 1e-12,
    sampled: bool = False,
    samples: int = 0,
    sampling: str = "leverage",
    eval_every: int = 5,
    init: str = "random",
    init_cores: Sequence[torch.Tensor] | None = None,
) -> Decomposition:
    """Fit the cores of ``network`` to ``X`` by alternating least squares.

    Each sweep visits the cores in the network's order and replaces each by the solution
    of its regularized normal equations ``(E^T E + lam I) G = E^T X`` (``E`` the
    contraction of every other core), contracting the Gram matrix and right-hand side along
    cotengra paths instead of forming ``E``. Cores are rescaled to equal norms after every
    sweep (the product is unchanged), which keeps the Gram matrices well scaled.

    Parameters
    ----------
    X : torch.Tensor
        Real floating data; mode ``m`` has the size of ``network.output[m]``.
    network : Network
        The structure to fit (not a ``Param``: the ``decompose`` task passes the config's
        network). Every output index must sit on exactly one tensor; bonds, loops and
        internal hyperedges are all allowed. Legs on one tensor that are not outputs are
        summed over; they get ``core / size`` along them.
    seed : int
        Seeds the initial cores and every sample (a CPU ``torch.Generator``).
    callback : callable, optional
        Called after every sweep with ``{"iter", "rel_error", "exact", "elapsed"}``; may
        raise :class:`~tensorbench.engine.run.Cancelled`, which propagates.
    max_iter : int
        Most sweeps.
    tol : float
        Stagnation threshold (see Notes).
    reg : float
        Ridge ``lam = reg * mean(diag(E^T E))`` (at least 10 machine epsilons of it).
    sampled : bool
        Solve every core on ``samples`` sampled fibres of ``X`` (all entries along the
        core's own data modes, at sampled values of the other modes): only those entries
        of ``X`` are read. A core whose environment has no more rows than ``samples`` is
        solved exactly.
    samples : int
        Fibres per core update; 0 picks ``max(256, 40 * P)`` per core, ``P`` the unknowns
        of one row (the product of its internal index sizes): least squares on ``S``
        leverage-sampled rows has excess residual about ``P / S`` of the optimum's, so 40
        per unknown keeps each update within a few per cent of the exact one.
    sampling : {"leverage", "uniform"}
        ``uniform`` draws every data mode independently and uniformly. ``leverage`` draws
        each other core's data-mode index from the leverage scores of that core's
        unfolding (its data modes against the rest), independently across cores, mixed
        with 10% uniform; rows are reweighted by ``1 / (S p)`` so the sampled normal
        equations are unbiased. This product distribution is the scheme of Larsen & Kolda
        (2022) for CP and of Malik & Becker (2021) for tensor rings; on other structures it
        is a heuristic importance distribution (unbiased, with no guarantee).
    eval_every : int
        Sampled: compute the exact error every this many sweeps (and at the last one);
        the sweeps between record the sampled estimate of the error (``exact: False``).
    init : {"random"}
        Gaussian cores with the variance of
        :meth:`~tensorbench.engine.network.Network.random_arrays`, scaled together so the
        initial reconstruction has the norm of ``X``.
    init_cores : list of torch.Tensor, optional
        Start from these cores instead (one per tensor, in its index order; taken as
        given, not rescaled): a warm start, e.g. from a smaller network's fit.

    Returns
    -------
    Decomposition
        ``network`` is the given network (names, positions, tags kept); ``cores`` follow
        its tensors and their index order. ``info`` holds ``sweeps``, ``converged``,
        ``stop`` (why it stopped) and, when sampled, the fibres drawn per core and, for a
        run that stalled worse than all zeros, ``warning``.

    Raises
    ------
    DecompositionError
        The output does not match ``X``'s shape, an output index is a hyperedge, ``X`` has
        NaN/inf or is not real floating, or one core has more than :data:`MAX_UNKNOWNS`
        unknowns per row.
    ResourceError
        A contraction the method plans would not fit in the device's memory.

    Notes
    -----
    Exact sweeps record the error after the sweep from the last core's normal equations
    (``||X||^2 - 2 <G, E^T X> + <G, E^T E G>``, nothing reconstructed), recomputed from the
    dense reconstruction when it is so small that this difference loses its digits. The
    run stops after ``max_iter`` sweeps, when the error is below 100 machine epsilons, or
    when a sweep lowers it by less than ``tol`` times its value. Sampled runs apply the
    stagnation test to their exact evaluations against the best one so far and stop after
    three evaluations in a row fail it (``stop`` is ``"stalled"``, not converged, when no
    evaluation was below an error of 1, no better than all zeros; ``info["warning"]``
    then says what to change); they return the best evaluated cores (a final record,
    marked ``restored`` with the sweep they come from, says so when those are not the
    last).

    Contractions with ``X`` run in ``X``'s dtype on its device; Gram matrices and their
    solves (cores and ``P x P`` matrices only) run in at least float64, because normal
    equations square the environment's condition number (an exact float32 train stalled
    near 1e-4 in float32 and reaches 2e-6 this way). Cores are returned in ``X``'s dtype.
    """
    import torch

    _check_input(X, network)
    setup = _Setup(network, X)
    clock = IterationClock(callback)
    dtype, device = X.dtype, X.device
    eps = torch.finfo(dtype).eps
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    X_norm2 = float(torch.sum(X.to(torch.float64) ** 2)) if X.numel() else 0.0
    info: dict[str, Any] = {"sampled": sampled, "init": init, "reg": reg}

    if init_cores is None:
        cores = _init_cores(setup, gen, dtype, device)
    else:
        cores = _given_cores(setup, init_cores, dtype, device)
        info["init"] = "given"
    if setup.M == 1 or X_norm2 == 0.0:
        # One tensor is the data itself; zero data is fitted exactly by a zero core.
        if setup.M == 1:
            cores[0] = X.permute([setup.output.index(ix) for ix in setup.red[0]]).clone()
        else:
            cores[0] = torch.zeros_like(cores[0])
        clock.record(iter=1, rel_error=0.0, exact=True)
        info |= {"sweeps": 1, "converged": True, "stop": "exact"}
        return _result(setup, cores, clock, info)

    setup.build_norms()
    if init_cores is None:
        cores = _scale_to(setup, cores, X_norm2)

    if sampled:
        per_core = []
        for k, c in enumerate(setup.cores):
            S = samples or max(_MIN_SAMPLES, _OVERSAMPLE * c.P)
            if c.rows <= S:
                setup.build_exact(k)
                per_core.append(0)
            else:
                setup.build_sampled(k, S)
                per_core.append(S)
        info |= {"sampling": sampling, "samples_per_core": per_core, "eval_every": eval_every}
    else:
        for k in range(setup.M):
            setup.build_exact(k)

    prev = math.inf
    stale = 0
    best: tuple[float, int, list[torch.Tensor]] | None = None
    info |= {"converged": False, "stop": "max_iter"}
    sweep = 0
    for sweep in range(1, max_iter + 1):
        err2s = []  # ||X - Y||^2 after each update: exact, or estimated from the samples
        lev: dict[int, torch.Tensor] = {}
        for k, c in enumerate(setup.cores):
            if c.env is not None:
                cores[k], err2 = _update_sampled(setup, k, cores, reg, sampling, lev, gen)
            else:
                cores[k], err2 = _update_exact(setup, k, cores, reg, X_norm2)
            err2s.append(err2)
            lev.pop(k, None)  # core k changed: its leverage scores are stale
        cores = _balance(cores)
        if not sampled:
            rel = _finish_error(setup, cores, err2s[-1], X_norm2, eps)
            clock.record(iter=sweep, rel_error=rel, exact=True)
            done = _stop(prev, rel, tol, eps)
            prev = rel
            if done:
                info |= {"converged": True, "stop": done}
                break
            continue
        if sweep % eval_every and sweep != max_iter:
            # The sampled residuals estimate ||X - Y||^2 core by core; report their mean.
            est = math.sqrt(max(sum(err2s) / len(err2s), 0.0) / X_norm2)
            clock.record(iter=sweep, rel_error=est, exact=False)
            continue
        rel = _exact_error(setup, cores, X_norm2, eps)
        clock.record(iter=sweep, rel_error=rel, exact=True)
        # Sampled updates are noisy: stagnation is judged against the best evaluation so
        # far, and only after _PATIENCE evaluations in a row that did not improve on it.
        stale = 0 if _stop(prev, rel, tol, eps) is None else stale + 1
        if best is None or rel < best[0]:
            best = (rel, sweep, [g.clone() for g in cores])
        prev = min(prev, rel)
        done = "exact" if rel <= 100 * eps else "stagnation" if stale >= _PATIENCE else None
        if done:  # stagnation worse than all zeros ("exact" never is) is no convergence
            stalled = no_fit(best[0])
            info |= {"converged": not stalled, "stop": "stalled" if stalled else done}
            break
    if sampled and best is not None and best[1] != sweep:
        cores = best[2]
        clock.record(iter=sweep, rel_error=best[0], exact=True, restored=best[1])
    if sampled and best is not None and no_fit(best[0]):
        info["warning"] = stall_warning(
            sweep, best[0], f"use more samples (now {max(per_core)} per core), or sampled=False"
        )
    info["sweeps"] = sweep
    return _result(setup, cores, clock, info)


def _stop(prev: float, rel: float, tol: float, eps: float) -> str | None:
    """Why to stop after an error ``rel`` that followed ``prev`` (None: go on)."""
    if rel <= 100 * eps:
        return "exact"
    if prev - rel < tol * prev:
        return "stagnation"
    return None


def _init_cores(
    setup: _Setup, gen: torch.Generator, dtype: torch.dtype, device: torch.device
) -> list[torch.Tensor]:
    """Seeded Gaussian cores (drawn in float64 on the CPU, so a seed means the same numbers
    on every device), each entry of the product having unit variance in expectation."""
    import torch

    out = set(setup.output)
    counts: dict[str, int] = {}
    for inds in setup.red:
        for ix in inds:
            counts[ix] = counts.get(ix, 0) + 1
    cores = []
    for inds in setup.red:
        log_var = -sum(math.log(setup.sizes[ix]) / counts[ix] for ix in inds if ix not in out)
        shape = tuple(setup.sizes[ix] for ix in inds)
        g = torch.randn(shape, generator=gen, dtype=torch.float64) * math.exp(0.5 * log_var)
        cores.append(g.to(dtype=dtype, device=device))
    return cores


def _given_cores(
    setup: _Setup, given: Sequence[torch.Tensor], dtype: torch.dtype, device: torch.device
) -> list[torch.Tensor]:
    """``given`` as starting cores, after checking there is one of the right shape per
    tensor."""
    if len(given) != setup.M:
        raise _fail(f"init_cores has {len(given)} cores; the network has {setup.M} tensors")
    out = []
    for k, (g, inds) in enumerate(zip(given, setup.red, strict=True)):
        want = tuple(setup.sizes[ix] for ix in inds)
        if tuple(g.shape) != want:
            raise _fail(
                f"init_cores[{k}] has shape {tuple(g.shape)}; tensor "
                f"{setup.net.tensors[k].name!r} needs {want}"
            )
        out.append(g.detach().to(dtype=dtype, device=device).clone())
    return out


def _scale_to(setup: _Setup, cores: list[torch.Tensor], X_norm2: float) -> list[torch.Tensor]:
    """Scale every core by the same factor so the reconstruction's squared norm is X_norm2."""
    ynorm2 = float(setup.norm_plan([*cores, *cores])[0])
    if not (ynorm2 > 0 and math.isfinite(ynorm2)):
        return cores
    scale = (X_norm2 / ynorm2) ** (0.5 / setup.M)
    return [g * scale for g in cores]


def _update_exact(
    setup: _Setup, k: int, cores: list[torch.Tensor], reg: float, X_norm2: float
) -> tuple[torch.Tensor, float]:
    """Solve core ``k``'s full normal equations; also return ``||X - Y||^2`` after it."""
    c = setup.cores[k]
    assert c.rhs is not None and c.gram is not None
    others = cores[:k] + cores[k + 1 :]
    R = c.rhs([setup.X, *others])[0].reshape(c.Q, c.P).to(setup.work)
    # The Gram matrix involves only the (small) cores: form it in the working precision.
    others = [g.to(setup.work) for g in others]
    M = c.gram([*others, *others])[0].reshape(c.P, c.P)
    G = _solve(M, R, reg)
    err2 = X_norm2 - 2 * float((G * R).sum()) + float(((G @ M) * G).sum())
    return _unflatten(setup, k, G), err2


def _update_sampled(
    setup: _Setup,
    k: int,
    cores: list[torch.Tensor],
    reg: float,
    sampling: str,
    lev: dict[int, torch.Tensor],
    gen: torch.Generator,
) -> tuple[torch.Tensor, float]:
    """Solve core ``k`` on sampled fibres; also return the sampled estimate of the error."""
    import torch

    c = setup.cores[k]
    assert c.env is not None
    S = c.samples
    device = setup.X.device
    logp = torch.zeros(S, dtype=torch.float64)
    picks: dict[int, torch.Tensor] = {}  # other core -> sampled row of its open legs
    for j in c.others_open:
        cj = setup.cores[j]
        if sampling == "leverage":
            if j not in lev:
                lev[j] = _leverage(cores[j], cj).to(device="cpu", dtype=torch.float64)
            p = lev[j]
            rows = torch.multinomial(p, S, replacement=True, generator=gen)
            logp += torch.log(p[rows])
        else:
            rows = torch.randint(cj.Q, (S,), generator=gen)
            logp -= math.log(cj.Q)
        picks[j] = rows
    # Importance weights 1 / (S p): the weighted sums are unbiased estimates of the full ones.
    w = torch.exp(-logp - math.log(S)).to(device=device, dtype=setup.work)

    arrays = []
    mode_idx: dict[str, torch.Tensor] = {}
    for j in range(setup.M):
        if j == k:
            continue
        cj = setup.cores[j]
        if not cj.open:
            arrays.append(cores[j].to(setup.work))
            continue
        rows = picks[j].to(device)
        flat = cores[j].permute(cj.perm).reshape(cj.Q, *(setup.sizes[ix] for ix in cj.inner))
        flat = flat.to(setup.work)
        arrays.append(flat[rows])
        vals = torch.unravel_index(rows, tuple(setup.sizes[ix] for ix in cj.open))
        for ix, v in zip(cj.open, vals, strict=True):
            mode_idx[ix] = v
    E = c.env(arrays)[0].reshape(S, c.P)
    # Gather the sampled fibres: the other modes at the sampled values, core k's modes whole.
    other_modes = [m for m, ix in enumerate(setup.output) if ix in mode_idx]
    own_modes = [setup.output.index(ix) for ix in c.open]
    Xp = setup.X.permute(*other_modes, *own_modes)
    Xs = Xp[tuple(mode_idx[setup.output[m]] for m in other_modes)].reshape(S, c.Q)
    Xs = Xs.to(setup.work)
    Ew = E * w[:, None]
    M = E.T @ Ew
    R = Xs.T @ Ew
    G = _solve(M, R, reg)
    resid = Xs - E @ G.T
    est2 = float((w[:, None] * resid * resid).sum())
    return _unflatten(setup, k, G), est2


def _unflatten(setup: _Setup, k: int, G: torch.Tensor) -> torch.Tensor:
    """A solved ``(Q, P)`` matrix back to core ``k``'s reduced axis order."""
    c = setup.cores[k]
    shape = tuple(setup.sizes[ix] for ix in (*c.open, *c.inner))
    return G.reshape(shape).permute(c.inv).to(setup.X.dtype).contiguous()


def _balance(cores: list[torch.Tensor]) -> list[torch.Tensor]:
    """Rescale cores to equal Frobenius norms (their product is unchanged)."""
    import torch

    norms = [float(torch.linalg.vector_norm(g)) for g in cores]
    if not all(n > 0 and math.isfinite(n) for n in norms):
        return cores
    target = math.exp(sum(math.log(n) for n in norms) / len(norms))
    return [g * (target / n) for g, n in zip(cores, norms, strict=True)]


def _finish_error(
    setup: _Setup, cores: list[torch.Tensor], err2: float, X_norm2: float, eps: float
) -> float:
    """Relative error from ``||X - Y||^2``; recomputed densely when it is in the round-off."""
    if err2 <= 1e4 * eps * X_norm2:
        dense = _dense_error(setup, cores, X_norm2)
        if dense is not None:
            return dense
    return math.sqrt(max(err2, 0.0) / X_norm2)


def _exact_error(setup: _Setup, cores: list[torch.Tensor], X_norm2: float, eps: float) -> float:
    """Exact relative error from ``<X, Y>`` and ``||Y||^2`` (no reconstruction)."""
    inner = float(setup.inner_plan([setup.X, *cores])[0])
    work = [g.to(setup.work) for g in cores]
    ynorm2 = float(setup.norm_plan([*work, *work])[0])
    return _finish_error(setup, cores, X_norm2 - 2 * inner + ynorm2, X_norm2, eps)


def _dense_error(setup: _Setup, cores: list[torch.Tensor], X_norm2: float) -> float | None:
    import torch

    plan = setup.reconstruction_plan()
    if plan is None:
        return None
    Y = plan(cores)[0]
    diff = (setup.X - Y).to(torch.float64)
    return math.sqrt(float((diff * diff).sum()) / X_norm2)


def _result(
    setup: _Setup, cores: list[torch.Tensor], clock: IterationClock, info: dict[str, Any]
) -> Decomposition:
    """Restore summed legs (``core / size`` along each) and wrap up."""
    out = []
    for t, inds, g in zip(setup.net.tensors, setup.red, cores, strict=True):
        if len(inds) != len(t.indices):
            shape = [setup.sizes[ix] if ix in inds else 1 for ix in t.indices]
            full = [setup.sizes[ix] for ix in t.indices]
            dropped = math.prod(setup.sizes[ix] for ix in t.indices if ix not in inds)
            g = (g.reshape(shape) / dropped).expand(full).clone()
        out.append(g)
    return Decomposition("network_als", setup.net, out, clock.history, info)
