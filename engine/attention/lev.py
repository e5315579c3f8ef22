"""LevAttention: attend only a "universal set" of keys chosen by leverage score (Kannan,
Bhattacharyya, Kacham, Woodruff 2024).

The leverage score of key ``j`` in ``K`` (``n x d``) is ``tau_j = k_j^T (K^T K)^+ k_j``;
the scores sum to ``rank(K) <= d``. For ``f(x) = |x|^p`` attention the paper shows that
every key that takes a large share of *some* query's attention has a large leverage
score, so the keys above a threshold form a set that serves every query at once, with a
size that depends on ``d`` and the threshold but not on ``n``. For softmax it is a
heuristic that works when the large entries come from keys that stand out. A local window
of recent keys (those not already in the set) can be added, as the paper's experiments
do; the two parts are merged by log-sum-exp.
"""

from __future__ import annotations

from typing import Any

import torch

from .core import AttentionError, _check_qkv, block_attention, expand_kv, merge

__all__ = ["lev_attention", "leverage_scores", "universal_set"]


def leverage_scores(k: torch.Tensor) -> torch.Tensor:
    """Leverage scores of the rows of ``k`` (``(..., n, d)`` -> ``(..., n)``), from a thin
    SVD with a relative rank cutoff (computed in float64 for stability)."""
    k64 = k.detach().double()
    U, S, _ = torch.linalg.svd(k64, full_matrices=False)
    tol = S.amax(dim=-1, keepdim=True) * max(k.shape[-2:]) * torch.finfo(torch.float64).eps
    U = U * (tol < S).unsqueeze(-2)
    return (U**2).sum(-1).to(k.dtype if k.dtype.is_floating_point else torch.float64)


def universal_set(
    k: torch.Tensor, keys: int | None = None, eps: float | None = None
) -> torch.Tensor:
    """Indices ``(..., Hkv, m)`` of the keys kept: the ``keys`` largest leverage scores, or
    (with ``eps``) every key whose score is at least ``eps`` (padded with the next largest
    to the same count across heads), sorted by position."""
    tau = leverage_scores(k)
    n = k.shape[-2]
    if keys is None and eps is None:
        raise AttentionError("LevAttention needs keys (a count) or eps (a score threshold)")
    if eps is not None:
        count = int((tau >= eps).sum(-1).max())
        m = max(1, min(n, count if keys is None else min(count, keys)))
    else:
        if not isinstance(keys, int) or keys < 1:
            raise AttentionError(f"keys must be a positive integer, got {keys!r}")
        m = min(n, keys)
    idx = tau.topk(m, dim=-1).indices
    return idx.sort(dim=-1).values


def lev_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    keys: int | None = 256,
    eps: float | None = None,
    window: int = 0,
    causal: bool = False,
    power: float | None = None,
    scale: float | None = None,
    return_kept: bool = False,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Attention restricted to the universal set (plus an optional local window).

    Parameters
    ----------
    q, k, v : torch.Tensor
        ``(..., H, Nq, D)``, ``(..., Hkv, Nk, D)``, ``(..., Hkv, Nk, Dv)``; queries are the
        last ``Nq`` positions of the sequence.
    keys : int, optional
        Size of the universal set (per key head). With ``keys >= Nk`` and no window the
        result is exact.
    eps : float, optional
        Keep keys with leverage score at least ``eps`` instead (capped by ``keys``).
    window : int
        Each query also attends its ``window`` nearest keys (the most recent ones when
        causal) that are not in the set.
    causal : bool
        Query ``i`` sees keys up to its own position.
    power : float, optional
        ``f(x) = |x|^power`` attention (the paper's setting) instead of softmax.
    return_kept : bool
        Also return the ``(..., Hkv, m)`` indices of the set in the info dict.

    Returns
    -------
    out : torch.Tensor
    info : dict
        ``set_size``, the rows' log-sum-exps ``lse`` and, with ``return_kept``, ``kept``.
    """
    _check_qkv(q, k, v)
    if not isinstance(window, int) or window < 0:
        raise AttentionError(f"window must be an integer >= 0, got {window!r}")
    nq, nk = q.shape[-2], k.shape[-2]
    heads = q.shape[-3]
    idx = universal_set(k, keys, eps)  # (..., Hkv, m)
    m = idx.shape[-1]
    gather = idx.unsqueeze(-1)
    ku = torch.gather(k, -2, gather.expand(*idx.shape, k.shape[-1]))
    vu = torch.gather(v, -2, gather.expand(*idx.shape, v.shape[-1]))
    qpos = torch.arange(nk - nq, nk, device=q.device)
    mask = None
    if causal:
        idx_h = expand_kv(idx.unsqueeze(-1), heads).squeeze(-1)  # (..., H, m)
        mask = idx_h.unsqueeze(-2) <= qpos[:, None]  # (..., H, nq, m)
    out, lse = block_attention(q, ku, vu, scale=scale, mask=mask, power=power)
    if window:
        in_set = torch.zeros(*k.shape[:-1], dtype=torch.bool, device=k.device)
        in_set.scatter_(-1, idx, True)
        in_set_h = expand_kv(in_set.unsqueeze(-1), heads).squeeze(-1)  # (..., H, nk)
        rows_o, rows_lse = [], []
        block = max(64, window)
        # the window part row block by row block: only the keys near each block are read
        for a in range(0, nq, block):
            b = min(nq, a + block)
            lo = max(0, nk - nq + a - window + 1)
            hi = nk - nq + b if causal else min(nk, nk - nq + b + window - 1)
            kj = torch.arange(lo, hi, device=q.device)[None, :]
            qi = qpos[a:b, None]
            near = (qi - kj < window) & (kj - qi < (1 if causal else window))
            o, ls = block_attention(
                q[..., a:b, :],
                k[..., lo:hi, :],
                v[..., lo:hi, :],
                scale=scale,
                mask=near & ~in_set_h[..., None, lo:hi],
                power=power,
            )
            rows_o.append(o)
            rows_lse.append(ls)
        out, lse = merge([(out, lse), (torch.cat(rows_o, -2), torch.cat(rows_lse, -1))])
    info: dict[str, Any] = {"set_size": m, "lse": lse}
    if return_kept:
        info["kept"] = idx
    return out, info
