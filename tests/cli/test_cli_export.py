"""``tensorbench export --to TARGET``, run in subprocesses as a user would."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tensorbench.engine import EXPORT_TARGETS, Network

RESULT_LINE = re.compile(r"result: shape (\(.*\)), norm (\S+)")


@pytest.fixture
def config(cli, tmp_path) -> str:
    """A small CP config (it has a hyperedge) in ``tmp_path/c.json``."""
    made = cli(
        "template",
        "cp",
        "--dims",
        "3,4,5",
        "--rank",
        "3",
        "--seed",
        "7",
        "-o",
        "c.json",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    return "c.json"


def run_python(path: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, path], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_numpy_code_runs_and_agrees_with_cotengra(cli, tmp_path, config):
    norms = {}
    for target in ("numpy", "cotengra"):
        out = f"{target[0]}.py"
        made = cli("export", config, "--to", target, "-o", out, cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        assert made.stderr.strip() == f"{target} written to {out}"
        ran = run_python(out, tmp_path)
        assert ran.returncode == 0, ran.stderr
        m = RESULT_LINE.fullmatch(ran.stdout.strip())
        assert m and m.group(1) == "(3, 4, 5)", ran.stdout
        norms[target] = float(m.group(2))
    # Same seed, same data, same numbers from both libraries.
    assert norms["numpy"] == pytest.approx(norms["cotengra"], rel=1e-12)


def test_png_and_svg_and_json(cli, tmp_path, config):
    made = cli("export", config, "--to", "png", "-o", "d.png", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    svg = cli("export", config, "--to", "svg", cwd=tmp_path)
    assert svg.returncode == 0, svg.stderr
    texts = [e.text for e in ET.fromstring(svg.stdout).iter("{http://www.w3.org/2000/svg}text")]
    assert {"U0", "U1", "U2"} <= set(texts)

    made = cli("export", config, "--to", "json", "-o", "-", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    doc = json.loads((tmp_path / config).read_text())
    assert Network.from_json(made.stdout) == Network.from_dict(doc["network"])

    tikz = cli("export", config, "--to", "tikz", cwd=tmp_path)
    assert tikz.returncode == 0 and "\\begin{tikzpicture}" in tikz.stdout


def test_default_is_still_the_script(cli, tmp_path, config):
    plain = cli("export", config, cwd=tmp_path)
    script = cli("export", config, "--to", "script", cwd=tmp_path)
    assert plain.returncode == script.returncode == 0
    assert plain.stdout == script.stdout and "from tensorbench.engine import" in plain.stdout


def test_bad_targets_and_outputs_exit_2(cli, tmp_path, config):
    nope = cli("export", config, "--to", "nope", cwd=tmp_path)
    assert nope.returncode == 2 and "invalid choice: 'nope'" in nope.stderr
    for target in EXPORT_TARGETS:
        assert target in nope.stderr
    png = cli("export", config, "--to", "png", cwd=tmp_path)
    assert png.returncode == 2
    assert png.stderr.strip().splitlines() == [
        "tensorbench: error: --to png writes binary data: give a file with -o, e.g. -o net.png"
    ]
    (tmp_path / "bad.json").write_text('{"task": {"kind": "contract"}')
    bad = cli("export", "bad.json", "--to", "numpy", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr.startswith("tensorbench: error: bad.json: ")


def test_a_file_named_like_its_library_gets_a_warning(cli, tmp_path, config):
    made = cli("export", config, "--to", "torch", "-o", "torch.py", cwd=tmp_path)
    assert made.returncode == 0
    assert "warning: torch.py hides the torch package" in made.stderr
