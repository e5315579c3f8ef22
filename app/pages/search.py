"""The Search page: choose data (or a hidden truth), race structure searches, watch the best
score fall and the incumbent redraw itself, open any candidate in the editor or fit it on
the Decompose page, export the race as a config or script."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import NumberFormatter, ScientificFormatter
from panel.viewable import Viewer

from tensorbench.engine import Config, Network, TensorbenchError, build_template
from tensorbench.engine.errors import ConfigError
from tensorbench.engine.search import STRATEGIES, get_strategy
from tensorbench.engine.search.objective import Structure
from tensorbench.engine.search.task import SECTIONS, hidden_ring
from tensorbench.widgets.data_form import CustomSource, DataForm
from tensorbench.widgets.forms import Checkbox, EntriesForm, FloatBox, IntBox, ParamForm
from tensorbench.widgets.multirun import (
    ConfigFiles,
    RunPage,
    RunRows,
    any_active,
    cancel_all_button,
    in_turn_checkbox,
    run_color,
)
from tensorbench.widgets.plots import TABLE_CSS, show_plot
from tensorbench.widgets.search_plots import (
    best_curves,
    candidates_scatter,
    data_shape,
    evaluations,
    incumbent,
    structure_card,
    truth_record,
)
from tensorbench.widgets.search_state import TUCKER_RUN, SearchState, record_structure

__all__ = ["SearchPage"]

HIDDEN = "hidden truth (demo)"
_SCATTER_HEIGHT = 330
_CARD_CSS = [".tb-structure svg {width: 100%; height: auto;}"]
_TABLE_COLUMNS = ["strategy", "fit", "score", "RSE", "parameters", "compression", "edges"]


class SearchPage(RunPage, Viewer):
    """Data, space, objective and strategies in the sidebar; the race in the main area."""

    def __init__(self, config: Config | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.state = SearchState(config)
        task = self.state.config.task
        #: set by the app: ``handoff(page_slug, network, **extra)`` opens another page
        self.handoff: Any = None

        # ---- data: the engine's sources, and the hidden-truth demo first (number inputs
        # unbounded in the browser, which would drop an out-of-range value silently:
        # hidden_ring checks them and the alert says why)
        self.truth_order = IntBox(label="order", value=5, sizing_mode="stretch_width")
        self.truth_size = IntBox(label="mode size", value=3, sizing_mode="stretch_width")
        self.truth_ranks = pn.widgets.TextInput(
            label="ring ranks (empty: drawn at random)",
            placeholder="e.g. 2, 3, 1, 4, 2",
            sizing_mode="stretch_width",
        )
        self.truth_max_rank = IntBox(
            label="largest random rank", value=4, sizing_mode="stretch_width"
        )
        self.truth_shuffle = Checkbox(label="shuffle the modes", value=True)
        self.truth_noise = FloatBox(
            label="noise", value=0.0, step=0.01, sizing_mode="stretch_width"
        )
        self.truth_seed = IntBox(label="truth seed", value=1, sizing_mode="stretch_width")
        # in the order of hidden_ring's arguments (see _fill_truth)
        self._truth_widgets = (
            self.truth_order,
            self.truth_size,
            self.truth_ranks,
            self.truth_max_rank,
            self.truth_shuffle,
            self.truth_noise,
            self.truth_seed,
        )
        hidden = CustomSource(
            doc=(
                "data drawn from a tensor ring whose ranks and mode order the search does not "
                "see: does it find them? (the papers' synthetic protocol)"
            ),
            widgets=list(self._truth_widgets),
            spec=self._truth_spec,
            load=self._truth_load,
        )
        self.data = DataForm(task["data"], self.state.set_data, self._set_error, {HIDDEN: hidden})
        self.data.kind.param.watch(
            lambda *_: self._show_mode_parts() if hasattr(self, "table_hint") else None, "value"
        )
        self.show_truth = Checkbox(label="show the hidden truth", value=True)
        self.show_truth.param.watch(lambda *_: self._refresh(force=True), "value")

        # ---- what is searched
        self.mode = pn.widgets.RadioButtonGroup(
            options={"networks": "network", "Tucker core": "tucker"},
            value=task["mode"],
            sizing_mode="stretch_width",
        )
        self.mode.param.watch(lambda *_: self._mode_changed(), "value")
        self.forms = {
            name: ParamForm(params, task.get(name) or {}, lambda n=name: self._section(n))
            for name, params in SECTIONS.items()
        }
        self.strategies = EntriesForm(
            "strategy", STRATEGIES_SPECS(), task["strategies"], self._strategies_changed, "race"
        )
        self.seed = IntBox(label="seed", value=self.state.config.seed, sizing_mode="stretch_width")
        self.workers = IntBox(
            label="worker processes per strategy (0: one per core)",
            value=task["workers"],
            sizing_mode="stretch_width",
        )
        for w in (self.seed, self.workers):
            w.param.watch(lambda *_: self._settings_changed(), "value")
        self.network_settings = pn.Column(sizing_mode="stretch_width")
        self._mode_changed(report=False)

        # ---- the race
        self.run_button = pn.widgets.Button(label="Start search", color="primary", width=140)
        self.run_button.on_click(lambda *_: self.start())
        self.cancel_all = cancel_all_button(self.state)
        self.in_turn = in_turn_checkbox(self.state)
        # the truth's verdicts follow "show the hidden truth", as its card does
        self.rows = RunRows(self.state, lambda r: _status_text(r, self.show_truth.value))
        self.cards = pn.pane.HTML(
            "", sizing_mode="stretch_width", stylesheets=_CARD_CSS, name="structures"
        )
        self.curves = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=320)
        self.scatter = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=_SCATTER_HEIGHT)
        self.tucker_table = pn.pane.HTML(
            "", sizing_mode="stretch_width", name="tucker-results", stylesheets=[TABLE_CSS]
        )
        self.summary = pn.pane.HTML("", sizing_mode="stretch_width", name="search-summary")
        self.table = pn.widgets.Tabulator(
            _empty_table(),
            disabled=True,
            selectable=1,
            show_index=False,
            pagination="local",
            page_size=15,
            sorters=[{"field": "score", "dir": "asc"}],
            # Tabulator's default shows floats with few decimals: an RSE of 4.5e-11 read 0.0.
            formatters={
                "score": NumberFormatter(format="0.00000"),
                "RSE": ScientificFormatter(precision=3, power_limit_low=-2),
                "compression": NumberFormatter(format="0.000"),
            },
            sizing_mode="stretch_width",
            name="evaluations-table",
        )
        self._table_structures: list[dict[str, Any]] = []
        self._streamed: dict[str, int] = {}
        self.open_editor = pn.widgets.Button(
            label="Open in editor",
            width=150,
            description="draw the selected candidate (or the best) on the Network page",
        )
        self.open_editor.on_click(lambda *_: self._send("network"))
        self.to_decompose = pn.widgets.Button(
            label="Decompose with this",
            width=170,
            description="fit the selected candidate (or the best) to this data on the "
            "Decompose page",
        )
        self.to_decompose.on_click(lambda *_: self._send("decompose"))
        # Tucker mode's rows are an HTML table: the shape the buttons send is picked here
        self.tucker_pick = pn.widgets.Select(
            label="core shape for the buttons",
            options={_BEST_SHAPE: ""},
            value="",
            width=440,  # a row reads "budget 10000 · bang_for_buck · (4, 8, 16) · error 0.00998"
            visible=False,
        )
        # ---- files, errors
        self.files = ConfigFiles(
            self.state,
            "search",
            self._sync_widgets,
            check=self._download_ready,
        )
        self.alert, self.upload = self.files.alert, self.files.upload
        self.config_view = self.files.config_view
        self._cards_key: Any = None
        self.table_hint = pn.pane.Markdown(
            "", styles={"font-size": "12px", "color": "#5a6b7b"}, name="table-hint"
        )
        self._show_mode_parts()

    # ------------------------------------------------------------------ forms

    def _set_error(self, message: str) -> None:
        self.state.error = message

    def _truth_spec(self) -> dict[str, Any]:
        text = (self.truth_ranks.value or "").strip()
        ranks = None
        if text:
            try:
                ranks = [int(v) for v in text.replace(";", ",").split(",") if v.strip()]
            except ValueError:
                raise ConfigError(
                    f"ring ranks: could not read {text!r}; write integers such as 2, 3, 1, 4"
                ) from None
        return hidden_ring(
            self.truth_order.value,
            self.truth_size.value,
            ranks,
            max_rank=self.truth_max_rank.value,
            shuffle=self.truth_shuffle.value,
            noise=self.truth_noise.value,
            seed=self.truth_seed.value,
        )

    def _truth_load(self, spec: dict[str, Any]) -> bool:
        """Show ``spec`` in the hidden-truth form when it is one (else say no)."""
        doc = spec.get("network")
        if spec.get("kind") != "synthetic" or not isinstance(doc, dict):
            return False
        try:
            n = len(doc["output"])
            size = int(doc["sizes"][doc["output"][0]])
        except (KeyError, TypeError, IndexError, ValueError):
            return False
        noise, seed = float(spec.get("noise", 0.0)), int(spec.get("seed", 0))
        for max_rank in range(1, 9):
            for shuffle in (True, False):
                try:
                    drawn = hidden_ring(
                        n, size, max_rank=max_rank, shuffle=shuffle, noise=noise, seed=seed
                    )
                except TensorbenchError:
                    return False
                if drawn["network"] == doc:
                    self._fill_truth(n, size, "", max_rank, shuffle, noise, seed)
                    return True
        from tensorbench.engine.templates import to_rank_matrix

        try:
            ranks, _perm = to_rank_matrix(Network.from_dict(doc))
        except TensorbenchError:
            return False
        ring = [ranks[k][(k + 1) % n] for k in range(n)]
        for shuffle in (True, False):
            drawn = hidden_ring(n, size, ring, shuffle=shuffle, noise=noise, seed=seed)
            if drawn["network"] == doc:
                text = ", ".join(str(r) for r in ring)
                self._fill_truth(n, size, text, 4, shuffle, noise, seed)
                return True
        return False

    def _fill_truth(self, *values: Any) -> None:
        for w, v in zip(self._truth_widgets, values, strict=True):
            w.value = v

    def _section(self, name: str) -> None:
        try:
            values = self.forms[name].values()
        except TensorbenchError as e:
            self.state.error = str(e)
            return
        self.state.set_section(name, values)

    def _settings_changed(self) -> None:
        self.state.set_settings(seed=self.seed.value, workers=self.workers.value)

    def _strategies_changed(self) -> None:
        try:
            entries = self.strategies.values()
        except TensorbenchError as e:
            self.state.error = str(e)
            return
        self.state.set_strategies(entries)

    def _mode_changed(self, report: bool = True) -> None:
        if self.mode.value == "tucker":
            self.network_settings.objects = [
                pn.pane.Markdown("### Core-size budgets and solvers"),
                self.forms["tucker"].column(),
            ]
        else:
            self.network_settings.objects = [
                pn.pane.Markdown("### Strategies"),
                self.strategies.column(),
                pn.pane.Markdown("### Search space"),
                self.forms["space"].column(),
                pn.pane.Markdown("### Objective"),
                self.forms["objective"].column(),
                pn.pane.Markdown("### Budget (per strategy)"),
                self.forms["budget"].column(),
                pn.pane.Markdown("### Fitting each candidate"),
                self.forms["fit"].column(),
            ]
        if report:
            self.state.set_section("mode", self.mode.value)
        if hasattr(self, "table_hint"):  # built after the forms
            self._show_mode_parts()

    def _show_mode_parts(self) -> None:
        """Show what the mode uses: the Tucker solvers give one table of core shapes, so
        the hidden-truth card, the incumbent cards, the score plots, the evaluations table
        and "one at a time" (a single run) belong to the network search only."""
        networks = self.mode.value != "tucker"
        for w in (self.show_truth, self.in_turn, self.cards):
            w.visible = networks
        # no truth to show or hide for other data
        self.show_truth.visible = networks and self.data.kind.value == HIDDEN
        # core shapes are solved in the page's run, with no worker processes to set
        self.workers.visible = networks
        # The score plots are emptied and flattened, not hidden: "visible" set on a pane
        # that holds a plot layout raised on the server ("unexpected attribute 'design' to
        # GridPlot"), and Tucker mode then kept the network views; and hidden inside a
        # Column, one level deeper, the live plots were laid out with frames of height 0
        # (axes only, under the cards).
        for pane in (self.curves, self.scatter):
            if not networks:
                pane.object = None
                pane.height = 0
        if networks and hasattr(self, "rows"):  # back from Tucker mode: the race's plots
            self.scatter.height = _SCATTER_HEIGHT
            self._draw_plots(self.state.snapshot())
        self.table.visible = networks
        self.tucker_table.visible = self.tucker_pick.visible = not networks
        self.table_hint.object = (
            "Select a row to choose a candidate; with none selected the buttons take the best one."
            if networks
            else "The buttons take the core shape picked beside them, as a Tucker network; "
            "by default the one with the lowest error (the fewest parameters among those "
            "within 1% of it)."
        )

    def _sync_widgets(self) -> None:
        """Show the state's config in every widget (after a load or a hand-off)."""
        task = self.state.config.task
        self.data.show(task["data"])
        for name, form in self.forms.items():
            values = task.get(name) or {}
            for p in form.params:
                if p.name in values:
                    w = form.widgets[p.name]
                    w.value = _widget_value(w, values[p.name])
        self.strategies.show(task["strategies"])
        self.seed.value, self.workers.value = self.state.config.seed, task["workers"]
        self.mode.value = task["mode"]

    def receive_network(self, net: Network, **_: Any) -> None:
        """Search from a network drawn on the Network page: the data is drawn from it (its
        structure is the hidden truth), the space is a ring when it is one, else any pair."""
        from tensorbench.engine.templates import to_rank_matrix

        try:
            ranks, _perm = to_rank_matrix(net)
        except TensorbenchError as e:
            self.state.error = (
                f"this drawing cannot seed a search: {e} (search needs one core per data mode, "
                "joined by plain bonds)"
            )
            return
        n = len(ranks)
        ring = all(
            ranks[a][b] == 1 or (b - a) in (1, n - 1) for a in range(n) for b in range(a + 1, n)
        )
        top = max(ranks[a][b] for a in range(n) for b in range(n) if a != b) if n > 1 else 1
        spec = {"kind": "synthetic", "network": net.to_dict(), "noise": 0.0, "seed": 0}
        ok = self.state.set_data(spec) and self.state.set_section(
            "space",
            {
                "topology": "ring" if ring else "full",
                "max_rank": max(4, top),
                "permute": False,
            },
        )
        if ok:
            self.state.set_section("mode", "network")
            self._sync_widgets()

    # ------------------------------------------------------------------ runs

    def _readers(self) -> list[Callable[[], Any]]:
        """The change handlers of the inputs on show (see ``_inputs_in_force``): the Tucker
        form alone, or the network search's forms."""
        tucker = self.mode.value == "tucker"
        shown = [n for n in self.forms if (n == "tucker") == tucker]
        readers = [self.data.apply, *(lambda n=n: self._section(n) for n in shown)]
        if not tucker:
            readers.append(self._strategies_changed)
        return [*readers, self._settings_changed]

    def start(self) -> None:
        """Start every strategy (each in its own thread) and poll for progress; not while
        an input is refused."""
        if any_active(self.state.snapshot()):
            return  # one run at a time (the button is disabled meanwhile)
        if not self._inputs_in_force(self._readers()):
            return
        self.state.start_all()
        snap = self.state.snapshot()
        self.rows.reset(snap)
        self._streamed = {}
        self._table_structures = []
        self.table.value = _empty_table()
        self._cards_key = None
        self._refresh(force=True)
        self._start_poll()

    def _draw(self, snap: list[dict[str, Any]], force: bool, running: bool) -> None:
        self._stream_rows(snap)
        self._draw_cards(snap)
        self._redraw_plots(lambda: self._draw_plots(snap), force, running)
        self.summary.object = race_summary(snap)

    def _draw_plots(self, snap: list[dict[str, Any]]) -> None:
        truth = self.show_truth.value
        show_plot(self.curves, best_curves(snap, show_truth=truth))
        self.scatter.object = candidates_scatter(snap, show_truth=truth)
        self.tucker_table.object = tucker_table(snap)
        self._offer_shapes(snap)

    def _offer_shapes(self, snap: list[dict[str, Any]]) -> None:
        """List the core shapes of the Tucker table for the buttons (a pick that is still
        listed stays picked)."""
        options = {_BEST_SHAPE: ""}
        for x in _tucker_rows(snap):
            options[_shape_label(x)] = _shape_key(x)
        if options != self.tucker_pick.options:
            keep = self.tucker_pick.value
            self.tucker_pick.options = options
            self.tucker_pick.value = keep if keep in options.values() else ""

    def _stream_rows(self, snap: list[dict[str, Any]]) -> None:
        """Append the evaluations not yet in the table (sent as a stream, not a reload)."""
        dims = data_shape(snap)
        new = []
        for r in snap:
            ev = evaluations(r)
            done = self._streamed.get(r["label"], 0)
            for x in ev[done:]:
                new.append(
                    {
                        "strategy": r["label"],
                        "fit": x["index"],
                        "score": x["score"],
                        "RSE": x["rse"],
                        "parameters": x["params"],
                        "compression": (
                            float("nan") if dims is None else math.prod(dims) / max(1, x["params"])
                        ),
                        "edges": x["edges"],
                    }
                )
                self._table_structures.append(x["structure"])
            self._streamed[r["label"]] = len(ev)
        if new:
            start = len(self._table_structures) - len(new)
            df = pd.DataFrame(new, columns=_TABLE_COLUMNS, index=range(start, start + len(new)))
            self.table.stream(df, follow=False)

    def _draw_cards(self, snap: list[dict[str, Any]]) -> None:
        dims = data_shape(snap)
        truth = truth_record(snap) if self.show_truth.value else None
        bests = [incumbent(r) for r in snap]
        key = (
            tuple(None if b is None else (b["index"], b["score"]) for b in bests),
            truth is not None,
            dims is not None,
        )
        if key == self._cards_key:
            return  # redraw the drawings only when an incumbent changes
        self._cards_key = key
        cards = []
        if truth is not None:
            cards.append(
                structure_card("hidden truth", truth, dims, "#333333", _truth_note(truth, dims))
            )
        for k, (r, b) in enumerate(zip(snap, bests, strict=True)):
            if r["label"] == TUCKER_RUN:
                continue  # a core-shape run (its table is its view): no incumbent to draw
            note = "" if b is None else f"best after {_fits(b['index'])}"
            cards.append(structure_card(f"{r['label']}: incumbent", b, dims, run_color(k), note))
        self.cards.object = (
            "<div style='display: flex; gap: 10px; flex-wrap: wrap'>" + "".join(cards) + "</div>"
            if cards
            else ""
        )

    # ------------------------------------------------------------------ hand-offs

    def chosen_structure(self) -> tuple[Network, str] | None:
        """The candidate selected in the table, else the best one seen; in Tucker mode the
        core shape picked beside the buttons (by default the one with the lowest error);
        None before any."""
        snap = self.state.snapshot()
        dims = data_shape(snap)
        if dims is None:
            return None
        if self.mode.value == "tucker":  # not a network run's leftover row or incumbent
            return _picked_core_shape(snap, dims, self.tucker_pick.value)
        rec = None
        sel = self.table.selection
        if sel:
            pos = sel[0]  # rows are kept in fit order; the browser only sorts its view
            if 0 <= pos < len(self._table_structures):
                edges = str(self.table.value.iloc[pos]["edges"])
                rec = {"structure": self._table_structures[pos], "edges": edges}
        if rec is None:
            bests = [b for b in (incumbent(r) for r in snap) if b is not None]
            if not bests:
                return None
            rec = min(bests, key=lambda b: b["score"])
        return record_structure(rec, dims), rec["edges"]

    def _send(self, slug: str) -> None:
        chosen = self.chosen_structure()
        if chosen is None:
            ended = self.state.runs and not any_active(self.state.snapshot())
            self.state.error = (
                "no candidate: the search ended before its first fit (raise the seconds "
                "or evaluations budget)"
                if ended
                else "no candidate yet: start a search first"
            )
            return
        net, _ = chosen
        if self.handoff is None:
            return
        if slug == "decompose":
            # the data the candidates were fitted to: the page's may have changed since
            # (a structure found at order 4 went out with order-5 data)
            ran = self.state.ran or self.state.config
            self.handoff(slug, net, data=ran.task["data"])
        else:
            self.handoff(slug, net)

    # ------------------------------------------------------------------ layout

    def sidebar(self) -> list[Any]:
        """Objects for the template's sidebar."""
        return [
            pn.pane.Markdown("### Data"),
            self.data.column(),
            pn.pane.Markdown("### Search"),
            self.mode,
            self.network_settings,
            pn.pane.Markdown("### Settings"),
            self.seed,
            self.workers,
            pn.pane.Markdown("### Files"),
            *self.files.sidebar(),
        ]

    def main(self) -> pn.viewable.Viewable:
        """The page's main area (built anew each time the page is shown)."""
        # Tabulator.stream updates the table on screen and its value, but not the data a
        # new view is built from (Panel 1.9): back on this page after another one, the
        # table came up empty. Re-sending the value refreshes that data first.
        self.table.param.trigger("value")
        table = pn.Column(
            pn.Row(self.open_editor, self.to_decompose, self.tucker_pick),
            self.table_hint,
            self.table,
            sizing_mode="stretch_width",
        )
        tabs = pn.Tabs(
            ("Candidates", table),
            ("Config JSON", self.config_view),
            sizing_mode="stretch_width",
        )
        return pn.Column(
            self.alert,
            self.files.stale,
            pn.Row(self.run_button, self.cancel_all, self.show_truth, self.in_turn),
            self.rows.column,
            self.summary,
            self.cards,
            self.curves,
            self.scatter,
            self.tucker_table,
            tabs,
            sizing_mode="stretch_width",
        )


