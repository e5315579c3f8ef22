"""Errors of an approximation without forming the full tensor.

An operand is either a dense ``torch.Tensor`` or a network given as a ``(network, cores)``
pair (or any object with ``.network`` and ``.cores``, such as a
:class:`~tensorbench.engine.decompose.base.Decomposition`). A network stands for its
contracted tensor, axes in ``network.output`` order; two operands are compared axis by axis
(position ``k`` of one output with position ``k`` of the other, sizes must agree), exactly
as their dense forms would be.

* :func:`network_residual` / :func:`relative_residual`: the exact ``||X - X_hat||`` from the
  inner products ``<X,X>``, ``<X,X_hat>``, ``<X_hat,X_hat>``, each one contraction with
  tensorbench's path search, in float64.
* :func:`estimate_residual`: a randomized estimate from probes ``<w, X - X_hat>``, with a
  confidence interval, cheap for networks whose overlap is expensive and immune to the
  cancellation that limits the exact formula.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..contract import contract_arrays, estimate_bytes
from ..cost import find_path
from ..device import MEMORY_FRACTION, available_memory, check_memory
from ..errors import ResourceError
from ..network import Network, Tensor
from .base import DecompositionError, all_finite
from .sketch import random_tt_cores

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "ResidualEstimate",
    "contract_checked",
    "estimate_residual",
    "network_inner",
    "network_norm",
    "network_residual",
    "relative_residual",
]

#: Below this value of ``||X - X_hat||^2 / (||X||^2 + ||X_hat||^2)`` the inner-product formula
#: has lost more than about half its digits (rounding in each inner product is ~1e-16 of
#: its size), so the residual is computed from dense forms when they fit.
CANCELLATION_RATIO = 1e-8
#: Largest number of entries formed densely for the cancellation fallback by default.
DENSE_LIMIT = 2**25
#: ``estimate_residual(kind="auto")`` uses Gaussian probes up to this many entries.
GAUSSIAN_AUTO_LIMIT = 2**20
#: Bytes one batch of probes may use at most (probes are processed in batches).
PROBE_BATCH_BYTES = 2**28


# --------------------------------------------------------------------------- operands


@dataclass
class _Operand:
    net: Network | None
    arrays: list[torch.Tensor]  # one dense tensor, or one array per network tensor
    dims: tuple[int, ...]

    @property
    def is_complex(self) -> bool:
        return any(a.is_complex() for a in self.arrays)


def _operand(x: Any, what: str) -> _Operand:
    import torch

    if isinstance(x, torch.Tensor):
        net, arrays = None, [x]
    else:
        if hasattr(x, "network") and hasattr(x, "cores"):
            net, arrays = x.network, x.cores
        elif isinstance(x, (tuple, list)) and len(x) == 2:
            net, arrays = x
        else:
            raise DecompositionError(
                f"{what} must be a torch.Tensor, a (network, cores) pair or a Decomposition; "
                f"got {type(x).__name__}"
            )
        if not isinstance(net, Network):
            raise DecompositionError(
                f"{what}: the first item must be a Network, got {type(net).__name__}"
            )
        arrays = list(arrays)
        if len(arrays) != len(net.tensors):
            raise DecompositionError(
                f"{what}: {len(arrays)} cores for a network of {len(net.tensors)} tensors"
            )
    for k, a in enumerate(arrays):
        if not isinstance(a, torch.Tensor):
            raise DecompositionError(
                f"{what}: core {k} is a {type(a).__name__}, not a torch.Tensor"
            )
        if not (a.dtype.is_floating_point or a.dtype.is_complex):
            raise DecompositionError(
                f"{what}: {'the tensor' if net is None else f'core {k}'} has dtype {a.dtype}; "
                "use a float or complex dtype"
            )
        if net is not None and tuple(a.shape) != net.shape(k):
            raise DecompositionError(
                f"{what}: core {k} ({net.tensors[k].name}) has shape {tuple(a.shape)}, "
                f"the network says {net.shape(k)}"
            )
        if not all_finite(a):
            raise DecompositionError(
                f"{what}: {'the tensor' if net is None else f'core {k}'} has NaN or inf entries; "
                "remove them first"
            )
    dims = tuple(arrays[0].shape) if net is None else tuple(net.sizes[ix] for ix in net.output)
    return _Operand(net, arrays, dims)


def _pair(target: Any, approx: Any) -> tuple[_Operand, _Operand]:
    X, Y = _operand(target, "target"), _operand(approx, "approx")
    if X.dims != Y.dims:
        raise DecompositionError(
            f"target has shape {X.dims} but approx has shape {Y.dims}; they must match mode by mode"
        )
    if X.arrays[0].device != Y.arrays[0].device:
        raise DecompositionError(
            f"target is on {X.arrays[0].device} but approx on {Y.arrays[0].device}; move one"
        )
    return X, Y


def _wide(a: torch.Tensor, cplx: bool) -> torch.Tensor:
    import torch

    return a.to(torch.complex128 if cplx else torch.float64)


# --------------------------------------------------------------------------- contraction


def contract_checked(
    net: Network,
    arrays: Sequence[torch.Tensor],
    *,
    optimize: str = "auto",
    what: str,
    hint: str = "use smaller ranks or fewer probes per batch",
) -> torch.Tensor:
    """Contract ``net`` with ``arrays`` along an optimized path after a memory check.

    Raises :class:`~tensorbench.engine.errors.ResourceError` (nothing allocated) when the
    path's peak would not fit on the arrays' device.
    """
    path = find_path(net, optimize)
    dtype = "complex128" if any(a.is_complex() for a in arrays) else "float64"
    check_memory(
        estimate_bytes(net, path, dtype),
        arrays[0].device,
        what,
        hint,
    )
    result, _ = contract_arrays(net, arrays, path)
    return result


class _Names:
    """Fresh index/tensor names that collide with nothing already taken."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken)
        self.count = 0

    def __call__(self, stem: str = "x") -> str:
        while True:
            name = f"~{stem}{self.count}"
            self.count += 1
            if name not in self.taken:
                self.taken.add(name)
                return name


