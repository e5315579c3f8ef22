"""The Network page's state: one Parameterized that owns the config and derived stats.

Views read from it and call its methods; nothing else holds state. A failed edit (a bad
size, a broken upload) sets ``error`` and leaves the current config untouched, so a user
never loses work to a typo. Stats (a path search: seconds on big networks) are computed
by a background worker, newest request first, so the page never freezes.
"""

from __future__ import annotations

import logging
from typing import Any

import param

from tensorbench.engine import (
    Config,
    NetworkStats,
    TensorbenchError,
    export_script,
    get_task,
    get_template,
    load_config,
)
from tensorbench.engine.config import parse_json

from .background import LatestWorker, current_doc, dispatch

__all__ = ["CUSTOM", "NetworkState", "default_config"]

log = logging.getLogger(__name__)

#: Template selector value for a network that did not come from a template.
CUSTOM = "(custom network)"

DEFAULT_TEMPLATE = "mps"
DEFAULT_ARGS: dict[str, Any] = {"sites": 8, "bond": 16, "phys": 2}


def default_config() -> Config:
    """The embedded default: an 8-site MPS (bond 16) with the contract task."""
    net = get_template(DEFAULT_TEMPLATE).build(**DEFAULT_ARGS)
    return Config(task=get_task("contract").defaults(), network=net, name=net.name)


class NetworkState(param.Parameterized):
    """Config, template choice, stats and messages of one Network page (one per session)."""

    config = param.ClassSelector(class_=Config, doc="The current valid config.")
    template = param.String(
        default=DEFAULT_TEMPLATE, doc=f"Template the network was built from, or {CUSTOM!r}."
    )
    template_args = param.Dict(default={}, doc="Arguments given to the template.")
    stats = param.ClassSelector(
        class_=NetworkStats,
        allow_None=True,
        default=None,
        doc="Sizes and contraction costs of the current network.",
    )
    error = param.String(default="", doc="Why the last edit was refused (empty when fine).")
    info = param.String(default="", doc="A short note about the last successful action.")
    computing = param.Boolean(default=False, doc="Stats of the current config are on their way.")

    def __init__(
        self, config: Config | None = None, *, sync: bool | None = None, **params: Any
    ) -> None:
        """``sync``: compute stats in the caller's thread (default: only outside a server)."""
        if config is None:
            config = default_config()
            params.setdefault("template", DEFAULT_TEMPLATE)
            params.setdefault("template_args", dict(DEFAULT_ARGS))
        else:
            params.setdefault("template", CUSTOM)
        super().__init__(config=config, **params)
        self._doc = current_doc()
        self._sync = self._doc is None if sync is None else sync
        self._worker = LatestWorker("tensorbench-stats")
        self._request_stats(config)

    # ------------------------------------------------------------------ edits

    def _fail(self, message: str) -> bool:
        self.error = message
        return False

    def _set_config(self, config: Config, info: str = "") -> None:
        # The config is valid, so it is applied at once; its stats (a path search that can
        # take seconds on big networks) follow from a worker thread.
        self.param.update(config=config, error="", info=info)
        self._request_stats(config)

    def _request_stats(self, config: Config) -> None:
        net = config.network
        if net is None:
            self.param.update(stats=None, computing=False)
            return
        task = config.task

        def work() -> NetworkStats:
            return net.stats(
                optimize=task.get("optimize", "auto"),
                dtype=task.get("dtype", "float64"),
                seed=config.seed,
            )

        self.computing = True
        if self._sync:
            try:
                stats, error = work(), None
            except Exception as e:
                stats, error = None, e
            self._apply_stats(self._worker.generation, stats, error)
            return
        self._worker.submit(
            work, lambda gen, res, err: dispatch(self._doc, self._apply_stats, gen, res, err)
        )

    def _apply_stats(
        self, generation: int, stats: NetworkStats | None, error: BaseException | None
    ) -> None:
        if generation != self._worker.generation:
            return  # a newer config has been asked for since
        if error is None:
            self.param.update(stats=stats, computing=False)
            return
        if isinstance(error, TensorbenchError):
            message = str(error)
        else:  # a bug: keep the page alive and say so
            log.error("stats failed", exc_info=error)
            message = f"internal error while computing costs ({type(error).__name__}): {error}"
        self.param.update(stats=None, computing=False, error=message)

    def wait(self, timeout: float | None = 60) -> bool:
        """Block until background stats are done (for tests and scripts)."""
        return self._worker.wait(timeout)

    def apply_template(self, name: str, args: dict[str, Any]) -> bool:
        """Rebuild the network from a template; keep task, seed and device."""
        try:
            spec = get_template(name)
            net = spec.build(**args)
            cfg = Config(self.config.task, net, self.config.seed, self.config.device, net.name)
        except TensorbenchError as e:
            return self._fail(str(e))
        self._set_config(cfg)
        self.param.update(template=name, template_args=dict(args))
        return True

    def update_run_settings(self, **changes: Any) -> bool:
        """Change task parameters (``dtype=...``) or ``seed`` / ``device``."""
        task = {k: v for k, v in changes.items() if k not in ("seed", "device")}
        top = {k: v for k, v in changes.items() if k in ("seed", "device")}
        try:
            cfg = self.config.replace(**top, **({"task": task} if task else {}))
        except TensorbenchError as e:
            return self._fail(str(e))
        self._set_config(cfg)
        return True

    def load_text(self, text: str, source: str = "JSON") -> bool:
        """Replace the config with a JSON document (pasted or uploaded).

        A bare network document is accepted too and gets the current task.
        """
        try:
            doc = parse_json(text, source)
            if isinstance(doc, dict) and doc.get("format") == "tensorbench/network":
                cfg = self.config.replace(network=doc, name=doc.get("name"))
            else:
                cfg = load_config(doc)
        except TensorbenchError as e:
            return self._fail(str(e) if str(e).startswith(source) else f"{source}: {e}")
        self._set_config(cfg, info=f"loaded {source}")
        self.param.update(template=CUSTOM, template_args={})
        return True

    def load_bytes(self, data: bytes, filename: str) -> bool:
        """Load an uploaded config file (UTF-8 JSON, size-limited)."""
        from tensorbench.engine.config import MAX_CONFIG_BYTES

        if len(data) > MAX_CONFIG_BYTES:
            return self._fail(
                f"{filename}: {len(data)} bytes is over the {MAX_CONFIG_BYTES} "
                "byte limit for configs"
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return self._fail(
                f"{filename}: not a UTF-8 text file; upload a tensorbench JSON config"
            )
        return self.load_text(text, source=filename)

    # ------------------------------------------------------------------ exports

    def config_json(self) -> str:
        """The current config as JSON text."""
        return self.config.to_json()

    def script(self) -> str:
        """A runnable script for the current config."""
        return export_script(self.config, filename="tensorbench_run.py")
