"""Number formatting and ratios that stay correct for arbitrarily large integers.

Costs of big networks are exact Python ints that can exceed the float range (a 32 x 32
PEPS with open legs has ~2^1024 output entries); everything shown to users goes through
these helpers so such numbers print instead of raising ``OverflowError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "format_bytes",
    "format_number",
    "format_seconds",
    "ratio",
    "sci",
    "shape_str",
    "short",
]


def sci(x: float | int, digits: int = 4) -> str:
    """Scientific notation with ``digits`` digits after the point, for any int or float."""
    if isinstance(x, int) and x != 0 and abs(x).bit_length() > 1000:
        lg = math.log10(abs(x))
        exp = math.floor(lg)
        mant = 10 ** (lg - exp)
        if round(mant, digits) >= 10:  # rounding carried into the next power of ten
            mant, exp = mant / 10, exp + 1
        return f"{'-' if x < 0 else ''}{mant:.{digits}f}e+{exp:02d}"
    return f"{x:.{digits}e}"


def short(x: float | int, digits: int = 4) -> str:
    """Like ``f"{x:.4g}"`` (``digits`` significant digits), for any int or float."""
    if isinstance(x, int) and abs(x).bit_length() > 1000:
        return sci(x, digits - 1)
    return f"{x:.{digits}g}"


def format_number(x: float | int, digits: int = 4) -> str:
    """Compact format for counts: small ints as they are, others like ``1.235e+09``."""
    if isinstance(x, int) and abs(x) < 10**6:
        return str(x)
    if abs(x) < 1e6:
        return f"{x:.{digits}g}"
    return sci(x, digits - 1)


def format_seconds(s: float) -> str:
    """Seconds with a unit that keeps 3 significant digits."""
    if s < 1e-3:
        return f"{s * 1e6:.3g} us"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def format_bytes(n: float | int) -> str:
    """Bytes with a binary unit, e.g. ``1.5 GiB`` (beyond YiB in scientific notation)."""
    if isinstance(n, int) and n.bit_length() > 90:
        return f"{sci(n, 2)} B"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB"):
        if abs(n) < 1024:
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    if abs(n) < 1024:
        return f"{n:.1f} YiB"
    return f"{sci(n * 1024**8, 2)} B"


def ratio(a: int | float, b: int | float) -> float:
    """``a / b`` as a float, ``inf`` when it is beyond the float range."""
    try:
        return a / b if b else math.inf
    except OverflowError:
        return math.inf


def shape_str(shape: Sequence[int]) -> str:
    """``(2, 3)`` style, ``()`` for scalars."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
