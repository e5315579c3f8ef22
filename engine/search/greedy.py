"""Greedy rank growth (Hashemizadeh, Liu, Miller & Rabusseau 2020).

Start with every edge at rank 1 (a rank-1 outer product); each step raises by one the
rank of the edge whose increase lowers the score most, and stops when no increase lowers
it. All increases of a step are independent candidates, fitted in parallel.
"""

from __future__ import annotations

import random

from .base import register_strategy
from .evaluator import Evaluator


@register_strategy(
    "greedy",
    doc="greedy rank growth: from all ranks 1, raise the edge that lowers the score most",
)
def greedy(ev: Evaluator, rng: random.Random) -> None:
    """Run greedy rank growth on ``ev`` (``rng`` is unused: the method is deterministic)."""
    space = ev.space
    current = ev.evaluate(space.smallest())
    while True:
        ranks = space.edge_ranks(current.structure)
        candidates = []
        for e, r in enumerate(ranks):
            if r < space.max_rank:
                up = list(ranks)
                up[e] += 1
                candidates.append(space.make(up, current.structure.perm))
        if not candidates:
            return
        top = min(ev.evaluate_many(candidates), key=lambda x: x.score)
        if top.score >= current.score:
            return
        current = top
