"""Structure search: the papers' synthetic protocol, per strategy, plus Tucker core shapes.

Network case (TNGA / TNLS / TnALE protocol): tensors of order 4, 6 and 8 with every mode of
size 3, contracted from a tensor ring whose ranks are drawn from 1..4 and whose modes are
put in a random order, seeded (5 seeds per order), no noise. Objective ``params / entries
+ 200 RSE^2``. A strategy succeeds when its best score reaches the hidden truth's score
(fitted by the same evaluator, same seeds). Reported per strategy: successes, fits and
wall time to reach the truth (medians over the successes), final compression ratio
(entries / params) and RSE, and total fits.

Spaces: ``tnale``, ``tnls`` and ``random`` search ring ranks and the mode permutation;
``greedy`` and ``tnga`` search edges between any two modes (where a permuted ring is just
another set of edges). Budget: 300 fits and 600 s per strategy and case.

Tucker case: a 100 x 100 x 100 tensor with core (4, 8, 16) and Gaussian factors plus 1%
noise; at core budgets 1k..10k every solver's shape, its HOSVD error and its solve time,
next to the true shape's.

Run: ``python benchmarks/bench_search.py`` (all), ``--cases tucker``, ``--orders 4,6``,
``--quick`` (order 4, one seed, small budget; no files); a strategy with other than its
default parameters is named ``name:key=value`` (``--strategies tnga:patience=1000``; the
keys ``topology`` and ``permute`` set its search space instead). Writes
benchmarks/results/search_cpu.{json,md} (``--out`` elsewhere). ``--merge`` folds this run
into the existing file instead of replacing it: its rows replace the stored rows of the
same order, seed and strategy (and its Tucker rows the stored ones), the rest are kept,
and every invocation's settings and machine load are listed -- so a long benchmark can be
run in parts (``--orders 4,6`` then ``--orders 8 --seconds 300 --merge``); parts run side
by side write to their own ``--out`` and are folded in with ``--merge-from``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from tensorbench.engine.data import load_data
from tensorbench.engine.device import device_info
from tensorbench.engine.search import Evaluator, FitOptions, Objective, SearchSpace, run_strategy
from tensorbench.engine.search.tucker_shape import (
    SOLVERS,
    core_shape,
    evaluate_shape,
    mode_spectra,
)

RESULTS = Path(__file__).parent / "results"
STRATEGIES = {
    "tnale": ("ring", True),
    "greedy": ("full", False),
    "tnls": ("ring", True),
    "tnga": ("full", False),
    "random": ("ring", True),
}


def hidden_ring(order: int, seed: int) -> tuple[torch.Tensor, Any, list[int], list[int]]:
    """Data from a ring with ranks in 1..4 over randomly ordered modes of size 3."""
    rng = random.Random(1000 * order + seed)
    ranks = [rng.randint(1, 4) for _ in range(order)]
    perm = list(range(order))
    rng.shuffle(perm)
    space = SearchSpace((3,) * order, "ring", 4, permute=True)
    truth = space.make(ranks, perm)
    X, _ = load_data(
        {"kind": "synthetic", "network": truth.network([3] * order).to_dict(), "seed": seed}
    )
    return X, truth, ranks, perm


def _parse(label: str) -> tuple[str, dict[str, Any]]:
    """``"tnga:patience=1000"`` -> ``("tnga", {"patience": 1000})`` (a strategy with
    non-default parameters, reported under that label)."""
    base, *pairs = label.split(":")
    params: dict[str, Any] = {}
    for pair in pairs:
        k, v = pair.split("=", 1)
        params[k] = json.loads(v) if v not in ("True", "False") else v == "True"
    return base, params


def _rank(label: str) -> tuple[int, str]:
    return list(STRATEGIES).index(_parse(label)[0]), label


def run_network_case(
    order: int, seed: int, strategies: list[str], evals: int, seconds: float, workers: int
) -> list[dict[str, Any]]:
    X, truth, ranks, perm = hidden_ring(order, seed)
    objective = Objective(lam=200.0)
    fit = FitOptions()
    ref = Evaluator(X, SearchSpace(X.shape, "full", 4), objective, fit, seed=seed)
    t = ref.evaluate(truth)
    target = t.score * (1 + 1e-6) + 1e-12
    rows = []
    for name in strategies:
        base, params = _parse(name)
        topology, permute = STRATEGIES[base]
        # the search space may be overridden too: "tnga:topology=\"ring\":permute=True"
        topology = params.pop("topology", topology)
        permute = params.pop("permute", permute)
        space = SearchSpace(tuple(X.shape), topology, 4, permute=permute)
        ev = Evaluator(
            X,
            space,
            objective,
            fit,
            seed=seed,
            max_evals=evals,
            max_seconds=seconds,
            workers=workers,
        )
        t0 = time.perf_counter()
        _, stop = run_strategy(base, ev, seed=seed, **params)
        wall = time.perf_counter() - t0
        hit = next((e for e in ev.history if e.rse is not None and e.score <= target), None)
        reached_at = None
        if hit is not None:
            # wall time to the hit: the sum of fit times up to it (fits run one at a time
            # with workers=1; with workers the wall clock is shorter)
            reached_at = sum(e.seconds for e in ev.history if 0 < e.index <= hit.index)
        best = ev.best
        row = {
            "order": order,
            "seed": seed,
            "strategy": name,
            "params": params,
            "space": f"{topology}{' + permutation' if permute else ''}",
            "truth_ranks": ranks,
            "truth_perm": perm,
            "truth_score": t.score,
            "truth_rse": t.rse,
            "success": hit is not None,
            "fits_to_truth": None if hit is None else hit.index,
            "seconds_to_truth": reached_at,
            "fits": ev.fits,
            "pruned": ev.pruned,
            "refused": ev.refused,
            "cache_hits": ev.hits,
            "wall_s": wall,
            "stop": stop,
            "max_evals": evals,
            "max_seconds": seconds,
            "best_score": best.score if best else None,
            "best_rse": best.rse if best else None,
            "best_edges": best.structure.describe() if best else None,
            "compression": (math.prod(X.shape) / best.params) if best else None,
        }
        rows.append(row)
        print(
            f"  order {order} seed {seed} {name}: {'ok' if row['success'] else 'no'} "
            f"fits {ev.fits} (to truth {row['fits_to_truth']}), {wall:.1f} s, best "
            f"{_fmt(row['best_score'], '.4f')} vs truth {t.score:.4f}"
            f"{f', {ev.refused} refused' if ev.refused else ''}",
            flush=True,
        )
    return rows


def _median(xs: Any) -> float | None:
    """Median of the values that are there (a run with no fit has no best)."""
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _budget(r: dict[str, Any]) -> str:
    return f"{r.get('max_evals', 300)} fits / {r.get('max_seconds', 600):.0f} s"


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    keys = sorted(
        {(r["order"], r["strategy"]) for r in rows},
        key=lambda k: (k[0], _rank(k[1])),
    )
    for order, name in keys:
        rs = [r for r in rows if r["order"] == order and r["strategy"] == name]
        ok = [r for r in rs if r["success"]]
        out.append(
            {
                "order": order,
                "strategy": name,
                "space": rs[0]["space"],
                "successes": len(ok),
                "runs": len(rs),
                "median_fits_to_truth": statistics.median(r["fits_to_truth"] for r in ok)
                if ok
                else None,
                "median_seconds_to_truth": statistics.median(r["seconds_to_truth"] for r in ok)
                if ok
                else None,
                "median_fits": statistics.median(r["fits"] for r in rs),
                "median_wall_s": statistics.median(r["wall_s"] for r in rs),
                "median_compression": _median(r["compression"] for r in rs),
                "median_rse": _median(r["best_rse"] for r in rs),
                "budget": sorted({_budget(r) for r in rs}),
            }
        )
    return out


def tucker_case(budgets: list[int]) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(7)
    dims, true = (100, 100, 100), (4, 8, 16)
    core = torch.randn(true, generator=g, dtype=torch.float64)
    fs = [
        torch.randn(n, r, generator=g, dtype=torch.float64) for n, r in zip(dims, true, strict=True)
    ]
    X = torch.einsum("abc,ia,jb,kc->ijk", core, *fs)
    E = torch.randn(dims, generator=g, dtype=torch.float64)
    X = X + 0.01 * X.norm() / E.norm() * E
    t0 = time.perf_counter()
    spectra = mode_spectra(X)
    spectra_s = time.perf_counter() - t0
    truth = evaluate_shape(X, true)
    rows = []
    for b in budgets:
        for solver in SOLVERS:
            shape, info = core_shape(spectra, b, solver)
            fit = evaluate_shape(X, shape)
            rows.append(
                {
                    "budget": b,
                    "solver": solver,
                    **fit,
                    "surrogate": info["surrogate"],
                    "solve_s": info["seconds"],
                    "true_shape": list(true),
                    "true_rse": truth["rse"],
                    "spectra_s": spectra_s,
                }
            )
            print(
                f"  budget {b} {solver}: {tuple(shape)} rse {fit['rse']:.5f} "
                f"({info['seconds'] * 1e3:.1f} ms); true {true} rse {truth['rse']:.5f}",
                flush=True,
            )
    return rows


def _fmt(x: Any, spec: str = ".3g") -> str:
    return "—" if x is None else format(x, spec)


def _targets(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, checked on the rows: TnALE and greedy reach the truth on every
    order-4 and order-6 case within 300 fits and 600 s; TnALE needs at least 5x fewer
    fits than TNGA for the same success."""
    out = []
    for order in sorted({r["order"] for r in rows}):
        at = [r for r in rows if r["order"] == order]
        bits = []
        for name in ("tnale", "greedy"):
            rs = [r for r in at if r["strategy"] == name]
            if not rs:
                continue
            ok = [r for r in rs if r["success"] and r["fits_to_truth"] <= 300]
            worst_fits = max((r["fits_to_truth"] for r in ok), default=None)
            worst_wall = max(r["wall_s"] for r in rs)
            worst_to = max((r["seconds_to_truth"] for r in ok), default=None)
            bits.append(
                f"{name} {len(ok)}/{len(rs)} (most fits to the truth {_fmt(worst_fits, '.0f')}, "
                f"longest time to it {_fmt(worst_to, '.0f')} s, longest run {worst_wall:.0f} s)"
            )
        by = {(r["seed"], r["strategy"]): r for r in at}
        for ga in sorted({r["strategy"] for r in at if _parse(r["strategy"])[0] == "tnga"}):
            n_ga = sum(1 for r in at if r["strategy"] == ga and r["success"])
            both = [
                s
                for s in sorted({r["seed"] for r in at})
                if by.get((s, "tnale"), {}).get("success") and by.get((s, ga), {}).get("success")
            ]
            if not both:
                bits.append(f"no seed solved by both tnale and {ga} ({ga} solved {n_ga})")
                continue
            a = statistics.median(by[(s, "tnale")]["fits_to_truth"] for s in both)
            b = statistics.median(by[(s, ga)]["fits_to_truth"] for s in both)
            ta = statistics.median(by[(s, "tnale")]["fits"] for s in both)
            tb = statistics.median(by[(s, ga)]["fits"] for s in both)
            bits.append(
                f"{ga} solved {n_ga}; on the {len(both)} seed(s) both it and tnale solved, "
                f"median fits to the truth tnale {a:.0f} vs {ga} {b:.0f} ({b / a:.1f}x), "
                f"median fits in all {ta:.0f} vs {tb:.0f} ({tb / ta:.1f}x)"
            )
        out.append(f"- order {order}: " + "; ".join(bits))
    return out


