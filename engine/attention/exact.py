"""Exact attention through PyTorch's fused kernels, and exact top-k per row (the oracle
"best possible sparsity" every sparse method is compared with)."""

from __future__ import annotations

import math

import torch

from .core import AttentionError, _check_qkv, block_attention, compute_dtype, expand_kv

__all__ = ["sdpa", "topk_attention"]


def sdpa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """``torch.nn.functional.scaled_dot_product_attention`` (flash / cuDNN / memory-efficient
    kernels on CUDA, the fused CPU kernel otherwise), with grouped-query heads.

    ``backend`` pins one of PyTorch's kernels (``flash``, ``efficient``, ``cudnn``,
    ``math``); ``auto`` lets PyTorch choose. A kernel that cannot run these inputs on this
    device is refused with PyTorch's reason.

    ``causal`` aligns the last query with the last key (decode: a single query sees every
    key), unlike SDPA's ``is_causal`` which aligns the first ones; when ``Nq == Nk`` the
    two agree and the fused causal kernel is used.
    """
    _check_qkv(q, k, v)
    nq, nk = q.shape[-2], k.shape[-2]
    gqa = q.dim() >= 3 and k.shape[-3] != q.shape[-3]
    if causal and nq != nk:
        qi = torch.arange(nk - nq, nk, device=q.device)[:, None]
        keep = torch.arange(nk, device=q.device)[None, :] <= qi
        mask = keep if mask is None else mask & keep
        causal = False

    def call() -> torch.Tensor:
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, scale=scale, enable_gqa=gqa
        )

    if backend == "auto":
        return call()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kernels = {
        "flash": SDPBackend.FLASH_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "math": SDPBackend.MATH,
    }
    if backend not in kernels:
        raise AttentionError(
            f"backend must be auto or one of {', '.join(kernels)}; got {backend!r}"
        )
    try:
        with sdpa_kernel(kernels[backend]):
            return call()
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AttentionError(
            f"SDPA's {backend} kernel cannot run this input here ({first}); choose backend auto"
        ) from None


def topk_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    topk: int,
    *,
    causal: bool = False,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each query attends only its ``topk`` largest scores: the best any method keeping
    ``topk`` entries per row can do. An oracle: it computes every score (``O(n^2)``).

    Returns ``(out, lse)`` like :func:`~tensorbench.engine.attention.core.block_attention`.
    """
    _check_qkv(q, k, v)
    if not isinstance(topk, int) or topk < 1:
        raise AttentionError(f"topk must be a positive integer, got {topk!r}")
    nk = k.shape[-2]
    if topk >= nk:
        return block_attention(q, k, v, scale=scale, causal=causal)
    ct = compute_dtype(q.dtype)
    sc = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    kk = expand_kv(k, q.shape[-3] if q.dim() >= 3 else 1)
    s = torch.matmul(q.to(ct), kk.to(ct).transpose(-1, -2)) * sc
    if causal:
        nq = q.shape[-2]
        qi = torch.arange(nk - nq, nk, device=q.device)[:, None]
        s = s.masked_fill(torch.arange(nk, device=q.device)[None, :] > qi, -math.inf)
    idx = s.topk(topk, dim=-1).indices
    keep = torch.zeros_like(s, dtype=torch.bool).scatter_(-1, idx, True)
    keep &= torch.isfinite(s)
    return block_attention(q, k, v, scale=scale, mask=keep)
