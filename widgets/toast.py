"""The one error toast a page shows at a time."""

from __future__ import annotations

import weakref
from typing import Any

import panel as pn

__all__ = ["clear_error_toast", "error_toast"]

#: Each session's notification area -> its error toast on show.
_SHOWN: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def error_toast(text: str, duration: int = 8000) -> None:
    """Toast ``text`` (already escaped) as an error, in place of the error toast on show.

    Each refusal toasted for 10 s, so a few bad edits in a row stacked tall red toasts
    over the selection panel; the newest says what is wrong now, and the page's alert
    keeps the message in place. Other toasts (an info that a config opened on another
    page) stay.
    """
    area = pn.state.notifications
    if area is None:
        return
    last = _SHOWN.get(area)
    if last is not None and hasattr(last, "destroy"):
        last.destroy()
    _SHOWN[area] = area.error(text, duration=duration)


def clear_error_toast() -> None:
    """Take the error toast down once its error is fixed (it stayed up for its 8 s,
    naming a value the box no longer held)."""
    area = pn.state.notifications
    last = _SHOWN.pop(area, None) if area is not None else None
    if last is not None and hasattr(last, "destroy"):
        last.destroy()
