"""The Decompose page: pick data and methods, run them side by side, watch error curves grow
live, compare final errors, times and sizes, see images rebuilt, export the config."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # registers the backend that .opts() targets
import numpy as np
import panel as pn
from panel.viewable import Viewer

from tensorbench.engine import Config, TensorbenchError
from tensorbench.engine.data import load_data, tensor_to_matrix
from tensorbench.engine.decompose import METHODS, get_method
from tensorbench.engine.decompose.task import check_ranks_fit, run_warning
from tensorbench.engine.device import check_memory
from tensorbench.widgets.box_words import in_box_words
from tensorbench.widgets.data_form import DataForm
from tensorbench.widgets.decompose_state import DecomposeState
from tensorbench.widgets.forms import EntriesForm, IntBox, parse_numbers
from tensorbench.widgets.multirun import (
    ConfigFiles,
    RunPage,
    RunRows,
    any_active,
    cancel_all_button,
    in_turn_checkbox,
    run_color,
)
from tensorbench.widgets.plots import TABLE_CSS, legend_above, notes_html, show_plot

__all__ = ["DecomposePage"]


class DecomposePage(RunPage, Viewer):
    """Data form, method list, runs with live curves, results table and images."""

    def __init__(self, config: Config | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.state = DecomposeState(config)
        task = self.state.config.task

        # ---- data
        self.data = DataForm(task["data"], self.state.set_data, self._set_error)
        # the parts tests and the layout reach for
        self.data_kind, self.data_form_area = self.data.kind, self.data.area

        # ---- methods
        self.method_form = EntriesForm(
            "method", METHODS, task["methods"], self._methods_changed, "methods"
        )
        self.methods, self.method_area = self.method_form.choice, self.method_form.area

        self._syncing = False
        # ---- settings
        self.seed = IntBox(label="seed", value=self.state.config.seed, sizing_mode="stretch_width")
        self.dtype = pn.widgets.Select(
            label="dtype",
            options=["float64", "float32"],
            value=task["dtype"],
            sizing_mode="stretch_width",
        )
        self.device = pn.widgets.Select(
            label="device",
            value=self.state.config.device,
            options=_devices(self.state.config.device),
            sizing_mode="stretch_width",
        )
        for w in (self.seed, self.dtype, self.device):
            w.param.watch(lambda *_: self._settings_changed(), "value")

        # ---- runs
        self.run_button = pn.widgets.Button(label="Run all", color="primary", width=120)
        self.run_button.on_click(lambda *_: self.start())
        self.cancel_all = cancel_all_button(self.state)
        self.in_turn = in_turn_checkbox(self.state)
        self.rows = RunRows(self.state, self._status_text)
        self.run_rows = self.rows.column
        self.results = pn.pane.HTML(
            NOTHING_RUN,
            sizing_mode="stretch_width",
            name="decompose-results",
            stylesheets=[TABLE_CSS],
        )
        self.sweep_plot = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=320)

        # ---- sweep: one method parameter over several values (e.g. a sketch size)
        self.sweep_param = pn.widgets.Select(
            label="sweep parameter", options=[""], sizing_mode="stretch_width"
        )
        self.sweep_values = pn.widgets.TextInput(
            label="values", placeholder="e.g. 50, 100, 200", sizing_mode="stretch_width"
        )
        self._sweep_options()
        self._show_sweep(task.get("sweep"))
        for w in (self.sweep_param, self.sweep_values):
            w.param.watch(lambda *_: self._sweep_changed(), "value")
        self.curves = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=340)
        self.images = pn.Column(sizing_mode="stretch_width")
        # ---- files, errors
        self.files = ConfigFiles(
            self.state,
            "decompose",
            self._sync_widgets,
            check=self._download_ready,
        )
        self.alert, self.upload = self.files.alert, self.files.upload
        self.config_view = self.files.config_view

    # ------------------------------------------------------------------ forms

    def _set_error(self, message: str) -> None:
        self.state.error = message

    def _sweep_options(self) -> None:
        """Integer and float parameters of any chosen method can be swept (a method without
        the swept one runs once, as a baseline: the exact method beside a sample sweep)."""
        names: set[str] = set()
        for m in self.methods.value:
            # ranks too, where one number stands for all of them ("ranks 4, 8, 16")
            names |= {
                p.name
                for p in get_method(m).params
                if p.kind in ("int", "float") or (p.kind == "ints" and p.scalar_ok)
            }
        options = ["", *sorted(names)]
        self.sweep_param.options = options
        if self.sweep_param.value not in options:
            self.sweep_param.value = ""

    def _show_sweep(self, sweep: dict[str, Any] | None) -> None:
        """The sweep fields showing ``sweep`` (empty for none)."""
        self.sweep_param.value = sweep["param"] if sweep else ""
        self.sweep_values.value = ", ".join(str(v) for v in sweep["values"]) if sweep else ""

    def _sweep_changed(self) -> None:
        if self._syncing:
            return
        param_name, text = self.sweep_param.value, (self.sweep_values.value or "").strip()
        if not param_name or not text:
            self.state.set_sweep(None)
            return
        try:
            values = parse_numbers(text, "sweep values", "50, 100")
        except TensorbenchError as e:
            self.state.error = str(e)
            return
        self.state.set_sweep({"param": param_name, "values": values})

    def _settings_changed(self) -> None:
        if self._syncing:
            return
        self.state.set_settings(
            seed=self.seed.value, dtype=self.dtype.value, device=self.device.value
        )

    def _methods_changed(self) -> None:
        if hasattr(self, "sweep_param"):
            self._sweep_options()
        try:
            methods = self.method_form.values()
        except TensorbenchError as e:
            self.state.error = str(e)
            return
        self.state.set_methods(methods)

    # ------------------------------------------------------------------ callbacks

    def _sync_widgets(self) -> None:
        cfg = self.state.config
        task = cfg.task
        self.data.show(task["data"])
        self.method_form.show(task["methods"])
        # the sweep and the settings too (an uploaded sweep config showed no sweep, and
        # Run all ran each method once); widgets filled one by one must not report the
        # half-filled states in between
        self._syncing = True
        try:
            self._sweep_options()
            self._show_sweep(task.get("sweep"))
            if cfg.device not in self.device.options:
                self.device.options = _devices(cfg.device)
            self.seed.value, self.dtype.value, self.device.value = (
                cfg.seed,
                task["dtype"],
                cfg.device,
            )
        finally:
            self._syncing = False

    def receive_network(self, net: Any, data: dict[str, Any] | None = None) -> None:
        """Fit ``net`` with ``network_als``: to ``data`` when given (a structure found by a
        search, on the data it was found for), else to data drawn from the same network
        plus 1% noise (change the data to fit other data of the network's output sizes)."""
        self.state.set_data(
            data
            if data is not None
            else {"kind": "synthetic", "network": net.to_dict(), "noise": 0.01, "seed": 0}
        )
        self.state.set_network(net)
        self._sync_widgets()
        # The last run's curves, table and images were of the old data: off the page
        # (unless runs are still going, which the user may still want to watch).
        if self.state.clear_runs():
            self._show_new_runs()

    # ------------------------------------------------------------------ runs

    def _readers(self) -> list[Callable[[], Any]]:
        """The change handlers of every input (see ``_inputs_in_force``)."""
        return [self.data.apply, self._methods_changed, self._sweep_changed, self._settings_changed]

    def start(self) -> None:
        """Run every method (each in its own thread) and poll for progress; not while an
        input is refused."""
        if any_active(self.state.snapshot()):
            return  # one run at a time (the button is disabled meanwhile)
        if not self._inputs_in_force(self._readers()):
            return
        shape = self.data.known_shape()
        if shape is not None:
            # as `tensorbench run` refuses it: a rank list that does not fit the data
            # failed its own row only, and the exported config would not run at all
            try:
                check_ranks_fit(self.state.config.task["methods"], shape, self.state.config.network)
                self._check_copies(shape)
            except TensorbenchError as e:
                why = in_box_words(str(e), self.state.box_labels)
                self.state.error = f"Not run: {why}. Fix that input, then run again."
                return
        self.state.start_all()
        self._show_new_runs()
        self._start_poll()

    def _check_copies(self, shape: list[int]) -> None:
        """Refuse runs side by side that cannot all hold the data: each worker loads its
        own copy (the least they need; their methods need more). One at a time, one copy
        is held at once, and the engine's own checks apply."""
        cfg = self.state.config
        copies = 1 if self.state.sequential else len(cfg.task["methods"])  # a run each
        if copies < 2:
            return
        itemsize = 8 if cfg.task["dtype"] == "float64" else 4
        check_memory(
            copies * math.prod(shape) * itemsize,
            cfg.device,
            f"the data, copied once per run side by side ({copies} runs),",
            'tick "one at a time" (one copy at once) or choose fewer methods',
        )

    def _show_new_runs(self) -> None:
        """Rows for the state's runs (none after a clear), the last images off, a redraw."""
        # One row per run, built once: redraws update it in place, so its Cancel button
        # stays the same element while the user reaches for it.
        self.rows.reset(self.state.snapshot())
        self.images.objects = []
        self._refresh(force=True)

    def _draw(self, snap: list[dict[str, Any]], force: bool, running: bool) -> None:
        # Rebuilding the plots takes the server's time: spaced out while runs go on.
        self._redraw_plots(lambda: show_plot(self.curves, error_curves(snap)), force, running)
        # before any run the area said nothing of what would appear there
        self.results.object = results_table(snap) if snap else NOTHING_RUN
        show_plot(self.sweep_plot, sweep_plot(snap))
        if not running:
            self.images.objects = self._image_panes(snap)

    @staticmethod
    def _status_text(r: dict[str, Any]) -> str:
        runs = r["result"].metrics.get("runs", []) if r["result"] is not None else []
        swept = [x for x in runs if "sweep_value" in x and x.get("status") == "ok"]
        if r["status"] == "ok" and len(swept) > 1:
            # a sweep: every value's error, not the last one's as if it were the only one
            param = r["result"].config.task["sweep"]["param"]
            errors = ", ".join(
                f"{x['sweep_value']}: {_err(x['rel_error'], '.4g')}"
                + (" (stalled)" if run_warning(x) else "")
                for x in swept
            )
            return f" · {len(swept)} values of {param} · errors {errors}"
        if r["status"] == "ok" and runs and runs[-1].get("status") == "ok":
            # finished: the numbers of the results table (the final error is measured
            # once more on the data; the last progress record may be an estimate)
            last = runs[-1]
            text = f" · iteration {last['iterations']} · error {_err(last['rel_error'], '.4g')}"
            # "ok" beside a stalled run's error read as a success
            return text + (" · stalled: see the results" if run_warning(last) else "")
        if not r["records"]:
            return ""
        last = r["records"][-1]
        text = f" · iteration {last.get('iter', len(r['records']))}"
        if isinstance(last.get("rel_error"), float):
            text += f" · error {last['rel_error']:.4g}"
        return text

    def _image_panes(self, snap: list[dict[str, Any]]) -> list[Any]:
        """Original and rebuilt images, when the data that was run is an image."""
        done = [r for r in snap if r["result"] is not None and r["status"] == "ok"]
        # the data the runs were given, not the sidebar's (which may have changed since:
        # the moon was shown as the "original" of the camera's reconstructions)
        data = done[0]["result"].config.task["data"] if done else None
        if data is None or data["kind"] != "image":
            return []
        stack = data.get("mode") == "stack"
        panes = []
        if done:
            info = done[0]["result"].metrics.get("data", {})
            try:
                X, _ = load_data(data, dtype="float64")
                if "layout" in info:
                    X = tensor_to_matrix(X, info["layout"])
                panes.append(_image_pane(X, "original", stack))
            except TensorbenchError as e:
                panes.append(pn.pane.Str(f"original: cannot load ({e})"))
        for r in snap:
            res = r["result"]
            if res is None or r["status"] != "ok":
                continue
            info = res.metrics.get("data", {})
            decs = res.artifacts.get("decompositions", {})
            # every run of the entry: a sweep's values each rebuild their own image (they
            # are stored under "tt_svd ranks=4", so a sweep showed none)
            for run_ in res.metrics.get("runs", []):
                label = run_["label"]
                dec = decs.get(label)
                if dec is None:
                    continue
                try:
                    img = dec.reconstruct().detach().cpu()
                    if "layout" in info:
                        img = tensor_to_matrix(img, info["layout"])
                    panes.append(_image_pane(img, label, stack))
                except (TensorbenchError, RuntimeError, ValueError) as e:
                    panes.append(pn.pane.Str(f"{label}: cannot show the image ({e})"))
        # Wrapped, not a row: with three methods the fourth image ran off a 1440 px page.
        return [pn.FlexBox(*panes, flex_wrap="wrap", sizing_mode="stretch_width")] if panes else []

    # ------------------------------------------------------------------ layout

    def sidebar(self) -> list[Any]:
        """Objects for the template's sidebar."""
        return [
            pn.pane.Markdown("### Data"),
            self.data.column(),
            pn.pane.Markdown("### Methods"),
            self.method_form.column(),
            pn.pane.Markdown("### Sweep (optional)"),
            self.sweep_param,
            self.sweep_values,
            pn.pane.Markdown("### Settings"),
            self.dtype,
            self.seed,
            self.device,
            pn.pane.Markdown("### Files"),
            *self.files.sidebar(),
        ]

    def main(self) -> pn.viewable.Viewable:
        """The page's main area."""
        tabs = pn.Tabs(
            (
                "Results",
                pn.Column(self.results, self.sweep_plot, self.images, sizing_mode="stretch_width"),
            ),
            ("Config JSON", self.config_view),
            sizing_mode="stretch_width",
        )
        return pn.Column(
            self.alert,
            self.files.stale,
            pn.Row(self.run_button, self.cancel_all, self.in_turn),
            self.run_rows,
            self.curves,
            tabs,
            sizing_mode="stretch_width",
        )


def _devices(current: str) -> list[str]:
    import torch

    out = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return out if current in out else [*out, current]


#: Where an error of exactly 0 is drawn on the log axis (an exact fit at full rank was
#: left out, and its method showed in the legend with nothing drawn).
ERROR_FLOOR = 1e-16


def _curve_data(recs: list[dict[str, Any]]) -> dict[str, list[float]]:
    recs = [
        x
        for x in recs
        if isinstance(x.get("rel_error"), (int, float))
        and math.isfinite(x["rel_error"])
        and x["rel_error"] >= 0
    ]
    return {
        "iteration": [x.get("iter", i + 1) for i, x in enumerate(recs)],
        "seconds": [max(x["elapsed"], 1e-6) for x in recs],  # > 0 on a log axis
        "relative error": [max(x["rel_error"], ERROR_FLOOR) for x in recs],
    }


def _curves_of(r: dict[str, Any]) -> list[tuple[str, dict[str, list[float]]]]:
    """``(label, data)`` per curve of a run: one, or one per swept value (records name their
    method with the value, e.g. "tt_als max_iter=5"; joined, a sweep's runs zig-zagged back
    to iteration 1 at each value)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for x in r["records"]:
        groups.setdefault(x.get("method", r["label"]), []).append(x)
    return [(label, _curve_data(recs)) for label, recs in groups.items()]


_DASHES = ("solid", "dashed", "dotted", "dotdash", "dashdot")


def _overlay(snap: list[dict[str, Any]], x: str, title: str) -> hv.Overlay:
    """One curve per run (in run order, so each run keeps its colour); a sweep's values are
    curves of the run's colour, told apart by their dashes."""
    curves = []
    for k, r in enumerate(snap):
        color = run_color(k)
        for j, (label, data) in enumerate(_curves_of(r)):
            if not data["iteration"]:
                continue  # nothing measured to draw: no legend entry without a line
            curves.append(
                hv.Curve(data, x, "relative error", label=label).opts(
                    color=color, line_width=2, line_dash=_DASHES[j % len(_DASHES)], tools=["hover"]
                )
            )
            # points on both plots: a one-step method (hosvd, tt_svd) is a lone point,
            # which a line alone does not draw
            curves.append(hv.Scatter(data, x, "relative error").opts(color=color, size=5))
    labels = sum(1 for c in curves if isinstance(c, hv.Curve))
    return hv.Overlay(curves).opts(
        logy=True,
        # by wall time, runs differ by orders of magnitude (hooi 0.06 s beside tt_als 5 s
        # was a dot on the axis under the other curve)
        logx=x == "seconds",
        responsive=True,
        show_grid=True,
        # above the frame, not in it: inside, it hid the end of a curve (or a whole curve
        # that finished early, in the plot by wall time)
        title=title,
        framewise=True,
        # points on the frame's edge were cut in half (the first and last by wall time,
        # the highest error on the top edge)
        padding=0.05,
        **legend_above(labels),
    )


def error_curves(snap: list[dict[str, Any]]) -> hv.Layout | None:
    """Relative error against iteration and against wall time, one curve per method."""
    if not any(_curve_data(r["records"])["iteration"] for r in snap):
        return None
    left = _overlay(snap, "iteration", "relative error by iteration")
    right = _overlay(snap, "seconds", "relative error by wall time")
    return (left + right).opts(shared_axes=False)


#: The results area before any run.
NOTHING_RUN = (
    "<div class='tb-nothing-run' style='color: #5a6b7b; font-size: 13px; max-width: 46em'>"
    "Nothing run yet. <b>Run all</b> fits each chosen method to the data in its own "
    "process: its relative error against iteration and against wall time is drawn live "
    "above, and when it ends this table gives its final error, time, iterations, ranks, "
    "parameters and compression (for an image, the rebuilt picture beside the original)."
    "</div>"
)


def results_table(snap: list[dict[str, Any]]) -> str:
    """Final error, time, parameters and compression per method, as an HTML table."""
    rows = []
    for r in snap:
        res = r["result"]
        runs = res.metrics.get("runs", []) if res is not None else []
        for run_ in runs:
            if run_.get("status") != "ok":
                continue
            rows.append(
                f"<tr data-label='{html.escape(run_['label'], quote=True)}'>"
                f"<td>{html.escape(run_['label'])}</td>"
                f"<td>{_err(run_['rel_error'], '.6e')}{_warning(run_)}</td>"
                f"<td>{run_['seconds']:.3g} s</td>"
                f"<td>{run_['iterations']}</td><td>{_ranks_cell(run_)}</td>"
                f"<td>{run_['params']}</td>{_compression_cell(run_['compression'])}</tr>"
            )
        if r["status"] == "cancelled":
            rows.append(_cancelled_row(r, runs))
        elif r["status"] == "failed":
            last = _last_measured(r["records"])
            # a run that died midway (its worker killed) keeps its last error in sight
            got = (
                []
                if last is None
                else [
                    f"its last measured error: {last['rel_error']:.6e} at iteration "
                    f"{last.get('iter', len(r['records']))}, after {last['elapsed']:.3g} s"
                ]
            )
            rows.append(
                f"<tr><td>{html.escape(r['label'])}</td><td colspan=6>"
                f"{notes_html([r['error'], *got], '12px')}</td></tr>"
            )
    if not rows:
        return ""
    return (
        "<table class='tb-table' style='width: 100%; font-size: 13px'><thead><tr>"
        "<th>method</th><th>relative error</th><th>time</th><th>iterations</th>"
        "<th>ranks</th><th>parameters</th><th>compression</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _cancelled_row(r: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    """A cancelled run's row: how far it got -- its last measured error, its time, its
    iterations -- not a bare "cancelled" that dropped a long run's work from the table."""
    label = html.escape(r["label"])
    stopped = next((x for x in runs if x.get("status") == "cancelled"), None)
    if stopped is None:  # cancelled while it waited its turn: it never ran
        return f"<tr><td>{label}</td><td colspan=6>cancelled before it started</td></tr>"
    mine = [x for x in r["records"] if x.get("method") == stopped["label"]]
    last = _last_measured(mine)
    error = (
        f"{last['rel_error']:.6e} <span style='color: #5a6b7b'>(last, at iteration "
        f"{last.get('iter', len(mine))})</span>"
        if last is not None
        else "none measured yet"
    )
    iters = max((x.get("iter", 0) for x in mine), default=0)
    return (
        f"<tr data-label='{html.escape(stopped['label'], quote=True)}'>"
        f"<td>{html.escape(stopped['label'])}</td><td>{error}</td>"
        f"<td>{stopped['seconds']:.3g} s</td><td>{iters}</td>"
        "<td colspan=3>cancelled: no decomposition kept</td></tr>"
    )


def _warning(run_: dict[str, Any]) -> str:
    """A method's warning about its result, under its error: an error of 1.02 alone did
    not say the run had failed, nor what to change."""
    text = run_warning(run_)
    return notes_html([text], "12px") if text else ""


def _err(x: float | None, spec: str) -> str:
    """An error for the table or a status line; None where the data was too big to
    rebuild and the method kept no estimate (a format of None raised in the poll)."""
    return "not measured" if x is None else format(x, spec)


def _measured(x: dict[str, Any]) -> bool:
    return isinstance(x.get("rel_error"), (int, float)) and math.isfinite(x["rel_error"])


def _last_measured(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last record with a measured error (a run's last word before it stopped)."""
    return next((x for x in reversed(records) if _measured(x)), None)


def _ranks_cell(run_: dict[str, Any]) -> str:
    """The ranks a method used, and what was asked when the data's sizes capped it (ranks
    1000 on modes of 8 ran at 8, silently, with more parameters than the data)."""
    info, given = run_.get("info") or {}, run_.get("params_given") or {}
    used = info.get("ranks", info.get("rank"))
    asked = given.get("ranks", given.get("rank"))
    if used is None:
        used, asked = asked, None
    if used is None:
        return ""
    if not isinstance(used, (list, tuple)):
        return html.escape(str(used))
    asked_all = [asked] * len(used) if isinstance(asked, int) else asked
    text = ", ".join(map(str, used))
    if isinstance(asked_all, list) and any(u < a for u, a in zip(used, asked_all, strict=False)):
        # a tolerance in force cuts ranks too (tt_svd eps=0.1 kept 2 of the 8 asked)
        tols = [
            f"{k}={v}"
            for k in ("eps", "rel_tol")
            if (v := given[k] if given.get(k) is not None else info.get(k)) is not None
        ]
        why = f"cut by {tols[0]} or the data's sizes" if tols else "capped by the data's sizes"
        text += f" (asked {asked}: {why})"
    return html.escape(text)


def _compression_cell(c: float) -> str:
    if c < 1:  # more parameters than the data has entries: say so where it shows
        tip = "more parameters than the data has entries"
        return f"<td title='{tip}' style='color: #b02a37'>{c:.4g}x (larger than the data)</td>"
    return f"<td>{c:.4g}x</td>"


def _image_pane(img: Any, label: str, stack: bool = False) -> Any:
    """An image panel (gray, RGB, or a stack of grays side by side) of a reconstruction,
    clipped to [0, 1]."""
    a = img.clamp(0, 1).numpy()
    width = 260
    if stack and a.ndim == 3:
        # the stacked images side by side, a white gap between them (a stack was "not an
        # image"; three stacked would have passed for one RGB picture)
        gap = np.ones((a.shape[0], max(2, a.shape[1] // 64)))
        parts = [a[:, :, k] for k in range(a.shape[2])]
        a = np.concatenate([x for part in parts for x in (part, gap)][:-1], axis=1)
        width = min(260 * len(parts), 780)
    # HoloViews draws an array's first row at the top, as an image is stored
    if a.ndim == 2:
        el = hv.Image(a, bounds=(0, 0, a.shape[1], a.shape[0])).opts(cmap="gray")
    elif a.ndim == 3 and a.shape[2] == 3:
        el = hv.RGB(a, bounds=(0, 0, a.shape[1], a.shape[0]))
    else:
        return pn.pane.Str(f"{label}: shape {a.shape} is not an image")
    return pn.pane.HoloViews(
        el.opts(title=label, xaxis=None, yaxis=None, frame_width=width, aspect="equal")
    )


def sweep_plot(snap: list[dict[str, Any]]) -> hv.Layout | None:
    """Final error and time against the swept parameter, one line per method; a method
    that ran once beside the sweep (it has no such parameter) is a dashed level line."""
    err, sec = [], []
    swept = "value"
    lines, levels = [], []
    for k, r in enumerate(snap):
        res = r["result"]
        if res is None:
            continue
        ok = [x for x in res.metrics.get("runs", []) if x.get("status") == "ok" and _measured(x)]
        if res.config.task.get("sweep"):
            swept = res.config.task["sweep"]["param"]  # the axis says what was swept
            runs = [x for x in ok if "sweep_value" in x]
            if len(runs) >= 2:
                lines.append((k, r["label"], runs))
        elif len(ok) == 1:
            levels.append((k, r["label"], ok[0]))
    if not lines:
        return None
    for k, label, runs in lines:
        color = run_color(k)
        data = {
            "value": [x["sweep_value"] for x in runs],
            "relative error": [x["rel_error"] for x in runs],
            "seconds": [x["seconds"] for x in runs],
        }
        err.append(
            hv.Curve(data, "value", "relative error", label=label).opts(color=color)
            * hv.Scatter(data, "value", "relative error").opts(color=color, size=6)
        )
        sec.append(
            hv.Curve(data, "value", "seconds", label=label).opts(color=color)
            * hv.Scatter(data, "value", "seconds").opts(color=color, size=6)
        )
    values = [x["sweep_value"] for _k, _l, runs in lines for x in runs]
    span = [min(values), max(values)]
    for k, label, x in levels:
        style = {"color": run_color(k), "line_dash": "dashed"}
        for plots, key, dim in ((err, "rel_error", "relative error"), (sec, "seconds", "seconds")):
            level = {"value": span, dim: [x[key]] * 2}
            plots.append(hv.Curve(level, "value", dim, label=f"{label} (once)").opts(**style))
    # padding: the last value's point sat on the frame's edge; the legend above the
    # frame (inside, it covered the points at the largest value)
    common = {
        "logy": True,
        "responsive": True,
        "show_grid": True,
        "xlabel": swept,
        "padding": 0.05,
        **legend_above(len(lines) + len(levels), 300),
    }
    return (
        hv.Overlay(err).opts(title="final error against the swept value", **common)
        + hv.Overlay(sec).opts(title="time against the swept value", **common)
    ).opts(shared_axes=False)
