"""Views of a structure-search race: best score curves, the candidates' scatter with its
Pareto front, structure cards and the evaluations' rows. Pure functions of the page's
snapshot (see :meth:`~tensorbench.widgets.multirun.MultiRunState.snapshot`)."""

from __future__ import annotations

import html
import math
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # registers the backend that .opts() targets

from tensorbench.engine import Network
from tensorbench.engine.drawing import to_svg
from tensorbench.engine.search.objective import Structure

from .multirun import run_color
from .plots import legend_above

__all__ = [
    "best_curves",
    "candidates_scatter",
    "data_shape",
    "evaluations",
    "incumbent",
    "pareto_front",
    "structure_card",
    "truth_record",
]

#: RSE values are drawn on a log axis: an exact fit is drawn at this floor.
RSE_FLOOR = 1e-12


def evaluations(r: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's fitted candidates (not pruned, not repeated from the cache), in fit order."""
    return [
        x
        for x in r["records"]
        if x.get("kind") == "evaluation" and x.get("rse") is not None and not x.get("cached")
    ]


def truth_record(snap: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The hidden truth's evaluation, when any run has sent it."""
    for r in snap:
        for x in r["records"]:
            if x.get("kind") == "truth":
                return x
    return None


def data_shape(snap: list[dict[str, Any]]) -> list[int] | None:
    """The data's shape, when any run has loaded it."""
    for r in snap:
        for x in r["records"]:
            if x.get("kind") == "data":
                return list(x["shape"])
    return None


def incumbent(r: dict[str, Any]) -> dict[str, Any] | None:
    """A run's best candidate so far (lowest score; the earliest on ties)."""
    best = None
    for x in evaluations(r):
        if best is None or x["score"] < best["score"]:
            best = x
    return best


def _best_series(r: dict[str, Any]) -> dict[str, list[float]]:
    pts = [x for x in r["records"] if x.get("kind") == "evaluation" and x.get("best") is not None]
    return {
        "fits": [x["fits"] for x in pts],
        "seconds": [x["elapsed"] for x in pts],
        "best score": [x["best"] for x in pts],
    }


def best_curves(snap: list[dict[str, Any]], show_truth: bool = True) -> hv.Layout | None:
    """Best score so far against fits and against wall time, one step curve per run; the
    hidden truth's score as a dashed line (unless ``show_truth`` is off: a class guessing
    the truth must not see its level)."""
    if not any(_best_series(r)["fits"] for r in snap):
        return None
    truth = truth_record(snap) if show_truth else None
    panels = []
    for x, title in (("fits", "best score by fits"), ("seconds", "best score by wall time")):
        layers: list[Any] = []
        for k, r in enumerate(snap):
            data = _best_series(r)
            color = run_color(k)
            layers.append(
                hv.Curve(data, x, "best score", label=r["label"]).opts(
                    color=color, line_width=2, interpolation="steps-post", tools=["hover"]
                )
            )
            layers.append(hv.Scatter(data, x, "best score").opts(color=color, size=4))
        xs = [v for r in snap for v in _best_series(r)[x]]
        if truth is not None and xs:
            # a curve, not an HLine: the axes then stretch to show the target
            level = {x: [min(xs), max(xs)], "best score": [truth["score"]] * 2}
            layers.append(
                hv.Curve(level, x, "best score", label="hidden truth").opts(
                    color="#444444", line_dash="dashed", line_width=1.5
                )
            )
        entries = len(snap) + (truth is not None and bool(xs))
        panels.append(
            hv.Overlay(layers).opts(
                logy=True,
                responsive=True,
                show_grid=True,
                title=title,
                framewise=True,
                # above the frame: a run stuck high would run under it
                **legend_above(entries, 300),
            )
        )
    return (panels[0] + panels[1]).opts(shared_axes=False)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats in both coordinates (fewer parameters and lower
    error), sorted by parameters."""
    front: list[tuple[float, float]] = []
    for p, e in sorted(points):
        if not front or e < front[-1][1]:
            if front and front[-1][0] == p:
                front.pop()
            front.append((p, e))
    return front


def candidates_scatter(snap: list[dict[str, Any]], show_truth: bool = True) -> hv.Overlay | None:
    """Every fitted candidate: parameters against relative error, coloured by run, with
    the Pareto front of all of them and (``show_truth``) the hidden truth as a star."""
    layers: list[Any] = []
    points: list[tuple[float, float]] = []
    for k, r in enumerate(snap):
        ev = evaluations(r)
        if not ev:
            continue
        data = {
            "parameters": [x["params"] for x in ev],
            "RSE": [max(x["rse"], RSE_FLOOR) for x in ev],
            "score": [x["score"] for x in ev],
            "edges": [x["edges"] for x in ev],
        }
        points += list(zip(data["parameters"], data["RSE"], strict=True))
        layers.append(
            hv.Scatter(data, "parameters", ["RSE", "score", "edges"], label=r["label"]).opts(
                color=run_color(k), size=6, alpha=0.6, tools=["hover"]
            )
        )
    if not layers:
        return None
    front = pareto_front(points)
    layers.insert(
        0,
        hv.Curve(front, "parameters", "RSE", label="Pareto front").opts(
            color="#333333", line_width=1.5, interpolation="steps-post"
        ),
    )
    truth = truth_record(snap) if show_truth else None
    if truth is not None and truth.get("rse") is not None:
        layers.append(
            hv.Scatter(
                [(truth["params"], max(truth["rse"], RSE_FLOOR))],
                "parameters",
                "RSE",
                label="hidden truth",
            ).opts(color="#000000", marker="star", size=16)
        )
    return hv.Overlay(layers).opts(
        logx=True,
        logy=True,
        # the Pareto curve pads no x (a Curve's default): the largest candidates then sat
        # on the frame's edge, half under the toolbar
        padding=0.05,
        responsive=True,
        height=320,
        show_grid=True,
        legend_position="right",  # outside: large, poor candidates sit top right
        title="every candidate: parameters against error",
    )


def structure_card(
    title: str, rec: dict[str, Any] | None, dims: list[int] | None, color: str, note: str = ""
) -> str:
    """HTML card: a candidate drawn as a network, with its score, error and size."""
    head = (
        f"<div style='font-weight: 600; color: {color}'>{html.escape(title)}</div>"
        f"<div style='font-size: 12px; color: #5a6b7b'>{html.escape(note)}</div>"
    )
    if rec is None or dims is None:
        body = "<div style='color: #888; padding: 40px 0'>no candidate yet</div>"
    else:
        s = rec["structure"]
        net = Structure(tuple(s["ranks"]), tuple(s["perm"])).network(dims)
        # untitled: the card has its own title ("rank matrix N=5" stood on every card)
        doc = net.to_dict()
        doc.pop("name", None)
        svg = to_svg(Network.from_dict(doc))
        rse = rec.get("rse")
        rse_text = "-" if rse is None else f"{rse:.3g}"
        body = (
            f"<div class='tb-structure' style='max-width: 260px'>{svg}</div>"
            f"<div style='font-size: 12px'>score {rec['score']:.5g} · RSE {rse_text} · "
            f"{rec['params']} parameters ({math.prod(dims) / rec['params']:.3g}x)</div>"
            f"<div style='font-size: 12px; color: #444'>{html.escape(rec['edges'])}</div>"
        )
    return (
        "<div class='tb-card' style='border: 1px solid #dde3ea; border-radius: 6px; "
        f"padding: 8px; width: 280px; background: #fff'>{head}{body}</div>"
    )
