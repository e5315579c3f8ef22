"""The ``tensorbench`` command line: serve, run, export, validate, template.

Bad input (a malformed config, an unknown template, an absurd size) prints one line,
``tensorbench: error: ...``, and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tensorbench.engine import (
    CODE_TARGETS,
    EXPORT_TARGETS,
    ConfigError,
    TensorbenchError,
    __version__,
)
from tensorbench.engine.fmt import sci
from tensorbench.engine.params import Param

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


def _fail(message: str) -> int:
    print(f"tensorbench: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


# --------------------------------------------------------------------------- parsing helpers


def _parse_ints(text: str) -> int | list[int]:
    """``"4"`` -> 4, ``"4,4,2"`` or ``"[4, 4, 2]"`` -> [4, 4, 2]."""
    text = text.strip()
    try:
        if text.startswith("["):
            return json.loads(text)
        if "," in text:
            return [int(v) for v in text.split(",") if v.strip()]
        return int(text)
    except (ValueError, RecursionError):
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not an integer list such as 4,4,2"
        ) from None


def _parse_matrix(text: str) -> list[list[int]]:
    """``"[[1,2],[2,1]]"`` or ``"1,2;2,1"`` -> a list of rows."""
    text = text.strip()
    try:
        if text.startswith("["):
            return json.loads(text)
        return [[int(v) for v in row.split(",")] for row in text.split(";") if row.strip()]
    except (ValueError, RecursionError):
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a matrix such as 1,2;2,1 (rows separated by ';')"
        ) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return port


def _add_param_option(parser: argparse.ArgumentParser, p: Param) -> None:
    flag = "--" + p.name.replace("_", "-")
    default = json.dumps(p.default) if not isinstance(p.default, str) else p.default
    help_text = f"{p.doc} (default: {default})"
    if p.kind == "bool":
        parser.add_argument(
            flag, dest=p.name, action=argparse.BooleanOptionalAction, default=None, help=help_text
        )
        return
    types: dict[str, Any] = {
        "int": int,
        "float": float,
        "choice": str,
        "ints": _parse_ints,
        "int_matrix": _parse_matrix,
    }
    kwargs: dict[str, Any] = {
        "dest": p.name,
        "type": types[p.kind],
        "default": None,
        "help": help_text,
    }
    if p.kind == "choice":
        kwargs["choices"] = p.choices
    if p.kind in ("ints", "int_matrix"):
        kwargs["metavar"] = "LIST" if p.kind == "ints" else "MATRIX"
    parser.add_argument(flag, **kwargs)


# --------------------------------------------------------------------------- commands


def _cmd_validate(args: argparse.Namespace) -> int:
    from tensorbench.engine import load_config

    cfg = load_config(args.config)
    parts = [f"task {cfg.kind}"]
    if cfg.network is not None:
        net = cfg.network
        optimize = cfg.task.get("optimize", "auto")
        stats = net.stats(optimize=optimize, dtype=cfg.task.get("dtype", "float64"), seed=cfg.seed)
        parts.append(
            f"{len(net.tensors)} tensors, {len(net.indices)} indices, "
            f"{net.num_params} parameters, {sci(stats.optimized.flops, 3)} flops ({optimize} path)"
        )
    if cfg.kind == "contract":
        from tensorbench.engine.contract import check_contract_config

        try:
            check_contract_config(cfg)
        except TensorbenchError as e:
            return _fail(f"{args.config}: {e}")
    data = cfg.task.get("data")
    if isinstance(data, dict):
        # refused here as `run` would refuse it (too big for memory, NaNs, ranks that do
        # not fit), found without building it: a 14.6 TiB search was "ok" here
        from tensorbench.engine.data import data_shape
        from tensorbench.engine.decompose.task import check_ranks_fit

        dtype = cfg.task.get("dtype", "float64")
        device = cfg.device if cfg.kind == "decompose" else "cpu"  # searches fit on the CPU
        try:
            shape = data_shape(data, dtype=dtype, device=device)
            if cfg.kind == "decompose":
                check_ranks_fit(cfg.task["methods"], shape, cfg.network)
        except TensorbenchError as e:
            return _fail(f"{args.config}: {e}")
        parts.append(f"data {' x '.join(map(str, shape))} ({data['kind']})")
    print(f"ok: {args.config}: " + "; ".join(parts))
    return 0


class _Bar:
    """A one-line progress bar on stderr (only drawn on a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.width = 30

    def __call__(self, event: dict[str, Any]) -> None:
        if not self.enabled or event.get("type") != "progress":
            return
        f = event["fraction"]
        filled = round(f * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        msg = str(event.get("message", ""))[:40]
        sys.stderr.write(f"\r[{bar}] {f * 100:5.1f}% {event['elapsed']:7.2f}s {msg:<40}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _check_output(out: Path, source: Path | None = None) -> None:
    """Refuse an output path that cannot be written before any work is done (a missing
    folder was found after the whole run), or that is the input itself ('run c.json -o
    c.json' replaced the config with its result)."""
    if out.is_dir():
        raise ConfigError(f"-o {out}: is a folder; give a file name, e.g. {out / 'result.json'}")
    if not out.parent.is_dir():
        raise ConfigError(f"-o {out}: no folder {out.parent}; create it or write elsewhere")
    if source is not None and out.exists() and source.exists() and out.samefile(source):
        raise ConfigError(f"-o {out}: is the config being run; write the result elsewhere")


def _cmd_run(args: argparse.Namespace) -> int:
    from tensorbench.engine import load_config, run

    cfg = load_config(args.config)
    out = Path(args.output) if args.output else Path(Path(args.config).stem + ".result.json")
    _check_output(out, Path(args.config))
    if args.device:
        cfg = cfg.replace(device=args.device)
    if args.seed is not None:
        cfg = cfg.replace(seed=args.seed)
    bar = _Bar(enabled=not args.quiet and sys.stderr.isatty())
    cancel = threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = run(cfg, progress=bar, cancel=cancel)
        except BaseException as e:  # handed to the main thread, which reports it
            box["error"] = e

    # The run happens in a worker so Ctrl-C can cancel it cleanly between steps. Waiting on
    # an Event, not Thread.join: an interrupted join marks the thread finished (Python 3.11).
    finished = threading.Event()

    def work_then_signal() -> None:
        try:
            work()
        finally:
            finished.set()

    worker = threading.Thread(target=work_then_signal, name="tensorbench-run", daemon=True)
    worker.start()
    try:
        while not finished.wait(0.1):
            pass
    except KeyboardInterrupt:
        cancel.set()
        sys.stderr.write("\ncancelling...\n")
        while not finished.wait(0.1):
            pass
    bar.close()
    if "error" in box:
        if isinstance(box["error"], TensorbenchError):  # named by its file, as validate does
            return _fail(f"{args.config}: {box['error']}")
        raise box["error"]
    result = box["result"]
    result.save(out)
    print(result.summary())
    if not args.quiet:
        print(f"result written to {out}", file=sys.stderr)
    return 0 if result.status == "ok" else EXIT_CANCELLED


def _cmd_export(args: argparse.Namespace) -> int:
    from tensorbench.engine import export_as, load_config

    target = args.to
    _doc, suffix, binary = EXPORT_TARGETS[target]
    to_stdout = not args.output or args.output == "-"
    if binary and to_stdout:
        return _fail(f"--to {target} writes binary data: give a file with -o, e.g. -o net{suffix}")
    cfg = load_config(args.config)
    if not to_stdout:
        _check_output(Path(args.output), Path(args.config))
    kw: dict[str, Any] = {}
    if target == "script":
        kw["filename"] = "script.py" if to_stdout else Path(args.output).name
    data = export_as(cfg, target, **kw)
    if to_stdout:
        assert isinstance(data, str)
        sys.stdout.write(data)
    elif isinstance(data, bytes):
        Path(args.output).write_bytes(data)
    else:
        # Python source, SVG and TikZ are UTF-8 whatever the locale (names may be Unicode).
        Path(args.output).write_text(data, encoding="utf-8")
    if not to_stdout:
        print(f"{target} written to {args.output}", file=sys.stderr)
        if Path(args.output).stem in CODE_TARGETS:
            # `python numpy.py` imports itself instead of the library and fails confusingly.
            print(
                f"tensorbench: warning: {Path(args.output).name} hides the "
                f"{Path(args.output).stem} package when run from its folder; rename it",
                file=sys.stderr,
            )
    return 0


def _cmd_template(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from tensorbench.engine import TEMPLATES, Config, get_task, get_template

    if args.list or not args.name:
        width = max(len(n) for n in TEMPLATES)
        for name, spec in sorted(TEMPLATES.items()):
            params = " ".join(f"--{p.name.replace('_', '-')}" for p in spec.params)
            print(f"{name:<{width}}  {spec.doc}\n{'':<{width}}  {params}")
        return 0
    spec = get_template(args.name)
    sub = argparse.ArgumentParser(prog=f"tensorbench template {spec.name}", description=spec.doc)
    for p in spec.params:
        _add_param_option(sub, p)
    sub_args = sub.parse_args(rest)
    given = {k: v for k, v in vars(sub_args).items() if v is not None}
    net = spec.build(**given)
    task = get_task(args.task).defaults()
    cfg = Config(task=task, network=net, seed=args.seed, device=args.device, name=net.name)
    # Tasks that work on data take it from the template, as the app's hand-offs do: a
    # decomposition fits the network (network_als) to data drawn from it plus 1% noise;
    # a search looks for the structure hidden in data drawn from it.
    # (a data template is ignored next to a network document: named for the reader)
    drawn = {"kind": "synthetic", "template": spec.name, "args": None, "network": net.to_dict()}
    drawn["seed"] = args.seed
    if args.task == "decompose":
        cfg = cfg.replace(
            task={"data": drawn | {"noise": 0.01}, "methods": [{"method": "network_als"}]}
        )
    elif args.task == "search":
        cfg = cfg.replace(task={"data": drawn | {"noise": 0.0}})
    cfg = Config.from_dict(cfg.to_dict())  # validate device/seed like any loaded config
    text = cfg.to_json()
    if args.output and args.output != "-":
        _check_output(Path(args.output))
        Path(args.output).write_text(text + "\n")
        print(f"config written to {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from tensorbench.engine import load_config

    config = load_config(args.config) if args.config else None
    from tensorbench.app.server import serve

    serve(config=config, port=args.port, address=args.address, show=args.show)
    return 0


# --------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tensorbench`` command."""
    parser = argparse.ArgumentParser(
        prog="tensorbench",
        description="An interactive visual workbench for tensor networks.",
    )
    parser.add_argument("--version", action="version", version=f"tensorbench {__version__}")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = subs.add_parser("serve", help="serve the app in the browser (127.0.0.1 by default)")
    p.add_argument("config", nargs="?", help="config to open (default: the embedded demo)")
    p.add_argument("--port", type=_port, default=5006, help="port (default: 5006)")
    p.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    p.add_argument("--show", action="store_true", help="open a browser tab")

    p = subs.add_parser("run", help="run a config and write its result JSON")
    p.add_argument("config", help="config JSON file")
    p.add_argument("-o", "--output", help="result JSON path (default: CONFIG_STEM.result.json)")
    p.add_argument("--device", help="override the config's device (auto, cpu, cuda)")
    p.add_argument("--seed", type=int, help="override the config's seed")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = subs.add_parser(
        "export",
        help="export a config as a script, JSON, numpy/torch/quimb/cotengra code or a picture",
        description="Export a config. Targets: "
        + "; ".join(f"{name}: {doc}" for name, (doc, _s, _b) in EXPORT_TARGETS.items())
        + ".",
    )
    p.add_argument("config", help="config JSON file")
    p.add_argument(
        "--to",
        choices=list(EXPORT_TARGETS),
        default="script",
        metavar="TARGET",
        help=f"what to write: {', '.join(EXPORT_TARGETS)} (default: script)",
    )
    p.add_argument(
        "-o", "--output", help="output path ('-' or omitted: standard output; png needs a file)"
    )

    p = subs.add_parser("validate", help="check a config and print what it holds")
    p.add_argument("config", help="config JSON file")

    p = subs.add_parser(
        "template",
        help="make a config from a network template",
        description="Make a config from a template; template options follow its name, e.g. "
        "`tensorbench template mps --sites 8 --bond 16 -o c.json`. "
        "`tensorbench template --list` shows every template and its options.",
    )
    p.add_argument("name", nargs="?", help="template name (see --list)")
    p.add_argument("--list", action="store_true", help="list templates and their options")
    p.add_argument("-o", "--output", help="config path ('-' or omitted: standard output)")
    p.add_argument("--task", default="contract", help="task kind (default: contract)")
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--device", default="auto", help="device (default: auto)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Template options depend on the template, so they are parsed in a second stage.
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "template":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "template":
            return _cmd_template(args, rest)
        handler = {
            "serve": _cmd_serve,
            "run": _cmd_run,
            "export": _cmd_export,
            "validate": _cmd_validate,
        }[args.command]
        return handler(args)
    except TensorbenchError as e:
        return _fail(str(e).replace("\n", " "))
    except json.JSONDecodeError as e:
        return _fail(f"not valid JSON: {e}")
    except OSError as e:
        return _fail(str(e))
    except KeyboardInterrupt:  # before or after a run (a run itself cancels cleanly)
        print("tensorbench: interrupted", file=sys.stderr)
        return EXIT_CANCELLED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
