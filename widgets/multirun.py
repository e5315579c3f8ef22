"""Pages that run several entries of one config side by side (Decompose's methods, Search's
strategies): one worker thread per entry, streamed records, per-run cancel.

Each entry runs through the public engine API -- ``run(config)`` with a one-entry copy of
the page's config, in a worker process (:func:`~tensorbench.engine.worker.run_in_process`)
that the entry's thread waits on -- so an exported config run by ``tensorbench run``
gives the same numbers. Workers append records under a lock; the page
polls :meth:`MultiRunState.snapshot` and redraws (no UI work in threads). A closed
browser tab cancels its runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import panel as pn
import param
from bokeh.models import Tooltip

from tensorbench.engine import Config, Result, TensorbenchError, load_config
from tensorbench.engine.config import parse_json
from tensorbench.engine.device import available_cores
from tensorbench.engine.worker import run_in_process

from .box_words import in_box_words
from .forms import Checkbox, watch_uploads
from .toast import clear_error_toast, error_toast

__all__ = [
    "EntryRun",
    "MultiRunState",
    "any_active",
    "cancel_all_button",
    "in_turn_checkbox",
]

log = logging.getLogger(__name__)


#: Statuses of a run that has not ended (a queued one waits its turn, one at a time).
ACTIVE = ("running", "queued")


def any_active(snap: list[dict[str, Any]]) -> bool:
    """Whether a snapshot (:meth:`MultiRunState.snapshot`) shows a run not yet ended."""
    return any(r["status"] in ACTIVE for r in snap)


@dataclass
class EntryRun:
    """One entry's run: its thread, cancel flag, streamed records and final result."""

    label: str
    entry: dict[str, Any]
    status: str = "waiting"  # waiting, queued (one at a time), running, ok, cancelled, failed
    fraction: float = 0.0
    message: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)
    result: Result | None = None
    error: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class MultiRunState(param.Parameterized):
    """A page's config, the runs of its entries, and why the last change was refused.

    Subclasses set :attr:`kind` (the task kind the page holds) and implement
    :meth:`runs_for_config`.
    """

    config = param.ClassSelector(class_=Config, doc="The current valid config.")
    error = param.String(default="", doc="Why the last change was refused.")
    revision = param.Integer(default=0, doc="Bumped when runs start (views redraw).")
    ran = param.ClassSelector(
        class_=Config,
        allow_None=True,
        default=None,
        doc="The config the runs on show were started from (None: no runs).",
    )
    rereading = param.Boolean(
        default=False,
        doc="A run page is reading its inputs again before a run (no toasts meanwhile).",
    )
    sequential = param.Boolean(
        default=False,
        doc="Run the entries one after another, each with the machine to itself: wall "
        "times that compare (side by side, they share the cores).",
    )

    #: The task kind this page's configs have.
    kind: ClassVar[str] = ""
    #: The title of the page's built-in demo config.
    demo_name: ClassVar[str | None] = None
    #: labels of the page's boxes that are not their field's name (see in_box_words)
    box_labels: ClassVar[dict[str, str]] = {}

    def __init__(self, config: Config, **params: Any) -> None:
        super().__init__(config=config, **params)
        #: set by the app: ``route(config, source)`` opens a config of another kind on
        #: the page that runs it
        self.route: Callable[[Config, str], Any] | None = None
        self._lock = threading.Lock()
        self.runs: dict[str, EntryRun] = {}
        self._watching_session = False

    # ------------------------------------------------------------------ edits

    def _apply(self, **changes: Any) -> bool:
        """Replace parts of the config (validated); on refusal say why and keep the old one.

        A change of the task drops the built-in demo's title (:attr:`demo_name`): "camera: TT
        vs Tucker" went on naming downloaded configs and scripts of synthetic data.
        """
        try:
            cfg = self.config.replace(**changes)
        except TensorbenchError as e:
            # what a box refused: named as the box (an upload keeps its config paths)
            self.error = in_box_words(str(e), self.box_labels)
            return False
        if self.demo_name and cfg.name == self.demo_name and cfg.task != self.config.task:
            cfg = dataclasses.replace(cfg, name=None)  # validated already
        self.param.update(config=cfg, error="")
        return True

    def exported(self) -> Config:
        """The config as shown and downloaded (the page's own, unless a page leaves out
        what no entry uses)."""
        return self.config

    def load_text(self, text: str, source: str = "JSON") -> bool:
        """Replace the config with an uploaded or pasted one of this page's kind."""
        try:
            cfg = load_config(parse_json(text, source))
        except TensorbenchError as e:
            self.error = str(e)
            return False
        if cfg.kind != self.kind:
            if self.route is not None:
                self.error = ""
                self.route(cfg, source)
            else:
                self.error = f"{source}: a {cfg.kind!r} config belongs on another page"
            return False
        self.param.update(config=cfg, error="")
        return True

    # ------------------------------------------------------------------ runs

    def runs_for_config(self) -> list[tuple[str, dict[str, Any], Config]]:
        """``(label, entry, one-entry config)`` for every entry to run."""
        raise NotImplementedError

    def start_all(self) -> None:
        """Start one worker per entry, or with :attr:`sequential` one worker that runs
        them in turn (previous runs are cancelled first)."""
        self.cancel_all()
        self._watch_session()
        jobs = [(EntryRun(label, entry), cfg) for label, entry, cfg in self.runs_for_config()]
        if self.sequential:
            one = threading.Thread(
                target=self._work_in_turn,
                args=(jobs,),
                daemon=True,
                name=f"tensorbench-{self.kind}-in-turn",
            )
        with self._lock:
            self.runs = {}
            for er, cfg in jobs:
                if self.sequential:
                    er.thread, er.status = one, "queued"
                else:
                    er.thread = threading.Thread(
                        target=self._work,
                        args=(er, cfg),
                        daemon=True,
                        name=f"tensorbench-{self.kind}-{er.label}",
                    )
                    er.status = "running"
                self.runs[er.label] = er
        self.ran = self.config
        if self.sequential:
            one.start()
        else:
            for er, _ in jobs:
                assert er.thread is not None
                er.thread.start()
        self.revision += 1

    def _work_in_turn(self, jobs: list[tuple[EntryRun, Config]]) -> None:
        """Run the queued entries one after another (a cancelled one is skipped)."""
        for er, cfg in jobs:
            with self._lock:
                if er.status != "queued":  # cancelled while it waited
                    continue
                er.status = "running"
            self._work(er, cfg)

    def _watch_session(self) -> None:
        # A closed tab must not leave its runs burning the server's cores.
        if self._watching_session or pn.state.curdoc is None:
            return
        if getattr(pn.state.curdoc, "session_context", None) is None:
            return
        pn.state.on_session_destroyed(lambda _ctx: self.cancel_all())
        self._watching_session = True

    def _threads(self) -> int | None:
        """Torch threads per run: all the cores one at a time; side by side, a share."""
        if self.sequential:
            return None
        return max(1, available_cores() // max(1, len(self.runs)))

    def _work(self, er: EntryRun, cfg: Config) -> None:
        def progress(event: dict[str, Any]) -> None:
            with self._lock:
                if event.get("type") == "record":
                    er.records.append({k: v for k, v in event.items() if k != "type"})
                else:
                    er.fraction = float(event.get("fraction", er.fraction))
                    er.message = str(event.get("message", ""))

        try:
            # in a worker process: a run killed for memory ends its worker, not the
            # server and every session's work; and it keeps off the server's GIL
            result = run_in_process(
                cfg, progress=progress, cancel=er.cancel, threads=self._threads()
            )
            with self._lock:
                er.result = result
                er.status = "ok" if result.status == "ok" else "cancelled"
                er.fraction = 1.0
        except TensorbenchError as e:
            with self._lock:
                er.status, er.error = "failed", str(e)
        except Exception as e:  # a bug: keep the page alive and say so
            log.exception("%s run failed", self.kind)
            with self._lock:
                er.status, er.error = "failed", f"internal error ({type(e).__name__}): {e}"

    def cancel(self, label: str) -> None:
        """Ask one entry's run to stop at its next check (a queued one never starts)."""
        er = self.runs.get(label)
        if er is None:
            return
        with self._lock:
            er.cancel.set()
            if er.status == "queued":
                er.status = "cancelled"

    def clear_runs(self) -> bool:
        """Forget the finished runs (new data makes their results stale); False, and
        nothing forgotten, while any is still running."""
        with self._lock:
            if any(er.status in ACTIVE for er in self.runs.values()):
                return False
            self.runs = {}
        self.ran = None
        self.revision += 1
        return True

    def cancel_all(self) -> None:
        """Ask every run to stop."""
        for label in list(self.runs):
            self.cancel(label)

    def snapshot(self) -> list[dict[str, Any]]:
        """A consistent copy of every run's state, for drawing."""
        with self._lock:
            return [
                {
                    "label": er.label,
                    "entry": er.entry,
                    "status": er.status,
                    # asked to stop, still winding down: the page says so at once, so the
                    # user sees the click landed (a fit in flight ends after its sweep)
                    "cancelling": er.status == "running" and er.cancel.is_set(),
                    "fraction": er.fraction,
                    "message": er.message,
                    "records": list(er.records),
                    "error": er.error,
                    "result": er.result,
                }
                for er in self.runs.values()
            ]

    @property
    def running(self) -> bool:
        """Whether any run is still going (or queued to)."""
        return any(er.status in ACTIVE for er in self.runs.values())

    def wait(self, timeout: float | None = None) -> None:
        """Block until every run's worker ends (tests and scripts)."""
        for er in list(self.runs.values()):
            if er.thread is not None:
                er.thread.join(timeout)


#: One colour per run, in run order (rows, curves and cards of a run share it). Twelve:
#: with seven, an 8th method took the 1st one's colour (only a run of all 13 Decompose
#: methods at once now repeats one).
RUN_COLORS = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#17becf",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#393b79",
    "#637939",
]


