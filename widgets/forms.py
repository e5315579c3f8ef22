"""Forms generated from the engine's parameter specs: template choice and run settings.

The same :class:`~tensorbench.engine.params.Param` specs drive the CLI's options, so the
app and the command line always offer the same arguments with the same bounds.
"""

from __future__ import annotations

import ast
import decimal
import html
import json
import math
from collections.abc import Callable
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from tensorbench.engine import TEMPLATES, TensorbenchError, get_task
from tensorbench.engine.params import Param
from tensorbench.engine.templates import template_names

from .network_state import CUSTOM

__all__ = [
    "Checkbox",
    "EntriesForm",
    "IntBox",
    "ParamForm",
    "RunSettings",
    "TemplateForm",
    "parse_numbers",
    "value_of",
    "watch_uploads",
    "widget_for",
]


def watch_uploads(widget: pn.widgets.FileInput, handle: Callable[[bytes, str], Any]) -> None:
    """Call ``handle(content, filename)`` for every file chosen in ``widget``.

    Empty files too: the browser sends one as no content, which reads as nothing chosen,
    so they were skipped without a word. And the same file again: the input is cleared
    after each file, as the browser sends nothing for the file it already holds (a user
    reloading a file to undo edits saw nothing happen).
    """
    busy = False

    def fire(*_: Any) -> None:
        nonlocal busy
        name, content = widget.filename, widget.value or b""
        if busy or not name or isinstance(name, list):
            return  # our own reset below, or the input cleared
        # Forgotten here and in the browser before the file is handled, so the next
        # file, the same or not, is news. Cleared after it, the clear could reach the
        # browser after the next file was chosen there, and wipe that one unread.
        busy = True
        try:
            widget.param.update(value=None, filename=None)
        finally:
            busy = False
        widget.clear()
        handle(content, name)

    widget.param.watch(fire, ["value", "filename"])


class Checkbox(Viewer):
    """An on/off box whose label text toggles it too.

    Bokeh 3.9's ``Checkbox`` (Panel's) draws its label as a plain ``div`` beside the input,
    so a click on the words does nothing and only the 13-pixel box responds -- a miss that
    users take for a dead control. This one is a one-option ``CheckBoxGroup``, which
    Bokeh draws as a real ``<label>`` around the input, with a boolean ``value``.

    Parameters
    ----------
    label : str
        The words beside the box.
    value : bool
        Ticked or not.
    disabled : bool
        Greyed out and unclickable.
    visible : bool
        Drawn or hidden.
    **layout
        Layout options of the drawn group (``width``, ``margin``, ``align``, ``styles``,
        ``sizing_mode``, ...).
    """

    value = param.Boolean(default=False, doc="ticked or not")
    disabled = param.Boolean(default=False, doc="greyed out and unclickable")
    label = param.String(default="", doc="the words beside the box")
    visible = param.Boolean(default=True, doc="drawn or hidden")

    def __init__(
        self,
        *,
        label: str = "",
        value: bool = False,
        disabled: bool = False,
        visible: bool = True,
        **layout: Any,
    ) -> None:
        super().__init__(label=label, value=value, disabled=disabled, visible=visible)
        self._group = pn.widgets.CheckBoxGroup(
            options=[label],
            value=[label] if value else [],
            disabled=disabled,
            visible=visible,
            inline=True,
            **layout,
        )
        self._group.param.watch(lambda e: setattr(self, "value", bool(e.new)), "value")
        self.param.watch(self._sync, ["value", "disabled", "label", "visible"])

    def _sync(self, *_: Any) -> None:
        self._group.param.update(
            options=[self.label],
            value=[self.label] if self.value else [],
            disabled=self.disabled,
            visible=self.visible,
        )

    def __panel__(self) -> pn.widgets.CheckBoxGroup:
        return self._group


