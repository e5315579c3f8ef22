"""Draw a Network: tensors, bonds (width grows with log2 of the dimension, labelled), open
legs, summed legs and hyperedges (a diamond hub joined by dashed lines).

:func:`diagram_geometry` is plain Python (tested without a browser); :func:`network_diagram`
turns it into a HoloViews overlay; :class:`NetworkView` shows the network of any
Parameterized that has a ``config`` parameter, redrawing when it changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param
from panel.viewable import Viewer

from tensorbench.engine.network import Network

__all__ = ["NetworkView", "diagram_geometry", "network_diagram"]

# Tensors beyond this many get no text labels: the labels would hide the drawing.
MAX_LABELLED_TENSORS = 60
_LEG_LENGTH = 0.45
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def bond_width(size: int) -> float:
    """Line width for an index of this size: 1.5 plus 1.2 per doubling."""
    return 1.5 + 1.2 * math.log2(max(size, 1))


@dataclass
class Geometry:
    """Everything needed to draw a network, in data coordinates."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)  # x0 y0 x1 y1 index size width kind
    leg_ends: list[dict[str, Any]] = field(default_factory=list)  # open / summed leg tips
    hubs: list[dict[str, Any]] = field(default_factory=list)  # hyperedge hubs
    labels: list[dict[str, Any]] = field(default_factory=list)  # x y text kind
    scale: float = 1.0


