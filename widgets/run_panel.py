"""Run a config off the event loop with a progress bar, a Cancel button and the result.

The run happens in a worker process (:func:`~tensorbench.engine.worker.run_in_process`)
that a thread of the page waits on; progress events come back to the page through the
Bokeh document's next-tick callbacks, so the page stays responsive and two
browser sessions never share a run.
"""

from __future__ import annotations

import html
import logging
import threading
from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

from tensorbench.engine import Config, Result, TensorbenchError
from tensorbench.engine.worker import run_in_process

from .background import current_doc, dispatch
from .multirun import coloured_when_enabled

__all__ = ["RunPanel"]

log = logging.getLogger(__name__)


class RunPanel(Viewer):
    """Run button, progress, cancel, and the last result's summary.

    Parameters
    ----------
    get_config : callable
        Returns the config to run when Run is pressed.
    """

    get_config = param.Callable(doc="Returns the Config to run.")
    running = param.Boolean(default=False, doc="A run is in progress.")
    fraction = param.Number(default=0.0, bounds=(0, 1), doc="Progress of the current run.")
    message = param.String(default="", doc="What the run is doing now.")
    result = param.ClassSelector(
        class_=Result, allow_None=True, default=None, doc="The last finished run."
    )
    error = param.String(default="", doc="Why the last run failed.")
    failed = param.ClassSelector(
        class_=Config, allow_None=True, default=None, doc="The config of the run that failed."
    )
    on_result = param.Callable(
        default=None, allow_None=True, doc="Called with each finished Result (e.g. to draw plots)."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._cancel: threading.Event | None = None
        self._watching_session = False
        self._thread: threading.Thread | None = None
        self._run_button = pn.widgets.Button(label="Run", color="primary", width=110)
        self._cancel_button = coloured_when_enabled(
            pn.widgets.Button(label="Cancel", color="warning", width=110, disabled=True)
        )
        self._run_button.on_click(self.start)
        self._cancel_button.on_click(self._stop)
        self._progress = pn.indicators.Progress(
            value=0, max=1000, sizing_mode="stretch_width", bar_color="primary", visible=False
        )
        self._status = pn.pane.Str("", sizing_mode="stretch_width")
        self._alert = pn.pane.Alert(
            "", alert_type="danger", visible=False, sizing_mode="stretch_width"
        )
        self._summary = pn.pane.HTML("", sizing_mode="stretch_width", name="run-summary")
        self.param.watch(self._sync, ["running", "fraction", "message", "error", "result"])
        # not on every progress event: the summary changes when a run starts or ends
        self.param.watch(self._show_summary, ["running", "error", "result"])
        self.param.watch(self._new_result, "result")

    # ------------------------------------------------------------------ actions

    def start(self, *_: Any) -> None:
        """Start a run of ``get_config()`` in a worker thread (what Run does)."""
        if self.running:
            return
        try:
            cfg: Config = self.get_config()
        except TensorbenchError as e:
            self.error = str(e)
            return
        self._cancel = threading.Event()
        doc = current_doc()
        if doc is not None and not self._watching_session:
            # A closed tab must not leave its run burning the server's cores.
            pn.state.on_session_destroyed(self._session_closed)
            self._watching_session = True
        self.param.update(running=True, fraction=0.0, message="starting", error="", failed=None)
        self._thread = threading.Thread(
            target=self._work, args=(cfg, self._cancel, doc), name="tensorbench-run", daemon=True
        )
        self._thread.start()

    def _session_closed(self, _context: Any) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def _stop(self, *_: Any) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.message = "cancelling..."

    def _work(self, cfg: Config, cancel: threading.Event, doc: Any) -> None:
        def progress(event: dict[str, Any]) -> None:
            if event.get("type") == "progress":
                dispatch(
                    doc,
                    self.param.update,
                    fraction=event["fraction"],
                    message=event.get("message", ""),
                )

        updates: dict[str, Any] = {"running": False}
        try:
            # in a worker process: it keeps the server's GIL free, and a run killed
            # for memory ends its worker, not the server
            result = run_in_process(cfg, progress=progress, cancel=cancel)
            updates |= {
                "result": result,
                "fraction": 1.0,
                "message": "done" if result.status == "ok" else "cancelled",
            }
        # a failed run's bar goes (it stood frozen part-filled, as if still at work)
        except TensorbenchError as e:
            updates |= {"error": str(e), "message": "refused", "fraction": 0.0, "failed": cfg}
        except Exception as e:  # a bug: keep the page alive and say so
            log.exception("run failed")
            updates |= {
                "error": f"internal error ({type(e).__name__}): {e}",
                "message": "failed",
                "fraction": 0.0,
                "failed": cfg,
            }
        dispatch(doc, self.param.update, **updates)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current run's worker ends (for tests and scripts)."""
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ view

    def _sync(self, *_: Any) -> None:
        self._run_button.disabled = self.running
        self._cancel_button.disabled = not self.running
        self._progress.visible = self.running or 0 < self.fraction < 1
        self._progress.value = round(self.fraction * 1000)
        self._status.object = self.message if self.running else ""
        self._alert.object = html.escape(self.error)
        self._alert.visible = bool(self.error)

    def _show_summary(self, *_: Any) -> None:
        if self.error and not self.running:
            # also where the result would be: the alert under the Run button can sit
            # below the window's edge, and the Result tab went on saying "Press Run"
            self._summary.object = (
                "<div class='tb-run-error' style='color: #b02a37; font-size: 13px'>"
                f"The run failed: {html.escape(self.error)}</div>"
            )
        elif self.result is not None:
            # during a new run, the last result's (the page's stale note says so); the
            # last run's failure is no news then
            text = html.escape(self.result.summary())
            style = "white-space: pre-wrap; font-size: 12px"
            self._summary.object = f'<pre class="tb-summary" style="{style}">{text}</pre>'
        else:
            self._summary.object = ""

    def _new_result(self, event: param.parameterized.Event) -> None:
        if self.on_result is not None and event.new is not None:
            self.on_result(event.new)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(self._run_button, self._cancel_button),
            self._progress,
            self._status,
            self._alert,
            sizing_mode="stretch_width",
        )

    @property
    def summary_pane(self) -> pn.pane.HTML:
        """The pane showing the last result's summary (placed by the page)."""
        return self._summary
