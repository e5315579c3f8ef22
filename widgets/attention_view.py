"""Views of an attention run: the setup drawn as a diagram, heatmaps of the attention with
the entries each method computed, and sweep plots of time, error and speedup.

Pure functions of the config and of the run's records and artifacts."""

from __future__ import annotations

import html
import math
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # registers the backend that .opts() targets
import numpy as np

from .multirun import run_color

__all__ = ["heatmaps", "method_labels", "results_table", "setup_svg", "sweep_legend", "sweep_plots"]

#: Heatmaps show at most this many queries and keys (the top-left corner of larger maps).
HEATMAP_PX = 256


#: Rough width of one character of an 11 px caption, for sizing the drawing around it.
_TEXT_PX = 6.5
#: The same for a box's 15 px bold label.
_LABEL_PX = 9.5


def _box(x: float, y: float, w: float, h: float, fill: str, label: str, sub: str) -> str:
    # A label wider than its box is set smaller ("K prefix" ran under the K box beside
    # it), and a caption wider than its box starts at the box's left edge rather than
    # reaching left over the caption before it.
    size = min(15.0, 15.0 * (w - 6) / (_LABEL_PX * len(label)))
    under = (
        f"x='{x + w / 2:.1f}' text-anchor='middle'"
        if _TEXT_PX * len(sub) <= w
        else f"x='{x:.1f}' text-anchor='start'"
    )
    return (
        f"<rect x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' height='{h:.1f}' rx='4' "
        f"fill='{fill}' stroke='#34495e' stroke-width='1.2'/>"
        f"<text x='{x + w / 2:.1f}' y='{y + h / 2:.1f}' text-anchor='middle' "
        f"font-size='{max(size, 9.0):.1f}' font-weight='600' fill='#1b2733'>"
        f"{html.escape(label)}</text>"
        f"<text {under} y='{y + h + 15:.1f}' font-size='11' "
        f"fill='#5a6b7b'>{html.escape(sub)}</text>"
    )


def setup_svg(task: dict[str, Any]) -> str:
    """The attention setup as an SVG: Q, K^T (split into shared prefix and suffix for a
    Hydragen batch), the score matrix (causal triangle), softmax, V, and the methods."""
    inp = task["input"]
    sweep = task.get("sweep")
    # A sweep over n sets the lengths: draw the largest, which the heatmaps show too.
    swept_n = bool(sweep) and sweep["param"] == "n"
    n = max(sweep["values"]) if swept_n else task["n"]
    kind = inp["kind"]
    if kind == "minilm":
        b, h, hkv, d = 1, 12, 12, 32
    else:
        b, h, d = inp.get("batch", 1), inp.get("heads", 4), inp.get("d", 64)
        hkv = inp.get("kv_heads") or h
    prefix = inp.get("prefix", 0) if kind == "shared_prefix" else 0
    nq = (inp.get("queries") or n) if kind == "shared_prefix" else n
    nk = n + prefix

    # sizes on a log scale, so a 32k x 64 matrix still fits next to a 64 x 64 one
    def px(v: int) -> float:
        return 30 + 18 * math.log2(max(2, v))

    hq, wk, dd = px(nq), px(nk), 42.0
    parts = []
    x, top = 40.0, 30.0
    parts.append(_box(x, top, dd, hq, "#dbe9f6", "Q", f"{b}x{h}x{nq}x{d}"))
    x += dd + 26
    parts.append(f"<text x='{x - 14}' y='{top + hq / 2}' font-size='16'>&#183;</text>")
    if prefix:
        # wide enough for its label (a 1k prefix before a 4k suffix was 50 px)
        wp = min(max(wk * prefix / nk, 64.0), wk - 24)
        parts.append(_box(x, top, wp, dd, "#f6e3c6", "K prefix", f"{hkv}x{prefix}x{d} shared"))
        parts.append(_box(x + wp, top, wk - wp, dd, "#e4f2dc", "K", f"{b}x{hkv}x{n}x{d}"))
    else:
        parts.append(_box(x, top, wk, dd, "#e4f2dc", "K\u1d40", f"{b}x{hkv}x{d}x{nk}"))
    x += wk + 30
    parts.append(f"<text x='{x - 20}' y='{top + hq / 2}' font-size='14'>&#8594;</text>")
    sx = x
    parts.append(
        f"<rect x='{sx}' y='{top}' width='{wk:.1f}' height='{hq:.1f}' fill='#fdf2f2' "
        "stroke='#34495e' stroke-width='1.2'/>"
    )
    if task.get("causal"):
        # End-aligned: query i sees keys up to nk - nq + i, so every query sees all of a
        # shared prefix and a triangle of its own suffix.
        edge = sx + wk * (nk - nq) / nk
        parts.append(
            f"<polygon points='{sx},{top} {edge:.1f},{top} {sx + wk:.1f},{top + hq:.1f} "
            f"{sx},{top + hq:.1f}' fill='#f3b7b7' opacity='0.8'/>"
        )
    parts.append(
        f"<text x='{sx + wk / 2:.1f}' y='{top + hq / 2:.1f}' text-anchor='middle' "
        f"font-size='13' font-weight='600'>softmax(QK\u1d40/\u221ad)</text>"
        f"<text x='{sx + wk / 2:.1f}' y='{top + hq + 15:.1f}' text-anchor='middle' "
        f"font-size='11' fill='#5a6b7b'>{nq} x {nk}{' causal' if task.get('causal') else ''}"
        "</text>"
    )
    x = sx + wk + 30
    parts.append(f"<text x='{x - 20}' y='{top + hq / 2}' font-size='16'>&#183;</text>")
    # every operand in the same batch x heads x rows x columns order (V once lacked b)
    v_shape = f"{b}x{hkv}x{nk}x{d}" + (" (prefix shared)" if prefix else "")
    parts.append(_box(x, top, dd, wk, "#efe3f6", "V", v_shape))
    # wide enough for V's caption, which starts at the box when wider than it (see _box)
    right = x + max(dd, _TEXT_PX * len(v_shape))
    x += dd + 20
    methods = ", ".join(m["method"] for m in task["methods"])
    height = max(hq, wk) + 70
    width = max(x, right) + 10
    text = (
        f"<text x='10' y='18' font-size='12' fill='#34495e'>{html.escape(kind)} input · "
        f"{html.escape(task['dtype'])} · methods: {html.escape(methods)}"
        + (f" · sweep over {html.escape(str(sweep['param']))}" if sweep else "")
        + (f" (drawn at the largest, n = {n})" if swept_n else "")
        + "</text>"
    )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' class='tb-attention-setup' "
        f"width='{width:.0f}' height='{height:.0f}' viewBox='0 0 {width:.0f} {height:.0f}' "
        f"font-family='DejaVu Sans, Helvetica, Arial, sans-serif'>{text}{''.join(parts)}</svg>"
    )


