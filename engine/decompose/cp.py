"""CP decompositions: exact ALS and sampled ALS (leverage-score and uniform row sampling).

All methods fit ``X ~ sum_r lambda[r] U0[:, r] o U1[:, r] o ... o U{N-1}[:, r]`` and return
the :func:`~tensorbench.engine.templates.cp` network with weights: factors ``U{k}`` of shape
``(I_k, R)`` joined by the hyperedge ``r``, and the weight vector ``lambda`` of shape ``(R,)``.

Normalization of the returned cores (canonical up to CP's essential non-uniqueness):
every factor column has unit 2-norm and the scale lives in ``lambda`` (>= 0); components are
sorted by decreasing weight; in every component the entry of largest magnitude of
``U0 .. U{N-2}`` is positive (a sign flip is paid for in ``U{N-1}``).

Errors are computed from norms and inner products, never from the dense reconstruction:
``||X - Xh||^2 = ||X||^2 - 2 <X, Xh> + ||Xh||^2`` with ``<X, Xh>`` from an MTTKRP the
iteration needs anyway and ``||Xh||^2`` from the ``R x R`` Gram matrices. That difference
loses accuracy once the relative error nears ``sqrt(eps)``, so below ``10 sqrt(eps)``
(1.5e-7 in float64, 3.5e-3 in float32) the residual is summed directly, in chunks.

MTTKRPs (``X_(n) (U_{N-1} (.) ... (.) U_0)`` without U_n) never form a Khatri-Rao product:
one GEMM of the dense tensor with an end factor, then batched matrix-vector products that
peel off the other modes. One sweep of :func:`cp_als` reuses two such partial contractions
(a one-level dimension tree: the half of the modes not being updated is contracted once),
so it reads ``X`` twice per sweep whatever the order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..device import check_memory
from ..params import Param, check_params
from .base import (
    METHODS,
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

__all__ = [
    "cp_als",
    "cp_als_lev",
    "cp_als_uniform",
    "cp_to_tensor",
    "default_samples",
    "heavy_rows",
    "mttkrp",
]

#: Entries drawn once per sampled run to estimate the error between exact evaluations.
FIT_ENTRIES = 2**13
#: Elements of one chunk of the dense reconstruction when the residual is summed directly.
_CHUNK_ELEMENTS = 2**22
#: Factor of :func:`default_samples` (samples = ceil(SAMPLES_PER_RLOGR * R * max(ln R, 1))).
SAMPLES_PER_RLOGR = 20

# --------------------------------------------------------------------------- checks


def _check_input(X: Any, rank: int, name: str) -> tuple[torch.Tensor, list[int]]:
    """Validate the data and the rank; return ``X`` contiguous and its shape."""
    import torch

    if not isinstance(X, torch.Tensor):
        raise DecompositionError(f"{name}: X must be a torch.Tensor, got {type(X).__name__}")
    if X.dtype not in (torch.float32, torch.float64):
        raise DecompositionError(
            f"{name}: X has dtype {X.dtype}; CP needs real float32 or float64 data "
            "(convert with X.double())"
        )
    if X.ndim < 2:
        raise DecompositionError(
            f"{name}: X has {X.ndim} mode(s); CP needs a tensor with at least 2 modes"
        )
    dims = list(X.shape)
    if min(dims) < 1:
        raise DecompositionError(f"{name}: X has an empty mode (shape {tuple(dims)})")
    if not all_finite(X):
        raise DecompositionError(
            f"{name}: X contains NaN or infinite values; clean or impute them first"
        )
    # Every tensor has CP rank <= (product of its sizes) / (largest size): more is pointless.
    bound = math.prod(dims) // max(dims)
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise DecompositionError(f"{name}: rank must be a positive integer, got {rank!r}")
    if rank > bound:
        raise DecompositionError(
            f"{name}: rank {rank} exceeds {bound}, the largest CP rank a {tuple(dims)} tensor "
            "can have; choose a smaller rank"
        )
    if float(torch.linalg.vector_norm(X)) == 0.0:
        raise DecompositionError(f"{name}: X is all zeros; there is nothing to decompose")
    return X.contiguous(), dims


def _params(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """Validate the method's parameters with its registered specs (as the task does)."""
    return check_params(METHODS[name].params, given, name, DecompositionError)


def _check_mem(X: torch.Tensor, rank: int, extra: int, what: str) -> None:
    """The MTTKRP holds ``R * size / I`` entries next to ``X`` (``extra`` more besides)."""
    dims = X.shape
    # The two halves of the dimension tree: R |X| / I_last and R |X| / I_0 entries.
    entries = rank * X.numel() // dims[0] + rank * X.numel() // dims[-1] + extra
    check_memory(
        entries * X.element_size(),
        X.device,
        what,
        "use a smaller rank or a smaller tensor",
    )


# --------------------------------------------------------------------------- kernels


def _gemm_last(X: torch.Tensor, Ut: torch.Tensor) -> torch.Tensor:
    """Contract the last mode: ``(R, size / I_last)`` (one GEMM, transposes by flags)."""
    return Ut @ X.reshape(-1, X.shape[-1]).T


def _gemm_first(X: torch.Tensor, Ut: torch.Tensor) -> torch.Tensor:
    """Contract the first mode: ``(R, size / I_0)``."""
    return Ut @ X.reshape(X.shape[0], -1)


def _front(T: torch.Tensor, size: int, ut: torch.Tensor) -> torch.Tensor:
    """``T (R, size * B)`` with its leading mode contracted by ``ut (R, size)``: ``(R, B)``."""
    R = T.shape[0]
    return (ut.unsqueeze(1) @ T.reshape(R, size, -1)).reshape(R, -1)


