"""Choose a page's input data: a source from :mod:`tensorbench.engine.data` and its form.

Used by the Decompose and Search pages. A page may add its own sources (the Search page's
"hidden truth") as :class:`CustomSource` entries listed before the engine's.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import panel as pn

from tensorbench.engine import TensorbenchError
from tensorbench.engine.data import (
    DATA_SOURCES,
    MAX_UPLOAD_BYTES,
    DataSource,
    check_spec,
    data_shape,
    get_source,
)
from tensorbench.engine.fmt import format_bytes

from .background import LatestWorker, current_doc, dispatch
from .forms import ParamForm, watch_uploads

__all__ = ["CustomSource", "DataForm", "save_upload", "upload_dir"]


@dataclass
class CustomSource:
    """A page's own data choice.

    ``spec()`` builds the data spec from ``widgets`` (raising TensorbenchError with a
    message on bad input); ``load(spec)`` shows a spec in the widgets and returns False
    when the spec is not of this source.
    """

    doc: str
    widgets: list[Any]
    spec: Callable[[], dict[str, Any]]
    load: Callable[[dict[str, Any]], bool]


def upload_dir() -> Path:
    """Where uploaded arrays are kept: ``$TENSORBENCH_UPLOAD_DIR``, else
    ``$XDG_CACHE_HOME/tensorbench/uploads`` (``~/.cache`` when unset or relative); always
    an absolute path, as exported configs name files by it."""
    given = os.environ.get("TENSORBENCH_UPLOAD_DIR")
    if given:
        return Path(given).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME", "")
    if not Path(cache).is_absolute():  # the spec says to ignore a relative one
        try:
            cache = str(Path.home() / ".cache")
        except RuntimeError:  # no home folder: the temp folder's fallback below serves
            return _private_temp_dir()
    return Path(cache) / "tensorbench" / "uploads"


def _private_temp_dir() -> Path:
    """A per-user folder in the system temp folder, readable by this user only (uploads
    are the user's data; a shared, predictable folder there would expose them)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = Path(tempfile.gettempdir()) / f"tensorbench-uploads-{uid}"
    path.mkdir(mode=0o700, exist_ok=True)
    if path.is_symlink() or (hasattr(os, "getuid") and path.stat().st_uid != uid):
        raise OSError(f"{path} is not this user's own folder")
    return path


def save_upload(content: bytes, filename: str | None) -> Path:
    """Save an uploaded array file on the server and return its path.

    File content cannot live in a JSON config, so the config names this path, and the
    file must outlive the server for an exported config to run again: uploads are kept
    under :func:`upload_dir`, one folder per content hash, so uploading the same file
    again reuses it instead of leaving one more copy (a fresh temp folder per upload
    grew without bound). Falls back to a private folder in the system temp folder where
    that is not writable.
    """
    suffix = (filename or "")[-4:].lower()
    if suffix not in (".npy", ".npz"):
        # said of the user's file: saved as .npy it was refused as "broken.npy"
        raise TensorbenchError(
            f"{filename or 'the upload'}: not a .npy or .npz file (save arrays with "
            "numpy.save or numpy.savez)"
        )
    if not content:
        raise TensorbenchError(f"{filename}: the file is empty")
    if len(content) > MAX_UPLOAD_BYTES:
        raise TensorbenchError(
            f"{filename}: {format_bytes(len(content))} is over the "
            f"{format_bytes(MAX_UPLOAD_BYTES)} upload limit"
        )
    # The user's own file name (made safe), so messages and the exported config name the
    # file they chose, not "upload.npy"; never a path, never a dot file.
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(filename or "upload").stem).strip("._")
    digest = hashlib.sha256(content).hexdigest()[:16]
    name = f"{stem[:80] or 'upload'}{suffix}"
    for root in (upload_dir, _private_temp_dir):
        try:
            path = root() / digest / name
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Written whole or not at all (_write_whole), and named by its content's
            # hash: one of this size is this content, so it is not read back to compare.
            if not (path.is_file() and path.stat().st_size == len(content)):
                _write_whole(path, content)
            return path
        except OSError:
            continue
    raise TensorbenchError(
        f"{filename}: could not save the upload under {upload_dir()} or the temp folder; "
        "set TENSORBENCH_UPLOAD_DIR to a writable folder"
    )