def _angle_dist(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def _leg_angles(
    taken: list[float], k: int, prefer: float = 270.0, flip_second: bool = True
) -> list[float]:
    """Directions (degrees) for ``k`` legs avoiding the bond directions in ``taken``.

    Each leg goes where it is farthest from bonds and earlier legs (clearance counted up to
    90 degrees), leaning towards ``prefer`` -- the second leg towards its opposite when
    ``flip_second``: chains get physical legs below (and operator legs above), stars, rings
    and trees get legs pointing outwards.
    """
    out: list[float] = []
    for j in range(k):
        lean = prefer if j == 0 or not flip_second else (prefer + 180.0) % 360.0
        best, best_score = 270.0, -1e9
        for step in range(24):
            theta = step * 15.0
            others = taken + out
            clear = min((_angle_dist(theta, t) for t in others), default=180.0)
            score = min(clear, 90.0)
            score += 40.0 * math.cos(math.radians(theta - lean))
            if score > best_score + 1e-9:
                best, best_score = theta, score
        out.append(best)
    return out


def diagram_geometry(net: Network, *, seed: int = 0) -> Geometry:
    """Lay out a network for drawing (tensors without positions are placed automatically)."""
    net = net.with_layout(seed=seed)
    pos = {t.name: np.array(t.pos, dtype=float) for t in net.tensors}
    names = [t.name for t in net.tensors]
    sizes = net.sizes
    geo = Geometry()

    # Typical distance between connected tensors sets the length of legs and offsets.
    dists = []
    for ix in net.indices:
        ks = net.tensors_with(ix)
        if len(ks) == 2:
            dists.append(float(np.linalg.norm(pos[names[ks[0]]] - pos[names[ks[1]]])))
    all_pos = np.array(list(pos.values()))
    if dists and np.median(dists) > 1e-9:
        scale = float(np.median(dists))
    elif len(all_pos) > 1:
        scale = float(np.ptp(all_pos, axis=0).max()) / math.sqrt(len(all_pos)) or 1.0
    else:
        scale = 1.0
    geo.scale = scale

    groups: dict[str, int] = {}
    for t in net.tensors:
        group = t.tags[0] if t.tags else "tensor"
        groups.setdefault(group, len(groups))
        shape = net.shape(t)
        geo.nodes.append(
            {
                "x": pos[t.name][0],
                "y": pos[t.name][1],
                "name": t.name,
                "group": group,
                "color": _PALETTE[groups[group] % len(_PALETTE)],
                "indices": ", ".join(t.indices),
                "shape": "x".join(map(str, shape)) or "scalar",
                "params": math.prod(shape),
                # Nodes grow with the name so it fits inside (names are drawn in white on them).
                "radius": min(46, max(24, 7 * len(t.name) + 10)),
            }
        )

    # Directions already used at each tensor, so legs can avoid them.
    taken: dict[str, list[float]] = {n: [] for n in names}

    def direction(a: np.ndarray, b: np.ndarray) -> float:
        d = b - a
        return math.degrees(math.atan2(d[1], d[0])) % 360.0

    pair_count: dict[tuple[str, str], int] = {}
    pair_seen: dict[tuple[str, str], int] = {}
    for ix in net.indices:
        ks = net.tensors_with(ix)
        if net.kind(ix) == "bond":
            key = tuple(sorted((names[ks[0]], names[ks[1]])))
            pair_count[key] = pair_count.get(key, 0) + 1

    for ix in net.indices:
        kind = net.kind(ix)
        ks = net.tensors_with(ix)
        size = sizes[ix]
        if kind == "bond":
            a, b = names[ks[0]], names[ks[1]]
            key = tuple(sorted((a, b)))
            m = pair_count[key]
            j = pair_seen.get(key, 0)
            pair_seen[key] = j + 1
            pa, pb = pos[a], pos[b]
            d = pb - pa
            norm = float(np.linalg.norm(d)) or 1.0
            perp = np.array([-d[1], d[0]]) / norm
            off = perp * (j - (m - 1) / 2) * 0.18 * scale
            p0, p1 = pa + off, pb + off
            taken[a].append(direction(pa, pb))
            taken[b].append(direction(pb, pa))
            geo.edges.append(_edge(p0, p1, ix, size, "bond"))
            mid = (p0 + p1) / 2 + perp * 0.12 * scale
            geo.labels.append({"x": mid[0], "y": mid[1], "text": str(size), "kind": "bond"})
        elif kind == "hyper":
            members = [pos[names[k]] for k in ks]
            hub = np.mean(members, axis=0)
            if any(np.linalg.norm(hub - p) < 0.2 * scale for p in members):
                hub = hub + np.array([0.3, 0.3]) * scale
            for k in ks:
                taken[names[k]].append(direction(pos[names[k]], hub))
                geo.edges.append(_edge(pos[names[k]], hub, ix, size, "hyper"))
            geo.hubs.append(
                {"x": hub[0], "y": hub[1], "index": ix, "size": size, "degree": net.degree(ix)}
            )
            # Diagonal offset: hub lines usually run along the axes.
            geo.labels.append(
                {
                    "x": hub[0] + 0.22 * scale,
                    "y": hub[1] + 0.2 * scale,
                    "text": f"{ix}={size}",
                    "kind": "hyper",
                }
            )
            if ix in net.output:
                tip = hub + np.array([0.0, -_LEG_LENGTH * scale])
                geo.edges.append(_edge(hub, tip, ix, size, "open"))
                geo.leg_ends.append(
                    {"x": tip[0], "y": tip[1], "index": ix, "size": size, "kind": "open"}
                )

    # On a line of tensors (chains) legs hang down; elsewhere they point away from the
    # tensor's neighbours (outwards on rings, stars and trees).
    collinear = bool(np.ptp(all_pos[:, 1]) < 1e-9 or np.ptp(all_pos[:, 0]) < 1e-9)
    for t in net.tensors:
        legs = [ix for ix in t.indices if net.kind(ix) in ("open", "summed")]
        if not legs:
            continue
        prefer = 270.0
        if not collinear and taken[t.name]:
            v = sum(
                np.array([math.cos(math.radians(a)), math.sin(math.radians(a))])
                for a in taken[t.name]
            )
            if np.linalg.norm(v) > 0.5:
                prefer = (math.degrees(math.atan2(v[1], v[0])) + 180.0) % 360.0
        angles = _leg_angles(taken[t.name], len(legs), prefer, flip_second=collinear)
        for ix, theta in zip(legs, angles, strict=True):
            u = np.array([math.cos(math.radians(theta)), math.sin(math.radians(theta))])
            p = pos[t.name]
            tip = p + u * _LEG_LENGTH * scale
            kind = net.kind(ix)
            geo.edges.append(_edge(p, tip, ix, sizes[ix], kind))
            geo.leg_ends.append(
                {"x": tip[0], "y": tip[1], "index": ix, "size": sizes[ix], "kind": kind}
            )
            lab = p + u * (_LEG_LENGTH + 0.2) * scale
            text = f"{ix} ({sizes[ix]})" if kind == "open" else f"Σ{ix} ({sizes[ix]})"
            geo.labels.append({"x": lab[0], "y": lab[1], "text": text, "kind": kind})
    return geo


def _edge(p0: np.ndarray, p1: np.ndarray, ix: str, size: int, kind: str) -> dict[str, Any]:
    return {
        "x0": float(p0[0]),
        "y0": float(p0[1]),
        "x1": float(p1[0]),
        "y1": float(p1[1]),
        "index": ix,
        "size": size,
        "width": bond_width(size),
        "kind": kind,
    }


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


class NetworkView(Viewer):
    """Live diagram of ``state.config.network``; redraws whenever the config changes."""

    state = param.Parameter(doc="A Parameterized with a `config` parameter holding a Config.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._pane = pn.pane.HoloViews(
            self._draw(), sizing_mode="stretch_width", min_height=300, name="diagram"
        )
        self.state.param.watch(self._update, "config")

    def _draw(self) -> hv.Overlay | hv.Text:
        net = self.state.config.network
        if net is None:
            return hv.Text(0, 0, "no network")
        return network_diagram(net, seed=self.state.config.seed)

    def _update(self, *_: Any) -> None:
        self._pane.object = self._draw()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._pane
