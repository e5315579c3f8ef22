"""State of the Decompose page: the config (data + methods), and one live run per method.

Each method runs in its own worker thread (so one can be cancelled while the others go
on); the run machinery is :class:`~tensorbench.widgets.multirun.MultiRunState`'s.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, ClassVar

from tensorbench.engine import Config, Network, get_task

from .multirun import MultiRunState

__all__ = ["DecomposeState", "default_decompose_config"]


#: Title of the built-in demo (dropped once the user edits the task).
DEMO_NAME = "camera: TT vs Tucker"


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
    return Config({"kind": "decompose", **task}, None, 0, "auto", DEMO_NAME)


class DecomposeState(MultiRunState):
    """Config, per-method runs and messages of one Decompose page (one per session)."""

    kind = "decompose"
    demo_name = DEMO_NAME
    box_labels: ClassVar[dict[str, str]] = {"sweep.param": "sweep parameter"}

    def __init__(self, config: Config | None = None, **params: Any) -> None:
        super().__init__(config or default_decompose_config(), **params)

    # ------------------------------------------------------------------ edits

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

    def exported(self) -> Config:
        """The config without a network no chosen method fits (and without the name it
        came with, where that was the network's).

        The page keeps the network (adding network_als again uses it), but a download
        after the methods and data changed carried a tensor ring and its name beside a
        camera image fitted by tt_svd and hooi.
        """
        cfg, net = self.config, self.config.network
        if net is None or any(m["method"] == "network_als" for m in cfg.task["methods"]):
            return cfg
        name = None if cfg.name == net.name else cfg.name
        return dataclasses.replace(cfg, network=None, name=name)

    # ------------------------------------------------------------------ runs

    def runs_for_config(self) -> list[tuple[str, dict[str, Any], Config]]:
        """One single-method config per method (with the sweep, where the method has the
        swept parameter), labelled."""
        from tensorbench.engine.decompose.task import method_label, swept

        out, seen = [], set()
        sweep = self.config.task.get("sweep")
        for entry in self.config.task["methods"]:
            label = method_label(entry)
            while label in seen:
                label += "'"
            seen.add(label)
            one: dict[str, Any] = {"methods": [entry | {"label": label}]}
            if not swept(entry, sweep):
                one["sweep"] = None  # the baseline beside a sweep: runs once
            cfg = self.config.replace(task=one)
            out.append((label, copy.deepcopy(entry), cfg))
        return out
