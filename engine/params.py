"""Typed parameter specs shared by templates and tasks.

One spec drives validation in the engine, options in the CLI and widgets in the app, so the
three never disagree about names, defaults or bounds.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import TensorbenchError, brief

__all__ = [
    "Param",
    "ParamKind",
    "changed_settings",
    "check_entries",
    "check_params",
    "first_repeat",
]

ParamKind = Literal[
    "int", "float", "bool", "choice", "ints", "int_matrix", "str", "json", "names", "bytes"
]


@dataclass(frozen=True)
class Param:
    """One named argument: kind, default, bounds or choices, and a help line.

    Parameters
    ----------
    name : str
        Argument name (``--name`` on the CLI).
    kind : {"int", "float", "bool", "choice", "ints", "int_matrix", "str", "json", "names", \
"bytes"}
        ``ints`` is a list of ints (or one int meaning "this value everywhere" when
        ``scalar_ok``); ``int_matrix`` a square list of lists; ``str`` non-empty text of at
        most ``max`` characters; ``json`` any JSON value (object, list, ...), checked further
        by ``validator`` when given; ``names`` a non-empty list of ``choices``; ``bytes`` a
        file's content (from an upload widget; configs name a path instead).
    default : object
        Value used when the argument is not given; ``None`` makes the argument optional.
    doc : str
        One-line help.
    min, max : float
        Inclusive bounds for numbers.
    choices : tuple of str
        Allowed values of a ``choice``.
    """

    name: str
    kind: ParamKind
    default: Any
    doc: str
    min: float = 1
    max: float = 4096
    choices: tuple[str, ...] = ()
    scalar_ok: bool = True
    validator: Callable[[Any, str], Any] | None = None  # json: (value, where) -> clean value

    def check(
        self, value: Any, where: str, error: type[TensorbenchError] = TensorbenchError
    ) -> Any:
        """Return ``value`` if valid for this parameter, else raise ``error``.

        ``where`` prefixes the message, e.g. ``"task.repeats"``.
        """
        where = f"{where}.{self.name}" if where else self.name
        if value is None and self.default is None:
            return None  # optional, not given
        kind = self.kind
        if kind == "bool":
            if not isinstance(value, bool):
                raise error(f"{where} must be true or false, got {brief(value)}")
            return value
        if kind == "choice":
            if value not in self.choices:
                raise error(
                    f"{where} must be one of: {', '.join(self.choices)}; got {brief(value)}"
                )
            return value
        if kind == "int":
            return self._int(value, where, error)
        if kind == "str":
            if not isinstance(value, str) or not value or len(value) > self.max:
                raise error(
                    f"{where} must be non-empty text of at most {self.max:g} characters, "
                    f"got {brief(value)}"
                )
            return value
        if kind == "names":
            if not _is_list(value) or not value:
                raise error(f"{where} must be a non-empty list of names, got {brief(value)}")
            for k, v in enumerate(value):
                if v not in self.choices:
                    raise error(
                        f"{where}[{k}] must be one of: {', '.join(self.choices)}; got {brief(v)}"
                    )
                if v in value[:k]:
                    raise error(f"{where}: {v!r} appears twice; give each name once")
            return list(value)
        if kind == "bytes":
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise error(f"{where} must be bytes (a file's content), got {type(value).__name__}")
            return bytes(value)
        if kind == "json":
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                raise error(
                    f"{where} must be JSON data (objects, lists, numbers, text), got {brief(value)}"
                ) from None
            return self.validator(value, where) if self.validator is not None else value
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise error(f"{where} must be a number, got {brief(value)}")
            if not math.isfinite(value) or not self.min <= value <= self.max:
                lo, hi = _bound(self.min), _bound(self.max)
                raise error(f"{where} must be between {lo} and {hi}, got {brief(value)}")
            return float(value)
        if kind == "ints":
            if isinstance(value, int) and not isinstance(value, bool) and self.scalar_ok:
                return self._int(value, where, error)
            if _is_list(value) and not value:  # an emptied box read "must be ..., got []"
                raise error(f"{where} is empty: give at least one integer")
            if not _is_list(value):
                what = (
                    "an integer or a list of integers" if self.scalar_ok else "a list of integers"
                )
                raise error(f"{where} must be {what}, got {brief(value)}")
            return [self._int(v, f"{where}[{k}]", error) for k, v in enumerate(value)]
        if kind == "int_matrix":
            if not _is_list(value) or not value or not all(_is_list(row) for row in value):
                raise error(
                    f"{where} must be a square matrix (a list of lists), got {brief(value)}"
                )
            n = len(value)
            if any(len(row) != n for row in value):
                raise error(f"{where} must be square: {n} rows of {n} integers")
            return [
                [self._int(v, f"{where}[{i}][{j}]", error) for j, v in enumerate(row)]
                for i, row in enumerate(value)
            ]
        raise AssertionError(kind)  # pragma: no cover

    def _int(self, value: Any, where: str, error: type[TensorbenchError]) -> int:
        if value is None:  # a cleared box: "got None" read as jargon
            lo, hi = _bound(self.min), _bound(self.max)
            raise error(f"{where} is empty: enter an integer from {lo} to {hi}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise error(f"{where} must be an integer, got {brief(value)}")
        if not self.min <= value <= self.max:
            lo, hi = _bound(self.min), _bound(self.max)
            raise error(f"{where} must be between {lo} and {hi}, got {value}")
        return value


def _bound(x: float) -> str:
    """A range end as a person types it: 4194304, not 4.1943e+06 (huge ends stay short)."""
    short = f"{x:g}"
    if float(x).is_integer() and abs(x) < 1e16:
        # in full (2**40 read "1.09951e+12"), unless a large bound reads exactly as
        # 1e+12 (in full it is a row of zeros to count)
        return short if abs(x) >= 1e12 and float(short) == x else str(int(x))
    return short


def changed_settings(
    params: Sequence[Param], given: Mapping[str, Any], skip: Sequence[str] = ()
) -> list[str]:
    """``name=value`` for each of ``params`` that ``given`` sets to other than its default,
    in the parameters' order (``skip`` left out): what tells an entry from another of the
    same name in a label, e.g. ``hyper block=128`` or ``tnga patience=1000``."""
    return [
        f"{p.name}={given[p.name]}"
        for p in params
        if p.name in given and p.name not in skip and given[p.name] != p.default
    ]


def first_repeat(values: Sequence[Any]) -> tuple[bool, Any]:
    """``(True, v)`` for the first value of ``values`` equal to an earlier one, else
    ``(False, None)``: a sweep's values are each run once. A scan, not a set (a value may
    be a list); equal numbers are one value (0 and 0.0), a bool is not a number (True
    and 1 are two)."""
    for i, v in enumerate(values):
        if any(v == u and isinstance(v, bool) == isinstance(u, bool) for u in values[:i]):
            return True, v
    return False, None


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def check_params(
    params: Sequence[Param],
    given: dict[str, Any],
    where: str,
    error: type[TensorbenchError] = TensorbenchError,
) -> dict[str, Any]:
    """Validate ``given`` against ``params``; fill defaults; reject unknown names."""
    known = {p.name: p for p in params}
    for k in given:
        if k not in known:
            names = ", ".join(known) or "none"
            raise error(f"{where}: unknown parameter {k!r}; known parameters: {names}")
    return {
        p.name: p.check(
            given[p.name] if p.name in given else copy.deepcopy(p.default), where, error
        )
        for p in params
    }


def check_entries(
    value: Any,
    where: str,
    key: str,
    example: str,
    lookup: Callable[[Any], Any],
    error: type[TensorbenchError],
    skip: Sequence[str] = (),
) -> list[tuple[dict[str, Any], Any, dict[str, Any]]]:
    """Validate a non-empty list of ``{key: name, **params}`` objects against a registry.

    ``lookup(name)`` returns a spec with ``.params`` (or raises a TensorbenchError naming
    the valid ones); ``skip`` lists extra keys checked by the caller. Returns ``(entry,
    spec, clean params)`` per item; every problem raises ``error`` naming ``where[k]``.
    """
    if not isinstance(value, list) or not value:
        raise error(f"{where} must be a non-empty list such as [{example}]")
    out = []
    seen: list[tuple[str, dict[str, Any]]] = []
    for k, entry in enumerate(value):
        here = f"{where}[{k}]"
        if not isinstance(entry, dict) or key not in entry:
            raise error(f"{here} must be an object with a '{key}' name")
        try:
            spec = lookup(entry[key])
        except TensorbenchError as e:
            raise error(f"{here}: {e}") from None
        given = {n: v for n, v in entry.items() if n != key and n not in skip}
        # the entry's name beside its position: "methods[2] (tt_als).max_iter ..." points
        # at a card on the page, where a position alone made the user count
        named = f"{here} ({entry[key]})"
        clean = check_params(spec.params, given, named, error)
        # the same entry twice runs twice to the same numbers: a slip, so it is named
        settings = {**clean, **{n: entry[n] for n in skip if n in entry}}
        for j, (spec0, settings0) in enumerate(seen):
            if spec0 == spec.name and settings0 == settings:
                raise error(
                    f"{named} repeats {where.rsplit('.', 1)[-1]}[{j}] with the same settings, "
                    "so it would run twice to the same numbers; remove one or change its "
                    "settings"
                )
        seen.append((spec.name, settings))
        out.append((entry, spec, clean))
    return out
