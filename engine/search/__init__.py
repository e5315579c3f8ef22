"""Structure search: which tensor network (edges, ranks, mode order) suits the data.

Strategies (one module each, registered by name): ``greedy`` rank growth, ``tnale``,
``tnls``, ``tnga`` and ``random``; Tucker core shapes under a budget live in
:mod:`~tensorbench.engine.search.tucker_shape`. All share the
:class:`~tensorbench.engine.search.evaluator.Evaluator` (fits, cache, pruning, budgets,
workers) and the :class:`~tensorbench.engine.search.objective.Objective`.
"""

from .base import STRATEGIES, get_strategy, register_strategy, run_strategy
from .evaluator import BudgetSpent, Evaluation, Evaluator, FitOptions, fit_structure
from .objective import INFEASIBLE, Objective, SearchSpace, Structure

__all__ = [
    "INFEASIBLE",
    "STRATEGIES",
    "BudgetSpent",
    "Evaluation",
    "Evaluator",
    "FitOptions",
    "Objective",
    "SearchSpace",
    "Structure",
    "fit_structure",
    "get_strategy",
    "register_strategy",
    "run_strategy",
]