def _back(T: torch.Tensor, size: int, ut: torch.Tensor) -> torch.Tensor:
    """``T (R, A * size)`` with its trailing mode contracted by ``ut (R, size)``: ``(R, A)``."""
    R = T.shape[0]
    return (T.reshape(R, -1, size) @ ut.unsqueeze(2)).reshape(R, -1)


def _peel(T: torch.Tensor, sizes: Sequence[int], uts: Sequence[torch.Tensor], keep: int):
    """Contract every mode of ``T (R, prod(sizes))`` but ``keep``, from the outside in.

    Contracting only the outermost remaining mode keeps every step a batched
    matrix-vector product on a contiguous view (no transposed copies).
    """
    for k in range(keep):
        T = _front(T, sizes[k], uts[k])
    for k in range(len(sizes) - 1, keep, -1):
        T = _back(T, sizes[k], uts[k])
    return T


def _peel_cost(sizes: Sequence[int], keep: int) -> int:
    size, cost = math.prod(sizes), 0
    for k in range(keep):
        cost += size
        size //= sizes[k]
    for k in range(len(sizes) - 1, keep, -1):
        cost += size
        size //= sizes[k]
    return cost


def _tree_split(dims: Sequence[int]) -> int:
    """The split ``m`` (modes ``< m`` | modes ``>= m``) with the fewest peel flops per sweep."""
    N, P = len(dims), math.prod(dims)

    def cost(m: int) -> int:
        c, size = P, P // dims[-1]
        for k in range(N - 2, m - 1, -1):
            c += size
            size //= dims[k]
        c += sum(_peel_cost(dims[:m], n) for n in range(m))
        c, size = c + P, P // dims[0]
        for k in range(1, m):
            c += size
            size //= dims[k]
        return c + sum(_peel_cost(dims[m:], n) for n in range(N - m))

    return min(range(1, N), key=cost)


def _contract_right(X: torch.Tensor, uts: Sequence[torch.Tensor], m: int) -> torch.Tensor:
    """``X`` with modes ``m .. N-1`` contracted: ``(R, prod(dims[:m]))``."""
    dims = X.shape
    T = _gemm_last(X, uts[-1])
    for k in range(len(dims) - 2, m - 1, -1):
        T = _back(T, dims[k], uts[k])
    return T


def _contract_left(X: torch.Tensor, uts: Sequence[torch.Tensor], m: int) -> torch.Tensor:
    """``X`` with modes ``0 .. m-1`` contracted: ``(R, prod(dims[m:]))``."""
    dims = X.shape
    T = _gemm_first(X, uts[0])
    for k in range(1, m):
        T = _front(T, dims[k], uts[k])
    return T


def mttkrp(X: torch.Tensor, factors: Sequence[torch.Tensor], mode: int) -> torch.Tensor:
    """Matricized tensor times Khatri-Rao product for ``mode``, without forming the latter.

    Parameters
    ----------
    X : torch.Tensor
        Dense tensor of order ``N >= 2``.
    factors : sequence of torch.Tensor
        ``N`` matrices ``(I_k, R)``; ``factors[mode]`` is not used.
    mode : int
        The mode left open.

    Returns
    -------
    torch.Tensor
        ``(I_mode, R)``: entry ``(i, r) = sum X[.., i, ..] prod_{k != mode} U_k[i_k, r]``.
    """
    X = X.contiguous()
    N, dims = X.ndim, list(X.shape)
    uts = [u.T.contiguous() for u in factors]
    if mode < N - 1:
        T = _gemm_last(X, uts[-1])
        return _peel(T, dims[:-1], uts[:-1], mode).T
    T = _gemm_first(X, uts[0])
    return _peel(T, dims[1:], uts[1:], mode - 1).T


def cp_to_tensor(
    factors: Sequence[torch.Tensor], weights: torch.Tensor | None = None
) -> torch.Tensor:
    """The dense tensor ``sum_r w[r] U0[:, r] o U1[:, r] o ...`` (axes in factor order)."""
    dims = [u.shape[0] for u in factors]
    R = factors[0].shape[1]
    T = factors[0] if weights is None else factors[0] * weights
    for u in factors[1:-1]:
        T = (T.unsqueeze(1) * u.unsqueeze(0)).reshape(-1, R)
    return (T @ factors[-1].T).reshape(dims)


