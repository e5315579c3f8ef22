"""Export the current network or config: script, JSON, numpy/torch/quimb/cotengra code,
SVG, TikZ or PNG -- previewed on the page and downloaded as a file."""

from __future__ import annotations

import html
import io
import logging
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from tensorbench.engine import CODE_TARGETS, EXPORT_TARGETS, TensorbenchError, export_as
from tensorbench.engine.codegen import target_warnings

from .plots import notes_html

__all__ = ["ExportPanel"]

log = logging.getLogger(__name__)

#: Text previews longer than this are cut (the download has everything).
PREVIEW_CHARS = 20_000


class ExportPanel(Viewer):
    """Pick a target, see it, download it. Limits of code targets are said in words."""

    state = param.Parameter(doc="The page's NetworkState.")
    active = param.Boolean(default=True, doc="Shown on the page; previews are made only then.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        options = {f"{name} — {doc}": name for name, (doc, _s, _b) in EXPORT_TARGETS.items()}
        self.target = pn.widgets.Select(
            label="export as", options=options, value="numpy", sizing_mode="stretch_width"
        )
        self.download = pn.widgets.FileDownload(
            callback=self._file, filename="network.py", label="Download", color="success", width=160
        )
        self.notes = pn.pane.HTML("", sizing_mode="stretch_width", name="export-notes")
        self.preview = pn.Column(sizing_mode="stretch_width", name="export-preview")
        self.target.param.watch(self._update, "value")
        self.state.param.watch(self._update, "config")
        self.param.watch(self._update, "active")
        self._update()

    def _data(self) -> str | bytes:
        if self.target.value == "script":
            # its usage lines name the file it is downloaded as (they said script.py)
            return export_as(self.state.config, "script", filename="tensorbench_run.py")
        return export_as(self.state.config, self.target.value)

    def _file(self) -> io.BytesIO:
        try:
            data = self._data()
        except TensorbenchError as e:
            self.state.error = f"export: {e}"
            return io.BytesIO(b"")
        return io.BytesIO(data if isinstance(data, bytes) else data.encode("utf-8"))

    def _update(self, *_: Any) -> None:
        if not self.active:  # code and pictures are made when someone looks at them
            return
        target = self.target.value
        _doc, suffix, _binary = EXPORT_TARGETS[target]
        self.download.filename = (
            "tensorbench_run"
            if target == "script"
            else f"network_{target}"
            if target in CODE_TARGETS
            else "network"
        ) + suffix
        net = self.state.network
        self.download.disabled = net is None
        if net is None:
            self.notes.object = ""
            self.preview.objects = [pn.pane.Markdown("The canvas is empty: nothing to export.")]
            return
        notes: list[str] = []
        try:
            if target in CODE_TARGETS:
                task = self.state.config.task
                notes = target_warnings(
                    net,
                    target,
                    optimize=task.get("optimize", "auto"),
                    seed=self.state.config.seed,
                    dtype=task.get("dtype", "float64"),
                )
            data = self._data()
        except TensorbenchError as e:
            # nothing to download either: the button saved an empty file
            self.download.disabled = True
            self.notes.object = notes_html([str(e)], "12px")
            self.preview.objects = []
            return
        except Exception as e:  # a bug: say so on the page instead of breaking it
            log.exception("export preview failed")
            self.download.disabled = True
            self.notes.object = notes_html([f"internal error ({type(e).__name__}): {e}"], "12px")
            self.preview.objects = []
            return
        self.notes.object = notes_html(notes, "12px")
        if target == "png":
            assert isinstance(data, bytes)
            self.preview.objects = [pn.pane.PNG(data, sizing_mode="scale_width", max_width=900)]
        elif target == "svg":
            assert isinstance(data, str)
            # our own SVG (every name in it is XML-escaped by engine.drawing), inline without
            # its XML declaration
            svg = data[data.index("<svg") :]
            self.preview.objects = [
                pn.pane.HTML(svg, sizing_mode="stretch_width", styles={"overflow": "auto"})
            ]
        else:
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            if len(text) > PREVIEW_CHARS:
                text = text[:PREVIEW_CHARS] + "\n... (cut here; the download has it all)"
            style = "font-size: 12px; max-height: 460px; overflow: auto"
            self.preview.objects = [
                pn.pane.HTML(
                    f"<pre data-testid='export-text' style='{style}'>{html.escape(text)}</pre>",
                    sizing_mode="stretch_width",
                )
            ]

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(self.target, self.download, sizing_mode="stretch_width"),
            self.notes,
            self.preview,
            sizing_mode="stretch_width",
        )
