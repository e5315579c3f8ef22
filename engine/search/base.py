"""The strategy registry and the loop every network-structure strategy runs in.

A strategy is ``func(evaluator, rng, **params) -> None``, registered next to its code with
its typed parameters. It proposes candidates to the
:class:`~tensorbench.engine.search.evaluator.Evaluator` until it converges; the evaluator
ends it early (:class:`~tensorbench.engine.search.evaluator.BudgetSpent`) when the budget
is spent. :func:`run_strategy` wraps that and returns the evaluator (best candidate,
history, counts).
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import TensorbenchError
from ..params import Param
from .evaluator import BudgetSpent, Evaluator

__all__ = ["STRATEGIES", "StrategySpec", "get_strategy", "register_strategy", "run_strategy"]


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy: its function, parameters and one-line description."""

    name: str
    func: Callable[..., None]
    params: tuple[Param, ...]
    doc: str


STRATEGIES: dict[str, StrategySpec] = {}

_MODULES = ("random_search", "greedy", "tnls", "tnale", "tnga")


def register_strategy(
    name: str, *params: Param, doc: str
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a strategy next to its code (a decorator)."""

    def deco(func: Callable[..., None]) -> Callable[..., None]:
        STRATEGIES[name] = StrategySpec(name, func, tuple(params), doc)
        return func

    return deco


def get_strategy(name: str) -> StrategySpec:
    """The spec of strategy ``name``; an unknown name lists the valid ones."""
    for mod in _MODULES:
        importlib.import_module(f"tensorbench.engine.search.{mod}")
    if name not in STRATEGIES:
        raise TensorbenchError(
            f"unknown search strategy {name!r}; choose one of: {', '.join(sorted(STRATEGIES))}"
        )
    return STRATEGIES[name]


def run_strategy(
    name: str, evaluator: Evaluator, seed: int = 0, **params: Any
) -> tuple[Evaluator, str]:
    """Run strategy ``name`` on ``evaluator`` until it converges or the budget is spent.

    Returns the evaluator and why the run stopped (``"converged"`` or ``"budget"``);
    :class:`~tensorbench.engine.run.Cancelled` propagates.
    """
    spec = get_strategy(name)
    from ..params import check_params

    clean = check_params(spec.params, params, f"strategy {name}", TensorbenchError)
    rng = random.Random(seed)
    evaluator.strategy = name
    try:
        spec.func(evaluator, rng, **clean)
        stop = "converged"
    except BudgetSpent:
        stop = "budget"
    finally:
        evaluator.close()
    return evaluator, stop
