"""Editor latency: server-side time from an edit event to new stats, at 10, 50 and 200 tensors.

Each event goes through exactly the path a browser gesture takes on the server: the
canvas message handler, the validated edit, the undo record, the canvas drawing data,
the selection panel and index table, and the stats (path search with the page's "auto"
optimizer and costs) -- computed synchronously here so the clock covers them. The
browser's own rendering is not included. Target: under 100 ms at 50 tensors.

Networks: a PEPS lattice and a random 3-regular graph (bond 4, one open leg of size 2 per
tensor), both drawn with positions. Events alternate between resizing a random bond,
moving a random tensor, and adding then deleting an open leg.

Run:  .venv/bin/python benchmarks/bench_editor.py [--events 60]
Writes benchmarks/results/editor_latency.json and .md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import networkx as nx

from tensorbench.app.pages.network import NetworkPage
from tensorbench.engine import Config, Network, Tensor, __version__, build_template, get_task
from tensorbench.engine.device import device_info
from tensorbench.widgets.network_editor import SCALE

RESULTS = Path(__file__).parent / "results"


def random_regular(n: int, seed: int = 0) -> Network:
    """A connected random 3-regular tensor network with one open leg per tensor."""
    g = nx.random_regular_graph(3, n, seed=seed)
    while not nx.is_connected(g):
        seed += 1
        g = nx.random_regular_graph(3, n, seed=seed)
    legs: dict[int, list[str]] = {v: [f"p{v}"] for v in g.nodes}
    sizes = {f"p{v}": 2 for v in g.nodes}
    for k, (a, b) in enumerate(g.edges):
        legs[a].append(f"b{k}")
        legs[b].append(f"b{k}")
        sizes[f"b{k}"] = 4
    pos = nx.spring_layout(g, seed=seed, scale=n**0.5)
    tensors = [Tensor(f"T{v}", tuple(legs[v]), tuple(map(float, pos[v]))) for v in g.nodes]
    return Network(tensors, sizes, name=f"random 3-regular, {n} tensors")


def networks(n: int) -> list[Network]:
    rows = {10: (2, 5), 50: (5, 10), 200: (10, 20)}[n]
    return [build_template("peps", rows=rows[0], cols=rows[1], bond=4, phys=2), random_regular(n)]


def events(page: NetworkPage, count: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    times = []
    for k in range(count):
        net = page.state.network
        names = [t.name for t in net.tensors]
        bonds = list(net.bonds)
        kind = k % 3
        if kind == 0:
            ix = rng.choice(bonds)
            msgs = [{"type": "select", "tensors": [], "indices": [ix]}]
            size = 2 if net.sizes[ix] != 2 else 4
            t0 = time.perf_counter()
            page.editor.handle(msgs[0])
            page.state.set_size(ix, size)  # what the size box in the selection panel calls
        elif kind == 1:
            name = rng.choice(names)
            x, y = net.tensor(name).pos
            msg = {"type": "move", "positions": {name: [x * SCALE + 37, -y * SCALE + 11]}}
            t0 = time.perf_counter()
            page.editor.handle(msg)
        else:
            name = rng.choice(names)
            t0 = time.perf_counter()
            page.editor.handle({"type": "add_leg", "tensor": name})
            page.editor.handle({"type": "delete"})  # select nothing -> refused
            page.editor.handle({"type": "undo"})
        assert page.state.error in ("", "select something to delete"), page.state.error
        assert page.state.stats is not None and not page.state.computing
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60)
    args = parser.parse_args()
    rows = []
    for n in (10, 50, 200):
        for net in networks(n):
            cfg = Config(get_task("contract").defaults(), net, 0, "cpu", name=net.name)
            page = NetworkPage(cfg)  # no server: stats are computed synchronously
            events(page, 3)  # warm-up (imports, caches)
            times = events(page, args.events, seed=n)
            q = statistics.quantiles(times, n=20)
            rows.append(
                {
                    "tensors": len(net.tensors),
                    "network": net.name,
                    "events": len(times),
                    "median_ms": 1e3 * statistics.median(times),
                    "p95_ms": 1e3 * q[18],
                    "max_ms": 1e3 * max(times),
                }
            )
            print(
                f"{net.name}: median {rows[-1]['median_ms']:.1f} ms, "
                f"p95 {rows[-1]['p95_ms']:.1f} ms",
                flush=True,
            )
    env = device_info("cpu")
    lines = [
        "| tensors | network | events | median | p95 | max |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['tensors']} | {r['network']} | {r['events']} | "
            f"{r['median_ms']:.1f} ms | {r['p95_ms']:.1f} ms | {r['max_ms']:.1f} ms |"
        )
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "editor_latency.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "editor_latency",
                "tensorbench": __version__,
                "environment": env,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    where = f"{env['device_name']} ({env.get('cpu_count', '?')} cores), torch {env['torch']}"
    out.with_suffix(".md").write_text(
        "# editor latency: edit event to new stats (server side)\n\n"
        f"{where}; target under 100 ms at 50 tensors\n\n{table}\n"
    )
    print(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
