"""Cards and plots for costs and results (HoloViews, Bokeh backend)."""

from __future__ import annotations

import html
import math
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # registers the backend that .opts() targets
import panel as pn
import param
from bokeh.models import BasicTicker
from panel.viewable import Viewer

from tensorbench.engine import NetworkStats, Result
from tensorbench.engine.device import resolve_dtype
from tensorbench.engine.fmt import format_bytes, format_number, short

__all__ = ["TABLE_CSS", "StatsCard", "notes_html", "stats_rows", "step_plot"]


def notes_html(notes: list[str], size: str = "13px") -> str:
    """Warnings as escaped HTML lines (user names inside are shown as text)."""
    style = f"color: #8a5a00; font-size: {size}"
    return "".join(
        f"<div class='tb-warning' style='{style}'>&#9888; {html.escape(n)}</div>" for n in notes
    )


def stats_rows(stats: NetworkStats) -> list[tuple[str, str, str]]:
    """``(key, label, value)`` rows for the stats card (keys are stable ids for tests)."""
    o, n = stats.optimized, stats.naive
    itemsize = resolve_dtype(stats.dtype).itemsize
    return [
        (
            "tensors",
            "tensors",
            f"{stats.num_tensors} ({stats.num_bonds} bond{'' if stats.num_bonds == 1 else 's'}, "
            f"{stats.num_open} open, "
            f"{stats.num_hyper} hyper)",
        ),
        ("params", "parameters", format_number(stats.params)),
        ("full_size", "full tensor", format_number(stats.full_size)),
        (
            "compression",
            "compression",
            # a closed network is a number: its "3.974e-10x" compressed nothing
            f"{short(stats.compression)}x" if stats.num_open else "none (no open legs)",
        ),
        ("flops", f"flops ({o.optimizer} path)", short(o.flops)),
        (
            "naive_flops",
            "flops (naive order)",
            # nothing to contract: "0 (0x)" read as an infinitely slow order
            f"{short(n.flops)} ({short(stats.speedup, 3)}x)" if n.flops else "0",
        ),
        ("largest", "largest intermediate", format_number(o.largest_intermediate)),
        ("width", "width (log2)", f"{o.width:.2f}"),
        (
            "peak",
            "peak memory",
            f"{format_number(o.peak_size)} ({format_bytes(o.peak_size * itemsize)})",
        ),
    ]


#: Style of the ``tb-table`` HTML tables (a pane's stylesheet: it lives in the pane's
#: shadow DOM). Without it the Decompose results ran their cells together
#: ("methodrelative error", "parameterscompression") once a long note squeezed them.
TABLE_CSS = """
.tb-table { border-collapse: collapse; width: 100%; font-size: 12px; }
.tb-table th, .tb-table td { border-bottom: 1px solid #e3e8ee; padding: 3px 8px;
  text-align: left; vertical-align: top; }
.tb-table th { color: #5a6b7b; font-weight: 600; white-space: nowrap; }
.tb-table tr.sel td { background: #e8f1fc; }
"""

_CARD_CSS = """
.tb-stats {display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
  gap: 8px; width: 100%;}
.tb-stat {border: 1px solid #dde3ea; border-radius: 6px; padding: 6px 10px; background: #f8fafc;}
.tb-stat .tb-label {font-size: 11px; color: #5a6b7b; text-transform: uppercase;
  letter-spacing: .03em;}
.tb-stat .tb-value {font-size: 17px; font-weight: 600; color: #1b2733;}
"""


class StatsCard(Viewer):
    """Parameter count, compression and contraction costs of ``state.stats``."""

    state = param.Parameter(doc="A Parameterized with a `stats` parameter (NetworkStats).")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._pane = pn.pane.HTML(
            self._html(), sizing_mode="stretch_width", stylesheets=[_CARD_CSS], name="stats"
        )
        self.state.param.watch(
            lambda *_: setattr(self._pane, "object", self._html()), ["stats", "computing"]
        )

    def _html(self) -> str:
        stats = self.state.stats
        busy = getattr(self.state, "computing", False)
        if stats is None:
            text = "computing costs..." if busy else "no statistics for this network"
            return f"<div class='tb-stats' data-stat-status='empty'>{text}</div>"
        tiles = "".join(
            f"<div class='tb-stat' data-stat='{key}'><div class='tb-label'>{html.escape(label)}"
            f"</div><div class='tb-value'>{html.escape(value)}</div></div>"
            for key, label, value in stats_rows(stats)
        )
        # Old numbers stay visible, dimmed, while the new ones are computed.
        style = " style='opacity: 0.45'" if busy else ""
        status = "computing" if busy else "ready"
        return f"<div class='tb-stats' data-stat-status='{status}'{style}>{tiles}</div>"

    def __panel__(self) -> pn.viewable.Viewable:
        return self._pane


