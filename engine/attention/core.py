"""The one primitive and the one merge every attention method is built from.

:func:`block_attention` attends a block of queries to a block of keys and returns the
output *and* the log-sum-exp of each query's scores; :func:`merge` combines partial
results over disjoint key sets exactly, by their log-sum-exps (the identity behind
FlashAttention's tiling and Hydragen's prefix/suffix split):

    out = sum_i exp(lse_i - lse) out_i,   lse = log sum_i exp(lse_i).

Shapes follow ``torch.nn.functional.scaled_dot_product_attention``: ``q`` is ``(..., H,
Nq, D)``, ``k`` and ``v`` are ``(..., Hkv, Nk, D)`` and ``(..., Hkv, Nk, Dv)`` with ``H`` a
multiple of ``Hkv`` (grouped-query attention; a key head serves ``H / Hkv`` query heads).
A query with no key left to attend to (all masked) gets output 0 and log-sum-exp
``-inf``, so it drops out of any merge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ..errors import TensorbenchError

__all__ = [
    "AttentionError",
    "block_attention",
    "compute_dtype",
    "expand_kv",
    "merge",
    "reference_attention",
]


class AttentionError(TensorbenchError):
    """Bad attention input: shapes, masks or method parameters."""


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Scores and softmax of half-precision inputs are computed in float32."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    if q.dim() < 2 or k.dim() != q.dim() or v.dim() != q.dim():
        raise AttentionError(
            f"q, k, v must have the same number of dimensions (..., heads, n, d); got "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise AttentionError(
            f"q and k must share their last (head) dimension: {q.shape[-1]} != {k.shape[-1]}"
        )
    if k.shape[:-1] != v.shape[:-1]:
        raise AttentionError(
            f"k and v must agree on every dimension but the last: {tuple(k.shape)} vs "
            f"{tuple(v.shape)}"
        )
    if q.dim() >= 3:
        h, hkv = q.shape[-3], k.shape[-3]
        if hkv == 0 or h % hkv:
            raise AttentionError(f"query heads ({h}) must be a multiple of key/value heads ({hkv})")


def expand_kv(x: torch.Tensor, heads: int) -> torch.Tensor:
    """Repeat key/value heads so that each query head has its own (a view when possible)."""
    if x.dim() < 3 or x.shape[-3] == heads:
        return x
    g = heads // x.shape[-3]
    shape = (*x.shape[:-3], x.shape[-3], g, *x.shape[-2:])
    return x.unsqueeze(-3).expand(shape).reshape(*x.shape[:-3], heads, *x.shape[-2:])


def block_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    scale: float | None = None,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    q_start: int = 0,
    k_start: int = 0,
    power: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of a query block to a key block, with the log-sum-exp of each row.

    Parameters
    ----------
    q, k, v : torch.Tensor
        ``(..., H, Nq, D)``, ``(..., Hkv, Nk, D)``, ``(..., Hkv, Nk, Dv)``.
    scale : float, optional
        Score scale; default ``1 / sqrt(D)``.
    mask : torch.Tensor, optional
        Boolean, broadcastable to ``(..., H, Nq, Nk)``; True keeps an entry.
    causal : bool
        Keep key ``j`` for query ``i`` only when ``k_start + j <= q_start + i`` (positions
        in the whole sequence, so blocks of a longer sequence are masked correctly).
    q_start, k_start : int
        Positions of the blocks' first query and key in the sequence (causal only).
    power : float, optional
        Polynomial attention ``f(x) = |x|^power`` instead of softmax: weights
        ``|q.k|^p / sum |q.k|^p``, which is softmax of ``p log|q.k|`` -- so the same
        log-sum-exp bookkeeping and :func:`merge` apply (``scale`` cancels out).

    Returns
    -------
    out : torch.Tensor
        ``(..., H, Nq, Dv)`` in ``q``'s dtype.
    lse : torch.Tensor
        ``(..., H, Nq)``, log-sum-exp of the scaled scores kept, in the compute dtype
        (float32 for half inputs); ``-inf`` where a row keeps nothing.
    """
    _check_qkv(q, k, v)
    ct = compute_dtype(q.dtype)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    heads = q.shape[-3] if q.dim() >= 3 else 1
    kk, vv = expand_kv(k, heads), expand_kv(v, heads)
    s = torch.matmul(q.to(ct), kk.to(ct).transpose(-1, -2))
    # in place from here on: the score matrix is the one big allocation of this function
    if power is None:
        s.mul_(scale)
    else:
        s.abs_().log_().mul_(float(power))
    keep = None
    if causal:
        nq, nk = q.shape[-2], k.shape[-2]
        qi = torch.arange(q_start, q_start + nq, device=q.device)[:, None]
        kj = torch.arange(k_start, k_start + nk, device=q.device)[None, :]
        keep = kj <= qi
    if mask is not None:
        if mask.dtype != torch.bool:
            raise AttentionError(f"mask must be boolean (True keeps an entry), got {mask.dtype}")
        keep = mask if keep is None else keep & mask
    if keep is not None:
        s.masked_fill_(~keep, -math.inf)
    m = s.amax(dim=-1, keepdim=True)
    # rows that keep nothing: subtract 0 instead of -inf so exp gives 0, not NaN
    m.masked_fill_(~torch.isfinite(m), 0.0)
    p = s.sub_(m).exp_()
    denom = p.sum(dim=-1, keepdim=True)
    # empty rows: 0 / tiny = 0 (their log-sum-exp is -inf)
    out = torch.matmul(p, vv.to(ct)).div_(denom.clamp_min(torch.finfo(ct).tiny))
    lse = (m + torch.log(denom)).squeeze(-1)
    return out.to(q.dtype), lse


