"""Export a config as a runnable Python script.

The script embeds the config as a Python literal and calls the same public engine API as
the app and ``tensorbench run`` (:func:`~tensorbench.engine.run.run`), so it prints the same
summary -- the same flops and the same contraction value for the same seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import Config, load_config

__all__ = ["export_script"]

_TEMPLATE = '''#!/usr/bin/env python3
"""{title}

Exported by tensorbench {version}. It rebuilds the config below and runs it with the
public engine API -- the same call the app and `tensorbench run` make -- so the printed
numbers match for the same seed. Usage:

    python {filename}                 # print the summary
    python {filename} --json out.json # also write the full result as JSON
    python {filename} --device cpu    # override the device ("auto" picks CUDA if present)
"""

import argparse

from tensorbench.engine import load_config, run

CONFIG = {config}


def main() -> None:
    parser = argparse.ArgumentParser(description={description!r})
    parser.add_argument("--device", help="override the config's device (auto, cpu, cuda)")
    parser.add_argument("--json", metavar="PATH", help="write the full result JSON here")
    args = parser.parse_args()

    config = load_config(CONFIG)
    if args.device:
        config = config.replace(device=args.device)
    result = run(config)
    print(result.summary())
    if args.json:
        result.save(args.json)


if __name__ == "__main__":
    main()
'''


def export_script(config: Config | Mapping[str, Any], *, filename: str = "script.py") -> str:
    """Return the source of a script that runs ``config`` and prints its summary.

    The config is validated first, so an exported script always loads.
    """
    from . import __version__

    cfg = load_config(config)
    doc = cfg.to_dict()
    title = f"tensorbench {cfg.kind} run" + (f": {cfg.name}" if cfg.name else "")
    if cfg.network is not None and cfg.network.name:
        title += f" -- {cfg.network.name}"
    title = _docstring_safe(title)
    filename = _docstring_safe(filename)
    body = _literal(doc, 0, len("CONFIG = "))
    return _TEMPLATE.format(
        title=title,
        version=__version__,
        filename=filename,
        config=body,
        description=f"Run a tensorbench {cfg.kind} config",
    )


def _docstring_safe(text: str) -> str:
    """Text that can sit inside a triple-quoted docstring whatever it holds."""
    # repr() escapes quotes, backslashes and control characters; then no run of quotes
    # can close the docstring.
    return repr(text)[1:-1].replace('"', '\\"')


def _literal(obj: Any, indent: int = 0, used: int = 0, width: int = 96) -> str:
    """A Python literal for JSON data: one line when it fits, else one item per line.

    ``indent`` is the current block indent, ``used`` the characters already on the line.
    """
    flat = repr(obj)
    if used + len(flat) <= width or not isinstance(obj, (dict, list)) or not obj:
        return flat
    pad = " " * (indent + 4)
    if isinstance(obj, dict):
        lines = []
        for k, v in obj.items():
            head = f"{pad}{k!r}: "
            lines.append(f"{head}{_literal(v, indent + 4, len(head) + 1, width)},")
        return "{\n" + "\n".join(lines) + "\n" + " " * indent + "}"
    lines = [f"{pad}{_literal(v, indent + 4, len(pad) + 1, width)}," for v in obj]
    return "[\n" + "\n".join(lines) + "\n" + " " * indent + "]"
