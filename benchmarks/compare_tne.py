"""Contraction cost: tensorbench's optimized path against tensor-network-editor's `analyze`.

For each of tensor-network-editor's seven templates, at its default sizes and at larger
ones, the editor builds the network and saves it as JSON (``serialize_spec``, the dict
``save_spec`` writes); tensorbench imports that JSON with
``tensorbench.engine.interop.from_tensor_network_editor``, so both sides cost exactly the
same network. Then:

* its flops: ``analyze_spec(spec).contraction.automatic_full.summary.total_estimated_flops``
  -- the cost its CLI ``tensor-network-editor analyze`` prints as "Automatic full": the
  path opt_einsum's ``greedy`` finds, costed per pairwise step as 2 x (product of the
  dimensions of every label on either operand), i.e. 2 x multiply-adds, whatever the dtype;
* our flops: ``network_stats(net, optimize="auto", dtype="float64").optimized.flops`` --
  the same definition (cotengra's: multiply-adds x 2 for real data);
* as a check that the two count the same thing, its own greedy path is re-costed with our
  ``path_cost``; the column "its path, our count" must equal "its flops".

Run:  .venv/bin/python benchmarks/compare_tne.py
(needs ``pip install tensor-network-editor``, which needs Python >= 3.11.)
Writes benchmarks/results/editor_vs_tne.json and .md and prints a GitHub table.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from tensorbench.engine import __version__, network_stats, path_cost
from tensorbench.engine.device import device_info
from tensorbench.engine.interop import from_tensor_network_editor

RESULTS = Path(__file__).parent / "results"
# The template parameters that set sizes, in table order (the others keep their defaults).
_SIZE_KEYS = ("graph_size", "depth", "bond_dimension", "physical_dimension")


@dataclass(frozen=True)
class Case:
    template: str
    params: dict[str, int]  # empty: the editor's defaults


# The editor's defaults first, then larger sizes. Its analysis refuses networks with more
# than 52 distinct labels (its einsum equation uses ASCII letters), so a PEPS 5x5 and a
# PEPO 4x4 are included to show that limit.
CASES = [
    Case("mps", {}),
    Case("mps", {"graph_size": 16, "bond_dimension": 32}),
    Case("mps", {"graph_size": 24, "bond_dimension": 64}),
    Case("mpo", {}),
    Case("mpo", {"graph_size": 8, "bond_dimension": 8}),
    Case("mpo", {"graph_size": 16, "bond_dimension": 8}),
    Case("peps_2x2", {}),
    Case("peps_2x2", {"graph_size": 4, "bond_dimension": 4}),
    Case("peps_2x2", {"graph_size": 4, "bond_dimension": 6}),
    Case("peps_2x2", {"graph_size": 5, "bond_dimension": 2}),
    Case("mera", {}),
    Case("mera", {"graph_size": 4, "bond_dimension": 4}),
    Case("mera", {"graph_size": 5, "bond_dimension": 4}),
    Case("mera", {"graph_size": 6, "bond_dimension": 2}),
    Case("ttn", {}),
    Case("ttn", {"depth": 4, "bond_dimension": 8}),
    Case("ttn", {"depth": 5, "bond_dimension": 4}),
    Case("pepo", {}),
    Case("pepo", {"graph_size": 3, "bond_dimension": 6}),
    Case("pepo", {"graph_size": 4, "bond_dimension": 3}),
    Case("tebd_gate_layer", {}),
    Case("tebd_gate_layer", {"graph_size": 8, "bond_dimension": 16}),
    Case("tebd_gate_layer", {"graph_size": 16, "bond_dimension": 32}),
]


def cpu_name() -> str:
    """The CPU's model name, as every tensorbench result records it."""
    return device_info("cpu")["device_name"]


def its_path_as_ssa(steps: list[Any], tensor_ids: list[str]) -> list[tuple[int, int]]:
    """The editor's automatic steps as an SSA path over the document's tensor order."""
    ssa = {tid: k for k, tid in enumerate(tensor_ids)}
    path = []
    for k, step in enumerate(steps):
        path.append((ssa[step.left_operand_id], ssa[step.right_operand_id]))
        ssa[step.result_operand_id] = len(tensor_ids) + k
    return path


