"""TNGA: a genetic search over edges (Li & Sun 2020).

Each individual is a string of edge genes -- absent (rank 1) or present with a rank --
plus, when searched, a mode permutation. Every generation is fitted (in parallel), the
worse half is eliminated, and the survivors breed: parents are drawn with probability
falling with their rank in the generation, children take each edge gene from either
parent (uniform crossover) and the permutation from one of them, and every gene mutates
with probability ``mutation`` (an edge is switched off, or on with a random rank; the
permutation swaps two modes). Stops after ``patience`` generations without a better
individual (or when the budget is spent).
"""

from __future__ import annotations

import random

from ..params import Param
from .base import register_strategy
from .evaluator import Evaluator
from .objective import SearchSpace, Structure


def _mutate(
    space: SearchSpace, genes: list[int], perm: list[int], rng: random.Random, rate: float
) -> tuple[list[int], list[int]]:
    genes = list(genes)
    for e in range(len(genes)):
        if rng.random() < rate:
            if genes[e] > 1 and rng.random() < 0.5:
                genes[e] = 1  # edge off
            else:
                genes[e] = rng.randint(2, space.max_rank) if space.max_rank > 1 else 1
    perm = list(perm)
    if space.searches_perm and rng.random() < rate * len(perm) / 2:
        a, b = rng.sample(range(len(perm)), 2)
        perm[a], perm[b] = perm[b], perm[a]
    return genes, perm


@register_strategy(
    "tnga",
    Param("population", "int", 16, "individuals per generation", min=4, max=1024),
    Param("keep", "float", 0.5, "share of each generation that survives", min=0.1, max=0.9),
    Param("mutation", "float", 0.1, "chance that one gene mutates", min=0, max=1),
    Param(
        "patience", "int", 8, "generations without a better individual before stopping", max=10_000
    ),
    doc="TNGA: genetic search over edge genes (elimination, crossover, mutation)",
)
def tnga(
    ev: Evaluator,
    rng: random.Random,
    population: int = 16,
    keep: float = 0.5,
    mutation: float = 0.1,
    patience: int = 8,
) -> None:
    """Run TNGA on ``ev`` from a random population."""
    space = ev.space
    pop: list[Structure] = [space.random(rng) for _ in range(population)]
    best = float("inf")
    stale = 0
    while stale < patience:
        scored = sorted(ev.evaluate_many(pop), key=lambda x: x.score)
        if scored[0].score < best:
            best, stale = scored[0].score, 0
        else:
            stale += 1
        survivors = [x.structure for x in scored[: max(2, round(keep * population))]]
        weights = [1.0 / (k + 1) for k in range(len(survivors))]  # rank-based selection
        children: list[Structure] = []
        seen = {s.key() for s in survivors}
        tries = 0
        while len(survivors) + len(children) < population and tries < 50 * population:
            tries += 1
            a, b = rng.choices(survivors, weights=weights, k=2)
            ga, gb = space.edge_ranks(a), space.edge_ranks(b)
            genes = [x if rng.random() < 0.5 else y for x, y in zip(ga, gb, strict=True)]
            perm = list(a.perm if rng.random() < 0.5 else b.perm)
            genes, perm = _mutate(space, genes, perm, rng, mutation)
            child = space.make(genes, perm)
            if child.key() not in seen:  # no twins in one generation
                seen.add(child.key())
                children.append(child)
        pop = survivors + children
