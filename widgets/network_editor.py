"""The network editor: an SVG canvas (``canvas.js``), a toolbar, a selection panel and an
index table, all editing one :class:`~tensorbench.widgets.network_state.NetworkState`.

The canvas only draws and reports gestures; every edit is a pure function from
:mod:`tensorbench.engine.edit` applied by the state, so a drawing is always a valid
network and every change can be undone.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import panel as pn
import param
from bokeh.models import Tooltip
from panel.custom import JSComponent
from panel.viewable import Viewer

from tensorbench.engine import Network
from tensorbench.engine.layout import PALETTE, bond_width, diagram_geometry

from .forms import IntBox
from .plots import TABLE_CSS

__all__ = ["SCALE", "NetworkEditor", "TensorCanvas", "canvas_graph"]

#: Canvas units (CSS pixels at zoom 1) per network position unit.
SCALE = 90.0
#: Above this many tensors the canvas hides text labels (they would cover the drawing).
MAX_LABELLED = 120

_CSS = """
:host { display: block; }
.tb-canvas { width: 100%; height: 100%; background: #fbfcfd;
  border: 1px solid #dde3ea; border-radius: 6px; outline: none; user-select: none;
  touch-action: none; cursor: grab; font-family: system-ui, sans-serif; }
.tb-canvas:focus { border-color: #7aa7d6; }
.tb-hint { fill: #8a98a6; font-size: 14px; }
.tb-body { stroke: white; stroke-width: 2.5; cursor: move; }
.tb-tensor.tb-selected .tb-body { stroke: #0f172a; stroke-width: 3; stroke-dasharray: 5 3; }
.tb-halo { fill: none; stroke: #ff7f0e; stroke-width: 5; opacity: .6; pointer-events: none; }
.tb-name { fill: white; font-size: 11px; font-weight: 600; text-anchor: middle;
  pointer-events: none; }
.tb-connector { fill: white; stroke: #456; stroke-width: 1.5; cursor: crosshair; opacity: .85; }
.tb-connector:hover { fill: #ffd27f; }
.tb-order { fill: #7b8794; font-size: 9px; text-anchor: middle; pointer-events: none; }
.tb-port { fill: #456; pointer-events: none; }
.tb-bond-line { stroke: #5b6670; stroke-linecap: round; cursor: pointer; }
.tb-hyper .tb-bond-line { stroke: #d62728; stroke-dasharray: 6 4; }
.tb-hub { fill: #d62728; stroke: white; stroke-width: 1.5; cursor: pointer; }
.tb-bond.tb-selected .tb-bond-line { stroke: #1f6fd1; }
.tb-bond-label { fill: #1a4d80; font-size: 11px; text-anchor: middle; pointer-events: none; }
.tb-hyper .tb-bond-label { fill: #d62728; }
.tb-leg line { stroke: #8a949e; stroke-linecap: round; }
.tb-summed line { stroke: #c5cbd1; stroke-dasharray: 3 3; }
.tb-leg.tb-selected line { stroke: #1f6fd1; }
.tb-leg-tip { fill: #8a949e; cursor: crosshair; }
.tb-leg.tb-selected .tb-leg-tip { fill: #1f6fd1; }
.tb-leg-label { fill: #444; font-size: 10px; text-anchor: middle; pointer-events: none; }
.tb-temp { stroke: #1f6fd1; stroke-width: 2; stroke-dasharray: 5 4; pointer-events: none; }
.tb-box { fill: rgba(31, 111, 209, .08); stroke: #1f6fd1; stroke-dasharray: 4 3;
  pointer-events: none; }
"""


def _revert_when_refused(
    widget: Any, apply: Callable[[Any], bool], current: Callable[[], Any]
) -> None:
    """Apply each new value of ``widget``; when the edit is refused, show the value in force
    again. The network keeps its old name or size and the toast says why; a box still
    holding the refused text would read as if the edit had been made."""

    def changed(event: Any) -> None:
        if not apply(event.new):
            try:
                now = current()
            except (KeyError, AttributeError):  # the network changed under the panel
                return
            if event.new != now:
                widget.value = now

    widget.param.watch(changed, "value")


class TensorCanvas(JSComponent):
    """SVG canvas that draws ``graph`` and sends edit gestures to ``on_message``."""

    graph = param.Dict(default={}, doc="What to draw, made by :func:`canvas_graph`.")
    on_message = param.Callable(
        default=None,
        allow_None=True,
        precedence=-1,
        doc="Called with each gesture message from the browser.",
    )

    _esm = Path(__file__).with_name("canvas.js")
    _stylesheets: ClassVar[list[str]] = [_CSS]

    def __init__(self, on_message: Any = None, **params: Any) -> None:
        """``on_message(msg)`` receives each gesture (a plain attribute, not synced to JS)."""
        super().__init__(**params)
        self._on_message = on_message

    def _handle_msg(self, msg: Any) -> None:
        if self._on_message is not None and isinstance(msg, dict):
            self._on_message(msg)


def _radius(name: str) -> float:
    return float(min(30, max(18, 3.6 * len(name) + 8)))


def canvas_graph(
    net: Network | None,
    *,
    selection: dict[str, list[str]] | None = None,
    hot: list[str] | None = None,
    fit: bool = False,
    revision: int = 0,
) -> dict[str, Any]:
    """The canvas's drawing of ``net`` in canvas units (y down), with leg order and sizes.

    Open-leg directions come from :func:`~tensorbench.engine.layout.diagram_geometry`, so the
    canvas and every export agree on where legs point.
    """
    selection = selection or {"tensors": [], "indices": []}
    if net is None:
        return {
            "tensors": [],
            "bonds": [],
            "selection": selection,
            "hot": [],
            "fit": fit,
            "revision": revision,
        }
    geo = diagram_geometry(net)
    placed = net.with_layout()
    sizes = net.sizes
    leg_dir: dict[str, tuple[float, float]] = {}
    for e in geo.edges:
        if e["kind"] in ("open", "summed"):
            dx, dy = e["x1"] - e["x0"], e["y1"] - e["y0"]
            d = math.hypot(dx, dy) or 1.0
            leg_dir[e["index"]] = (dx / d, -dy / d)  # canvas y points down
    groups: dict[str, int] = {}
    tensors = []
    for t in placed.tensors:
        group = t.tags[0] if t.tags else "tensor"
        groups.setdefault(group, len(groups))
        legs = []
        for k, ix in enumerate(t.indices):
            kind = net.kind(ix)
            leg = {"index": ix, "order": k, "kind": kind, "size": sizes[ix]}
            if kind in ("open", "summed"):
                label = f"{ix} ({sizes[ix]})" if kind == "open" else f"Σ{ix} ({sizes[ix]})"
                leg |= {
                    "dir": list(leg_dir.get(ix, (0.0, 1.0))),
                    "width": bond_width(sizes[ix]),
                    "label": label,
                }
            legs.append(leg)
        shape = "x".join(str(sizes[ix]) for ix in t.indices) or "scalar"
        assert t.pos is not None
        tensors.append(
            {
                "id": t.name,
                "name": t.name,
                "x": t.pos[0] * SCALE,
                "y": -t.pos[1] * SCALE,
                "r": _radius(t.name),
                "color": PALETTE[groups[group] % len(PALETTE)],
                "legs": legs,
                "shape": f"({shape})",
            }
        )
    bonds = []
    pair_seen: dict[tuple[str, ...], int] = {}
    pair_total: dict[tuple[str, ...], int] = {}
    for ix in net.indices:
        if net.kind(ix) == "bond":
            key = tuple(sorted(net.tensors[k].name for k in net.tensors_with(ix)))
            pair_total[key] = pair_total.get(key, 0) + 1
    for ix in net.indices:
        kind = net.kind(ix)
        if kind not in ("bond", "hyper"):
            continue
        names = [net.tensors[k].name for k in net.tensors_with(ix)]
        entry = {
            "index": ix,
            "size": sizes[ix],
            "kind": kind,
            "tensors": names,
            "width": bond_width(sizes[ix]),
            "label": str(sizes[ix]) if kind == "bond" else f"{ix}={sizes[ix]}",
        }
        if kind == "bond":
            key = tuple(sorted(names))
            j = pair_seen.get(key, 0)
            pair_seen[key] = j + 1
            entry["offset"] = j - (pair_total[key] - 1) / 2
            entry["bundle"] = (pair_total[key] - 1) / 2  # the outermost offset of its pair
        bonds.append(entry)
    return {
        "tensors": tensors,
        "bonds": bonds,
        "selection": selection,
        "hot": hot or [],
        "fit": fit,
        "labels": len(tensors) <= MAX_LABELLED,
        "revision": revision,
    }


class NetworkEditor(Viewer):
    """Canvas, toolbar, selection panel and index table over a NetworkState."""

    state = param.Parameter(doc="The page's NetworkState.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.canvas = TensorCanvas(on_message=self.handle, sizing_mode="stretch_width", height=460)
        self._revision = 0
        self._fit_next = True
        self._names: set[str] = set()
        self._replaced = self.state.replaced
        self.hot: list[str] = []

        def button(label: str, handler: Any, tip: str) -> pn.widgets.Button:
            # tips below the buttons: to their right (Panel's default), Clear's ran off the
            # window's edge
            below = Tooltip(content=tip, position="bottom")
            b = pn.widgets.Button(
                label=label, description=below, width=92, height=32, margin=(2, 2)
            )
            b.on_click(lambda *_: handler())
            return b

        self.toolbar = pn.Row(
            button("+ Tensor", self.add_tensor, "Add a tensor (or double-click the canvas, N)"),
            button("+ Leg", self.add_legs, "Give each selected tensor an open leg (L)"),
            button("Connect", self.connect_selected, "Bond the two selected tensors (C)"),
            button("Hyperedge", self.hyperedge_selected, "Join the selected tensors (H)"),
            button("Delete", self.delete_selected, "Delete the selection (Del)"),
            button("Undo", self.state.undo, "Undo (Ctrl+Z)"),
            button("Redo", self.state.redo, "Redo (Ctrl+Y)"),
            button("Layout", self.layout, "Place the tensors automatically (R)"),
            button("Fit", self.fit, "Fit the drawing in view (F)"),
            button("Clear", self.clear, "Start from an empty canvas"),
            sizing_mode="stretch_width",
            styles={"flex-wrap": "wrap"},
        )
        self.side = pn.Column(width=290, name="selection")
        self.index_table = pn.pane.HTML(
            "", sizing_mode="stretch_width", name="index-table", stylesheets=[TABLE_CSS]
        )
        self.einsum = pn.pane.HTML("", sizing_mode="stretch_width", name="einsum")
        self.state.param.watch(self._refresh, ["config", "selection"])
        self._refresh()

    # ------------------------------------------------------------------ gestures

    def handle(self, msg: dict[str, Any]) -> None:
        """Apply one gesture message from the canvas."""
        kind = msg.get("type")
        s = self.state
        if kind == "add_tensor":
            s.add_tensor(self._to_net(msg.get("x", 0.0), msg.get("y", 0.0)))
        elif kind == "move":
            s.move({k: self._to_net(*v) for k, v in (msg.get("positions") or {}).items()})
        elif kind == "connect":
            a, b = msg.get("a") or {}, msg.get("b") or {}
            s.connect((a.get("tensor"), a.get("index")), (b.get("tensor"), b.get("index")))
        elif kind == "select":
            s.select(list(msg.get("tensors") or []), list(msg.get("indices") or []))
        elif kind == "add_leg":
            s.add_legs([msg.get("tensor")])
        elif kind == "delete":
            self.delete_selected()
        elif kind == "undo":
            s.undo()
        elif kind == "redo":
            s.redo()
        elif kind == "shortcut":
            {
                "l": self.add_legs,
                "c": self.connect_selected,
                "h": self.hyperedge_selected,
                "r": self.layout,
            }.get(msg.get("key", ""), lambda: None)()

    @staticmethod
    def _to_net(x: Any, y: Any) -> tuple[float, float]:
        return (float(x) / SCALE, -float(y) / SCALE)

    # ------------------------------------------------------------------ toolbar actions

    def add_tensor(self) -> None:
        """Add a tensor right of the rightmost one (or at the origin)."""
        net = self.state.network
        x = 0.0 if net is None else max(t.pos[0] for t in net.with_layout().tensors) + 1.2
        self.state.add_tensor((x, 0.0))

    def add_legs(self) -> None:
        """An open leg on each selected tensor."""
        self.state.add_legs(self.state.selection.get("tensors", []))

    def connect_selected(self) -> None:
        """Bond the two selected tensors."""
        sel = self.state.selection.get("tensors", [])
        if len(sel) != 2:
            self.state.error = "select exactly two tensors to connect (shift-click the second)"
            return
        self.state.connect((sel[0], None), (sel[1], None))

    def hyperedge_selected(self) -> None:
        """Join the selected tensors by one new index."""
        self.state.hyperedge(self.state.selection.get("tensors", []))

    def delete_selected(self) -> None:
        """Delete the selected tensors and indices."""
        sel = self.state.selection
        self.state.delete(sel.get("tensors", []), sel.get("indices", []))

    def layout(self) -> None:
        """Auto-layout, then fit the view."""
        self._fit_next = True
        self.state.auto_layout()

    def fit(self) -> None:
        """Fit the drawing in the canvas."""
        self._fit_next = True
        self._refresh()

    def clear(self) -> None:
        """Start an empty canvas (undoable)."""
        self.state.clear()

    def set_hot(self, names: list[str]) -> None:
        """Highlight tensors (e.g. those under the largest intermediate)."""
        if names != self.hot:
            self.hot = names
            self._refresh()

    # ------------------------------------------------------------------ views

    def _refresh(self, *_: Any) -> None:
        self._revision += 1
        net = self.state.network
        names = set() if net is None else {t.name for t in net.tensors}
        # A new network (template, upload, example, import, hand-off; undoing a clear) is
        # fitted into view; adding or deleting a tensor on the canvas keeps the view where
        # the user put it. Replacements say so: by names alone, a 3-tensor einsum import
        # after a 4-tensor one (T0..T2 after T0..T3) looked like one tensor deleted.
        if len(names ^ self._names) > 1 or self.state.replaced != self._replaced:
            self._fit_next = True
        self._names = names
        self._replaced = self.state.replaced
        self.canvas.graph = canvas_graph(
            net,
            selection=self.state.selection,
            hot=self.hot,
            fit=self._fit_next,
            revision=self._revision,
        )
        self._fit_next = False
        self.side.objects = self._side_objects()
        self.index_table.object = self._table_html()
        self.einsum.object = self._einsum_html()

    def _side_objects(self) -> list[Any]:
        net = self.state.network
        sel = self.state.selection
        tensors, indices = sel.get("tensors", []), sel.get("indices", [])
        if net is None or (not tensors and not indices):
            return [
                pn.pane.Markdown(
                    "**Nothing selected.** Double-click the canvas (or press **N**) to add a "
                    "tensor; drag a tensor's small ring to another tensor to bond them; drag a "
                    "leg's square tip onto another leg, tensor or bond to join it. Click to "
                    "select, shift-click or shift-drag to select more. **Del** deletes, "
                    "**Ctrl+Z / Ctrl+Y** undo and redo.",
                    sizing_mode="stretch_width",
                    styles={"font-size": "12px"},
                )
            ]
        if len(tensors) == 1 and not indices:
            return self._tensor_panel(net, tensors[0])
        if len(indices) == 1 and not tensors:
            return self._index_panel(net, indices[0])
        parts = []
        if tensors:
            parts.append(f"{len(tensors)} tensors")
        if indices:
            parts.append(f"{len(indices)} indices")
        return [
            pn.pane.Markdown(
                f"**{html.escape(' and '.join(parts))} selected.** "
                "Connect (C) two tensors, make a hyperedge (H) from three or "
                "more, add legs (L), drag to move them together, or delete.",
                sizing_mode="stretch_width",
                styles={"font-size": "12px"},
            )
        ]

    def _tensor_panel(self, net: Network, name: str) -> list[Any]:
        try:
            t = net.tensor(name)
        except KeyError:
            return []
        rename = pn.widgets.TextInput(
            label="tensor name", value=t.name, sizing_mode="stretch_width"
        )
        _revert_when_refused(rename, lambda v: self.state.rename_tensor(name, v), lambda: name)
        rows: list[Any] = [
            rename,
            pn.pane.Markdown(
                "**Legs in axis order** (the order of the array and of generated code):",
                styles={"font-size": "12px"},
                margin=(4, 5, 0, 5),
            ),
        ]
        for k, ix in enumerate(t.indices):
            up = pn.widgets.Button(label="↑", width=34, height=30, disabled=k == 0, margin=(2, 1))
            down = pn.widgets.Button(
                label="↓", width=34, height=30, disabled=k == len(t.indices) - 1, margin=(2, 1)
            )
            pick = pn.widgets.Button(
                label=f"{k}: {ix} ({net.sizes[ix]}, {net.kind(ix)})",
                width=170,
                height=30,
                margin=(2, 1),
                description="select this index",
            )
            up.on_click(lambda *_, k=k: self.state.move_leg(name, k, -1))
            down.on_click(lambda *_, k=k: self.state.move_leg(name, k, +1))
            pick.on_click(lambda *_, ix=ix: self.state.select([], [ix]))
            rows.append(pn.Row(pick, up, down, margin=0))
        add = pn.widgets.Button(label="+ open leg", width=120, height=30)
        add.on_click(lambda *_: self.state.add_legs([name]))
        rows.append(add)
        return rows

    def _index_panel(self, net: Network, ix: str) -> list[Any]:
        if ix not in net.sizes:
            return []
        rename = pn.widgets.TextInput(label="index name", value=ix, sizing_mode="stretch_width")
        _revert_when_refused(rename, lambda v: self.state.rename_index(ix, v), lambda: ix)
        size = IntBox(label="size (dimension)", value=net.sizes[ix], sizing_mode="stretch_width")
        _revert_when_refused(
            size, lambda v: self.state.set_size(ix, v), lambda: self.state.network.sizes[ix]
        )
        holders = ", ".join(net.tensors[k].name for k in net.tensors_with(ix))
        info = pn.pane.Str(f"{net.kind(ix)} index on {holders}", styles={"font-size": "12px"})
        delete = pn.widgets.Button(label="Delete index", width=120, height=30)
        delete.on_click(lambda *_: self.state.delete([], [ix]))
        return [rename, size, info, delete]

    def _einsum_html(self) -> str:
        net = self.state.network
        if net is None:
            return ""
        eq, _shapes = net.to_einsum()
        # past 52 indices the symbols leave a-z, A-Z (opt_einsum's), which numpy.einsum
        # and torch.einsum refuse: said, so a copied string's failure is no surprise
        note = (
            " <span class='tb-einsum-note'>(more than 52 indices: symbols beyond a-z, A-Z, "
            "for opt_einsum.contract; numpy.einsum and torch.einsum take only those 52)</span>"
            if not eq.isascii()
            else ""
        )
        if len(eq) > 400:
            eq = eq[:397] + "..."
        return (
            "<div style='font-size: 12px; color: #5a6b7b'>einsum: "
            f"<code data-testid='einsum'>{html.escape(eq)}</code>{note}</div>"
        )

    def _table_html(self) -> str:
        net = self.state.network
        if net is None:
            return "<div class='tb-table'>no indices</div>"
        sel = set(self.state.selection.get("indices", []))
        rows = "".join(
            f"<tr class='{'sel' if ix in sel else ''}' data-index='{html.escape(ix, quote=True)}'>"
            f"<td>{html.escape(ix)}</td><td>{net.sizes[ix]}</td><td>{net.kind(ix)}</td>"
            f"<td>{html.escape(', '.join(net.tensors[k].name for k in net.tensors_with(ix)))}"
            "</td></tr>"
            for ix in net.indices
        )
        return (
            "<table class='tb-table'><thead><tr><th>index</th><th>size</th><th>kind</th>"
            f"<th>tensors</th></tr></thead><tbody>{rows}</tbody></table>"
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.toolbar,
            pn.Row(
                self.canvas,
                self.side,
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