def step_plot(result: Result) -> hv.Overlay | hv.Layout | None:
    """Per-step predicted flops against measured time (log-log) for a contract result;
    None when no step was timed (a cancelled run, a network with one tensor)."""
    m = result.metrics
    steps = (m.get("predicted") or {}).get("steps") or []
    seconds = m.get("step_seconds_median") or []
    if not steps or len(seconds) != len(steps):
        return None
    factor = 4 if "complex" in result.config.task.get("dtype", "") else 2
    rows = {
        "flops": [max(s["cost"] * factor, 1) for s in steps],
        "seconds": [max(t, 1e-9) for t in seconds],
        "step": list(range(1, len(steps) + 1)),
        "size": [s["size"] for s in steps],
    }
    scatter = hv.Scatter(rows, kdims=["flops"], vdims=["seconds", "step", "size"]).opts(
        logx=True,
        logy=True,
        size=8,
        color="#1f77b4",
        tools=["hover"],
        responsive=True,
        height=260,
        xlabel="predicted flops of the step",
        ylabel="measured seconds",
        title="each contraction step: cost model vs clock",
    )
    bars = hv.Bars(rows, kdims=["step"], vdims=["seconds"]).opts(
        responsive=True,
        height=260,
        color="#ff7f0e",
        xlabel="step",
        ylabel="seconds",
        title="time per step (median over repeats)",
        tools=["hover"],
        # whole steps only: with few steps the default ticker labelled 1, 1.5, 2, ...
        xticks=BasicTicker(min_interval=1, num_minor_ticks=0),
    )
    return (scatter + bars).opts(shared_axes=False)


def largest_step(stats: NetworkStats) -> int | None:
    """Index of the step that makes the largest intermediate (None without steps)."""
    steps = stats.optimized.steps
    if not steps:
        return None
    return max(range(len(steps)), key=lambda k: steps[k].size)


def subtree_leaves(stats: NetworkStats, n: int, step: int) -> list[int]:
    """Positions of the input tensors contracted into the result of ``step``."""
    steps = stats.optimized.steps
    out, stack = [], [n + step]
    while stack:
        node = stack.pop()
        if node < n:
            out.append(node)
        else:
            s = steps[node - n]
            stack += [s.left, s.right]
    return sorted(out)


def _tree_coords(stats: NetworkStats, n: int) -> tuple[dict[int, float], dict[int, float]]:
    """x (leaves in depth-first order, parents centred) and y (step number) of tree nodes."""
    steps = stats.optimized.steps
    xs: dict[int, float] = {}
    ys: dict[int, float] = {k: 0.0 for k in range(n)}
    counter = 0
    # iterative post-order walk: a chain of thousands of steps must not hit the recursion limit
    stack: list[tuple[int, bool]] = [(n + len(steps) - 1, False)]
    while stack:
        node, done = stack.pop()
        if node < n:
            xs[node] = float(counter)
            counter += 1
        elif done:
            s = steps[node - n]
            xs[node] = (xs[s.left] + xs[s.right]) / 2
            ys[node] = float(node - n + 1)
        else:
            s = steps[node - n]
            stack += [(node, True), (s.right, False), (s.left, False)]
    return xs, ys


