"""TNLS: local sampling around a centre (Li, Zeng, Tao, Zhao 2022).

Each round draws ``samples`` neighbours of the centre -- a few edge ranks moved by up to
``radius`` and, with probability ``perm_prob``, two cores' modes swapped -- and moves the
centre to the best of them when it scores lower. The search stops after ``patience``
rounds without a move (or when the budget is spent).
"""

from __future__ import annotations

import random

from ..params import Param
from .base import register_strategy
from .evaluator import Evaluator
from .objective import SearchSpace, Structure


def neighbour(
    space: SearchSpace, s: Structure, rng: random.Random, radius: int, perm_prob: float
) -> Structure:
    """A random neighbour of ``s``: each edge moves with probability ``2 / edges`` by a
    nonzero step of at most ``radius`` (at least one edge or the permutation changes)."""
    ranks = space.edge_ranks(s)
    perm = list(s.perm)
    p_edge = min(1.0, 2.0 / len(ranks))
    for _ in range(100):
        new = list(ranks)
        for e in range(len(new)):
            if rng.random() < p_edge:
                step = rng.choice([d for d in range(-radius, radius + 1) if d])
                new[e] = max(1, min(space.max_rank, new[e] + step))
        new_perm = list(perm)
        if space.searches_perm and rng.random() < perm_prob:
            a, b = rng.sample(range(space.order), 2)
            new_perm[a], new_perm[b] = new_perm[b], new_perm[a]
        cand = space.make(new, new_perm)
        if cand.key() != s.key():
            return cand
    return space.random(rng)  # a space with (almost) no neighbours: jump anywhere


@register_strategy(
    "tnls",
    Param("samples", "int", 6, "neighbours drawn per round", max=256),
    Param("radius", "int", 1, "largest change of one edge's rank", max=16),
    Param("perm_prob", "float", 0.3, "chance a neighbour also swaps two modes", min=0, max=1),
    Param("patience", "int", 6, "rounds without a better neighbour before stopping", max=1000),
    doc="TNLS: sample neighbours of a centre, move to the best when it improves",
)
def tnls(
    ev: Evaluator,
    rng: random.Random,
    samples: int = 6,
    radius: int = 1,
    perm_prob: float = 0.3,
    patience: int = 6,
) -> None:
    """Run TNLS on ``ev`` from a random centre."""
    space = ev.space
    centre = ev.evaluate(space.random(rng))
    stale = 0
    while stale < patience:
        cands = [neighbour(space, centre.structure, rng, radius, perm_prob) for _ in range(samples)]
        top = min(ev.evaluate_many(cands), key=lambda x: x.score)
        if top.score < centre.score:
            centre, stale = top, 0
        else:
            stale += 1