def run_color(k: int) -> str:
    """The colour of the ``k``-th run."""
    return RUN_COLORS[k % len(RUN_COLORS)]


class RunRows:
    """One row per run -- coloured label, status, progress bar, Cancel -- built once per
    start and updated in place, so a Cancel button stays the same element while the user
    reaches for it.

    Parameters
    ----------
    state : MultiRunState
        Whose runs the rows show (Cancel calls ``state.cancel(label)``).
    status_text : callable
        ``status_text(snapshot_row) -> str``: what a row says after the label.
    """

    def __init__(self, state: MultiRunState, status_text: Any) -> None:
        self.state, self.status_text = state, status_text
        self.column = pn.Column(sizing_mode="stretch_width", name="runs")
        self._rows: dict[str, tuple[Any, ...]] = {}

    def reset(self, snap: list[dict[str, Any]]) -> None:
        """New rows for the runs in ``snap``."""
        self._rows = {}
        for k, r in enumerate(snap):
            label = r["label"]
            text = pn.pane.HTML("", sizing_mode="stretch_width")
            bar = pn.indicators.Progress(value=0, max=100, width=180, bar_color="primary")
            # The tooltip opens to the left: the button ends the row, and on the right it
            # ran off the page ("ca...").
            cancel = pn.widgets.Button(
                label="Cancel",
                width=80,
                description=Tooltip(content=f"cancel {label}", position="left"),
            )
            cancel.on_click(lambda *_, label=label: self.state.cancel(label))
            row = pn.Row(text, bar, cancel, sizing_mode="stretch_width")
            self._rows[label] = (row, text, bar, cancel, run_color(k))
        self.column.objects = [row for row, *_ in self._rows.values()]

    def update(self, snap: list[dict[str, Any]]) -> None:
        """Show the state of every run in ``snap``."""
        import html

        for r in snap:
            if r["label"] not in self._rows:
                continue
            _row, text, bar, cancel, color = self._rows[r["label"]]
            status = r["status"] if not r["error"] else f"failed: {r['error']}"
            if r["cancelling"]:
                status = "cancelling"
            extra = self.status_text(r)
            label = html.escape(r["label"], quote=True)
            text.object = (
                f"<span style='color: {color}; font-weight: 600'>{label}</span> "
                f"<span class='tb-run-status' data-label='{label}'>"
                f"{html.escape(status + extra)}</span>"
            )
            bar.value = int(100 * r["fraction"])
            bar.bar_color = (
                "primary"
                if r["status"] == "running"
                else "success"
                if r["status"] == "ok"
                else "secondary"
            )
            cancel.disabled = r["status"] not in ACTIVE or r["cancelling"]


