"""Decompositions: exact and sketched CP, Tucker, TT, TR and ALS on any drawn network.

Methods are registered by name (see :mod:`.base`); :func:`get_method` lists them. Family
modules: :mod:`.cp`, :mod:`.tucker`, :mod:`.tt`, :mod:`.tr`, :mod:`.network_als`; shared
tools: :mod:`.sketch` (random embeddings) and :mod:`.residual` (errors without the full
tensor).
"""

from .base import (
    METHODS,
    Decomposition,
    DecompositionError,
    MethodSpec,
    get_method,
    register_method,
    relative_error,
)

__all__ = [
    "METHODS",
    "Decomposition",
    "DecompositionError",
    "MethodSpec",
    "get_method",
    "register_method",
    "relative_error",
]
