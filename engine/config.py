"""Versioned config documents: one network, one task, a seed and a device.

A config is the single source of truth for a run: the app edits one, ``tensorbench run``
and exported scripts execute one, and a result carries the config it ran::

    {"format": "tensorbench/config", "version": 1, "name": "MPS demo",
     "network": {...network document...},
     "task": {"kind": "contract", "dtype": "float64", "optimize": "auto", "repeats": 3},
     "seed": 0, "device": "auto"}

Task parameters are validated by the task's own spec (see :mod:`tensorbench.engine.run`),
so a config that loads is one that can run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, NetworkError, brief
from .network import Network

__all__ = ["FORMAT", "MAX_CONFIG_BYTES", "VERSION", "Config", "load_config", "parse_json"]

FORMAT = "tensorbench/config"
VERSION = 1
#: Config files larger than this are refused before parsing (a 10k-tensor network is ~1 MB).
MAX_CONFIG_BYTES = 32 * 2**20
_KEYS = {"format", "version", "name", "network", "task", "seed", "device"}


@dataclass(frozen=True)
class Config:
    """A validated run configuration.

    Parameters
    ----------
    task : dict
        ``{"kind": name, **params}``; parameters are filled with the task's defaults.
    network : Network, optional
        Required by every task that works on a network (all but attention).
    seed : int
        Seeds every random choice of the run (data, path search, sampling).
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    name : str, optional
        A label for the run.
    """

    task: dict[str, Any]
    network: Network | None = None
    seed: int = 0
    device: str = "auto"
    name: str | None = field(default=None)

    @property
    def kind(self) -> str:
        """The task kind, e.g. ``"contract"``."""
        return self.task["kind"]

    def replace(self, **changes: Any) -> Config:
        """Return a validated copy with some fields changed (``task`` may be partial)."""
        if "task" in changes:
            changes["task"] = self.task | changes["task"]
        doc = self.to_dict() | {
            k: (v.to_dict() if isinstance(v, Network) else v) for k, v in changes.items()
        }
        return Config.from_dict(doc)

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON document."""
        d: dict[str, Any] = {"format": FORMAT, "version": VERSION}
        if self.name:
            d["name"] = self.name
        if self.network is not None:
            d["network"] = self.network.to_dict()
        d["task"] = dict(self.task)
        d["seed"] = self.seed
        d["device"] = self.device
        return d

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON document to ``path`` and return the path."""
        p = Path(path)
        p.write_text(self.to_json() + "\n")
        return p

    @classmethod
    def from_dict(cls, doc: Any) -> Config:
        """Validate a config document; errors name the field at fault."""
        from .run import get_task

        if not isinstance(doc, Mapping):
            raise ConfigError(f"config: expected a JSON object, got {type(doc).__name__}")
        if doc.get("format") == "tensorbench/result":
            # it has a 'config' field, which was named as the fault
            raise ConfigError(
                "that is a result file (what 'tensorbench run' wrote), not a config: the "
                "config it ran is its 'config' field; run or load the config file itself"
            )
        extra = set(doc) - _KEYS
        if extra:
            allowed = ", ".join(sorted(_KEYS))
            raise ConfigError(
                f"config: unknown field {sorted(extra)[0]!r}; allowed fields: {allowed}"
            )
        if doc.get("format", FORMAT) != FORMAT:
            fmt = doc.get("format")
            hint = (
                ' (that is a network document: wrap it as {"network": ..., "task": ...})'
                if fmt == "tensorbench/network"
                else ""
            )
            raise ConfigError(f"config.format: expected {FORMAT!r}, got {brief(fmt)}{hint}")
        version = doc.get("version", VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ConfigError(f"config.version: expected a positive integer, got {brief(version)}")
        if version > VERSION:
            raise ConfigError(
                f"config.version: {version} was written by a newer tensorbench (this one reads up "
                f"to {VERSION}); upgrade tensorbench"
            )
        name = doc.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise ConfigError(
                f"config.name: expected a string of at most 200 characters, got {brief(name)}"
            )
        seed = doc.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise ConfigError(f"config.seed: expected an integer in [0, 2**63), got {brief(seed)}")
        device = doc.get("device", "auto")
        if not isinstance(device, str) or not _device_ok(device):
            raise ConfigError(
                f"config.device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {brief(device)}"
            )
        task = doc.get("task")
        if task is None:
            raise ConfigError('config: missing field \'task\' (e.g. {"kind": "contract"})')
        if not isinstance(task, Mapping):
            raise ConfigError(f"config.task: expected an object, got {type(task).__name__}")
        if "kind" not in task:
            raise ConfigError("config.task: missing field 'kind'")
        spec = get_task(task["kind"])
        params = spec.check({k: v for k, v in task.items() if k != "kind"})
        network = None
        if "network" in doc and doc["network"] is not None:
            try:
                network = Network.from_dict(doc["network"], where="config.network")
            except NetworkError as e:
                raise ConfigError(str(e)) from None
        need = spec.network_need(params)
        if need is not None and network is None:
            raise ConfigError(f"config: task {spec.name!r} needs a 'network'{need}")
        return cls({"kind": spec.name, **params}, network, seed, device, name)


def _device_ok(device: str) -> bool:
    if device in ("auto", "cpu", "cuda"):
        return True
    head, _, idx = device.partition(":")
    return head == "cuda" and idx.isdigit()


def parse_json(text: str, label: str = "config") -> Any:
    """Parse JSON text strictly: a key given twice in one object is an error, not a silent
    overwrite, and every failure is a one-line :class:`ConfigError` starting with ``label``.
    """

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise ConfigError(f"{label}: key {k!r} appears twice in one object; keep one")
            out[k] = v
        return out

    try:
        return json.loads(text, object_pairs_hook=unique)
    except ConfigError:
        raise
    except json.JSONDecodeError as e:
        # some of json's messages end in "at" already ("Unterminated string starting at")
        where = f"{e.msg.removesuffix(' at')} at line {e.lineno} column {e.colno}"
        if not text.strip():
            where = "the text is empty"
        elif not text[e.pos :].strip():
            where += " (the end of the text: is the file cut short?)"
        raise ConfigError(f"{label}: not valid JSON: {where}") from None
    except (ValueError, RecursionError) as e:  # absurd numbers or nesting
        raise ConfigError(f"{label}: not usable JSON: {e}") from None


def load_config(source: Config | Mapping[str, Any] | str | os.PathLike[str]) -> Config:
    """Load a config from a :class:`Config`, a dict, a JSON file path or JSON text.

    Raises
    ------
    ConfigError
        With a one-line message naming the file or field at fault.
    """
    if isinstance(source, Config):
        return source
    if isinstance(source, Mapping):
        return Config.from_dict(source)
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and not source.lstrip().startswith("{")
    ):
        path = Path(source)
        if path.is_dir():
            raise ConfigError(f"{path}: is a folder; give the path of a config .json file")
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{path}: {size} bytes is larger than the {MAX_CONFIG_BYTES} byte limit"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read ({e})") from None
        label = str(path)
    else:
        text, label = str(source), "config"
    doc = parse_json(text, label)
    try:
        return Config.from_dict(doc)
    except ConfigError as e:
        if label == "config":
            raise
        raise ConfigError(f"{label}: {e}") from None
