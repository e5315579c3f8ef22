"""Greedy rank growth (Hashemizadeh, Liu, Miller & Rabusseau 2020), refined.

Start with every edge at rank 1 (a rank-1 outer product); each step raises by one the
rank of one edge: every raise is a candidate (fitted in parallel), and the step takes the
one that lowers the score most per parameter it adds (``select="ratio"``; ``"score"``:
the lowest score, the paper's rule). In the underfit early steps a chord that short-cuts
the true network often lowers the error most; per parameter, the cheaper true edges win
more often.

Growth stops when no raise lowers the score. Then, with ``refine`` (on by default), the
search tries to lower each edge's rank by one, and then to move one unit of rank from
one edge to another; the first that lowers the score is taken and growth resumes. This
undoes a chord that growth added early, which growth alone never can.

When that stalls too, ``kicks`` times (while the budget lasts): the edge whose lowering
hurt least is removed and growth restarts from there with that edge barred; the result
replaces the incumbent when it scores lower.

``warm_start`` is the paper's cheap heuristic for a raise ("fit only the new slices"):
the candidate is fitted not from random cores but from the incumbent's fitted cores, its
old slices where the incumbent's fit left them and only the new slices started small and
random -- one ALS run (a median of 4-5 sweeps on the order-4 benchmark) instead of the
seeded restarts (13 sweeps), the normal fit added only when the warm run has not
converged (see :func:`~tensorbench.engine.search.evaluator.warm_fit`). It is off by
default: on the hidden-ring benchmark it halved greedy's wall time at the same number of
fits, but its fits end in the parent's basin, and over ten order-6 rings it reached the
truth 7 times against 8 for the normal fits (order 4: 20/20 both). ``warm_check`` also
runs the normal fit for every warm one and keeps the lower error.
"""

from __future__ import annotations

import random

from ..params import Param
from .base import register_strategy
from .evaluator import Evaluation, Evaluator


def _gain(current: Evaluation, cand: Evaluation, select: str) -> float:
    """How much better ``cand`` is than ``current`` (positive: better)."""
    drop = current.score - cand.score
    if select == "ratio":
        return drop / max(1, cand.params - current.params)
    return drop


@register_strategy(
    "greedy",
    Param(
        "warm_start",
        "bool",
        False,
        "fit a raised candidate from the incumbent's cores (only the new slices start "
        "random) instead of from scratch",
    ),
    Param(
        "warm_check",
        "bool",
        False,
        "also fit each warm-started candidate from scratch and keep the lower error",
    ),
    Param(
        "select",
        "choice",
        "ratio",
        "which raise a step takes: most score drop per added parameter, or lowest score",
        choices=("ratio", "score"),
    ),
    Param(
        "refine",
        "bool",
        True,
        "when growth stalls, try lowering an edge or moving rank between two edges",
    ),
    Param(
        "kicks",
        "int",
        2,
        "restarts of growth from the best with one edge removed (refine only)",
        min=0,
        max=1000,
    ),
    doc="greedy rank growth: from all ranks 1, raise the edge that lowers the score most",
)
def greedy(
    ev: Evaluator,
    rng: random.Random,
    warm_start: bool = False,
    warm_check: bool = False,
    select: str = "ratio",
    refine: bool = True,
    kicks: int = 2,
) -> None:
    """Run greedy rank growth on ``ev`` (``rng`` is unused: the method is deterministic)."""
    if warm_start:
        ev.keep_cores = True
    climb = _Climb(ev, warm_start, warm_check, select, refine)
    best, lowered = climb.run(ev.evaluate(ev.space.smallest()), barred=None)
    if not refine:
        return
    tried: set[int] = set()
    for _ in range(kicks):
        edges = [e for e in sorted(lowered, key=lambda e: lowered[e].score) if e not in tried]
        if not edges:
            return
        e = edges[0]
        tried.add(e)
        ranks = ev.space.edge_ranks(best.structure)
        ranks[e] = 1
        start = ev.evaluate(ev.space.make(ranks, best.structure.perm))
        end, low = climb.run(start, barred=e)
        if end.score < best.score:
            best, lowered, tried = end, low, set()


class _Climb:
    """Growth (and refinement) from a start until neither lowers the score."""

    def __init__(
        self, ev: Evaluator, warm_start: bool, warm_check: bool, select: str, refine: bool
    ) -> None:
        self.ev, self.warm, self.check = ev, warm_start, warm_check
        self.select, self.refine = select, refine

    def run(
        self, current: Evaluation, barred: int | None
    ) -> tuple[Evaluation, dict[int, Evaluation]]:
        """The end point and its edges' lowered-by-one evaluations (edge -> evaluation)."""
        space, ev = self.ev.space, self.ev
        while True:
            ranks = space.edge_ranks(current.structure)
            perm = current.structure.perm
            raises = [e for e, r in enumerate(ranks) if r < space.max_rank and e != barred]
            cands = [space.changed(ranks, perm, {e: ranks[e] + 1}) for e in raises]
            evs: list[Evaluation] = []
            if cands:
                warm = current.structure if self.warm else None
                evs = ev.evaluate_many(cands, warm_from=warm, warm_check=self.check)
                better = [x for x in evs if x.score < current.score]
                if better:
                    current = max(better, key=lambda x: _gain(current, x, self.select))
                    continue
            if not self.refine:
                return current, {}
            nxt, lowered = self._refine(current, ranks, raises, barred)
            if nxt is None:
                return current, lowered
            current = nxt

    def _refine(
        self, current: Evaluation, ranks: list[int], raises: list[int], barred: int | None
    ) -> tuple[Evaluation | None, dict[int, Evaluation]]:
        """A lowered edge, else one unit of rank moved between two edges, that beats
        ``current`` (None: neither), and the lowered evaluations."""
        space, ev = self.ev.space, self.ev
        perm = current.structure.perm
        down = [e for e, r in enumerate(ranks) if r > 1]
        lowered: dict[int, Evaluation] = {}
        if down:
            cands = [space.changed(ranks, perm, {e: ranks[e] - 1}) for e in down]
            lowered = dict(zip(down, ev.evaluate_many(cands), strict=True))
            top = min(lowered.values(), key=lambda x: x.score)
            if top.score < current.score:
                return top, lowered
        moves = [
            space.changed(ranks, perm, {e: ranks[e] - 1, f: ranks[f] + 1})
            for f in raises
            for e in down
            if e != f
        ]
        if moves:
            top = min(ev.evaluate_many(moves), key=lambda x: x.score)
            if top.score < current.score:
                return top, lowered
        return None, lowered
