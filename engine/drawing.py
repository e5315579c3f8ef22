"""Pictures of a network: SVG, TikZ and PNG, drawn like the app's diagram.

All three start from :func:`tensorbench.engine.layout.diagram_geometry` -- the geometry the
app draws -- placed on one pixel canvas (:func:`scene`), so a picture exported from any
of them shows the same positions, widths, colours and labels as the app. Tensors are
circles with their names, bonds are lines whose width grows with the dimension (labelled
with it), open and summed legs end in small squares with their index and size, and a
hyperedge is a red diamond hub joined to its tensors by dashed lines.

Names are user text: SVG escapes it for XML, TikZ escapes LaTeX's special characters and
the PNG draws it as plain text (matplotlib's mathtext is off), so any name is shown as
typed. Matplotlib is imported only inside :func:`to_png`.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

from .layout import LEG_LABEL_OUT, diagram_geometry

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network

__all__ = ["Scene", "latex_escape", "scene", "to_png", "to_svg", "to_tikz"]

#: Pixels between neighbouring tensors (the geometry's typical bond length).
BOND_PX = 110.0
#: Empty border around the drawing, in pixels.
MARGIN_PX = 24.0
NAME_FONT_PX = 11.0
LABEL_FONT_PX = 10.0
TITLE_FONT_PX = 14.0
#: Largest PNG side in pixels: bigger drawings are rendered at a lower resolution.
MAX_PNG_SIDE = 8000
#: Centimetres per canvas pixel in TikZ: neighbouring tensors sit 1.8 cm apart.
CM_PER_PX = 1.8 / BOND_PX
FONT_FAMILY = "DejaVu Sans, Helvetica, Arial, sans-serif"

# The app's colours (widgets/network_view.py) so exports look like the diagram.
LINE_COLORS = {"bond": "#555555", "open": "#888888", "summed": "#bbbbbb", "hyper": "#d62728"}
LABEL_COLORS = {"bond": "#1a4d80", "open": "#444444", "summed": "#999999", "hyper": "#d62728"}
HUB_HALF = 9.0  # half diagonal of a hub's diamond, px
LEG_END_HALF = 3.0  # half side of a leg end's square, px
SIDE_GAP_PX = 4.0  # between a sideways leg's end and its label
SIDEWAYS = 0.35  # |x| of a leg's unit direction from which its label runs beside it
#: TikZ anchors of the labels' SVG text anchors.
_TIKZ_ANCHOR = {"middle": "", "start": ", anchor=west", "end": ", anchor=east"}


@dataclass
class Scene:
    """A network laid out on a pixel canvas (y grows downwards, as in SVG).

    Every list holds plain dicts; coordinates are pixels inside ``width`` x ``height``.
    """

    width: float
    height: float
    title: str | None
    lines: list[dict[str, Any]] = field(default_factory=list)  # x0 y0 x1 y1 width kind index
    leg_ends: list[dict[str, Any]] = field(default_factory=list)  # x y kind index size
    hubs: list[dict[str, Any]] = field(default_factory=list)  # x y index size degree
    nodes: list[dict[str, Any]] = field(default_factory=list)  # x y r name color shape indices
    labels: list[dict[str, Any]] = field(default_factory=list)  # x y text kind


def _text_width(text: str, font_px: float) -> float:
    """A generous estimate of the width of ``text`` (for margins, not for layout)."""
    return 0.62 * font_px * len(text)


def scene(net: Network, *, seed: int = 0) -> Scene:
    """Place the app's diagram geometry of ``net`` on a pixel canvas with margins.

    Parameters
    ----------
    net : Network
        The network; tensors without positions get the app's automatic layout.
    seed : int
        Seed of that layout (the app uses the config's seed).

    Returns
    -------
    Scene
        Pixel coordinates of every line, leg end, hub, tensor and label.
    """
    geo = diagram_geometry(net, seed=seed)
    unit = BOND_PX / (geo.scale if geo.scale > 1e-12 else 1.0)

    def px(x: float, y: float) -> tuple[float, float]:
        return float(x) * unit, -float(y) * unit  # flip: data y grows upwards

    lines, leg_ends, hubs, nodes, labels = [], [], [], [], []
    for e in geo.edges:
        x0, y0 = px(e["x0"], e["y0"])
        x1, y1 = px(e["x1"], e["y1"])
        lines.append(
            {
                "x0": x0,
                "y0": y0,
                "x1": x1,
                "y1": y1,
                "width": float(e["width"]),
                "kind": e["kind"],
                "index": e["index"],
                "size": e["size"],
            }
        )
    for p in geo.leg_ends:
        x, y = px(p["x"], p["y"])
        leg_ends.append({"x": x, "y": y, "kind": p["kind"], "index": p["index"], "size": p["size"]})
    for h in geo.hubs:
        x, y = px(h["x"], h["y"])
        hubs.append({"x": x, "y": y, "index": h["index"], "size": h["size"], "degree": h["degree"]})
    for n in geo.nodes:
        x, y = px(n["x"], n["y"])
        # The app's "radius" is a Bokeh marker size, i.e. a diameter in pixels.
        nodes.append(
            {
                "x": x,
                "y": y,
                "r": n["radius"] / 2 + 2,
                "name": n["name"],
                "color": n["color"],
                "shape": n["shape"],
                "indices": n["indices"],
            }
        )
    for lab in geo.labels:
        x, y = px(lab["x"], lab["y"])
        anchor = "middle"
        if abs(lab.get("dx", 0.0)) > SIDEWAYS:
            # A sideways leg: the label starts (or ends) just past its tip, as on the
            # canvas; centred further out, "p1_0 (2)" (~40 px) covered the tip.
            dx, dy = lab["dx"], lab["dy"]
            back = LEG_LABEL_OUT * geo.scale * unit - LEG_END_HALF - SIDE_GAP_PX
            x, y = x - dx * back, y + dy * back  # screen y runs down
            anchor = "start" if dx > 0 else "end"
        labels.append({"x": x, "y": y, "text": lab["text"], "kind": lab["kind"], "anchor": anchor})

    # Bounding box of everything drawn, text included, then shift it inside the margins.
    xs0, xs1, ys0, ys1 = [], [], [], []

    def extent(x: float, y: float, half_w: float, half_h: float) -> None:
        xs0.append(x - half_w)
        xs1.append(x + half_w)
        ys0.append(y - half_h)
        ys1.append(y + half_h)

    for ln in lines:
        extent(ln["x0"], ln["y0"], ln["width"] / 2, ln["width"] / 2)
        extent(ln["x1"], ln["y1"], ln["width"] / 2, ln["width"] / 2)
    for p in leg_ends:
        extent(p["x"], p["y"], LEG_END_HALF, LEG_END_HALF)
    for h in hubs:
        extent(h["x"], h["y"], HUB_HALF, HUB_HALF)
    for n in nodes:
        half = max(n["r"], _text_width(n["name"], NAME_FONT_PX) / 2)
        extent(n["x"], n["y"], half, n["r"])
    for lab in labels:
        w = _text_width(lab["text"], LABEL_FONT_PX)
        shift = {"start": w / 2, "end": -w / 2}.get(lab["anchor"], 0.0)
        extent(lab["x"] + shift, lab["y"], w / 2, LABEL_FONT_PX)
    title = net.name or None
    top = MARGIN_PX + (TITLE_FONT_PX * 2 if title else 0.0)
    dx, dy = MARGIN_PX - min(xs0), top - min(ys0)
    width = max(xs1) - min(xs0) + 2 * MARGIN_PX
    if title:
        width = max(width, _text_width(title, TITLE_FONT_PX) + 2 * MARGIN_PX)
        dx += (width - (max(xs1) - min(xs0) + 2 * MARGIN_PX)) / 2  # centre under the title
    height = max(ys1) - min(ys0) + top + MARGIN_PX
    for item in (*leg_ends, *hubs, *nodes, *labels):
        item["x"] += dx
        item["y"] += dy
    for ln in lines:
        ln["x0"] += dx
        ln["x1"] += dx
        ln["y0"] += dy
        ln["y1"] += dy
    return Scene(math.ceil(width), math.ceil(height), title, lines, leg_ends, hubs, nodes, labels)


def _leg_end_color(kind: str) -> str:
    return LINE_COLORS["summed"] if kind == "summed" else LINE_COLORS["open"]


# ------------------------------------------------------------------------------------ SVG

# Characters XML 1.0 forbids; names are printable already, this also guards other text.
_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return escape(_XML_BAD.sub("\ufffd", text))


def _xml_attr(text: str) -> str:
    return quoteattr(_XML_BAD.sub("\ufffd", text))


def _f(x: float) -> str:
    return f"{x:.2f}"


def to_svg(net: Network, *, seed: int = 0) -> str:
    """Return a standalone SVG drawing of ``net``, like the app's diagram.

    Parameters
    ----------
    net : Network
        The network to draw.
    seed : int
        Seed of the automatic layout for tensors without positions.

    Returns
    -------
    str
        An SVG document (UTF-8, no external resources); hovering a tensor, leg or hub in a
        browser shows its details.
    """
    from . import __version__

    sc = scene(net, seed=seed)
    w, h = sc.width, sc.height
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family={_xml_attr(FONT_FAMILY)} role="img">',
        f"<title>{_xml_text(sc.title or 'tensor network')}</title>",
        f"<desc>{_xml_text(f'Drawn by tensorbench {__version__}: {len(sc.nodes)} tensors')}</desc>",
        f'<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>',
    ]
    if sc.title:
        out.append(
            f'<text x="{_f(w / 2)}" y="{_f(MARGIN_PX + TITLE_FONT_PX / 2)}" '
            f'font-size="{TITLE_FONT_PX:g}" font-weight="bold" text-anchor="middle" '
            f'dominant-baseline="central" fill="#222222">{_xml_text(sc.title)}</text>'
        )
    out.append('<g class="edges" stroke-linecap="round">')
    for ln in sc.lines:
        dash = (
            ' stroke-dasharray="6 4" stroke-opacity="0.8" stroke-linecap="butt"'
            if ln["kind"] == "hyper"
            else ""
        )
        tip = f"{ln['index']} ({ln['size']}, {ln['kind']})"
        out.append(
            f'<line x1="{_f(ln["x0"])}" y1="{_f(ln["y0"])}" x2="{_f(ln["x1"])}" '
            f'y2="{_f(ln["y1"])}" stroke="{LINE_COLORS[ln["kind"]]}" '
            f'stroke-width="{_f(ln["width"])}"{dash}><title>{_xml_text(tip)}</title></line>'
        )
    out.append("</g>")
    out.append('<g class="legs">')
    for p in sc.leg_ends:
        s = LEG_END_HALF
        out.append(
            f'<rect x="{_f(p["x"] - s)}" y="{_f(p["y"] - s)}" width="{_f(2 * s)}" '
            f'height="{_f(2 * s)}" fill="{_leg_end_color(p["kind"])}"/>'
        )
    out.append("</g>")
    out.append('<g class="hubs">')
    for hub in sc.hubs:
        x, y, d = hub["x"], hub["y"], HUB_HALF
        pts = f"{_f(x)},{_f(y - d)} {_f(x + d)},{_f(y)} {_f(x)},{_f(y + d)} {_f(x - d)},{_f(y)}"
        tip = f"hyperedge {hub['index']} ({hub['size']}, {hub['degree']} ends)"
        out.append(
            f'<polygon points="{pts}" fill="{LINE_COLORS["hyper"]}" stroke="white" '
            f'stroke-width="1.5"><title>{_xml_text(tip)}</title></polygon>'
        )
    out.append("</g>")
    out.append(f'<g class="tensors" font-size="{NAME_FONT_PX:g}" font-weight="bold">')
    for n in sc.nodes:
        tip = f"{n['name']}: indices {n['indices'] or '-'}, shape {n['shape']}"
        out += [
            "<g>",
            f"<title>{_xml_text(tip)}</title>",
            f'<circle cx="{_f(n["x"])}" cy="{_f(n["y"])}" r="{_f(n["r"])}" '
            f'fill="{n["color"]}" stroke="white" stroke-width="2"/>',
            # A stroke in the node's colour keeps long names readable outside the circle.
            f'<text x="{_f(n["x"])}" y="{_f(n["y"])}" text-anchor="middle" '
            f'dominant-baseline="central" fill="white" stroke="{n["color"]}" '
            f'stroke-width="3" paint-order="stroke">{_xml_text(n["name"])}</text>',
            "</g>",
        ]
    out.append("</g>")
    out.append(f'<g class="labels" font-size="{LABEL_FONT_PX:g}" text-anchor="middle">')
    for lab in sc.labels:
        out.append(
            f'<text x="{_f(lab["x"])}" y="{_f(lab["y"])}" dominant-baseline="central" '
            + (f'text-anchor="{lab["anchor"]}" ' if lab["anchor"] != "middle" else "")
            + f'fill="{LABEL_COLORS[lab["kind"]]}">{_xml_text(lab["text"])}</text>'
        )
    out += ["</g>", "</svg>", ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------------- TikZ

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\^{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\textasciitilde{}",
    # Not special, but the default OT1 font encoding prints these as other glyphs.
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}


def latex_escape(text: str) -> str:
    """``text`` as LaTeX that typesets it literally (``\\ { } $ & # ^ _ % ~`` escaped).

    A Greek capital sigma (the summed-leg marker) becomes ``$\\Sigma$``, which pdflatex
    can typeset; other Unicode is passed through for a UTF-8 document.
    """
    out = "".join(_LATEX_SPECIALS.get(c, c) for c in text)
    return out.replace("Σ", r"$\Sigma$")


def _cm(x: float) -> str:
    return f"{x * CM_PER_PX:.3f}"


def to_tikz(net: Network, *, seed: int = 0) -> str:
    """Return a ``tikzpicture`` of ``net``, like the app's diagram.

    The picture needs only ``\\usepackage{tikz}`` (no TikZ libraries): ``\\input`` it in a
    document or paste it into one; it defines its colours inside the picture.

    Parameters
    ----------
    net : Network
        The network to draw.
    seed : int
        Seed of the automatic layout for tensors without positions.

    Returns
    -------
    str
        LaTeX source from ``\\begin{tikzpicture}`` to ``\\end{tikzpicture}``, preceded by
        comment lines.
    """
    from . import __version__

    sc = scene(net, seed=seed)

    def pt(x: float, y: float) -> str:
        return f"({_cm(x)},{_cm(-y)})"  # canvas y grows down, TikZ y grows up

    colors: dict[str, str] = {}

    def color(hex_code: str) -> str:
        return colors.setdefault(hex_code.lower(), f"tbc{len(colors)}")

    px_to_pt = CM_PER_PX * 72.27 / 2.54
    body: list[str] = []
    if sc.title:
        body.append(
            f"\\node[font=\\small\\bfseries] at {pt(sc.width / 2, MARGIN_PX + TITLE_FONT_PX / 2)}"
            f" {{{latex_escape(sc.title)}}};"
        )
    for ln in sc.lines:
        style = f"draw={color(LINE_COLORS[ln['kind']])}, line width={ln['width'] * px_to_pt:.2f}pt"
        if ln["kind"] == "hyper":
            style += ", dashed"
        body.append(f"\\draw[{style}] {pt(ln['x0'], ln['y0'])} -- {pt(ln['x1'], ln['y1'])};")
    for p in sc.leg_ends:
        s = LEG_END_HALF
        body.append(
            f"\\fill[{color(_leg_end_color(p['kind']))}] {pt(p['x'] - s, p['y'] - s)} "
            f"rectangle {pt(p['x'] + s, p['y'] + s)};"
        )
    for hub in sc.hubs:
        x, y, d = hub["x"], hub["y"], HUB_HALF
        body.append(
            f"\\filldraw[fill={color(LINE_COLORS['hyper'])}, draw=white] {pt(x, y - d)} -- "
            f"{pt(x + d, y)} -- {pt(x, y + d)} -- {pt(x - d, y)} -- cycle;"
        )
    for n in sc.nodes:
        body.append(
            f"\\node[circle, fill={color(n['color'])}, draw=white, line width=0.8pt, "
            f"text=white, font=\\scriptsize\\bfseries, inner sep=1pt, "
            f"minimum size={_cm(2 * n['r'])}cm] at {pt(n['x'], n['y'])} "
            f"{{{latex_escape(n['name'])}}};"
        )
    for lab in sc.labels:
        body.append(
            f"\\node[font=\\tiny, text={color(LABEL_COLORS[lab['kind']])}, inner sep=0.5pt"
            f"{_TIKZ_ANCHOR[lab['anchor']]}] at {pt(lab['x'], lab['y'])} "
            f"{{{latex_escape(lab['text'])}}};"
        )
    title = latex_escape(sc.title) if sc.title else "an unnamed network"
    return "\n".join(
        [
            # The name is escaped here too: a comment is safe anyway, this keeps it readable.
            f"% {title}: drawn by tensorbench {__version__}.",
            "% Needs \\usepackage{tikz} (and a UTF-8 document for non-ASCII names).",
            "\\begin{tikzpicture}",
            *(
                f"\\definecolor{{{name}}}{{HTML}}{{{hex_code.lstrip('#').upper()}}}"
                for hex_code, name in colors.items()
            ),
            *body,
            "\\end{tikzpicture}",
            "",
        ]
    )


# ------------------------------------------------------------------------------------ PNG


def to_png(net: Network, dpi: int = 150, *, seed: int = 0) -> bytes:
    """Return a PNG image of ``net`` drawn with matplotlib (Agg), like the app's diagram.

    Parameters
    ----------
    net : Network
        The network to draw.
    dpi : int
        Resolution: the canvas is laid out at 96 pixels per inch, so ``dpi=150`` draws it
        about 1.56 times larger. Huge networks are drawn at a lower resolution so that no
        side exceeds :data:`MAX_PNG_SIDE` pixels.
    seed : int
        Seed of the automatic layout for tensors without positions.

    Returns
    -------
    bytes
        The PNG file's contents.
    """
    import io

    # Only matplotlib's object API with an explicit Agg canvas: no pyplot global state,
    # so this is safe from a server's worker threads and never needs a display.
    from matplotlib import patheffects
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection, PatchCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, Polygon, Rectangle

    from . import __version__

    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 10 <= dpi <= 1200:
        from .errors import NetworkError

        raise NetworkError(f"dpi must be an integer from 10 to 1200, got {dpi!r}")
    sc = scene(net, seed=seed)
    w_in, h_in = sc.width / 96.0, sc.height / 96.0
    dpi = min(dpi, MAX_PNG_SIDE / max(w_in, h_in))
    fig = Figure(figsize=(w_in, h_in), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, sc.width)
    ax.set_ylim(sc.height, 0)  # canvas y grows downwards
    ax.set_axis_off()
    pt = 72.0 / 96.0  # points per canvas pixel

    for dashed in (False, True):
        sel = [ln for ln in sc.lines if (ln["kind"] == "hyper") == dashed]
        if not sel:
            continue
        ax.add_collection(
            LineCollection(
                [((ln["x0"], ln["y0"]), (ln["x1"], ln["y1"])) for ln in sel],
                linewidths=[ln["width"] * pt for ln in sel],
                colors=[LINE_COLORS[ln["kind"]] for ln in sel],
                linestyles=(0, (4, 3)) if dashed else "solid",
                alpha=0.8 if dashed else 1.0,
                capstyle="round",
                zorder=1,
            )
        )
    s = LEG_END_HALF
    ax.add_collection(
        PatchCollection(
            [Rectangle((p["x"] - s, p["y"] - s), 2 * s, 2 * s) for p in sc.leg_ends],
            facecolors=[_leg_end_color(p["kind"]) for p in sc.leg_ends],
            edgecolors="none",
            zorder=2,
        )
    )
    d = HUB_HALF
    ax.add_collection(
        PatchCollection(
            [
                Polygon(
                    [
                        (h["x"], h["y"] - d),
                        (h["x"] + d, h["y"]),
                        (h["x"], h["y"] + d),
                        (h["x"] - d, h["y"]),
                    ]
                )
                for h in sc.hubs
            ],
            facecolors=LINE_COLORS["hyper"],
            edgecolors="white",
            linewidths=1.5 * pt,
            zorder=3,
        )
    )
    ax.add_collection(
        PatchCollection(
            [Circle((n["x"], n["y"]), n["r"]) for n in sc.nodes],
            facecolors=[n["color"] for n in sc.nodes],
            edgecolors="white",
            linewidths=2 * pt,
            zorder=4,
        )
    )
    with warnings.catch_warnings():
        # Names in scripts DejaVu Sans lacks (CJK, emoji) draw as boxes; say nothing.
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        if sc.title:
            ax.text(
                sc.width / 2,
                MARGIN_PX + TITLE_FONT_PX / 2,
                sc.title,
                ha="center",
                va="center",
                fontsize=TITLE_FONT_PX * pt,
                fontweight="bold",
                color="#222222",
                parse_math=False,
            )
        for n in sc.nodes:
            ax.text(
                n["x"],
                n["y"],
                n["name"],
                ha="center",
                va="center",
                fontsize=NAME_FONT_PX * pt,
                fontweight="bold",
                color="white",
                parse_math=False,  # "$x$" in a name is text, not mathtext
                zorder=5,
                path_effects=[patheffects.withStroke(linewidth=3 * pt, foreground=n["color"])],
            )
        for lab in sc.labels:
            ax.text(
                lab["x"],
                lab["y"],
                lab["text"],
                ha={"start": "left", "end": "right"}.get(lab["anchor"], "center"),
                va="center",
                fontsize=LABEL_FONT_PX * pt,
                color=LABEL_COLORS[lab["kind"]],
                parse_math=False,
                zorder=6,
            )
        buf = io.BytesIO()
        fig.savefig(
            buf,
            format="png",
            dpi=dpi,
            facecolor="white",
            metadata={"Software": f"tensorbench {__version__}"},
        )
    return buf.getvalue()
