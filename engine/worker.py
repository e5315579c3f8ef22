"""Run a config in a worker process: :func:`run_in_process` is :func:`~.run.run` with the
same arguments and the same result, computed in a child process.

Why a process, not a thread of the app's server: a run that dies -- killed by the
kernel for want of memory, a crash in a native library -- takes its worker with it, not
the server and every open session; and a run does not share the server's GIL with the
redraws of its own live plots.

Children come from a fork server that has imported the engine (and torch) once, so a run
starts in tens of milliseconds, not the seconds an import takes; forking the server itself is not
safe (its threads could hold locks the child would inherit). Where there is no fork
server (Windows), children are spawned.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import pickle
import threading
import time
import traceback
import weakref
from collections.abc import Mapping
from typing import Any

from .config import Config, load_config
from .errors import TensorbenchError
from .run import ProgressFn, Result, run

__all__ = [
    "WorkerDiedError",
    "exit_when_orphaned",
    "preload_modules",
    "run_in_process",
    "warm_up",
]

log = logging.getLogger(__name__)

#: Live worker processes: the server ends them on its way out (a running search would
#: otherwise keep the exit waiting, multiprocessing joins its children at exit).
_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()
_CTX_LOCK = threading.Lock()
_CTX: Any = None


def preload_modules() -> list[str]:
    """What the fork server imports once, so that no run pays for it.

    The engine imports its heavy libraries and its task, method and strategy modules
    lazily, and a worker that imported them itself took ~190 ms to contract a 4-site MPS
    (0.7 ms in process). The module lists are the registries' own. A module that is not
    installed is skipped (skimage ships with the ``data`` extra).
    """
    from .decompose.base import _FAMILY_MODULES
    from .run import _BUILTIN_TASK_MODULES
    from .search.base import _MODULES as _STRATEGY_MODULES

    return [
        "torch",
        "numpy",
        "cotengra",
        "skimage.data",
        "tensorbench.engine.data",
        *_BUILTIN_TASK_MODULES,
        *(f"tensorbench.engine.decompose.{m}" for m in _FAMILY_MODULES),
        *(f"tensorbench.engine.search.{m}" for m in _STRATEGY_MODULES),
    ]


class WorkerDiedError(TensorbenchError):
    """The worker process of a run ended without a result (killed, or crashed)."""


def _context() -> Any:
    global _CTX
    with _CTX_LOCK:
        if _CTX is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(preload_modules())
            else:  # pragma: no cover - Windows
                ctx = multiprocessing.get_context("spawn")
            _CTX = ctx
            atexit.register(_end_all)
        return _CTX


def warm_up() -> None:
    """Start the fork server now (a server calls it at start-up, so the first run does
    not wait for the engine's imports)."""
    ctx = _context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _end_all() -> None:
    for proc in list(_LIVE):
        if proc.is_alive():
            proc.terminate()


def exit_when_orphaned(period: float = 1.0) -> None:
    """End this process (within ``period`` seconds) once its parent has died.

    A run's worker is re-parented when the server (and with it the fork server) dies, a
    search's fitting processes when their run's worker is killed or stopped: nobody reads
    their results then, and they ran on under PID 1 for good.
    """

    def watch(parent: int) -> None:
        while True:
            time.sleep(period)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, args=(os.getppid(),), daemon=True).start()


def _child(config: Config, conn: Any, stop: Any, threads: int | None) -> None:
    exit_when_orphaned()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)

    def send(message: tuple[Any, ...]) -> None:
        # plain pickle, not the connection's: with torch imported that one shares a
        # tensor's memory by a handle, gone by the time the parent asks for it
        conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def progress(event: dict[str, Any]) -> None:
        send(("event", event))

    try:
        result = run(config, progress=progress, cancel=stop)
        message: tuple[str, Any] = ("result", result)
    except TensorbenchError as e:
        message = ("error", e)
    except BaseException as e:  # a bug: its traceback goes to the parent's log
        message = ("bug", f"{type(e).__name__}: {e}", traceback.format_exc())
    try:
        send(message)
    except Exception as e:  # something in the result or error would not pickle
        send(("bug", f"cannot send the run's outcome back ({e})", traceback.format_exc()))
    conn.close()


def _died(proc: Any) -> WorkerDiedError:
    code = proc.exitcode
    if code is not None and code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = f"it was killed ({name})"
        if -code == signal.SIGKILL:
            # the kernel's out-of-memory killer sends SIGKILL, but so does a user's kill -9
            why += "; if memory ran short, try a smaller input or settings"
    elif code == 255:
        # what multiprocessing reports when it loses the fork server that forked the
        # worker (the worker then ends itself: orphaned); the next run starts a new one
        why = "the fork server that started it was stopped; run it again"
    else:
        why = f"it exited with status {code}"
    return WorkerDiedError(f"the run's worker process ended without a result: {why}")


def run_in_process(
    config: Config | Mapping[str, Any] | str | os.PathLike[str],
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    *,
    threads: int | None = None,
    poll_s: float = 0.05,
) -> Result:
    """:func:`~tensorbench.engine.run` in a worker process, with the same arguments.

    The config is validated here first (bad input raises :class:`ConfigError` at once).
    ``progress`` is called in this process, on the caller's thread, for every event the
    run sends; setting ``cancel`` reaches the run within ``poll_s`` seconds. ``threads``
    caps the worker's torch threads (runs side by side each take their share of the
    cores: each with all of them, their thread pools fought over the cores). Errors the
    run raises for bad input are raised here; a worker that ends without a result raises
    :class:`WorkerDiedError`, a bug in the run ``RuntimeError`` with the child's traceback.

    As with :mod:`multiprocessing`, a script that calls it runs its top level under
    ``if __name__ == "__main__":`` (the worker imports the script's module).
    """
    cfg = load_config(config)
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    proc = ctx.Process(
        target=_child, args=(cfg, send, stop, threads), name=f"tensorbench-{cfg.kind}"
    )
    proc.start()
    _LIVE.add(proc)
    send.close()  # the child holds the only writer: its end reads as EOF here
    try:
        while True:
            if cancel is not None and cancel.is_set():
                stop.set()
            try:
                ready = recv.poll(poll_s)
                message = pickle.loads(recv.recv_bytes()) if ready else None
            except (EOFError, OSError):
                proc.join(5)
                raise _died(proc) from None
            if message is None:
                continue
            tag, payload = message[0], message[1]
            if tag == "event":
                if progress is not None:
                    progress(payload)
            elif tag == "result":
                return payload
            elif tag == "error":
                raise payload
            else:
                log.error("run in worker failed:\n%s", message[2])
                raise RuntimeError(payload)
    finally:
        recv.close()
        proc.join(5)
        if proc.is_alive():  # it ignored the stop (or hung): the caller has moved on
            proc.terminate()
