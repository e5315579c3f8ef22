"""Shared test set-up: Debian's chromium for Playwright, helpers for the CLI."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Uploads made by tests (and the servers they start) stay out of the user's cache, in a
# folder removed when the tests end.
_UPLOADS = tempfile.mkdtemp(prefix="tensorbench-test-uploads-")
os.environ["TENSORBENCH_UPLOAD_DIR"] = _UPLOADS
atexit.register(shutil.rmtree, _UPLOADS, ignore_errors=True)

CHROMIUM = os.environ.get("TENSORBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright launches Debian's chromium (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def cli():
    """``cli("run", "c.json")`` runs the installed command and returns the completed process."""
    from tb_testing import run_cli

    return run_cli


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT
