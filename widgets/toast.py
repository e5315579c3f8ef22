"""The one error toast a page shows at a time."""

from __future__ import annotations

import panel as pn

__all__ = ["error_toast"]


def error_toast(text: str, duration: int = 8000) -> None:
    """Toast ``text`` (already escaped) as an error, replacing the toasts on show.

    Each refusal toasted for 10 s, so a few bad edits in a row stacked tall red toasts
    over the selection panel; the newest says what is wrong now, and the page's alert
    keeps the message in place.
    """
    area = pn.state.notifications
    if area is None:
        return
    area.clear()
    area.error(text, duration=duration)
