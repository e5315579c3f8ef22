"""Example configs shipped in ``tensorbench.assets/demos``."""

from __future__ import annotations

from importlib import resources

from tensorbench.engine import Config, load_config

__all__ = ["demo_names", "load_demo"]


def demo_names() -> list[str]:
    """Names of the shipped example configs (file names without ``.json``)."""
    folder = resources.files("tensorbench.assets") / "demos"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def load_demo(name: str) -> Config:
    """Load a shipped example config by name."""
    path = resources.files("tensorbench.assets") / "demos" / f"{name}.json"
    return load_config(path.read_text(encoding="utf-8"))
