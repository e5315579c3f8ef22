"""Export a config or network: a runnable script, JSON, library code or a picture.

:func:`export_as` is the one entry point (the CLI's ``export --to`` and the app use it);
:data:`EXPORT_TARGETS` lists what it makes. The ``script`` target embeds the config as a
Python literal and calls the same public engine API as the app and ``tensorbench run``
(:func:`~tensorbench.engine.run.run`), so it prints the same summary -- the same flops and
the same contraction value for the same seed. The code targets (:mod:`.codegen`) are
self-contained programs for numpy, torch, quimb or cotengra; the pictures
(:mod:`.drawing`) are drawn like the app's diagram.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .codegen import CODE_TARGETS, export_code
from .config import Config, load_config
from .errors import ConfigError, NetworkError
from .network import Network

__all__ = ["EXPORT_TARGETS", "export_as", "export_script"]

#: What :func:`export_as` makes: target -> (description, file suffix, binary?).
EXPORT_TARGETS: dict[str, tuple[str, str, bool]] = {
    "script": ("a Python script that runs the config with tensorbench", ".py", False),
    "json": ("the network document (tensorbench/network JSON)", ".json", False),
    **{name: (doc, ".py", False) for name, doc in CODE_TARGETS.items()},
    "svg": ("an SVG drawing of the network, like the app's diagram", ".svg", False),
    "tikz": ("a LaTeX tikzpicture of the network (needs only \\usepackage{tikz})", ".tex", False),
    "png": ("a PNG image of the network, like the app's diagram", ".png", True),
}

# Keyword arguments each target takes (anything else is a mistake worth reporting).
_TARGET_KWARGS: dict[str, frozenset[str]] = {
    "script": frozenset({"filename"}),
    "json": frozenset({"indent"}),
    **{name: frozenset({"seed", "optimize", "dtype"}) for name in CODE_TARGETS},
    "svg": frozenset({"seed"}),
    "tikz": frozenset({"seed"}),
    "png": frozenset({"seed", "dpi"}),
}

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
import sys

from tensorbench.engine import TensorbenchError, load_config, run

CONFIG = {config}


def main() -> None:
    parser = argparse.ArgumentParser(description={description!r})
    parser.add_argument("--device", help="override the config's device (auto, cpu, cuda)")
    parser.add_argument("--json", metavar="PATH", help="write the full result JSON here")
    args = parser.parse_args()

    try:
        config = load_config(CONFIG)
        if args.device:
            config = config.replace(device=args.device)
        result = run(config)
    except TensorbenchError as e:  # bad input or too big: one line, as the CLI says it
        print(f"error: {{e}}", file=sys.stderr)
        sys.exit(2)
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


def export_as(
    config_or_network: Config | Network | Mapping[str, Any] | str | os.PathLike[str],
    target: str,
    **kw: Any,
) -> str | bytes:
    """Export a config or a network to one of :data:`EXPORT_TARGETS`.

    Parameters
    ----------
    config_or_network : Config, Network, dict, str or path
        A config (anything :func:`~tensorbench.engine.config.load_config` reads: object,
        document, JSON text or file) or a network. A network alone exports as a
        ``contract`` config for ``script``.
    target : str
        ``script``, ``json``, a code target (``numpy``, ``torch``, ``quimb``, ``cotengra``)
        or a picture (``svg``, ``tikz``, ``png``).
    **kw
        Options of the target: ``filename`` (script), ``indent`` (json), ``seed``,
        ``optimize``, ``dtype`` (code targets), ``seed`` (pictures: the layout seed) and
        ``dpi`` (png). A config supplies its seed, and for code its task's ``optimize``
        and ``dtype`` when they are set, so code and pictures match what the app shows.

    Returns
    -------
    str or bytes
        Text, or bytes for binary targets (``png``).

    Raises
    ------
    NetworkError
        For an unknown target (the message lists the valid ones), or a network the
        target cannot express.
    ConfigError
        For a malformed config, or one without a network for a target that needs one.
    TypeError
        For an option the target does not take.
    """
    if target not in EXPORT_TARGETS:
        raise NetworkError(
            f"unknown export target {target!r}; choose one of: {', '.join(EXPORT_TARGETS)}"
        )
    unknown = sorted(set(kw) - _TARGET_KWARGS[target])
    if unknown:
        raise TypeError(
            f"export target {target!r} takes no option {unknown[0]!r}; "
            f"it takes: {', '.join(sorted(_TARGET_KWARGS[target])) or 'none'}"
        )
    if isinstance(config_or_network, Network):
        net: Network | None = config_or_network
        cfg: Config | None = None
    else:
        cfg = load_config(config_or_network)
        net = cfg.network

    if target == "script":
        if cfg is None:
            from .run import get_task

            cfg = Config(get_task("contract").defaults(), net)
        return export_script(cfg, **kw)
    if net is None:
        raise ConfigError(
            f"this config has no network, so it cannot be exported as {target!r}; "
            "export it as 'script'"
        )
    if cfg is not None:
        # The config's own choices, so exported code and pictures match the app.
        kw.setdefault("seed", cfg.seed)
        if target in CODE_TARGETS:
            for key in ("optimize", "dtype"):
                if key in cfg.task:
                    kw.setdefault(key, cfg.task[key])
    if target == "json":
        return net.to_json(indent=kw.get("indent", 2)) + "\n"
    if target in CODE_TARGETS:
        return export_code(net, target, **kw)
    from . import drawing

    if target == "svg":
        return drawing.to_svg(net, **kw)
    if target == "tikz":
        return drawing.to_tikz(net, **kw)
    return drawing.to_png(net, **kw)
