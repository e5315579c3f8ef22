"""TnALE: alternating local enumeration (Li, Zeng, Tao, Zhao 2023).

The variables are the edge ranks and, when searched, the mode permutation. A round visits
the edges in a seeded random order; for each it enumerates the ranks within ``radius`` of
the current one (others fixed) and keeps the best, then it tries every swap of two
neighbouring cores' modes. In the first ``interp_rounds`` rounds, with a wider radius,
only the two ends of each range are fitted next to the current value and the scores in
between are predicted by linear interpolation; the predicted best is fitted and kept only
if it really improves -- the paper's device for covering a wide range cheaply early on.

A round that changes nothing is not yet convergence: with ``final_check`` (on by
default) the search first looks once more at a larger radius, as the paper does before it
stops -- every edge's ranks within ``final_radius``, every swap of two cores' modes (not
only neighbours), and every swap of neighbours together with one of the edges the swap
rewires lowered by one. That last move is what a swap on its own cannot show: the swap
that leads to a smaller network usually scores the same as the incumbent (it is the same
size, and both fit exactly), so it is never taken, and the rank it frees is never
lowered. When one of these candidates improves, the rounds resume; otherwise the search
stops (as it does when the budget is spent).

Where it starts: ``start="full"`` puts every edge at the smallest rank whose network has as
many parameters as the data has entries (or at the largest rank when none has; a random
mode order), a count any exact fit needs, so the first candidate is one that can fit the
data and the rounds mostly take ranks away: each step down is one fit, and a step below
what the data needs shows at once as a jump in error. ``start="random"`` is the paper's
random point. ``"auto"`` (the default) is "full" when a rank within the limit has that
many parameters (and ALS can solve its cores, and, under a parameter budget, it fits the
budget), else "random": from the largest rank every edge is several steps from a typical
answer and each fit is the dearest.
Interpolation pays off from a random start, far from the answer; from the full start the
scores fall off a cliff below the needed rank, where a line between a good and a bad end
predicts nothing good in between and skips the rank that was wanted, so ``interp_rounds``
defaults to 1 from a random start and 0 from the full one.

Measured on the benchmark's hidden rings (benchmarks/bench_search.py; fits to reach the
truth's score, one process): order 4, 15 seeds, the full start (rank 3) reached it on 14
with a median of 10 fits, a random start on 13 with a median of 16; order 6, 5 seeds,
the full start (rank 4, too small to hold the data) at most 61, a random start at most 62;
order 8, the first seed, the full start spent the 300 s budget after 121 fits (2.5 s a
fit) where a random start reached the truth at fit 238.
"""

from __future__ import annotations

import itertools
import random

from ..params import Param
from .base import register_strategy
from .evaluator import Evaluation, Evaluator
from .objective import Structure

#: Perturbed restarts after convergence (default).
KICKS = 2


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


def _wider(ev: Evaluator, current: Evaluation, radius: int) -> Evaluation | None:
    """The best candidate of the wider neighbourhood when it beats ``current`` (see the
    module docstring), else None."""
    space = ev.space
    ranks = space.edge_ranks(current.structure)
    perm = list(current.structure.perm)
    cands: list[Structure] = []
    for e, r in enumerate(ranks):
        for v in range(max(1, r - radius), min(space.max_rank, r + radius) + 1):
            if abs(v - r) > 1:
                cands.append(space.changed(ranks, perm, {e: v}))
    if space.searches_perm:
        n = space.order
        edges = space.edges()
        for a, b in itertools.combinations(range(n), 2):
            p = list(perm)
            p[a], p[b] = p[b], p[a]
            cands.append(space.make(ranks, p))
            if (b - a) % n not in (1, n - 1):
                continue
            for i, (u, w) in enumerate(edges):
                if ranks[i] > 1 and {u, w} & {a, b}:
                    cands.append(space.changed(ranks, p, {i: ranks[i] - 1}))
    if not cands:
        return None
    top = min(ev.evaluate_many(cands), key=lambda x: x.score)
    return top if top.score < current.score else None