def merge(
    parts: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Combine attention over disjoint key sets into attention over their union.

    Parameters
    ----------
    parts : list of (out, lse)
        Results of :func:`block_attention` (or any method returning them) for the same
        queries and disjoint keys.

    Returns
    -------
    out, lse : torch.Tensor
        As if the union of the keys had been attended at once (exact up to rounding).
    """
    if not parts:
        raise AttentionError("merge needs at least one partial result")
    if len(parts) == 1:
        return parts[0]
    outs = [o for o, _ in parts]
    lses = torch.stack([lse for _, lse in parts])
    ct = lses.dtype
    lse = torch.logsumexp(lses, dim=0)
    # rows no part attended anything: every weight 0 (not NaN from -inf - -inf)
    safe = torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse))
    w = torch.exp(lses - safe)
    out = sum(wi.unsqueeze(-1) * o.to(ct) for wi, o in zip(w, outs, strict=True))
    return out.to(outs[0].dtype), lse  # type: ignore[union-attr]


#: Score entries a reference computes at once (float64: 256 MiB); longer inputs go by rows.
REFERENCE_CHUNK = 2**25


def _rows(mask: torch.Tensor | None, a: int, b: int) -> torch.Tensor | None:
    """Rows ``a:b`` of a mask broadcastable to ``(..., Nq, Nk)``."""
    if mask is None or mask.dim() < 2 or mask.shape[-2] == 1:
        return mask
    return mask[..., a:b, :]


def reference_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    scale: float | None = None,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    power: float | None = None,
    check: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact attention in float64 on the CPU -- the ground truth every method is measured
    against. Returns ``(out, lse)`` in float64.

    Rows are computed in chunks of at most :data:`REFERENCE_CHUNK` score entries, so the
    memory it takes stays bounded whatever the sequence length. ``check`` is called
    before each chunk (a run's cancel check: at 32k tokens the whole reference takes
    tens of seconds, and Cancel waited for it).
    """
    q64, k64, v64 = (x.detach().to("cpu", torch.float64) for x in (q, k, v))
    mask = None if mask is None else mask.to("cpu")
    nq, nk = q64.shape[-2], k64.shape[-2]
    per_row = max(1, nk * (q64.numel() // max(1, q64.shape[-2] * q64.shape[-1])))
    step = max(1, REFERENCE_CHUNK // per_row)
    outs, lses = [], []
    for a in range(0, nq, step):
        if check is not None:
            check()
        b = min(nq, a + step)
        o, lse = block_attention(
            q64[..., a:b, :],
            k64,
            v64,
            scale=scale,
            mask=_rows(mask, a, b),
            causal=causal,
            q_start=a,
            power=power,
        )
        outs.append(o)
        lses.append(lse)
    return torch.cat(outs, dim=-2), torch.cat(lses, dim=-1)