def STRATEGIES_SPECS() -> dict[str, Any]:  # noqa: N802 - reads like the registry it returns
    """The registered strategies (importing every strategy module first)."""
    get_strategy("random")
    return dict(STRATEGIES)


def _tucker_rows(snap: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tucker mode's records: one core shape per budget and solver."""
    return [x for r in snap for x in r["records"] if x.get("kind") == "tucker"]


def _truth_note(truth: dict[str, Any], dims: list[int] | None) -> str:
    """The truth card's line; says when the truth has ranks no tensor needs, so a search
    that finds a smaller network with the truth's fit is not a mystery."""
    if dims is None:
        return "the structure to find"
    full = Structure.from_dict(truth["structure"])
    small = full.trimmed(dims)
    if small == full:
        return "the structure to find"
    return (
        f"the structure to find; some of its ranks carry nothing: the same data is "
        f"{small.describe()} with {small.params(dims)} parameters, not {full.params(dims)}"
    )


def _best_core_shape(snap: list[dict[str, Any]], dims: list[int]) -> tuple[Network, str] | None:
    """Tucker mode's candidate: the fewest parameters among the core shapes whose error is
    the lowest (within 1%, or 1e-12: on exactly low-rank data 9.05e-16 "beat" 9.26e-16
    with 120 parameters against 90), as a Tucker network of the data's shape; None
    before any."""
    # A NaN error (e.g. all-zero data) can never be "the lowest".
    rows = [x for x in _tucker_rows(snap) if math.isfinite(x["rse"])]
    if not rows:
        return None
    low = min(x["rse"] for x in rows)
    near = [x for x in rows if x["rse"] <= low * 1.01 + 1e-12]
    return _shape_network(min(near, key=lambda x: (x["params"], x["rse"])), dims)


def _shape_network(row: dict[str, Any], dims: list[int]) -> tuple[Network, str]:
    """A Tucker table row as a Tucker network of the data's shape, and its description."""
    net = build_template("tucker", dims=dims, ranks=list(row["shape"]))
    return net, f"Tucker core {tuple(row['shape'])} ({row['solver']}, budget {row['budget']})"


#: The Tucker shape picker's first choice.
_BEST_SHAPE = "the lowest error (fewest parameters)"


def _shape_key(x: dict[str, Any]) -> str:
    """A Tucker record's key in the picker: budget, solver and shape identify a row."""
    return f"{x['budget']}|{x['solver']}|{','.join(map(str, x['shape']))}"


def _shape_label(x: dict[str, Any]) -> str:
    return f"budget {x['budget']} · {x['solver']} · {tuple(x['shape'])} · error {x['rse']:.3g}"


def _picked_core_shape(
    snap: list[dict[str, Any]], dims: list[int], key: str
) -> tuple[Network, str] | None:
    """The Tucker row ``key`` names (see :func:`_shape_key`) as a Tucker network of the
    data's shape; the best one (:func:`_best_core_shape`) when ``key`` is empty or no row
    has it."""
    row = next((x for x in _tucker_rows(snap) if key and _shape_key(x) == key), None)
    return _best_core_shape(snap, dims) if row is None else _shape_network(row, dims)


def _empty_table() -> pd.DataFrame:
    # typed columns: rows streamed in later are cast to these types
    types = {"strategy": object, "fit": "int64", "parameters": "int64", "edges": object}
    return pd.DataFrame({c: pd.Series(dtype=types.get(c, "float64")) for c in _TABLE_COLUMNS})


def _widget_value(widget: Any, value: Any) -> Any:
    """A config value as the widget shows it: text boxes get text (a list as comma-separated
    numbers; a number as itself -- a run stores one budget as ``1000``, not ``[1000]``, and
    showing that config again raised in the text box and left the page half-updated)."""
    if isinstance(widget, pn.widgets.TextInput):
        if value is None:
            return ""
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)
    return value


