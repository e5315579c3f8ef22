"""Draw a Network with HoloViews: tensors, labelled bonds, open and summed legs, hyperedges
(a diamond hub joined by dashed lines).

The geometry comes from :func:`tensorbench.engine.layout.diagram_geometry` (shared with the
SVG/TikZ/PNG exports); :func:`network_diagram` turns it into a HoloViews overlay;
the editable drawing on the Network page is :mod:`.network_editor`'s canvas; this static one
suits read-only views and notebooks.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # registers the backend that .opts() targets

from tensorbench.engine.layout import bond_width, diagram_geometry
from tensorbench.engine.network import Network

__all__ = ["bond_width", "diagram_geometry", "network_diagram"]

# Tensors beyond this many get no text labels: the labels would hide the drawing.
MAX_LABELLED_TENSORS = 60


def _columns(rows: list[dict[str, Any]], cols: list[str]) -> dict[str, list[Any]]:
    """Rows of dicts as a dict of columns (HoloViews' most reliable tabular input)."""
    return {c: [r[c] for r in rows] for c in cols}


def network_diagram(net: Network, *, seed: int = 0) -> hv.Overlay:
    """A HoloViews drawing of ``net`` (Bokeh backend), hover shows names and shapes."""
    geo = diagram_geometry(net, seed=seed)
    edge_cols = ["x0", "y0", "x1", "y1", "index", "size", "width", "kind"]
    edges = [e for e in geo.edges if e["kind"] != "hyper"]
    hyper = [e for e in geo.edges if e["kind"] == "hyper"]

    def seg(rows: list[dict[str, Any]]) -> hv.Segments:
        return hv.Segments(
            _columns(rows, edge_cols),
            kdims=["x0", "y0", "x1", "y1"],
            vdims=["index", "size", "width", "kind"],
        )

    node_cols = ["name", "group", "color", "indices", "shape", "params", "radius"]
    edge_hover = [("index", "@index"), ("size", "@size"), ("kind", "@kind")]
    layers: list[Any] = [
        seg(edges).opts(
            color="kind",
            cmap={"bond": "#555555", "open": "#888888", "summed": "#bbbbbb"},
            line_width="width",
            tools=["hover"],
            hover_tooltips=edge_hover,
            alpha=0.9,
        ),
        seg(hyper).opts(
            color="#d62728",
            line_width="width",
            line_dash="dashed",
            alpha=0.8,
            tools=["hover"],
            hover_tooltips=edge_hover,
        ),
        hv.Points(
            _columns(geo.leg_ends, ["x", "y", "index", "size", "kind"]),
            kdims=["x", "y"],
            vdims=["index", "size", "kind"],
        ).opts(
            marker="square",
            size=6,
            color="#888888",
            tools=["hover"],
            hover_tooltips=[("leg", "@index"), ("size", "@size"), ("kind", "@kind")],
        ),
        hv.Points(
            _columns(geo.hubs, ["x", "y", "index", "size", "degree"]),
            kdims=["x", "y"],
            vdims=["index", "size", "degree"],
        ).opts(
            marker="diamond",
            size=18,
            color="#d62728",
            line_color="white",
            tools=["hover"],
            hover_tooltips=[("hyperedge", "@index"), ("size", "@size"), ("tensors", "@degree")],
        ),
        hv.Points(
            _columns(geo.nodes, ["x", "y", *node_cols]), kdims=["x", "y"], vdims=node_cols
        ).opts(
            color="color",
            size="radius",
            line_color="white",
            line_width=2,
            tools=["hover"],
            hover_tooltips=[
                ("tensor", "@name"),
                ("indices", "@indices"),
                ("shape", "@shape"),
                ("parameters", "@params"),
            ],
        ),
    ]
    if len(geo.nodes) <= MAX_LABELLED_TENSORS:
        # Labels are drawn as text glyphs (never HTML), so any name is shown as typed.
        layers.append(
            hv.Labels(
                _columns(geo.nodes, ["x", "y", "name"]), kdims=["x", "y"], vdims=["name"]
            ).opts(text_font_size="9pt", text_color="white", text_font_style="bold")
        )
        for kind, color in (
            ("bond", "#1a4d80"),
            ("open", "#444444"),
            ("summed", "#999999"),
            ("hyper", "#d62728"),
        ):
            rows = [lab for lab in geo.labels if lab["kind"] == kind]
            layers.append(
                hv.Labels(
                    _columns(rows, ["x", "y", "text"]), kdims=["x", "y"], vdims=["text"]
                ).opts(text_font_size="8pt", text_color=color)
            )
    xs = [n["x"] for n in geo.nodes] + [p["x"] for p in geo.leg_ends + geo.hubs]
    ys = [n["y"] for n in geo.nodes] + [p["y"] for p in geo.leg_ends + geo.hubs]
    xlim, ylim, aspect = _equal_limits(xs, ys, pad=0.7 * geo.scale)
    return hv.Overlay(layers).opts(
        hv.opts.Overlay(
            responsive=True,
            aspect=aspect,
            min_height=260,
            max_height=620,
            xaxis=None,
            yaxis=None,
            show_grid=False,
            xlim=xlim,
            ylim=ylim,
            toolbar="right",
            show_frame=False,
            show_legend=False,
            active_tools=["wheel_zoom"],
            title=net.name or "",
        )
    )


def _equal_limits(
    xs: list[float], ys: list[float], pad: float, min_aspect: float = 1.9, max_aspect: float = 3.2
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Axis limits with one unit the same length on both axes, and the plot's aspect.

    The plot's width/height ratio is the data's, clamped to [min_aspect, max_aspect]; the
    shorter range is widened so that a circle stays a circle in a responsive plot.
    """
    x0, x1 = min(xs) - pad, max(xs) + pad
    y0, y1 = min(ys) - pad, max(ys) + pad
    w, h = x1 - x0, y1 - y0
    aspect = min(max(w / h, min_aspect), max_aspect)
    if w / h < aspect:  # too tall for the plot: widen x
        extra = (aspect * h - w) / 2
        x0, x1 = x0 - extra, x1 + extra
    else:  # too wide: heighten y
        extra = (w / aspect - h) / 2
        y0, y1 = y0 - extra, y1 + extra
    return (x0, x1), (y0, y1), aspect
