"""Tensor rings: TR-ALS, exact and with leverage-score sampled least squares.

A tensor ring (TR) of an order-``N`` tensor is a cycle of cores ``G_k`` of shape
``(r_{k-1}, n_k, r_k)`` (indices cyclic, ``r_{-1} = r_{N-1}``):
``X[i_0, .., i_{N-1}] = trace(G_0[:, i_0, :] @ .. @ G_{N-1}[:, i_{N-1}, :])``. Cores follow
the :func:`~tensorbench.engine.templates.tensor_ring` network exactly (bond ``r{k}`` joins
cores ``k`` and ``k+1``).

Methods (family ``"tr"``):

* ``tr_als`` -- alternating least squares (Zhao et al. 2016), each core solved exactly
  against the subchain of all other cores through its normal equations;
* ``tr_als_lev`` -- the same sweep with each least-squares problem sampled by leverage
  scores (Malik & Becker 2021), touching only the sampled fibers of ``X``; on large
  tensors it starts from a fit to a random sub-tensor (:func:`_subtensor_start`).

Functions: :func:`tr_to_dense`, :func:`tr_random`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from ..device import check_memory
from ..params import Param, check_params
from ..templates import tensor_ring
from .base import (
    Callback,
    Decomposition,
    DecompositionError,
    IterationClock,
    check_ranks,
    no_fit,
    register_method,
    stall_warning,
)
from .tt import check_data

__all__ = [
    "default_samples",
    "tr_als",
    "tr_als_lev",
    "tr_decomposition",
    "tr_random",
    "tr_to_dense",
]

Cores = list[torch.Tensor]


# --------------------------------------------------------------------------- small TR tools


def _merge(P: torch.Tensor, core: torch.Tensor) -> torch.Tensor:
    """Two chained pieces of a ring as one: ``(a, M, b)`` and ``(b, n, c)`` -> ``(a, M n, c)``."""
    return (P.reshape(-1, P.shape[2]) @ core.reshape(core.shape[0], -1)).reshape(
        P.shape[0], -1, core.shape[2]
    )


def tr_to_dense(cores: Sequence[torch.Tensor]) -> torch.Tensor:
    """The dense tensor a TR represents, shape ``(n_0, .., n_{N-1})``.

    Chains cores ``0..N-2`` (holding ``r_{N-1} r_{N-2} prod(n) / n_{N-1}`` entries at the
    end), then closes the ring with the last core.
    """
    cores = list(cores)
    P = cores[0]  # (r_{N-1}, n_0 .. n_k, r_k)
    for c in cores[1:-1]:
        P = _merge(P, c)
    last = cores[-1]  # (r_{N-2}, n_{N-1}, r_{N-1})
    out = torch.einsum("amb,bna->mn", P, last)
    return out.reshape([int(c.shape[1]) for c in cores])


def tr_random(
    dims: Sequence[int],
    ranks: int | Sequence[int],
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: Any = "cpu",
) -> Cores:
    """A TR with standard normal cores, each divided by ``sqrt(r_{k-1})``.

    Each slice product then keeps its expected squared norm, so the full tensor's entries
    have about unit variance whatever the ranks.
    """
    n = len(dims)
    rs = check_ranks(ranks, n, "tr_random ranks")
    gen = torch.Generator(device=device).manual_seed(seed)
    return [
        torch.randn(rs[k - 1], d, rs[k], generator=gen, dtype=dtype, device=device)
        / math.sqrt(rs[k - 1])
        for k, d in enumerate(dims)
    ]


def _transfer(core: torch.Tensor) -> torch.Tensor:
    """``E[(a, a'), (b, b')] = sum_i G[a, i, b] G[a', i, b']``, ``(r_{k-1}^2, r_k^2)``."""
    r0, _, r1 = core.shape
    return torch.einsum("aib,cid->acbd", core, core).reshape(r0 * r0, r1 * r1)


def _tr_norm_sq(cores: Cores) -> float:
    """``||T||^2`` of the ring: the trace of the product of its transfer matrices."""
    T = _transfer(cores[0])
    for c in cores[1:]:
        T = T @ _transfer(c)
    return float(torch.trace(T))


def _subchain_gram(E: list[torch.Tensor], k: int, r_prev: int, r_next: int) -> torch.Tensor:
    """Gram matrix of core ``k``'s design, ``(r_{k-1} r_k)^2``, from transfer matrices.

    The design column ``(a, b)`` is ``S[b, :, a]`` for the subchain ``S`` (cores
    ``k+1 .. k-1``), so its Gram is the product of the other cores' transfer matrices,
    ``O(N r^6)`` instead of ``O(prod(n) r^4 / n_k)`` from the design itself.
    """
    n = len(E)
    T = E[(k + 1) % n]
    for j in range(2, n):
        T = T @ E[(k + j) % n]
    # T[(b, b'), (a, a')] -> Gram[(a, b), (a', b')]
    T = T.reshape(r_next, r_next, r_prev, r_prev).permute(2, 0, 3, 1)
    return T.reshape(r_prev * r_next, r_prev * r_next)


def _right_chains(cores: Cores, out: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """``R[k]``: cores ``k+1 .. N-1`` contracted, ``(r_{N-1}, r_k, n_{k+1} .. n_{N-1})``
    flattened to ``(r_{N-1}, r_k, Q_k)``; ``R[N-1]`` is the identity on the closing bond.

    Built right to left, one batched product per core: ``O(r^3 Q_k)`` each, so about
    ``r^3 prod(n) / n_0`` in all. ``out``: buffers from an earlier call, written over.
    """
    n = len(cores)
    rc = cores[-1].shape[2]
    R = [cores[0].new_empty(0)] * n
    R[n - 1] = torch.eye(rc, dtype=cores[0].dtype, device=cores[0].device).reshape(rc, rc, 1)
    for k in range(n - 2, -1, -1):
        g = cores[k + 1]
        G2 = g.reshape(-1, g.shape[2])  # ((b, i), b')
        buf = None if out is None else out[k].view(rc, G2.shape[0], -1)
        R[k] = torch.bmm(G2.expand(rc, -1, -1), R[k + 1], out=buf).view(rc, g.shape[0], -1)
    return R


def _fold_first(
    X0: torch.Tensor, core: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``X0`` (``n_0 x rest``) with core 0 (or the chain of the first cores, ``(r_{N-1},
    n_0 .. n_{m-1}, r_{m-1})``, with ``X0`` reshaped to match) contracted in:
    ``(r_{N-1}, r_0, rest)``, ``Z[c, a', rest] = sum_i G_0[c, i, a'] X[i, rest]``."""
    rc, n0, r0 = core.shape
    G = core.permute(0, 2, 1).reshape(rc * r0, n0)
    buf = None if out is None else out.view(rc * r0, -1)
    return torch.mm(G, X0, out=buf).view(rc, r0, -1)


