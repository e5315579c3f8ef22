"""A real server for browser tests: ``tensorbench serve`` in a subprocess, as a user runs it."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from tb_testing import tensorbench_cmd

OUTPUT = Path(__file__).parent / "output"
#: Log files of the servers started in this session (shown when a browser test fails).
SERVER_LOGS: list[Path] = []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*args: str, tmp: Path) -> tuple[subprocess.Popen, str]:
    """Start ``tensorbench serve`` and wait (up to 60 s: busy CI machines are slow) for it."""
    port = _free_port()
    log = open(tmp / f"serve-{port}.log", "w")  # noqa: SIM115 - closed with the process
    SERVER_LOGS.append(tmp / f"serve-{port}.log")
    proc = subprocess.Popen(
        [*tensorbench_cmd(), "serve", *args, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(tmp / f'serve-{port}.log').read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not answer within 60 s")


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> str:
    """URL of a server showing the embedded default network."""
    proc, url = start_server(tmp=tmp_path_factory.mktemp("serve"))
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Folder for screenshots (look at them: that is how a user sees the app)."""
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the servers' logs to a failing browser test's report: a server-side
    exception is otherwise invisible from the browser."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for path in SERVER_LOGS:
            if path.exists():
                report.sections.append((f"server log {path.name}", path.read_text()[-6000:]))