class DownloadRefusedError(TensorbenchError):
    """A download asked for while an input is refused (its message says which)."""


class _CheckedDownload(pn.widgets.FileDownload):
    """A FileDownload whose callback may refuse (DownloadRefusedError): nothing is sent,
    and the page's alert, set by the check, says why (not a traceback in the log)."""

    @param.depends("_clicks", watch=True)
    def _transfer(self) -> None:
        with contextlib.suppress(DownloadRefusedError):
            super()._transfer()


class ConfigFiles:
    """A run page's error alert, config view, config upload and config/script downloads.

    Parameters
    ----------
    state : MultiRunState
        The page's state (its ``config`` is shown and exported; uploads go through
        ``state.load_text``; its ``error`` is shown in :attr:`alert` and as a toast).
    slug : str
        Names the downloaded files (``tensorbench-<slug>.json``, ``tensorbench_<slug>.py``).
    on_loaded : callable
        Called after an uploaded config replaced the state's (to refill the widgets).
    check : callable, optional
        Called before a download; False (the alert then says why) downloads nothing. A
        refused box keeps the last valid config in force while it shows what was typed:
        lam -5 on show downloaded a config with lam 200.
    """

    def __init__(
        self,
        state: MultiRunState,
        slug: str,
        on_loaded: Any,
        check: Callable[[], bool] | None = None,
    ) -> None:
        import html

        from tensorbench.engine import export_script

        self.state, self.on_loaded, self.check = state, on_loaded, check
        self.alert = pn.pane.Alert(
            "", alert_type="danger", visible=False, sizing_mode="stretch_width"
        )
        #: says when the runs on show were started from other settings (see stale_note)
        self.stale = stale_note(state)
        self.download_config = _CheckedDownload(
            callback=lambda: self._file(lambda: state.exported().to_json()),
            filename=f"tensorbench-{slug}.json",
            label="Download config",
            color="success",
            sizing_mode="stretch_width",
        )
        self.download_script = _CheckedDownload(
            # its usage lines name the file it is downloaded as (they said script.py)
            callback=lambda: self._file(
                lambda: export_script(state.exported(), filename=f"tensorbench_{slug}.py")
            ),
            filename=f"tensorbench_{slug}.py",
            label="Download script",
            color="success",
            sizing_mode="stretch_width",
        )
        self.upload = pn.widgets.FileInput(accept=".json", sizing_mode="stretch_width")
        watch_uploads(self.upload, self._on_upload)
        self.config_view = pn.pane.HTML("", sizing_mode="stretch_width")
        self._escape = html.escape
        state.param.watch(self._show_error, "error")
        state.param.watch(self._show_config, "config")
        self._show_config()

    def _file(self, make: Callable[[], str]) -> io.BytesIO:
        """The download's bytes, once every input is read again and in force."""
        if self.check is not None and not self.check():
            # nothing goes to the browser: the alert says which input to fix
            raise DownloadRefusedError(self.state.error)
        return io.BytesIO(make().encode())

    def _show_error(self, *_: Any) -> None:
        error = self.state.error
        self.alert.object = self._escape(error)
        self.alert.visible = bool(error)
        # the alert may be scrolled out of view: also toast it
        if error and not self.state.rereading:
            error_toast(self._escape(error, quote=False))
        elif not error and not self.state.rereading:
            clear_error_toast()

    def _show_config(self, *_: Any) -> None:
        text = self._escape(self.state.exported().to_json())
        self.config_view.object = (
            f"<pre style='font-size: 12px; max-height: 420px; overflow: auto'>{text}</pre>"
        )

    def _on_upload(self, content: bytes, filename: str) -> None:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            self.state.error = f"{filename}: not a UTF-8 text file (a JSON config is text)"
            return
        if self.state.load_text(text, filename):
            self.on_loaded()

    def open(self, config: Config) -> None:
        """Show ``config`` (of this page's kind, valid), as an upload of it would."""
        self.state.param.update(config=config, error="")
        self.on_loaded()

    def sidebar(self) -> list[Any]:
        """Upload and downloads, for a page's sidebar."""
        return [self.upload, self.download_config, self.download_script]


