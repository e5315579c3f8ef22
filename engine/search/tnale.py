"""TnALE: alternating local enumeration (Li, Zeng, Tao, Zhao 2023).

The variables are the edge ranks and, when searched, the mode permutation. A round visits
the edges in a seeded random order; for each it enumerates the ranks within ``radius`` of
the current one (others fixed) and keeps the best, then it tries every swap of two
neighbouring cores' modes. In the first ``interp_rounds`` rounds, with a wider radius,
only the two ends of each range are fitted next to the current value and the scores in
between are predicted by linear interpolation; the predicted best is fitted and kept only
if it really improves -- the paper's device for covering a wide range cheaply early on.
The search stops after a round that changes nothing (or when the budget is spent).
"""

from __future__ import annotations

import random

from ..params import Param
from .base import register_strategy
from .evaluator import Evaluation, Evaluator


def _interpolated_best(values: list[int], known: dict[int, float]) -> int:
    """The value with the lowest score, scores between known points linearly interpolated."""
    pts = sorted(known)
    best_v, best_s = pts[0], known[pts[0]]
    for v in values:
        if v in known:
            s = known[v]
        else:
            lo = max(p for p in pts if p < v)
            hi = min(p for p in pts if p > v)
            s = known[lo] + (known[hi] - known[lo]) * (v - lo) / (hi - lo)
        if s < best_s:
            best_v, best_s = v, s
    return best_v


@register_strategy(
    "tnale",
    Param("radius", "int", 2, "rank range enumerated around the current one, first rounds", max=16),
    Param(
        "interp_rounds",
        "int",
        1,
        "first rounds that interpolate instead of enumerating",
        min=0,
        max=100,
    ),
    Param("max_rounds", "int", 30, "most rounds", max=10_000),
    doc="TnALE: enumerate each edge's rank in turn (interpolating at first), then mode swaps",
)
def tnale(
    ev: Evaluator,
    rng: random.Random,
    radius: int = 2,
    interp_rounds: int = 1,
    max_rounds: int = 30,
) -> None:
    """Run TnALE on ``ev`` from a random start."""
    space = ev.space
    current: Evaluation = ev.evaluate(space.random(rng))
    n_edges = len(space.edges())
    for rnd in range(max_rounds):
        changed = False
        interp = rnd < interp_rounds
        r = radius if interp else 1
        order = list(range(n_edges))
        rng.shuffle(order)
        for e in order:
            ranks = space.edge_ranks(current.structure)
            perm = current.structure.perm
            values = [v for v in range(ranks[e] - r, ranks[e] + r + 1) if 1 <= v <= space.max_rank]

            def at(v: int, ranks: list[int] = ranks, perm: tuple = perm, e: int = e):
                new = list(ranks)
                new[e] = v
                return space.make(new, perm)

            if interp and len(values) > 3:
                probe = sorted({values[0], ranks[e], values[-1]})
                evs = dict(zip(probe, ev.evaluate_many([at(v) for v in probe]), strict=True))
                known = {v: x.score for v, x in evs.items()}
                guess = _interpolated_best(values, known)
                if guess not in evs:
                    evs[guess] = ev.evaluate(at(guess))
                top = min(evs.values(), key=lambda x: x.score)
            else:
                top = min(ev.evaluate_many([at(v) for v in values]), key=lambda x: x.score)
            if top.score < current.score:
                current, changed = top, True
        if space.searches_perm:
            ranks = space.edge_ranks(current.structure)
            swaps = []
            for k in range(space.order):
                perm = list(current.structure.perm)
                j = (k + 1) % space.order
                perm[k], perm[j] = perm[j], perm[k]
                swaps.append(space.make(ranks, perm))
            top = min(ev.evaluate_many(swaps), key=lambda x: x.score)
            if top.score < current.score:
                current, changed = top, True
        if not changed:
            return
