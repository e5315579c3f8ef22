"""The ``search`` task: race structure-search strategies on one input, or choose Tucker
core shapes under budgets.

Config task fields (``mode: "network"``, the default)::

    {"kind": "search",
     "data": {"kind": "synthetic", "template": "tensor_ring", ...},   # tensorbench.engine.data
     "space": {"topology": "ring", "max_rank": 4, "permute": false},
     "objective": {"kind": "penalty", "lam": 200},
     "strategies": [{"strategy": "tnale"}, {"strategy": "tnga", "population": 16}],
     "budget": {"evaluations": 300, "seconds": 600},
     "fit": {"restarts": 2, "max_iter": 300, "tol": 1e-8},
     "workers": 0}          # processes fitting candidates; 0: one per core

Strategies run one after the other, each with its own evaluator (budget and cache), so a
race is fair and ``tensorbench run`` reproduces the app's numbers. Every evaluation is a
record ``{"strategy", "index", "score", "best", "rse", "params", "edges", ...}``. When the
data is synthetic from a network in search form (a ring or any rank-matrix network over
the data's modes), that hidden truth is evaluated too and each strategy reports whether
it reached the truth's score (``success``).

``mode: "tucker"`` instead chooses core shapes: ``{"budgets": [1000, 5000], "solvers":
["ip", "greedy", "bang_for_buck", "threshold"]}`` (see
:mod:`~tensorbench.engine.search.tucker_shape`).
"""

from __future__ import annotations

import math
import time
from typing import Any

from ..config import Config
from ..decompose.task import check_data
from ..errors import ConfigError, TensorbenchError
from ..fmt import format_seconds
from ..params import Param, changed_settings, check_entries, check_params, first_repeat
from ..run import Reporter, register_task
from .base import get_strategy, run_strategy
from .evaluator import Evaluation, Evaluator, FitOptions, default_workers
from .objective import Objective, SearchSpace, Structure
from .tucker_shape import SOLVERS

__all__ = ["SECTIONS", "check_strategies", "hidden_ring", "truth_structure"]

_SPACE = (
    Param(
        "topology",
        "choice",
        "ring",
        "edges allowed: a ring, or every pair",
        choices=("ring", "full"),
    ),
    Param("max_rank", "int", 4, "largest rank of an edge", max=64),
    Param("permute", "bool", False, "also search the mode order (ring only)"),
)
_OBJECTIVE = (
    Param("kind", "choice", "penalty", "what is minimized", choices=("penalty", "bound", "budget")),
    Param(
        "lam",
        "float",
        200.0,
        "weight of RSE^2 (penalty); above 0: at 0 the error would not count and the "
        "smallest network (no bonds) would always win",
        min=1e-6,
        max=1e12,
    ),
    Param("max_rse", "float", 0.05, "error bound (bound)", min=0.0, max=10.0),
    Param("max_params", "int", 10_000, "parameter budget (budget)", max=2**40),
)
_BUDGET = (
    Param("evaluations", "int", 300, "most fits per strategy", max=10**6),
    Param("seconds", "float", 600.0, "most wall time per strategy", min=0.1, max=7 * 86400),
)
_FIT = (
    Param("restarts", "int", 2, "seeded ALS starts per candidate (best kept)", max=100),
    Param("max_iter", "int", 300, "most ALS sweeps per start", max=100_000),
    Param("tol", "float", 1e-8, "ALS stagnation tolerance", min=0.0, max=1.0),
)
_TUCKER = (
    Param(
        "budgets",
        "ints",
        [1000],
        "core-size budgets (prod of the ranks)",
        max=2**40,
        scalar_ok=True,
    ),
    Param("solvers", "names", list(SOLVERS), "core-shape solvers", choices=SOLVERS),
)


#: The parameters of the task's object-valued fields, for forms and the CLI's help.
SECTIONS: dict[str, tuple[Param, ...]] = {
    "space": _SPACE,
    "objective": _OBJECTIVE,
    "budget": _BUDGET,
    "fit": _FIT,
    "tucker": _TUCKER,
}


def _section(params: tuple[Param, ...], where: str):
    def check(value: Any, here: str) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{here} must be an object")
        return check_params(params, value, here, ConfigError)

    check.__name__ = f"check_{where}"
    return check