def changed_fields(ran: Config, now: Config) -> list[str]:
    """Names of the config fields (the network, task fields, seed, device) that differ."""
    keys = sorted(set(ran.task) | set(now.task))
    out = ["network"] if ran.network != now.network else []
    out += [k for k in keys if ran.task.get(k) != now.task.get(k)]
    return out + [k for k in ("seed", "device") if getattr(ran, k) != getattr(now, k)]


def in_words(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)


def stale_note(state: MultiRunState) -> pn.pane.Alert:
    """A note, shown while the runs on the page were started from another config than the
    one now chosen: after a change of data, method or setting the old curves and table
    stayed unmarked (and a download named the new config beside the old numbers)."""
    note = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")

    def update(*_: Any) -> None:
        ran = state.ran
        diff = [] if ran is None else changed_fields(ran, state.config)
        note.object = (
            # "run before budget, data, strategies changed" read as a garble
            f"The results below are from earlier settings: the {in_words(diff)} changed "
            "since. Run again for the settings now chosen."
            if diff
            else ""
        )
        note.visible = bool(diff)

    state.param.watch(update, ["config", "ran"])
    update()
    return note


def in_turn_checkbox(state: MultiRunState) -> Checkbox:
    """The "one at a time" box of a run page, bound to ``state.sequential``: side by side,
    runs share the cores, so their wall-time curves measure the contention as much as the
    work."""
    box = Checkbox(
        label="one at a time (wall times that compare)", value=state.sequential, align="center"
    )
    box.param.watch(lambda e: setattr(state, "sequential", e.new), "value")
    return box


