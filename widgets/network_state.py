"""The Network page's state: one Parameterized that owns the config and derived stats.

Views read from it and call its methods; nothing else holds state. A failed edit (a bad
size, a broken upload) sets ``error`` and leaves the current config untouched, so a user
never loses work to a typo. Stats (a path search: seconds on big networks) are computed
by a background worker, newest request first, so the page never freezes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import param

from tensorbench.engine import (
    Config,
    Network,
    NetworkStats,
    TensorbenchError,
    edit,
    export_script,
    get_task,
    get_template,
    load_config,
)
from tensorbench.engine.config import parse_json
from tensorbench.engine.interop import from_tensor_network_editor

from .background import LatestWorker, current_doc, dispatch
from .box_words import in_box_words

__all__ = ["CUSTOM", "NetworkState", "default_config"]

log = logging.getLogger(__name__)

#: Template selector value for a network that did not come from a template.
CUSTOM = "(custom network)"

DEFAULT_TEMPLATE = "mps"
DEFAULT_ARGS: dict[str, Any] = {"sites": 8, "bond": 16, "phys": 2}


def _structure(net: Network | None) -> Any:
    """What a network is, without where its tensors are drawn."""
    if net is None:
        return None
    return ([(t.name, t.indices) for t in net.tensors], net.sizes, list(net.output))


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
    selection = param.Dict(
        default={"tensors": [], "indices": []}, doc="Selected tensor and index names on the canvas."
    )
    can_undo = param.Boolean(default=False, doc="There is an edit to undo.")
    can_redo = param.Boolean(default=False, doc="There is an undone edit to redo.")
    replaced = param.Integer(
        default=0,
        doc="Counts whole-network replacements (template, load, import, hand-off): the "
        "editor fits each into view, as it keeps the view for edits on the canvas.",
    )

    #: Most edits kept for undo.
    UNDO_LIMIT = 200

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
        #: set by the app: ``route(config, source)`` opens a config of another kind (a
        #: decomposition, a search, attention) on the page that runs it
        self.route: Callable[[Config, str], Any] | None = None
        self._doc = current_doc()
        self._sync = self._doc is None if sync is None else sync
        self._worker = LatestWorker("tensorbench-stats")
        self._undo: list[Config] = []
        self._redo: list[Config] = []
        # the title a template gave the network (dropped once its structure is edited)
        self._template_title = config.name if self.template != CUSTOM else None
        self._request_stats(config)

    # ------------------------------------------------------------------ edits

    def _fail(self, message: str) -> bool:
        self.error = message
        return False

    def _set_config(
        self, config: Config, info: str = "", *, record: bool = True, replaced: bool = False
    ) -> None:
        # The config is valid, so it is applied at once; its stats (a path search that can
        # take seconds on big networks) follow from a worker thread.
        if record and config != self.config:
            self._undo = [*self._undo[-(self.UNDO_LIMIT - 1) :], self.config]
            self._redo = []
        net = config.network
        names = set() if net is None else {t.name for t in net.tensors}
        indices = set() if net is None else set(net.sizes)
        selection = {
            "tensors": [n for n in self.selection.get("tensors", []) if n in names],
            "indices": [i for i in self.selection.get("indices", []) if i in indices],
        }
        self.param.update(
            config=config,
            error="",
            info=info,
            selection=selection,
            can_undo=bool(self._undo),
            can_redo=bool(self._redo),
            # in the same update, so the editor's redraw sees it
            replaced=self.replaced + int(replaced),
        )
        self._request_stats(config)

    @property
    def network(self) -> Network | None:
        """The current network (None for an empty canvas)."""
        return self.config.network

    def undo(self) -> bool:
        """Go back one edit (any change of the config counts)."""
        if not self._undo:
            return self._fail("nothing to undo")
        self._redo.append(self.config)
        self._set_config(self._undo.pop(), info="undone", record=False)
        return True

    def redo(self) -> bool:
        """Re-apply the last undone edit."""
        if not self._redo:
            return self._fail("nothing to redo")
        self._undo.append(self.config)
        self._set_config(self._redo.pop(), info="redone", record=False)
        return True

    def select(self, tensors: list[str], indices: list[str]) -> None:
        """Set the canvas selection (unknown names are dropped)."""
        net = self.network
        names = set() if net is None else {t.name for t in net.tensors}
        known = set() if net is None else set(net.sizes)
        self.selection = {
            "tensors": [t for t in dict.fromkeys(tensors) if t in names],
            "indices": [i for i in dict.fromkeys(indices) if i in known],
        }

    # ------------------------------------------------------------------ canvas edits

    def _edit(
        self,
        fn: Any,
        *args: Any,
        select: dict[str, list[str]] | None = None,
        replaced: bool = False,
    ) -> bool:
        """Apply an :mod:`~tensorbench.engine.edit` function to the network."""
        try:
            net = fn(self.network, *args)
        except TensorbenchError as e:
            return self._fail(str(e))
        name = self.config.name
        titled = name is not None and name == self._template_title
        if replaced:  # another network altogether: its own name, not the last one's
            name = None if net is None else net.name
        elif net is None or (titled and _structure(net) != _structure(self.network)):
            # A template's title ("MPS 8 sites, bond 16, phys 2") no longer describes the
            # network once its structure changes (a move keeps it), nor an empty canvas:
            # it went on naming exported scripts.
            name = None
            if net is not None and net.name:
                net = Network(net.tensors, net.sizes, net.output)  # unnamed
        cfg = dataclasses.replace(self.config, network=net, name=name)
        self._set_config(cfg, replaced=replaced)
        self.template = CUSTOM
        if select is not None:
            self.select(select.get("tensors", []), select.get("indices", []))
        return True

    def edit_network(self, fn: Any) -> bool:
        """Replace the network by ``fn(network)`` (validated, undoable)."""
        return self._edit(fn)

    def replace_network(self, net: Network) -> bool:
        """Show another network altogether (an einsum import, a search's structure):
        validated, undoable, and fitted into view."""
        return self._edit(lambda _old: net, replaced=True)

    def add_tensor(self, pos: tuple[float, float]) -> bool:
        """Add a tensor at ``pos`` (network units) and select it."""
        before = set() if self.network is None else {t.name for t in self.network.tensors}
        ok = self._edit(edit.add_tensor, pos)
        if ok and self.network is not None:
            new = [t.name for t in self.network.tensors if t.name not in before]
            self.select(new, [])
        return ok

    def add_legs(self, tensors: list[str]) -> bool:
        """Give each tensor a new open leg."""
        if self.network is None or not tensors:
            return self._fail("select a tensor to give it a leg")

        def add_all(net: Network) -> Network:
            for name in tensors:
                net = edit.add_leg(net, name)
            return net

        return self._edit(add_all)

    def connect(self, a: tuple[str, str | None], b: tuple[str, str | None]) -> bool:
        """Bond two tensors, or join a leg to a tensor, a leg or a bond."""
        if self.network is None:
            return self._fail("add two tensors first")
        return self._edit(edit.connect, a, b)

    def hyperedge(self, tensors: list[str]) -> bool:
        """Join three or more tensors by one new index."""
        if self.network is None:
            return self._fail("add tensors first")
        return self._edit(edit.make_hyperedge, tensors)

    def delete(self, tensors: list[str], indices: list[str]) -> bool:
        """Delete tensors and indices (bonds to deleted tensors stay as open legs)."""
        if self.network is None or (not tensors and not indices):
            return self._fail("select something to delete")

        def remove(net: Network) -> Network | None:
            net2: Network | None = edit.delete_indices(net, indices) if indices else net
            if tensors and net2 is not None:
                net2 = edit.delete_tensors(net2, tensors)
            return net2

        return self._edit(remove, select={"tensors": [], "indices": []})

    def move(self, positions: dict[str, tuple[float, float]]) -> bool:
        """Move tensors (one undo step per drop)."""
        if self.network is None:
            return False
        return self._edit(edit.move, positions)

    def rename_tensor(self, old: str, new: str) -> bool:
        """Rename a tensor and keep it selected."""
        if self.network is None or new == old:
            return False
        return self._edit(edit.rename_tensor, old, new, select={"tensors": [new], "indices": []})

    def rename_index(self, old: str, new: str) -> bool:
        """Rename an index and keep it selected."""
        if self.network is None or new == old:
            return False
        return self._edit(edit.rename_index, old, new, select={"tensors": [], "indices": [new]})

    def set_size(self, ix: str, size: int) -> bool:
        """Set an index's size."""
        if self.network is None:
            return False
        if size is None:  # a cleared number box: say so rather than keep the old size quietly
            return self._fail(f"size of index {ix!r}: enter a whole number >= 1")
        if self.network.sizes.get(ix) == size:
            return True
        return self._edit(edit.set_size, ix, size)

    def move_leg(self, tensor: str, k: int, step: int) -> bool:
        """Move a tensor's ``k``-th leg ``step`` places in its axis order."""
        if self.network is None:
            return False
        order = list(self.network.tensor(tensor).indices)
        j = k + step
        if not 0 <= j < len(order):
            return False
        order[k], order[j] = order[j], order[k]
        return self._edit(edit.reorder_legs, tensor, order)

    def auto_layout(self) -> bool:
        """Place every tensor afresh."""
        if self.network is None:
            return False
        return self._edit(edit.auto_layout, self.config.seed)

    def clear(self) -> bool:
        """Empty the canvas (undo brings the network back)."""
        if self.network is None:
            return False
        return self._edit(lambda _net: None, select={"tensors": [], "indices": []})

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
        self._set_config(cfg, replaced=True)
        self._template_title = net.name
        self.param.update(template=name, template_args=dict(args))
        return True

    def update_run_settings(self, **changes: Any) -> bool:
        """Change task parameters (``dtype=...``) or ``seed`` / ``device``."""
        task = {k: v for k, v in changes.items() if k not in ("seed", "device")}
        top = {k: v for k, v in changes.items() if k in ("seed", "device")}
        try:
            cfg = self.config.replace(**top, **({"task": task} if task else {}))
        except TensorbenchError as e:
            return self._fail(in_box_words(str(e)))  # named as the box, not the config path
        self._set_config(cfg)
        return True

    def load_text(self, text: str, source: str = "JSON", titled: bool = False) -> bool:
        """Replace the config with a JSON document (pasted or uploaded).

        A bare network document is accepted too and gets the current task. ``titled``:
        the document's name describes its network (a shipped example), so it is dropped
        once the structure is edited, as a template's title is.
        """
        try:
            doc = parse_json(text, source)
            if isinstance(doc, dict) and doc.get("format") == "tensorbench/network":
                cfg = self.config.replace(network=doc, name=doc.get("name"))
            elif isinstance(doc, dict) and "schema_version" in doc and "network" in doc:
                # a drawing saved by tensor-network-editor
                net = from_tensor_network_editor(doc).with_layout()
                cfg = dataclasses.replace(self.config, network=net, name=net.name)
            else:
                cfg = load_config(doc)
        except TensorbenchError as e:
            return self._fail(str(e) if str(e).startswith(source) else f"{source}: {e}")
        if cfg.kind != "contract":
            # Taken here, an attention config (no network) emptied the canvas, and a
            # decomposition's replaced the drawing with its data's network, in silence.
            if self.route is None:
                return self._fail(
                    f"{source}: a {cfg.kind!r} config runs on another page; open it there"
                )
            self.error = ""
            self.route(cfg, source)
            return False
        self.open_config(cfg, source, titled)
        return True

    def open_config(self, cfg: Config, source: str = "a config", titled: bool = False) -> None:
        """Show a (valid) contraction config, undoably, as loading it would."""
        self._template_title = cfg.name if titled else None
        self._set_config(cfg, info=f"loaded {source}", replaced=True)
        self.param.update(template=CUSTOM, template_args={})

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
