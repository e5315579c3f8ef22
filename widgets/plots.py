"""Cards and plots for costs and results (HoloViews, Bokeh backend)."""

from __future__ import annotations

import html
from typing import Any

import holoviews as hv
import panel as pn
import param
from panel.viewable import Viewer

from tensorbench.engine import NetworkStats, Result
from tensorbench.engine.device import resolve_dtype
from tensorbench.engine.fmt import format_bytes, format_number, short

__all__ = ["StatsCard", "stats_rows", "step_plot"]


def stats_rows(stats: NetworkStats) -> list[tuple[str, str, str]]:
    """``(key, label, value)`` rows for the stats card (keys are stable ids for tests)."""
    o, n = stats.optimized, stats.naive
    itemsize = resolve_dtype(stats.dtype).itemsize
    return [
        (
            "tensors",
            "tensors",
            f"{stats.num_tensors} ({stats.num_bonds} bonds, {stats.num_open} open, "
            f"{stats.num_hyper} hyper)",
        ),
        ("params", "parameters", format_number(stats.params)),
        ("full_size", "full tensor", format_number(stats.full_size)),
        ("compression", "compression", f"{short(stats.compression)}x"),
        ("flops", f"flops ({o.optimizer} path)", short(o.flops)),
        ("naive_flops", "flops (naive order)", f"{short(n.flops)} ({short(stats.speedup, 3)}x)"),
        ("largest", "largest intermediate", format_number(o.largest_intermediate)),
        ("width", "width (log2)", f"{o.width:.2f}"),
        (
            "peak",
            "peak memory",
            f"{format_number(o.peak_size)} ({format_bytes(o.peak_size * itemsize)})",
        ),
    ]


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


def step_plot(result: Result) -> hv.Overlay | hv.Layout | hv.Text:
    """Per-step predicted flops against measured time (log-log) for a contract result."""
    m = result.metrics
    steps = (m.get("predicted") or {}).get("steps") or []
    seconds = m.get("step_seconds_median") or []
    if not steps or len(seconds) != len(steps):
        return hv.Text(0, 0, "no contraction steps to show")
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
    )
    return (scatter + bars).opts(shared_axes=False)