def _write_whole(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` through a fresh file beside it and a rename, so a
    reader never sees half a file; the partial file goes if the write fails."""
    fd, part = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(part, path)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise


_MootRule = tuple[str, tuple[str, ...], Callable[[Any], tuple[str, ...]]]


def _moot_rules(source: DataSource) -> list[_MootRule]:
    """``(field, governed, rule)``: ``rule(value of field)`` names the ``governed`` fields
    the source ignores. A filled-in field that overrides others (DataSource.overrides: a
    network makes the template moot); and for images, "images" is read in stack mode only
    and "image" in the others (back from stack to gray the kept list made the data
    unloadable: "images is only used with mode='stack'")."""
    rules: list[_MootRule] = []
    if source.overrides is not None:
        field, moot = source.overrides
        rules.append((field, moot, lambda v, moot=moot: moot if str(v or "").strip() else ()))
    if source.name == "image":
        rules.append(
            ("mode", ("image", "images"), lambda v: ("image",) if v == "stack" else ("images",))
        )
    return rules


def _moot(rules: list[_MootRule], values: dict[str, Any]) -> set[str]:
    """The fields ``rules`` make moot, for the form's ``values``."""
    return {name for field, _g, rule in rules for name in rule(values.get(field))}


class DataForm:
    """A source selector, its description and its parameter form.

    Parameters
    ----------
    spec : dict
        The data spec to show first.
    on_change : callable
        Called with each new valid spec.
    on_error : callable
        Called with a message when the form cannot make a spec.
    custom : dict, optional
        Extra sources by name, listed first.
    """

    def __init__(
        self,
        spec: dict[str, Any],
        on_change: Callable[[dict[str, Any]], Any],
        on_error: Callable[[str], Any],
        custom: dict[str, CustomSource] | None = None,
    ) -> None:
        self.on_change, self.on_error = on_change, on_error
        self.custom = custom or {}
        for name, src in self.custom.items():
            for w in src.widgets:
                if hasattr(w, "value"):
                    w.param.watch(lambda *_, n=name: self._changed(n), "value")
        self.kind = pn.widgets.Select(
            label="data", options=[*self.custom, *DATA_SOURCES], sizing_mode="stretch_width"
        )
        self.doc = pn.pane.HTML("", styles={"font-size": "12px", "color": "#5a6b7b"})
        self.area = pn.Column(sizing_mode="stretch_width")
        self._form: ParamForm | None = None
        self._quiet = False
        #: each kind's last values, so that switching to another kind and back keeps
        #: what the user entered (the image, split and crop came back as defaults)
        self._kept: dict[str, dict[str, Any]] = {}
        #: what the chosen data is (shape, entries), or why it cannot be loaded: found
        #: when it is chosen, in the background, not first at Run, once per method
        self.facts = pn.pane.HTML("", sizing_mode="stretch_width", styles={"font-size": "12px"})
        self._probe = LatestWorker("tensorbench-data-probe")
        self._probed: str | None = None
        self._shape: tuple[str, list[int]] | None = None  # (spec key, its loaded shape)
        self._problem: tuple[str, str] | None = None  # (spec key, why it does not load)
        self._session = current_doc()
        self.show(spec)
        self.kind.param.watch(lambda *_: self._build(fresh=True), "value")

    def show(self, spec: dict[str, Any]) -> None:
        """Show ``spec`` in the widgets (without reporting a change)."""
        self._quiet = True
        try:
            name = next((n for n, s in self.custom.items() if s.load(spec)), spec["kind"])
            self.kind.value = name
            self._build(fresh=False, spec=spec)
            if self._form is not None:
                self._kept[name] = self._form.values()
            self.probe(spec)
        finally:
            self._quiet = False

    def _build(self, fresh: bool, spec: dict[str, Any] | None = None) -> None:
        name = self.kind.value
        if name in self.custom:
            src = self.custom[name]
            self.doc.object = html.escape(src.doc)
            self._form = None
            self.area.objects = list(src.widgets)
        else:
            source = get_source(name)
            self.doc.object = html.escape(source.doc)
            fill = self._kept.get(name, {}) if fresh or spec is None else spec
            current = dict(fill)
            self._form = ParamForm(source.params, current, self._changed)
            self._link_moot(source)
            objects: list[Any] = [self._form.column()]
            if any(p.kind == "bytes" for p in source.params):
                picker = pn.widgets.FileInput(accept=".npy,.npz", sizing_mode="stretch_width")
                watch_uploads(picker, self._upload)
                objects.insert(0, picker)
            self.area.objects = objects
        if fresh:
            self._changed()

    def _link_moot(self, source: DataSource) -> None:
        """Hide the fields the source ignores, given the others (:func:`_moot_rules`), so
        the form never seems to name data it does not use (shown disabled, "template:
        tensor_train" still named one beside a tensor ring network); their values stay,
        for a return."""
        assert self._form is not None
        widgets = self._form.widgets
        rules = _moot_rules(source)

        def sync(*_: Any) -> None:
            moot = _moot(rules, {f: widgets[f].value for f, _g, _r in rules})
            for _f, governed, _r in rules:
                for name in governed:
                    widgets[name].visible = name not in moot

        for field, _g, _r in rules:
            widgets[field].param.watch(sync, "value")
        sync()

    def _upload(self, content: bytes, filename: str) -> None:
        if self._form is None:
            return
        try:
            path = save_upload(content, filename)
        except TensorbenchError as e:
            self.on_error(str(e))
            return
        self._form.widgets["path"].value = str(path)

    def spec(self) -> dict[str, Any]:
        """The spec the widgets describe (TensorbenchError says what is wrong)."""
        name = self.kind.value
        if name in self.custom:
            return self.custom[name].spec()
        assert self._form is not None
        values = self._form.values()
        # moot fields keep their (hidden) values, for a return, but not in the spec
        for field in _moot(_moot_rules(get_source(name)), values):
            values.pop(field, None)
        return {"kind": name, **values}

    def apply(self) -> None:
        """Report the spec the widgets describe (``on_change``), or why there is none
        (``on_error``), or why it cannot be loaded when the background check found so."""
        if not self._changed():
            return  # refused: that reason, not an earlier spec's load problem
        if self._problem is not None and self._problem[0] == self._probed:
            self.on_error(self._problem[1])

    def _changed(self, source: str | None = None) -> bool:
        """Report the widgets' spec; False when it was refused (or not reported)."""
        if self._quiet or (source is not None and source != self.kind.value):
            return False  # being filled in, or a hidden custom source's widget fired
        try:
            spec = self.spec()
        except TensorbenchError as e:
            self.on_error(str(e))
            return False
        if self._form is not None:
            self._kept[self.kind.value] = self._form.values()
        self.on_change(spec)
        self.probe(spec)
        return True

    def probe(self, spec: dict[str, Any]) -> None:
        """Load ``spec`` in the background and show its shape, or why it cannot be
        loaded (a dataset with NaNs, a split that does not fit, an unreadable upload)."""
        try:
            # the checked spec: the form leaves out fields a loaded config names as null,
            # and the same data must be the same key (or Run all missed the problem)
            spec = check_spec(spec)
        except TensorbenchError:
            return  # refused where it is reported
        key = json.dumps(spec, sort_keys=True, default=repr)
        if key == self._probed:
            return
        self._probed, self._problem = key, None
        if spec.get("kind") == "upload" and not spec.get("path") and not spec.get("content"):
            # nothing chosen yet is not an error (it was shown in red before any choice);
            # a run still says what is missing
            self._problem = (key, "no file chosen: choose a .npy or .npz file to upload")
            self.facts.object = (
                "<span style='color: #5a6b7b'>choose a .npy or .npz file (or give its "
                "path on the server)</span>"
            )
            return
        self.facts.object = "<span style='color: #5a6b7b'>loading the data...</span>"

        def work() -> str:
            dims = data_shape(spec, dtype="float64")
            self._shape = (key, dims)
            shape = " x ".join(str(d) for d in dims)
            entries = math.prod(dims)
            return f"<span style='color: #5a6b7b'>the data: {shape} ({entries:,} entries)</span>"

        def show(generation: int, text: str | None, error: BaseException | None) -> None:
            # on the session's event loop: a check that a newer one replaced says nothing
            if generation != self._probe.generation:
                return
            if error is not None:
                why = str(error) if isinstance(error, TensorbenchError) else repr(error)
                self._problem = (key, f"the data cannot be loaded: {why}")
                text = (
                    "<span style='color: #b02a37'>this data cannot be loaded, so a run "
                    f"would fail: {html.escape(why)}</span>"
                )
            self.facts.object = text

        def done(generation: int, text: str | None, error: BaseException | None) -> None:
            dispatch(self._session, show, generation, text, error)

        self._probe.submit(work, done)

    def known_shape(self) -> list[int] | None:
        """The shape of the data the form describes, once the background check has
        loaded it (else None)."""
        if self._shape is None or self._shape[0] != self._probed:
            return None
        return self._shape[1]

    def wait_probe(self, timeout: float | None = None) -> bool:
        """Block until the data check ends (for tests)."""
        return self._probe.wait(timeout)

    def column(self) -> pn.Column:
        """Selector, description and form."""
        return pn.Column(self.kind, self.doc, self.area, self.facts, sizing_mode="stretch_width")