def contraction_tree(stats: NetworkStats, names: list[str]) -> hv.Overlay | hv.Text:
    """The optimized contraction tree: tensors at the bottom, one node per pairwise step
    (height = step number, colour = log10 flops), the largest intermediate in red."""
    n = len(names)
    steps = stats.optimized.steps
    if not steps:
        return hv.Text(0, 0, "a single tensor: nothing to contract").opts(height=280)
    xs, ys = _tree_coords(stats, n)
    factor = 4 if "complex" in stats.dtype else 2
    hot = largest_step(stats)
    segs = {"x0": [], "y0": [], "x1": [], "y1": []}
    for k, s in enumerate(steps):
        for child in (s.left, s.right):
            segs["x0"].append(xs[child])
            segs["y0"].append(ys[child])
            segs["x1"].append(xs[n + k])
            segs["y1"].append(ys[n + k])
    nodes = {
        "x": [xs[n + k] for k in range(len(steps))],
        "y": [ys[n + k] for k in range(len(steps))],
        "step": list(range(1, len(steps) + 1)),
        "log10_flops": [math.log10(max(s.cost * factor, 1)) for s in steps],
        "size": [float(s.size) for s in steps],
        "indices": [", ".join(s.indices) or "(scalar)" for s in steps],
        "largest": ["yes" if k == hot else "" for k in range(len(steps))],
    }
    leaves = {"x": [xs[k] for k in range(n)], "y": [-0.35] * n, "name": names}
    layers: list[Any] = [
        hv.Segments(segs, kdims=["x0", "y0", "x1", "y1"]).opts(color="#8a949e", line_width=1.5),
        hv.Points(
            nodes, kdims=["x", "y"], vdims=["log10_flops", "step", "size", "indices", "largest"]
        ).opts(
            color="log10_flops",
            cmap="viridis",
            size=9,
            colorbar=True,
            tools=["hover"],
            clabel="log10 flops",
        ),
    ]
    if hot is not None:
        layers.append(
            hv.Points([(xs[n + hot], ys[n + hot])]).opts(
                color="#d62728", size=16, marker="circle", fill_alpha=0, line_width=3
            )
        )
    if n <= 60:
        layers.append(
            hv.Labels(leaves, kdims=["x", "y"], vdims=["name"]).opts(
                text_font_size="8pt", text_color="#333", angle=90 if n > 12 else 0
            )
        )
    return hv.Overlay(layers).opts(
        responsive=True,
        height=300,
        yaxis=None,
        xaxis=None,
        show_grid=False,
        title="contraction tree (optimized path; red: largest intermediate)",
        ylim=(-1.2, len(steps) + 0.8),
        toolbar="right",
    )


def step_costs(stats: NetworkStats) -> hv.Bars | hv.Text:
    """Flops of each pairwise step along the optimized path (log scale)."""
    steps = stats.optimized.steps
    if not steps:
        return hv.Text(0, 0, "no contraction steps").opts(height=280)
    factor = 4 if "complex" in stats.dtype else 2
    hot = largest_step(stats)
    data = {
        "step": [str(k + 1) for k in range(len(steps))],
        "flops": [float(max(s.cost * factor, 1)) for s in steps],
        "kind": ["largest intermediate" if k == hot else "step" for k in range(len(steps))],
        "size": [float(s.size) for s in steps],
    }
    lo, hi = min(data["flops"]), max(data["flops"])
    return hv.Bars(data, kdims=["step"], vdims=["flops", "kind", "size"]).opts(
        logy=True,
        ylim=(lo / 2, hi * 2),
        responsive=True,
        height=300,
        color="kind",
        cmap={"step": "#1f77b4", "largest intermediate": "#d62728"},
        tools=["hover"],
        title="flops per step",
        xlabel="step",
        show_legend=False,
        xrotation=90 if len(steps) > 30 else 0,
    )


def show_plot(pane: pn.pane.HoloViews, plot: hv.Layout | None) -> None:
    """Show ``plot`` in ``pane``, the pane as tall as the plot (a legend in several rows
    makes it taller; a fixed pane let it run over what comes below, or squeezed the frames
    to nothing)."""
    if plot is not None:
        heights = [el.opts.get().kwargs.get("height") or 0 for el in plot]
        pane.height = max([*heights, 300]) + 20
    pane.object = plot


def legend_above(entries: int, height: int = 320) -> dict[str, Any]:
    """Legend options: above the frame, in rows of at most two entries, the plot taller
    by the rows it adds (in one row, a sweep's 6+ entries ran off the plot's width:
    "tt_svd ra", and the other curves had no entry)."""
    cols = 1 if entries <= 1 else 2
    rows = -(-entries // cols)
    return {
        "legend_position": "top",
        "legend_cols": cols,
        # Bokeh sizes the panel above the frame without the legend's margin, so the box
        # reached 10 px into the frame and hid what was drawn there (a sweep's first
        # point at the top left; a level line near the top): no margin, lifted 6 px.
        "legend_opts": {"margin": 0, "padding": 5},
        "legend_offset": (0, 3),
        "height": height + 22 * max(0, rows - 1),
    }
