"""Run slow work off the Bokeh event loop and hand results back to the session.

Panel updates must happen on the session's event loop; :func:`dispatch` schedules them
there (or applies them at once outside a server, e.g. in tests). :class:`LatestWorker`
keeps one worker thread per owner and, when requests pile up, runs only the newest one:
dragging a size slider through ten values computes stats for the last value, not ten.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import panel as pn

__all__ = ["LatestWorker", "current_doc", "dispatch"]

#: ``done(generation, result, error)``
Done = Callable[[int, Any, "BaseException | None"], None]

log = logging.getLogger(__name__)


def current_doc() -> Any:
    """The Bokeh document of the current session, or None outside a server."""
    doc = pn.state.curdoc
    return doc if doc is not None and getattr(doc, "session_context", None) else None


def dispatch(doc: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Call ``fn(*args, **kwargs)`` on ``doc``'s event loop (directly when ``doc`` is None)."""
    if doc is None:
        fn(*args, **kwargs)
    else:
        doc.add_next_tick_callback(partial(fn, *args, **kwargs))


class LatestWorker:
    """One background thread that runs the newest submitted job and drops older ones."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._job: (
            tuple[int, Callable[[], Any], Callable[[int, Any, BaseException | None], None]] | None
        ) = None
        self._thread: threading.Thread | None = None
        self._busy = False
        self.generation = 0

    def submit(
        self, work: Callable[[], Any], done: Callable[[int, Any, BaseException | None], None]
    ) -> int:
        """Queue ``work()``; ``done(generation, result, error)`` is called from the worker.

        Returns the job's generation: a result is current when its generation equals
        :attr:`generation`.
        """
        with self._cond:
            self.generation += 1
            self._job = (self.generation, work, done)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify()
            return self.generation

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._job is None:
                    self._busy = False
                    self._cond.notify_all()
                    self._thread = None
                    return
                gen, work, done = self._job
                self._job = None
                self._busy = True
            try:
                result, error = work(), None
            except BaseException as e:  # reported to the owner, which shows it
                result, error = None, e
            try:
                done(gen, result, error)
            except Exception:  # pragma: no cover - a bug in the callback
                log.exception("background callback failed")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running (for tests); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._job is None and not self._busy, timeout)
