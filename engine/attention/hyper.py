"""HyperAttention (Han, Jayaram, Karbasi, Mirrokni, Woodruff, Zandieh 2023).

Two parts, merged by log-sum-exp:

1. **sortLSH, block-diagonal.** Queries and keys are hashed with the same ``r`` random
   hyperplanes; the sign pattern is read as a Gray code, so buckets next to each other in
   the order differ in one hyperplane (similar vectors land close). Queries and keys are
   sorted by bucket and the sorted attention matrix is cut into diagonal blocks of
   ``block`` queries x ``block`` keys: each block is attended exactly. These are where the
   large entries are likely to be.
2. **Sampled residual.** ``samples`` keys drawn uniformly without replacement stand for
   the rest: each query attends them, with the keys already in its own block masked out
   (they were counted in part 1), and their total weight scaled by ``Nk / samples`` -- an
   unbiased estimate of the attention mass outside the block.

With ``block >= n`` or ``samples >= Nk`` it is exact. Causal attention recurses (the
paper's Alg. 4): the sequence is halved; the two diagonal halves are causal problems of
half the size, the lower-left quarter is a non-causal one; below ``min_seq_len`` tokens
exact attention is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .core import AttentionError, _check_qkv, block_attention, expand_kv, merge

__all__ = ["gray_bucket", "hyper_attention", "hyper_pairs"]


def gray_bucket(x: torch.Tensor, planes: torch.Tensor) -> torch.Tensor:
    """Bucket of each row of ``x`` (``(..., n, d)``) under hyperplanes ``(d, r)``: the
    sign bits read as a Gray code, so neighbouring buckets differ in one sign."""
    bits = (torch.matmul(x.to(planes.dtype), planes) > 0).to(torch.int64)  # (..., n, r)
    # Gray code -> rank: b_0 = g_0, b_i = b_{i-1} xor g_i (most significant bit first)
    b = torch.cumsum(bits, dim=-1) % 2
    weights = 2 ** torch.arange(bits.shape[-1] - 1, -1, -1, device=x.device)
    return (b * weights).sum(-1)


def _padded_blocks(x: torch.Tensor, nb: int) -> tuple[torch.Tensor, int]:
    """``(..., n, d)`` -> ``(..., nb, size, d)`` with zero padding at the end."""
    n = x.shape[-2]
    size = math.ceil(n / nb)
    pad = nb * size - n
    if pad:
        x = torch.cat([x, x.new_zeros(*x.shape[:-2], pad, x.shape[-1])], dim=-2)
    return x.reshape(*x.shape[:-2], nb, size, x.shape[-1]), size


@dataclass(frozen=True)
class _Plan:
    """The parameters every piece of one HyperAttention call shares."""

    scale: float
    planes: torch.Tensor
    block: int
    samples: int
    min_len: int
    gen: torch.Generator


def _noncausal(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    plan: _Plan,
    kept: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    scale, planes, block, samples, gen = plan.scale, plan.planes, plan.block, plan.samples, plan.gen
    nq, nk = q.shape[-2], k.shape[-2]
    heads = q.shape[-3]
    k, v = expand_kv(k, heads), expand_kv(v, heads)
    if block >= max(nq, nk) or samples >= nk:
        if kept is not None:
            kept[...] = True
        return block_attention(q, k, v, scale=scale)
    nb = math.ceil(max(nq, nk) / block)
    q_order = gray_bucket(q, planes).argsort(dim=-1, stable=True)  # (..., H, nq)
    k_order = gray_bucket(k, planes).argsort(dim=-1, stable=True)

    def take(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        return torch.gather(x, -2, order.unsqueeze(-1).expand(*order.shape, x.shape[-1]))

    qs, bq = _padded_blocks(take(q, q_order), nb)
    ks, bk = _padded_blocks(take(k, k_order), nb)
    vs, _ = _padded_blocks(take(v, k_order), nb)
    # padded keys (the tail of the last block) must not be attended
    real = torch.arange(nb * bk, device=q.device).reshape(nb, 1, bk) < nk
    o_blk, lse_blk = block_attention(qs, ks, vs, scale=scale, mask=real)
    o_blk = o_blk.reshape(*q.shape[:-2], nb * bq, -1)[..., :nq, :]
    lse_blk = lse_blk.reshape(*q.shape[:-2], nb * bq)[..., :nq]
    # back to the queries' own order
    inv = q_order.argsort(dim=-1)
    o_blk = torch.gather(o_blk, -2, inv.unsqueeze(-1).expand(*inv.shape, o_blk.shape[-1]))
    lse_blk = torch.gather(lse_blk, -1, inv)

    # residual: uniform keys without replacement, own-block keys masked, mass x nk / m
    pick = torch.randperm(nk, generator=gen, device=gen.device)[:samples].to(q.device)
    q_block = torch.empty_like(q_order)
    q_block.scatter_(-1, q_order, torch.arange(nq, device=q.device).expand_as(q_order) // bq)
    k_block = torch.empty_like(k_order)
    k_block.scatter_(-1, k_order, torch.arange(nk, device=q.device).expand_as(k_order) // bk)
    keep = q_block.unsqueeze(-1) != k_block[..., pick].unsqueeze(-2)  # (..., H, nq, m)
    o_s, lse_s = block_attention(q, k[..., pick, :], v[..., pick, :], scale=scale, mask=keep)
    lse_s = lse_s + math.log(nk / samples)
    if kept is not None:  # which entries were looked at: the blocks and the sampled columns
        kept |= q_block.unsqueeze(-1) == k_block.unsqueeze(-2)
        kept[..., pick] = True
    return merge([(o_blk, lse_blk), (o_s, lse_s)])


def _causal(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    plan: _Plan,
    kept: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    n = q.shape[-2]
    if n <= plan.min_len:
        if kept is not None:
            kept |= torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        return block_attention(q, k, v, scale=plan.scale, causal=True)
    h = n // 2

    def piece(rows: slice, cols: slice) -> tuple:
        sub = None if kept is None else kept[..., rows, cols]
        return q[..., rows, :], k[..., cols, :], v[..., cols, :], plan, sub

    lo, hi = slice(0, h), slice(h, n)
    top = _causal(*piece(lo, lo))
    bottom = merge([_causal(*piece(hi, hi)), _noncausal(*piece(hi, lo))])
    return torch.cat([top[0], bottom[0]], dim=-2), torch.cat([top[1], bottom[1]], dim=-1)


def hyper_pairs(
    nq: int, nk: int, *, causal: bool, block: int, samples: int, min_seq_len: int
) -> float:
    """Query-key pairs :func:`hyper_attention` computes, following its own plan: a piece
    it attends exactly (too short, or a block or the samples cover every key) counts
    every pair (half for a causal square); a sampled one, per query, the keys of its
    bucket block (``ceil(nk / nb)`` for ``nb = ceil(max(nq, nk) / block)`` blocks, padding
    included) plus ``samples`` -- which can exceed ``nk`` when both are near it."""
    if causal:
        if nq <= min_seq_len:
            return nq * nq / 2
        # as _causal splits: two causal halves and the lower-left quarter, non-causal
        h = nq // 2
        plan = {"block": block, "samples": samples, "min_seq_len": min_seq_len}
        return (
            hyper_pairs(h, h, causal=True, **plan)
            + hyper_pairs(nq - h, nq - h, causal=True, **plan)
            + hyper_pairs(nq - h, h, causal=False, **plan)
        )
    if block >= max(nq, nk) or samples >= nk:
        return float(nq * nk)
    keys_per_block = math.ceil(nk / math.ceil(max(nq, nk) / block))
    return float(nq * (keys_per_block + samples))


def hyper_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    lsh_projections: int = 7,
    block: int = 256,
    samples: int = 256,
    min_seq_len: int = 2048,
    scale: float | None = None,
    seed: int = 0,
    return_kept: bool = False,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """HyperAttention (see the module docstring).

    Parameters
    ----------
    q, k, v : torch.Tensor
        ``(..., H, N, D)``, ``(..., Hkv, N, D)``, ``(..., Hkv, N, Dv)`` (causal needs
        ``Nq == Nk``).
    causal : bool
        Causal attention by recursion over halves.
    lsh_projections : int
        Hyperplanes of sortLSH (``2^r`` buckets).
    block : int
        Queries (and keys) per diagonal block of the sorted matrix.
    samples : int
        Keys sampled for the residual.
    min_seq_len : int
        Causal pieces of at most this many tokens are computed exactly.
    seed : int
        Seeds the hyperplanes and the samples.
    return_kept : bool
        Also return (as ``info["kept"]``) the ``(..., H, Nq, Nk)`` boolean map of the
        entries computed -- for small inputs (heatmaps, recall).

    Returns
    -------
    out : torch.Tensor
    info : dict
        The parameters used (and ``kept``).
    """
    _check_qkv(q, k, v)
    for name, val, low in (
        ("lsh_projections", lsh_projections, 1),
        ("block", block, 1),
        ("samples", samples, 1),
        ("min_seq_len", min_seq_len, 1),
    ):
        if not isinstance(val, int) or val < low:
            raise AttentionError(f"{name} must be an integer >= {low}, got {val!r}")
    if lsh_projections > 30:
        raise AttentionError("lsh_projections must be at most 30 (2^r buckets)")
    if causal and q.shape[-2] != k.shape[-2]:
        raise AttentionError(
            f"causal HyperAttention needs as many queries as keys ({q.shape[-2]} vs {k.shape[-2]})"
        )
    d = q.shape[-1]
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    gen = torch.Generator(device=q.device).manual_seed(seed)
    ct = torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else q.dtype
    planes = torch.randn(d, lsh_projections, generator=gen, device=q.device, dtype=ct)
    kept = None
    if return_kept:
        kept = torch.zeros(*q.shape[:-1], k.shape[-2], dtype=torch.bool, device=q.device)
    plan = _Plan(scale, planes, block, samples, min_seq_len, gen)
    out, lse = (_causal if causal else _noncausal)(q, k, v, plan, kept)
    info: dict[str, Any] = {
        "lse": lse,
        "lsh_projections": lsh_projections,
        "block": block,
        "samples": samples,
        "min_seq_len": min_seq_len,
    }
    if kept is not None:
        info["kept"] = kept
    return out, info
