"""The ``decompose`` task: run one or more decomposition methods on one input and compare.

Config task fields::

    {"kind": "decompose",
     "data": {"kind": "image", ...},            # see tensorbench.engine.data
     "methods": [{"method": "tt_svd", "ranks": 8}, {"method": "hosvd", "ranks": 20}],
     "sweep": {"param": "samples", "values": [50, 100, 200]},   # optional
     "dtype": "float64"}

Methods run one after the other, seeded from the config's seed (through
:func:`method_seed`), so ``tensorbench run`` and an exported script reproduce the final
errors of the app exactly. Every iteration is a record
``{"method": label, "iter", "rel_error", "elapsed", ...}`` in the result's history (the app
streams them into live curves). With ``sweep``, each method that has the swept parameter
runs once per value (e.g. a sketch size) and the result tabulates final error and time per
value; a method without it (the exact one beside a sketched one) runs once, as a baseline.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..errors import ConfigError, ResourceError, TensorbenchError
from ..fmt import format_seconds
from ..params import Param, check_entries, first_repeat
from ..run import Reporter, register_task
from .base import Decomposition, check_ranks, get_method, relative_error

if TYPE_CHECKING:
    from ..network import Network

__all__ = [
    "check_data",
    "check_methods",
    "check_ranks_fit",
    "method_label",
    "method_seed",
    "run_method",
    "run_warning",
    "swept",
]

#: Largest reconstruction (elements) the task forms to measure the exact final error.
EXACT_ERROR_LIMIT = 2 * 10**8


def check_data(value: Any, where: str) -> dict[str, Any]:
    """Validate a data spec against the data-source registry (nothing is loaded)."""
    from ..data import check_spec

    try:
        return check_spec(value)
    except TensorbenchError as e:
        raise ConfigError(f"{where}: {e}") from None


#: Rank values a list must have per family, for data of ``n`` modes.
_RANK_COUNT = {
    "tt": ("bond", lambda n: n - 1),
    "tr": ("bond", lambda n: n),
    "tucker": ("mode", lambda n: n),
}


def check_ranks_fit(
    methods: list[dict[str, Any]], shape: list[int], network: Network | None = None
) -> None:
    """Refuse a rank list whose length does not fit data of ``shape`` (TT: one per bond,
    ``N - 1``; TR: ``N``; Tucker: one per mode), or a ``network`` that ``network_als``
    would fit whose output does not match the shape, before any method runs.

    A method checks its ranks when it starts, so a 2-value list for 6-mode data failed
    its own row on the page while the others ran, and ``tensorbench run`` stopped after
    running the methods listed before it. Sizes beyond what the modes allow are each
    method's to cap or refuse.
    """
    n = len(shape)
    for k, entry in enumerate(methods):
        spec = get_method(entry["method"])
        if entry["method"] == "network_als" and network is not None:
            from .network_als import check_network_fits

            try:
                check_network_fits(network, shape)
            except TensorbenchError as e:
                # "methods[k] (network_als): why", which a page words as the method's
                # name ("methods[2] (network_als: why)" read '"methods", value 3 (...')
                why = str(e).removeprefix("network_als: ")
                raise ConfigError(f"config.task.methods[{k}] (network_als): {why}") from None
        ranks = entry.get("ranks")
        if spec.family not in _RANK_COUNT or not isinstance(ranks, list):
            continue
        unit, count = _RANK_COUNT[spec.family]
        what = f"config.task.methods[{k}] ({entry['method']}).ranks (one per {unit})"
        try:
            check_ranks(ranks, count(n), what)
        except TensorbenchError as e:
            raise ConfigError(f"{e} for the data's {n} modes {tuple(shape)}") from None


def check_methods(value: Any, where: str) -> list[dict[str, Any]]:
    """Validate the method list: known names, each method's own parameters."""
    out = []
    checked = check_entries(
        value, where, "method", '{"method": "hosvd"}', get_method, ConfigError, skip=("label",)
    )
    for k, (entry, spec, params) in enumerate(checked):
        clean = {"method": spec.name, **params}
        if "label" in entry:
            if not isinstance(entry["label"], str) or not entry["label"]:
                raise ConfigError(f"{where}[{k}].label must be non-empty text")
            clean["label"] = entry["label"]
        out.append(clean)
    return out