class FloatBox(pn.widgets.FloatInput):
    """A box for a real number; emptied, it shows empty (not "NaN") and holds None, which
    the check that reads it refuses with "is empty" or, for an optional value, takes as
    "not given"."""

    @staticmethod
    def _nan_as_none(msg: dict[str, Any]) -> dict[str, Any]:
        # an empty box is shown empty, not as the "NaN" a float box puts there
        for key in ("value", "value_throttled"):
            if isinstance(msg.get(key), float) and math.isnan(msg[key]):
                msg[key] = None
        return msg

    def _process_property_change(self, msg: dict[str, Any]) -> dict[str, Any]:
        return self._nan_as_none(super()._process_property_change(msg))

    def _process_param_change(self, msg: dict[str, Any]) -> dict[str, Any]:
        return self._nan_as_none(super()._process_param_change(msg))


class IntBox(FloatBox):
    """A box for a whole number that reads what people type, "1e3" included.

    Bokeh's integer box (Panel's ``IntInput``) drops every key that is not a digit as it
    is typed, so "1e3" became 13 without a word. This one takes any number; a whole one
    arrives as an ``int``, and a fractional one (2.5) reaches the check that reads the
    value, which says an integer is needed, instead of being cut to 2 on the way. Emptied,
    it shows empty, as a :class:`FloatBox` does.
    """

    def __init__(self, **params: Any) -> None:
        params.setdefault("step", 1)  # the arrows step by one, not by a float box's 0.1
        super().__init__(**params)

    def _process_property_change(self, msg: dict[str, Any]) -> dict[str, Any]:
        for key in ("value", "value_throttled"):
            v = msg.get(key)
            # "1e20" arrives as a Python int beyond int64, which Panel's NaN test cannot
            # take (a TypeError on the server, and the box went on showing it): as a
            # float it reaches the range check, which says why it is refused
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2**63:
                msg[key] = float(v)
        msg = super()._process_property_change(msg)
        v = msg.get("value")
        if isinstance(v, float) and math.isfinite(v) and v.is_integer():
            msg["value"] = int(v)
        return msg


def float_step(p: Param) -> float:
    """Arrow step of ``p``'s box: one unit in the leading digit of its default.

    A float box steps by 0.1 unless told otherwise: one click took a tolerance of 1e-8 to
    0.1 (or below zero). Stepping in the default's own decade (1e-8 by 1e-8, 200 by 100)
    keeps a click a small change; 0.1 where there is no default to go by.
    """
    d = p.default
    if isinstance(d, (int, float)) and not isinstance(d, bool) and d and math.isfinite(d):
        return 10.0 ** math.floor(math.log10(abs(d)))
    return 0.1


def _ints_text(value: Any) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else ", ".join(str(v) for v in value)


def _matrix_text(value: list[list[int]]) -> str:
    return "\n".join(", ".join(str(v) for v in row) for row in value)


def widget_for(p: Param, value: Any) -> pn.widgets.Widget | Checkbox:
    """A widget editing parameter ``p``, showing ``value``."""
    label = p.name.replace("_", " ")
    common = {"label": label, "description": p.doc, "sizing_mode": "stretch_width"}
    # No start/end on number inputs: the browser silently keeps the old value when a typed
    # one is out of bounds; unbounded, the value reaches the Param check, which says why.
    if p.kind in ("int", "float") and p.default is None:
        # an optional number: empty means not given (a computed default, or the option
        # off), which the help says
        common["placeholder"] = "empty: not given (see ?)"
    if p.kind == "int":
        return IntBox(value=value, **common)
    if p.kind == "float":
        return FloatBox(value=value, step=float_step(p), **common)
    if p.kind == "bool":
        # about as wide as its label, so that the help icon (see with_help) sits right
        # after it; never wrapped under its box
        return Checkbox(
            value=value,
            label=label,
            width=min(240, 28 + 6 * len(label)),
            margin=(5, 0, 5, 10),
            styles={"white-space": "nowrap"},
        )
    if p.kind == "choice":
        return pn.widgets.Select(value=value, options=list(p.choices), **common)
    if p.kind == "ints":
        # the default as the example where there is one: Tucker budgets showed "e.g. 4, 4,
        # 4", which reads as a core shape
        example = _ints_text(p.default) if p.default else "4, 4, 4"
        return pn.widgets.TextInput(
            value=_ints_text(value), placeholder=f"e.g. {example}", **common
        )
    if p.kind == "str":
        return pn.widgets.TextInput(value=value or "", **common)
    if p.kind == "json":
        text = "" if value is None else json.dumps(value)
        return pn.widgets.TextAreaInput(value=text, height=80, placeholder="JSON", **common)
    if p.kind == "names":
        return pn.widgets.MultiChoice(value=list(value or []), options=list(p.choices), **common)
    return pn.widgets.TextAreaInput(
        value=_matrix_text(value),
        height=110,
        placeholder="one row per line, e.g.\n6, 2\n2, 6",
        **common,
    )


