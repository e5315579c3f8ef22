"""The app's pages, in navigation order. A page lands here only when it works."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .attention import AttentionPage
from .decompose import DecomposePage
from .network import NetworkPage
from .search import SearchPage

__all__ = ["PAGES", "PageSpec"]


@dataclass(frozen=True)
class PageSpec:
    """A page: URL slug, navigation title and a factory ``(config) -> page``."""

    slug: str
    title: str
    factory: Callable[..., Any]
    accepts: tuple[str, ...]  # task kinds whose configs open on this page


PAGES: tuple[PageSpec, ...] = (
    PageSpec("network", "Network", NetworkPage, ("contract",)),
    PageSpec("decompose", "Decompose", DecomposePage, ("decompose",)),
    PageSpec("search", "Search", SearchPage, ("search",)),
    PageSpec("attention", "Attention", AttentionPage, ("attention",)),
)
