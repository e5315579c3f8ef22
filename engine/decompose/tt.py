"""Tensor trains: TT-SVD (exact and randomized), TT arithmetic and TT rounding.

A tensor train (TT) of an order-``N`` tensor is here a list of cores ``G_1 .. G_N`` with
``G_k`` of shape ``(r_{k-1}, n_k, r_k)`` and ``r_0 = r_N = 1``:
``X[i_1, .., i_N] = G_1[:, i_1, :] @ .. @ G_N[:, i_N, :]``. Registered methods return the
:func:`~tensorbench.engine.templates.tensor_train` network, whose first and last cores drop
the outer bond of size one (bond ``r{k}`` of the network joins cores ``k`` and ``k+1``,
counting from zero).

Methods (family ``"tt"``):

* ``tt_svd`` -- TT-SVD (Oseledets 2011) with rank caps and/or a relative tolerance;
* ``tt_rand`` -- the same sweep with a randomized range finder in place of each SVD.

Functions on TT cores: :func:`tt_add`, :func:`tt_inner`, :func:`tt_norm`,
:func:`tt_to_dense`, :func:`tt_random`, exact rounding :func:`tt_round` and randomized
rounding :func:`tt_round_rand` / :func:`tt_round_sum_rand` (Al Daas et al. 2023). The
roundings are plain functions, not registered methods: their input is a TT (typically the
result of arithmetic), not a dense tensor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from ..device import check_memory
from ..params import Param, check_params
from ..templates import tensor_train
from .base import (
    Callback,
    Decomposition,
    DecompositionError,
    IterationClock,
    all_finite,
    check_ranks,
    register_method,
)

__all__ = [
    "admissible_tt_ranks",
    "check_data",
    "tt_add",
    "tt_als",
    "tt_decomposition",
    "tt_inner",
    "tt_norm",
    "tt_rand",
    "tt_random",
    "tt_round",
    "tt_round_rand",
    "tt_round_sum_rand",
    "tt_svd",
    "tt_to_dense",
]

Cores = list[torch.Tensor]

#: Tolerance ``tt_svd`` uses when neither ``ranks`` nor ``eps`` is given.
DEFAULT_EPS = 1e-2

# --------------------------------------------------------------------------- checks


def check_data(X: Any, what: str, min_order: int = 2) -> None:
    """Raise :class:`DecompositionError` unless ``X`` is a finite real float tensor.

    Parameters
    ----------
    X : torch.Tensor
        The data.
    what : str
        Method name, for the message.
    min_order : int
        Fewest modes the method accepts.
    """
    if not isinstance(X, torch.Tensor):
        raise DecompositionError(
            f"{what}: X must be a torch.Tensor, got {type(X).__name__}; "
            "convert it with torch.as_tensor"
        )
    if X.dtype not in (torch.float32, torch.float64):
        raise DecompositionError(
            f"{what}: X has dtype {X.dtype}; convert it to float32 or float64 "
            "(e.g. X.to(torch.float64))"
        )
    if X.ndim < min_order:
        raise DecompositionError(
            f"{what} needs a tensor with at least {min_order} modes, got shape {tuple(X.shape)}"
        )
    if X.numel() == 0:
        raise DecompositionError(f"{what}: X is empty (shape {tuple(X.shape)})")
    if not all_finite(X):
        raise DecompositionError(
            f"{what}: X contains NaN or infinite entries; remove or impute them first"
        )


def admissible_tt_ranks(dims: Sequence[int], caps: Sequence[int] | None = None) -> list[int]:
    """The largest TT ranks not above ``caps`` that the mode sizes allow.

    Bond ``k`` (between cores ``k`` and ``k+1``, from zero) can hold at most
    ``min(r_{k-1} n_k, n_{k+1} r_{k+1})`` given its neighbours; without ``caps`` this is
    ``min(prod(dims[:k+1]), prod(dims[k+1:]))``, the rank of the ``k``-th unfolding.
    """
    n = len(dims)
    a = [math.inf] * (n - 1) if caps is None else list(caps)
    prev = 1
    for k in range(n - 1):
        a[k] = min(a[k], prev * dims[k])
        prev = a[k]
    nxt = 1
    for k in range(n - 2, -1, -1):
        a[k] = min(a[k], dims[k + 1] * nxt)
        nxt = a[k]
    return [int(v) for v in a]


def _check_tt(cores: Any, what: str) -> Cores:
    """A list of 3-way float cores with chained ranks and boundary ranks one."""
    if isinstance(cores, torch.Tensor) or not isinstance(cores, Sequence) or not cores:
        raise DecompositionError(
            f"{what}: expected a non-empty list of TT cores of shape (r_prev, n, r_next)"
        )
    cores = list(cores)
    for k, c in enumerate(cores):
        if not isinstance(c, torch.Tensor) or c.ndim != 3:
            raise DecompositionError(
                f"{what}: core {k} must be a 3-way torch.Tensor (r_prev, n, r_next), "
                f"got {getattr(c, 'shape', type(c).__name__)}"
            )
        if c.dtype not in (torch.float32, torch.float64):
            raise DecompositionError(
                f"{what}: core {k} has dtype {c.dtype}; use float32 or float64"
            )
        if c.dtype != cores[0].dtype or c.device != cores[0].device:
            raise DecompositionError(f"{what}: all cores must share one dtype and device")
        if k > 0 and c.shape[0] != cores[k - 1].shape[2]:
            raise DecompositionError(
                f"{what}: core {k - 1} ends with rank {cores[k - 1].shape[2]} but core {k} "
                f"starts with rank {c.shape[0]}"
            )
    if cores[0].shape[0] != 1 or cores[-1].shape[2] != 1:
        raise DecompositionError(
            f"{what}: the first core must start and the last must end with rank 1, got "
            f"{tuple(cores[0].shape)} ... {tuple(cores[-1].shape)}"
        )
    return cores


def _rank_caps(ranks: int | Sequence[int] | None, n: int, what: str) -> list[int] | None:
    if ranks is None:
        return None
    if isinstance(ranks, bool):
        raise DecompositionError(f"{what}: ranks must be integers, got {ranks!r}")
    return check_ranks(ranks if isinstance(ranks, int) else list(ranks), n, what)


def _dims(cores: Cores) -> list[int]:
    return [int(c.shape[1]) for c in cores]


# --------------------------------------------------------------------------- small TT tools


def tt_to_dense(cores: Sequence[torch.Tensor]) -> torch.Tensor:
    """The dense tensor a TT represents, shape ``(n_1, .., n_N)``."""
    cores = _check_tt(cores, "tt_to_dense")
    T = cores[0].reshape(-1, cores[0].shape[2])
    for c in cores[1:]:
        T = (T @ c.reshape(c.shape[0], -1)).reshape(-1, c.shape[2])
    return T.reshape(_dims(cores))


def tt_random(
    dims: Sequence[int],
    ranks: int | Sequence[int],
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: Any = "cpu",
) -> Cores:
    """A TT with standard normal cores scaled so its expected squared norm is ``prod(dims)``.

    Each core ``(r_{k-1}, n_k, r_k)`` is divided by ``sqrt(r_{k-1})`` so entries of the
    full tensor have unit variance whatever the ranks.
    """
    n = len(dims)
    rs = [1, *_rank_caps(ranks, n - 1, "tt_random ranks"), 1]
    gen = torch.Generator(device=device).manual_seed(seed)
    return [
        torch.randn(rs[k], d, rs[k + 1], generator=gen, dtype=dtype, device=device)
        / math.sqrt(rs[k])
        for k, d in enumerate(dims)
    ]


def tt_add(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> Cores:
    """The TT of ``a + b``: block cores, ranks add (round the result to compress it)."""
    a, b = _check_tt(a, "tt_add a"), _check_tt(b, "tt_add b")
    if _dims(a) != _dims(b):
        raise DecompositionError(f"tt_add: mode sizes differ: {_dims(a)} vs {_dims(b)}")
    if a[0].dtype != b[0].dtype or a[0].device != b[0].device:
        raise DecompositionError("tt_add: both TTs must share one dtype and device")
    n = len(a)
    if n == 1:
        return [a[0] + b[0]]
    out = [torch.cat([a[0], b[0]], dim=2)]
    for x, y in zip(a[1:-1], b[1:-1], strict=True):
        z = x.new_zeros(x.shape[0] + y.shape[0], x.shape[1], x.shape[2] + y.shape[2])
        z[: x.shape[0], :, : x.shape[2]] = x
        z[x.shape[0] :, :, x.shape[2] :] = y
        out.append(z)
    out.append(torch.cat([a[-1], b[-1]], dim=0))
    return out


def tt_inner(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor:
    """``<a, b>`` (sum of entrywise products) of two TTs, a 0-d tensor.

    Left-to-right contraction, ``O(N n r_a r_b (r_a + r_b))``; the full tensors are never
    formed.
    """
    a, b = _check_tt(a, "tt_inner a"), _check_tt(b, "tt_inner b")
    if _dims(a) != _dims(b):
        raise DecompositionError(f"tt_inner: mode sizes differ: {_dims(a)} vs {_dims(b)}")
    W = a[0].new_ones(1, 1)
    for x, y in zip(a, b, strict=True):
        T = torch.tensordot(W, y, dims=([1], [0]))  # (ra, n, rb')
        W = torch.tensordot(x, T, dims=([0, 1], [0, 1]))  # (ra', rb')
    return W[0, 0]


def tt_norm(cores: Sequence[torch.Tensor]) -> torch.Tensor:
    """Frobenius norm of a TT, a 0-d tensor.

    Computed by right-to-left QR orthogonalization (the norm then sits in the first core),
    which keeps full relative precision where ``sqrt(tt_inner(x, x))`` would square it.
    """
    cores = _right_orthogonalize(_check_tt(cores, "tt_norm"))
    return torch.linalg.vector_norm(cores[0])


def _right_orthogonalize(cores: Cores) -> Cores:
    """Cores ``2..N`` made right-orthonormal by QR (right to left); the first holds the rest.

    ``(r_{k-1}, n_k r_k)`` unfoldings get orthonormal rows; ranks may shrink to ``n_k r_k``.
    """
    cores = list(cores)
    for k in range(len(cores) - 1, 0, -1):
        c = cores[k]
        r0, n, r1 = c.shape
        Q, R = torch.linalg.qr(c.reshape(r0, n * r1).mT)  # c = R^T Q^T
        cores[k] = Q.mT.reshape(-1, n, r1)
        cores[k - 1] = torch.tensordot(cores[k - 1], R.mT, dims=([2], [0]))
    return cores


def _truncation_rank(S: torch.Tensor, cap: int, delta: float | None) -> int:
    """Smallest rank whose discarded tail ``sum(S[r:]**2)`` is at most ``delta**2``, capped."""
    r = min(cap, S.numel())
    if delta is not None:
        tail = torch.flip(torch.cumsum(torch.flip(S.double() ** 2, [0]), 0), [0])
        r = min(r, int((tail > delta**2).sum()))
    return max(r, 1)


def tt_round(
    cores: Sequence[torch.Tensor],
    ranks: int | Sequence[int] | None = None,
    *,
    eps: float | None = None,
) -> Cores:
    """Exact TT rounding: recompress a TT to ranks at most ``ranks`` and/or error ``eps``.

    Right-to-left QR orthogonalization, then left-to-right truncated SVDs (Oseledets
    2011, Alg. 2). Every truncation is then an optimal one of an unfolding, so the result
    is quasi-optimal and, with ``eps``, ``||T - round(T)|| <= eps ||T||`` (each of the
    ``N - 1`` truncations may discard ``eps ||T|| / sqrt(N - 1)``). Cost ``O(N n R^3)``
    for input ranks ``R``: QRs and SVDs of ``(R n) x R`` matrices.

    Parameters
    ----------
    cores : list of torch.Tensor
        TT cores ``(r_{k-1}, n_k, r_k)``, ``r_0 = r_N = 1``.
    ranks : int or list of int, optional
        Rank caps, one for all bonds or one per bond (``N - 1``). Caps above a bond's
        current rank leave it as is.
    eps : float, optional
        Relative error target. At least one of ``ranks`` and ``eps`` is needed.

    Returns
    -------
    list of torch.Tensor
        The rounded TT; cores ``1..N-1`` left-orthonormal.
    """
    cores = _check_tt(cores, "tt_round")
    n = len(cores)
    caps = _rank_caps(ranks, n - 1, "tt_round ranks")
    if caps is None and eps is None:
        raise DecompositionError("tt_round needs ranks, eps or both")
    if eps is not None and not (math.isfinite(eps) and eps >= 0):
        raise DecompositionError(f"tt_round: eps must be a number >= 0, got {eps!r}")
    if n == 1:
        return [cores[0].clone()]
    caps = caps or [2**62] * (n - 1)
    cores = _right_orthogonalize(cores)
    delta = None
    if eps is not None:
        delta = eps * float(torch.linalg.vector_norm(cores[0])) / math.sqrt(n - 1)
    for k in range(n - 1):
        c = cores[k]
        r0, d, r1 = c.shape
        U, S, Vh = torch.linalg.svd(c.reshape(r0 * d, r1), full_matrices=False)
        r = _truncation_rank(S, caps[k], delta)
        cores[k] = U[:, :r].reshape(r0, d, r)
        cores[k + 1] = torch.tensordot(S[:r, None] * Vh[:r], cores[k + 1], dims=([1], [0]))
    return cores


def tt_round_rand(
    cores: Sequence[torch.Tensor],
    ranks: int | Sequence[int],
    *,
    oversample: int = 10,
    seed: int = 0,
) -> Cores:
    """Randomized TT rounding (randomize-then-orthogonalize, Al Daas et al. 2023).

    See :func:`tt_round_sum_rand`, of which this is the one-term case.
    """
    return tt_round_sum_rand([cores], ranks, oversample=oversample, seed=seed)


def tt_round_sum_rand(
    terms: Sequence[Sequence[torch.Tensor]],
    ranks: int | Sequence[int],
    *,
    oversample: int = 10,
    seed: int = 0,
) -> Cores:
    """Round the sum of TTs to ranks ``ranks`` by randomize-then-orthogonalize.

    Al Daas, Ballard, Cazeaux, Hallman, Miedlar, Pasha, Reid, Saibaba, "Randomized
    algorithms for rounding in the tensor-train format", SISC 2023:

    1. draw a Gaussian TT ``R`` with ranks ``l_k = r_k + oversample`` and contract it with
       the input from the right, giving sketches ``W_k`` (input rank x ``l_k``) of every
       right part (here with orthonormal columns: the same ranges, without the spread
       of singular values that products of cores build up);
    2. sweep left to right: the current core times ``W_k`` is a sketch of the ``k``-th
       unfolding's range; its QR gives an orthonormal core, and the projection carried
       to the next core keeps the TT exact on that range;
    3. the result is left-orthonormal with ranks ``l_k``, so one right-to-left sweep of
       small SVDs (``O(N n l^3)``) truncates it optimally to ``r_k``.

    Cost: for input ranks ``R`` the work is matrix products, ``O(N n R^2 l)``, plus QRs of
    ``(l n) x l`` matrices, against exact rounding's QRs and SVDs of ``(R n) x R``
    matrices, ``O(N n R^3)``; so it is ``~R / l`` times fewer flops, and those flops are
    GEMMs rather than factorizations. A sum of ``s`` TTs is never formed: each term is
    sketched on its own, so the block-diagonal zeros of :func:`tt_add` cost nothing
    (another factor ``~s`` on the sketch). Measured (AMD EPYC, 1 thread, float64, 10
    modes of 100, rounded to 50; benchmarks/bench_decompose.py): sum of two rank-50 TTs
    (``R = 100``) 100-124 ms vs 321-390 ms exact (3.2-3.4x in five runs, 2.9x in two
    others: the 3x mark lies inside this machine's run-to-run spread); of four
    (``R = 200``) 157-170 ms vs 1.61-1.83 s (~10x). With two terms the flops are ~1/4 of
    exact rounding's and what is left is float64 GEMMs near the machine's peak: the
    orthonormal bases come from Gram matrices (:func:`_tall_orth`, 2.5x faster than
    Householder QR here) and are formed only once, in the truncation sweep, so the gain
    stops near 3.3x on one core (3.15x, 124 ms vs 390 ms, in a run where the machine was
    ~15% slower throughout). When the sum is nearly of low rank (``a + 0.01 b``) the
    sketches' spectra spread past ``_GRAM_SAFE`` on 5 of 9 bonds, and a second Gram pass
    there is kept only where it could show in the result (below); here it cannot: 127 ms
    vs 390 ms (3.07x; 2.99x in the next run; 2.8x when every such bond took the second
    pass).

    Accuracy is that of a randomized range finder: with a flat spectral tail the error is
    within ``~sqrt(1 + r / (oversample - 1))`` of exact rounding's (measured on ``a +
    0.01 b``, ranks 50 + 50 -> 50: 0.024 at ``oversample = 10``, 0.015 at 20, 0.0108 at
    40, against 0.0101 exact); when the sum is exactly of rank ``<= r`` it is exact. A
    bond whose sketch would be as wide as the input rank or as the modes to its right is
    not sketched (the range is taken whole), so a sum kept at full rank comes back to
    rounding level even when its terms differ in scale by 1e6.

    Parameters
    ----------
    terms : list of list of torch.Tensor
        TTs (cores ``(r_{k-1}, n_k, r_k)``) of equal mode sizes, dtype and device.
    ranks : int or list of int
        Target ranks, one for all bonds or one per bond (``N - 1``); a bond keeps at most
        the rank the modes (and the input) allow.
    oversample : int
        Extra sketch columns per bond (default 10, the usual randomized-SVD margin; raise
        it when the spectrum decays slowly, see above).
    seed : int
        Seed of the random TT (drawn on the cores' device).

    Returns
    -------
    list of torch.Tensor
        The rounded TT; cores ``2..N`` right-orthonormal.
    """
    if isinstance(terms, torch.Tensor) or not isinstance(terms, Sequence) or not terms:
        raise DecompositionError("tt_round_sum_rand: expected a non-empty list of TTs")
    terms = [_check_tt(t, f"tt_round_sum_rand term {s}") for s, t in enumerate(terms)]
    dims = _dims(terms[0])
    for s, t in enumerate(terms[1:], 1):
        if _dims(t) != dims:
            raise DecompositionError(
                f"tt_round_sum_rand: term {s} has mode sizes {_dims(t)}, term 0 has {dims}"
            )
        if t[0].dtype != terms[0][0].dtype or t[0].device != terms[0][0].device:
            raise DecompositionError("tt_round_sum_rand: all terms must share dtype and device")
    if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 0:
        raise DecompositionError(
            f"tt_round_rand: oversample must be an int >= 0, got {oversample!r}"
        )
    n = len(dims)
    caps = _rank_caps(ranks, n - 1, "tt_round_rand ranks")
    if caps is None:
        raise DecompositionError("tt_round_rand needs target ranks (an int or one per bond)")
    if n == 1:
        return [sum(t[0] for t in terms)]
    ref = terms[0][0]
    # Sketch ranks: target + oversample, but no more than the modes or the input allow.
    in_ranks = [sum(int(t[k].shape[2]) for t in terms) for k in range(n - 1)]
    ls = admissible_tt_ranks(
        dims, [min(c + oversample, r) for c, r in zip(caps, in_ranks, strict=True)]
    )
    ls_full = [1, *ls, 1]
    gen = torch.Generator(device=ref.device).manual_seed(seed)
    # Drawn in float32 and widened: a Gaussian test matrix needs no more precision than
    # that (the products with it are exact in the data's precision), and torch's float32
    # sampler is ~5x faster -- drawing the cores was 15% of the whole rounding.
    # The right sketches only choose *which* subspace of each unfolding's range is kept:
    # Y = parts @ W lies in the range of ``parts`` whatever W's rounding errors, so when
    # ``parts`` has rank <= l the range is captured exactly. Single precision (twice the
    # GEMM speed, a third of the flops here) is then enough for them.
    sk = torch.float32 if ref.dtype in (torch.float64, torch.float32) else ref.dtype
    # A "sketch" as wide as what it sketches is no sketch: a random square factor only
    # worsens the conditioning (a direction at 1e-5 of the sum could fall below the
    # bases' 1e-7 noise floor and be lost), and where ``parts`` has more columns of rank
    # than ``l`` the TT stays exact only if W's null space is exactly that of the right
    # part, which float32 misses by 1e-7. So where ``l`` is the product of the modes to
    # the right (bonds near the right end, contiguous: ranks are admissible), W is the
    # right part itself, in the data's precision; and where ``l`` is the input rank, the
    # basis is taken from ``parts`` directly (below).
    right_exact = [ls[k] >= math.prod(dims[k + 1 :]) for k in range(n - 1)]
    rand = [None] + [
        None
        if right_exact[k - 1]
        else torch.randn(
            ls_full[k],
            dims[k],
            ls_full[k + 1],
            generator=gen,
            dtype=torch.float32,
            device=ref.device,
        ).to(sk)
        for k in range(1, n)
    ]
    # 1. Right sketches: W[s][k] = (right part of term s after bond k) . (same of R).
    W: list[list[torch.Tensor]] = []
    for t in terms:
        Ws: list[torch.Tensor] = [ref.new_ones(1, 1)] * (n - 1)
        w = ref.new_ones(1, 1)
        for k in range(n - 1, 0, -1):
            if right_exact[k - 1]:  # (R_{k-1}, n_k * l_k): the right part, exactly
                w = torch.tensordot(t[k], w, dims=([2], [0])).reshape(t[k].shape[0], -1)
            else:
                tw = torch.tensordot(t[k].to(sk), w.to(sk), dims=([2], [0]))  # (R, n_k, l_k)
                w = torch.tensordot(tw, rand[k], dims=([1, 2], [1, 2]))  # (R_{k-1}, l_{k-1})
            Ws[k - 1] = w.to(ref.dtype)
        W.append(Ws)
    # Orthonormal sketch columns. W inherits the conditioning of the input's right parts,
    # which random cores spread further at every core, and Y = parts @ W carries it into
    # the Gram route below (which squares it). W = Q_w R_w and Q_w in its place leave
    # range(Y), all that a sketch is for, as it was; Y's spread is then the data's. On
    # a + 0.01 b (10 modes of 100, ranks 50 + 50 -> 50) the smallest kept direction of the
    # last bond's Y went from 5e-6 to 3e-5 of the largest (5 bonds past _GRAM_SAFE, not 7).
    for k in range(n - 1):
        if right_exact[k] or ls[k] >= in_ranks[k]:
            continue
        Qw = torch.linalg.qr(torch.cat([Ws[k] for Ws in W]))[0]
        for Ws, part in zip(W, Qw.split([Ws[k].shape[0] for Ws in W]), strict=True):
            Ws[k] = part

    def project_and_truncate(refine: bool) -> tuple[Cores, float, float]:
        """Steps 2 and 3; also the summed error estimates of the second Gram passes
        skipped (``refine=False``) and the largest relative tail the truncation discarded."""
        # 2. Left-to-right: orthonormal range of each sketched unfolding; carry projections.
        M = [ref.new_ones(1, 1) for _ in terms]  # (q_{k-1}, R^s_{k-1})
        lazy: list[tuple[torch.Tensor, torch.Tensor | None, int]] = []
        drift = 0.0
        for k in range(n - 1):
            parts = [
                (m @ t[k].reshape(t[k].shape[0], -1)).reshape(-1, t[k].shape[2])
                for m, t in zip(M, terms, strict=True)
            ]  # (q_{k-1} n_k, R^s_k)
            q0 = M[0].shape[0]
            if ls[k] >= in_ranks[k] and not right_exact[k]:
                Y = torch.cat(parts, dim=1)
            else:
                Y = parts[0] @ W[0][k]
                for p, w in zip(parts[1:], W[1:], strict=True):
                    Y.addmm_(p, w[k])  # accumulate in place: no temporaries, no separate adds
            # Q = base @ B, left unformed: step 3 multiplies it by a small matrix anyway, so
            # forming it once there saves a (q n) x l x l product per core (~12% of the time).
            base, B, skipped = _tall_orth_factor(Y, refine=refine)
            drift += skipped
            lazy.append((base, B, q0))
            M = [(base.mT @ p) if B is None else B.mT @ (base.mT @ p) for p in parts]
        last = torch.tensordot(M[0], terms[0][n - 1], dims=([1], [0]))
        for m, t in zip(M[1:], terms[1:], strict=True):
            last.add_(torch.tensordot(m, t[n - 1], dims=([1], [0])))
        out: Cores = [last.new_empty(0)] * (n - 1) + [last]
        # ||sketched TT||^2 (left-orthonormal); vector_norm makes no squared copy (3% of
        # the time here, with the tails below)
        norm_sq = float(torch.linalg.vector_norm(last, dtype=torch.float64)) ** 2
        tail_sq = 0.0
        # 3. Right-to-left truncation of the (left-orthonormal) small-rank TT.
        for k in range(n - 1, 0, -1):
            C = out[k].reshape(out[k].shape[0], -1)
            U, S, Vh = _wide_svd(C, caps[k - 1])
            # What this bond's truncation discards (to ~1e-8 of ||C||: a difference of
            # squares), a lower bound on the result's error (all projections orthogonal).
            drop = (
                float(torch.linalg.vector_norm(C, dtype=torch.float64)) ** 2
                - float(torch.linalg.vector_norm(S, dtype=torch.float64)) ** 2
            )
            tail_sq = max(tail_sq, drop)
            out[k] = Vh.reshape(S.numel(), dims[k], -1)
            base, B, q = lazy[k - 1]
            C = U * S if B is None else B @ (U * S)
            out[k - 1] = (base @ C).reshape(q, dims[k - 1], -1)
        tail = math.sqrt(max(tail_sq, 0.0) / norm_sq) if norm_sq > 0 else 0.0
        return out, drift, tail

    # The second Gram pass restores orthonormality lost to a spread spectrum (a + 0.01 b:
    # 5 of 9 bonds, ~15% of the time), which matters where the rounding is near exact.
    # Where the truncation's own error is far larger it cannot show: keep the one-pass
    # result when the skipped passes' error estimates add up to under 1% of the largest
    # tail discarded (itself trusted from 1e-6 up, 100x its rounding noise), and otherwise
    # sweep again with both passes, as near-exact sums always did.
    out, drift, tail = project_and_truncate(refine=False)
    if drift > 0.0 and (tail < _TAIL_FLOOR or drift > _DRIFT_SHARE * tail):
        out = project_and_truncate(refine=True)[0]
    return out


#: Gram-route thresholds, relative to the largest singular value: below ``_GRAM_DROP`` a
#: direction is rounding noise (or an exactly lower rank) and is dropped; a kept one below
#: ``_GRAM_SAFE`` would cost orthonormality worse than ~1e-10 (float64), as the Gram
#: matrix squares the condition number.
_GRAM_DROP, _GRAM_SAFE = 1e-7, 1e-3
#: Randomized TT rounding keeps a one-pass result when the skipped second passes' error
#: estimates sum to at most ``_DRIFT_SHARE`` of the largest relative tail its truncation
#: discarded, and that tail is at least ``_TAIL_FLOOR``.
_DRIFT_SHARE, _TAIL_FLOOR = 1e-2, 1e-6


def _gram_eig(G: torch.Tensor, cap: int) -> tuple[torch.Tensor, torch.Tensor, int, bool]:
    """Singular values (descending) and vectors from a Gram matrix ``G``, the number kept
    (at most ``cap``, at least 1), and whether the kept ones are safe to use (nonzero and
    none below ``_GRAM_SAFE`` of the largest)."""
    ev, V = torch.linalg.eigh(G)
    S = ev.flip(0).clamp_min(0).sqrt()
    r = max(1, min(cap, int((S[0] * _GRAM_DROP < S).sum())))
    ok = float(S[0]) > 0.0 and float(S[r - 1]) >= _GRAM_SAFE * float(S[0])
    return S, V.flip(1), r, ok


def _tall_orth(Y: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis of the range of a tall ``Y`` (``m x l``, ``l << m``).

    Through the Gram matrix, as :func:`_wide_svd`: ``Q = Y V S^-1`` from ``Y^T Y = V S^2
    V^T`` is two GEMMs and an ``l x l`` eigensolve, 2.5x faster than Householder QR on
    the ``6000 x 60`` sketches of TT rounding (1.9 ms vs 4.6 ms, one AMD EPYC thread).
    Directions below ``1e-7 S_1`` are dropped (rounding noise, or an exactly lower rank,
    whose range is then found exactly). The result loses orthonormality as ``eps (S_1 /
    S_l)^2``; when a kept direction is below ``1e-3 S_1`` (a loss worse than ~1e-10) the
    same step runs once more on ``Q``, whose condition number is then ~1, which restores
    it to rounding level (as Cholesky-QR2 does) and still costs less than Householder QR.
    Those thresholds need float64: other dtypes get Householder QR, as does ``Y = 0``
    (a sum that cancels), which has no Gram spectrum to scale by.
    """
    base, B, _ = _tall_orth_factor(Y)
    return base if B is None else base @ B


def _tall_orth_factor(
    Y: torch.Tensor, refine: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """:func:`_tall_orth` as ``Q = base @ B`` with the product left to the caller (``B`` is
    ``None`` when ``base`` already is ``Q``: the Householder case).

    With ``refine=False`` the second Gram pass is skipped. Q then loses orthonormality as
    ``~eps (S_1 / S_l)^2``, but projecting data onto it errs far less, as the loss sits in
    the directions where the data is small: the third value estimates that error, relative
    to the data, as ``sqrt(l) eps S_1 / S_l`` (0.0 when nothing was skipped). In TT
    rounding of sums whose terms differ in scale by 1e-2 to 1e-6 it was 9 to 2200 times
    the change that the second pass made to the result (2 times where both were ~1e-12).
    """
    if Y.dtype != torch.float64:
        return torch.linalg.qr(Y)[0], None, 0.0
    S, V, keep, ok = _gram_eig(Y.mT @ Y, Y.shape[1])
    if float(S[0]) == 0.0:
        return torch.linalg.qr(Y)[0], None, 0.0
    B = V[:, :keep] / S[:keep]
    if ok:
        return Y, B, 0.0
    if not refine:
        drift = math.sqrt(Y.shape[1]) * torch.finfo(Y.dtype).eps * float(S[0] / S[keep - 1])
        return Y, B, drift
    Q = Y @ B  # the second pass needs the first one's Q formed; its own product need not be
    S, V, keep, _ = _gram_eig(Q.mT @ Q, Q.shape[1])
    return Q, V[:, :keep] / S[:keep], 0.0


def _wide_svd(C: torch.Tensor, cap: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Leading ``<= cap`` singular triplets of a short, wide ``C`` (``l x m``, ``l << m``).

    Through the Gram matrix ``C C^T`` (two GEMMs and an ``l x l`` eigensolve: ~40% less
    time than LAPACK's SVD for the ``60 x 6000`` unfoldings of TT rounding) when that is
    accurate: the Gram squares the condition number, so eigenvalues carry absolute error
    ``~eps ||C||^2`` and ``V = U^T C / S`` loses orthonormality as ``eps (S_1/S_r)^2``.
    Triplets below ``1e-7 S_1`` are dropped (they are rounding noise, or an exactly
    lower rank); if a kept one is below ``1e-3 S_1`` (orthonormality worse than ~1e-10),
    or ``C = 0``, the SVD is used instead.
    """
    S, U, r, ok = _gram_eig(C @ C.mT, cap)
    if not ok:
        V, S, Uh = torch.linalg.svd(C.mT, full_matrices=False)  # tall transpose: faster
        r = _truncation_rank(S, cap, None)
        return Uh.mT[:, :r], S[:r], V.mT[:r]
    U, S = U[:, :r], S[:r]
    return U, S, (U.mT @ C) / S[:, None]


# --------------------------------------------------------------------------- TT-SVD


def tt_decomposition(
    cores: Sequence[torch.Tensor],
    method: str,
    history: list[dict[str, Any]] | None = None,
    info: dict[str, Any] | None = None,
) -> Decomposition:
    """Wrap TT cores ``(r_{k-1}, n_k, r_k)`` as a :class:`Decomposition` on the TT template.

    The first and last cores lose their outer bond of size one, as the network has it.
    """
    cores = _check_tt(cores, "tt_decomposition")
    if len(cores) < 2:
        raise DecompositionError("tt_decomposition: a tensor train needs at least 2 cores")
    net = tensor_train(_dims(cores), [int(c.shape[2]) for c in cores[:-1]])
    net_cores = [cores[0][0], *cores[1:-1], cores[-1][..., 0]]
    return Decomposition(method, net, net_cores, list(history or []), dict(info or {}))


def _svd_step(C: torch.Tensor, cap: int, delta: float | None) -> tuple:
    """Truncated SVD ``C ~ U (S V^T)``; returns ``U``, ``S V^T`` and the discarded mass."""
    U, S, Vh = torch.linalg.svd(C, full_matrices=False)
    r = _truncation_rank(S, cap, delta)
    discarded = float((S[r:].double() ** 2).sum())
    return U[:, :r], S[:r, None] * Vh[:r], discarded


def _rand_step(
    C: torch.Tensor, cap: int, gen: torch.Generator, oversample: int, power_iters: int
) -> tuple:
    """Randomized range finder (Halko, Martinsson, Tropp 2011) then an SVD of ``Q^T C``."""
    m, n = C.shape
    width = min(cap + oversample, m, n)
    if width >= min(m, n):  # the sketch would be as large as the matrix: the SVD is cheaper
        return _svd_step(C, cap, None)
    Y = C @ torch.randn(n, width, generator=gen, dtype=C.dtype, device=C.device)
    for _ in range(power_iters):  # re-orthonormalize between passes to keep small directions
        Q, _ = torch.linalg.qr(Y)
        Z, _ = torch.linalg.qr(C.mT @ Q)
        Y = C @ Z
    Q, _ = torch.linalg.qr(Y)
    B = Q.mT @ C
    U, S, Vh = torch.linalg.svd(B, full_matrices=False)
    r = min(cap, S.numel())
    # ||C - Q U_r U_r^T Q^T C||^2 = ||C||^2 - sum(S_r^2) by Pythagoras. When that is tiny
    # the difference cancels, so measure the range finder's residual directly (one GEMM).
    norm_sq = float(torch.linalg.vector_norm(C).double() ** 2)
    discarded = norm_sq - float((S[:r].double() ** 2).sum())
    if discarded < math.sqrt(torch.finfo(C.dtype).eps) * norm_sq:
        discarded = float(torch.linalg.vector_norm(C - Q @ B).double() ** 2)
        discarded += float((S[r:].double() ** 2).sum())
    return Q @ U[:, :r], S[:r, None] * Vh[:r], max(discarded, 0.0)


def _tt_sweep(X: torch.Tensor, caps: list[int], step: Any, clock: IterationClock) -> Cores:
    """Left-to-right TT-SVD sweep; ``step(C, cap) -> (U, rest, discarded)`` truncates."""
    dims = list(X.shape)
    n = len(dims)
    norm_x = float(torch.linalg.vector_norm(X).double())
    err_sq = 0.0
    cores: Cores = []
    r_prev = 1
    C = X.reshape(dims[0], -1)
    for k in range(n - 1):
        U, rest, discarded = step(C, caps[k])
        # Left cores are orthonormal, so the discarded masses of the steps add up exactly.
        err_sq += discarded
        r = U.shape[1]
        cores.append(U.reshape(r_prev, dims[k], r))
        C = rest.reshape(r * dims[k + 1], -1)
        r_prev = r
        rel = math.sqrt(err_sq) / norm_x if norm_x > 0 else math.sqrt(err_sq)
        clock.record(iter=k + 1, rel_error=rel, rank=r)
    cores.append(C.reshape(r_prev, dims[-1], 1))
    return cores


def _check_caps(dims: list[int], caps: list[int], what: str) -> None:
    allowed = admissible_tt_ranks(dims, caps)
    if allowed != caps:
        bad = [k for k in range(len(caps)) if allowed[k] < caps[k]]
        raise DecompositionError(
            f"{what}: ranks {caps} are too large for mode sizes {dims} at bond(s) {bad}; "
            f"at most {allowed} are possible there"
        )


_RANKS_DOC = "TT ranks: one value for all bonds, or one per bond (modes - 1)"


_TT_SVD_PARAMS = (
    Param("ranks", "ints", None, _RANKS_DOC + "; caps when eps is also given"),
    Param(
        "eps",
        "float",
        None,
        f"relative error target (at most eps ||X||); {DEFAULT_EPS:g} when no ranks are given",
        min=0.0,
        max=1.0,
    ),
)


@register_method(
    "tt_svd",
    "tt",
    *_TT_SVD_PARAMS,
    doc="TT-SVD (Oseledets): sequential truncated SVDs, rank caps and/or an error target",
)
def tt_svd(
    X: torch.Tensor,
    *,
    seed: int = 0,
    callback: Callback | None = None,
    ranks: int | Sequence[int] | None = None,
    eps: float | None = None,
) -> Decomposition:
    """Tensor train by TT-SVD (Oseledets 2011): one left-to-right sweep of truncated SVDs.

    At step ``k`` the remainder, reshaped to ``(r_{k-1} n_k) x (n_{k+1} .. n_N)``, is
    factored by an SVD and truncated to the rank cap and/or to discard at most
    ``eps ||X|| / sqrt(N - 1)``; so ``||X - TT|| <= eps ||X||``.

    Parameters
    ----------
    X : torch.Tensor
        Real float tensor with at least 2 modes.
    seed : int
        Unused (the method is deterministic); part of the common signature.
    callback : callable, optional
        Called after every SVD step with ``{"iter": step, "rel_error", "rank", "elapsed"}``;
        ``rel_error`` is the exact error of the partial TT so far (discarded singular
        values add up because the left cores are orthonormal).
    ranks : int or list of int, optional
        Rank caps (all bonds or one per bond); must not exceed what the modes allow.
    eps : float, optional
        Relative error target. With neither ``ranks`` nor ``eps``, ``eps = 0.01``.

    Returns
    -------
    Decomposition
        On the ``tensor_train`` network with the ranks reached; ``info`` holds them.
    """
    p = check_params(
        _TT_SVD_PARAMS,
        {k: v for k, v in {"ranks": ranks, "eps": eps}.items() if v is not None},
        "tt_svd",
        DecompositionError,
    )
    check_data(X, "tt_svd")
    dims = list(X.shape)
    n = len(dims)
    caps = _rank_caps(p["ranks"], n - 1, "tt_svd ranks")
    if caps is None:
        caps = admissible_tt_ranks(dims)
        eps = DEFAULT_EPS if p["eps"] is None else p["eps"]
    else:
        _check_caps(dims, caps, "tt_svd")
        eps = p["eps"]
    check_memory(
        3 * X.numel() * X.element_size(),
        X.device,
        f"tt_svd of a {tuple(dims)} tensor (SVD of its first unfolding)",
        "use tt_rand, or a smaller tensor",
    )
    delta = None
    if eps is not None and eps > 0:
        delta = eps * float(torch.linalg.vector_norm(X).double()) / math.sqrt(n - 1)
    clock = IterationClock(callback)
    cores = _tt_sweep(X, caps, lambda C, cap: _svd_step(C, cap, delta), clock)
    info = {"ranks": [int(c.shape[2]) for c in cores[:-1]], "eps": eps, "error_bound": eps}
    return tt_decomposition(cores, "tt_svd", clock.history, info)


_TT_RAND_PARAMS = (
    Param("ranks", "ints", 3, _RANKS_DOC),
    Param("oversample", "int", 10, "extra random columns per step beyond the rank", min=0),
    Param("power_iters", "int", 1, "power iterations per range finder", min=0, max=10),
)


@register_method(
    "tt_rand",
    "tt",
    *_TT_RAND_PARAMS,
    doc="randomized TT-SVD: a randomized range finder in place of each SVD",
    sketched=True,
    exact_counterpart="tt_svd",
)
def tt_rand(
    X: torch.Tensor,
    *,
    seed: int = 0,
    callback: Callback | None = None,
    ranks: int | Sequence[int] = 3,
    oversample: int = 10,
    power_iters: int = 1,
) -> Decomposition:
    """Tensor train by randomized TT-SVD (Huber, Schneider, Wolf 2017; Che, Wei 2019).

    The TT-SVD sweep, with each truncated SVD of the ``m x n`` remainder replaced by a
    randomized range finder: ``Y = C Omega`` with a Gaussian ``Omega`` of ``r_k +
    oversample`` columns, ``power_iters`` power iterations (QR-stabilized), ``Q = qr(Y)``,
    then the SVD of the small ``Q^T C`` truncated to ``r_k``. Each step costs
    ``O(m n (r + p))`` instead of ``O(m n min(m, n))``; steps whose sketch would be no
    smaller than the matrix use the exact SVD. Defaults: ``oversample = 10`` and one power
    iteration, the usual choice (Halko et al.) that puts the error within a few percent
    of the SVD's on matrices with slowly decaying spectra.

    Parameters
    ----------
    X : torch.Tensor
        Real float tensor with at least 2 modes.
    seed : int
        Seeds the Gaussian test matrices (drawn on ``X``'s device).
    callback : callable, optional
        Called after every step with ``{"iter": step, "rel_error", "rank", "elapsed"}``;
        ``rel_error`` is exact: ``||C||^2 - ||kept||^2`` per step, or the residual
        measured directly where that difference would cancel.
    ranks : int or list of int
        TT ranks (all bonds or one per bond); must not exceed what the modes allow.
    oversample, power_iters : int
        Sketch width beyond the rank, and power iterations.

    Returns
    -------
    Decomposition
        On the ``tensor_train`` network with ranks ``ranks``.
    """
    p = check_params(
        _TT_RAND_PARAMS,
        {"ranks": ranks, "oversample": oversample, "power_iters": power_iters},
        "tt_rand",
        DecompositionError,
    )
    check_data(X, "tt_rand")
    dims = list(X.shape)
    caps = _rank_caps(p["ranks"], len(dims) - 1, "tt_rand ranks")
    _check_caps(dims, caps, "tt_rand")
    over, q = p["oversample"], p["power_iters"]
    width = max(caps) + over
    check_memory(
        X.element_size() * (X.numel() + 3 * width * X.numel() // dims[0]),
        X.device,
        f"tt_rand of a {tuple(dims)} tensor",
        "lower ranks or oversample",
    )
    gen = torch.Generator(device=X.device).manual_seed(seed)
    clock = IterationClock(callback)
    cores = _tt_sweep(X, caps, lambda C, cap: _rand_step(C, cap, gen, over, q), clock)
    info = {"ranks": caps, "oversample": over, "power_iters": q}
    return tt_decomposition(cores, "tt_rand", clock.history, info)


@register_method(
    "tt_als",
    "tt",
    Param(
        "ranks", "ints", 3, "TT ranks: one value, or one per bond (capped at what the modes allow)"
    ),
    Param("max_iter", "int", 50, "most ALS sweeps", min=1, max=100_000),
    Param(
        "tol",
        "float",
        1e-6,
        "stop when a sweep improves the error by less than this",
        min=0.0,
        max=1.0,
    ),
    doc="TT by alternating least squares: sweeps over the cores (an iterative TT whose "
    "error can be watched as it falls)",
)
def tt_als(
    X: torch.Tensor,
    *,
    seed: int = 0,
    callback: Callback | None = None,
    ranks: int | Sequence[int] = 3,
    max_iter: int = 50,
    tol: float = 1e-6,
) -> Decomposition:
    """Tensor train fitted by ALS over its cores (seeded random start).

    The TT structure (:func:`~tensorbench.engine.templates.tensor_train`) is handed to
    :func:`~tensorbench.engine.decompose.network_als.network_als`, which solves each core's
    least-squares problem exactly; one record per sweep. Ranks above what the modes allow
    are capped (:func:`admissible_tt_ranks`). TT-SVD is the one-pass alternative with an
    error guarantee; ALS can be stopped at any sweep and continues to improve on it.
    """
    from .network_als import network_als

    check_data(X, "tt_als")
    dims = list(X.shape)
    caps = check_ranks(ranks, len(dims) - 1, "tt_als ranks (one per bond)")
    used = admissible_tt_ranks(dims, caps)
    net = tensor_train(dims, used)
    dec = network_als(X, network=net, seed=seed, callback=callback, max_iter=max_iter, tol=tol)
    # the ranks it ran at, as the other TT methods report them (the table showed the 24
    # asked where the modes allowed 8 at the ends)
    return Decomposition("tt_als", dec.network, dec.cores, dec.history, dec.info | {"ranks": used})