def _fits(n: int) -> str:
    return f"{n} fit" if n == 1 else f"{n} fits"


def _status_text(r: dict[str, Any], show_truth: bool = True) -> str:
    """After a run's label: fits, best score, and (``show_truth``) whether the truth was
    reached."""
    ev = [x for x in r["records"] if x.get("kind") == "evaluation"]
    if not ev:
        return " · " + (r["message"] or "starting") if r["status"] == "running" else ""
    last = ev[-1]
    text = f" · {_fits(last['fits'])}"
    if last.get("best") is not None:
        text += f" · best score {last['best']:.5g}"
    res = r["result"]
    if res is not None and show_truth:
        runs = res.metrics.get("runs", [])
        if runs and runs[0].get("success") is not None:
            at = runs[0].get("fits_to_truth")
            text += (
                f" · reached the truth's score at fit {at}"
                if runs[0]["success"]
                else " · truth's score not reached"
            )
    return text


def race_summary(snap: list[dict[str, Any]]) -> str:
    """One line per finished run: best structure, fits, time, why it stopped."""
    lines = []
    for r in snap:
        res = r["result"]
        if res is None:
            continue
        for run in res.metrics.get("runs", []):
            best = run.get("best") or {}
            # a run stopped before its first fit has no best ("best score nan, -")
            found = (
                f"best score {best['score']:.5g}, {html.escape(str(best.get('edges', '')))}"
                if isinstance(best.get("score"), (int, float))
                else "no candidate yet"
            )
            lines.append(
                f"<li><b>{html.escape(r['label'])}</b>: {html.escape(run['stop'])} after "
                f"{_fits(run['fits'])} ({run['pruned']} pruned, "
                f"{run['cache_hits']} from the cache) "
                f"in {run['seconds']:.3g} s; {found}</li>"
            )
    if not lines:
        return ""
    return "<ul class='tb-race-summary' style='font-size: 13px'>" + "".join(lines) + "</ul>"


