"""Exported scripts run as they are and print the same numbers as run()."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tensorbench.engine import Config, Network, Tensor, build_template, export_script, get_task, run

# Lines of the summary that depend only on the config and seed (not on the clock).
STABLE = ("contract:", "path (", "naive order:", "value:")


def stable_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(STABLE)]


def run_script(source: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "script.py"
    path.write_text(source)
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("mps", {"sites": 8, "bond": 16, "phys": 2}),
        ("cp", {"dims": [4, 5, 6], "rank": 3}),
        ("peps", {"rows": 3, "cols": 3}),
    ],
)
def test_script_prints_the_same_numbers(tmp_path, name, args):
    net = build_template(name, **args)
    cfg = Config(get_task("contract").defaults(), net, seed=11, device="cpu", name="t")
    expected = stable_lines(run(cfg).summary())
    proc = run_script(export_script(cfg), tmp_path, "--json", "out.json")
    assert proc.returncode == 0, proc.stderr
    assert stable_lines(proc.stdout) == expected
    assert len(expected) == 4
    assert (tmp_path / "out.json").exists()


def test_hostile_names_never_break_the_script(tmp_path):
    nasty = ['a"b', "c'd", 'e"""f', "g\\h", "ünï", "class", "x y"]
    tensors = [
        Tensor(n, (f"i{k}", f"b{k}", f"b{k + 1}") if k < len(nasty) - 1 else (f"i{k}", f"b{k}"))
        for k, n in enumerate(nasty)
    ]
    tensors[0] = Tensor(nasty[0], ("i0", "b1"))
    sizes = {f"i{k}": 2 for k in range(len(nasty))} | {f"b{k}": 2 for k in range(1, len(nasty))}
    net = Network(tensors, sizes, name='evil """ name \\ with "quotes"')
    cfg = Config(get_task("contract").defaults(), net, 0, "cpu", name="'''\"\"\"")
    source = export_script(cfg)
    compile(source, "script.py", "exec")
    proc = run_script(source, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert stable_lines(proc.stdout) == stable_lines(run(cfg).summary())


@pytest.mark.parametrize("filename", ["x\\N.py", 'q""".py', "a'b.py"])
def test_hostile_file_names_never_break_the_script(tmp_path, filename):
    cfg = Config(get_task("contract").defaults(), build_template("mps", sites=3), 0, "cpu")
    compile(export_script(cfg, filename=filename), "script.py", "exec")


def test_a_script_whose_run_is_refused_says_why_in_one_line(tmp_path):
    # PEPS 8x8 at bond 3 needs ~4e21 bytes: `tensorbench run` said so in one line, the
    # exported script with a traceback.
    cfg = Config(get_task("contract").defaults(), build_template("peps", rows=8, cols=8), 0, "cpu")
    proc = run_script(export_script(cfg), tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "needs about" in lines[0]