def _check_tucker(value: Any, where: str) -> dict[str, Any]:
    """The Tucker section, with each budget once (a repeat solves the same shapes again)."""
    clean = _section(_TUCKER, "tucker")(value, where)
    budgets = clean["budgets"] if isinstance(clean["budgets"], list) else [clean["budgets"]]
    repeated, v = first_repeat(budgets)
    if repeated:
        raise ConfigError(f"{where}.budgets: {v} appears twice; give each value once")
    return clean


def strategy_labels(entries: list[dict[str, Any]]) -> list[str]:
    """Each strategy entry's label: its name, followed where the name is chosen more than
    once by the settings that differ from its defaults (``tnga patience=1000``), so a race
    of one strategy in two settings tells its runs apart."""
    names = [e["strategy"] for e in entries]
    return [
        " ".join([e["strategy"], *changed_settings(get_strategy(e["strategy"]).params, e)])
        if names.count(e["strategy"]) > 1
        else e["strategy"]
        for e in entries
    ]


def check_strategies(value: Any, where: str) -> list[dict[str, Any]]:
    """Validate the strategy list: known names and each strategy's own parameters."""
    checked = check_entries(
        value, where, "strategy", '{"strategy": "tnale"}', get_strategy, ConfigError
    )
    return [{"strategy": spec.name, **params} for _, spec, params in checked]