def _kick(ev: Evaluator, s: Structure, rng: random.Random) -> Structure:
    """A random perturbation of ``s``: two cores swap modes (when the permutation is
    searched) and every edge's rank moves by one with probability ``2 / edges`` (at least
    one edge moves when the permutation is not searched)."""
    space = ev.space
    ranks = space.edge_ranks(s)
    perm = list(s.perm)
    if space.searches_perm:
        a, b = rng.sample(range(space.order), 2)
        perm[a], perm[b] = perm[b], perm[a]
    p = min(1.0, 2.0 / len(ranks))
    moved = [e for e in range(len(ranks)) if rng.random() < p]
    if not moved and not space.searches_perm:
        moved = [rng.randrange(len(ranks))]
    for e in moved:
        step = rng.choice((-1, 1))
        if not 1 <= ranks[e] + step <= space.max_rank:
            step = -step
        ranks[e] = max(1, min(space.max_rank, ranks[e] + step))
    return space.make(ranks, perm)


def _descend(
    ev: Evaluator,
    rng: random.Random,
    current: Evaluation,
    radius: int,
    interp_rounds: int,
    max_rounds: int,
    final_check: bool,
    final_radius: int,
) -> Evaluation:
    """Rounds of alternating local enumeration from ``current`` until one (and the final
    look) changes nothing; returns where they ended."""
    space = ev.space
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
                return space.changed(ranks, perm, {e: v})

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
        if not changed and final_check:
            wider = _wider(ev, current, final_radius)
            if wider is not None:
                current, changed = wider, True
        if not changed:
            break
    return current


@register_strategy(
    "tnale",
    Param(
        "radius",
        "int",
        2,
        "rank range around the current one in the interpolating rounds (interp_rounds)",
        max=16,
    ),
    Param(
        "start",
        "choice",
        "auto",
        "where the search starts: 'full' (every edge at the smallest rank with as many "
        "parameters as the data has entries, or the largest rank; then ranks are taken "
        "away), 'random' (the paper's random point), or 'auto' (full when a rank within "
        "the limit has that many and fits the objective's budget, else random)",
        choices=("auto", "full", "random"),
    ),
    Param(
        "interp_rounds",
        "int",
        None,
        "first rounds that interpolate instead of enumerating (default: 1 from a random "
        "start, 0 from the full one)",
        min=0,
        max=100,
    ),
    Param("max_rounds", "int", 30, "most rounds", max=10_000),
    Param(
        "final_check",
        "bool",
        True,
        "before stopping, look once more at a larger radius (ranks, any mode swap, a swap "
        "with a lowered edge)",
    ),
    Param("final_radius", "int", 2, "rank range of that last look", min=1, max=16),
    Param(
        "kicks",
        "int",
        KICKS,
        "after converging, restarts from a random perturbation of the best (kept if better)",
        min=0,
        max=1000,
    ),
    doc="TnALE: from a network with as many parameters as entries (or a random one), "
    "enumerate each edge's rank in turn, then mode swaps",
)
def tnale(
    ev: Evaluator,
    rng: random.Random,
    radius: int = 2,
    start: str = "auto",
    interp_rounds: int | None = None,
    max_rounds: int = 30,
    final_check: bool = True,
    final_radius: int = 2,
    kicks: int = KICKS,
) -> None:
    """Run TnALE on ``ev`` from ``start`` (then ``kicks`` perturbed restarts)."""
    space = ev.space
    first = space.random(rng)  # the full start takes its random mode order
    full = None if start == "random" else space.holding(first.perm)
    objective = ev.objective
    if (
        full is not None
        and start == "auto"
        and objective.kind == "budget"
        and full.params(space.dims) > objective.max_params
    ):
        full = None  # over the parameter budget: every step down would be a wasted fit
    if full is None and start == "full":
        full = space.make([space.max_rank] * len(space.edges()), first.perm)
    if full is not None:
        first = full
    if interp_rounds is None:
        interp_rounds = 0 if full is not None else 1
    best = _descend(
        ev,
        rng,
        ev.evaluate(first),
        radius,
        interp_rounds,
        max_rounds,
        final_check,
        final_radius,
    )
    for _ in range(kicks):
        kicked = ev.evaluate(_kick(ev, best.structure, rng))
        end = _descend(ev, rng, kicked, radius, 0, max_rounds, final_check, final_radius)
        if end.score < best.score:
            best = end