def _fold(Z: torch.Tensor, core: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Core ``k``'s ``(a, i_k)`` contracted into ``Z`` ``(r_{N-1}, r_{k-1}, n_k * rest)``:
    ``(r_{N-1}, r_k, rest)``, one batched product over the closing bond."""
    G2 = core.reshape(-1, core.shape[2])
    rc = Z.shape[0]
    return torch.bmm(G2.mT.expand(rc, -1, -1), Z.reshape(rc, G2.shape[0], -1), out=out)


def _rel_error_via_inner(X: torch.Tensor, cores: Cores, norm_x: float) -> float:
    """``||X - T|| / ||X||`` from ``<X, T>`` (X folded with the cores, two passes over X)
    and ``||T||^2`` (transfer matrices) -- no dense ``T``. Below ``~sqrt(eps)`` relative,
    where the sum cancels, from the dense residual."""
    # The first cores are merged (P = their modes' product, about sqrt(prod(n))) before
    # X is touched: X's one full pass then writes r^2 prod(n) / P entries, not / n_0 --
    # at 16^6 a 0.5 MB intermediate instead of 134 MB of fresh pages (~3x faster).
    total, m = X.numel(), 1
    L = cores[0]  # (r_{N-1}, P, r_{m-1})
    while m < len(cores) - 1 and L.shape[1] ** 2 < total:
        L = _merge(L, cores[m])
        m += 1
    Z = _fold_first(X.reshape(L.shape[1], -1), L)
    for c in cores[m:]:
        Z = _fold(Z, c)
    inner = float(torch.diagonal(Z.reshape(Z.shape[0], Z.shape[1])).sum().double())
    err_sq = norm_x**2 - 2 * inner + _tr_norm_sq(cores)
    if err_sq < math.sqrt(torch.finfo(X.dtype).eps) * norm_x**2:
        return _exact_rel_error(X, cores, norm_x)
    return _rel(math.sqrt(err_sq), norm_x)


def _solve_psd(gram: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """``gram^{-1} rhs`` by Cholesky; a pseudo-inverse when ``gram`` is singular."""
    L, info = torch.linalg.cholesky_ex(gram)
    if int(info) == 0:
        return torch.cholesky_solve(rhs, L)
    return torch.linalg.pinv(gram, hermitian=True) @ rhs


def _unpack(H: torch.Tensor, r_prev: int, r_next: int) -> torch.Tensor:
    """Solution rows ``(a, b)`` x columns ``i`` -> core ``(r_{k-1}, n_k, r_k)``."""
    return H.reshape(r_prev, r_next, -1).permute(0, 2, 1).contiguous()


def _init_cores(X: torch.Tensor, ranks: list[int], seed: int) -> Cores:
    """Seeded Gaussian cores rescaled so the initial TR has the norm of ``X``."""
    gen = torch.Generator(device=X.device).manual_seed(seed)
    n = X.ndim
    cores = [
        torch.randn(ranks[k - 1], d, ranks[k], generator=gen, dtype=X.dtype, device=X.device)
        for k, d in enumerate(X.shape)
    ]
    norm_sq = _tr_norm_sq(cores)
    norm_x = float(torch.linalg.vector_norm(X))
    if norm_sq > 0 and norm_x > 0:
        scale = (norm_x / math.sqrt(norm_sq)) ** (1.0 / n)
        cores = [c * scale for c in cores]
    return cores


def _check_tr_ranks(dims: list[int], ranks: Any, what: str) -> list[int]:
    """TR ranks as a list of ``N`` values, checked against the mode sizes.

    Each core's ``r_{k-1} r_k`` unknowns per row must not exceed the rows of its
    least-squares problem (``prod(dims) / n_k``).
    """
    if isinstance(ranks, bool):
        raise DecompositionError(f"{what}: ranks must be integers, got {ranks!r}")
    n = len(dims)
    rs = check_ranks(ranks if isinstance(ranks, int) else list(ranks), n, f"{what} ranks")
    total = math.prod(dims)
    for k in range(n):
        if rs[k - 1] * rs[k] > total // dims[k]:
            raise DecompositionError(
                f"{what}: ranks {rs} are too large for mode sizes {dims}: core {k} would have "
                f"{rs[k - 1]} x {rs[k]} = {rs[k - 1] * rs[k]} unknowns per row but only "
                f"{total // dims[k]} equations; lower the ranks of its bonds (entries "
                f"{(k - 1) % n} and {k} of ranks) so their product is at most {total // dims[k]}"
            )
    return rs


def tr_decomposition(
    cores: Sequence[torch.Tensor],
    method: str,
    history: list[dict[str, Any]] | None = None,
    info: dict[str, Any] | None = None,
) -> Decomposition:
    """Wrap TR cores ``(r_{k-1}, n_k, r_k)`` as a :class:`Decomposition` on the TR template."""
    cores = list(cores)
    net = tensor_ring([int(c.shape[1]) for c in cores], [int(c.shape[2]) for c in cores])
    return Decomposition(method, net, cores, list(history or []), dict(info or {}))


def _rel(err: float, norm_x: float) -> float:
    """``err / ||X||``; the absolute error for an all-zero ``X``."""
    return err / norm_x if norm_x > 0 else err


def _exact_rel_error(X: torch.Tensor, cores: Cores, norm_x: float) -> float:
    return _rel(float(torch.linalg.vector_norm(X - tr_to_dense(cores)).double()), norm_x)


def _dense_bytes(dims: list[int], ranks: list[int], itemsize: int) -> int:
    """Peak of :func:`tr_to_dense` plus the residual: two copies of X and the open chain."""
    total = math.prod(dims)
    return itemsize * (2 * total + ranks[-1] * ranks[-2] * total // dims[-1])


_RANKS = Param("ranks", "ints", 3, "TR ranks: one value for all bonds, or one per bond (= modes)")
_MAX_ITER = Param("max_iter", "int", 100, "most sweeps over the cores", max=100000)
_TOL = Param(
    "tol",
    "float",
    1e-6,
    "stop when a sweep lowers the relative error by less than this",
    min=0.0,
    max=1.0,
)


# --------------------------------------------------------------------------- TR-ALS

_TR_ALS_PARAMS = (_RANKS, _MAX_ITER, _TOL)


@register_method(
    "tr_als",
    "tr",
    *_TR_ALS_PARAMS,
    doc="TR-ALS: each core in turn solved exactly by least squares against its subchain",
)
def tr_als(
    X: torch.Tensor,
    *,
    seed: int = 0,
    callback: Callback | None = None,
    ranks: int | Sequence[int] = 3,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> Decomposition:
    """Tensor ring by alternating least squares (TR-ALS, Zhao et al. 2016).

    For core ``k`` the model is ``X_(k) = G_k A_k^T`` with design ``A_k`` (rows: all other
    indices, cyclic from ``k+1``; columns ``(a, b)``: the subchain ``S[b, :, a]``). Each
    update solves the normal equations ``G_k (A^T A) = X_(k) A``: the Gram ``A^T A`` comes
    from the other cores' ``r^2 x r^2`` transfer matrices (no ``O(prod(n) r^4)`` product).
    ``X_(k) A`` never forms the subchain: X is contracted with the updated cores left of
    ``k`` as the sweep goes (shrinking by ``n_k`` each step) and met by the chain of the
    cores right of ``k``, so a sweep costs ~``2 r^2 prod(n)`` (two passes over X) instead
    of ``N`` subchains and permuted copies of X. Measured (AMD EPYC, 1 thread, ranks 4,
    0.1% noise): 8^6 in 15 ms vs 77 ms per call the subchain way, 16^6 in 0.61 s vs 7.2 s.

    Parameters
    ----------
    X : torch.Tensor
        Real float tensor with at least 2 modes.
    seed : int
        Seeds the Gaussian initial cores (rescaled to ``||X||``).
    callback : callable, optional
        Called after every sweep with ``{"iter", "rel_error", "elapsed"}``. ``rel_error``
        comes from the last update's normal equations (``||X||^2 - 2<X, T> + ||T||^2``,
        no reconstruction); below ``~sqrt(machine eps)`` where that would cancel, from the
        dense residual.
    ranks : int or list of int
        TR ranks ``r_0 .. r_{N-1}`` (``r_k`` joins cores ``k`` and ``k+1``).
    max_iter : int
        Most sweeps.
    tol : float
        Stopping rule: stop when a sweep lowers the relative error by less than ``tol``
        (fit stagnation), or after ``max_iter`` sweeps.

    Returns
    -------
    Decomposition
        On the ``tensor_ring`` network: the sweep with the lowest error (where rounding
        made the last sweep end above an earlier one, the history's last record says so
        with ``restored``, the sweep it came from); ``info`` has ``converged`` and
        ``iterations``. Whatever X's dtype, the ``r^2 x r^2`` algebra runs in float64.
    """
    p = check_params(
        _TR_ALS_PARAMS,
        {"ranks": ranks, "max_iter": max_iter, "tol": tol},
        "tr_als",
        DecompositionError,
    )
    check_data(X, "tr_als")
    dims = list(X.shape)
    n = len(dims)
    rs = _check_tr_ranks(dims, p["ranks"], "tr_als")
    total = X.numel()
    # Peak: X, the right chains (cores k+1.., r_{N-1} r_k prod(n_{k+1:}) each) and the
    # stages of X with the left cores folded in (the same sizes), all kept for reuse.
    chains = sum(rs[n - 1] * rs[k] * math.prod(dims[k + 1 :]) for k in range(n - 1))
    check_memory(
        X.element_size() * (total + 2 * chains),
        X.device,
        f"tr_als of a {tuple(dims)} tensor with ranks {rs}",
        "lower the ranks, or use tr_als_lev (it reads only sampled fibers of X)",
    )
    cores = _init_cores(X, rs, seed)
    # The r^2 x r^2 algebra (transfer matrices, Grams, solves, the error's terms) runs in
    # float64 whatever X's dtype: it costs nothing beside the passes over X, and in
    # float32 the normal equations (condition squared) made sweeps *raise* the error
    # (moon + astronaut stacked, ranks 3: 0.2958 then 0.3154, where float64 goes on to
    # 0.269), which the stopping rule took for convergence.
    E = [_transfer(c.double()) for c in cores]
    norm_x = float(torch.linalg.vector_norm(X).double())
    norm_sq = norm_x**2
    tiny = math.sqrt(torch.finfo(X.dtype).eps)
    clock = IterationClock(callback)
    prev = math.inf
    best, best_cores, best_it = math.inf, list(cores), 0
    converged = False
    rc = rs[n - 1]  # the closing bond, between cores N-1 and 0
    X0 = X.reshape(dims[0], -1)
    R: list[torch.Tensor] = []
    stages: list[torch.Tensor | None] = [None] * n
    for it in range(1, p["max_iter"] + 1):
        # The right-hand sides X_(k) A_k, from two sides: the cores right of k (old,
        # contracted once per sweep) and X with the cores left of k (new) already
        # contracted into it, Z[c, a, i_k, rest]. Z shrinks by n_j at every core, so a
        # sweep reads X twice (core 0's product and Z's start) where forming each core's
        # subchain and permuted copy of X costs N times that and more.
        # Chains and stages have the same shapes every sweep: written over in place
        # after the first, as fresh memory costs page faults (134 MB each at 16^6).
        R = _right_chains(cores, R if it > 1 else None)
        Z = X0  # before core 0 nothing is folded in (core 0's row index a is the bond c)
        for k in range(n):
            r_prev, r_next = rs[k - 1], rs[k]
            if k == 0:
                rhs = (X0 @ R[0].reshape(rc * r_next, -1).mT).mT  # ((a, b), n_0)
            else:
                Zk = Z.reshape(rc, r_prev * dims[k], -1)  # (c, (a, i), Q_k)
                rhs = torch.bmm(Zk, R[k].mT).sum(0)  # ((a, i), b)
                rhs = rhs.reshape(r_prev, dims[k], r_next).permute(0, 2, 1)
                rhs = rhs.reshape(r_prev * r_next, dims[k])
            gram = _subchain_gram(E, k, r_prev, r_next)
            rhs = rhs.double()
            H = _solve_psd(gram, rhs)
            cores[k] = _unpack(H, r_prev, r_next).to(X.dtype)
            E[k] = _transfer(cores[k].double())
            if k == 0:
                Z = stages[0] = _fold_first(X0, cores[0], stages[0])
            elif k < n - 1:
                Z = stages[k] = _fold(Z, cores[k], stages[k])
        # Error from the last solve: <X, T> = <H, rhs>, ||T||^2 = <H, gram H>.
        inner = float((H * rhs).sum().double())
        model = float((H * (gram @ H)).sum().double())
        err_sq = norm_sq - 2 * inner + model
        if err_sq < tiny * norm_sq:  # cancellation: measure directly
            rel = _exact_rel_error(X, cores, norm_x)
        else:
            rel = _rel(math.sqrt(err_sq), norm_x)
        clock.record(iter=it, rel_error=rel)
        if rel < best:
            best, best_cores, best_it = rel, list(cores), it
        if prev - rel < p["tol"]:  # stagnation (or a rise: rounding has the last word)
            converged = True
            break
        prev = rel
    if best_it != it:
        # the last sweep ended above an earlier one: return that one, and say so
        cores = best_cores
        clock.record(iter=it, rel_error=best, restored=best_it)
    info = {"ranks": rs, "iterations": it, "converged": converged, "tol": p["tol"]}
    return tr_decomposition(cores, "tr_als", clock.history, info)


# --------------------------------------------------------------------------- TR-ALS-lev


def default_samples(ranks: Sequence[int]) -> int:
    """Default sample count of ``tr_als_lev``: ``max(200, 160 max_k r_{k-1} r_k)``.

    Each sampled least-squares problem has ``R = r_{k-1} r_k`` unknowns per row, and its
    solution's excess error grows like ``R / samples`` times the residual. Measured on
    noisy exact-TR inputs (4- to 6-way, ranks 2-5, 5 seeds each): ``20 R`` often fails to
    leave the random start (error stays near 1), ``40 R`` ends 3-9% above exact ALS,
    ``80 R`` 1.5-4% above but on 16^6 with ranks 4 left the random start on only 2 of 5
    seeds; ``160 R`` converged on all 5 there (benchmarks/bench_decompose.py) at twice the
    cost of a sampled sweep, still far below an exact one. 200 is a floor for tiny ranks.
    """
    rs = list(ranks)
    return max(200, 160 * max(rs[k - 1] * rs[k] for k in range(len(rs))))


def _merge_draws(
    draws: list[torch.Tensor], sizes: list[int]
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Distinct multi-indices among ``draws`` (one index vector per mode) and their counts.

    The multi-indices come back in lexicographic order, as ``torch.unique(..., dim=0)``
    gives them, but through one mixed-radix integer key per row: a 1-D unique is a plain
    sort, where ``unique`` over rows took half of a sampled TR-ALS sweep at 8^6.
    """
    if math.prod(sizes) >= 2**62:  # the key would overflow int64: unique over rows
        uniq, counts = torch.unique(torch.stack(draws, dim=1), dim=0, return_counts=True)
        return list(uniq.unbind(1)), counts
    key = draws[0]
    for d, size in zip(draws[1:], sizes[1:], strict=True):
        key = key * size + d
    keys, counts = torch.unique(key, return_counts=True)
    out = []
    for size in reversed(sizes[1:]):
        out.append(keys % size)
        keys = keys // size
    out.append(keys)
    return out[::-1], counts