def check_sweep(value: Any, where: str) -> dict[str, Any] | None:
    """Validate an optional sweep ``{"param": name, "values": [...]}``."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"param", "values"}:
        raise ConfigError(f'{where} must be {{"param": name, "values": [...]}} or null')
    if not isinstance(value["param"], str) or not value["param"]:
        raise ConfigError(f"{where}.param must be a parameter name, got {value['param']!r}")
    if not isinstance(value["values"], list) or not value["values"]:
        raise ConfigError(f"{where}.values must be a non-empty list")
    return value


def swept(entry: dict[str, Any], sweep: dict[str, Any] | None) -> bool:
    """Whether ``entry``'s method runs once per swept value (it has the swept parameter);
    a method without it runs once, as the baseline the swept ones are compared with (an
    exact method beside a sketch-size sweep)."""
    if sweep is None:
        return False
    return sweep["param"] in {p.name for p in get_method(entry["method"]).params}


def _network_need(task: dict[str, Any]) -> str | None:
    """Why the config needs a network: a network_als entry fits it (one without it passed
    validation and failed its run)."""
    for k, entry in enumerate(task["methods"]):
        if get_method(entry["method"]).family == "network":
            return (
                f": methods[{k}] ({entry['method']}) fits the config's network (draw one on "
                "the Network page and press 'Decompose with this network', or remove the "
                "method)"
            )
    return None


def _check_decompose(task: dict[str, Any]) -> None:
    """A sweep's every run, checked before any runs: a parameter no chosen method has, a
    value its method refuses (a sample count of 0 failed the whole run after the data was
    loaded, the valid values with it), a value given twice."""
    sweep = task.get("sweep")
    if sweep is None:
        return
    name, values = sweep["param"], sweep["values"]
    if not any(swept(entry, sweep) for entry in task["methods"]):
        methods = ", ".join(e["method"] for e in task["methods"])
        raise ConfigError(
            f"config.task.sweep.param: no chosen method ({methods}) has a parameter "
            f"{name!r}; sweep one of their parameters"
        )
    repeated, value = first_repeat(values)  # 0 and 0.0 ran twice
    if repeated:
        raise ConfigError(
            f"config.task.sweep.values: {value!r} appears twice; give each value once"
        )
    for i, value in enumerate(values):
        for k, entry in enumerate(task["methods"]):
            if not swept(entry, sweep):
                continue
            try:
                check_methods([{**entry, name: value}], "methods")
            except ConfigError as e:
                reason = str(e).split(").", 1)[-1] if ")." in str(e) else str(e)
                raise ConfigError(
                    f"config.task.sweep.values[{i}]: {name}={value!r} for "
                    f"config.task.methods[{k}] ({entry['method']}): {reason}"
                ) from None


def method_label(entry: dict[str, Any], sweep_value: Any = None, param: str | None = None) -> str:
    """A short label for a method run, e.g. ``tucker_rand`` or ``cp_als_lev samples=200``."""
    label = entry.get("label") or entry["method"]
    return f"{label} {param}={sweep_value}" if param is not None else label


def method_seed(seed: int) -> int:
    """The seed a method gets from the config's ``seed``: a stream of its own.

    Synthetic data is drawn with the data's seed by the generator the methods use, one
    Gaussian core after another; a method whose start draws the same shapes in the same
    order (``tr_als`` on a tensor ring, ``network_als`` on the drawn network, ...) would,
    with equal seeds -- both 0 by default -- start *at* the cores the data came from
    (network_als on the 6^4 ring template: 9 sweeps, where unrelated seeds took 17-32;
    tr_als on a 16^6 ring: 2 sweeps, not 5). Deriving the method's seed through numpy's
    ``SeedSequence`` keeps the two streams apart, as the data's noise already is.
    """
    import numpy as np

    state = np.random.SeedSequence([int(seed), 2]).generate_state(1, np.uint64)[0]
    return int(state) % 2**62  # room for the small offsets methods add for sub-streams


def run_method(
    X: Any, entry: dict[str, Any], *, seed: int, network: Any = None, callback: Any = None
) -> Decomposition:
    """Run one method entry (validated) on ``X``, seeded by :func:`method_seed` of the
    config's ``seed``."""
    spec = get_method(entry["method"])
    kwargs = {k: v for k, v in entry.items() if k not in ("method", "label")}
    if spec.family == "network":
        if network is None:
            raise ConfigError(
                f"method {spec.name!r} fits the config's network: add a 'network' "
                "(draw one on the Network page and send it here)"
            )
        kwargs["network"] = network
    return spec.func(X, seed=method_seed(seed), callback=callback, **kwargs)


def _final_error(X: Any, dec: Decomposition) -> float | None:
    """The exact error from the reconstruction; where that is too large to form (or would
    not fit in memory now), the method's own last measured error."""
    if X.numel() <= EXACT_ERROR_LIMIT:
        try:
            return relative_error(X, dec.reconstruct())
        except ResourceError:  # a finished fit must not fail for want of its check
            pass
    return dec.rel_error