def heatmaps(heat: dict[str, Any], labels: list[str]) -> hv.Layout | None:
    """Exact attention weights (log scale) and, per method, the same weights on the entries
    it computed (the rest blank). Large maps show their top-left ``HEATMAP_PX`` square at
    full resolution: pooling would hide which single entries a method skipped."""
    if not heat:
        return None
    w = np.asarray(heat["weights"], dtype=np.float64)[:HEATMAP_PX, :HEATMAP_PX]
    shown = np.log10(np.maximum(w, 1e-12))  # NaN (masked out) stays NaN: grey
    lo = max(float(np.nanquantile(shown, 0.05)), -8.0) if np.isfinite(shown).any() else -8.0
    common = {
        "cmap": "viridis",
        "clim": (lo, 0.0),
        "clipping_colors": {"NaN": "#eeeeee"},
        "frame_width": 220,
        "frame_height": 220,
        "tools": ["hover"],
        "xlabel": "key",
        "ylabel": "query",
        "invert_yaxis": True,
    }
    bounds = (0, 0, shown.shape[1], shown.shape[0])
    panels = [hv.Image(np.flipud(shown), bounds=bounds).opts(title="exact weights", **common)]
    for label in labels:
        kept = heat["kept"].get(label)
        if kept is None:
            continue
        k = np.asarray(kept, dtype=bool)[:HEATMAP_PX, :HEATMAP_PX]
        panels.append(
            hv.Image(np.flipud(np.where(k, shown, np.nan)), bounds=bounds).opts(
                title=f"{label}", **common
            )
        )
    # three to a row (~900 px): four ran past the right edge of a 1440 px wide page beside
    # the sidebar; one Layout, not a wrapping box of panes, so zoom stays linked across maps
    return hv.Layout(panels).cols(3)


def _series(rows: list[dict[str, Any]], label: str, y: str) -> dict[str, list[float]]:
    pts = [
        r
        for r in rows
        if r["label"] == label
        and r.get("value") is not None
        and isinstance(r.get(y), (int, float))
        and r[y] > 0
    ]
    return {"x": [float(r["value"]) for r in pts], y: [float(r[y]) for r in pts]}


def method_labels(rows: list[dict[str, Any]]) -> list[str]:
    """The methods' labels in the order of their first row (the order of their colours)."""
    return list(dict.fromkeys(r["label"] for r in rows))


def sweep_legend(rows: list[dict[str, Any]]) -> str:
    """HTML legend of :func:`sweep_plots`: each method's label in its line colour."""
    labels = method_labels(rows)
    items = [
        f"<span style='white-space: nowrap; margin-right: 18px'>"
        f"<span style='display: inline-block; width: 22px; height: 3px; vertical-align: middle;"
        f" background: {run_color(k)}; margin-right: 6px'></span>{html.escape(label)}</span>"
        for k, label in enumerate(labels)
    ]
    return f"<div class='tb-sweep-legend' style='font-size: 13px'>{''.join(items)}</div>"