def hidden_ring(
    order: int,
    size: int = 3,
    ranks: list[int] | None = None,
    *,
    max_rank: int = 4,
    shuffle: bool = True,
    noise: float = 0.0,
    seed: int = 0,
) -> dict[str, Any]:
    """A data spec for the "hidden truth" demo: a tensor ring over ``order`` modes of size
    ``size``, its cores in a (seeded) random mode order, plus relative ``noise``.

    ``ranks`` gives the ring's bond ranks (core ``k`` to ``k+1``, the last to the first);
    None draws them from ``1..max_rank`` with ``seed`` -- the protocol of the TNGA, TNLS and
    TnALE papers' synthetic experiments. The spec is ``{"kind": "synthetic", "network":
    ...}``, so the search task recognises the truth and reports whether it was reached.
    """
    import random

    if isinstance(order, bool) or not isinstance(order, int) or not 3 <= order <= 12:
        raise ConfigError(f"hidden truth: order must be between 3 and 12, got {order}")
    if isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= 64:
        raise ConfigError(f"hidden truth: mode size must be between 2 and 64, got {size}")
    if isinstance(max_rank, bool) or not isinstance(max_rank, int) or not 1 <= max_rank <= 64:
        raise ConfigError(
            f"hidden truth: largest random rank must be between 1 and 64, got {max_rank}"
        )
    if not (isinstance(noise, int | float) and math.isfinite(noise) and 0 <= noise <= 10):
        raise ConfigError(f"hidden truth: noise must be a number from 0 to 10, got {noise}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"hidden truth: seed must be an integer >= 0, got {seed}")
    rng = random.Random(1000 * order + seed)
    if ranks is None:
        ranks = [rng.randint(1, max_rank) for _ in range(order)]
    if len(ranks) != order or any(not isinstance(r, int) or not 1 <= r <= 64 for r in ranks):
        raise ConfigError(
            f"hidden truth: give {order} ring ranks (integers 1..64, one per bond), got {ranks}"
        )
    perm = list(range(order))
    if shuffle:
        rng.shuffle(perm)
    space = SearchSpace((size,) * order, "ring", max(ranks))
    net = space.make(ranks, perm).network([size] * order)
    return {"kind": "synthetic", "network": net.to_dict(), "noise": noise, "seed": seed}


def truth_structure(desc: dict[str, Any], space: SearchSpace) -> Structure | None:
    """The hidden truth as a candidate of ``space``, when the data was drawn from a network
    whose cores each carry one data mode (in order) and share only plain bonds."""
    from ..network import Network
    from ..templates import to_rank_matrix

    doc = desc.get("network")
    if not isinstance(doc, dict):
        return None
    try:
        ranks, perm = to_rank_matrix(Network.from_dict(doc))
    except TensorbenchError:
        return None
    n = len(perm)
    if n != space.order:
        return None
    s = Structure(tuple(ranks[a][b] for a in range(n) for b in range(a + 1, n)), tuple(perm))
    return s


def _summarize(config: Config, m: dict[str, Any]) -> list[str]:
    data = m.get("data", {})
    lines = [
        f"search: {data.get('description', config.task['data'].get('kind'))}, shape "
        f"{tuple(data.get('shape', ()))}, "
        f"seed {config.seed}"
    ]
    if m.get("truth"):
        t = m["truth"]
        lines.append(
            f"hidden truth: {t['edges']}, {t['params']} parameters, score {t['score']:.6g}"
        )
    for r in m.get("runs", []):
        best = r.get("best") or {}
        ok = (
            ""
            if r.get("success") is None
            # the papers' success: a score as good as the truth's (a structure as small
            # and as close, not necessarily the same edges)
            else (
                " (reached the truth's score)"
                if r["success"]
                else " (did not reach the truth's score)"
            )
        )
        lines.append(
            f"{r['label']}: best score {best.get('score', float('nan')):.6g}{ok}, "
            f"{best.get('edges', '-')}, {r['fits']} fits, {format_seconds(r['seconds'])}, "
            f"{r['stop']}"
        )
    for row in m.get("tucker", []):
        lines.append(
            f"budget {row['budget']} {row['solver']}: shape {tuple(row['shape'])}, relative error "
            f"{row['rse']:.6e}, {row['params']} parameters, solved in "
            f"{format_seconds(row['solve_seconds'])}"
        )
    return lines


@register_task(
    "search",
    Param(
        "data",
        "json",
        {
            "kind": "synthetic",
            "template": "tensor_ring",
            "args": {"dims": [4, 4, 4, 4], "ranks": [2, 3, 2, 3]},
            "seed": 1,
        },
        "the input (see tensorbench.engine.data)",
        validator=check_data,
    ),
    Param(
        "mode",
        "choice",
        "network",
        "search networks, or Tucker core shapes",
        choices=("network", "tucker"),
    ),
    Param(
        "space", "json", None, "topology, max_rank, permute", validator=_section(_SPACE, "space")
    ),
    Param(
        "objective",
        "json",
        None,
        "kind (penalty, bound, budget), lam, max_rse, max_params",
        validator=_section(_OBJECTIVE, "objective"),
    ),
    Param(
        "strategies",
        "json",
        [{"strategy": "tnale"}, {"strategy": "greedy"}],
        "strategies to race and their parameters",
        validator=check_strategies,
    ),
    Param(
        "budget",
        "json",
        None,
        "evaluations and seconds per strategy",
        validator=_section(_BUDGET, "budget"),
    ),
    Param(
        "fit",
        "json",
        None,
        "restarts, max_iter, tol of each candidate's ALS",
        validator=_section(_FIT, "fit"),
    ),
    Param(
        "workers",
        "int",
        0,
        "fit candidates in this many processes (0: one per core)",
        min=0,
        max=256,
    ),
    Param(
        "tucker",
        "json",
        None,
        "budgets and solvers (mode tucker)",
        validator=_check_tucker,
    ),
    doc="race structure searches (greedy, TnALE, TNLS, TNGA, random) or pick Tucker core shapes",
    summarize=_summarize,
    needs_network=False,
)
def search_task(config: Config, rep: Reporter) -> dict[str, Any]:
    """Run the ``search`` task (see the module docstring)."""
    from ..data import load_data
    from ..run import Cancelled

    task = config.task
    rep.progress(0.0, "loading data")
    X, desc = load_data(task["data"], dtype="float64", device="cpu")
    metrics: dict[str, Any] = {"data": {**desc, "shape": list(X.shape)}, "runs": []}
    # the shape first, so a live view can draw candidates before the run ends
    rep.record(kind="data", shape=list(X.shape), description=desc.get("description", ""))
    if task["mode"] == "tucker":
        return _tucker(X, task, rep, metrics)

    space = SearchSpace(tuple(X.shape), **_section(_SPACE, "space")(task["space"], "space"))
    objective = Objective(**_section(_OBJECTIVE, "objective")(task["objective"], "objective"))
    budget = _section(_BUDGET, "budget")(task["budget"], "budget")
    fit = FitOptions(**_section(_FIT, "fit")(task["fit"], "fit"))
    workers = task["workers"] or default_workers()
    truth = truth_structure(desc, space)
    if truth is not None:
        ev = Evaluator(X, space, objective, fit, seed=config.seed)
        t = ev.evaluate(truth)
        metrics["truth"] = t.to_dict()
        # sent now, so a live view can show the target while the strategies run
        rep.record(
            kind="truth",
            score=t.score,
            rse=t.rse,
            params=t.params,
            edges=truth.describe(),
            structure=truth.to_dict(),
        )
    n = len(task["strategies"])
    labels = strategy_labels(task["strategies"])
    for k, entry in enumerate(task["strategies"]):
        name = entry["strategy"]
        params = {key: v for key, v in entry.items() if key != "strategy"}

        evaluator = Evaluator(
            X,
            space,
            objective,
            fit,
            seed=config.seed,
            max_evals=budget["evaluations"],
            max_seconds=budget["seconds"],
            workers=workers,
            cancelled=lambda: rep.cancelled,
            strategy=name,
        )

        def on_eval(
            e: Evaluation, name: str = name, k: int = k, evaluator: Evaluator = evaluator
        ) -> None:
            best = evaluator.best
            rep.record(
                kind="evaluation",
                strategy=name,
                label=labels[k],
                index=e.index,
                fits=evaluator.fits,
                score=e.score,
                best=None if best is None else best.score,
                rse=e.rse,
                params=e.params,
                edges=e.structure.describe(),
                structure=e.structure.to_dict(),
                pruned=e.pruned,
                cached=e.cached,
                elapsed=evaluator.elapsed,
            )
            frac = min(1.0, evaluator.fits / max(1, budget["evaluations"]))
            rep.progress((k + frac) / n, f"{labels[k]}: {evaluator.fits} fits")

        evaluator.on_eval = on_eval
        t0 = time.perf_counter()
        stop = "converged"
        try:
            _, stop = run_strategy(name, evaluator, seed=config.seed, **params)
        except Cancelled:
            stop = "cancelled"
        run = {
            "strategy": name,
            "label": labels[k],
            "params_given": entry,
            "stop": stop,
            "seconds": time.perf_counter() - t0,
            "fits": evaluator.fits,
            "pruned": evaluator.pruned,
            "cache_hits": evaluator.hits,
            "best": None if evaluator.best is None else evaluator.best.to_dict(),
        }
        if truth is not None and evaluator.best is not None:
            target = metrics["truth"]["score"]
            run["success"] = evaluator.best.score <= target * (1 + 1e-6) + 1e-12
            hit = next(
                (
                    e
                    for e in evaluator.history
                    if e.rse is not None and e.score <= target * (1 + 1e-6) + 1e-12
                ),
                None,
            )
            run["fits_to_truth"] = None if hit is None else hit.index
        metrics["runs"].append(run)
        if stop == "cancelled":
            raise Cancelled(metrics)
    return metrics


def _tucker(X: Any, task: dict[str, Any], rep: Reporter, metrics: dict[str, Any]) -> dict[str, Any]:
    from .tucker_shape import core_shape, evaluate_shape, mode_spectra

    opts = _section(_TUCKER, "tucker")(task["tucker"], "tucker")
    budgets = opts["budgets"] if isinstance(opts["budgets"], list) else [opts["budgets"]]
    rep.progress(0.0, "spectra of the unfoldings")
    spectra = mode_spectra(X)
    rows = []
    jobs = [(b, s) for b in budgets for s in opts["solvers"]]
    for k, (b, solver) in enumerate(jobs):
        rep.check_cancel(metrics)
        shape, info = core_shape(spectra, int(b), solver)
        fit = evaluate_shape(X, shape)
        row = {
            "budget": int(b),
            "solver": solver,
            **fit,
            "surrogate": info["surrogate"],
            "solve_seconds": info["seconds"],
        }
        rows.append(row)
        rep.record(kind="tucker", **row)
        rep.progress((k + 1) / len(jobs), f"budget {b}: {solver}")
    metrics["tucker"] = rows
    return metrics
