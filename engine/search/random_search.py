"""Random search: uniformly drawn candidates, the floor every strategy must beat."""

from __future__ import annotations

import random

from ..params import Param
from .base import register_strategy
from .evaluator import Evaluator

#: Batches in a row without a new fit after which the space counts as exhausted.
_EXHAUSTED = 50


@register_strategy(
    "random",
    Param("batch", "int", 4, "candidates drawn per round (fitted in parallel)", max=256),
    doc="uniformly random candidates (ranks and, when searched, permutation): the floor",
)
def random_search(ev: Evaluator, rng: random.Random, batch: int = 4) -> None:
    """Draw ``batch`` candidates per round until the budget is spent (or every candidate
    drawn in :data:`_EXHAUSTED` rounds in a row was already seen: a small space is done)."""
    idle = 0
    while idle < _EXHAUSTED:
        before = ev.fits
        ev.evaluate_many([ev.space.random(rng) for _ in range(batch)])
        idle = idle + 1 if ev.fits == before else 0