def sweep_plots(rows: list[dict[str, Any]], param: str | None) -> hv.Layout | None:
    """Time, error and speedup against the swept value, one line per method (log-log)."""
    if not param or not rows:
        return None
    labels = method_labels(rows)
    panels = []
    logx = param not in ("layer",)
    # Ticks at the swept values themselves: on a log axis spanning less than a decade
    # Bokeh put a label every 500 (512..4096 read "2500300035004000" in a third-width plot).
    values = sorted({float(r["value"]) for r in rows if isinstance(r.get("value"), (int, float))})
    xticks = [(v, f"{v:g}") for v in values] if 0 < len(values) <= 12 else None
    for y, title in (
        ("median_s", "time (s)"),
        ("rel_error", "relative error vs float64 exact"),
        ("speedup", "speedup over exact SDPA"),
    ):
        layers = []
        ys: list[float] = []
        for k, label in enumerate(labels):
            data = _series(rows, label, y)
            if not data["x"]:
                continue
            ys += [float(v) for v in data[y] if isinstance(v, (int, float)) and v > 0]
            color = run_color(k)
            layers.append(
                hv.Curve(data, "x", y, label=label).opts(color=color, line_width=2)
                * hv.Scatter(data, "x", y).opts(color=color, size=6, tools=["hover"])
            )
        if layers:
            # A lone point (or a flat line) gives a log axis no span of its own: Bokeh then
            # showed 1e-2..1 with the one point, an error of 4e-7, off the frame.
            flat = bool(ys) and max(ys) < 1.5 * min(ys)
            ylim = (min(ys) / 4, max(ys) * 4) if flat else (None, None)
            panels.append(
                hv.Overlay(layers).opts(
                    logx=logx,
                    logy=True,
                    ylim=ylim,
                    yticks=_log_ticks(*(ylim if flat else (min(ys), max(ys)))) if ys else None,
                    xticks=xticks,
                    padding=(0.08, 0.1),  # the end points (and their ticks) off the frame
                    responsive=True,
                    height=280,
                    show_grid=True,
                    xlabel=param,
                    ylabel=title,
                    title=f"{title} by {param}",
                    # the page shows one legend above the three (sweep_legend): inside
                    # each frame it covered the curves
                    show_legend=False,
                )
            )
    if not panels:
        return None
    return hv.Layout(panels).cols(3).opts(shared_axes=False)


def _log_ticks(lo: float, hi: float) -> list[tuple[float, str]] | None:
    """Ticks at 1, 2 and 5 times powers of ten from ``lo`` to ``hi``, where the span is
    under two decades (None: Bokeh's own). Within one decade Bokeh's log ticker labelled
    only its ends: speedups of 0.13 to 1.1 had no label below 0.5."""
    if not 0 < lo <= hi or hi / lo >= 100:
        return None
    ticks = []
    for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**e
            if lo / 1.3 <= v <= hi * 1.3:  # the padding shows a little past the points
                ticks.append((v, f"{v:g}"))
    return ticks if len(ticks) >= 2 else None


def _ms(seconds: Any) -> str:
    """Milliseconds with three significant digits and never an exponent (a range read
    "859-1.07e+03")."""
    if not isinstance(seconds, (int, float)):
        return "-"
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.3g}"


def results_table(rows: list[dict[str, Any]]) -> str:
    """Every measured row as an HTML table."""
    if not rows:
        return ""

    def num(v: Any, spec: str) -> str:
        return "-" if not isinstance(v, (int, float)) else format(v, spec)

    body = "".join(
        f"<tr data-label='{html.escape(r['label'], quote=True)}'>"
        f"<td>{html.escape(r['label'])}</td><td>{r['n']}</td>"
        f"<td>{'' if r.get('value') is None else html.escape(str(r['value']))}</td>"
        f"<td>{_ms(r['median_s'])} ms</td>"
        f"<td>{_ms(r['p20_s'])}-{_ms(r['p80_s'])}</td>"
        f"<td>{num(r.get('speedup'), '.3g')}x</td><td>{num(r.get('rel_error'), '.3e')}</td>"
        f"<td>{num(r.get('v_error'), '.3e')}</td>"
        f"<td>{num(r.get('max_error'), '.2e')}</td><td>{num(r.get('recall'), '.3f')}</td>"
        f"<td>{num(r.get('flops'), '.3g')}</td><td>{num(r['peak_bytes'] / 2**20, '.3g')} MiB</td>"
        "</tr>"
        for r in rows
    )
    return (
        "<table class='tb-table' style='width: 100%; font-size: 12px'><thead><tr>"
        "<th>method</th><th>n</th><th>swept</th><th>median</th><th>p20-p80 (ms)</th>"
        "<th>speedup</th>"
        "<th title='||O~ - O|| / ||O||: far above 1 when attention spreads over many random "
        "values (each output row is their average, near zero)'>relative error</th>"
        "<th title='||O~ - O|| / (sqrt(rows) x rms row of V): the same error against the "
        "size of the values, the scale of HyperAttention&#39;s guarantee'>error vs V</th>"
        "<th>max error</th><th>recall</th>"
        "<th>flops (counted)</th><th>peak memory</th></tr></thead><tbody>"
        + body
        + "</tbody></table>"
    )
