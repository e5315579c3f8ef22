"""run_in_process: the numbers of run(), progress and cancel across the process boundary,
errors as the caller's own, and a killed worker that takes only itself down."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest
from tb_testing import SMALL_TT_DATA, decompose_config

from tensorbench.engine import ConfigError, load_config, run
from tensorbench.engine.worker import WorkerDiedError, run_in_process

config = decompose_config


def test_the_same_numbers_records_and_cores_as_run():
    cfg = config([{"method": "tt_als", "ranks": [2, 3], "tol": 0, "max_iter": 5}])
    events: list[dict] = []
    here, there = run(cfg), run_in_process(cfg, progress=events.append)
    assert there.status == "ok"
    ours, theirs = here.metrics["runs"][0], there.metrics["runs"][0]
    assert theirs["rel_error"] == ours["rel_error"]  # bit for bit: same seed, same code
    records = [e for e in events if e["type"] == "record"]
    assert [r["rel_error"] for r in records] == [r["rel_error"] for r in here.history]
    assert len(records) >= 3
    # the fitted cores come back too (the Decompose page rebuilds images from them)
    a = here.artifacts["decompositions"]["tt_als"].cores
    b = there.artifacts["decompositions"]["tt_als"].cores
    assert all((x == y).all() for x, y in zip(a, b, strict=True))


def test_cancel_reaches_the_worker():
    # cp_als at a rank the data does not have: no fixed point within a few sweeps (a
    # tt_als at the true ranks stopped on its own, change exactly 0, before the cancel)
    data = {**SMALL_TT_DATA, "args": {"dims": [30, 30, 30], "ranks": [4, 4]}}
    cfg = decompose_config(
        [{"method": "cp_als", "rank": 3, "tol": 0, "max_iter": 100_000}], data=data
    )
    cancel = threading.Event()

    def progress(event):
        if event["type"] == "record":
            cancel.set()

    t0 = time.perf_counter()
    result = run_in_process(cfg, progress=progress, cancel=cancel)
    assert result.status == "cancelled"
    assert result.metrics["runs"][0]["status"] == "cancelled"
    assert time.perf_counter() - t0 < 60  # 100k sweeps take minutes


def test_bad_input_is_refused_before_a_worker_starts():
    before = len(multiprocessing.active_children())
    with pytest.raises(ConfigError, match="unknown task"):
        run_in_process({"task": {"kind": "decompse"}})
    assert len(multiprocessing.active_children()) == before


def test_an_error_of_the_run_arrives_as_itself():
    # ranks that fit no 3-mode data are refused once the data is loaded, in the worker
    cfg = config([{"method": "tt_als", "ranks": [4, 4, 4]}])
    with pytest.raises(ConfigError, match=r"expected 2 positive integers, got \[4, 4, 4\]"):
        run_in_process(cfg)


def test_a_killed_worker_fails_its_run_only():
    cfg = config([{"method": "tt_als", "ranks": [2, 3], "tol": 0, "max_iter": 100_000}])
    killed: list[int] = []

    def progress(event):
        # as the kernel's out-of-memory killer would: SIGKILL, no goodbye
        if event["type"] == "record" and not killed:
            (child,) = [
                p for p in multiprocessing.active_children() if p.name == "tensorbench-decompose"
            ]
            killed.append(child.pid)
            os.kill(child.pid, signal.SIGKILL)

    with pytest.raises(
        WorkerDiedError, match=r"killed \(SIGKILL\); if memory ran short, try a smaller input"
    ):
        run_in_process(cfg, progress=progress)
    assert killed
    # and the next run goes on as if nothing happened
    assert run_in_process(config([{"method": "tt_svd"}])).status == "ok"


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    # the command may hold spaces and parentheses: ppid follows the last ")"
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, frontier = set(), {pid}
    while frontier:
        kids = {p for p, pp in parent.items() if pp in frontier} - out
        out |= kids
        frontier = kids
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process tree from /proc")
def test_a_killed_search_leaves_no_fitting_processes_behind():
    # a search fits in a pool of processes of its own; with its run's worker SIGKILLed
    # (or the server stopped) they ran on under PID 1 for good
    cfg = load_config(
        {
            "task": {
                "kind": "search",
                "data": {
                    "kind": "synthetic",
                    "template": "tensor_ring",
                    "args": {"dims": [3, 3, 3, 3, 3, 3], "ranks": 3},
                    "seed": 2,
                },
                "strategies": [{"strategy": "random"}],
                "budget": {"evaluations": 10_000},
                "workers": 2,
            },
            "device": "cpu",
        }
    )
    seen: set[int] = set()

    def progress(event):
        if event["type"] != "record" or event.get("kind") != "evaluation" or seen:
            return
        (child,) = [p for p in multiprocessing.active_children() if p.name == "tensorbench-search"]
        below = _descendants(child.pid)
        if len(below) >= 2:  # its fitting processes are up (they fit the evaluations)
            seen.update({child.pid} | below)
            os.kill(child.pid, signal.SIGKILL)

    with pytest.raises(WorkerDiedError):
        run_in_process(cfg, progress=progress)
    assert len(seen) >= 3  # the worker and its two fitting processes
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in seen if _alive(p)]


def test_every_preloaded_module_exists():
    # the fork server skips a module it cannot import without a word: a misspelt name
    # would quietly cost every run its import again
    import importlib.util

    from tensorbench.engine.worker import preload_modules

    missing = [m for m in preload_modules() if importlib.util.find_spec(m) is None]
    assert missing in ([], ["skimage.data"]), missing


def test_a_stopped_fork_server_fails_the_run_in_flight_and_the_next_run_starts_a_new_one():
    # it read "it exited with status 255", which told a user nothing
    from multiprocessing import forkserver

    stopped: list[int] = []

    def progress(event):
        if event["type"] == "record" and not stopped:
            pid = forkserver._forkserver._forkserver_pid
            stopped.append(pid)
            os.kill(pid, signal.SIGKILL)

    with pytest.raises(WorkerDiedError, match="the fork server that started it was stopped"):
        run_in_process(
            config(
                [{"method": "cp_als", "rank": 3, "tol": 0, "max_iter": 100_000}],
                data={**SMALL_TT_DATA, "args": {"dims": [30, 30, 30], "ranks": [4, 4]}},
            ),
            progress=progress,
        )
    assert stopped
    assert run_in_process(config([{"method": "tt_svd"}])).status == "ok"
