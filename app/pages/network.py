"""The Network page: pick a template, watch the diagram and its costs, run, export."""

from __future__ import annotations

import html
import io
from typing import Any

import panel as pn
from panel.viewable import Viewer

from tensorbench.app.demos import demo_names, load_demo
from tensorbench.engine import Config, Result
from tensorbench.widgets.forms import RunSettings, TemplateForm
from tensorbench.widgets.network_state import NetworkState
from tensorbench.widgets.network_view import NetworkView
from tensorbench.widgets.plots import StatsCard, step_plot
from tensorbench.widgets.run_panel import RunPanel

__all__ = ["NetworkPage"]


class NetworkPage(Viewer):
    """Composition of the Network page's widgets around one :class:`NetworkState`."""

    def __init__(self, config: Config | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.state = NetworkState(config)
        self.template_form = TemplateForm(state=self.state)
        self.run_settings = RunSettings(state=self.state)
        self.run_panel = RunPanel(get_config=lambda: self.state.config, on_result=self._show_result)
        self.view = NetworkView(state=self.state)
        self.stats = StatsCard(state=self.state)

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
        self.upload.param.watch(self._on_upload, "value")
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
        self.examples.param.watch(self._on_example, "value")
        self.script_view = pn.pane.HTML(self._script_html(), sizing_mode="stretch_width")
        self.result_area = pn.Column(
            pn.pane.Markdown(
                "Press **Run** to contract the network with seeded random data: "
                "the predicted cost of each step is set against the clock."
            ),
            sizing_mode="stretch_width",
        )
        self.state.param.watch(self._on_config, "config")

    # ------------------------------------------------------------------ callbacks

    def _show_error(self, *_: Any) -> None:
        message = html.escape(self.state.error)
        self.alert.object = message
        self.alert.visible = bool(message)
        # The alert may be scrolled out of view (e.g. under the JSON editor): also toast it.
        if message and pn.state.notifications is not None:
            pn.state.notifications.error(message, duration=10000)

    def _on_config(self, *_: Any) -> None:
        self.json_editor.value = self.state.config_json()
        self.script_view.object = self._script_html()

    def _on_upload(self, event: Any) -> None:
        if event.new:
            self.state.load_bytes(event.new, self.upload.filename or "upload")

    def _on_example(self, event: Any) -> None:
        if event.new:
            self.state.load_text(load_demo(event.new).to_json(), source=f"example {event.new!r}")

    def _show_result(self, result: Result) -> None:
        self.result_area.objects = [
            pn.pane.HoloViews(step_plot(result), height=290, sizing_mode="stretch_width")
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
            pn.pane.Markdown("### Contract"),
            self.run_settings,
            self.run_panel,
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
                    self.run_panel.summary_pane, self.result_area, sizing_mode="stretch_width"
                ),
            ),
            (
                "Config JSON",
                pn.Column(self.json_editor, self.apply_json, sizing_mode="stretch_width"),
            ),
            ("Script", self.script_view),
            sizing_mode="stretch_width",
            dynamic=False,
        )
        return pn.Column(self.alert, self.view, self.stats, tabs, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(pn.Column(*self.sidebar(), width=320), self.main())