def tucker_table(snap: list[dict[str, Any]]) -> str:
    """Core shapes chosen per budget and solver (Tucker mode), as an HTML table."""
    rows = _tucker_rows(snap)
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{x['budget']}</td><td>{html.escape(x['solver'])}</td>"
        f"<td>{tuple(x['shape'])}</td><td>{x['params']}</td><td>{x['rse']:.5g}</td>"
        f"<td>{x['solve_seconds'] * 1e3:.3g} ms</td></tr>"
        for x in rows
    )
    dims = data_shape(snap)
    full = math.prod(dims) if dims else None
    loose = sorted({x["budget"] for x in rows if full is not None and x["budget"] >= full})
    note = (
        f"<p style='font-size: 12px; color: #5a6b7b'>Budget {', '.join(map(str, loose))} "
        f"is at least the whole core ({full} entries, the data's own size): nothing has to "
        "be cut, so solvers may keep every entry. Use budgets below it to compress.</p>"
        if loose
        else ""
    )
    return (
        "<table class='tb-table' style='width: 100%; font-size: 13px'><thead><tr>"
        "<th>budget</th><th>solver</th><th>core shape</th><th>parameters</th>"
        "<th>relative error</th><th>solve time</th></tr></thead><tbody>"
        + body
        + "</tbody></table>"
        + note
    )
