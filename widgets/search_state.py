"""State of the Search page: the search config, and one live run per strategy (a race).

Each strategy runs in its own worker thread through ``run(config)`` with a one-strategy
copy of the page's config (the machinery is
:class:`~tensorbench.widgets.multirun.MultiRunState`'s). Candidates are fitted in worker
processes (the config's ``workers``), so the server's event loop stays free while a race
runs. A candidate's error depends only on the data, the seed and the structure, so the
race gives the numbers ``tensorbench run`` gives on the exported config.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from tensorbench.engine import Config, Network, TensorbenchError, get_task
from tensorbench.engine.search.objective import Structure
from tensorbench.engine.search.task import hidden_ring, strategy_labels

from .multirun import MultiRunState

__all__ = ["TUCKER_RUN", "SearchState", "default_search_config", "record_structure"]


#: Title of the built-in demo (dropped once the user edits the task).
DEMO_NAME = "hidden ring: TnALE vs TNGA"


def default_search_config() -> Config:
    """The classic teaching demo: data drawn from a hidden tensor ring of order 5 (mode size
    3, ranks drawn from 1..4, modes shuffled); TnALE races TNGA to find it."""
    task = get_task("search").check(
        {
            "data": hidden_ring(5, 3, seed=1),
            "space": {"topology": "ring", "max_rank": 4, "permute": True},
            "objective": {"kind": "penalty", "lam": 200.0},
            "strategies": [{"strategy": "tnale"}, {"strategy": "tnga"}],
            "budget": {"evaluations": 300, "seconds": 300.0},
        }
    )
    return Config({"kind": "search", **task}, None, 0, "cpu", DEMO_NAME)


def record_structure(rec: dict[str, Any], dims: list[int]) -> Network:
    """The network of a search record's ``structure`` (``{"ranks", "perm"}``)."""
    return Structure.from_dict(rec["structure"]).network(dims)


#: The label of a Tucker core-shape run (one run: every budget and solver).
TUCKER_RUN = "tucker shapes"


class SearchState(MultiRunState):
    """Config, per-strategy runs and messages of one Search page (one per session)."""

    kind = "search"
    demo_name = DEMO_NAME
    box_labels: ClassVar[dict[str, str]] = {"workers": "worker processes per strategy"}

    def __init__(self, config: Config | None = None, **params: Any) -> None:
        super().__init__(config or default_search_config(), **params)

    # ------------------------------------------------------------------ edits

    def set_data(self, spec: dict[str, Any]) -> bool:
        """Replace the data spec (validated without loading)."""
        return self._apply(task={"data": spec})

    def set_hidden_truth(self, **kwargs: Any) -> bool:
        """Data from a hidden tensor ring (arguments of
        :func:`~tensorbench.engine.search.task.hidden_ring`)."""
        try:
            spec = hidden_ring(**kwargs)
        except TensorbenchError as e:
            self.error = str(e)
            return False
        return self.set_data(spec)

    def set_section(self, name: str, values: Any) -> bool:
        """Replace one task field: ``space``, ``objective``, ``budget``, ``fit``, ``tucker``
        (objects) or ``mode``."""
        return self._apply(task={name: values})

    def set_strategies(self, strategies: list[dict[str, Any]]) -> bool:
        """Replace the strategies to race (each validated against its parameters)."""
        if not strategies:
            self.error = "choose at least one strategy"
            return False
        return self._apply(task={"strategies": strategies})

    def set_settings(self, **changes: Any) -> bool:
        """``seed`` or ``workers``."""
        top = {k: v for k, v in changes.items() if k == "seed"}
        task = {k: v for k, v in changes.items() if k == "workers"}
        return self._apply(**top, **({"task": task} if task else {}))

    # ------------------------------------------------------------------ runs

    def runs_for_config(self) -> list[tuple[str, dict[str, Any], Config]]:
        """One single-strategy config per strategy, labelled by :func:`strategy_labels` (a
        strategy chosen twice is told apart by its settings)."""
        if self.config.task["mode"] != "network":
            return [(TUCKER_RUN, {"strategy": "tucker"}, self.config)]
        out = []
        entries = self.config.task["strategies"]
        for label, entry in zip(strategy_labels(entries), entries, strict=True):
            cfg = self.config.replace(task={"strategies": [entry]})
            out.append((label, copy.deepcopy(entry), cfg))
        return out

    def data_dims(self) -> list[int] | None:
        """Mode sizes of the data, from the finished or running runs' results (else None)."""
        for er in self.runs.values():
            if er.result is not None:
                shape = er.result.metrics.get("data", {}).get("shape")
                if shape:
                    return list(shape)
        return None