def _read_json(text: str) -> Any:
    """JSON, or the same value written as a Python literal (``{'dims': [8, 8]}``, as
    people type a dict); ValueError for anything else."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        value = ast.literal_eval(text)
        # JSON values only (tuples become lists); sets, bytes or complex numbers refused
        return json.loads(json.dumps(value, allow_nan=False))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(text) from None


def value_of(p: Param, widget: pn.widgets.Widget | Checkbox) -> Any:
    """Read a widget back into a parameter value (text is parsed; errors say how to fix)."""
    v = widget.value
    if p.kind in ("int", "float", "bool", "choice"):
        return v
    if p.kind == "names":
        return list(v) or None
    text = (v or "").strip()
    if not text and p.default is None:
        return None  # optional and left empty
    if p.kind == "str":
        return text
    try:
        if p.kind == "json":
            return _read_json(text)
        if p.kind == "ints":
            if text.startswith("["):
                return json.loads(text)
            parts = [s for s in text.replace(";", ",").split(",") if s.strip()]
            values = [int(s) for s in parts]
            return values[0] if len(values) == 1 and p.scalar_ok else values
        rows = [r for r in text.replace(";", "\n").splitlines() if r.strip()]
        return [[int(s) for s in r.replace(" ", ",").split(",") if s.strip()] for r in rows]
    except ValueError:
        # the parameter's own example where its help has one (a template's args example
        # was offered for a network document)
        example = (
            f"JSON, e.g. {p.doc.split('e.g. ', 1)[1]}"
            if "e.g. " in p.doc
            else 'a JSON object ({"key": value, ...})'
        )
        what = {
            "ints": "integers separated by commas",
            "json": example,
        }.get(p.kind, "rows of integers, one row per line, separated by commas")
        raise TensorbenchError(f"{p.name}: could not read {text!r}; write {what}") from None


def _number(text: str) -> int | float:
    """A whole number as an int however it is written ("1e3", "2.5e3", "1000"), others as
    floats; read exactly ("1e23" is 10**23, not 99999999999999991611392), and never an
    infinity or NaN (ValueError)."""
    try:
        x = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise ValueError(text) from None
    if not x.is_finite() or x.adjusted() > 300:  # beyond floats: no parameter takes it
        raise ValueError(text)
    # (no int of a million digits from "1e999999": 300 digits at most)
    return int(x) if x == x.to_integral_value() else float(x)


def parse_numbers(text: str, what: str, example: str) -> list[int | float]:
    """Comma- (or semicolon-) separated numbers: ints where whole, else floats; a
    TensorbenchError names ``what`` and shows ``example`` otherwise."""
    try:
        return [_number(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise TensorbenchError(
            f"{what}: could not read {text!r}; write numbers such as {example}"
        ) from None


class ParamForm:
    """Widgets for a list of Params; ``values()`` reads them back (errors say what to fix)."""

    def __init__(self, params: tuple, values: dict[str, Any], on_change: Any) -> None:
        self.params = [p for p in params if p.kind != "bytes"]  # files come from uploads
        self.widgets = {p.name: widget_for(p, values.get(p.name, p.default)) for p in self.params}
        for w in self.widgets.values():
            w.param.watch(lambda *_: on_change(), "value")

    def values(self) -> dict[str, Any]:
        out = {}
        for p in self.params:
            v = value_of(p, self.widgets[p.name])
            if v is not None or p.default is not None:
                out[p.name] = v
        return out

    def column(self) -> pn.Column:
        return pn.Column(
            *(with_help(self.widgets[p.name], p.doc) for p in self.params),
            sizing_mode="stretch_width",
        )


def with_help(widget: pn.widgets.Widget | Checkbox, doc: str) -> Any:
    """``widget`` with its help: a checkbox has no ``description`` (the "?" icon the other
    inputs show), so it gets a tooltip icon beside it; other widgets come back as they are."""
    if not isinstance(widget, Checkbox) or not doc:
        return widget
    return pn.Row(widget, pn.widgets.TooltipIcon(value=doc, margin=(5, 0)))


#: Panel strokes a card's open/close chevron with ``--background-text-color``, which the
#: bootstrap design leaves undefined: the stroke fell to none, and the cards read as
#: stuck dropdown items with nothing to show they open (their settings went unfound).
CARD_CHEVRON_CSS = ".card-button > svg { stroke: currentColor; }"


class EntriesForm:
    """Choose several registered entries (methods, strategies) and edit each one's Params.

    Parameters
    ----------
    key : str
        The entry field holding the name (``"method"``, ``"strategy"``).
    specs : dict
        Name -> spec with ``params`` (and an optional ``family`` shown in card titles).
    entries : list of dict
        The entries to show first.
    on_change : callable
        Called with no arguments after any change.
    """

    def __init__(
        self,
        key: str,
        specs: dict[str, Any],
        entries: list[dict[str, Any]],
        on_change: Any,
        label: str,
    ) -> None:
        self.key, self.specs, self.on_change = key, specs, on_change
        self._names = sorted(specs, key=lambda n: (getattr(specs[n], "family", ""), n))
        chosen = [e[key] for e in entries]
        self.choice = pn.widgets.MultiChoice(
            label=label,
            options=self._ordered(chosen),
            value=chosen,
            sizing_mode="stretch_width",
        )
        self.area = pn.Column(sizing_mode="stretch_width")
        self.forms: dict[str, ParamForm] = {}
        #: forms of entries taken off the list, kept should they come back: hooi
        #: removed and added again lost the ranks typed into it
        self._parked: dict[str, ParamForm] = {}
        self._quiet = False
        self._build(entries)
        self.choice.param.watch(lambda *_: self._rebuild(), "value")

    def show(self, entries: list[dict[str, Any]]) -> None:
        """Show ``entries`` (forms rebuilt, no change reported)."""
        self.forms, self._parked = {}, {}
        self._quiet = True
        chosen = [e[self.key] for e in entries]
        try:
            self.choice.param.update(options=self._ordered(chosen), value=chosen)
        finally:
            self._quiet = False
        self._build(entries)

    def _ordered(self, chosen: list[str]) -> list[str]:
        """The options with the chosen ones first, in their order, then the rest sorted.

        A value set from Python is drawn as chips in the options' order (the user's own
        picks keep their click order): "Decompose with this network" put network_als
        first among the chips, last among the cards, the config and the runs.
        """
        return [*chosen, *(n for n in self._names if n not in chosen)]

    def _build(self, entries: list[dict[str, Any]]) -> None:
        given = {e[self.key]: e for e in entries}
        # a card the user opened stays open when another entry is added or removed (every
        # change of the list closed them all)
        opened = {c.title for c in self.area.objects if isinstance(c, pn.Card) and not c.collapsed}
        forms, cards = {}, []
        for name in self.choice.value:
            spec = self.specs[name]
            form = (
                self.forms.get(name)
                or self._parked.pop(name, None)
                or ParamForm(spec.params, given.get(name, {}), self.on_change)
            )
            forms[name] = form
            family = getattr(spec, "family", "")
            title = f"{name} ({family})" if family else name
            # what the bare identifier stands for ("tr_als_lev": TR-ALS with leverage-score
            # sampled least squares, Malik & Becker 2021), above its parameters
            what = pn.pane.HTML(
                f"<div class='tb-entry-doc' style='color: #5a6b7b; font-size: 12px'>"
                f"{html.escape(spec.doc)}</div>",
                sizing_mode="stretch_width",
                margin=(0, 10),
            )
            cards.append(
                pn.Card(
                    what,
                    form.column(),
                    title=title,
                    collapsed=title not in opened,
                    sizing_mode="stretch_width",
                    stylesheets=[CARD_CHEVRON_CSS],
                )
            )
        self._parked.update({n: f for n, f in self.forms.items() if n not in forms})
        self.forms = forms
        self.area.objects = cards

    def _rebuild(self) -> None:
        if self._quiet:
            return
        chosen = list(self.choice.value)
        rest = [o for o in self.choice.options if o not in chosen]
        if rest != [n for n in self._names if n not in chosen]:
            # a chip taken off the front would head the dropdown list, out of its order
            self.choice.options = self._ordered(chosen)
        self._build([])
        self.on_change()

    def values(self) -> list[dict[str, Any]]:
        """The chosen entries with their parameters (TensorbenchError says what is wrong,
        and in which entry's card: "ranks: could not read 'abc'" did not say whose)."""
        out = []
        for n, f in self.forms.items():
            try:
                out.append({self.key: n, **f.values()})
            except TensorbenchError as e:
                raise TensorbenchError(f"{n} {e}") from None
        return out

    def column(self) -> pn.Column:
        """The chooser and one collapsed card per chosen entry."""
        return pn.Column(self.choice, self.area, sizing_mode="stretch_width")


class TemplateForm(Viewer):
    """Pick a template and edit its sizes; every change rebuilds the network live."""

    state = param.Parameter(doc="The page's NetworkState.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        # each template once: 'ht' beside 'hierarchical_tucker' read as two templates
        names = template_names(self.state.template)
        self._select = pn.widgets.Select(
            label="template",
            options=[CUSTOM, *names],
            value=self.state.template,
            sizing_mode="stretch_width",
        )
        self._fields = pn.Column(sizing_mode="stretch_width")
        self._doc = pn.pane.HTML(
            "", sizing_mode="stretch_width", styles={"color": "#5a6b7b", "font-size": "12px"}
        )
        self._widgets: dict[str, tuple[Param, pn.widgets.Widget]] = {}
        self._syncing = False
        self._select.param.watch(self._on_select, "value")
        self.state.param.watch(self._on_state_template, "template")
        self._build_fields(self.state.template, self.state.template_args)

    def _build_fields(self, name: str, args: dict[str, Any]) -> None:
        self._widgets = {}
        if name == CUSTOM:
            self._doc.object = "A drawn, edited or loaded network; pick a template to replace it."

            self._fields.objects = []
            return
        spec = TEMPLATES[name]
        self._doc.object = html.escape(spec.doc)
        values = spec.defaults() | args
        objs = []
        for p in spec.params:
            w = widget_for(p, values[p.name])
            w.param.watch(self._on_field, "value")
            self._widgets[p.name] = (p, w)
            objs.append(with_help(w, p.doc))
        self._fields.objects = objs

    def _on_select(self, event: param.parameterized.Event) -> None:
        if self._syncing or event.new == CUSTOM:
            return
        self._build_fields(event.new, {})
        self._apply()

    def _on_field(self, event: param.parameterized.Event) -> None:
        if self._syncing or self._apply():
            return
        # Refused: the box shows the value in force again (the message says why). Left
        # as typed, it sat beside a drawing that did not have it, and every later edit
        # of another box was refused for it too.
        name = next((k for k, (_p, w) in self._widgets.items() if w is event.obj), None)
        if name is None:
            return
        p, w = self._widgets[name]
        spec = TEMPLATES[self._select.value]
        in_force = (spec.defaults() | self.state.template_args).get(name)
        self._syncing = True
        try:
            w.value = widget_for(p, in_force).value
        finally:
            self._syncing = False

    def _apply(self) -> bool:
        name = self._select.value
        try:
            args = {k: value_of(p, w) for k, (p, w) in self._widgets.items()}
        except TensorbenchError as e:
            self.state.error = str(e)
            return False
        return self.state.apply_template(name, args)

    def _on_state_template(self, event: param.parameterized.Event) -> None:
        if event.new == self._select.value:
            return
        self._syncing = True
        try:
            if event.new not in self._select.options:  # a short name, from a loaded file
                self._select.options = [CUSTOM, *template_names(event.new)]
            self._select.value = event.new
            self._build_fields(event.new, self.state.template_args)
        finally:
            self._syncing = False

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._select, self._doc, self._fields, sizing_mode="stretch_width")


class RunSettings(Viewer):
    """Task parameters (from the task's spec), seed and device of the current config."""

    state = param.Parameter(doc="The page's NetworkState.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        import torch

        cfg = self.state.config
        self._spec = get_task(cfg.kind)
        self._widgets: dict[str, tuple[Param, pn.widgets.Widget]] = {}
        for p in self._spec.params:
            w = widget_for(p, cfg.task[p.name])
            self._widgets[p.name] = (p, w)
        devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        if cfg.device not in devices:
            devices.append(cfg.device)
        self._seed = IntBox(
            label="seed",
            value=cfg.seed,
            sizing_mode="stretch_width",
            description="seeds data and path search",
        )
        self._device = pn.widgets.Select(
            label="device",
            value=cfg.device,
            options=devices,
            sizing_mode="stretch_width",
            description="auto = CUDA when available",
        )
        self._syncing = False
        for _p, w in self._widgets.values():
            w.param.watch(self._on_change, "value")
        self._seed.param.watch(self._on_change, "value")
        self._device.param.watch(self._on_change, "value")
        self.state.param.watch(self._on_config, "config")

    def _on_change(self, *_: Any) -> None:
        if self._syncing:
            return
        changes = {k: value_of(p, w) for k, (p, w) in self._widgets.items()}
        ok = self.state.update_run_settings(
            seed=self._seed.value, device=self._device.value, **changes
        )
        if not ok:
            self._on_config()  # show the values that are in force

    def _on_config(self, *_: Any) -> None:
        cfg = self.state.config
        self._syncing = True
        try:
            for name, (_p, w) in self._widgets.items():
                if name in cfg.task:
                    w.value = cfg.task[name]
            self._seed.value = cfg.seed
            if cfg.device not in self._device.options:
                self._device.options = [*self._device.options, cfg.device]
            self._device.value = cfg.device
        finally:
            self._syncing = False

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            *(with_help(w, p.doc) for p, w in self._widgets.values()),
            self._seed,
            self._device,
            sizing_mode="stretch_width",
        )


def parse_sizes(text: str, letters: str) -> dict[str, int]:
    """Sizes for an einsum import: ``a=2, b=3``, ``{"a": 2}``, or one number for all."""
    text = (text or "").strip()
    if not text:
        raise TensorbenchError("give the index sizes, e.g. a=2, b=3 (or one number for all)")
    if text.isdigit():
        return {c: int(text) for c in letters}
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError as e:
            raise TensorbenchError(f"sizes: not valid JSON ({e})") from None
        if not isinstance(doc, dict):
            raise TensorbenchError('sizes: expected an object such as {"a": 2}')
        return doc
    sizes: dict[str, Any] = {}
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        key, sep, value = part.replace(":", "=").partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise TensorbenchError(f"sizes: could not read {part.strip()!r}; write a=2, b=3")
        key, size = key.strip(), int(value)
        if sizes.get(key, size) != size:
            # a typo more often than not: refuse rather than silently keep the last one
            raise TensorbenchError(
                f"sizes: {key} is given twice, as {sizes[key]} and {size}; keep one"
            )
        sizes[key] = size
    return sizes


class EinsumImport(Viewer):
    """Build the network of an einsum equation, e.g. ``ab,bc,cd->ad`` with sizes."""

    state = param.Parameter(doc="The page's NetworkState.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.equation = pn.widgets.TextInput(
            label="equation", placeholder="ab,bc,cd->ad", sizing_mode="stretch_width"
        )
        self.sizes = pn.widgets.TextInput(
            label="sizes", placeholder="a=2, b=8, c=8, d=2", sizing_mode="stretch_width"
        )
        self.button = pn.widgets.Button(label="Import", width=100)
        self.button.on_click(lambda *_: self.apply())

    def apply(self) -> bool:
        """Replace the network with the equation's (undoable)."""
        from tensorbench.engine import Network

        eq = (self.equation.value or "").replace(" ", "")
        letters = "".join(dict.fromkeys(c for c in eq if c.isalpha()))
        try:
            if not eq:
                raise TensorbenchError("write an einsum equation such as ab,bc->ac")
            net = Network.from_einsum(eq, parse_sizes(self.sizes.value, letters)).with_layout()
        except TensorbenchError as e:
            self.state.error = f"einsum import: {e}"
            return False
        return self.state.replace_network(net)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.equation, self.sizes, self.button, sizing_mode="stretch_width")
