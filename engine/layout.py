"""Drawing geometry of a network: where tensors, bonds, legs, hubs and labels go.

Pure Python (numpy, networkx): the app's HoloViews diagram and the SVG / TikZ / PNG
exports are all drawn from the same :class:`Geometry`, so every picture of a network
agrees. Bond width grows with log2 of the dimension; open legs avoid bonds and point
down on chains and outwards elsewhere; a hyperedge is a hub joined to its tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .network import Network

__all__ = ["PALETTE", "Geometry", "bond_width", "diagram_geometry"]

LEG_LENGTH = 0.45
#: How far past a leg's tip its label is centred (in layout units, as LEG_LENGTH).
LEG_LABEL_OUT = 0.2
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


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
                "color": PALETTE[groups[group] % len(PALETTE)],
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

    hub_labels: list[dict[str, Any]] = []  # placed last, clear of all else
    bond_spots: list[tuple[dict[str, Any], dict[str, Any], np.ndarray, np.ndarray, tuple]] = []
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
            # Parallel lines' sizes sit past the outermost one, stepped along them (as on
            # the canvas): beside its own line a size sat on the next one.
            across = 0.12 if m == 1 else (m - 1) / 2 * 0.18 + 0.14
            along = d / norm * (j - (m - 1) / 2) * 0.28
            mid = (pa + pb) / 2 + (perp * across + along) * scale
            geo.labels.append({"x": mid[0], "y": mid[1], "text": str(size), "kind": "bond"})
            bond_spots.append((geo.labels[-1], geo.edges[-1], pa, pb, key))
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
            # Placed once everything else is (_place_hub_labels): always up-right, "h0=2"
            # sat on a spoke that ran that way.
            hub_labels.append({"x": hub[0], "y": hub[1], "text": f"{ix}={size}", "kind": "hyper"})
            if ix in net.output:
                tip = hub + np.array([0.0, -LEG_LENGTH * scale])
                geo.edges.append(_edge(hub, tip, ix, size, "open"))
                geo.leg_ends.append(
                    {"x": tip[0], "y": tip[1], "index": ix, "size": size, "kind": "open"}
                )

    # On a line of tensors (chains) legs hang down; elsewhere they point away from the
    # tensor's neighbours (outwards on rings, stars and trees). A lone leg also leans away
    # from the middle of the drawing: away from its neighbour alone, the legs of two leaves
    # of a tree whose parents sit side by side met, and their labels overlapped. (Several
    # legs fan out around the direction anyway; leaning them too turned one sideways.)
    collinear = bool(np.ptp(all_pos[:, 1]) < 1e-9 or np.ptp(all_pos[:, 0]) < 1e-9)
    middle = all_pos.mean(axis=0)
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
                away = -v / np.linalg.norm(v)
                out = pos[t.name] - middle
                if len(legs) == 1 and np.linalg.norm(out) > 0.1 * scale:
                    away = away + out / np.linalg.norm(out)
                if np.linalg.norm(away) > 1e-9:
                    prefer = math.degrees(math.atan2(away[1], away[0])) % 360.0
        angles = _leg_angles(taken[t.name], len(legs), prefer, flip_second=collinear)
        for ix, theta in zip(legs, angles, strict=True):
            u = np.array([math.cos(math.radians(theta)), math.sin(math.radians(theta))])
            p = pos[t.name]
            tip = p + u * LEG_LENGTH * scale
            kind = net.kind(ix)
            geo.edges.append(_edge(p, tip, ix, sizes[ix], kind))
            geo.leg_ends.append(
                {"x": tip[0], "y": tip[1], "index": ix, "size": sizes[ix], "kind": kind}
            )
            lab = p + u * (LEG_LENGTH + LEG_LABEL_OUT) * scale
            text = f"{ix} ({sizes[ix]})" if kind == "open" else f"Σ{ix} ({sizes[ix]})"
            geo.labels.append(
                {
                    "x": lab[0],
                    "y": lab[1],
                    "text": text,
                    "kind": kind,
                    # the leg's direction: pictures set a sideways leg's label beside its
                    # tip, running away from it (centred, it covered the tip)
                    "dx": float(u[0]),
                    "dy": float(u[1]),
                }
            )
    _spread_bond_labels(geo, bond_spots, scale)
    _place_hub_labels(geo, hub_labels, scale)
    return geo


def _spread_bond_labels(
    geo: Geometry,
    spots: list[tuple[dict[str, Any], dict[str, Any], np.ndarray, np.ndarray, tuple]],
    scale: float,
) -> None:
    """Slide a bond's size that lands on another bond's line, or beside a size placed
    before it, along its own bond (a fifth, then a third, either way) to the first clear
    spot, else the clearest (as the canvas does): an FCTN square's crossing diagonals put
    each one's size on the other's line. Legs are not lines here: they are drawn after."""
    bundle = {id(edge): key for _lab, edge, _pa, _pb, key in spots}
    lines = [
        (np.array([e["x0"], e["y0"]]), np.array([e["x1"], e["y1"]]), e)
        for e in geo.edges
        if e["kind"] in ("bond", "hyper")
    ]
    placed: list[np.ndarray] = []

    def clearance(p: np.ndarray, key: tuple) -> float:
        m = math.inf
        for q in placed:
            m = min(m, float(np.linalg.norm(q - p)) / (0.14 * scale))
        for a, b, e in lines:
            if bundle.get(id(e)) != key:  # its own line and its parallel ones aside
                m = min(m, _seg_dist(p, a, b) / (0.07 * scale))
        return m

    for lab, _edge, pa, pb, key in spots:
        here = np.array([lab["x"], lab["y"]])
        best = here
        if clearance(here, key) < 1:
            tries = [here + f * (pb - pa) for f in (0.2, -0.2, 0.33, -0.33)]
            clear = [p for p in tries if clearance(p, key) >= 1]
            best = clear[0] if clear else max([here, *tries], key=lambda p: clearance(p, key))
        lab["x"], lab["y"] = float(best[0]), float(best[1])
        placed.append(best)


def _seg_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    d = b - a
    t = float(np.clip(np.dot(p - a, d) / (float(np.dot(d, d)) or 1.0), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * d)))


def _place_hub_labels(geo: Geometry, hub_labels: list[dict[str, Any]], scale: float) -> None:
    """Add each hyperedge label (at its hub) to ``geo``, moved beside the hub in the
    direction (of eight) whose spot is farthest from every line, tensor and label drawn."""
    points = [np.array([n["x"], n["y"]]) for n in geo.nodes]
    for e in geo.edges:
        p0, p1 = np.array([e["x0"], e["y0"]]), np.array([e["x1"], e["y1"]])
        points += [p0 + (p1 - p0) * t for t in np.linspace(0.0, 1.0, 9)]
    points += [np.array([lab["x"], lab["y"]]) for lab in geo.labels]
    cloud = np.array(points) if points else np.zeros((0, 2))
    for lab in hub_labels:
        hub = np.array([lab["x"], lab["y"]])
        best, best_d = hub, -1.0
        for k in range(8):
            a = math.radians(45.0 * k + 22.5)
            spot = hub + 0.3 * scale * np.array([math.cos(a), 0.9 * math.sin(a)])
            d = float(np.min(np.linalg.norm(cloud - spot, axis=1))) if len(cloud) else 1.0
            if d > best_d:
                best, best_d = spot, d
        lab["x"], lab["y"] = float(best[0]), float(best[1])
        geo.labels.append(lab)
        cloud = np.vstack([cloud, best[None, :]])


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