def _join(
    ops: Sequence[_Operand],
) -> tuple[list[Tensor], dict[str, int], list[torch.Tensor], list[str], _Names]:
    """Tensors of several operands in one network, their outputs joined position by position.

    Non-output indices and tensor names are renamed apart. Returns the tensors, sizes and
    arrays, the shared output index names, and the name source for further fresh names.
    """
    taken: set[str] = set()
    for op in ops:
        if op.net is not None:
            taken |= set(op.net.indices) | {t.name for t in op.net.tensors}
    names = _Names(taken)
    shared = [names("i") for _ in ops[0].dims]
    tensors: list[Tensor] = []
    sizes: dict[str, int] = dict(zip(shared, ops[0].dims, strict=True))
    arrays: list[torch.Tensor] = []
    for op in ops:
        if op.net is None:
            tensors.append(Tensor(names("X"), tuple(shared)))
            arrays.append(op.arrays[0])
            continue
        rename = dict(zip(op.net.output, shared, strict=True))
        for ix in op.net.indices:
            if ix not in rename:
                rename[ix] = names("b")
                sizes[rename[ix]] = op.net.sizes[ix]
        for t, a in zip(op.net.tensors, op.arrays, strict=True):
            tensors.append(Tensor(names("T"), tuple(rename[ix] for ix in t.indices)))
            arrays.append(a)
    return tensors, sizes, arrays, shared, names


def _inner(a: _Operand, b: _Operand, optimize: str) -> complex:
    """``<a, b> = sum conj(a) b`` in float64 / complex128."""
    import torch

    cplx = a.is_complex or b.is_complex
    if a.net is None and b.net is None:
        x, y = _wide(a.arrays[0], cplx), _wide(b.arrays[0], cplx)
        return complex(torch.vdot(x.reshape(-1), y.reshape(-1)))
    tensors, sizes, arrays, _, _ = _join([a, b])
    na = 1 if a.net is None else len(a.net.tensors)
    arrays = [(_wide(x, cplx).conj() if k < na else _wide(x, cplx)) for k, x in enumerate(arrays)]
    net = Network(tensors, sizes, ())
    return complex(contract_checked(net, arrays, optimize=optimize, what="this inner product"))


