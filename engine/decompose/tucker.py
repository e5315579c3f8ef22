"""Tucker decompositions: truncated HOSVD, HOOI, randomized HOSVD and a one-pass sketch.

Every method returns the :func:`~tensorbench.engine.templates.tucker` network: a core
``G(r0, ..., r{N-1})`` and orthonormal factors ``U{k}(i{k}, r{k})``, so that
``X ~ G x_0 U0 x_1 U1 ... x_{N-1} U{N-1}``.

Building blocks work on the tensor as stored (C order, mode 0 slowest) and never unfold it
with a full copy (only the optional thin-SVD solver does): the mode-``k`` unfolding
``X_(k)`` is the ``(a, n_k, b)`` view of ``X`` (``a`` = product of the sizes before ``k``,
``b`` = after), so a mode product is one batched matrix product on that view, and
``X_(k) W_(k)^T`` is accumulated over blocks of ``a`` copied at most :data:`_CHUNK_BYTES`
at a time.

Errors are computed from norms: with orthonormal factors and the core ``G = X x_k U_k^T``,
``||X - X_hat||^2 = ||X||^2 - ||G||^2``. That difference cannot resolve relative errors
below about ``sqrt(eps)`` (1.5e-8 in float64, 3.5e-4 in float32), so below ten times that
the error is recomputed exactly from the dense reconstruction when memory allows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from ..device import check_memory
from ..errors import ResourceError
from ..params import Param, check_params
from ..templates import tucker as tucker_network
from .base import (
    METHODS,
    Callback,
    Decomposition,
    DecompositionError,
    IterationClock,
    check_ranks,
    register_method,
)

__all__ = ["hooi", "hosvd", "mode_product", "tucker_rand", "tucker_sketch", "tucker_to_tensor"]

#: Largest block of an unfolding copied at once (bounds the extra memory of a Gram matrix
#: or sketch to this, whatever the tensor's size).
_CHUNK_BYTES = 32 * 2**20

# --------------------------------------------------------------------------- building blocks


def _split(shape: Sequence[int], k: int) -> tuple[int, int, int]:
    """``(a, n_k, b)``: sizes before mode ``k``, of mode ``k``, after it."""
    return math.prod(shape[:k]), shape[k], math.prod(shape[k + 1 :])


def mode_product(Y: torch.Tensor, M: torch.Tensor, k: int) -> torch.Tensor:
    """``Y x_k M^T``: contract mode ``k`` of ``Y`` (size ``n``) with ``M`` of shape ``(n, s)``.

    The result has the modes of ``Y`` in the same order, mode ``k`` now of size ``s``.
    No copy of ``Y`` is made when it is contiguous.
    """
    shape = list(Y.shape)
    a, n, b = _split(shape, k)
    s = M.shape[1]
    if s % 4 and Y.device.type == "cpu" and Y.numel() >= 2**16:
        # OpenBLAS runs these thin products up to 2x slower when the thin side is not a
        # multiple of 4 (measured: 10 columns 40-53 ms, 12 columns 28 ms on a 300^3
        # tensor); zero columns cost less than the slow kernel.
        M = torch.nn.functional.pad(M, (0, 4 - s % 4))
        out = mode_product(Y, M, k)
        return out.narrow(k, 0, s).contiguous()
    if b == 1:
        # (M^T Y^T)^T: BLAS is about twice as fast with the long dimension last. The
        # transpose is copied once here: left as a strided view, every later reshape of the
        # result copied it again (three 7 ms copies in tucker_rand's presketch on 300^3).
        out = (M.T @ Y.reshape(a, n).T).T.contiguous()
    elif a == 1:
        out = M.T @ Y.reshape(n, b)
    else:
        out = torch.matmul(M.T, Y.reshape(a, n, b))  # batched over a, M broadcast
    shape[k] = M.shape[1]
    return out.reshape(shape)


def _contract_others(Y: torch.Tensor, W: torch.Tensor, k: int) -> torch.Tensor:
    """``Y_(k) W_(k)^T`` (``n x s``): contract every mode but ``k``.

    ``Y`` and ``W`` have the same sizes except in mode ``k``. ``W is Y`` gives the Gram
    matrix of the unfolding. Blocks are copied at most :data:`_CHUNK_BYTES` at a time.
    """
    a, n, b = _split(Y.shape, k)
    s = W.shape[k]
    # Products are written with the long dimension last (W^T Y, then transposed): BLAS runs
    # them about twice as fast as the same product the other way round.
    if a == 1:
        return (W.reshape(s, b) @ Y.reshape(n, b).T).T.contiguous()
    if b == 1:
        return (W.reshape(a, s).T @ Y.reshape(a, n)).T.contiguous()
    y3, w3 = Y.reshape(a, n, b), W.reshape(a, s, b)
    out = Y.new_zeros(n, s)
    if s < b and W is not Y:
        # Thin W: batched products summed over a; the (c, n, s) partials are smaller than
        # copies of the blocks would be.
        step = max(1, _CHUNK_BYTES // (n * s * Y.element_size()))
        for a0 in range(0, a, step):
            out += torch.bmm(y3[a0 : a0 + step], w3[a0 : a0 + step].transpose(1, 2)).sum(0)
        return out
    step = max(1, _CHUNK_BYTES // ((n + s) * b * Y.element_size()))
    for a0 in range(0, a, step):
        yc = y3[a0 : a0 + step].transpose(0, 1).reshape(n, -1)
        wc = yc if W is Y else w3[a0 : a0 + step].transpose(0, 1).reshape(s, -1)
        out.addmm_(yc, wc.T)
    return out


def _leading(Y: torch.Tensor, k: int, solver: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Left singular vectors of ``Y_(k)`` (descending) and the squared singular values.

    ``solver="gram"``: eigendecomposition of the ``n x n`` Gram matrix ``Y_(k) Y_(k)^T``,
    one matrix product (``n^2 m`` flops, BLAS speed) plus an ``n^3`` eigh; it squares the
    condition number, so singular values below ``sqrt(eps) * sigma_1`` are not resolved.
    ``solver="svd"``: thin SVD of the unfolding (a full copy, and LAPACK's bidiagonalization
    is several times slower than a matrix product). ``"auto"`` takes the Gram matrix when
    ``n <= m`` (the usual wide unfolding: the Gram matrix is small) and the SVD otherwise
    (the Gram matrix would be larger than the unfolding itself).
    """
    a, n, b = _split(Y.shape, k)
    m = a * b
    used = solver if solver != "auto" else ("gram" if n <= m else "svd")
    if used == "gram":
        evals, evecs = torch.linalg.eigh(_contract_others(Y, Y, k))
        sq = evals.flip(0).double()
        # Eigenvalues within the Gram matrix's rounding (n eps lambda_max) are zeros.
        floor = n * torch.finfo(Y.dtype).eps * float(sq[0]) if n else 0.0
        return evecs.flip(1), torch.where(sq > floor, sq, 0.0), used
    unfolded = Y.movedim(k, 0).reshape(n, m)
    u, sv, _ = torch.linalg.svd(unfolded, full_matrices=False)
    return u, sv.double() ** 2, used


