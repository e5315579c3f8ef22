"""Errors the engine raises for input a user can fix.

Every message says what was wrong and, where it is not obvious, how to fix it. The CLI
prints these as one line and exits with status 2; the app shows them in an alert.
"""

from __future__ import annotations

__all__ = ["ConfigError", "NetworkError", "ResourceError", "TensorbenchError", "brief"]


class TensorbenchError(ValueError):
    """Base class for errors caused by input that the user can correct."""


class NetworkError(TensorbenchError):
    """A network document or object is malformed (names the tensor or index at fault)."""


class ConfigError(TensorbenchError):
    """A config document is malformed (names the field at fault)."""


class ResourceError(TensorbenchError):
    """A computation would need more memory than the device has; nothing was allocated."""


def brief(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for quoting user input in messages."""
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than Python will print
        text = f"<{type(value).__name__} too large to print>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
