"""Refusals of what was typed, worded by the boxes the page shows rather than the config."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["in_box_words"]

_DATA_FIELD = re.compile(r"config\.task\.data: data\.(\w+)")
_ENTRY = re.compile(r"config\.task\.(?:methods|strategies)\[\d+\] \(([\w.-]+)\)(?:\.(\w+))?")
# a config path, not a file such as "config.json" or "my.config.npy"
_FIELD = re.compile(
    r"(?<![\w./-])config\.(?:task\.(\w+(?:\.\w+)*)|(seed|device|name)\b)(?:\[(\d+)\])?"
)


def in_box_words(message: str, labels: Mapping[str, str] | None = None) -> str:
    """``message`` with config paths named as the boxes a page shows them in.

    Checks name what they refuse by its place in a config ("config.task.budget.evaluations
    must be between 1 and ...", "config.task.methods[0] (cp_als_lev).samples"), which is
    right for a file but not for someone who typed into a box labelled "evaluations" in
    the cp_als_lev card. Boxes are labelled by the field's name with spaces for
    underscores; ``labels`` maps a path below ``config.task`` (or ``seed``, ``device``)
    to the label of a box that says something else ("n": "sequence length n").
    """
    labels = labels or {}

    def label(path: str) -> str:
        return labels.get(path) or path.rsplit(".", 1)[-1].replace("_", " ")

    def field(m: re.Match) -> str:
        path, index = m.group(1) or m.group(2), m.group(3)
        section = path.rsplit(".", 1)[0] if "." in path and path not in labels else None
        words = f'"{label(path)}"' + (f" ({section.replace('.', ' ')})" if section else "")
        return words + (f", value {int(index) + 1}" if index is not None else "")

    def entry(m: re.Match) -> str:
        name, param = m.group(1), m.group(2)
        return f'"{param.replace("_", " ")}" of {name}' if param else name

    message = _DATA_FIELD.sub(lambda m: f'"{label("data." + m.group(1))}" (data)', message)
    return _FIELD.sub(field, _ENTRY.sub(entry, message))