def network_inner(a: Any, b: Any, *, optimize: str = "auto") -> complex:
    """``<a, b> = sum conj(a) * b`` of two operands (dense or network), in double precision.

    Networks are never formed: their tensors join one network (the non-output indices of
    each copy renamed apart, outputs matched by position) contracted along an optimized path.
    """
    A, B = _pair(a, b)
    return _inner(A, B, optimize)


def network_norm(x: Any, *, optimize: str = "auto") -> float:
    """Frobenius norm of an operand (a network via its overlap with itself), in float64."""
    X = _operand(x, "x")
    if X.net is None:
        import torch

        return float(torch.linalg.vector_norm(_wide(X.arrays[0], X.is_complex)))
    return math.sqrt(max(_inner(X, X, optimize).real, 0.0))


def _dense(op: _Operand, optimize: str) -> torch.Tensor:
    """The operand as a dense float64 (complex128) tensor."""
    if op.net is None:
        return _wide(op.arrays[0], op.is_complex)
    arrays = [_wide(a, op.is_complex) for a in op.arrays]
    out = contract_checked(op.net, arrays, optimize=optimize, what="forming the tensor")
    return out.reshape(op.dims)


def _residual_parts(
    X: _Operand, Y: _Operand, optimize: str, dense_limit: int
) -> tuple[float, float]:
    """``(||X - Y||, ||X||)``, with the dense fallback when the formula cancels."""
    import torch

    xx = _inner(X, X, optimize).real
    yy = _inner(Y, Y, optimize).real
    xy = _inner(X, Y, optimize).real
    sq = xx - 2.0 * xy + yy
    if sq >= CANCELLATION_RATIO * (xx + yy):
        return math.sqrt(sq), math.sqrt(max(xx, 0.0))
    full = math.prod(X.dims)
    dense_ok = X.net is None or Y.net is None or full <= dense_limit
    need = 2 * full * (16 if (X.is_complex or Y.is_complex) else 8)
    device = X.arrays[0].device
    if dense_ok and need <= MEMORY_FRACTION * available_memory(device):
        D = _dense(X, optimize) - _dense(Y, optimize)
        return float(torch.linalg.vector_norm(D)), math.sqrt(max(xx, 0.0))
    bound = math.sqrt(max(sq, 0.0) + 1e-14 * (xx + yy))
    warnings.warn(
        f"||X - X_hat||^2 = {sq:.3e} is below {CANCELLATION_RATIO:g} of ||X||^2 + ||X_hat||^2 "
        f"and the tensors are too large to form: the exact residual is not reliable (it is "
        f"at most about {bound:.3e}); use estimate_residual for a cancellation-free estimate",
        RuntimeWarning,
        stacklevel=3,
    )
    return math.sqrt(max(sq, 0.0)), math.sqrt(max(xx, 0.0))


def network_residual(
    target: Any, approx: Any, *, optimize: str = "auto", dense_limit: int = DENSE_LIMIT
) -> float:
    """The exact ``||X - X_hat||`` (Frobenius) without forming either tensor.

    Parameters
    ----------
    target, approx : torch.Tensor, (Network, cores) or Decomposition
        The two tensors; networks stand for their contraction (axes in output order) and
        are compared with the other operand position by position.
    optimize : str
        Path optimizer for the overlap contractions.
    dense_limit : int
        Most entries to form densely in the cancellation fallback below.

    Returns
    -------
    float
        ``sqrt(<X,X> - 2 Re<X,X_hat> + <X_hat,X_hat>)``, each inner product one contraction of
        the two networks joined along their outputs (non-output indices renamed apart), in
        float64 (complex128 for complex data).

    Notes
    -----
    The formula subtracts numbers of size ``||X||^2``, so its absolute error is about
    ``1e-16 (||X||^2 + ||X_hat||^2)``: the residual's relative accuracy is about
    ``1e-16 / r^2`` for a relative error ``r``, and it is meaningless below ``r ~ 1e-8``.
    When ``||X - X_hat||^2`` falls under ``CANCELLATION_RATIO`` (1e-8) of
    ``||X||^2 + ||X_hat||^2`` (``r`` below about 1e-4), the difference is formed densely when
    either operand is dense or the tensor has at most ``dense_limit`` entries and fits in
    memory; otherwise a ``RuntimeWarning`` says the value is unreliable, and
    :func:`estimate_residual` (which subtracts probe values, not squared norms) is the
    better tool.
    """
    X, Y = _pair(target, approx)
    return _residual_parts(X, Y, optimize, dense_limit)[0]


