"""The Network page's state: one Parameterized that owns the config and derived stats.

Views read from it and call its methods; nothing else holds state. A failed edit (a bad
size, a broken upload) sets ``error`` and leaves the current config untouched, so a user
never loses work to a typo.
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

    def __init__(self, config: Config | None = None, **params: Any) -> None:
        if config is None:
            config = default_config()
            params.setdefault("template", DEFAULT_TEMPLATE)
            params.setdefault("template_args", dict(DEFAULT_ARGS))
        else:
            params.setdefault("template", CUSTOM)
        super().__init__(config=config, **params)
        self._refresh_stats()

    # ------------------------------------------------------------------ edits

    def _fail(self, message: str) -> bool:
        self.error = message
        return False

    def _set_config(self, config: Config, info: str = "") -> None:
        stats = self._compute_stats(config)
        if stats is None:
            return
        self.param.update(config=config, stats=stats, error="", info=info)

    def _compute_stats(self, config: Config) -> NetworkStats | None:
        if config.network is None:
            return None
        optimize = config.task.get("optimize", "auto")
        try:
            return config.network.stats(
                optimize=optimize, dtype=config.task.get("dtype", "float64"), seed=config.seed
            )
        except TensorbenchError as e:
            self._fail(str(e))
            return None

    def _refresh_stats(self) -> None:
        self.stats = self._compute_stats(self.config)

    def apply_template(self, name: str, args: dict[str, Any]) -> bool:
        """Rebuild the network from a template; keep task, seed and device."""
        try:
            spec = get_template(name)
            net = spec.build(**args)
            cfg = Config(self.config.task, net, self.config.seed, self.config.device, net.name)
        except TensorbenchError as e:
            return self._fail(str(e))
        self._set_config(cfg)
        if not self.error:
            self.param.update(template=name, template_args=dict(args))
        return not self.error

    def update_run_settings(self, **changes: Any) -> bool:
        """Change task parameters (``dtype=...``) or ``seed`` / ``device``."""
        task = {k: v for k, v in changes.items() if k not in ("seed", "device")}
        top = {k: v for k, v in changes.items() if k in ("seed", "device")}
        try:
            cfg = self.config.replace(**top, **({"task": task} if task else {}))
        except TensorbenchError as e:
            return self._fail(str(e))
        self._set_config(cfg)
        return not self.error

    def load_text(self, text: str, source: str = "JSON") -> bool:
        """Replace the config with a JSON document (pasted or uploaded).

        A bare network document is accepted too and gets the current task.
        """
        try:
            import json

            doc = json.loads(text)
            if isinstance(doc, dict) and doc.get("format") == "tensorbench/network":
                cfg = self.config.replace(network=doc, name=doc.get("name"))
            else:
                cfg = load_config(doc)
        except json.JSONDecodeError as e:
            return self._fail(
                f"{source}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
            )
        except (ValueError, RecursionError) as e:  # TensorbenchError is a ValueError
            return self._fail(f"{source}: {e}")
        self._set_config(cfg, info=f"loaded {source}")
        if not self.error:
            self.param.update(template=CUSTOM, template_args={})
        return not self.error

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
