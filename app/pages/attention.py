"""The Attention page: set up queries, keys and values (synthetic, a shared-prefix batch, or
MiniLM's real ones), run exact and sparse methods side by side, see which entries each
method computes, and watch time and error grow over a sweep."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, ClassVar

import panel as pn
from panel.viewable import Viewer

from tensorbench.engine import Config, TensorbenchError, get_task
from tensorbench.engine.attention.inputs import INPUTS
from tensorbench.engine.attention.methods import METHODS, get_method
from tensorbench.widgets.attention_view import (
    HEATMAP_PX,
    heatmaps,
    method_labels,
    results_table,
    setup_svg,
    sweep_legend,
    sweep_plots,
)
from tensorbench.widgets.forms import Checkbox, EntriesForm, IntBox, ParamForm, parse_numbers
from tensorbench.widgets.multirun import (
    ConfigFiles,
    MultiRunState,
    RunPage,
    RunRows,
    any_active,
)
from tensorbench.widgets.plots import TABLE_CSS

__all__ = ["AttentionPage", "AttentionState", "default_attention_config"]


#: Title of the built-in demo (dropped once the user edits the task).
DEMO_NAME = "4k tokens: exact vs sparse"


def default_attention_config() -> Config:
    """A 4k-token problem with clustered keys: exact, HyperAttention and LevAttention over a
    sweep of lengths up to 4096, with heatmaps of what each computes."""
    task = get_task("attention").check(
        {
            "input": {"kind": "clustered", "heads": 4, "d": 64, "per_cluster": 32},
            "n": 4096,
            "methods": [
                {"method": "exact"},
                {"method": "hyper", "block": 256, "samples": 256},
                {"method": "lev", "keys": 256},
            ],
            "sweep": {"param": "n", "values": [512, 1024, 2048, 4096]},
            "repeats": 3,
            "heatmap": 4096,
        }
    )
    return Config({"kind": "attention", **task}, None, 0, "auto", DEMO_NAME)


class AttentionState(MultiRunState):
    """The Attention page's config and its run (methods run one after another in one
    worker, so their timings do not disturb each other)."""

    kind = "attention"
    demo_name = DEMO_NAME
    box_labels: ClassVar[dict[str, str]] = {
        "n": "sequence length n",
        "repeats": "timed repeats",
        "heatmap": "heatmaps up to n",
        "sweep.param": "sweep parameter",
    }

    def __init__(self, config: Config | None = None, **params: Any) -> None:
        super().__init__(config or default_attention_config(), **params)

    def set_task(self, **changes: Any) -> bool:
        """Replace task fields (validated)."""
        return self._apply(task=changes)

    def set_settings(self, **changes: Any) -> bool:
        """``seed`` or ``device``."""
        return self._apply(**changes)

    def runs_for_config(self) -> list[tuple[str, dict[str, Any], Config]]:
        return [("attention", {}, self.config)]


class AttentionPage(RunPage, Viewer):
    """Input, methods and sweep in the sidebar; diagram, heatmaps, plots and table in the
    main area."""

    def __init__(self, config: Config | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.state = AttentionState(config)
        task = self.state.config.task

        # ---- input
        self.input_kind = pn.widgets.Select(
            label="input",
            options=sorted(INPUTS),
            value=task["input"]["kind"],
            sizing_mode="stretch_width",
        )
        self.input_doc = pn.pane.HTML("", styles={"font-size": "12px", "color": "#5a6b7b"})
        self.input_area = pn.Column(sizing_mode="stretch_width")
        self._input_form: ParamForm | None = None
        self._build_input(task["input"])
        self._syncing = False
        self.input_kind.param.watch(self._kind_chosen, "value")

        # ---- problem
        self.n = IntBox(label="sequence length n", value=task["n"], sizing_mode="stretch_width")
        self.causal = Checkbox(label="causal", value=task["causal"])
        self.dtype = pn.widgets.Select(
            label="dtype",
            options=["float32", "float64", "bfloat16", "float16"],
            value=task["dtype"],
            sizing_mode="stretch_width",
        )
        self.repeats = IntBox(
            label="timed repeats",
            value=task["repeats"],
            sizing_mode="stretch_width",
        )
        self.heatmap = IntBox(
            label="heatmaps up to n",
            value=task["heatmap"],
            sizing_mode="stretch_width",
        )
        for w in (self.n, self.causal, self.dtype, self.repeats, self.heatmap):
            w.param.watch(lambda *_: self._problem_changed(), "value")

        # ---- methods and sweep
        self.methods = EntriesForm(
            "method", METHODS, task["methods"], self._methods_changed, "methods"
        )
        self.sweep_param = pn.widgets.Select(
            label="sweep parameter", options=[""], sizing_mode="stretch_width"
        )
        self.sweep_values = pn.widgets.TextInput(
            label="values", placeholder="e.g. 512, 1024", sizing_mode="stretch_width"
        )
        self._sweep_options()
        if task.get("sweep"):
            self.sweep_param.value = task["sweep"]["param"]
            self.sweep_values.value = ", ".join(str(v) for v in task["sweep"]["values"])
        for w in (self.sweep_param, self.sweep_values):
            w.param.watch(lambda *_: self._sweep_changed(), "value")
        self._show_n_source()
        self.seed = IntBox(label="seed", value=self.state.config.seed, sizing_mode="stretch_width")
        self.device = pn.widgets.Select(
            label="device",
            options=_devices(self.state.config.device),
            value=self.state.config.device,
            sizing_mode="stretch_width",
        )
        for w in (self.seed, self.device):
            w.param.watch(
                lambda *_: self._settings_changed(),
                "value",
            )

        # ---- run and views
        self.run_button = pn.widgets.Button(label="Run", color="primary", width=120)
        self.run_button.on_click(lambda *_: self.start())
        self.rows = RunRows(self.state, _status_text)
        self.setup = pn.pane.HTML("", sizing_mode="stretch_width", name="attention-setup")
        self.plots = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=320)
        self.legend = pn.pane.HTML("", sizing_mode="stretch_width", name="sweep-legend")
        self.heat = pn.pane.HoloViews(None, sizing_mode="stretch_width", name="heatmaps")
        self.heat_caption = pn.pane.HTML("", sizing_mode="stretch_width", name="heat-caption")
        self.table = pn.pane.HTML(
            "", sizing_mode="stretch_width", name="attention-results", stylesheets=[TABLE_CSS]
        )
        self.files = ConfigFiles(
            self.state,
            "attention",
            self._sync_widgets,
            check=self._download_ready,
        )
        self.state.param.watch(lambda *_: self._draw_setup(), "config")
        self._draw_setup()

    # ------------------------------------------------------------------ forms

    def _kind_chosen(self, *_: Any) -> None:
        # Showing a loaded config sets the kind too: its own input spec follows, and the
        # defaults must not replace it (a loaded MiniLM layer 3 came back as layer 0).
        if not self._syncing:
            self._build_input(None, report=True)

    def _build_input(self, spec: dict[str, Any] | None, report: bool = False) -> None:
        src = INPUTS[self.input_kind.value]
        self.input_doc.object = html.escape(src.doc)
        self._input_form = ParamForm(src.params, spec or {}, self._input_changed)
        self.input_area.objects = [self._input_form.column()]
        if report:
            self._input_changed()
            self._sweep_options()

    def _input_changed(self) -> None:
        assert self._input_form is not None
        try:
            spec = {"kind": self.input_kind.value, **self._input_form.values()}
        except TensorbenchError as e:
            self.state.error = str(e)
            return
        self._fit_lengths(INPUTS[spec["kind"]].max_n)
        self.state.set_task(input=spec)
        self._show_n_source()

    def _fit_lengths(self, most: int | None) -> None:
        """Bring n and a sweep over n within what the input has (MiniLM: 512 tokens), so
        choosing it is not refused over the lengths the last input allowed; says so."""
        if most is None:
            return
        changed = []
        if (self.n.value or 0) > most:
            self.n.value = most
            changed.append(f"n set to {most}")
        if self.sweep_param.value == "n":
            try:
                values = parse_numbers(self.sweep_values.value or "", "sweep values", "512")
            except TensorbenchError:
                values = []
            kept = [v for v in values if v <= most]
            if len(kept) < len(values):
                self.sweep_values.value = ", ".join(str(v) for v in kept)
                changed.append(f"sweep over n kept {kept or 'no values (sweep off)'}")
        if changed and pn.state.notifications is not None:
            pn.state.notifications.info(
                f"{self.input_kind.value} has at most {most} tokens: " + "; ".join(changed),
                duration=8000,
            )

    def _settings_changed(self) -> None:
        self.state.set_settings(seed=self.seed.value, device=self.device.value)

    def _problem_changed(self) -> None:
        self.state.set_task(
            n=self.n.value,
            causal=self.causal.value,
            dtype=self.dtype.value,
            repeats=self.repeats.value,
            heatmap=self.heatmap.value,
        )

    def _methods_changed(self) -> None:
        try:
            methods = self.methods.values()
        except TensorbenchError as e:
            self.state.error = str(e)
            return
        if not methods:
            self.state.error = "choose at least one method"
            return
        if self.state.set_task(methods=methods):
            self._sweep_options()

    def _sweep_options(self) -> None:
        """n, any numeric parameter of a chosen method, or of the input (MiniLM's layer)."""
        names = {"n"}
        for m in self.methods.choice.value:
            names |= {p.name for p in get_method(m).params if p.kind in ("int", "float")}
        names |= {p.name for p in INPUTS[self.input_kind.value].params if p.kind == "int"}
        options = {"(no sweep)": "", **{name: name for name in sorted(names)}}
        self.sweep_param.options = options
        if self.sweep_param.value not in options.values():
            self.sweep_param.value = ""

    def _show_n_source(self) -> None:
        """A sweep over n sets every length: the n box is then not used, and says so."""
        text = (self.sweep_values.value or "").strip()
        swept = self.sweep_param.value == "n" and bool(text)
        self.n.disabled = swept
        # a shared prefix's n is the length of each sequence's own part
        prefix = self.input_kind.value == "shared_prefix"
        what = "suffix length n" if prefix else "sequence length n"
        # with the lengths the sweep sets: "set by the sweep" beside a 4096 the run never
        # used read as if it were one of them (as a range: the list ran off the sidebar)
        try:
            values = parse_numbers(text, "sweep values", "512") if swept else []
        except TensorbenchError:
            values = []
        ints = [v for v in values if isinstance(v, int)]
        if ints:
            span = f"{min(ints)}" if len(set(ints)) == 1 else f"{min(ints)} to {max(ints)}"
            self.n.name = f"{what} (swept: {span})"
        else:
            self.n.name = f"{what} (set by the sweep)" if swept else what

    def _sweep_changed(self) -> None:
        self._show_n_source()
        name, text = self.sweep_param.value, (self.sweep_values.value or "").strip()
        if not name or not text:
            self.state.set_task(sweep=None)
            return
        try:
            values = parse_numbers(text, "sweep values", "512, 1024")
        except TensorbenchError as e:
            self.state.error = str(e)
            return
        self.state.set_task(sweep={"param": name, "values": values})

    def _sync_widgets(self) -> None:
        task = self.state.config.task
        self._syncing = True
        try:
            self.input_kind.value = task["input"]["kind"]
        finally:
            self._syncing = False
        self._build_input(task["input"])
        self.n.value, self.causal.value, self.dtype.value = task["n"], task["causal"], task["dtype"]
        self.repeats.value, self.heatmap.value = task["repeats"], task["heatmap"]
        self.methods.show(task["methods"])
        self._sweep_options()
        sweep = task.get("sweep")
        self.sweep_param.value = sweep["param"] if sweep else ""
        self.sweep_values.value = ", ".join(str(v) for v in sweep["values"]) if sweep else ""

    def _draw_setup(self) -> None:
        self.setup.object = setup_svg(self.state.config.task)

    # ------------------------------------------------------------------ runs

    def _readers(self) -> list[Callable[[], Any]]:
        """The change handlers of every input (see ``_inputs_in_force``)."""
        return [
            self._input_changed,
            self._problem_changed,
            self._methods_changed,
            self._sweep_changed,
            self._settings_changed,
        ]

    def start(self) -> None:
        """Run the config in a worker thread and poll its records; not while an input is
        refused."""
        if any_active(self.state.snapshot()):
            return  # one run at a time (the button is disabled meanwhile)
        if not self._inputs_in_force(self._readers()):
            return
        self.state.start_all()
        self.rows.reset(self.state.snapshot())
        self.heat.object = None
        self.heat_caption.object = ""
        self._refresh(force=True)
        self._start_poll()

    def _draw(self, snap: list[dict[str, Any]], force: bool, running: bool) -> None:
        rows = [x for r in snap for x in r["records"]]
        sweep = self.state.config.task.get("sweep")
        param_name = sweep["param"] if sweep else None

        def draw() -> None:
            plots = sweep_plots(rows, param_name)
            self.plots.object = plots
            self.legend.object = "" if plots is None else sweep_legend(rows)

        self._redraw_plots(draw, force, running)
        self.table.object = results_table(rows)
        if not running:
            self._draw_heatmaps(snap)

    def _draw_heatmaps(self, snap: list[dict[str, Any]]) -> None:
        res = snap[0]["result"] if snap else None
        heat = (res.artifacts.get("heatmaps") or {}) if res is not None else {}
        # lengths some method was measured at: a run cancelled right after the exact
        # weights of its last length showed those alone, "Of all entries:" and nothing
        heat = {n: h for n, h in heat.items() if h["kept"]}
        if not heat:
            self.heat.object = None
            self.heat_caption.object = ""
            return
        largest = max(heat, key=int)
        labels = method_labels(res.metrics.get("rows", []))
        self.heat.object = heatmaps(heat[largest], labels)
        shares = [
            f"<b>{html.escape(label)}</b> {100 * float(kept.mean()):.1f}% computed"
            for label, kept in heat[largest]["kept"].items()
        ]
        self.heat_caption.object = (
            f"<div class='tb-heat-caption' style='font-size: 13px'>n = {largest}: exact "
            "attention weights of the first head (log scale; the first "
            f"{min(HEATMAP_PX, int(largest))} queries and keys"
            + ("; grey: masked out by causality" if res.config.task.get("causal") else "")
            + "), then the entries each method computed there (grey: skipped). Of all "
            "entries: " + "; ".join(shares) + "</div>"
        )

    # ------------------------------------------------------------------ layout

    def sidebar(self) -> list[Any]:
        """Objects for the template's sidebar."""
        return [
            pn.pane.Markdown("### Input"),
            self.input_kind,
            self.input_doc,
            self.input_area,
            pn.pane.Markdown("### Problem"),
            self.n,
            self.causal,
            self.dtype,
            pn.pane.Markdown("### Methods"),
            self.methods.column(),
            pn.pane.Markdown("### Sweep (optional)"),
            self.sweep_param,
            self.sweep_values,
            pn.pane.Markdown("### Measuring"),
            self.repeats,
            self.heatmap,
            self.seed,
            self.device,
            pn.pane.Markdown("### Files"),
            *self.files.sidebar(),
        ]

    def main(self) -> pn.viewable.Viewable:
        """The page's main area."""
        tabs = pn.Tabs(
            ("Results", self.table),
            ("Config JSON", self.files.config_view),
            sizing_mode="stretch_width",
        )
        return pn.Column(
            self.files.alert,
            self.files.stale,
            self.setup,
            pn.Row(self.run_button),
            self.rows.column,
            self.legend,
            self.plots,
            self.heat_caption,
            self.heat,
            tabs,
            sizing_mode="stretch_width",
        )


def _devices(current: str) -> list[str]:
    import torch

    out = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return out if current in out else [*out, current]


def _status_text(r: dict[str, Any]) -> str:
    recs = r["records"]
    if not recs:
        # the run's last word, unless it only repeats the status ("cancelled · cancelled")
        return f" · {r['message']}" if r["message"] not in ("", r["status"]) else ""
    last = recs[-1]
    return f" · {len(recs)} measured · last: {last['label']} at n={last['n']}"