def relative_residual(
    target: Any, approx: Any, *, optimize: str = "auto", dense_limit: int = DENSE_LIMIT
) -> float:
    """``||X - X_hat|| / ||X||``, computed as :func:`network_residual` (same caveats).

    Returns the absolute residual when ``||X|| = 0``, as
    :func:`~tensorbench.engine.decompose.base.relative_error` does.
    """
    X, Y = _pair(target, approx)
    res, nx = _residual_parts(X, Y, optimize, dense_limit)
    return res / nx if nx > 0 else res


# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class ResidualEstimate:
    """A randomized estimate of ``||X - X_hat||`` and its spread.

    Attributes
    ----------
    estimate : float
        ``sqrt(mean_j |<w_j, X - X_hat>|^2)`` over the probes ``w_j``.
    std_error : float
        Empirical standard error of ``estimate`` (delta method on the mean of squares).
    ci_low, ci_high : float
        Confidence interval for ``||X - X_hat||`` at level ``confidence`` (see
        :func:`estimate_residual` for how it is built).
    confidence : float
        Level of the interval.
    probes : int
        Number of probes.
    kind : str
        ``"gaussian"`` or ``"tt"``.
    rank : int or None
        Internal rank of TT probes.
    dof : float
        Degrees of freedom of the chi-squared law behind the interval.
    target_norm : float or None
        ``||X||`` when known (exact for a dense target, or as given), for relative values.
    """

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    confidence: float
    probes: int
    kind: str
    rank: int | None
    dof: float
    target_norm: float | None = None

    @property
    def rel_estimate(self) -> float | None:
        """``estimate / ||X||`` (None when ``||X||`` is unknown or zero)."""
        return self.estimate / self.target_norm if self.target_norm else None

    @property
    def rel_ci(self) -> tuple[float, float] | None:
        """The interval divided by ``||X||`` (None when ``||X||`` is unknown or zero)."""
        if not self.target_norm:
            return None
        return (self.ci_low / self.target_norm, self.ci_high / self.target_norm)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields plus the relative values."""
        d = asdict(self)
        d["rel_estimate"] = self.rel_estimate
        d["rel_ci"] = list(self.rel_ci) if self.rel_ci else None
        return d


def _probe_seeds(seed: int, probes: int) -> list[int]:
    """One seed per probe, so probe ``j`` is the same whatever the count or batching."""
    import torch

    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    return [int(s) for s in torch.randint(0, 2**62, (probes,), generator=gen)]


def _gaussian_batch(
    seeds: Sequence[int], dims: tuple[int, ...], device: torch.device
) -> torch.Tensor:
    import torch

    out = torch.empty((len(seeds), *dims), dtype=torch.float64)
    for j, s in enumerate(seeds):
        gen = torch.Generator(device="cpu").manual_seed(s)
        out[j] = torch.randn(dims, generator=gen, dtype=torch.float64)
    return out.to(device)


def _tt_batch(
    seeds: Sequence[int], dims: tuple[int, ...], ranks: list[int], device: torch.device
) -> list[torch.Tensor]:
    """Stacked TT probe cores ``(c, r_{k-1}, n_k, r_k)``, each probe with ``E[w w^T] = I``."""
    import torch

    per = [
        random_tt_cores(dims, ranks, torch.Generator(device="cpu").manual_seed(s)) for s in seeds
    ]
    return [torch.stack(cs).to(device) for cs in zip(*per, strict=True)]


def _probe_network(
    op: _Operand, kind: str, c: int, ranks: list[int]
) -> tuple[Network, list[torch.Tensor]]:
    """The operand joined with a batch of ``c`` probes (hyperedge ``batch``, the output).

    Returns the network and the operand's arrays; the probe arrays follow in the network's
    order: one ``(c, *dims)`` tensor (Gaussian) or one core per mode (TT).
    """
    tensors, sizes, arrays, shared, names = _join([op])
    batch = names("p")
    sizes[batch] = c
    if kind == "gaussian":
        tensors.append(Tensor(names("W"), (batch, *shared)))
    else:
        bonds = [names("a") for _ in ranks[:-1]]
        for k, ix in enumerate(shared):
            left = (bonds[k - 1],) if k else ()
            right = (bonds[k],) if k < len(bonds) else ()
            tensors.append(Tensor(names("W"), (batch, *left, ix, *right)))
            if k < len(bonds):
                sizes[bonds[k]] = ranks[k]
    return Network(tensors, sizes, (batch,)), arrays


def _probe_values(
    op: _Operand,
    kind: str,
    probe: torch.Tensor | list[torch.Tensor],
    ranks: list[int],
    optimize: str,
) -> torch.Tensor:
    """``<w_j, op>`` for a batch of probes (real probes, so no conjugation is needed)."""
    cplx = op.is_complex
    if kind == "gaussian":
        assert not isinstance(probe, list)
        c = probe.shape[0]
        if op.net is None:
            x = _wide(op.arrays[0], cplx).reshape(-1)
            return _wide(probe.reshape(c, -1), cplx) @ x
        probe_arrays = [probe]
    else:
        assert isinstance(probe, list)
        c = probe[0].shape[0]
        last = len(probe) - 1
        # Drop the size-1 boundary bonds r_0 and r_N of the stacked cores.
        probe_arrays = []
        for k, w in enumerate(probe):
            w = w[:, 0] if k == 0 else w
            probe_arrays.append(w[..., 0] if k == last else w)
    net, arrays = _probe_network(op, kind, c, ranks)
    arrays = [_wide(a, cplx) for a in (*arrays, *probe_arrays)]
    return contract_checked(net, arrays, optimize=optimize, what="applying the probes")


def _batch_size(
    ops: Sequence[_Operand], kind: str, ranks: list[int], probes: int, optimize: str
) -> int:
    """Probes per batch: the most that keep every contraction under ``PROBE_BATCH_BYTES``."""
    full = math.prod(ops[0].dims)
    c = probes
    while c > 1:
        need = c * full * 8 if kind == "gaussian" else 0
        for op in ops:
            if kind == "gaussian" and op.net is None:
                continue
            net, _ = _probe_network(op, kind, c, ranks)
            need = max(need, estimate_bytes(net, find_path(net, optimize), "float64"))
        if need <= PROBE_BATCH_BYTES:
            break
        c = (c + 1) // 2
    return c


def estimate_residual(
    target: Any,
    approx: Any,
    *,
    probes: int = 32,
    kind: str = "auto",
    rank: int = 16,
    confidence: float = 0.95,
    seed: int = 0,
    target_norm: float | None = None,
    optimize: str = "auto",
) -> ResidualEstimate:
    """Randomized estimate of ``||X - X_hat||`` from ``probes`` random probes, with an interval.

    Each probe ``w_j`` has ``E[w w^T] = I``, so ``z_j = <w_j, X> - <w_j, X_hat>`` has
    ``E z_j^2 = ||X - X_hat||^2``; the estimate is ``sqrt(mean z_j^2)``. Probe values of the
    two operands are subtracted, not squared norms, so tiny errors are estimated to their
    full relative accuracy (unlike the exact inner-product formula).

    Parameters
    ----------
    target, approx : torch.Tensor, (Network, cores) or Decomposition
        As in :func:`network_residual`.
    probes : int
        Number of independent probes; the interval narrows like ``1/sqrt(probes)``.
    kind : {"auto", "gaussian", "tt"}
        ``"gaussian"``: dense standard normal probes (a network operand is contracted with
        them, which costs about one dense tensor per probe batch). ``"tt"``: TT probes with
        Gaussian cores of internal rank ``rank``, contracted with networks (and dense tensors)
        without forming anything of the full size. ``"auto"``: ``"gaussian"`` (exact
        interval) when both operands are dense or the tensor has at most
        ``GAUSSIAN_AUTO_LIMIT`` (2**20) entries, else ``"tt"`` (drawing dense Gaussian
        probes runs at ~30M numbers/s on a CPU, which dominates for large tensors).
    rank : int
        Internal rank of TT probes (larger: less spread per probe, more work).
    confidence : float
        Level of the interval (0.95 by default).
    seed : int
        Seeds the probes; probe ``j`` is the same for any ``probes`` (more probes extend,
        never redraw).
    target_norm : float, optional
        ``||X||``, for the relative values; computed (cheaply) when the target is dense.
    optimize : str
        Path optimizer for the network contractions.

    Returns
    -------
    ResidualEstimate
        Estimate, empirical standard error, interval, probes, kind, degrees of freedom.

    Notes
    -----
    The interval treats ``p mean(z^2) / ||X - X_hat||^2`` as chi-squared with
    ``nu = 2 p / (kappa - 1)`` degrees of freedom, where ``kappa`` bounds the kurtosis
    ``E z^4 / (E z^2)^2`` (Satterthwaite's matching of the variance):

    * Gaussian probes: ``z_j`` is exactly normal, ``kappa = 3``, ``nu = p``, and the interval
      ``[sqrt(nu q / chi2_{nu,(1+c)/2}), sqrt(nu q / chi2_{nu,(1-c)/2})]`` has exactly level
      ``c`` (real data);
    * TT probes: ``kappa <= 3 prod_k (1 + 2/r_k)`` over the ``N - 1`` internal ranks (each
      Gaussian core at most multiplies the fourth moment by ``1 + 2/r``), used as is, so the
      interval is conservative: wider than needed for most tensors.
    """
    import torch
    from scipy.stats import chi2

    X, Y = _pair(target, approx)
    if isinstance(probes, bool) or not isinstance(probes, int) or probes < 2:
        raise DecompositionError(f"probes must be an integer >= 2, got {probes!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise DecompositionError(f"rank must be a positive integer, got {rank!r}")
    if not 0.0 < confidence < 1.0:
        raise DecompositionError(f"confidence must be between 0 and 1, got {confidence!r}")
    if kind == "auto":
        small = math.prod(X.dims) <= GAUSSIAN_AUTO_LIMIT
        kind = "gaussian" if small or (X.net is None and Y.net is None) else "tt"
    if kind not in ("gaussian", "tt"):
        raise DecompositionError(f"unknown probe kind {kind!r}; choose one of: auto, gaussian, tt")
    N = len(X.dims)
    ranks = [rank] * (N - 1) + [1]
    device = X.arrays[0].device
    if kind == "gaussian" and X.net is not None and Y.net is not None:
        full = math.prod(X.dims)
        if full * 8 > MEMORY_FRACTION * available_memory(device):
            raise ResourceError(
                f"Gaussian probes of {full:.3g} entries do not fit on {device}; use kind='tt'"
            )

    seeds = _probe_seeds(seed, probes)
    c = _batch_size([X, Y], kind, ranks, probes, optimize)
    zs = []
    for start in range(0, probes, c):
        chunk = seeds[start : start + c]
        if kind == "gaussian":
            w: Any = _gaussian_batch(chunk, X.dims, device)
        else:
            w = _tt_batch(chunk, X.dims, ranks, device)
        zs.append(
            _probe_values(X, kind, w, ranks, optimize) - _probe_values(Y, kind, w, ranks, optimize)
        )
    z = torch.cat(zs)
    sq = (z.abs() ** 2).to(torch.float64)
    q = float(sq.mean())
    est = math.sqrt(q)
    se_q = float(sq.std()) / math.sqrt(probes)
    std_error = se_q / (2.0 * est) if est > 0 else 0.0

    kappa = 3.0 if kind == "gaussian" else 3.0 * math.prod(1.0 + 2.0 / r for r in ranks[:-1])
    dof = 2.0 * probes / (kappa - 1.0)
    alpha = 1.0 - confidence
    lo = math.sqrt(dof * q / float(chi2.ppf(1.0 - alpha / 2.0, dof)))
    hi = math.sqrt(dof * q / float(chi2.ppf(alpha / 2.0, dof)))

    if target_norm is None and X.net is None:
        target_norm = float(torch.linalg.vector_norm(_wide(X.arrays[0], X.is_complex)))
    return ResidualEstimate(
        estimate=est,
        std_error=std_error,
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        probes=probes,
        kind=kind,
        rank=rank if kind == "tt" else None,
        dof=dof,
        target_norm=target_norm,
    )
