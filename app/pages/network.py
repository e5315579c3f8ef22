"""The Network page: draw or pick a network, watch its costs and contraction tree, run,
export."""

from __future__ import annotations

import html
import io
from typing import Any

import panel as pn
from panel.viewable import Viewer

from tensorbench.app.demos import demo_names, load_demo
from tensorbench.engine import Config, Network, Result
from tensorbench.widgets.export_panel import ExportPanel
from tensorbench.widgets.forms import EinsumImport, RunSettings, TemplateForm, watch_uploads
from tensorbench.widgets.multirun import changed_fields, in_words
from tensorbench.widgets.network_editor import NetworkEditor
from tensorbench.widgets.network_state import NetworkState
from tensorbench.widgets.plots import (
    StatsCard,
    contraction_tree,
    largest_step,
    notes_html,
    step_costs,
    step_plot,
    subtree_leaves,
)
from tensorbench.widgets.run_panel import RunPanel
from tensorbench.widgets.toast import clear_error_toast, error_toast

__all__ = ["NetworkPage"]


class NetworkPage(Viewer):
    """Composition of the Network page's widgets around one :class:`NetworkState`."""

    def __init__(self, config: Config | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.state = NetworkState(config)
        self.template_form = TemplateForm(state=self.state)
        self.run_settings = RunSettings(state=self.state)
        self.run_panel = RunPanel(get_config=lambda: self.state.config, on_result=self._show_result)
        self.editor = NetworkEditor(state=self.state)
        self.einsum_import = EinsumImport(state=self.state)
        self.export_panel = ExportPanel(state=self.state, active=False)
        #: set by the app: ``handoff(page_slug, network)`` sends the drawing to another page
        self.handoff: Any = None
        self.to_decompose = pn.widgets.Button(
            label="Decompose with this network",
            sizing_mode="stretch_width",
            description="fit this structure to data on the Decompose page (network ALS)",
        )
        self.to_decompose.on_click(lambda *_: self._send("decompose"))
        self.to_search = pn.widgets.Button(
            label="Search from this network",
            sizing_mode="stretch_width",
            description="draw data from this structure and see whether a search finds it",
        )
        self.to_search.on_click(lambda *_: self._send("search"))
        self.stats = StatsCard(state=self.state)
        self.warnings = pn.pane.HTML("", sizing_mode="stretch_width", name="warnings")
        self.tree_plot = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=310)
        self.cost_plot = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=310)
        self.state.param.watch(self._on_stats, "stats")

        self.alert = pn.pane.Alert(
            "", alert_type="danger", visible=False, sizing_mode="stretch_width", name="page-error"
        )
        self.state.param.watch(self._show_error, "error")

        self.json_editor = pn.widgets.TextAreaInput(
            value=self.state.config_json(),
            height=380,
            sizing_mode="stretch_width",
            label="Config JSON (edit and press Apply)",
        )
        self.apply_json = pn.widgets.Button(label="Apply JSON", color="primary", width=130)
        self.apply_json.on_click(lambda *_: self.state.load_text(self.json_editor.value))
        self.upload = pn.widgets.FileInput(
            accept=".json,application/json", multiple=False, sizing_mode="stretch_width"
        )
        watch_uploads(self.upload, self.state.load_bytes)
        self.download_config = pn.widgets.FileDownload(
            callback=lambda: io.BytesIO(self.state.config_json().encode()),
            filename="tensorbench-config.json",
            label="Download config",
            color="success",
            sizing_mode="stretch_width",
        )
        self.download_script = pn.widgets.FileDownload(
            callback=lambda: io.BytesIO(self.state.script().encode()),
            filename="tensorbench_run.py",
            label="Download script",
            color="success",
            sizing_mode="stretch_width",
        )
        self.examples = pn.widgets.Select(
            label="open an example",
            options=["", *demo_names()],
            value="",
            sizing_mode="stretch_width",
        )
        self._example: Network | None = None  # the network of the example on show
        self.examples.param.watch(self._on_example, "value")
        self.script_view = pn.pane.HTML(self._script_html(), sizing_mode="stretch_width")
        self.result_area = pn.Column(
            pn.pane.Markdown(
                "Press **Run** to contract the network with seeded random data: "
                "the predicted cost of each step is set against the clock."
            ),
            sizing_mode="stretch_width",
        )
        # Over the Result tab when the shown result is of another network or settings:
        # after an edit, an import or an upload it went on showing the old run as if it
        # were this one's.
        self.stale_note = pn.pane.Alert(
            "", alert_type="warning", visible=False, sizing_mode="stretch_width"
        )
        self.run_panel.param.watch(self._mark_stale, ["result", "running"])
        self.state.param.watch(self._on_config, "config")
        self._on_config()
        self._on_stats()

    # ------------------------------------------------------------------ callbacks

    def _show_error(self, *_: Any) -> None:
        message = html.escape(self.state.error)
        self.alert.object = message
        self.alert.visible = bool(message)
        # The alert may be scrolled out of view (e.g. under the JSON editor): also toast it.
        if message:
            # quotes stay as typed: the toast shows entities such as &#x27; literally
            error_toast(html.escape(self.state.error, quote=False))
        else:  # fixed: its toast goes with the alert
            clear_error_toast()

    def _mark_stale(self, *_: Any) -> None:
        result, cfg = self.run_panel.result, self.state.config
        diff = [] if result is None else changed_fields(result.config, cfg)
        stale = bool(diff)
        if stale and self.run_panel.running:
            text = "A new run is going; the result below is the last one's."
        elif stale:
            text = (
                f"The result below is from earlier settings: the {in_words(diff)} changed "
                "since. Press Run for the network and settings now on the page."
            )
        self.stale_note.object = text if stale else ""
        self.stale_note.visible = stale

    def _on_config(self, *_: Any) -> None:
        self._mark_stale()
        failed = self.run_panel.failed
        if failed is not None and changed_fields(failed, self.state.config):
            # a failure of another network or settings (it stayed on after Clear)
            self.run_panel.param.update(error="", failed=None)
        # the example list shows the example only while the canvas holds it (after an
        # edit it went on naming it, and choosing it again did nothing)
        if self._example is not None and self.state.config.network != self._example:
            self.examples.value = ""
        self.json_editor.value = self.state.config_json()
        self.script_view.object = self._script_html()
        empty = self.state.network is None
        self.download_script.disabled = empty
        net = self.state.network
        notes = [] if net is None else net.warnings()
        self.warnings.object = notes_html(notes)

    def _on_stats(self, *_: Any) -> None:
        stats, net = self.state.stats, self.state.network
        if stats is None or net is None or stats.num_tensors != len(net.tensors):
            self.tree_plot.object = None
            self.cost_plot.object = None
            self.editor.set_hot([])
            return
        names = [t.name for t in net.tensors]
        self.tree_plot.object = contraction_tree(stats, names)
        self.cost_plot.object = step_costs(stats)
        k = largest_step(stats)
        hot = [] if k is None else [names[i] for i in subtree_leaves(stats, len(names), k)]
        self.editor.set_hot(hot)

    def _send(self, slug: str) -> None:
        if self.state.network is None:
            self.state.error = "the canvas is empty: draw or pick a network first"
            return
        if self.handoff is not None:
            self.handoff(slug, self.state.network)

    def open_config(self, config: Config, source: str = "a config") -> None:
        """Show a valid contraction config (one uploaded on another page); undoable."""
        self.state.open_config(config, source)

    def receive_network(self, net: Network, **_: Any) -> None:
        """Show ``net`` on the canvas (e.g. a structure found by a search); undoable."""
        self.state.replace_network(net)

    def _on_example(self, event: Any) -> None:
        # the example's network, kept to compare edits with (not read again per edit)
        demo = load_demo(event.new) if event.new else None
        self._example = None if demo is None else demo.network
        if demo is not None:
            self.state.load_text(demo.to_json(), source=f"example {event.new!r}", titled=True)

    def _show_result(self, result: Result) -> None:
        plot = step_plot(result)
        if plot is None:
            # words, not an empty 0..1 frame with its caption cut at the edge
            why = (
                "the run was cancelled before its steps were timed"
                if result.status == "cancelled"
                else "this network has no contraction steps to time"
            )
            self.result_area.objects = [pn.pane.Markdown(f"No step timings: {why}.")]
            return
        self.result_area.objects = [
            pn.pane.HoloViews(plot, height=290, sizing_mode="stretch_width")
        ]

    def _script_html(self) -> str:
        try:
            text = self.state.script()
        except Exception as e:  # never let a preview break the page
            text = f"# could not export: {e}"
        style = "font-size: 12px; max-height: 420px; overflow: auto"
        return f'<pre style="{style}">{html.escape(text)}</pre>'

    # ------------------------------------------------------------------ layout

    def sidebar(self) -> list[Any]:
        """Objects for the template's sidebar."""
        return [
            pn.pane.Markdown("### Network"),
            self.template_form,
            pn.pane.Markdown("### Import einsum"),
            self.einsum_import,
            pn.pane.Markdown("### Contract"),
            self.run_settings,
            self.run_panel,
            pn.pane.Markdown("### Use this network"),
            self.to_decompose,
            self.to_search,
            pn.pane.Markdown("### Files"),
            self.examples,
            self.upload,
            self.download_config,
            self.download_script,
        ]

    def main(self) -> pn.viewable.Viewable:
        """The page's main area."""
        tabs = pn.Tabs(
            (
                "Result",
                pn.Column(
                    self.stale_note,
                    self.run_panel.summary_pane,
                    self.result_area,
                    sizing_mode="stretch_width",
                ),
            ),
            (
                "Config JSON",
                pn.Column(self.json_editor, self.apply_json, sizing_mode="stretch_width"),
            ),
            ("Indices", self.editor.index_table),
            ("Script", self.script_view),
            ("Export", self.export_panel),
            sizing_mode="stretch_width",
            dynamic=False,
        )
        export_tab = len(tabs) - 1
        tabs.param.watch(
            lambda e: setattr(self.export_panel, "active", e.new == export_tab), "active"
        )
        analysis = pn.Row(self.tree_plot, self.cost_plot, sizing_mode="stretch_width")
        return pn.Column(
            self.editor,
            # under the canvas, not over it: shown above, the alert pushed the canvas
            # down by its height, so the next click landed on another tensor
            self.alert,
            self.stats,
            self.editor.einsum,
            self.warnings,
            analysis,
            tabs,
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(pn.Column(*self.sidebar(), width=320), self.main())
