"""The ``attention`` task: run attention methods side by side on one input, optionally over a
sweep, and measure time, memory and error against float64 exact attention.

Config task fields::

    {"kind": "attention",
     "input": {"kind": "clustered", "heads": 4, "d": 64},   # see attention.inputs
     "n": 4096, "causal": false, "dtype": "float32",
     "methods": [{"method": "exact"}, {"method": "hyper", "samples": 256},
                 {"method": "lev", "keys": 256}],
     "sweep": {"param": "n", "values": [1024, 2048, 4096]},  # or a method parameter
     "repeats": 5, "reference": true, "heatmap": 1024}

Every (sweep value, method) is one record: ``{"method", "label", "value", "n",
"median_s", "p20_s", "p80_s", "speedup", "peak_bytes", "flops", "rel_error", ...}`` (see
:func:`~tensorbench.engine.attention.methods.measure`). Speedups are against exact SDPA on
the same input, measured in the same run. With ``n <= heatmap`` the result's artifacts
hold, for the first sequence and head, the exact attention weights and each method's map
of computed entries.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from ..config import Config
from ..device import resolve_device
from ..errors import ConfigError, TensorbenchError
from ..fmt import format_seconds
from ..params import Param, changed_settings, check_entries, check_params, first_repeat
from ..run import Reporter, register_task
from .core import AttentionError
from .inputs import INPUTS, _heads, load_input
from .masks import make_mask
from .methods import get_method, measure, reference_for

__all__ = ["check_input", "check_methods", "method_label"]

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


def check_input(value: Any, where: str) -> dict[str, Any]:
    """Validate an input spec (its kind and parameters) without building it."""
    if not isinstance(value, dict) or value.get("kind") not in INPUTS:
        raise ConfigError(
            f"{where} must be an object whose kind is one of: {', '.join(sorted(INPUTS))}"
        )
    src = INPUTS[value["kind"]]
    params = check_params(
        src.params, {k: v for k, v in value.items() if k != "kind"}, where, ConfigError
    )
    return {"kind": src.name, **params}


def check_methods(value: Any, where: str) -> list[dict[str, Any]]:
    """Validate the method list: known names and each method's parameters."""
    checked = check_entries(
        value, where, "method", '{"method": "hyper"}', get_method, ConfigError, skip=("label",)
    )
    out = []
    for entry, spec, params in checked:
        item = {"method": spec.name, **params}
        if "label" in entry:
            item["label"] = str(entry["label"])
        out.append(item)
    return out


