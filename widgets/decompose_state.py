"""State of the Decompose page: the config (data + methods), and one live run per method.

Each method runs in its own worker thread (so one can be cancelled while the others go
on) through the public engine API -- ``run(config)`` with a one-method copy of the page's
config -- so an exported config run by ``tensorbench run`` gives the same final errors.
Workers append records under a lock; the page polls and redraws (no UI work in threads).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import param

from tensorbench.engine import Config, Network, Result, TensorbenchError, get_task, load_config, run
from tensorbench.engine.config import parse_json

__all__ = ["DecomposeState", "MethodRun", "default_decompose_config"]

log = logging.getLogger(__name__)


def default_decompose_config() -> Config:
    """The page's starting point: the camera image as an 8^6 tensor (rows and columns split
    into three base-8 digits, interleaved), a tensor train and a Tucker of similar size
    fitted side by side, both iterative so their curves grow as they run."""
    task = get_task("decompose").check(
        {
            "data": {"kind": "image", "image": "camera", "split": 3, "order": "interleaved"},
            "methods": [
                {"method": "tt_als", "ranks": 24, "max_iter": 200, "tol": 1e-7},
                {"method": "hooi", "ranks": 6, "max_iter": 50, "tol": 1e-9},
            ],
        }
    )
    return Config({"kind": "decompose", **task}, None, 0, "auto", "camera: TT vs Tucker")


@dataclass
class MethodRun:
    """One method's run: its thread, cancel flag, streamed records and final result."""

    label: str
    entry: dict[str, Any]
    status: str = "waiting"  # waiting, running, ok, cancelled, failed
    fraction: float = 0.0
    message: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)
    result: Result | None = None
    error: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class DecomposeState(param.Parameterized):
    """Config, per-method runs and messages of one Decompose page (one per session)."""

    config = param.ClassSelector(class_=Config, doc="The current valid decompose config.")
    error = param.String(default="", doc="Why the last change was refused.")
    revision = param.Integer(default=0, doc="Bumped when runs start or finish (views redraw).")

    def __init__(self, config: Config | None = None, **params: Any) -> None:
        super().__init__(config=config or default_decompose_config(), **params)
        self._lock = threading.Lock()
        self.runs: dict[str, MethodRun] = {}

    # ------------------------------------------------------------------ edits

    def _apply(self, **changes: Any) -> bool:
        try:
            cfg = self.config.replace(**changes)
        except TensorbenchError as e:
            self.error = str(e)
            return False
        self.param.update(config=cfg, error="")
        return True

    def set_data(self, spec: dict[str, Any]) -> bool:
        """Replace the data spec (validated without loading)."""
        return self._apply(task={"data": spec})

    def set_methods(self, methods: list[dict[str, Any]]) -> bool:
        """Replace the method list (each validated against its parameters)."""
        if not methods:
            self.error = "choose at least one method"
            return False
        return self._apply(task={"methods": methods})

    def set_sweep(self, sweep: dict[str, Any] | None) -> bool:
        """Set or clear the sweep over one method parameter."""
        return self._apply(task={"sweep": sweep})

    def set_settings(self, **changes: Any) -> bool:
        """``seed``, ``device`` or ``dtype``."""
        top = {k: v for k, v in changes.items() if k in ("seed", "device")}
        task = {k: v for k, v in changes.items() if k == "dtype"}
        return self._apply(**top, **({"task": task} if task else {}))

    def set_network(self, net: Network | None) -> None:
        """Use ``net`` for the ``network_als`` method (a drawing sent from the Network page)."""
        self.config = dataclasses.replace(self.config, network=net)
        methods = [m for m in self.config.task["methods"] if m["method"] != "network_als"]
        if net is not None:
            methods.append({"method": "network_als"})
        self.set_methods(methods)

    def load_text(self, text: str, source: str = "JSON") -> bool:
        """Replace the config with an uploaded or pasted decompose config."""
        try:
            cfg = load_config(parse_json(text, source))
        except TensorbenchError as e:
            self.error = str(e)
            return False
        if cfg.kind != "decompose":
            self.error = f"{source}: a {cfg.kind!r} config belongs on another page"
            return False
        self.param.update(config=cfg, error="")
        return True

    # ------------------------------------------------------------------ runs

    def runs_for_config(self) -> list[tuple[str, Config]]:
        """One single-method config per method (with the sweep if any), labelled."""
        from tensorbench.engine.decompose.task import method_label

        out, seen = [], set()
        for entry in self.config.task["methods"]:
            label = method_label(entry)
            while label in seen:
                label += "'"
            seen.add(label)
            cfg = self.config.replace(task={"methods": [entry | {"label": label}]})
            out.append((label, cfg))
        return out

    def start_all(self) -> None:
        """Start one worker per method (previous runs are cancelled first)."""
        self.cancel_all()
        with self._lock:
            self.runs = {}
            for label, cfg in self.runs_for_config():
                mr = MethodRun(label, copy.deepcopy(cfg.task["methods"][0]))
                mr.thread = threading.Thread(
                    target=self._work,
                    args=(mr, cfg),
                    daemon=True,
                    name=f"tensorbench-decompose-{label}",
                )
                self.runs[label] = mr
        for mr in self.runs.values():
            mr.status = "running"
            assert mr.thread is not None
            mr.thread.start()
        self.revision += 1

    def _work(self, mr: MethodRun, cfg: Config) -> None:
        def progress(event: dict[str, Any]) -> None:
            with self._lock:
                if event.get("type") == "record":
                    mr.records.append({k: v for k, v in event.items() if k != "type"})
                else:
                    mr.fraction = float(event.get("fraction", mr.fraction))
                    mr.message = str(event.get("message", ""))

        try:
            result = run(cfg, progress=progress, cancel=mr.cancel)
            with self._lock:
                mr.result = result
                mr.status = "ok" if result.status == "ok" else "cancelled"
                mr.fraction = 1.0
        except TensorbenchError as e:
            with self._lock:
                mr.status, mr.error = "failed", str(e)
        except Exception as e:  # a bug: keep the page alive and say so
            log.exception("decompose run failed")
            with self._lock:
                mr.status, mr.error = "failed", f"internal error ({type(e).__name__}): {e}"

    def cancel(self, label: str) -> None:
        """Ask one method's run to stop at its next iteration."""
        if label in self.runs:
            self.runs[label].cancel.set()

    def cancel_all(self) -> None:
        """Ask every run to stop."""
        for mr in self.runs.values():
            mr.cancel.set()

    def snapshot(self) -> list[dict[str, Any]]:
        """A consistent copy of every run's state, for drawing."""
        with self._lock:
            return [
                {
                    "label": mr.label,
                    "status": mr.status,
                    "fraction": mr.fraction,
                    "message": mr.message,
                    "records": list(mr.records),
                    "error": mr.error,
                    "result": mr.result,
                }
                for mr in self.runs.values()
            ]

    @property
    def running(self) -> bool:
        """Whether any run is still going."""
        return any(mr.status == "running" for mr in self.runs.values())

    def wait(self, timeout: float | None = None) -> None:
        """Block until every run's worker ends (tests and scripts)."""
        for mr in list(self.runs.values()):
            if mr.thread is not None:
                mr.thread.join(timeout)