def _fits_for(runs: list[dict[str, Any]], k: int) -> tuple[float, bool]:
    """Fits a strategy needs to have solved ``k`` of ``runs``: ``(value, exact)``.

    A failed run that ran out of budget might still have solved with more, after more
    fits than it made (a lower bound); one that stopped on its own never solves
    (infinite). The ``k``-th smallest of those is exact only when it is a success's count
    and no failure's lower bound lies below it; otherwise it is a lower bound.
    """
    # at equal counts a success sorts first: a run unsolved after n fits needs more than n
    merged = sorted(
        (
            (r["fits_to_truth"], True)
            if r["success"]
            else (r["fits"] if r["stop"] == "budget" else math.inf, False)
            for r in runs
        ),
        key=lambda x: (x[0], not x[1]),
    )
    if len(merged) < k:
        return math.inf, False
    # exact when no failure's bound is among the k smallest (it could end up below)
    return merged[k - 1][0], all(solved for _, solved in merged[:k])


def _same_success(rows: list[dict[str, Any]]) -> list[str]:
    """Fits TnALE and the best TNGA configuration need for the same success rate.

    For ``k`` of the seeds solved: TnALE's ``k``-th smallest fits-to-truth against the
    smallest over every TNGA configuration run on the same seeds (its parameters are part
    of the label). This compares the effort to reach a success rate, which does not favour
    the strategy that solves only the easy seeds (as comparing on the seeds both solved
    does). Success rates only a TNGA configuration reached get a row too ("never" for
    TnALE, or a lower bound when its run ran out of budget).
    """
    out = [
        "| order | seeds solved | tnale fits | best TNGA fits | TNGA configuration | ratio |",
        "| ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for order in sorted({r["order"] for r in rows}):
        at = [r for r in rows if r["order"] == order]
        tn = [r for r in at if r["strategy"] == "tnale"]
        seeds = {r["seed"] for r in tn}
        gas = sorted({r["strategy"] for r in at if _parse(r["strategy"])[0] == "tnga"})
        ga_runs = {g: [r for r in at if r["strategy"] == g and r["seed"] in seeds] for g in gas}
        ga_runs = {g: rs for g, rs in ga_runs.items() if {r["seed"] for r in rs} == seeds}
        if not tn or not ga_runs:
            continue
        for k in range(1, sum(r["success"] for r in tn) + 1):
            a, _ = _fits_for(tn, k)
            best = min(((*_fits_for(rs, k), g) for g, rs in ga_runs.items()), key=lambda x: x[0])
            b, exact, g = best
            if math.isinf(b):
                cell, ratio, g = "never", "—", "none solves this many"
            else:
                cell = f"{b:.0f}" if exact else f"> {b:.0f}"
                # a bound below TnALE's count (runs cut short by time) says nothing
                ratio = f"{b / a:.1f}x" if exact else (f"> {b / a:.1f}x" if b >= a else "unknown")
            out.append(f"| {order} | {k}/{len(seeds)} | {a:.0f} | {cell} | {g} | {ratio} |")
        # success rates a TNGA configuration reaches and TnALE does not: said, not left out
        solved = sum(r["success"] for r in tn)
        most = max(sum(r["success"] for r in rs) for rs in ga_runs.values())
        for k in range(solved + 1, most + 1):
            a, _ = _fits_for(tn, k)  # never (stopped on its own), or a budget's lower bound
            b, exact, g = min(
                ((*_fits_for(rs, k), g) for g, rs in ga_runs.items()), key=lambda x: x[0]
            )
            mine = "never" if math.isinf(a) else f"> {a:.0f}"
            theirs = f"{b:.0f}" if exact else f"> {b:.0f}"
            out.append(f"| {order} | {k}/{len(seeds)} | {mine} | {theirs} | {g} | TNGA only |")
    return out


def _per_seed(rows: list[dict[str, Any]]) -> list[str]:
    names = sorted({r["strategy"] for r in rows}, key=_rank)
    out = [
        "| order | seed | truth ranks | " + " | ".join(names) + " |",
        "| ---: | ---: | --- | " + " | ".join("---:" for _ in names) + " |",
    ]
    by = {(r["order"], r["seed"], r["strategy"]): r for r in rows}
    for order, seed in sorted({(r["order"], r["seed"]) for r in rows}):
        cells = []
        truth = ""
        for n in names:
            r = by.get((order, seed, n))
            if r is None:
                cells.append("")
                continue
            truth = str(r["truth_ranks"])
            hit = _fmt(r["fits_to_truth"], ".0f") if r["success"] else "no"
            spent = ", budget" if r["stop"] == "budget" else ""
            cells.append(f"{hit} / {r['fits']} ({r['wall_s']:.0f} s{spent})")
        out.append(f"| {order} | {seed} | {truth} | " + " | ".join(cells) + " |")
    return out


def markdown(
    summary: list[dict],
    tucker: list[dict],
    where: str | list[str],
    rows: list[dict] | None = None,
) -> str:
    notes = [where] if isinstance(where, str) else where
    parts = ["# structure search: strategies on hidden tensor rings, Tucker core shapes\n"]
    if len(notes) > 1:
        parts += ["Run in parts, merged (each part's settings and machine load):\n"]
        parts += [f"- {n}" for n in notes]
    else:
        parts += notes
    parts.append("")
    if summary:
        parts += [
            "## Hidden tensor rings (mode size 3, ranks 1..4, random mode order, lambda 200)\n",
            "| order | strategy | space | reached truth | median fits to truth "
            "| median time to truth | median fits | median wall | median compression "
            "| median RSE |",
            "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for s in summary:
            parts.append(
                f"| {s['order']} | {s['strategy']} | {s['space']} | {s['successes']}/{s['runs']} | "
                f"{_fmt(s['median_fits_to_truth'], '.0f')} | "
                f"{_fmt(s['median_seconds_to_truth'], '.1f')} s | "
                f"{_fmt(s['median_fits'], '.0f')} | {_fmt(s['median_wall_s'], '.1f')} s | "
                f"{_fmt(s['median_compression'], '.2f')} | {_fmt(s['median_rse'], '.2e')} |"
            )
        parts.append("")
        budgets = sorted({(s["order"], b) for s in summary for b in s.get("budget", [])})
        if budgets:
            parts.append(
                "Budget per strategy and case: "
                + "; ".join(f"order {o}: {b}" for o, b in budgets)
                + ". Medians of fits and time to the truth are over the successes.\n"
            )
    if rows:
        parts += ["### The issue's targets\n", *_targets(rows), ""]
        same = _same_success(rows)
        if len(same) > 2:
            parts += [
                "### Fits to reach the same success rate: TnALE vs the best TNGA configuration\n",
                "For k of the seeds solved: TnALE's k-th smallest fits-to-truth, against the "
                "smallest k-th over every TNGA configuration run (`> n`: a lower bound, from "
                "runs that ran out of budget unsolved; `never`: every configuration stopped "
                "on its own with fewer solved; a row with `never` for TnALE and `TNGA only` "
                "is a success rate some TNGA configuration reached and TnALE did not).\n",
                *same,
                "",
            ]
        parts += [
            "### Per seed: fits to the truth / fits in all (wall time)\n",
            *_per_seed(rows),
            "",
        ]
    if tucker:
        parts += [
            "## Tucker core shapes: 100^3, true core (4, 8, 16), 1% noise\n",
            "| budget | solver | shape | core | params | HOSVD RSE | true shape's RSE "
            "| solve time |",
            "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in tucker:
            parts.append(
                f"| {r['budget']} | {r['solver']} | {tuple(r['shape'])} | {r['core']} | "
                f"{r['params']} | "
                f"{r['rse']:.5f} | {r['true_rse']:.5f} | {r['solve_s'] * 1e3:.1f} ms |"
            )
    return "\n".join(parts) + "\n"


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``old`` results with ``new`` folded in: new rows replace old ones of the same order,
    seed and strategy, new Tucker rows replace the old ones, every invocation is listed."""
    done = {(r["order"], r["seed"], r["strategy"]) for r in new["rows"]}
    rows = [r for r in old.get("rows", []) if (r["order"], r["seed"], r["strategy"]) not in done]
    rows += new["rows"]
    rows.sort(key=lambda r: (r["order"], r["seed"], _rank(r["strategy"])))
    old_where = old.get("runs") or ([old["where"]] if old.get("where") else [])
    return {
        "benchmark": "search",
        "runs": [*old_where, *new["runs"]],
        "rows": rows,
        "summary": summarize(rows) if rows else [],
        "tucker": new["tucker"] or old.get("tucker", []),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="network,tucker")
    p.add_argument("--orders", default="4,6,8")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--evals", type=int, default=300)
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS / "search_cpu.json")
    p.add_argument("--merge", action="store_true", help="fold into --out instead of replacing")
    p.add_argument(
        "--merge-from",
        type=Path,
        nargs="+",
        help="run nothing: fold these result files (written with --out) into --out",
    )
    a = p.parse_args()
    if a.merge_from:
        result = json.loads(a.out.read_text())
        for f in a.merge_from:
            result = merge(result, json.loads(f.read_text()))
        md = markdown(result["summary"], result["tucker"], result["runs"], result["rows"])
        a.out.write_text(json.dumps(result, indent=1) + "\n")
        a.out.with_suffix(".md").write_text(md)
        print(md)
        print(f"wrote {a.out}")
        return
    torch.set_num_threads(1)
    cases = a.cases.split(",")
    orders = [4] if a.quick else [int(x) for x in a.orders.split(",")]
    seeds = 1 if a.quick else a.seeds
    evals = 60 if a.quick else a.evals
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    rows: list[dict] = []
    if "network" in cases:
        for order in orders:
            for s in range(seeds):
                rows += run_network_case(
                    order, s, a.strategies.split(","), evals, a.seconds, a.workers
                )
    tucker = tucker_case([1000, 2000, 5000, 10000]) if "tucker" in cases else []
    load_after = os.getloadavg()
    env = device_info("cpu")
    what = (
        f"orders {', '.join(map(str, orders))}, {seeds} seed(s) each, strategies "
        f"{a.strategies.replace(',', ', ')}"
        if "network" in cases
        else "no network case"
    )
    where = (
        f"{env['device_name']} ({os.cpu_count()} cores), torch "
        f"{torch.__version__}, 1 torch thread, {a.workers} worker process(es); "
        f"budget {evals} fits / {a.seconds:.0f} s per strategy and case; {what}"
        f"{'; Tucker case' if tucker else ''}; took {time.perf_counter() - t0:.0f} s; "
        f"1-min load average {load_before[0]:.2f} before, {load_after[0]:.2f} after."
    )
    result = {
        "benchmark": "search",
        "runs": [where],
        "rows": rows,
        "summary": summarize(rows) if rows else [],
        "tucker": tucker,
    }
    if a.merge and a.out.exists():
        result = merge(json.loads(a.out.read_text()), result)
    md = markdown(result["summary"], result["tucker"], result["runs"], result["rows"])
    print(md)
    if a.quick:
        return
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    a.out.with_suffix(".md").write_text(md)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