def run_warning(run: dict[str, Any]) -> str | None:
    """A run record's warning from its method about the result (a stalled sampled run)."""
    return (run.get("info") or {}).get("warning")


def _summarize(config: Config, m: dict[str, Any]) -> list[str]:
    data = m.get("data", {})
    lines = [
        f"decompose: {data.get('description', config.task['data'].get('kind'))}, shape "
        f"{tuple(data.get('shape', ()))}, {config.task['dtype']}, seed {config.seed}"
    ]
    for r in m.get("runs", []):
        if r["status"] != "ok":
            lines.append(f"{r['label']}: cancelled after {format_seconds(r['seconds'])}")
            continue
        err = r.get("rel_error")
        err_txt = "n/a" if err is None else f"{err:.6e}"
        lines.append(
            f"{r['label']}: relative error {err_txt}, {r['params']} parameters "
            f"({r['compression']:.4g}x), {r['iterations']} iterations, "
            f"{format_seconds(r['seconds'])}"
        )
        if warning := run_warning(r):
            lines.append(f"  warning: {warning}")
    return lines


@register_task(
    "decompose",
    Param(
        "data",
        "json",
        {"kind": "synthetic"},
        "the input (see tensorbench.engine.data)",
        validator=check_data,
    ),
    Param(
        "methods",
        "json",
        [{"method": "tt_svd"}],
        "methods to run and their parameters",
        validator=check_methods,
    ),
    Param(
        "sweep",
        "json",
        None,
        "optional {param, values}: run each method that has the parameter once per value "
        "(the others once, as baselines)",
        validator=check_sweep,
    ),
    Param("dtype", "choice", "float64", "data type of the input", choices=("float64", "float32")),
    doc="decompose one input with several methods; record error against iteration and time",
    summarize=_summarize,
    needs_network=_network_need,
    check_all=_check_decompose,
)
def decompose_task(config: Config, rep: Reporter) -> dict[str, Any]:
    """Run the ``decompose`` task (see the module docstring)."""
    from ..data import load_data
    from ..device import resolve_device
    from ..run import Cancelled

    task = config.task
    device = resolve_device(config.device)
    rep.progress(0.0, "loading data")
    X, desc = load_data(task["data"], dtype=task["dtype"], device=device)
    check_ranks_fit(task["methods"], list(X.shape), config.network)
    metrics: dict[str, Any] = {
        "device": str(device),
        "data": {**desc, "shape": list(X.shape)},
        "runs": [],
    }
    sweep = task.get("sweep")
    jobs: list[tuple[dict[str, Any], Any]] = []
    for entry in task["methods"]:
        if not swept(entry, sweep):  # no sweep, or a baseline beside one: once
            jobs.append((entry, None))
        else:
            for value in sweep["values"]:
                # validated like any method parameter (the config check saw it too)
                jobs.append(
                    (check_methods([{**entry, sweep["param"]: value}], "methods")[0], value)
                )
    for k, (entry, value) in enumerate(jobs):
        label = method_label(entry, value, sweep["param"] if swept(entry, sweep) else None)

        def callback(record: dict[str, Any], label: str = label, k: int = k) -> None:
            rep.record(method=label, **record)
            rep.progress((k + 0.5) / len(jobs), f"{label}: iteration {record.get('iter')}")
            rep.check_cancel(metrics)

        t0 = time.perf_counter()
        status = "ok"
        try:
            dec = run_method(X, entry, seed=config.seed, network=config.network, callback=callback)
        except Cancelled:
            status, dec = "cancelled", None
        seconds = time.perf_counter() - t0
        run: dict[str, Any] = {
            "label": label,
            "method": entry["method"],
            "status": status,
            "params_given": entry,
            "seconds": seconds,
        }
        if swept(entry, sweep):
            run["sweep_value"] = value
        if dec is not None:
            run |= {
                "rel_error": _final_error(X, dec),
                "params": dec.num_params,
                "compression": dec.compression,
                # the method's own count (its last record's "iter"): a record at iter 0
                # (hooi's HOSVD start, network_als's first error) is not an iteration
                "iterations": (dec.history[-1].get("iter", len(dec.history)) if dec.history else 0),
                "info": dec.info,
            }
            rep.artifacts.setdefault("decompositions", {})[label] = dec
        metrics["runs"].append(run)
        if status == "cancelled":
            raise Cancelled(metrics)
        rep.progress((k + 1) / len(jobs), f"{label} done")
    return metrics
