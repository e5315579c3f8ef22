"""Block-sparse attention masks: sliding window, dilated, global + window, BigBird-like
random blocks, prefix-LM and document masks.

A mask is a rule ``keep(q_idx, kv_idx) -> bool`` (FlexAttention's ``mask_mod``). On CUDA
:func:`masked_attention` hands it to ``torch.nn.attention.flex_attention`` with a block
mask, so blocks with nothing kept are skipped by the kernel. On the CPU it does the same
by hand: keys are visited block by block, a query block attends only the key blocks its
mask touches (:func:`~tensorbench.engine.attention.core.block_attention` with the block's
partial mask), and the pieces are merged by log-sum-exp -- exact for any mask, at the
cost of the kept blocks only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .core import AttentionError, block_attention

__all__ = ["MASKS", "MaskSpec", "make_mask", "masked_attention"]

KeepFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class MaskSpec:
    """A named mask: ``keep(q_idx, kv_idx)`` on integer position tensors (broadcasting)."""

    name: str
    keep: KeepFn
    params: dict[str, Any] = field(default_factory=dict)

    def dense(self, nq: int, nk: int, device: Any = "cpu") -> torch.Tensor:
        """The ``(nq, nk)`` boolean mask (for small sizes: references and heatmaps)."""
        qi = torch.arange(nq, device=device)[:, None]
        kj = torch.arange(nk, device=device)[None, :]
        return self.keep(qi, kj).expand(nq, nk)

    def block_map(self, nq: int, nk: int, block: int) -> torch.Tensor:
        """``(ceil(nq/block), ceil(nk/block))``: which blocks keep any entry. Built block
        row by block row, so its memory is ``O(block * nk)``, not ``O(nq * nk)``."""
        rows = []
        kj = torch.arange(nk)[None, :]
        nkb = math.ceil(nk / block)
        for a in range(0, nq, block):
            qi = torch.arange(a, min(nq, a + block))[:, None]
            m = self.keep(qi, kj).expand(len(qi), nk).any(dim=0)
            pad = nkb * block - nk
            if pad:
                m = torch.cat([m, m.new_zeros(pad)])
            rows.append(m.reshape(nkb, block).any(dim=1))
        return torch.stack(rows)

    def density(self, nq: int, nk: int) -> float:
        """Share of the entries kept."""
        kept = 0
        kj = torch.arange(nk)[None, :]
        step = max(1, 2**22 // max(1, nk))
        for a in range(0, nq, step):
            qi = torch.arange(a, min(nq, a + step))[:, None]
            kept += int(self.keep(qi, kj).expand(len(qi), nk).sum())
        return kept / (nq * nk)


def _causal(keep: KeepFn, causal: bool) -> KeepFn:
    if not causal:
        return keep
    return lambda q, k: keep(q, k) & (k <= q)


def _sliding(window: int, causal: bool = True) -> KeepFn:
    if causal:
        return lambda q, k: (k <= q) & (q - k < window)
    return lambda q, k: (q - k).abs() < window


def _dilated(window: int, dilation: int, causal: bool = True) -> KeepFn:
    span = window * dilation

    def keep(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        d = q - k
        near = (d.abs() < span) & (d % dilation == 0)
        return near & (d >= 0) if causal else near

    return keep


def _global_window(globals_: int, window: int, causal: bool = True) -> KeepFn:
    local = _sliding(window, causal)
    return _causal(lambda q, k: local(q, k) | (k < globals_) | (q < globals_), causal)


def _bigbird(
    block: int, window: int, globals_: int, random: int, n: int, seed: int, causal: bool
) -> KeepFn:
    """Blocks of ``block`` tokens: a band of ``window`` blocks around the diagonal, the first
    ``globals_`` blocks as global rows and columns, and ``random`` seeded random key blocks
    per query block (drawn for sequences of up to ``n`` tokens)."""
    nb = math.ceil(n / block)
    gen = torch.Generator().manual_seed(seed)
    table = torch.randint(0, nb, (nb, max(random, 1)), generator=gen)[:, :random]

    def keep(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        qb, kb = q // block, k // block
        out = ((qb - kb).abs() <= window // 2) | (qb < globals_) | (kb < globals_)
        if random:
            t = table.to(q.device)[qb.clamp(max=nb - 1)]  # (..., random)
            out = out | (t == kb.unsqueeze(-1)).any(-1)
        return out & (k <= q) if causal else out

    return keep


def _prefix_lm(prefix: int) -> KeepFn:
    return lambda q, k: (k < prefix) | (k <= q)


def _document(lengths: list[int], causal: bool) -> KeepFn:
    """Tokens attend only within their own document (documents packed back to back)."""
    if not lengths or any(not isinstance(x, int) or x < 1 for x in lengths):
        raise AttentionError(f"document lengths must be positive integers, got {lengths!r}")
    ids = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    last = len(ids) - 1

    def keep(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        d = ids.to(q.device)
        return d[q.clamp(max=last)] == d[k.clamp(max=last)]

    return _causal(keep, causal)


#: name -> (builder, parameter names with defaults)
MASKS: dict[str, tuple[Callable[..., KeepFn], dict[str, Any]]] = {
    "causal": (lambda: lambda q, k: k <= q, {}),
    "sliding_window": (_sliding, {"window": 256, "causal": True}),
    "dilated": (_dilated, {"window": 128, "dilation": 2, "causal": True}),
    "global_window": (_global_window, {"globals_": 16, "window": 256, "causal": True}),
    "bigbird": (
        _bigbird,
        {
            "block": 64,
            "window": 3,
            "globals_": 1,
            "random": 2,
            "n": 4096,
            "seed": 0,
            "causal": False,
        },
    ),
    "prefix_lm": (_prefix_lm, {"prefix": 256}),
    "document": (_document, {"lengths": [512, 512], "causal": True}),
}


def make_mask(name: str, **params: Any) -> MaskSpec:
    """A mask by name; unknown names and parameters get an error listing the valid ones."""
    if name not in MASKS:
        raise AttentionError(f"unknown mask {name!r}; choose one of: {', '.join(sorted(MASKS))}")
    builder, defaults = MASKS[name]
    params = {("globals_" if k == "globals" else k): v for k, v in params.items()}
    bad = set(params) - set(defaults)
    if bad:
        raise AttentionError(
            f"mask {name}: unknown parameter(s) {sorted(bad)}; it takes "
            f"{sorted(k.rstrip('_') for k in defaults) or 'none'}"
        )
    full = defaults | params
    for key, value in full.items():
        shown = key.rstrip("_")
        # bool is an int to Python: "causal": 1 is refused, "window": true too
        if key in ("window", "dilation", "block", "n") and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise AttentionError(f"mask {name}: {shown} must be a positive integer, got {value!r}")
        if key in ("prefix", "globals_", "random", "seed") and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            # a negative count was taken as none (prefix -1 drew the plain causal mask)
            raise AttentionError(f"mask {name}: {shown} must be an integer >= 0, got {value!r}")
        if key == "causal" and not isinstance(value, bool):
            raise AttentionError(f"mask {name}: causal must be true or false, got {value!r}")
    return MaskSpec(name, builder(**full), {k.rstrip("_"): v for k, v in full.items()})


def masked_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: MaskSpec,
    *,
    block: int = 128,
    scale: float | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Attention under ``mask``, computing only the blocks it keeps.

    Parameters
    ----------
    q, k, v : torch.Tensor
        ``(..., H, Nq, D)``, ``(..., Hkv, Nk, D)``, ``(..., Hkv, Nk, Dv)``.
    mask : MaskSpec
        From :func:`make_mask`.
    block : int
        Block size of the sparsity pattern (FlexAttention's is 128).
    backend : {"auto", "flex", "blocks"}
        ``flex``: FlexAttention (CUDA); ``blocks``: the block loop above (any device);
        ``auto``: flex on CUDA, blocks elsewhere.

    Returns
    -------
    out : torch.Tensor
    info : dict
        ``blocks_kept`` / ``blocks_total`` and the ``backend`` used.
    """
    nq, nk = q.shape[-2], k.shape[-2]
    limit = mask.params.get("n") or sum(mask.params.get("lengths") or []) or None
    if limit is not None and max(nq, nk) > limit:
        raise AttentionError(
            f"mask {mask.name} was made for {limit} tokens but the input has {max(nq, nk)}; "
            f"make it with n (or document lengths) covering the sequence"
        )
    bmap = _block_map(mask, nq, nk, block)
    info = {"blocks_kept": int(bmap.sum()), "blocks_total": bmap.numel()}
    if backend == "auto":
        backend = "flex" if q.is_cuda else "blocks"
    if backend == "flex":
        return _flex(q, k, v, mask, block, scale), info | {"backend": "flex"}
    if backend != "blocks":
        raise AttentionError(f"backend must be 'auto', 'flex' or 'blocks', got {backend!r}")
    outs = []
    kj_all = torch.arange(nk, device=q.device)
    for i, a in enumerate(range(0, nq, block)):
        b = min(nq, a + block)
        cols = bmap[i].nonzero().flatten().tolist()
        if not cols:
            outs.append(q.new_zeros(*q.shape[:-2], b - a, v.shape[-1]))
            continue
        # gather the kept key blocks into one contiguous block: one product per row block
        idx = torch.cat([kj_all[c * block : min(nk, (c + 1) * block)] for c in cols])
        qi = torch.arange(a, b, device=q.device)[:, None]
        keep = mask.keep(qi, idx[None, :]).expand(b - a, len(idx))
        o, _ = block_attention(
            q[..., a:b, :], k[..., idx, :], v[..., idx, :], scale=scale, mask=keep
        )
        outs.append(o)
    return torch.cat(outs, dim=-2), info | {"backend": "blocks"}


#: Block maps already built, by mask and size: like FlexAttention's ``create_block_mask``,
#: the map is made once per pattern and length and reused by every call (and timing).
_BLOCK_MAPS: dict[tuple[Any, ...], torch.Tensor] = {}


def _block_map(mask: MaskSpec, nq: int, nk: int, block: int) -> torch.Tensor:
    import json

    key = (mask.name, json.dumps(mask.params, sort_keys=True, default=str), nq, nk, block)
    if key not in _BLOCK_MAPS:
        if len(_BLOCK_MAPS) > 64:
            _BLOCK_MAPS.clear()
        _BLOCK_MAPS[key] = mask.block_map(nq, nk, block)
    return _BLOCK_MAPS[key]


def _flex(q, k, v, mask: MaskSpec, block: int, scale: float | None) -> torch.Tensor:
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    def mask_mod(b, h, q_idx, kv_idx):
        return mask.keep(q_idx, kv_idx)

    bm = create_block_mask(
        mask_mod, None, None, q.shape[-2], k.shape[-2], device=q.device, BLOCK_SIZE=block
    )
    gqa = k.shape[-3] != q.shape[-3]
    return flex_attention(q, k, v, block_mask=bm, scale=scale, enable_gqa=gqa)
