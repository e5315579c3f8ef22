"""Sparse and exact attention, built from one lse-returning primitive and one merge."""

from .core import AttentionError, block_attention, merge, reference_attention
from .exact import sdpa, topk_attention
from .hydragen import PrefixLevel, hydragen_attention, hydragen_reference_inputs
from .masks import MASKS, MaskSpec, make_mask, masked_attention

__all__ = [
    "MASKS",
    "AttentionError",
    "MaskSpec",
    "PrefixLevel",
    "block_attention",
    "hydragen_attention",
    "hydragen_reference_inputs",
    "make_mask",
    "masked_attention",
    "merge",
    "reference_attention",
    "sdpa",
    "topk_attention",
]