def _order(factors: Sequence[torch.Tensor | None], shrink: bool = True) -> list[int]:
    """Mode order for a chain of mode products: the largest size reduction first.

    ``shrink=False`` orders an expansion (core to full tensor): smallest growth first.
    """
    modes = [k for k, u in enumerate(factors) if u is not None]
    ratio = {k: factors[k].shape[1] / factors[k].shape[0] for k in modes}  # type: ignore[union-attr]
    return sorted(modes, key=lambda k: ratio[k] if shrink else -ratio[k])


def _project(X: torch.Tensor, factors: Sequence[torch.Tensor | None]) -> torch.Tensor:
    """``X x_k U_k^T`` over every mode whose factor is not None."""
    Y = X
    for k in _order(factors):
        Y = mode_product(Y, factors[k], k)  # type: ignore[arg-type]
    return Y


def tucker_to_tensor(core: torch.Tensor, factors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The dense tensor ``core x_0 U0 x_1 U1 ...`` (factors of shape ``(n_k, r_k)``)."""
    Y = core
    # Expansions grow the tensor: apply the smallest growth first.
    for k in sorted(range(len(factors)), key=lambda k: factors[k].shape[0] / factors[k].shape[1]):
        Y = mode_product(Y, factors[k].T, k)
    return Y


def _sqnorm(X: torch.Tensor) -> float:
    """``||X||^2`` accumulated in float64 (float32 input in blocks, never a full copy)."""
    flat = X.reshape(-1)
    if X.dtype == torch.float64:
        return float(torch.linalg.vector_norm(flat)) ** 2
    step = _CHUNK_BYTES // 8
    return float(
        sum(
            torch.linalg.vector_norm(flat[i : i + step].double()) ** 2
            for i in range(0, flat.numel(), step)
        )
    )


def _chain_elems(shape: Sequence[int], ranks: Sequence[int], modes: Iterable[int]) -> int:
    """Entries of all intermediates of a projection chain (an upper bound on its peak)."""
    shape, total = list(shape), 0
    for k in modes:
        shape[k] = ranks[k]
        total += math.prod(shape)
    return total


def _reserve(X: torch.Tensor, elems: int, what: str, hint: str) -> None:
    """Refuse before allocating when ``elems`` more entries would not fit on X's device."""
    check_memory(elems * X.element_size(), X.device, what, hint)


def _rel_error(
    X: torch.Tensor,
    nx2: float,
    core: torch.Tensor,
    factors: Sequence[torch.Tensor],
    inner: float | None = None,
) -> float:
    """``||X - core x U|| / ||X||`` for orthonormal factors, from norms.

    ``inner`` is ``<X x_k U_k^T, core>``; None means the core is that projection, so the
    inner product is ``||core||^2``. Below ten times ``sqrt(eps)`` the difference of norms
    is mostly rounding, so the residual is formed densely instead (if memory allows).
    """
    if nx2 == 0.0:
        return 0.0
    g2 = float(torch.linalg.vector_norm(core.double())) ** 2
    ip = g2 if inner is None else inner
    est = math.sqrt(max(nx2 - 2.0 * ip + g2, 0.0) / nx2)
    if est >= 10.0 * math.sqrt(torch.finfo(X.dtype).eps):
        return est
    try:
        _reserve(X, X.numel() + core.numel() * 2, "an exact residual", "")
    except ResourceError:
        return est
    resid = tucker_to_tensor(core, factors)
    resid.sub_(X)
    return math.sqrt(_sqnorm(resid) / nx2)


# --------------------------------------------------------------------------- validation


def _params(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """Validate a method's parameters against its registered specs."""
    return check_params(METHODS[name].params, given, name, DecompositionError)


def _prepare(X: Any, method: str, norm: bool = True) -> tuple[torch.Tensor, float]:
    """Check X (a finite real float tensor of order >= 2); return it contiguous and ``||X||^2``."""
    if not isinstance(X, torch.Tensor):
        raise DecompositionError(
            f"{method}: X must be a torch.Tensor, got {type(X).__name__}; "
            "convert with torch.as_tensor(X, dtype=torch.float64)"
        )
    if X.dtype not in (torch.float32, torch.float64):
        raise DecompositionError(
            f"{method}: X has dtype {X.dtype}; Tucker methods need float32 or float64 "
            "(convert with X.double())"
        )
    if X.ndim < 2:
        raise DecompositionError(
            f"{method}: X has {X.ndim} mode(s); a Tucker decomposition needs at least 2"
        )
    if X.numel() == 0:
        raise DecompositionError(f"{method}: X has a mode of size 0 (shape {tuple(X.shape)})")
    X = X.detach().contiguous()
    nx2 = _sqnorm(X) if norm else 0.0
    if norm:
        _check_finite(X, nx2, method)
    return X, nx2


def _check_finite(X: torch.Tensor, nx2: float, method: str) -> None:
    # A NaN or inf anywhere makes the norm non-finite: one reduction instead of a mask.
    if math.isfinite(nx2):
        return
    if not bool(torch.isfinite(X).all()):
        raise DecompositionError(
            f"{method}: X contains NaN or infinite entries; remove or impute them first"
        )
    raise DecompositionError(f"{method}: X's squared norm overflows; rescale X first")


def _resolve_ranks(X: torch.Tensor, ranks: Any, method: str) -> list[int]:
    """One rank per mode, each at most its mode's size and the product of the others.

    One int means "this rank, or the whole mode where the mode is smaller" (so ``ranks=10``
    works on an RGB image); a list is taken as given and checked.
    """
    if ranks is None:
        raise DecompositionError(f"{method}: give ranks (one int for every mode, or one per mode)")
    caps = [min(n, X.numel() // n) for n in X.shape]
    if isinstance(ranks, int) and not isinstance(ranks, bool) and ranks >= 1:
        return [min(ranks, c) for c in caps]
    rs = check_ranks(ranks, X.ndim, f"{method}: ranks")
    for k, r in enumerate(rs):
        n = X.shape[k]
        if r > n:
            raise DecompositionError(
                f"{method}: ranks[{k}]={r} exceeds mode {k}'s size {n}; use at most {n}"
            )
        if r > caps[k]:
            raise DecompositionError(
                f"{method}: ranks[{k}]={r} exceeds the product of the other modes' sizes "
                f"({caps[k]}); use at most {caps[k]}"
            )
    return rs


def _per_mode(value: Any, dims: Sequence[int], what: str) -> list[int] | None:
    """None, or one size per mode (one int: that size capped at each mode's size)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return [min(value, n) for n in dims]
    return check_ranks(value, len(dims), what)


def _result(
    method: str,
    core: torch.Tensor,
    factors: list[torch.Tensor],
    clock: IterationClock,
    info: dict[str, Any],
) -> Decomposition:
    dims = [u.shape[0] for u in factors]
    ranks = [u.shape[1] for u in factors]
    net = tucker_network(dims, ranks)
    cores = [core.contiguous()] + [u.contiguous() for u in factors]
    return Decomposition(method, net, cores, clock.history, {"ranks": ranks, **info})


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


_RANKS = Param(
    "ranks",
    "ints",
    10,
    "core sizes: one per mode, or one value for every mode (capped at each mode's size)",
)
_RANKS_OR_TOL = Param(
    "ranks",
    "ints",
    10,
    "core sizes: one per mode, or one value for every mode (capped at each mode's size); "
    "ignored when rel_tol is given",
)
_REL_TOL = Param(
    "rel_tol",
    "float",
    None,
    "replaces ranks: the smallest ranks whose HOSVD error bound is at most this",
    min=0.0,
    max=1.0,
)
_SOLVER = Param(
    "solver",
    "choice",
    "auto",
    "singular vectors from the Gram matrix's eigh (fast) or a thin SVD (accurate below "
    "sqrt(eps)); auto: Gram unless a mode is larger than the product of the others",
    choices=("auto", "gram", "svd"),
)


# --------------------------------------------------------------------------- HOSVD


def _hosvd_factors(
    X: torch.Tensor,
    nx2: float,
    ranks: Any,
    rel_tol: float | None,
    solver: str,
    method: str,
) -> tuple[list[torch.Tensor], dict[str, Any]]:
    """Truncated HOSVD factors, by fixed ranks or by the relative-error target."""
    n_modes = X.ndim
    rs = _resolve_ranks(X, ranks, method) if rel_tol is None else None
    dims = list(X.shape)
    grams = max(min(n, X.numel() // n) ** 2 for n in dims)
    extra = grams + _CHUNK_BYTES // X.element_size()
    if solver == "svd" or any(n > X.numel() // n for n in dims):
        extra += X.numel()  # an unfolding copied for the SVD
    _reserve(X, extra + X.numel(), f"{method} of a {tuple(dims)} tensor", "use smaller ranks")
    factors, used, tails = [], [], []
    # rel_tol spread evenly: sum over modes of the discarded energy <= rel_tol^2 ||X||^2.
    budget = 0.0 if rel_tol is None else rel_tol**2 * nx2 / n_modes
    for k in range(n_modes):
        u, sq, how = _leading(X, k, solver)
        if rs is not None:
            r = rs[k]
        else:
            tail = sq.flip(0).cumsum(0).flip(0)  # tail[r] = sum_{i >= r} sigma_i^2
            r = max(1, int((tail > budget).sum()))
        factors.append(u[:, :r])
        used.append(how)
        tails.append(float(sq[r:].sum()))
    bound = math.sqrt(sum(tails) / nx2) if nx2 > 0 else 0.0
    return factors, {"solver": used, "hosvd_bound": bound}


@register_method(
    "hosvd",
    "tucker",
    _RANKS_OR_TOL,
    _REL_TOL,
    _SOLVER,
    doc="truncated HOSVD: leading singular vectors of every unfolding, core by projection",
)
def hosvd(
    X: torch.Tensor,
    *,
    seed: int = 0,
    callback: Callback | None = None,
    ranks: int | Sequence[int] = 10,
    rel_tol: float | None = None,
    solver: str = "auto",
) -> Decomposition:
    """Truncated higher-order SVD (De Lathauwer, De Moor & Vandewalle 2000).

    ``U_k`` holds the ``r_k`` leading left singular vectors of the unfolding ``X_(k)``;
    the core is the multilinear projection ``G = X x_0 U0^T ... x_{N-1} U{N-1}^T``.

    Parameters
    ----------
    X : torch.Tensor
        Real float32/float64 tensor of order >= 2; the work stays on its device and dtype.
    seed : int
        Unused (deterministic); accepted for the common signature.
    callback : callable, optional
        Called once with ``{"iter": 1, "rel_error", "elapsed"}``; may raise ``Cancelled``.
    ranks : int or list of int
        Core sizes, one per mode; one int (default 10) means that rank for every mode,
        capped at each mode's size. A list is checked: a rank above its mode's size (or the
        product of the other sizes) raises.
    rel_tol : float, optional
        Replaces ``ranks`` when given: per mode, the smallest rank whose discarded squared singular
        values are at most ``rel_tol^2 ||X||^2 / N``, which guarantees
        ``rel_error <= rel_tol`` by the bound below.
    solver : {"auto", "gram", "svd"}
        How the singular vectors are computed. ``auto`` uses the eigendecomposition of the
        Gram matrix ``X_(k) X_(k)^T`` when ``n_k`` is at most the product ``m_k`` of the other
        sizes: one BLAS-3 product of ``n_k^2 m_k`` flops and a small ``n_k x n_k`` eigh,
        with no copy of the tensor, several times faster than a thin SVD of the
        ``n_k x m_k`` unfolding. The Gram matrix squares the conditioning, so singular values
        below ``sqrt(eps) sigma_1`` are lost (matters for float32 with ``rel_tol`` < 1e-3):
        pick ``svd`` then. When ``n_k > m_k`` auto uses the thin SVD (the Gram matrix would
        be larger than the unfolding).

    Returns
    -------
    Decomposition
        Tucker network; ``info`` holds ``ranks``, the per-mode ``solver`` and
        ``hosvd_bound``, the a priori bound ``sqrt(sum_k sum_{i > r_k} sigma_i(X_(k))^2) /
        ||X||`` that the error never exceeds.

    Notes
    -----
    One pass, no iterations: the stopping rule is "done". The error is from norms
    (``||X||^2 - ||G||^2``), exact below ``10 sqrt(eps)`` (see the module notes).
    """
    p = _params("hosvd", {"ranks": ranks, "rel_tol": rel_tol, "solver": solver})
    clock = IterationClock(callback)
    X, nx2 = _prepare(X, "hosvd")
    with torch.no_grad():
        factors, info = _hosvd_factors(X, nx2, p["ranks"], p["rel_tol"], p["solver"], "hosvd")
        core = _project(X, factors)
        clock.record(iter=1, rel_error=_rel_error(X, nx2, core, factors))
    return _result("hosvd", core, factors, clock, info)


# --------------------------------------------------------------------------- HOOI


@register_method(
    "hooi",
    "tucker",
    _RANKS_OR_TOL,
    _REL_TOL,
    _SOLVER,
    Param(
        "tol", "float", 1e-8, "stop when the fit (1 - rel_error) changes by less", min=0.0, max=1.0
    ),
    Param("max_iter", "int", 50, "most sweeps over the modes", min=1, max=10000),
    doc="higher-order orthogonal iteration (ALS on the factors) started from the HOSVD",
)
def hooi(
    X: torch.Tensor,
    *,
    seed: int = 0,
    callback: Callback | None = None,
    ranks: int | Sequence[int] = 10,
    rel_tol: float | None = None,
    solver: str = "auto",
    tol: float = 1e-8,
    max_iter: int = 50,
) -> Decomposition:
    """Higher-order orthogonal iteration (De Lathauwer, De Moor & Vandewalle 2000).

    Starts from :func:`hosvd`; each sweep replaces ``U_k``, mode after mode, by the leading
    left singular vectors of ``(X x_{j != k} U_j^T)_(k)``, which maximizes ``||G||`` over
    ``U_k`` with the others fixed, so the error never increases.

    Parameters
    ----------
    X, seed, callback, ranks, rel_tol, solver
        As in :func:`hosvd` (``rel_tol`` picks the ranks from the HOSVD, then iterates).
        The callback gets ``iter`` 0 for the HOSVD start and ``k`` after sweep ``k``.
    tol : float
        Stopping rule: stop once the fit ``1 - rel_error`` changes by less than ``tol``
        between two sweeps.
    max_iter : int
        Or after this many sweeps (``info["converged"]`` is then False).

    Returns
    -------
    Decomposition
        ``info`` adds ``iterations`` and ``converged``.
    """
    p = _params(
        "hooi",
        {"ranks": ranks, "rel_tol": rel_tol, "solver": solver, "tol": tol, "max_iter": max_iter},
    )
    clock = IterationClock(callback)
    X, nx2 = _prepare(X, "hooi")
    with torch.no_grad():
        factors, info = _hosvd_factors(X, nx2, p["ranks"], p["rel_tol"], p["solver"], "hooi")
        rs = [u.shape[1] for u in factors]
        n_modes = X.ndim
        _reserve(
            X,
            max(
                _chain_elems(X.shape, rs, _order([*factors[:k], None, *factors[k + 1 :]]))
                for k in range(n_modes)
            ),
            f"hooi of a {tuple(X.shape)} tensor",
            "use smaller ranks",
        )
        core = _project(X, factors)
        err = _rel_error(X, nx2, core, factors)
        clock.record(iter=0, rel_error=err)
        converged, it = False, 0
        for it in range(1, p["max_iter"] + 1):
            for k in range(n_modes):
                y = _project(X, [*factors[:k], None, *factors[k + 1 :]])
                u, _sq, _how = _leading(y, k, p["solver"])
                factors[k] = u[:, : rs[k]].contiguous()
            core = mode_product(y, factors[-1], n_modes - 1)
            new = _rel_error(X, nx2, core, factors)
            clock.record(iter=it, rel_error=new)
            if abs(new - err) < p["tol"]:  # |change of fit| = |change of error|
                err, converged = new, True
                break
            err = new
    return _result("hooi", core, factors, clock, {**info, "iterations": it, "converged": converged})


# --------------------------------------------------------------------------- randomized


def _orth_others(Z: torch.Tensor, k: int) -> torch.Tensor:
    """Orthonormalize the rows of ``Z_(k)`` (the columns of ``A^T Q``) in tensor form."""
    s = Z.shape[k]
    moved = Z.movedim(k, -1)
    q = torch.linalg.qr(moved.reshape(-1, s)).Q
    return q.reshape(moved.shape).movedim(-1, k).contiguous()


@register_method(
    "tucker_rand",
    "tucker",
    _RANKS,
    Param("oversample", "int", 10, "extra random columns beyond the rank, per mode", min=0),
    Param("power_iters", "int", 1, "power (subspace) iterations per mode", min=0, max=20),
    Param(
        "sequential",
        "bool",
        True,
        "truncate the tensor after each mode (ST-HOSVD): much cheaper, same error bound",
    ),
    Param(
        "presketch",
        "bool",
        True,
        "first mode: find its range on X with one other mode sketched (one pass over X)",
    ),
    doc="randomized HOSVD: a Gaussian range finder with power iterations for every unfolding",
    sketched=True,
    exact_counterpart="hosvd",
)
def tucker_rand(
    X: torch.Tensor,
    *,
    seed: int = 0,
    callback: Callback | None = None,
    ranks: int | Sequence[int] = 10,
    oversample: int = 10,
    power_iters: int = 1,
    sequential: bool = True,
    presketch: bool = True,
) -> Decomposition:
    """Randomized HOSVD with the range finder of Halko, Martinsson & Tropp (2011).

    Per mode ``k`` with ``A = Y_(k)`` (``n_k x m``): ``Omega`` Gaussian ``m x l`` with
    ``l = r_k + oversample``; ``Q = orth(A Omega)``; ``power_iters`` times
    ``Q = orth(A orth(A^T Q))`` (re-orthonormalized each half step, which keeps the small
    singular values from being swamped by rounding); then ``B = Q^T A`` and
    ``U_k = Q W_r`` with ``W_r`` the ``r_k`` leading left singular vectors of the ``l x m``
    matrix ``B`` (from its ``l x l`` Gram matrix). ``A`` is never unfolded by a copy and no
    ``n x m`` matrix other than the data is formed; the largest allocations are ``m x l``
    (``Omega``, ``A^T Q`` and ``B``), a fraction ``l / n_k`` of the data.

    Parameters
    ----------
    X, seed, callback
        As in :func:`hosvd`; ``seed`` seeds every Gaussian matrix (a ``torch.Generator`` on
        X's device); one callback record (``iter`` 1) at the end.
    ranks : int or list of int
        Core sizes, as in :func:`hosvd` (default 10 per mode, capped at each mode's size).
    oversample : int
        Default 10 (``l = r + 10``): Halko et al.'s recommendation; the expected error is
        within ``1 + r / (p - 1)`` of the optimal rank-``r`` error (before power iterations).
    power_iters : int
        Default 1: on a flat noisy spectrum one iteration brings the sampled subspace
        close to the SVD's at twice the cost; 0 is the cheapest and fine for fast decays.
    sequential : bool
        Default True: sequentially truncated HOSVD (Vannieuwenhoven, Vandebril & Meerbergen
        2012). After mode ``k`` the working tensor is replaced by ``Y x_k U_k^T``, which is
        ``B`` already computed, multiplied by the small ``W_r``, so each later mode works on
        a tensor shrunk by ``r_k / n_k``; modes go in order of largest shrinkage. The total
        cost is then dominated by the first mode, instead of ``N`` full-size passes, and the
        classical HOSVD error bound still holds. False: every mode samples ``X`` itself (the
        randomized analogue of the truncated HOSVD) and the core is projected at the end.
    presketch : bool
        Default True (with ``sequential``): the first mode ``k``'s range is found on
        ``Z = X x_j Omega_j^T`` rather than on ``X``, where ``j`` is the largest other mode and
        ``Omega_j`` a Gaussian ``n_j x (r_j + oversample)`` matrix -- a Kronecker-structured
        embedding ``Omega_j (x) I`` of ``X_(k)``'s columns, far wider than the range finder's
        own ``l`` columns, so its leading subspace is close to ``X_(k)``'s without power
        iterations on ``X``. The range finder with its power iterations then runs on ``Z``
        (``(r_j + oversample) / n_j`` of ``X``'s size), and ``X`` itself is read twice in all:
        once for ``Z`` and once for ``X x_k U_k^T``, instead of ``2 (1 + power_iters)``
        times. Used only where it saves work (``n_j >= 4 (r_j + oversample)``).

    Returns
    -------
    Decomposition
        ``info`` adds ``sample_sizes`` (``l`` per mode), ``mode_order`` and ``sequential``.

    Notes
    -----
    No iterations to stop: each mode costs ``2 (1 + power_iters)`` products of the working
    tensor with an ``l``-column matrix. The error is from norms, as in :func:`hosvd`.
    """
    p = _params(
        "tucker_rand",
        {
            "ranks": ranks,
            "oversample": oversample,
            "power_iters": power_iters,
            "sequential": sequential,
            "presketch": presketch,
        },
    )
    clock = IterationClock(callback)
    X, nx2 = _prepare(X, "tucker_rand")
    rs = _resolve_ranks(X, p["ranks"], "tucker_rand")
    n_modes = X.ndim
    modes = list(range(n_modes))
    if p["sequential"]:
        modes.sort(key=lambda k: rs[k] / X.shape[k])
    # Peak: the random matrix, A^T Q and its orthonormal copy, B and the chain's tensors.
    widths = [min(rs[k] + p["oversample"], X.shape[k], X.numel() // X.shape[k]) for k in modes]
    big = max(4 * (X.numel() // X.shape[k]) * w for k, w in zip(modes, widths, strict=True))
    _reserve(
        X,
        big + _chain_elems(X.shape, rs, modes) + _CHUNK_BYTES // X.element_size(),
        f"tucker_rand of a {tuple(X.shape)} tensor",
        "use smaller ranks or a smaller oversample",
    )
    gen = _generator(seed, X.device)
    factors: list[torch.Tensor | None] = [None] * n_modes
    sizes = [0] * n_modes
    presketched: int | None = None
    with torch.no_grad():
        y = X
        for k in modes:
            src = y if p["sequential"] else X
            full_src = src
            if p["presketch"] and p["sequential"] and k == modes[0] and n_modes > 1:
                # The largest other mode; on ties not the last one, whose product comes out
                # transposed and costs a copy (the first mode's is just as fast).
                j = max(
                    (i for i in range(n_modes) if i != k),
                    key=lambda i: (X.shape[i], i != n_modes - 1, i),
                )
                wj = min(rs[j] + p["oversample"], X.shape[j])
                if 4 * wj <= X.shape[j]:
                    omega_j = torch.randn(
                        X.shape[j], wj, generator=gen, device=X.device, dtype=X.dtype
                    )
                    src = mode_product(X, omega_j, j)  # one pass: X x_j Omega_j^T
                    presketched = j
                    del omega_j
            n = src.shape[k]
            width = min(rs[k] + p["oversample"], n, src.numel() // n)
            sizes[k] = width
            shape = list(src.shape)
            shape[k] = width
            omega = torch.randn(shape, generator=gen, device=X.device, dtype=X.dtype)
            q = torch.linalg.qr(_contract_others(src, omega, k)).Q
            del omega
            for _ in range(p["power_iters"]):
                z = _orth_others(mode_product(src, q, k), k)
                q = torch.linalg.qr(_contract_others(src, z, k)).Q
                del z
            b = mode_product(src, q, k)  # Q^T A, in tensor form
            _evals, w = torch.linalg.eigh(_contract_others(b, b, k))
            w = w[:, -rs[k] :].flip(1)
            factors[k] = (q @ w).contiguous()
            if p["sequential"]:
                if src is full_src:
                    y = mode_product(b, w, k)  # = Y x_k U_k^T, from the small B
                else:  # B was of the sketch: project X itself (its second and last pass)
                    y = mode_product(full_src, factors[k], k)
            del b, src
        full = [u for u in factors if u is not None]
        core = y if p["sequential"] else _project(X, full)
        clock.record(iter=1, rel_error=_rel_error(X, nx2, core, full))
    return _result(
        "tucker_rand",
        core,
        full,
        clock,
        {
            "sample_sizes": sizes,
            "mode_order": modes,
            "sequential": p["sequential"],
            "presketched_mode": presketched,
        },
    )


# --------------------------------------------------------------------------- one-pass sketch


@register_method(
    "tucker_sketch",
    "tucker",
    _RANKS,
    Param(
        "factor_sketch",
        "ints",
        None,
        "k: columns of each unfolding's sketch, one value or one per mode (default 2r+1)",
    ),
    Param(
        "core_sketch",
        "ints",
        None,
        "s: size per mode of the core sketch, one value or one per mode (default 2k+1)",
    ),
    doc="one-pass sketched Tucker (Sun et al. 2020): factor and core sketches in one pass",
    sketched=True,
    exact_counterpart="hosvd",
)
def tucker_sketch(
    X: torch.Tensor,
    *,
    seed: int = 0,
    callback: Callback | None = None,
    ranks: int | Sequence[int] = 10,
    factor_sketch: int | Sequence[int] | None = None,
    core_sketch: int | Sequence[int] | None = None,
) -> Decomposition:
    """One-pass Tucker from linear sketches (Sun, Guo, Luo, Tropp & Udell 2020).

    In a single pass over ``X`` (slabs along mode 0, each read once) it collects

    * factor sketches ``G_n = X_(n) Omega_n`` (``n_n x k_n``), ``Omega_n`` Gaussian;
    * the core sketch ``Z = X x_0 Phi_0^T ... x_{N-1} Phi_{N-1}^T`` (``s_0 x ... x s_{N-1}``),
      ``Phi_n`` Gaussian ``n_n x s_n`` (a Kronecker-structured map);
    * ``||X||^2``.

    From the sketches alone: ``Q_n = orth(G_n)``, core
    ``W = Z x_n (Phi_n^T Q_n)^+`` (least squares per mode), then the best rank-``r``
    truncation of the small Tucker tensor ``[W; Q_n]`` by a HOSVD of ``W``:
    ``W ~ C x_n V_n``, factors ``U_n = Q_n V_n``.

    Parameters
    ----------
    X, seed, callback
        As in :func:`hosvd`; ``seed`` seeds every random map. One record (``iter`` 1).
    ranks : int or list of int
        Core sizes, as in :func:`hosvd` (default 10 per mode, capped at each mode's size).
    factor_sketch : int or list of int, optional
        ``k_n`` (``r_n <= k_n <= n_n``). Default ``min(2 r_n + 1, n_n)``.
    core_sketch : int or list of int, optional
        ``s_n`` (``k_n <= s_n <= n_n``). Default ``min(2 k_n + 1, n_n)``.

    Returns
    -------
    Decomposition
        ``info`` adds ``factor_sketch``, ``core_sketch``, ``sketch_entries`` (memory of the
        sketches) and ``rel_error_two_pass``: the error with the core re-projected from X
        (what a second pass would give, free here since the diagnostic already projects).

    Notes
    -----
    Default sizes ``k = 2r + 1``, ``s = 2k + 1`` follow Tropp et al.'s streaming
    recommendations. Guarantee (Sun et al. 2020, Thm. 5.1, Gaussian maps, ``s >= 2k + 1``),
    for the approximation before truncation and any ``rho < k - 1``:
    ``E ||X - X_hat||^2 <= (1 + k/(s - k - 1)) sum_n (1 + rho/(k - rho - 1)) tau_rho^2(X_(n))``
    with ``tau_rho^2`` the energy beyond the ``rho`` leading singular values. With the
    defaults and ``rho = r`` both factors are 2: the expected squared error is at most 4
    times the HOSVD bound's squared value (2x the error bound). An input of exact multilinear
    rank ``<= k`` is recovered exactly (with probability 1). The rank-``r`` truncation then
    adds at most the error of truncating ``[W; Q_n]``.

    Measured (30 x 35 x 40, multilinear rank (3, 4, 5) plus 5% Gaussian noise): the error
    is 2-3x HOSVD's. One pass allows no power iteration, and on a flat noise floor a
    ``2r + 1``-column sketch catches the weaker signal directions only up to an angle of
    about noise/signal; larger ``k`` helps slowly (``k = 6r + 1``: 1.3x). When X can be read
    more than once, :func:`tucker_rand` reaches HOSVD's error at a similar cost.

    No iterations. ``rel_error`` is exact but costs one more projection of ``X`` (a
    diagnostic; the decomposition itself never reads X twice). Memory: ``Omega_0``
    (``k_0 prod_{j>0} n_j`` entries; the other ``Omega_n`` are drawn slab by slab), the
    sketches (``sum_n n_n k_n + prod_n s_n``) and one slab.
    """
    p = _params(
        "tucker_sketch",
        {"ranks": ranks, "factor_sketch": factor_sketch, "core_sketch": core_sketch},
    )
    clock = IterationClock(callback)
    X, _ = _prepare(X, "tucker_sketch", norm=False)
    rs = _resolve_ranks(X, p["ranks"], "tucker_sketch")
    dims = list(X.shape)
    n_modes = len(dims)
    ks = _per_mode(p["factor_sketch"], dims, "tucker_sketch: factor_sketch")
    ks = [min(2 * r + 1, n) for r, n in zip(rs, dims, strict=True)] if ks is None else ks
    ss = _per_mode(p["core_sketch"], dims, "tucker_sketch: core_sketch")
    ss = [min(2 * k + 1, n) for k, n in zip(ks, dims, strict=True)] if ss is None else ss
    for j in range(n_modes):
        if not rs[j] <= ks[j] <= dims[j]:
            raise DecompositionError(
                f"tucker_sketch: factor_sketch[{j}]={ks[j]} must be between ranks[{j}]={rs[j]} "
                f"and mode {j}'s size {dims[j]}"
            )
        if not ks[j] <= ss[j] <= dims[j]:
            raise DecompositionError(
                f"tucker_sketch: core_sketch[{j}]={ss[j]} must be between factor_sketch[{j}]="
                f"{ks[j]} and mode {j}'s size {dims[j]}"
            )
    rest0 = X.numel() // dims[0]
    step = max(1, _CHUNK_BYTES // (rest0 * X.element_size()))
    slab = min(step, dims[0]) * rest0
    sketch_entries = sum(n * k for n, k in zip(dims, ks, strict=True)) + math.prod(ss)
    growth = max([1.0] + [s / n for s, n in zip(ss, dims, strict=True)]) * n_modes
    _reserve(
        X,
        rest0 * ks[0]
        + sketch_entries
        + int(slab * (3 + growth + max(ks) / min(dims)))
        + _chain_elems(dims, rs, range(n_modes)),
        f"tucker_sketch of a {tuple(dims)} tensor",
        "use smaller ranks or sketch sizes",
    )
    dev, dt = X.device, X.dtype
    gen = _generator(seed, dev)
    # Mode n >= 1 draws its Omega_n slab by slab from its own stream; seeds come from `gen`.
    sub_seeds = torch.randint(0, 2**62, (n_modes,), generator=gen, device=dev).tolist()
    gens = [None] + [_generator(s, dev) for s in sub_seeds[1:]]
    phis = [
        torch.randn(n, s, generator=gen, device=dev, dtype=dt)
        for n, s in zip(dims, ss, strict=True)
    ]
    omega0 = torch.randn(rest0, ks[0], generator=gen, device=dev, dtype=dt)
    with torch.no_grad():
        sk = [X.new_zeros(n, k) for n, k in zip(dims, ks, strict=True)]
        z = X.new_zeros(ss)
        nx2 = 0.0
        later = sorted(range(1, n_modes), key=lambda j: ss[j] / dims[j])
        for i0 in range(0, dims[0], step):
            slab_x = X[i0 : i0 + step]
            c = slab_x.shape[0]
            nx2 += _sqnorm(slab_x)
            sk[0][i0 : i0 + c] = slab_x.reshape(c, rest0) @ omega0
            for j in range(1, n_modes):
                shape = list(slab_x.shape)
                shape[j] = ks[j]
                om = torch.randn(shape, generator=gens[j], device=dev, dtype=dt)
                sk[j] += _contract_others(slab_x, om, j)
            t = slab_x
            for j in later:
                t = mode_product(t, phis[j], j)
            z += mode_product(t, phis[0][i0 : i0 + c], 0)
        del omega0
        _check_finite(X, nx2, "tucker_sketch")
        qs = [torch.linalg.qr(g).Q for g in sk]
        w = z
        for j in range(n_modes):
            w = mode_product(w, torch.linalg.pinv(phis[j].T @ qs[j]).T, j)
        vs = [_leading(w, j, "auto")[0][:, : rs[j]] for j in range(n_modes)]
        core = _project(w, vs)
        factors = [(q @ v).contiguous() for q, v in zip(qs, vs, strict=True)]
        # Diagnostic second look at X: <X, X_hat> = <X x U^T, C>.
        proj = _project(X, factors)
        inner = float((proj.double() * core.double()).sum())
        err = _rel_error(X, nx2, core, factors, inner=inner)
        p2 = float(torch.linalg.vector_norm(proj.double())) ** 2
        two_pass = math.sqrt(max(nx2 - p2, 0.0) / nx2) if nx2 > 0 else 0.0
        clock.record(iter=1, rel_error=err)
    return _result(
        "tucker_sketch",
        core,
        factors,
        clock,
        {
            "factor_sketch": ks,
            "core_sketch": ss,
            "sketch_entries": sketch_entries,
            "rel_error_two_pass": two_pass,
        },
    )
