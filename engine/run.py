"""Run a config: ``run(config, progress=None, cancel=None) -> Result``, and the task registry.

A task is a function ``(config, reporter) -> metrics`` registered under a kind with its
parameter specs. :func:`run` validates the config, hands the task a :class:`Reporter`
(progress events, metric records, cancellation) and wraps what comes back into a
:class:`Result` with the config, the environment and timings, so every task's result has
the same shape and an exported script prints exactly what the app shows.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from .config import Config, load_config
from .errors import ConfigError
from .params import Param, check_params

__all__ = [
    "RESULT_FORMAT",
    "TASKS",
    "Cancelled",
    "ProgressFn",
    "Reporter",
    "Result",
    "TaskSpec",
    "get_task",
    "register_task",
    "run",
    "task_names",
]

RESULT_FORMAT = "tensorbench/result"
RESULT_VERSION = 1

ProgressFn = Callable[[dict[str, Any]], None]

# Built-in task modules, imported on first use so `import tensorbench.engine` stays light.
_BUILTIN_TASK_MODULES = (
    "tensorbench.engine.contract",
    "tensorbench.engine.decompose.task",
    "tensorbench.engine.search.task",
    "tensorbench.engine.attention.task",
)


class Cancelled(Exception):  # noqa: N818 - it is a signal, not an error
    """Raised inside a task when the run was cancelled; carries partial metrics."""

    def __init__(self, partial: dict[str, Any] | None = None) -> None:
        super().__init__("cancelled")
        self.partial = partial or {}


@dataclass(frozen=True)
class TaskSpec:
    """A registered task kind.

    Parameters
    ----------
    name : str
        The ``task.kind`` of configs.
    func : callable
        ``(config, reporter) -> metrics`` (a JSON-able dict).
    params : tuple of Param
        The task's parameters, with defaults.
    summarize : callable
        ``(config, metrics) -> list of str``: the human summary printed by the CLI and by
        exported scripts.
    needs_network : bool or callable
        Whether configs of this kind must carry a network; or ``(task) -> str | None``:
        why this task needs one (its checked parameters ask for it), None where it
        does not.
    check_all : callable, optional
        ``(task) -> None``, run on the checked parameters: refuses (ConfigError) what no
        single parameter shows, such as a length the chosen input cannot have, so a run
        never starts only to fail on it.
    """

    name: str
    func: Callable[[Config, Reporter], dict[str, Any]]
    params: tuple[Param, ...]
    doc: str
    summarize: Callable[[Config, dict[str, Any]], list[str]]
    needs_network: bool | Callable[[dict[str, Any]], str | None] = True
    check_all: Callable[[dict[str, Any]], None] | None = None

    def network_need(self, task: dict[str, Any]) -> str | None:
        """Why a config of this task needs a network ("" for every config of its kind),
        None where it does not."""
        if callable(self.needs_network):
            return self.needs_network(task)
        return "" if self.needs_network else None

    def check(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Validate task parameters (defaults filled); raise :class:`ConfigError`."""
        task = check_params(self.params, dict(given), "config.task", ConfigError)
        if self.check_all is not None:
            self.check_all(task)
        return task

    def defaults(self) -> dict[str, Any]:
        """``{"kind": name, **default params}``."""
        return {"kind": self.name, **self.check({})}


TASKS: dict[str, TaskSpec] = {}


