"""Packaging and project rules: the wheel holds every module, the engine stays UI-free,
and the README's test command is the one CI runs."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "engine": "tensorbench/engine",
    "widgets": "tensorbench/widgets",
    "app": "tensorbench/app",
    "assets": "tensorbench/assets",
}


@pytest.mark.slow
def test_wheel_contains_every_module_and_asset(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("tensorbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for folder, target in PACKAGES.items():
        for f in (ROOT / folder).rglob("*"):
            if (
                f.is_file()
                and (f.suffix in (".py", ".js", ".json", ".css", ".png", ".svg"))
                and "__pycache__" not in f.parts
            ):
                expected.add(f"{target}/{f.relative_to(ROOT / folder).as_posix()}")
    missing = expected - names
    assert not missing, f"not in the wheel (add the subpackage to pyproject.toml): {missing}"
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
    assert any(n.endswith("entry_points.txt") for n in names)


def test_engine_never_imports_ui_libraries():
    code = (
        "import sys, tensorbench.engine as e\n"
        "net = e.build_template('mps', sites=4)\n"
        "cfg = e.Config(e.get_task('contract').defaults(), net, 0, 'cpu')\n"
        "e.run(cfg); e.export_script(cfg); net.to_quimb(); net.stats()\n"
        "print(' '.join(m for m in ('panel', 'bokeh', 'holoviews') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
    for f in (ROOT / "engine").rglob("*.py"):
        assert not re.search(
            r"^\s*(import|from)\s+(panel|bokeh|holoviews)\b", f.read_text(), re.M
        ), f


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```(?:sh|bash)\n(.*?)\n```", text, re.S)


def test_readme_test_command_is_what_ci_runs():
    commands = _readme_commands()
    test_cmd = next(c for c in commands if "pytest" in c)
    assert test_cmd.strip() in (ROOT / ".ci" / "run").read_text()
    serve_cmd = next(c for c in commands if "tensorbench serve" in c)
    assert "constraints-cpu.txt" in serve_cmd and "constraints-cpu.txt" in test_cmd
