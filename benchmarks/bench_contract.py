"""Contraction executor: tensorbench's `contract` against opt_einsum, cotengra and quimb.

Every executor contracts the same network, with the same seeded data, along the same
path (found once by tensorbench's "auto" optimizer and handed to each peer), so the table
compares executors, not path finders. Each peer runs in its best configuration for this
work: opt_einsum with the torch backend on torch tensors (and numpy for reference),
cotengra's compiled contraction expression on torch tensors, quimb with the path given as
its optimize argument on torch tensors; tensorbench runs its ContractionPlan compiled once.
Correctness is checked against tensorbench's float64 result before timing.

Run:  .venv/bin/python benchmarks/bench_contract.py [--repeats 7] [--device auto] [--quick]
Writes benchmarks/results/contract_<device>.json and prints a GitHub table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cotengra as ctg
import numpy as np
import opt_einsum as oe
import torch

from tensorbench.engine import Network, __version__, build_template, contract
from tensorbench.engine.contract import ContractionPlan
from tensorbench.engine.cost import find_path, path_cost, reduced_inputs
from tensorbench.engine.device import device_info, resolve_device

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Case:
    name: str
    template: str
    args: dict


CASES = [
    Case("mps-16x64", "mps", {"sites": 16, "bond": 64, "phys": 2}),
    Case("peps-4x4x6", "peps", {"rows": 4, "cols": 4, "bond": 6, "phys": 2}),
    Case("mera-16x8", "mera", {"sites": 16, "bond": 8, "phys": 2}),
    Case("tucker-96^3", "tucker", {"dims": [96, 96, 96], "ranks": [24, 24, 24]}),
    Case("tr-8^6x8", "tensor_ring", {"dims": [8] * 6, "ranks": 8}),
    Case("cp-64^4x32", "cp", {"dims": [64] * 4, "rank": 32}),
]
QUICK = [c for c in CASES if c.name in ("mps-16x64", "tucker-96^3")]


def timeit(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> list[float]:
    fn()  # warm-up (allocator, kernels, caches)
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def bench_case(case: Case, repeats: int, device: torch.device) -> list[dict]:
    net: Network = build_template(case.template, **case.args)
    path = find_path(net, "auto", seed=0)
    cost = path_cost(net, path)
    arrays = net.random_arrays(seed=0, dtype="float64", device=device)
    inputs, output, sizes = reduced_inputs(net)
    assert all(t.indices == r for t, r in zip(net.tensors, inputs, strict=True))  # no summed legs
    eq, _ = net.to_einsum()
    linear = oe.paths.ssa_to_linear(path)
    # cotengra's compiled expression for the fixed path: its fastest repeated-use form.
    expr = ctg.array_contract_expression(inputs, output, sizes, optimize=linear)
    tn = net.to_quimb(arrays)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    np_arrays = [a.cpu().numpy() for a in arrays]

    ref = contract(net, arrays).cpu().numpy()
    plan = ContractionPlan(net, path)  # compiled once, like cotengra's expression
    runners: dict[str, Callable[[], object]] = {
        "tensorbench": lambda: plan(arrays)[0],
        "opt_einsum (torch)": lambda: oe.contract(eq, *arrays, optimize=linear, backend="torch"),
        "cotengra (torch)": lambda: expr(*arrays),
        "quimb (torch)": lambda: tn.contract(output_inds=net.output, optimize=linear),
    }
    if device.type == "cpu":
        runners["opt_einsum (numpy)"] = lambda: oe.contract(eq, *np_arrays, optimize=linear)

    rows = []
    for name, fn in runners.items():
        out = fn()
        out = getattr(out, "data", out)
        got = out.cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        err = float(np.linalg.norm(got.reshape(ref.shape) - ref) / np.linalg.norm(ref))
        assert err < 1e-10, f"{name} disagrees on {case.name}: relative error {err:.2e}"
        times = timeit(fn, repeats, sync)
        rows.append(
            {
                "case": case.name,
                "executor": name,
                "median_s": statistics.median(times),
                "min_s": min(times),
                "repeats": repeats,
                "flops": cost.flops,
                "rel_error_vs_tensorbench": err,
            }
        )
    ours = next(r["median_s"] for r in rows if r["executor"] == "tensorbench")
    for r in rows:
        r["time_vs_tensorbench"] = r["median_s"] / ours
        r["gflops"] = r["flops"] / r["median_s"] / 1e9
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| case | executor | median | GFLOP/s | time / tensorbench |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['executor']} | {r['median_s'] * 1e3:.2f} ms | "
            f"{r['gflops']:.2f} | {r['time_vs_tensorbench']:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="two small cases only")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = []
    for case in QUICK if args.quick else CASES:
        rows += bench_case(case, args.repeats, device)
        print(f"done {case.name}", flush=True)
    env = device_info(device)
    text = table(rows)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"contract_{device.type}.json"
    doc = {
        "benchmark": "contract",
        "tensorbench": __version__,
        "environment": env,
        "opt_einsum": oe.__version__,
        "cotengra": ctg.__version__,
        "repeats": args.repeats,
        "rows": rows,
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    cores = env.get("cpu_count", "?")
    where = f"{env['device_name']} ({env['device']}, {cores} cores), torch {env['torch']}"
    md = out.with_suffix(".md")
    md.write_text(f"# contract executors\n\n{where}, median of {args.repeats}\n\n{text}\n")
    print(f"wrote {out} and {md}")


if __name__ == "__main__":
    main()