def run_case(case: Case) -> dict[str, Any]:
    from tensor_network_editor import build_template_spec
    from tensor_network_editor.analysis import analyze_spec
    from tensor_network_editor.io import serialize_spec
    from tensor_network_editor.templates import parse_template_parameters

    params = parse_template_parameters(case.template, case.params or None)
    spec = build_template_spec(case.template, params)
    doc = json.loads(json.dumps(serialize_spec(spec)))  # exactly what save_spec writes
    net = from_tensor_network_editor(doc)

    t0 = time.perf_counter()
    its = analyze_spec(spec).contraction.automatic_full
    its_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    stats = network_stats(net, optimize="auto", dtype="float64", seed=0)
    ours_s = time.perf_counter() - t0

    row: dict[str, Any] = {
        "template": case.template,
        "params": {k: getattr(params, k) for k in _SIZE_KEYS if getattr(params, k) is not None},
        "tensors": len(net.tensors),
        "indices": len(net.indices),
        "open_legs": len(net.output),
        "its_status": its.status,
        "its_message": its.message,
        "its_flops": its.summary.total_estimated_flops if its.status == "complete" else None,
        "its_macs": its.summary.total_estimated_macs if its.status == "complete" else None,
        "its_s": its_s,
        "our_flops": stats.optimized.flops,
        "our_naive_flops": stats.naive.flops,
        "our_s": ours_s,
    }
    if its.status == "complete":
        tensor_ids = [t["id"] for t in doc["network"]["tensors"]]
        path = its_path_as_ssa(its.steps, tensor_ids)
        row["its_path_our_flops"] = path_cost(net, path, dtype="float64").flops
        row["ratio"] = stats.optimized.flops / max(its.summary.total_estimated_flops, 1)
        row["ours_not_worse"] = stats.optimized.flops <= its.summary.total_estimated_flops
    else:
        row["its_path_our_flops"] = None
        row["ratio"] = None
        row["ours_not_worse"] = None
    return row


_SHORT = {"graph_size": "n", "depth": "depth", "bond_dimension": "D", "physical_dimension": "d"}


def sci(x: float | None) -> str:
    return "—" if x is None else f"{x:.3e}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| template | sizes | tensors | its flops (greedy) | its path, our count | our flops "
        "(auto) | ours / its | our naive-order flops | ours ≤ its |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    notes: list[str] = []
    for r in rows:
        sizes = " ".join(f"{_SHORT[k]}={v}" for k, v in r["params"].items())
        if r["its_status"] == "complete":
            its = sci(r["its_flops"])
            ratio = f"{r['ratio']:.3f}"
            verdict = "yes" if r["ours_not_worse"] else "**NO: ours is worse**"
        else:
            if r["its_message"] not in notes:
                notes.append(r["its_message"])
            its = f"{r['its_status']} ({notes.index(r['its_message']) + 1})"
            ratio, verdict = "—", "n/a: no figure from it"
        lines.append(
            f"| {r['template']} | {sizes} | {r['tensors']} | {its} | "
            f"{sci(r['its_path_our_flops'])} | {sci(r['our_flops'])} | {ratio} | "
            f"{sci(r['our_naive_flops'])} | {verdict} |"
        )
    lines += [""] + [f"({k + 1}) its analyze says: {note}" for k, note in enumerate(notes)]
    return "\n".join(lines)


HEADER = """\
Units: flops = 2 x multiply-adds on both sides (no conversion needed). tensor-network-editor's
`analyze` ("Automatic full", `total_estimated_flops`) costs the path opt_einsum's `greedy`
finds at 2 x the product of the dimensions of every label on the two operands of each
pairwise step, independent of dtype; ours is `network_stats(net, optimize="auto",
dtype="float64").optimized.flops` with the same definition (cotengra's: multiply-adds x 2
for real data). "its path, our count" re-costs its own greedy path with our `path_cost`:
it equals "its flops" whenever the two counts mean the same thing. Every open leg stays in
the output on both sides, as the editor's templates draw them. Sizes: n = sites / side /
MERA depth (the editor's `graph_size`), D = bond dimension, d = physical dimension."""


def main() -> None:
    try:
        import tensor_network_editor
    except ImportError:
        sys.exit("needs tensor-network-editor: .venv/bin/pip install tensor-network-editor")
    import cotengra
    import opt_einsum

    rows = []
    for case in CASES:
        rows.append(run_case(case))
        print(f"done {case.template} {case.params or 'defaults'}", flush=True)
    text = table(rows)
    print(text)
    worse = [r for r in rows if r["ours_not_worse"] is False]
    mismatch = [
        r
        for r in rows
        if r["its_path_our_flops"] is not None and r["its_path_our_flops"] != r["its_flops"]
    ]
    summary = (
        f"{len(rows)} networks; ours worse on {len(worse)}; "
        f"unit check (its path, our count == its flops) failed on {len(mismatch)}; "
        f"{sum(r['its_status'] != 'complete' for r in rows)} gave no figure from its analyze."
    )
    print(summary)
    env = {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    versions = {
        "tensorbench": __version__,
        "tensor-network-editor": tensor_network_editor.__version__,
        "opt_einsum": opt_einsum.__version__,
        "cotengra": cotengra.__version__,
        "quimb": version("quimb"),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "editor_vs_tne.json"
    doc = {
        "benchmark": "editor_vs_tne",
        "what": "contraction flops of the optimized path: tensorbench vs tensor-network-editor",
        "units": HEADER,
        "versions": versions,
        "environment": env,
        "summary": summary,
        "rows": rows,
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    md = out.with_suffix(".md")
    where = f"{env['cpu']} ({env['cpu_count']} cores), Python {env['python']}; " + ", ".join(
        f"{k} {v}" for k, v in versions.items()
    )
    md.write_text(
        f"# contraction flops: tensorbench vs tensor-network-editor `analyze`\n\n"
        f"{where}\n\n{HEADER}\n\n{text}\n\n{summary}\n"
    )
    print(f"wrote {out} and {md}")


if __name__ == "__main__":
    main()