def register_task(
    name: str,
    *params: Param,
    doc: str,
    summarize: Callable[[Config, dict[str, Any]], list[str]],
    needs_network: bool | Callable[[dict[str, Any]], str | None] = True,
    check_all: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[[Callable[[Config, Reporter], dict[str, Any]]], Callable]:
    """Register a task function under ``name`` (used as a decorator next to its code)."""

    def deco(func: Callable[[Config, Reporter], dict[str, Any]]) -> Callable:
        TASKS[name] = TaskSpec(name, func, tuple(params), doc, summarize, needs_network, check_all)
        return func

    return deco


def _load_builtins() -> None:
    for mod in _BUILTIN_TASK_MODULES:
        importlib.import_module(mod)


def task_names() -> list[str]:
    """Names of every registered task kind."""
    _load_builtins()
    return sorted(TASKS)


def get_task(kind: Any) -> TaskSpec:
    """The spec of task ``kind``; an unknown kind lists the valid ones."""
    _load_builtins()
    if not isinstance(kind, str) or kind not in TASKS:
        raise ConfigError(
            f"config.task.kind: unknown task {kind!r}; choose one of: {', '.join(sorted(TASKS))}"
        )
    return TASKS[kind]


class Reporter:
    """What a running task uses to talk to the caller.

    ``progress(fraction, message)`` sends a progress event (throttled to about 20 per second
    so a UI is never flooded); ``record(**metrics)`` appends a point to the result's history
    and always sends it; ``check_cancel()`` raises :class:`Cancelled` once ``cancel`` is set.
    """

    #: Minimum seconds between two forwarded progress events.
    THROTTLE_S = 0.05

    def __init__(
        self, progress: ProgressFn | None = None, cancel: threading.Event | None = None
    ) -> None:
        self._progress = progress
        self._cancel = cancel
        self._t0 = time.perf_counter()
        self._last = -1.0
        self.history: list[dict[str, Any]] = []
        #: Python objects a caller may want (e.g. fitted cores), kept out of the JSON.
        self.artifacts: dict[str, Any] = {}

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self._t0

    @property
    def cancelled(self) -> bool:
        """Whether cancellation was asked for."""
        return self._cancel is not None and self._cancel.is_set()

    def check_cancel(self, partial: dict[str, Any] | None = None) -> None:
        """Raise :class:`Cancelled` (with ``partial`` metrics) if cancellation was asked for."""
        if self.cancelled:
            raise Cancelled(partial)

    def progress(
        self, fraction: float, message: str = "", *, force: bool = False, **extra: Any
    ) -> None:
        """Report overall progress in [0, 1] with a short message."""
        if self._progress is None:
            return
        now = time.perf_counter()
        if not force and fraction < 1.0 and now - self._last < self.THROTTLE_S:
            return
        self._last = now
        self._progress(
            {
                "type": "progress",
                "fraction": float(min(max(fraction, 0.0), 1.0)),
                "message": message,
                "elapsed": now - self._t0,
                **extra,
            }
        )

    def record(self, **metrics: Any) -> None:
        """Append a metric record (e.g. one iteration's error) to the history and send it."""
        rec = {"elapsed": self.elapsed, **metrics}
        self.history.append(rec)
        if self._progress is not None:
            self._progress({"type": "record", **rec})


@dataclass
class Result:
    """The outcome of a run: JSON-able records plus the config that produced them."""

    config: Config
    status: Literal["ok", "cancelled"]
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    #: In-memory objects (fitted cores, ...) for the app; not part of the JSON document.
    artifacts: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        """The task kind."""
        return self.config.kind

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON document of this result."""
        return {
            "format": RESULT_FORMAT,
            "version": RESULT_VERSION,
            "kind": self.kind,
            "status": self.status,
            "metrics": self.metrics,
            "history": self.history,
            "environment": self.environment,
            "timings": self.timings,
            "config": self.config.to_dict(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, default=_json_default)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result JSON to ``path``."""
        p = Path(path)
        p.write_text(self.to_json() + "\n")
        return p

    def summary(self) -> str:
        """Human-readable lines, the same in the CLI, the app and exported scripts."""
        lines = get_task(self.kind).summarize(self.config, self.metrics)
        if self.status != "ok":
            lines.insert(0, f"status: {self.status} (partial result)")
        return "\n".join(lines)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def run(
    config: Config | Mapping[str, Any] | str | os.PathLike[str],
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Result:
    """Run a config and return its :class:`Result`.

    Parameters
    ----------
    config : Config, dict, path or JSON text
        What to run (validated first; bad input raises :class:`ConfigError`).
    progress : callable, optional
        Receives small dicts: ``{"type": "progress", "fraction", "message", "elapsed"}``
        and ``{"type": "record", ...metrics}``.
    cancel : threading.Event, optional
        Checked between steps; when set the run stops and returns status ``"cancelled"``.
    """
    from . import __version__
    from .device import device_info

    cfg = load_config(config)
    spec = get_task(cfg.kind)
    env = device_info(cfg.device) | {"tensorbench": __version__}
    reporter = Reporter(progress, cancel)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    status: Literal["ok", "cancelled"] = "ok"
    try:
        metrics = spec.func(cfg, reporter)
    except Cancelled as c:
        status, metrics = "cancelled", c.partial
    reporter.progress(1.0, "done" if status == "ok" else "cancelled", force=True)
    return Result(
        cfg,
        status,
        metrics,
        reporter.history,
        env,
        {"started": started, "wall_s": reporter.elapsed},
        reporter.artifacts,
    )
