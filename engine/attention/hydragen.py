"""Hydragen: attention over a shared prefix batched across sequences (Juravsky et al. 2024).

When ``B`` sequences share a prefix, attending each sequence's queries to its own copy of
the prefix reads the prefix's keys and values ``B`` times, one matrix-vector product per
sequence when decoding. Hydragen splits every sequence's attention into the prefix part
and the sequence's own suffix part -- exact, because attention over disjoint key sets
merges by log-sum-exp (:func:`~tensorbench.engine.attention.core.merge`) -- and computes
the prefix part for *all* sequences' queries at once: one matrix-matrix product against a
single copy of the prefix. Prefixes may be hierarchical (a system prompt shared by all,
then few-shot examples shared by groups): each level is a batched attention of the
queries of the sequences that share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .core import AttentionError, block_attention, compute_dtype, merge

__all__ = ["PrefixLevel", "hydragen_attention", "hydragen_reference_inputs"]


@dataclass(frozen=True)
class PrefixLevel:
    """One level of shared prefixes.

    Parameters
    ----------
    k, v : torch.Tensor
        ``(G, Hkv, Np, D)`` and ``(G, Hkv, Np, Dv)``: ``G`` distinct prefixes at this level.
    groups : torch.Tensor, optional
        ``(B,)`` integers: which of the ``G`` prefixes sequence ``b`` extends (default: all
        sequences share prefix 0, which needs ``G == 1``).
    """

    k: torch.Tensor
    v: torch.Tensor
    groups: torch.Tensor | None = None


def _levels(
    prefix: PrefixLevel | Sequence[PrefixLevel] | tuple[torch.Tensor, torch.Tensor],
) -> list[PrefixLevel]:
    if isinstance(prefix, PrefixLevel):
        return [prefix]
    if isinstance(prefix, tuple) and len(prefix) == 2 and isinstance(prefix[0], torch.Tensor):
        k, v = prefix
        return [PrefixLevel(k if k.dim() == 4 else k.unsqueeze(0), v if v.dim() == 4 else v[None])]
    return list(prefix)  # type: ignore[arg-type]


def _batched_prefix(q: torch.Tensor, level: PrefixLevel, scale: float | None) -> tuple:
    """Attention of every sequence's queries to its prefix at one level, one batched
    product per distinct prefix (queries of the sequences sharing it stacked together)."""
    b, h, nq, d = q.shape
    g_count, hkv = level.k.shape[0], level.k.shape[1]
    if level.k.dim() != 4 or level.v.dim() != 4 or level.k.shape[:3] != level.v.shape[:3]:
        raise AttentionError(
            f"prefix keys/values must be (G, Hkv, Np, D); got {tuple(level.k.shape)} and "
            f"{tuple(level.v.shape)}"
        )
    if h % hkv:
        raise AttentionError(f"query heads ({h}) must be a multiple of prefix kv heads ({hkv})")
    groups = level.groups
    if groups is None:
        if g_count != 1:
            raise AttentionError(f"{g_count} prefixes at a level need `groups` (one per sequence)")
        groups = torch.zeros(b, dtype=torch.long, device=q.device)
    if groups.shape != (b,) or int(groups.min()) < 0 or int(groups.max()) >= g_count:
        raise AttentionError(f"groups must be {b} integers in 0..{g_count - 1}")
    rep = h // hkv
    out = q.new_zeros(b, h, nq, level.v.shape[-1])
    lse = torch.full((b, h, nq), float("-inf"), device=q.device, dtype=compute_dtype(q.dtype))
    for g in range(g_count):
        idx = (groups == g).nonzero().flatten()
        if idx.numel() == 0:
            continue
        # (n_g, Hkv*rep, nq, d) -> (Hkv, n_g*rep*nq, d): every query of the group at once
        qg = q[idx].reshape(len(idx), hkv, rep, nq, d).permute(1, 0, 2, 3, 4)
        qg = qg.reshape(hkv, len(idx) * rep * nq, d)
        o, ls = block_attention(qg, level.k[g], level.v[g], scale=scale)
        o = o.reshape(hkv, len(idx), rep, nq, -1).permute(1, 0, 2, 3, 4)
        ls = ls.reshape(hkv, len(idx), rep, nq).permute(1, 0, 2, 3)
        out[idx] = o.reshape(len(idx), h, nq, -1)
        lse[idx] = ls.reshape(len(idx), h, nq)
    return out, lse


def hydragen_attention(
    q: torch.Tensor,
    prefix: PrefixLevel | Sequence[PrefixLevel] | tuple[torch.Tensor, torch.Tensor],
    suffix_k: torch.Tensor | None,
    suffix_v: torch.Tensor | None,
    *,
    causal: bool = True,
    scale: float | None = None,
) -> torch.Tensor:
    """Attention of ``B`` sequences that share prefixes, without copying the prefixes.

    Parameters
    ----------
    q : torch.Tensor
        ``(B, H, Nq, D)``: the queries of the last ``Nq`` suffix tokens of each sequence
        (``Nq == Ns`` for prefill, ``1`` for a decode step).
    prefix : PrefixLevel, list of PrefixLevel, or (k, v)
        The shared prefixes, outermost first; ``(k, v)`` of shape ``(Hkv, Np, D)`` is one
        prefix shared by every sequence.
    suffix_k, suffix_v : torch.Tensor or None
        ``(B, Hkv, Ns, D)``: each sequence's own keys and values (None: no suffix).
    causal : bool
        Suffix queries see the suffix keys up to their own position (the prefix is
        always seen whole).
    scale : float, optional
        Score scale, default ``1 / sqrt(D)``.

    Returns
    -------
    torch.Tensor
        ``(B, H, Nq, Dv)``, equal (up to rounding) to attention over each sequence's
        concatenated prefixes and suffix.
    """
    if q.dim() != 4:
        raise AttentionError(f"q must be (batch, heads, n, d), got shape {tuple(q.shape)}")
    parts = [_batched_prefix(q, level, scale) for level in _levels(prefix)]
    if suffix_k is not None:
        if suffix_v is None or suffix_k.dim() != 4 or suffix_k.shape[0] != q.shape[0]:
            raise AttentionError(
                "suffix keys and values must both be (batch, kv heads, n, d) with the "
                "queries' batch size"
            )
        ns, nq = suffix_k.shape[-2], q.shape[-2]
        if nq > ns:
            raise AttentionError(f"{nq} queries but only {ns} suffix tokens")
        parts.append(
            block_attention(q, suffix_k, suffix_v, scale=scale, causal=causal, q_start=ns - nq)
        )
    if not parts:
        raise AttentionError("nothing to attend: give a prefix or a suffix")
    return merge(parts)[0]


def hydragen_reference_inputs(
    prefix: PrefixLevel | Sequence[PrefixLevel] | tuple[torch.Tensor, torch.Tensor],
    suffix_k: torch.Tensor,
    suffix_v: torch.Tensor,
    nq: int,
    *,
    causal: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each sequence's full keys and values (prefixes copied per sequence, then its suffix)
    and the boolean mask of its last ``nq`` queries: the inputs of the baseline Hydragen
    is compared with (SDPA over duplicated prefixes) and of the float64 reference."""
    b = suffix_k.shape[0]
    ks, vs = [], []
    for level in _levels(prefix):
        groups = level.groups
        if groups is None:
            groups = torch.zeros(b, dtype=torch.long, device=suffix_k.device)
        ks.append(level.k[groups])
        vs.append(level.v[groups])
    k = torch.cat([*ks, suffix_k], dim=-2)
    v = torch.cat([*vs, suffix_v], dim=-2)
    np_, ns = k.shape[-2] - suffix_k.shape[-2], suffix_k.shape[-2]
    qpos = torch.arange(ns - nq, ns, device=k.device)[:, None]
    kpos = torch.arange(k.shape[-2], device=k.device)[None, :]
    keep = (kpos < np_) | (~torch.tensor(causal) | (kpos - np_ <= qpos))
    return k, v, keep