def cancel_all_button(state: MultiRunState) -> pn.widgets.Button:
    """A run page's "Cancel all", disabled at first: the page enables it while something
    runs (a bright "Cancel all" with nothing to cancel read as if a run were going)."""
    button = pn.widgets.Button(label="Cancel all", color="warning", width=120, disabled=True)
    button.on_click(lambda *_: state.cancel_all())
    return coloured_when_enabled(button)


def coloured_when_enabled(button: pn.widgets.Button) -> pn.widgets.Button:
    """Keep ``button``'s colour for when it can be pressed; disabled, it is plain grey (a
    disabled tan "Cancel" looked as clickable as an enabled one)."""
    colour = button.button_type

    def sync(*_: Any) -> None:
        button.button_type = "default" if button.disabled else colour

    button.param.watch(sync, "disabled")
    sync()
    return button


class RunPage:
    """What the run pages share: a sidebar/main layout and a periodic poll of their state
    while runs go on (:meth:`_refresh` redraws through the page's ``_draw``)."""

    #: Seconds between polls of the running work.
    POLL_S = 0.5
    #: Least seconds between two plot redraws while runs go on.
    PLOT_MIN_S = 1.0
    #: Most of the server's time that plot redraws may take while runs go on. A redraw
    #: builds whole new figures (costing more as points pile up) and the browser then
    #: lays them out again: at one a second, a search with ~1000 candidates kept the
    #: server's event loop ~85% busy and the browser so far behind that a click on
    #: Cancel took seconds to land (and once, on a slower CI machine, never did).
    PLOT_SHARE = 0.2
    _poll: Any = None
    _plots_due: float = 0.0
    _signature: Any = None

    def _readers(self) -> list[Callable[[], Any]]:
        """The change handlers of the inputs on show, each page's own (see
        :meth:`_inputs_in_force`)."""
        raise NotImplementedError

    def _download_ready(self) -> bool:
        """Every input read again and in force before a download (the files' ``check``)."""
        return self._inputs_in_force(self._readers(), "download")

    def _inputs_in_force(self, readers: list[Callable[[], Any]], doing: str = "run") -> bool:
        """Read every input again before a run (or a download: ``doing`` names it in the
        message); False, with the reason in the alert, when one is refused.

        A refused change keeps the last valid config in force while its box goes on
        showing what was typed, and an accepted change elsewhere clears the alert: without
        this, a run used values the page no longer showed (ranks "abc" ran with ranks 3).
        ``readers`` are the pages' change handlers: each sets the state's ``error`` when
        it refuses and clears it when it applies.
        """
        state = self.state  # type: ignore[attr-defined]  # every run page has one
        state.rereading = True  # one toast, the "Not run" below, not one per message
        try:
            for read in readers:
                state.error = ""
                read()
                if state.error:
                    why = state.error
                    break
            else:
                return True
        finally:
            state.rereading = False
        done = {"run": "run", "download": "downloaded"}[doing]
        state.error = f"Not {done}: {why}. Fix that input, then {doing} again."
        return False

    def _changed(self, snap: list[dict[str, Any]], force: bool) -> bool:
        """Whether ``snap`` shows anything the last drawn snapshot did not (always true when
        forced); remembers it. Polls that change nothing then cost no redraw."""
        signature = [
            (r["label"], r["status"], r["cancelling"], len(r["records"]), round(r["fraction"], 2))
            for r in snap
        ]
        if not force and signature == self._signature:
            return False
        self._signature = signature
        return True

    def _redraw_plots(self, draw: Callable[[], None], force: bool, running: bool) -> None:
        """Call ``draw`` when due: always when forced or when no run goes on; while runs go
        on, spaced so that redraws take at most :attr:`PLOT_SHARE` of the time."""
        start = time.monotonic()
        if running and not force and start < self._plots_due:
            return
        draw()
        cost = time.monotonic() - start
        self._plots_due = start + max(self.PLOT_MIN_S, cost / self.PLOT_SHARE)

    def open_config(self, config: Config, source: str = "a config") -> None:
        """Show a valid config of this page's kind (one uploaded on another page)."""
        self.files.open(config)  # type: ignore[attr-defined]  # every run page has files

    def _show_running(self, running: bool) -> None:
        """Run off and Cancel all on while runs go on: a second click on Run restarted
        every run without a word (a long race lost to a mis-click)."""
        self.run_button.disabled = running  # type: ignore[attr-defined]  # every run page
        cancel_all = getattr(self, "cancel_all", None)
        if cancel_all is not None:
            cancel_all.disabled = not running

    def _start_poll(self) -> None:
        if self._poll is None and pn.state.curdoc is not None:
            self._poll = pn.state.add_periodic_callback(
                self._refresh_held, period=int(self.POLL_S * 1000)
            )

    def _refresh_held(self) -> None:
        # one message to the browser per redraw: each change went out on its own while
        # the next was built, so a run's status line said "ok" seconds before its rows
        # and points arrived
        with pn.io.hold():
            self._refresh()

    def _stop_poll(self) -> None:
        if self._poll is not None:
            self._poll.stop()
            self._poll = None

    def _refresh(self, force: bool = False) -> None:
        """Redraw from a snapshot of the runs when it shows something new (always when
        ``force``); stop polling once no run goes on."""
        snap = self.state.snapshot()  # type: ignore[attr-defined]  # every run page has one
        # Judge "still running" from this snapshot, not from the live state: a run that
        # ends while this redraw is under way must still get one more (final) redraw.
        running = any_active(snap)
        self._show_running(running)
        if not self._changed(snap, force):
            return
        self._draw(snap, force, running)
        # the status lines last: "ok" stood seconds before the results it announced
        self.rows.update(snap)  # type: ignore[attr-defined]  # every run page has rows
        if not running:
            self._stop_poll()

    def _draw(self, snap: list[dict[str, Any]], force: bool, running: bool) -> None:
        """Draw the page's results from ``snap`` (plots through :meth:`_redraw_plots`)."""
        raise NotImplementedError

    def sidebar(self) -> list[Any]:
        raise NotImplementedError

    def main(self) -> Any:
        raise NotImplementedError

    def __panel__(self) -> Any:
        return pn.Row(pn.Column(*self.sidebar(), width=320), self.main())