def _direct_sq_error(
    X: torch.Tensor, factors: Sequence[torch.Tensor], weights: torch.Tensor
) -> float:
    """``||X - Xh||^2`` summed entry by entry, reconstructing chunks of mode-0 slices."""
    import torch

    dims, R = list(X.shape), weights.shape[0]
    per_slice = math.prod(dims[1:]) * (1 + R / dims[-1])
    step = max(1, int(_CHUNK_ELEMENTS // per_slice))
    A = factors[0] * weights
    total = torch.zeros((), dtype=torch.float64, device=X.device)
    for s in range(0, dims[0], step):
        part = cp_to_tensor([A[s : s + step], *factors[1:]])
        total += ((X[s : s + step] - part) ** 2).sum(dtype=torch.float64)
    return float(total)


def _rel_error(
    X: torch.Tensor,
    norm_x2: float,
    inner: float,
    norm_h2: float,
    factors: Sequence[torch.Tensor],
    weights: torch.Tensor,
) -> float:
    """Relative error from the three norms, or summed directly where they cancel."""
    import torch

    err2 = norm_x2 - 2.0 * inner + norm_h2
    if err2 <= 100.0 * torch.finfo(X.dtype).eps * norm_x2:
        err2 = _direct_sq_error(X, factors, weights)
    return math.sqrt(max(err2, 0.0) / norm_x2)


def _solve_gram(V: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``V^-1 B`` for a symmetric PSD ``V`` (Cholesky; pseudo-inverse when singular)."""
    import torch

    L, info = torch.linalg.cholesky_ex(V)
    if int(info) == 0:
        return torch.cholesky_solve(B, L)
    # Singular normal equations (a collapsed or zero component): the minimum-norm solution.
    w, Q = torch.linalg.eigh(V)
    cut = w.abs().max() * V.shape[0] * torch.finfo(V.dtype).eps
    inv = torch.where(w > cut, 1.0 / torch.where(w > cut, w, 1.0), 0.0)
    return Q @ (inv.unsqueeze(1) * (Q.T @ B))


def _hadamard(grams: Sequence[torch.Tensor], skip: int) -> torch.Tensor:
    out = None
    for k, g in enumerate(grams):
        if k != skip:
            out = g.clone() if out is None else out * g
    assert out is not None
    return out


def _normalize(W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-norm columns and their norms (a zero column stays zero with weight 0)."""
    import torch

    lam = torch.linalg.vector_norm(W, dim=0)
    return W / torch.where(lam > 0, lam, 1.0), lam


def _canonical(
    factors: list[torch.Tensor], lam: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Sort components by weight and fix signs (see the module docstring)."""
    import torch

    order = torch.argsort(lam, descending=True)
    factors = [u[:, order] for u in factors]
    lam = lam[order]
    flip = torch.ones_like(lam)
    for k in range(len(factors) - 1):
        u = factors[k]
        s = torch.sign(u.gather(0, u.abs().argmax(0, keepdim=True))[0])
        s = torch.where(s == 0, 1.0, s)
        factors[k] = u * s
        flip = flip * s
    factors[-1] = factors[-1] * flip
    return factors, lam


def _generators(seed: int, device: torch.device) -> tuple[torch.Generator, torch.Generator]:
    """A CPU generator (initial factors: the same numbers on any device) and one for sampling."""
    import torch

    cpu = torch.Generator().manual_seed(seed)
    if device.type == "cpu":
        return cpu, cpu
    return cpu, torch.Generator(device=device).manual_seed(seed)


def _random_columns(rows: int, cols: int, gen: torch.Generator, like: torch.Tensor):
    import torch

    U = torch.randn(rows, cols, generator=gen, dtype=torch.float64)
    return U.to(device=like.device, dtype=like.dtype)


def _leading_left_vectors(X: torch.Tensor, k: int, r: int, gen: torch.Generator) -> torch.Tensor:
    """The ``r`` leading left singular vectors of the unfolding ``X_(k)``, ``(I_k, r)``.

    A small mode uses the exact Gram ``X_(k) X_(k)^T`` (``2 I_k |X|`` flops). A large one
    uses a randomized range finder (Halko et al. 2011) whose test matrix is a Khatri-Rao
    product of Gaussian factors, so ``X_(k) Omega`` is an MTTKRP; then the exact singular
    vectors within that range: about ``4 (r + 10) |X|`` flops instead of ``2 I_k |X|``.
    """
    import torch

    N, dims = X.ndim, list(X.shape)
    others = [j for j in range(N) if j != k]
    ell = r + 10  # oversampling: the range of the leading r directions is caught reliably
    if dims[k] <= 2 * ell:
        gram = torch.tensordot(X, X, dims=(others, others))
    else:
        omega = [_random_columns(d, ell, gen, X) for d in dims]
        Q = torch.linalg.qr(mttkrp(X, omega, k), mode="reduced").Q  # (I_k, ell)
        B = torch.tensordot(X, Q, dims=([k], [0])).reshape(-1, ell)  # X_(k)^T Q
        _, V = torch.linalg.eigh(B.T @ B)
        return Q @ V[:, ell - r :].flip(1)
    _, vecs = torch.linalg.eigh(gram)
    return vecs[:, dims[k] - r :].flip(1)


def _gather_fibres(Xflat: torch.Tensor, lin: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """``(S, size)``: the mode fibres of a flattened tensor that start at offsets ``lin``
    (mode index 0) and step by ``stride``; only those entries are read."""
    import torch

    fibre = torch.arange(size, device=lin.device) * stride
    return Xflat.index_select(0, (lin.unsqueeze(1) + fibre.unsqueeze(0)).reshape(-1)).reshape(
        -1, size
    )


#: Fibres per mode drawn by ``init="fibres"``: this many per component, at least 100.
_FIBRES_PER_COMPONENT = 20


def _fibre_vectors(X: torch.Tensor, k: int, r: int, gen: torch.Generator) -> torch.Tensor:
    """Leading left singular vectors of ``X_(k)`` estimated from uniformly sampled columns
    (mode-``k`` fibres): ``max(100, 20 r)`` of them, gathered without reading the rest of
    ``X``. Column sampling finds the range of an incoherent low-rank unfolding (factors
    without a few dominant rows), which is what the random-looking data CP targets are;
    ALS then corrects what the sample missed. At most ``min(r, I_k, fibres)`` columns come
    back (the caller pads)."""
    import torch

    dims = list(X.shape)
    others = [j for j in range(X.ndim) if j != k]
    strides = [math.prod(dims[j + 1 :]) for j in range(X.ndim)]
    s = max(100, _FIBRES_PER_COMPONENT * r)
    lin = torch.zeros(s, dtype=torch.int64)
    for j in others:
        lin += torch.randint(dims[j], (s,), generator=gen) * strides[j]
    Xs = _gather_fibres(X.reshape(-1), lin.to(X.device), dims[k], strides[k])
    _, _, vh = torch.linalg.svd(Xs.to(torch.float64), full_matrices=False)
    return vh[: min(r, vh.shape[0])].T.to(X.dtype)


def _init_factors(
    X: torch.Tensor, rank: int, init: str, gen: torch.Generator
) -> list[torch.Tensor]:
    """Unit-norm starting factors: seeded Gaussian, leading left singular vectors, or
    those vectors estimated from sampled fibres."""
    import torch

    N, dims = X.ndim, list(X.shape)
    factors = []
    for k in range(N):
        if init == "fibres":
            U = _fibre_vectors(X, k, rank, gen)
            if U.shape[1] < rank:
                U = torch.cat([U, _random_columns(dims[k], rank - U.shape[1], gen, X)], dim=1)
        elif init == "hosvd":
            take = min(rank, dims[k])
            U = _leading_left_vectors(X, k, take, gen)
            if take < rank:  # more components than the mode has directions: pad randomly
                U = torch.cat([U, _random_columns(dims[k], rank - take, gen, X)], dim=1)
        else:
            U = _random_columns(dims[k], rank, gen, X)
        factors.append(_normalize(U)[0])
    return factors


def _result(
    name: str,
    dims: Sequence[int],
    factors: list[torch.Tensor],
    lam: torch.Tensor,
    clock: IterationClock,
    info: dict[str, Any],
) -> Decomposition:
    from ..templates import cp

    factors, lam = _canonical(factors, lam)
    info["normalization"] = "unit-norm columns, scale in lambda, sorted by decreasing lambda"
    return Decomposition(
        method=name,
        network=cp(list(dims), lam.shape[0], weights=True),
        cores=[*factors, lam],
        history=clock.history,
        info=info,
    )


# --------------------------------------------------------------------------- exact ALS

_RANK = Param("rank", "int", 5, "number of rank-one components R", min=1, max=4096)
_INIT = Param(
    "init",
    "choice",
    "hosvd",
    "starting factors: leading left singular vectors of the unfoldings, or seeded Gaussian",
    choices=("hosvd", "random"),
)


@register_method(
    "cp_als",
    "cp",
    _RANK,
    _INIT,
    Param("max_iter", "int", 200, "most ALS sweeps", min=1, max=100_000),
    Param("tol", "float", 1e-8, "stop when the fit (1 - rel_error) moves less", min=0, max=1),
    doc="CP by exact alternating least squares (normal equations, tree MTTKRP)",
)
def cp_als(
    X: torch.Tensor,
    *,
    rank: int = 5,
    init: str = "hosvd",
    max_iter: int = 200,
    tol: float = 1e-8,
    seed: int = 0,
    callback: Callback | None = None,
) -> Decomposition:
    """Rank-``R`` CP decomposition by exact alternating least squares.

    Each sweep updates ``U_0 .. U_{N-1}`` in turn by the normal equations
    ``U_n V_n = MTTKRP_n`` with ``V_n`` the Hadamard product of the other factors' Gram
    matrices (Cholesky; pseudo-inverse if singular). MTTKRPs come from a one-level
    dimension tree (two GEMMs over ``X`` per sweep, no Khatri-Rao product formed).

    Parameters
    ----------
    X : torch.Tensor
        Dense float32/float64 tensor of order >= 2; its device and dtype are kept.
    rank : int
        Number of components ``R``.
    init : {"hosvd", "random"}
        Leading ``R`` left singular vectors of each unfolding (padded with seeded Gaussian
        columns where ``R > I_k``; randomized for large modes, costing a few sweeps), or
        seeded Gaussian factors. ``hosvd`` is the default: it fell into the common
        one-component-short local minimum (error ~ 1/sqrt(R)) less often in our runs.
    max_iter : int
        Most sweeps.
    tol : float
        Stopping rule: stop after a sweep that changed the fit ``1 - rel_error`` by less
        than ``tol``, or after ``max_iter`` sweeps.
    seed : int
        Seeds the random initialization (and the padding of ``hosvd``).
    callback : callable, optional
        Gets ``{"iter", "rel_error", "fit", "elapsed"}`` after every sweep; may raise
        :class:`~tensorbench.engine.run.Cancelled`.

    Returns
    -------
    Decomposition
        The ``cp`` template with weights; cores ``U0 .. U{N-1}, lambda`` (see the module
        docstring for the normalization).
    """
    import torch

    p = _params("cp_als", {"rank": rank, "init": init, "max_iter": max_iter, "tol": tol})
    X, dims = _check_input(X, p["rank"], "cp_als")
    R, N = p["rank"], len(dims)
    _check_mem(X, R, X.numel() if p["init"] == "hosvd" else 0, f"cp_als on {tuple(dims)}")
    gen, _ = _generators(seed, X.device)
    clock = IterationClock(callback)
    norm_x2 = float(torch.linalg.vector_norm(X, dtype=torch.float64) ** 2)

    factors = _init_factors(X, R, p["init"], gen)
    grams = [u.T @ u for u in factors]
    lam = torch.ones(R, dtype=X.dtype, device=X.device)
    m = _tree_split(dims)
    fit_prev, converged = None, False
    for it in range(1, p["max_iter"] + 1):
        uts = [u.T.contiguous() for u in factors]
        for half, (lo, hi) in enumerate(((0, m), (m, N))):
            # The modes of the other half stay fixed while this half is updated: contract
            # them once (after the first half's updates, for the second half).
            T = _contract_right(X, uts, m) if half == 0 else _contract_left(X, uts, m)
            for n in range(lo, hi):
                M = _peel(T, dims[lo:hi], uts[lo:hi], n - lo)  # (R, I_n)
                V = _hadamard(grams, n)
                W = _solve_gram(V, M).T  # unnormalized U_n: carries the weights
                factors[n], lam = _normalize(W)
                uts[n] = factors[n].T.contiguous()
                grams[n] = factors[n].T @ factors[n]
        # Model = lam-weighted factors; <X, Xh> and ||Xh||^2 from the last update.
        inner = float((M.T * W).sum(dtype=torch.float64))
        norm_h2 = float((V * (W.T @ W)).sum(dtype=torch.float64))
        rel = _rel_error(X, norm_x2, inner, norm_h2, factors, lam)
        fit = 1.0 - rel
        clock.record(iter=it, rel_error=rel, fit=fit)
        if fit_prev is not None and abs(fit - fit_prev) < p["tol"]:
            converged = True
            break
        fit_prev = fit
    info = {
        "rank": R,
        "init": p["init"],
        "iterations": it,
        "converged": converged,
        "stop": "tol" if converged else "max_iter",
    }
    return _result("cp_als", dims, factors, lam, clock, info)


# --------------------------------------------------------------------------- sampled ALS


def default_samples(rank: int) -> int:
    """Rows sampled per least-squares solve when ``samples`` is not given.

    ``ceil(20 R max(ln R, 1))``: sampling by leverage scores needs ``O(R log R)`` rows for
    the sampled normal equations to embed the ``R``-dimensional column space (matrix
    Chernoff bound; the product of factor leverages over-estimates Khatri-Rao leverages, so
    worst-case theory asks for more, practice does not). The factor 20 keeps the excess
    squared residual of one solve near ``R / S`` (<= 5%); measured on 3-way tensors with
    1-10% noise, the final error lands 3-5% above exact ALS's (fit within 0.5%), while a
    solve reads only ``S I_n`` entries of ``X``.
    """
    return math.ceil(SAMPLES_PER_RLOGR * rank * max(math.log(rank), 1.0))


def heavy_rows(probs: Sequence[torch.Tensor], tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """All rows of a product distribution whose probability is at least ``tau``.

    Row ``(i_1, ..., i_M)`` has probability ``prod_k probs[k][i_k]``. A branch-and-bound over
    the modes keeps a partial row only if it can still reach ``tau`` with the largest
    probabilities of the remaining modes, so no level holds more than ``1 / tau`` rows.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Row indices ``(D, M)`` (int64) and their probabilities ``(D,)``.
    """
    import torch

    device = probs[0].device
    M = len(probs)
    best_rest = [1.0] * (M + 1)  # product of the largest probabilities of modes k..M-1
    for k in range(M - 1, -1, -1):
        best_rest[k] = best_rest[k + 1] * float(probs[k].max())
    rows = torch.zeros((1, 0), dtype=torch.int64, device=device)
    pr = torch.ones(1, dtype=probs[0].dtype, device=device)
    for k, p in enumerate(probs):
        prod = pr.unsqueeze(1) * p.unsqueeze(0)
        ci, ii = (prod >= tau / best_rest[k + 1]).nonzero(as_tuple=True)
        rows = torch.cat([rows[ci], ii.unsqueeze(1)], dim=1)
        pr = prod[ci, ii]
    return rows, pr


def _leverage_probs(U: torch.Tensor) -> torch.Tensor:
    """Row leverage scores of ``U`` (squared row norms of an orthonormal basis), summing to 1."""
    import torch

    Q = torch.linalg.qr(U, mode="reduced").Q
    lev = (Q * Q).sum(1)
    return lev / lev.sum()


class _RowSampler:
    """Draws weighted rows of the Khatri-Rao product of the factors other than ``mode``."""

    def __init__(self, dims: Sequence[int], samples: int, threshold: float, gen) -> None:
        self.dims = list(dims)
        self.strides = [math.prod(dims[k + 1 :]) for k in range(len(dims))]
        self.samples = samples
        self.tau = threshold / samples
        self.gen = gen

    def draw(
        self, mode: int, probs: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """Rows of mode ``mode``'s problem: offsets into X, indices, squared weights, ``D``.

        Rows with probability >= tau enter once with weight 1; the other ``S - D`` samples
        are drawn (each mode's index independently) from the rest of the distribution by
        rejection, merged by ``unique`` into counts, and weighted ``c (1 - p_det) / (S' p)``
        so the sampled normal equations are unbiased.
        """
        import torch

        others = [k for k in range(len(self.dims)) if k != mode]
        ps = [probs[k] for k in others]
        st = torch.tensor([self.strides[k] for k in others], device=ps[0].device)
        det_idx, det_p = heavy_rows(ps, self.tau)
        det_lin = (det_idx * st).sum(1)
        rest = 1.0 - float(det_p.sum())
        need = self.samples - det_lin.numel()
        drawn = []
        if need > 0 and rest > 1e-12:
            # Each batch is sized so that one usually suffices (acceptance ~ rest); when the
            # rest holds little mass a short count of it barely matters, so stop after 20.
            for _ in range(20):
                batch = min(math.ceil(need / rest * 1.25) + 16, 64 * self.samples)
                idx = torch.stack(
                    [torch.multinomial(p, batch, replacement=True, generator=self.gen) for p in ps],
                    dim=1,
                )
                lin = (idx * st).sum(1)
                if det_lin.numel():
                    lin = lin[~torch.isin(lin, det_lin)]
                drawn.append(lin[:need])
                need -= drawn[-1].numel()
                if need <= 0:
                    break
        if drawn:
            lin, counts = torch.unique(torch.cat(drawn), return_counts=True)
            n_rand = int(counts.sum())
        else:
            lin = det_lin[:0]
            counts = det_lin[:0]
            n_rand = 0
        idx = torch.stack([(lin // st[j]) % self.dims[k] for j, k in enumerate(others)], dim=1)
        p_rand = torch.ones(lin.shape[0], dtype=ps[0].dtype, device=lin.device)
        for j, p in enumerate(ps):
            p_rand = p_rand * p[idx[:, j]]
        w2 = counts.to(p_rand.dtype) * (rest / max(n_rand, 1)) / p_rand
        all_lin = torch.cat([det_lin, lin])
        all_idx = torch.cat([det_idx, idx])
        all_w2 = torch.cat([torch.ones_like(det_p), w2])
        return all_lin, all_idx, all_w2, det_lin.numel()


def _sampled_solve(
    Xflat: torch.Tensor,
    dims: Sequence[int],
    strides: Sequence[int],
    factors: Sequence[torch.Tensor],
    mode: int,
    lin: torch.Tensor,
    idx: torch.Tensor,
    w2: torch.Tensor,
) -> torch.Tensor:
    """Least squares for ``U_mode`` on the sampled rows: the fibres are gathered from X."""

    others = [k for k in range(len(dims)) if k != mode]
    Z = None
    for j, k in enumerate(others):
        rows = factors[k][idx[:, j]]
        Z = rows if Z is None else Z * rows
    assert Z is not None
    Z = Z.to(factors[0].dtype)
    Xs = _gather_fibres(Xflat, lin, dims[mode], strides[mode])  # rows of X_(n)^T
    Zw = Z * w2.to(Z.dtype).unsqueeze(1)
    G = Z.T @ Zw
    return _solve_gram(G, Zw.T @ Xs).T


def _window_mean(acc: list[torch.Tensor], count: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Normalized factors and weights of the mean of ``count`` summed iterates.

    The iterates were summed with their weights in the last factor; every factor has unit
    columns between updates, so the sum is the mean of comparable points (ALS moves the
    columns continuously; the mean is only ever kept when it fits better).
    """
    pairs = [_normalize(u / count) for u in acc]
    return [v for v, _ in pairs], math.prod(nrm for _, nrm in pairs)


def _sampled_als(
    name: str,
    X: torch.Tensor,
    p: dict[str, Any],
    leverage: bool,
    threshold: float,
    seed: int,
    callback: Callback | None,
) -> Decomposition:
    import torch

    X, dims = _check_input(X, p["rank"], name)
    R, N = p["rank"], len(dims)
    S = p["samples"] if p["samples"] is not None else default_samples(R)
    extra = X.numel() if p["init"] == "hosvd" else 0
    _check_mem(X, R, extra + 2 * S * max(dims), f"{name} on {tuple(dims)}")
    gen, dgen = _generators(seed, X.device)
    clock = IterationClock(callback)
    norm_x2 = float(torch.linalg.vector_norm(X, dtype=torch.float64) ** 2)
    Xflat = X.reshape(-1)
    strides = [math.prod(dims[k + 1 :]) for k in range(N)]

    factors = _init_factors(X, R, p["init"], gen)
    lam = torch.ones(R, dtype=X.dtype, device=X.device)

    def probs_of(U: torch.Tensor) -> torch.Tensor:
        if leverage:
            return _leverage_probs(U)
        return torch.full((U.shape[0],), 1.0 / U.shape[0], dtype=U.dtype, device=U.device)

    probs = [probs_of(u) for u in factors]
    sampler = _RowSampler(dims, S, threshold, dgen)

    # A fixed set of entries estimates the error between exact evaluations (all entries when
    # there are no more than FIT_ENTRIES: then the "estimate" is exact).
    P = X.numel()
    if P <= FIT_ENTRIES:
        fit_idx = None
    else:
        fit_idx = torch.stack(
            [torch.randint(d, (FIT_ENTRIES,), generator=dgen, device=X.device) for d in dims], 1
        )
        fit_vals = Xflat[(fit_idx * torch.tensor(strides, device=X.device)).sum(1)]

    def estimate(fs: list[torch.Tensor] | None = None, w: torch.Tensor | None = None) -> float:
        fs = factors if fs is None else fs
        w = lam if w is None else w
        if fit_idx is None:
            return math.sqrt(_direct_sq_error(X, fs, w) / norm_x2)
        Z = w.unsqueeze(0)
        for k in range(N):
            Z = Z * fs[k][fit_idx[:, k]]
        res2 = float(((fit_vals - Z.sum(1)) ** 2).sum(dtype=torch.float64))
        return math.sqrt(res2 * P / FIT_ENTRIES / norm_x2)

    def exact(fs: list[torch.Tensor], w: torch.Tensor) -> float:
        M = mttkrp(X, fs, N - 1)
        inner = float(((M * fs[-1]).sum(0) * w).sum(dtype=torch.float64))
        grams = _hadamard([u.T @ u for u in fs], -1)
        norm_h2 = float(w @ grams @ w)
        return _rel_error(X, norm_x2, inner, norm_h2, fs, w)

    # Sum of the iterates since the last exact evaluation (weights in the last factor).
    acc: list[torch.Tensor] | None = None
    count = 0
    ref = best = math.inf
    best_state: tuple[list[torch.Tensor], torch.Tensor, int] | None = None
    stall, stop = 0, "max_iter"
    rows_used = det_used = 0
    for it in range(1, p["max_iter"] + 1):
        for n in range(N):
            lin, idx, w2, n_det = sampler.draw(n, probs)
            W = _sampled_solve(Xflat, dims, strides, factors, n, lin, idx, w2)
            factors[n], lam = _normalize(W)
            probs[n] = probs_of(factors[n])
            rows_used += lin.numel()
            det_used += n_det
        extra_rec: dict[str, Any] = {}
        last = it == p["max_iter"]
        evaluate = it % p["eval_every"] == 0 or last
        if p["average"]:
            here = [*factors[:-1], factors[-1] * lam]
            acc = here if acc is None else [a + h for a, h in zip(acc, here, strict=True)]
            count += 1
        if evaluate:
            # What the evaluation measures, and what the run hands back if it stops here.
            shown = (factors, lam)
            if acc is not None and count > 1:
                # Each sampled solve scatters the iterate around the exact ALS path; the
                # window mean cancels most of that scatter (200^3 rank 10 at the noise
                # floor: 1.034x the noise for one iterate, 1.006x for the mean of 5). It
                # lags while the run still descends, so the fixed entries decide. The run
                # itself goes on from the iterate: going on from the mean halves the pace
                # in a swamp (a Gaussian start then stalled at 32% error).
                mean_f, mean_lam = _window_mean(acc, count)
                if estimate(mean_f, mean_lam) < estimate():
                    shown = (mean_f, mean_lam)
                    extra_rec["averaged"] = count
            acc, count = None, 0
            rel, is_exact = exact(*shown), True
            if rel < best:
                best = rel
                best_state = ([u.clone() for u in shown[0]], shown[1].clone(), it)
            if rel < ref * (1.0 - p["tol"]):
                ref, stall = rel, 0
            else:
                stall += 1
            done = stall >= p["patience"]
            if done:  # a stall worse than all zeros is no convergence
                stop = "stalled" if no_fit(best) else "stagnation"
            if (done or last) and best_state is not None and best < rel:
                # Sampled iterates wander at the noise floor: hand back the best one seen.
                factors, lam, best_it = best_state  # cloned when kept; the run ends here
                rel = best
                extra_rec["restored_from"] = best_it
            elif done or last:
                factors, lam = shown
        else:
            rel, is_exact, done = estimate(), fit_idx is None, False
        clock.record(
            iter=it, rel_error=rel, fit=1.0 - rel, exact=is_exact, rows=lin.numel(), **extra_rec
        )
        if done:
            break
    info = {
        "rank": R,
        "init": p["init"],
        "iterations": it,
        "samples": S,
        "stop": stop,
        "converged": stop == "stagnation",
        "mean_rows": rows_used / (it * N),
        "mean_deterministic_rows": det_used / (it * N),
        "eval_every": p["eval_every"],
        "average": p["average"],
        "best_rel_error": best,
    }
    if leverage:
        info["det_threshold"] = threshold
    if no_fit(best):
        other = "" if leverage else "cp_als_lev (leverage-score rows), "
        info["warning"] = stall_warning(it, best, f"use more samples (now {S}), {other}or cp_als")
    return _result(name, dims, factors, lam, clock, info)


_SAMPLES = Param(
    "samples",
    "int",
    None,
    "rows sampled per least-squares solve; empty = ceil(20 R max(ln R, 1))",
    min=1,
    max=2**24,
)
_SAMPLED_COMMON = (
    Param(
        "init",
        "choice",
        "fibres",
        "starting factors: singular vectors of sampled fibres, Gaussian, or full HOSVD",
        choices=("fibres", "random", "hosvd"),
    ),
    Param("max_iter", "int", 500, "most sweeps", min=1, max=100_000),
    Param("eval_every", "int", 5, "sweeps between exact error evaluations", min=1, max=10_000),
    Param("patience", "int", 8, "exact evaluations without progress before stopping", max=1000),
    Param("tol", "float", 1e-3, "relative error decrease that counts as progress", min=0, max=1),
    Param(
        "average",
        "bool",
        True,
        "at each exact evaluation, measure and hand back the mean of the sweeps since the "
        "last one when it fits better (cancels most of the sampling scatter)",
    ),
)

_SAMPLED_DOC = """
    Stopping rule: every ``eval_every`` sweeps (and at ``max_iter``) the exact relative
    error is computed (one MTTKRP over ``X``); the run stops once ``patience`` evaluations
    in a row failed to lower the error by a factor ``1 - tol`` below the last one that did,
    and hands back the best evaluated iterate (its record carries ``restored_from``).
    When no evaluation was below an error of 1 (no better than all zeros) the run
    stalled, not converged: ``stop`` is then ``"stalled"`` (or ``"max_iter"``) and
    ``info["warning"]`` says what to change.
    In between, ``rel_error`` is estimated from a fixed seeded sample of ``2**13`` entries
    (``exact`` in the record says which; tensors with fewer entries are evaluated exactly).

    Averaging (``average``, on by default): every sampled solve scatters the iterate
    around the path of exact ALS, so at the noise floor a single iterate sits a few percent
    above the exact fit. At each exact evaluation the mean of the iterates since the
    previous one is compared with the current iterate on the fixed entries; the better is
    the one evaluated, reported and, at the stop, handed back (the record carries
    ``averaged``, the window length, when it is the mean). The sweeps themselves go on from
    the iterate, so the path is that of ``average=False``. Measured (cp_als_lev, 200^3,
    rank 10, 1% noise, 5 seeds): final error 1.031-1.032x the noise without, 1.006x with
    (exact ALS: 1.000x).

    Parameters
    ----------
    X : torch.Tensor
        Dense float32/float64 tensor of order >= 2; its device and dtype are kept.
    rank : int
        Number of components ``R``.
    samples : int, optional
        Rows per solve, default :func:`default_samples` (``ceil(20 R max(ln R, 1))``).
{extra}    init : {"fibres", "random", "hosvd"}
        ``"fibres"`` (default): leading singular vectors of ``max(100, 20 R)`` uniformly
        sampled fibres per mode -- a few hundred fibres read, never all of ``X``. Measured
        (cp_als_lev, 25 seeded 200^3 rank-10 tensors, 1% noise, one CPU thread): 25/25
        reach 1.05x the noise, Gaussian starts 24/25 (one stuck in a swamp at 27% error),
        both in a median 66 ms; on 25 other tensors, with averaging, both 25/25 (without
        it the Gaussian start left one at 29% error). ``"random"``: seeded Gaussian. A
        Gaussian start can sit on a flat plateau for 60 sweeps, longer than ``patience``
        evaluations (see the benchmark). ``"hosvd"``: leading
        left singular vectors of the full unfoldings (reads ``X`` twice per mode).
    average : bool
        Average the iterates between exact evaluations (see above).
    max_iter, eval_every, patience, tol
        See the stopping rule. ``patience`` is 8 by default: sampled ALS can sit on a
        plateau (a swamp) for tens of sweeps before dropping to the noise floor, and
        stopping there is the usual way a run fails.
    seed : int
        Seeds initialization, sampling and the error-estimation entries.
    callback : callable, optional
        Gets ``{"iter", "rel_error", "fit", "exact", "rows", "elapsed"}`` after every
        sweep; may raise :class:`~tensorbench.engine.run.Cancelled`.

    Returns
    -------
    Decomposition
        As :func:`cp_als`; ``info`` adds the sample count, mean rows per solve and, for
        a run that stalled worse than all zeros, ``warning``.
"""


@register_method(
    "cp_als_lev",
    "cp",
    _RANK,
    _SAMPLES,
    Param(
        "det_threshold",
        "float",
        1.0,
        "rows expected to be drawn this many times are always included (huge = off)",
        min=1.0,
        max=1e300,
    ),
    *_SAMPLED_COMMON,
    doc="CP-ARLS-LEV: ALS on Khatri-Rao rows sampled by leverage scores (hybrid)",
    sketched=True,
    exact_counterpart="cp_als",
)
def cp_als_lev(
    X: torch.Tensor,
    *,
    rank: int = 5,
    samples: int | None = None,
    det_threshold: float = 1.0,
    init: str = "fibres",
    max_iter: int = 500,
    eval_every: int = 5,
    patience: int = 8,
    tol: float = 1e-3,
    average: bool = True,
    seed: int = 0,
    callback: Callback | None = None,
) -> Decomposition:
    """CP-ARLS-LEV (Larsen & Kolda 2022): ALS whose solves use sampled Khatri-Rao rows.

    For mode ``n`` the rows of ``U_{N-1} (.) .. (.) U_0`` (without ``U_n``) are drawn with
    probability ``prod_k lev_k(i_k) / R_k``, the product of each factor's leverage scores
    (each mode's index drawn independently, no Khatri-Rao product formed). Hybrid
    deterministic inclusion: every row with probability ``>= det_threshold / samples``
    enters once with weight 1 (found by branch and bound, :func:`heavy_rows`); the
    remaining ``samples - D`` draws come from the other rows; duplicates are merged into
    weights. The matching rows of the unfolding are fibres gathered from ``X`` directly.
    """
    p = _params(
        "cp_als_lev",
        {
            "rank": rank,
            "samples": samples,
            "det_threshold": det_threshold,
            "init": init,
            "max_iter": max_iter,
            "eval_every": eval_every,
            "patience": patience,
            "tol": tol,
            "average": average,
        },
    )
    return _sampled_als("cp_als_lev", X, p, True, p["det_threshold"], seed, callback)


@register_method(
    "cp_als_uniform",
    "cp",
    _RANK,
    _SAMPLES,
    *_SAMPLED_COMMON,
    doc="ALS on uniformly sampled Khatri-Rao rows (the weak baseline of cp_als_lev)",
    sketched=True,
    exact_counterpart="cp_als",
)
def cp_als_uniform(
    X: torch.Tensor,
    *,
    rank: int = 5,
    samples: int | None = None,
    init: str = "fibres",
    max_iter: int = 500,
    eval_every: int = 5,
    patience: int = 8,
    tol: float = 1e-3,
    average: bool = True,
    seed: int = 0,
    callback: Callback | None = None,
) -> Decomposition:
    """ALS whose solves use Khatri-Rao rows drawn uniformly (the baseline of CP-ARLS-LEV).

    The solver of :func:`cp_als_lev` with uniform probabilities; when ``samples`` reaches
    the number of rows, every row is included once and the solve is exact.
    """
    p = _params(
        "cp_als_uniform",
        {
            "rank": rank,
            "samples": samples,
            "init": init,
            "max_iter": max_iter,
            "eval_every": eval_every,
            "patience": patience,
            "tol": tol,
            "average": average,
        },
    )
    return _sampled_als("cp_als_uniform", X, p, False, 1.0, seed, callback)


cp_als_lev.__doc__ = (cp_als_lev.__doc__ or "") + _SAMPLED_DOC.replace(
    "{extra}",
    "    det_threshold : float\n        Rows with ``samples * p >= det_threshold`` "
    "are always included (>= 1; huge turns it off).\n",
)
cp_als_uniform.__doc__ = (cp_als_uniform.__doc__ or "") + _SAMPLED_DOC.replace("{extra}", "")