def _take_slices(S: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``S[:, :, idx]`` for slices ``(r, r', n)``, through ``gather`` (6x faster here than
    ``index_select`` along the last axis, which indexes element by element)."""
    a, b, n = S.shape
    return S.reshape(a * b, n).gather(1, idx.expand(a * b, -1)).reshape(a, b, -1)


def _chain_mul(P: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """``out[:, :, u] = P[:, :, u] @ S[:, :, u]`` for stacks of small matrices, sample last.

    ``torch.bmm`` over thousands of 4 x 4 products runs one tiny GEMM each (~70 ns, about
    1 GFlop/s here); with the samples as the last, contiguous axis the same product is
    ``r`` fused multiply-adds over whole ``(r, r, U)`` slabs, 4x faster at ranks 4.
    """
    out = P[:, 0, None, :] * S[0, None, :, :]
    for b in range(1, P.shape[1]):
        out.addcmul_(P[:, b, None, :], S[b, None, :, :])
    return out


def _leverage_probs(core: torch.Tensor) -> torch.Tensor:
    """Sampling distribution over mode ``k``: leverage scores of ``G_k``'s mode-2 unfolding.

    Rows of the unfolding ``(n_k, r_{k-1} r_k)``; scores are the squared row norms of an
    orthonormal basis of its column space (rank by the usual SVD cut-off), normalized.
    """
    G2 = core.permute(1, 0, 2).reshape(core.shape[1], -1)
    U, S, _ = torch.linalg.svd(G2, full_matrices=False)
    cut = S[0] * max(G2.shape) * torch.finfo(G2.dtype).eps
    rank = max(int((cut < S).sum()), 1)
    lev = (U[:, :rank] ** 2).sum(1)
    return lev / lev.sum()


# Sub-tensor start: the sub-tensor needs this many entries per unknown of its ring, so
# its noise-fit excess stays ~1% (at 16^6 ranks 4 measured 32x: 1.03-1.04 x noise after
# the start; 64x: 1.01-1.02x; 128x: 1.002x at twice the cost).
_SUB_ENTRIES_PER_UNKNOWN = 64


def _subtensor_sizes(dims: list[int], ranks: list[int]) -> list[int] | None:
    """Per-mode index counts of the sub-tensor start, or None where there is none.

    The smallest ``s`` (every mode ``min(n_k, s)`` indices) whose sub-tensor has
    ``_SUB_ENTRIES_PER_UNKNOWN`` entries per unknown of the restricted ring (so each
    restricted core's least squares has at least that many equations per unknown, and
    the ranks always pass :func:`_check_tr_ranks` there); None when that sub-tensor is X
    itself, or when not even X has that many entries per unknown. A large share of X is
    still worth it: the alternative inside ``tr_als_lev`` is a Gaussian start, whose
    sampled sweeps cost more (8^6 ranks 4, the benchmark's data and seeds: the 6^6
    start, 18% of X, is at the floor in 20-26 ms with its exact check; the Gaussian
    start's sweeps take 67-123 ms, and at 320 samples, run apart from the benchmark for
    100 sweeps, they reached it on none of the 5 seeds, where the start did in 17-23 ms).
    """
    n = len(dims)
    for s in range(2, max(dims) + 1):
        sizes = [min(d, s) for d in dims]
        unknowns = sum(ranks[k - 1] * ranks[k] * sizes[k] for k in range(n))
        if math.prod(sizes) >= _SUB_ENTRIES_PER_UNKNOWN * unknowns:
            return sizes if math.prod(sizes) < math.prod(dims) else None
    return None


def _flat_index(index: list[torch.Tensor], dims: list[int]) -> torch.Tensor:
    """Row-major flat positions of the product set ``index[0] x index[1] x ..``."""
    flat = torch.zeros(1, dtype=torch.long, device=index[0].device)
    for idx, d in zip(index, dims, strict=True):
        flat = (flat[:, None] * d + idx[None, :]).reshape(-1)
    return flat


def _subtensor_start(
    X: torch.Tensor, ranks: list[int], sizes: list[int], seed: int
) -> tuple[Cores, int]:
    """Ring cores for all of X from a fit to a random sub-tensor (the sub-tensor start).

    Restricting every mode of a TR to a subset of its indices leaves a TR with the same
    ranks whose cores are the restricted cores. So: draw ``sizes[k]`` indices per mode,
    fit exact TR-ALS to that sub-tensor, then solve each core over all of its mode against
    the other (restricted) cores, from the slab with that mode whole and the rest
    restricted. Reads ``sum_k n_k prod_{j != k} s_j`` entries of X, no sweep over it; the
    ring starts near the noise floor where a Gaussian start leaves sampled sweeps
    fitting sampling noise for several sweeps (16^6 ranks 4: 4-8 sweeps at error ~1).

    Returns the cores and the sub-tensor fit's sweep count.
    """
    dims = list(X.shape)
    n = len(dims)
    gen = torch.Generator(device="cpu").manual_seed(seed + 2)
    subsets = [
        torch.randperm(d, generator=gen)[:s].sort().values.to(X.device)
        for d, s in zip(dims, sizes, strict=True)
    ]
    # X as a (leading modes) x (trailing modes) matrix: each slab is one 2-D gather, which
    # reads only the rows it needs where per-mode index_select would copy most of X.
    h = min(
        range(1, n), key=lambda j: abs(2 * sum(map(math.log, dims[:j])) - sum(map(math.log, dims)))
    )
    X2 = X.reshape(math.prod(dims[:h]), -1)

    def slab(full: int | None) -> torch.Tensor:
        index = [
            torch.arange(d, device=X.device) if j == full else subsets[j]
            for j, d in enumerate(dims)
        ]
        rows = _flat_index(index[:h], dims[:h])
        cols = _flat_index(index[h:], dims[h:])
        shape = [len(i) for i in index]
        return X2[rows[:, None], cols[None, :]].reshape(shape)

    sub = tr_als(slab(None), seed=seed, ranks=ranks, max_iter=50, tol=1e-4)
    small = list(sub.cores)
    cores = []
    for k in range(n):
        others = [(k + j) % n for j in range(1, n)]
        # The design over the restricted other indices (cyclic from k + 1), rows (a, b).
        P = small[others[0]]
        for j in others[1:]:
            P = _merge(P, small[j])
        A = P.permute(1, 2, 0).reshape(P.shape[1], -1)
        Y = slab(k).permute([k, *others]).reshape(dims[k], -1)
        H = _solve_psd(A.mT @ A, (Y @ A).mT)
        cores.append(_unpack(H, ranks[k - 1], ranks[k]))
    return cores, sub.info["iterations"]


_TR_LEV_PARAMS = (
    _RANKS,
    Param(
        "samples",
        "int",
        None,
        "sampled rows per least-squares problem; default max(200, 160 max r_{k-1} r_k)",
        max=10**7,
    ),
    _MAX_ITER,
    _TOL,
    Param("eval_every", "int", 5, "sweeps between exact error evaluations", max=100000),
    Param(
        "init",
        "choice",
        "subtensor",
        "starting cores: a fit to a random sub-tensor, extended to all of X; or seeded "
        "Gaussian (also used where that sub-tensor would be all of X)",
        choices=("subtensor", "random"),
    ),
)


@register_method(
    "tr_als_lev",
    "tr",
    *_TR_LEV_PARAMS,
    doc="TR-ALS with leverage-score sampled least squares (Malik & Becker 2021)",
    sketched=True,
    exact_counterpart="tr_als",
)
def tr_als_lev(
    X: torch.Tensor,
    *,
    seed: int = 0,
    callback: Callback | None = None,
    ranks: int | Sequence[int] = 3,
    samples: int | None = None,
    max_iter: int = 100,
    tol: float = 1e-6,
    eval_every: int = 5,
    init: str = "subtensor",
) -> Decomposition:
    """Tensor ring by TR-ALS with leverage-score sampling (Malik & Becker, ICML 2021).

    Core ``k``'s least-squares problem (design: the subchain of the other cores) is
    replaced by ``samples`` of its rows, drawn from the product of the other cores'
    leverage-score distributions (each index ``i_j`` drawn independently from the leverage
    scores of ``G_j``'s mode-2 unfolding, a distribution whose product bounds the design's
    own leverage scores up to ``prod_j rank_j``). Duplicate draws are merged into one row
    weighted by their count; rows are reweighted by ``1 / sqrt(samples p)``. Only the
    sampled fibers of ``X`` are read and the design rows are built slice by slice, so a
    sweep costs ``O(N samples (N r^3 + n r^2))``, independent of ``prod(n)``; an exact error
    evaluation is one pass over X (``<X, T>`` with the cores folded in, ``||T||`` from
    transfer matrices): 21 ms at ``16^6`` ranks 4, a sixth of an exact ALS sweep there.
    Measured (AMD EPYC, 1 thread, ranks 4, 0.1% noise, benchmarks/bench_decompose.py,
    four runs): at ``16^6`` the sub-tensor start (6 of 16 indices per mode; it reads ~5%
    of X) is at 1.004-1.010 x the noise by itself, and with its exact check takes 55-68 ms
    to the floor against ``tr_als``'s 525-654 ms (9.5-10.3x; quimb's fit 1.16-1.55 s).
    From the Gaussian start (``init="random"``) the sampled sweeps alone take 201-226 ms
    (2.5-2.9x): they fit sampling noise at error ~1 for several sweeps before converging,
    and at half the default samples they often never leave (TensorLy's sampled TR-ALS
    reached the floor on 2 of 5 seeds there; with the sub-tensor start, 5 of 5). The
    sweeps after the start end ~1.02 x the noise (the sampled solves' excess), above the
    start, which is then what is returned. At ``8^6`` sampling cannot pay: an exact
    sweep there is ~3 ms of GEMMs and a sampled one ~10 ms of operations on ~2560-row
    arrays. The start (a 6^6 sub-tensor) reaches the floor in 23 ms (median; 19 ms at
    320 samples, where TensorLy's sampled TR-ALS stalls on 5 of 5 seeds) against
    ``tr_als``'s 17 ms; from the Gaussian start the sweeps take 70 ms.

    Parameters
    ----------
    X : torch.Tensor
        Real float tensor with at least 2 modes.
    seed : int
        Seeds the initial cores and all sampling (on ``X``'s device).
    callback : callable, optional
        Called after every sweep with ``{"iter", "rel_error", "exact", "elapsed"}``.
        With ``exact`` True (every ``eval_every`` sweeps and the last) ``rel_error`` is the
        exact residual's; otherwise the sampled residual of the sweep's last solve (an
        unbiased estimate for a fixed model; slightly optimistic, the rows were fitted).
        Also once for the sub-tensor start (``iter`` 0, exact) and, where the result is
        an earlier iterate, once more at the end with ``restored``.
    ranks : int or list of int
        TR ranks ``r_0 .. r_{N-1}`` (``r_k`` joins cores ``k`` and ``k+1``).
    samples : int, optional
        Rows drawn per least-squares problem (with replacement). Default
        :func:`default_samples`: ``max(200, 160 max_k r_{k-1} r_k)``.
    max_iter : int
        Most sweeps.
    tol : float
        Stopping rule (fit stagnation): stop when two exact evaluations in a row lower the
        best relative error so far by less than ``tol`` (a sampled sweep may raise the
        error a little, so one bad evaluation does not stop), or after ``max_iter``. A
        run whose best error is 1 or more (no better than all zeros) has stalled, not
        converged: ``converged`` is False and ``info["warning"]`` says what to change.
    eval_every : int
        Sweeps between exact evaluations (each costs one pass over X).
    init : {"subtensor", "random"}
        ``"subtensor"``: restrict every mode to a random subset of its indices (the
        fewest giving 64 entries per unknown of the restricted ring), fit that sub-tensor
        by exact TR-ALS, and solve each core over its whole mode against the others
        (:func:`_subtensor_start`); the start is then measured exactly and recorded as
        iteration 0. Where that sub-tensor would be all of X, the Gaussian start is
        used. ``"random"``: seeded Gaussian cores scaled to
        ``||X||``, as ``tr_als`` starts.

    Returns
    -------
    Decomposition
        On the ``tensor_ring`` network: the exactly evaluated iterate with the lowest
        error (when a later sampled sweep ended above it, the history's last record says
        so with ``restored``, the iteration it came from, as ``network_als`` does).
        ``info`` has ``samples``, ``converged``, ``iterations``, ``init`` (the start
        used), ``subtensor`` (its index counts, or None), ``subtensor_sweeps`` and,
        where the sweeps stalled at an error of 1 or more, ``warning``.
    """
    given = {
        "ranks": ranks,
        "max_iter": max_iter,
        "tol": tol,
        "eval_every": eval_every,
        "init": init,
    }
    if samples is not None:
        given["samples"] = samples
    p = check_params(_TR_LEV_PARAMS, given, "tr_als_lev", DecompositionError)
    check_data(X, "tr_als_lev")
    dims = list(X.shape)
    n = len(dims)
    rs = _check_tr_ranks(dims, p["ranks"], "tr_als_lev")
    m = p["samples"] if p["samples"] is not None else default_samples(rs)
    unknowns = max(rs[k - 1] * rs[k] for k in range(n))
    if m < unknowns:
        raise DecompositionError(
            f"tr_als_lev: samples={m} is below the {unknowns} unknowns per row of the largest "
            f"core (r_prev x r_next); use samples >= {unknowns} (default "
            f"{default_samples(rs)})"
        )
    sizes = _subtensor_sizes(dims, rs) if p["init"] == "subtensor" else None
    # The start's largest slab (one mode whole, the others restricted) is a fresh copy.
    slab = max(d * math.prod(sizes) // s for d, s in zip(dims, sizes, strict=True)) if sizes else 0
    check_memory(
        _dense_bytes(dims, rs, X.element_size())
        + X.element_size() * (m * (n * max(rs) ** 2 + max(dims) + unknowns) + slab),
        X.device,
        f"tr_als_lev of a {tuple(dims)} tensor (its exact error evaluations)",
        "lower the ranks or the samples",
    )
    clock = IterationClock(callback)
    if sizes is None:
        cores = _init_cores(X, rs, seed)
        sub_sweeps = 0
    else:
        cores, sub_sweeps = _subtensor_start(X, rs, sizes, seed)
    gen = torch.Generator(device=X.device).manual_seed(seed + 1)
    probs = [_leverage_probs(c) for c in cores]
    slices = [c.permute(0, 2, 1).contiguous() for c in cores]  # (r_{k-1}, r_k, n_k)
    norm_x = float(torch.linalg.vector_norm(X).double())
    best, stalls = math.inf, 0
    best_cores, best_it = list(cores), 0
    if sizes is not None:  # the start is a result already: measure it (one pass over X)
        best = _rel_error_via_inner(X, cores, norm_x)
        clock.record(iter=0, rel_error=best, exact=True)
    converged = False
    for it in range(1, p["max_iter"] + 1):
        for k in range(n):
            others = [(k + j) % n for j in range(1, n)]  # cyclic order of the subchain
            draws = [
                torch.multinomial(probs[j], m, replacement=True, generator=gen) for j in others
            ]
            # Merge duplicate multi-indices: one row each, weighted by its count.
            idx, counts = _merge_draws(draws, [dims[j] for j in others])
            idx = dict(zip(others, idx, strict=True))
            # Product probabilities in float64: N - 1 small factors may underflow float32.
            logp = torch.zeros(counts.shape[0], dtype=torch.float64, device=X.device)
            for j in others:
                logp = logp + torch.log(probs[j][idx[j]].double())
            w = torch.sqrt(counts.double() / m * torch.exp(-logp)).to(X.dtype)
            # Design rows: the subchain at the sampled indices, (r_k, r_{k-1}, U), a product
            # of U small matrices per core, kept sample-last (see _chain_mul).
            P = _take_slices(slices[others[0]], idx[others[0]])
            for j in others[1:]:
                P = _chain_mul(P, _take_slices(slices[j], idx[j]))
            r_prev, r_next = rs[k - 1], rs[k]
            At = P.transpose(0, 1).reshape(r_prev * r_next, -1) * w  # rows (a, b)
            F = X.movedim(k, -1)[tuple(idx[j] for j in range(n) if j != k)] * w[:, None]
            H = _solve_psd(At @ At.mT, At @ F)
            cores[k] = _unpack(H, r_prev, r_next)
            slices[k] = cores[k].permute(0, 2, 1).contiguous()
            probs[k] = _leverage_probs(cores[k])
        exact = it % p["eval_every"] == 0 or it == p["max_iter"]
        if exact:
            rel = _rel_error_via_inner(X, cores, norm_x)
        else:  # sampled residual of the last solve estimates ||X - T||^2
            est = float(torch.linalg.vector_norm(F - At.mT @ H).double())
            rel = _rel(est, norm_x)
        clock.record(iter=it, rel_error=rel, exact=exact)
        if exact:
            # Sampled sweeps need not lower the error every time: stop only when two
            # evaluations in a row fail to improve on the best by tol.
            stalls = stalls + 1 if best - rel < p["tol"] else 0
            if rel < best:
                best, best_cores, best_it = rel, list(cores), it
            if stalls >= 2:
                converged = not no_fit(best)  # a stall worse than zeros is no convergence
                break
    if best_it != it:
        # A sampled sweep can end above an earlier iterate (the sampled solves' excess
        # error is ~1-2% of the residual at the default samples, the sub-tensor start's
        # less): return the best exactly evaluated one, and say so in the history.
        cores = best_cores
        clock.record(iter=it, rel_error=best, exact=True, restored=best_it)
    info: dict[str, Any] = {
        "ranks": rs,
        "samples": m,
        "eval_every": p["eval_every"],
        "iterations": it,
        "converged": converged,
        "tol": p["tol"],
        "init": "random" if sizes is None else "subtensor",
        "subtensor": sizes,
        "subtensor_sweeps": sub_sweeps,
    }
    if no_fit(best):
        # Suggest the sub-tensor start only where this X has one (init="random" chose
        # against it); where the sub-tensor would be X itself it is no option.
        can = sizes is None and _subtensor_sizes(dims, rs) is not None
        starts = "init='subtensor', " if can else ""
        info["warning"] = stall_warning(it, best, f"use more samples (now {m}), {starts}or tr_als")
    return tr_decomposition(cores, "tr_als_lev", clock.history, info)