def check_sweep(value: Any, where: str) -> dict[str, Any] | None:
    """``{"param": "n" or a method parameter, "values": [...]}`` or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"param", "values"}:
        raise ConfigError(f'{where} must look like {{"param": "n", "values": [1024, 2048]}}')
    values = value["values"]
    if not isinstance(values, list) or not values or len(values) > 64:
        raise ConfigError(f"{where}.values must be a list of 1 to 64 values")
    if value["param"] == "n" and not all(isinstance(v, int) and v >= 1 for v in values):
        raise ConfigError(f"{where}.values: sequence lengths must be positive integers")
    return {"param": str(value["param"]), "values": values}


#: Longest sequence (the ``n`` parameter's bound, and every swept length's).
MAX_N = 2**22


def _check_attention(task: dict[str, Any]) -> None:
    """What no single field shows: lengths the input cannot have, repeated sweep values,
    heads that do not share key/value heads evenly, methods that need as many queries as
    keys on an input that has fewer."""
    src = INPUTS[task["input"]["kind"]]
    sweep = task["sweep"]
    swept_n = sweep is not None and sweep["param"] == "n"
    where = "config.task.sweep.values" if swept_n else "config.task.n"
    lengths = sweep["values"] if swept_n else [task["n"]]
    for n in lengths:
        if n > MAX_N:
            raise ConfigError(f"{where}: {n} tokens is over the limit of {MAX_N}")
        if src.max_n is not None and n > src.max_n:
            raise ConfigError(
                f"{where}: input {src.name} has at most {src.max_n} tokens, got {n}; "
                f"use lengths up to {src.max_n}"
            )
    inp = task["input"]
    specs = [inp]
    if sweep is not None and sweep["param"] != "n":
        # checked with the config: 'validate' said ok and 'run' refused it
        owners = [p.name for p in src.params] + [
            p.name for e in task["methods"] for p in get_method(e["method"]).params
        ]
        if sweep["param"] not in owners:
            chosen = ", ".join(e["method"] for e in task["methods"])
            raise ConfigError(
                f"config.task.sweep.param: {sweep['param']!r} belongs to none of the methods "
                f"chosen ({chosen}) nor to input {src.name}; sweep 'n' or one of their "
                "parameters"
            )
    if sweep is not None:
        values = sweep["values"]
        repeated, v = first_repeat(values)
        if repeated:
            raise ConfigError(f"config.task.sweep.values: {v} appears twice; give each value once")
        if sweep["param"] in inp:  # a sweep over an input parameter replaces it run by run
            specs = [{**inp, sweep["param"]: v} for v in values]
    if "heads" in inp:
        for spec in specs:
            try:
                _heads(spec)
            except AttentionError as e:
                raise ConfigError(
                    f"config.task.input: {e}; each key/value head serves the same number of "
                    "query heads"
                ) from None
    for spec in specs:
        # a shared prefix's queries come from the suffix: more than its tokens failed the
        # run after the methods before it had been measured
        nq = spec.get("queries") or 0
        if nq > min(lengths):
            raise ConfigError(
                f"config.task.input.queries: {nq} queries per sequence, but the "
                f"{'shortest ' if len(lengths) > 1 else ''}sequence has {min(lengths)} "
                f"suffix tokens; use at most {min(lengths)} (0: every suffix token)"
            )
    for k, e in enumerate(task["methods"]):
        if e["method"] == "mask":
            _check_mask(e, f"config.task.methods[{k}]")
    if not src.square:
        for k, e in enumerate(task["methods"]):
            needs = get_method(e["method"]).needs_square
            if needs is not None and (needs[0] == "always" or task["causal"]):
                raise ConfigError(
                    f"config.task.methods[{k}] ({e['method']}): {needs[1]} as many queries "
                    f"as keys, and input {src.name} has more keys than queries; remove it, "
                    "or choose another input"
                )


def _check_mask(entry: dict[str, Any], where: str) -> None:
    """The mask's options, as the run will read them (a list or a misspelt name failed
    the run, after the methods before it had been measured)."""
    opts = entry.get("options")
    if opts is not None and not isinstance(opts, dict):
        raise ConfigError(
            f'{where}.options must be a JSON object such as {{"window": 512}}, or empty for '
            f"the pattern's defaults; got {json.dumps(opts)[:60]}"
        )
    try:
        make_mask(entry["pattern"], **(opts or {}))
    except AttentionError as e:
        raise ConfigError(f"{where}.options: {e}") from None


def method_label(entry: dict[str, Any]) -> str:
    """A short label: the given one, else the name and its non-default parameters."""
    if entry.get("label"):
        return str(entry["label"])
    spec = get_method(entry["method"])
    return " ".join([spec.name, *changed_settings(spec.params, entry, skip=("seed",))])


def _summarize(config: Config, m: dict[str, Any]) -> list[str]:
    lines = [f"attention: {m.get('input', {}).get('kind')}, causal {config.task['causal']}"]
    for r in m.get("rows", []):
        err = r.get("rel_error")
        swept = "" if r["value"] is None or r["param"] == "n" else f", {r['param']}={r['value']}"
        text = f"{r['label']} (n={r['n']}{swept}): {format_seconds(r['median_s'])}"
        if r.get("speedup"):
            text += f", {r['speedup']:.3g}x exact"
        if err is not None:
            text += f", relative error {err:.3e}"
        if r.get("v_error") is not None:
            text += f" ({r['v_error']:.3e} of V's scale)"
        lines.append(text)
    return lines


@register_task(
    "attention",
    Param(
        "input",
        "json",
        {"kind": "clustered"},
        "queries, keys and values (see tensorbench.engine.attention.inputs)",
        validator=check_input,
    ),
    Param("n", "int", 2048, "sequence length (suffix length for shared_prefix)", max=MAX_N),
    Param("causal", "bool", False, "causal attention (queries aligned with the last keys)"),
    Param("dtype", "choice", "float32", "dtype of the run", choices=tuple(DTYPES)),
    Param(
        "methods",
        "json",
        [{"method": "exact"}, {"method": "hyper"}, {"method": "lev"}],
        "methods to run and their parameters",
        validator=check_methods,
    ),
    Param("sweep", "json", None, "one parameter over several values", validator=check_sweep),
    Param("repeats", "int", 5, "timed runs per method (after a warm-up)", max=1000),
    Param("reference", "bool", True, "measure errors against float64 exact attention"),
    Param(
        "heatmap",
        "int",
        1024,
        "record attention weights and kept entries up to this many tokens",
        min=0,
        max=4096,
    ),
    doc="run exact and sparse attention methods side by side: time, memory, error",
    summarize=_summarize,
    needs_network=False,
    check_all=_check_attention,
)
def attention_task(config: Config, rep: Reporter) -> dict[str, Any]:
    """Run the ``attention`` task (see the module docstring)."""
    from ..run import Cancelled

    task = config.task
    device = resolve_device(config.device)
    dtype = DTYPES[task["dtype"]]
    sweep = task["sweep"] or {"param": None, "values": [None]}
    entries = task["methods"]
    input_params = {p.name for p in INPUTS[task["input"]["kind"]].params}
    # a sweep over an input parameter (e.g. MiniLM's layer) changes the input for everyone
    input_sweep = sweep["param"] in input_params
    # (a sweep parameter no method nor the input has is refused with the config)
    metrics: dict[str, Any] = {"rows": [], "device": str(device)}
    jobs = len(sweep["values"]) * len(entries)
    done = 0
    measured_once: set[str] = set()
    check = lambda: rep.check_cancel(metrics)  # noqa: E731
    for value in sweep["values"]:
        n = value if sweep["param"] == "n" else task["n"]
        rep.progress(done / jobs, f"input with n={n}", force=True)
        spec = {**task["input"], sweep["param"]: value} if input_sweep else task["input"]
        inp = load_input(spec, n, seed=config.seed, dtype=dtype, device=device)
        metrics["input"] = inp.facts
        ref = reference_for(inp, task["causal"], check=check) if task["reference"] else None
        small = inp.full_kv()[0].shape[-2] <= task["heatmap"] and inp.q.shape[-2] <= 4096
        # The baseline is the chosen plain exact entry's own measurement, whose speedup is
        # then 1: measured twice, two medians of the same kernel differed by up to 1.8x on
        # a busy CPU, and the table read "exact 0.609x" against itself.
        plain = next(
            (e for e in entries if e["method"] == "exact" and e.get("backend", "auto") == "auto"),
            None,
        )
        base, base_info = measure(
            "exact",
            inp,
            causal=task["causal"],
            params={},
            repeats=task["repeats"],
            reference=ref if plain is not None else None,
            kept=small and plain is not None,
            check=check,
        )
        if small:
            w = _weights(inp, task["causal"])
            rep.artifacts.setdefault("heatmaps", {})[str(n)] = {"weights": w, "kept": {}}
        for entry in entries:
            rep.check_cancel(metrics)
            label = method_label(entry)
            params = {k: v for k, v in entry.items() if k not in ("method", "label")}
            has = input_sweep or any(
                p.name == sweep["param"] for p in get_method(entry["method"]).params
            )
            if sweep["param"] not in (None, "n") and not input_sweep:
                if has:
                    params[sweep["param"]] = value
                elif label in measured_once:
                    done += 1
                    continue
                measured_once.add(label)
            try:
                if entry is plain:
                    m, info = {**base, "speedup": 1.0}, base_info
                else:
                    m, info = measure(
                        entry["method"],
                        inp,
                        causal=task["causal"],
                        params=params,
                        repeats=task["repeats"],
                        reference=ref,
                        exact_seconds=base["median_s"],
                        kept=small,
                        check=check,
                    )
            except TensorbenchError:
                raise
            except torch.OutOfMemoryError:
                raise ConfigError(
                    f"{label} ran out of memory at n={n}; use a shorter sequence or fewer heads"
                ) from None
            row = {
                "method": entry["method"],
                "label": label,
                "param": sweep["param"],
                "value": value if (sweep["param"] == "n" or has) else None,
                "n": n,
                **m,
            }
            metrics["rows"].append(row)
            rep.record(**row)
            if small and "kept" in info:
                kept = info["kept"].reshape(-1, *info["kept"].shape[-2:])[0]
                rep.artifacts["heatmaps"][str(n)]["kept"][label] = kept.cpu().numpy()
            done += 1
            rep.progress(done / jobs, f"{label}, n={n}")
    if rep.cancelled:
        raise Cancelled(metrics)
    return metrics


def _weights(inp: Any, causal: bool) -> Any:
    """Exact attention weights of the first sequence and head (float32 numpy); NaN where a
    causal mask hides the key (a weight of 0 drew as the darkest colour, as if tiny)."""
    import math

    k = inp.full_kv()[0]
    q0 = inp.q[0, 0].detach().cpu().double()
    k0 = k[0, 0].detach().cpu().double()
    s = q0 @ k0.T / math.sqrt(q0.shape[-1])
    if causal:
        nq, nk = s.shape
        keep = torch.arange(nk)[None, :] <= torch.arange(nk - nq, nk)[:, None]
        s = s.masked_fill(~keep, -math.inf)
        return torch.softmax(s, dim=-1).masked_fill(~keep, math.nan).float().numpy()
    return torch.softmax(s, dim=-1).float().numpy()
