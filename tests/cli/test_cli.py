"""The tensorbench command, run in subprocesses as a user would."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

STABLE = ("contract:", "path (", "naive order:", "value:")


def stable(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(STABLE)]


def test_template_run_export_script_round_trip(cli, tmp_path):
    # The issue's own commands, in a fresh folder.
    made = cli(
        "template",
        "mps",
        "--sites",
        "8",
        "--bond",
        "16",
        "--phys",
        "2",
        "-o",
        "c.json",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["format"] == "tensorbench/config" and doc["task"]["kind"] == "contract"
    assert len(doc["network"]["tensors"]) == 8

    ran = cli("run", "c.json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "flops 3.686400e+04" in ran.stdout
    result = json.loads((tmp_path / "c.result.json").read_text())
    assert result["status"] == "ok" and result["metrics"]["value"]["shape"] == [2] * 8

    exported = cli("export", "c.json", "-o", "s.py", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    script = subprocess.run(
        [sys.executable, "s.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert script.returncode == 0, script.stderr
    assert stable(script.stdout) == stable(ran.stdout)
    assert len(stable(ran.stdout)) == 4


def test_template_for_a_data_task_takes_its_data_from_the_template(cli, tmp_path):
    # `template tensor_ring --task decompose` used to give the decompose defaults (a TT
    # of other data, tt_svd) next to an unused ring; now the ring is fitted to data drawn
    # from it, as the app's "Decompose with this network" does, and a search looks for it.
    made = cli("template", "tensor_ring", "--task", "decompose", "-o", "d.json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    doc = json.loads((tmp_path / "d.json").read_text())
    data = doc["task"]["data"]
    assert data["network"] == doc["network"] and data["noise"] == 0.01
    assert [m["method"] for m in doc["task"]["methods"]] == ["network_als"]
    ran = cli("run", "d.json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    err = float(ran.stdout.split("relative error ")[1].split(",")[0])
    assert 0.005 < err < 0.012  # the 1% noise, fitted by the ring it was drawn from

    made = cli("template", "tensor_ring", "--task", "search", "-o", "s.json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["task"]["data"]["network"] == doc["network"]
    assert doc["task"]["data"]["noise"] == 0.0


def test_validate_and_overrides(cli, tmp_path):
    cli("template", "peps", "--rows", "2", "--cols", "3", "-o", "p.json", cwd=tmp_path)
    ok = cli("validate", "p.json", cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("ok: p.json: task contract; 6 tensors")
    ran = cli("run", "p.json", "--seed", "3", "-o", "r.json", "-q", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert json.loads((tmp_path / "r.json").read_text())["config"]["seed"] == 3


def test_validate_refuses_data_that_run_would_refuse(cli, tmp_path):
    # a search on a 14.6 TiB synthetic tensor was "ok" here, and refused by `run`
    cli("template", "tensor_ring", "--task", "search", "-o", "s.json", cwd=tmp_path)
    ok = cli("validate", "s.json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    shape = json.loads((tmp_path / "s.json").read_text())["network"]["sizes"]
    assert "; data " in ok.stdout and "(synthetic)" in ok.stdout, ok.stdout
    doc = json.loads((tmp_path / "s.json").read_text())
    doc["task"]["data"]["network"]["sizes"] = {ix: 1000 for ix in shape}
    (tmp_path / "big.json").write_text(json.dumps(doc))
    big = cli("validate", "big.json", cwd=tmp_path)
    assert big.returncode == 2 and big.stderr.startswith("tensorbench: error: big.json: ")
    assert "needs about" in big.stderr and "Traceback" not in big.stderr


def test_template_list_and_list_options(cli, tmp_path):
    listed = cli("template", "--list")
    assert listed.returncode == 0
    for name in (
        "mps",
        "mpo",
        "peps_2x2",
        "mera",
        "ttn",
        "pepo",
        "tebd_gate_layer",
        "tucker",
        "cp",
        "tensor_ring",
        "fctn",
        "rank_matrix",
    ):
        assert name in listed.stdout
    # a short name says what it stands for (it read "ht  hierarchical Tucker: ... ()")
    assert "ht                   short for hierarchical_tucker:" in listed.stdout
    assert "peps_2x2             peps with rows=2, cols=2:" in listed.stdout
    made = cli(
        "template", "tucker", "--dims", "4,5,6", "--ranks", "2", "-o", "t.json", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    sizes = json.loads((tmp_path / "t.json").read_text())["network"]["sizes"]
    assert [sizes[f"i{k}"] for k in range(3)] == [4, 5, 6]
    made = cli("template", "rank_matrix", "--ranks", "3,2;2,4", "--perm", "1,0", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["network"]["sizes"]["r0_1"] == 2


def _bad(tmp_path, name: str, text: str):
    (tmp_path / name).write_text(text)
    return name


def good_doc(tmp_path) -> dict:
    from tensorbench.engine import build_template

    return {
        "network": build_template("mps", sites=4, bond=3, phys=2).to_dict(),
        "task": {"kind": "contract"},
    }


BAD_CASES = {
    "broken_json": lambda d: '{"task": {"kind": "contract"}',
    "wrong_types": lambda d: json.dumps(d | {"seed": "zero"}),
    "negative_size": lambda d: json.dumps(
        d | {"network": d["network"] | {"sizes": d["network"]["sizes"] | {"b0": -4}}}
    ),
    "unknown_task": lambda d: json.dumps(d | {"task": {"kind": "teleport"}}),
    "huge_tensor": lambda d: json.dumps(
        d
        | {"network": d["network"] | {"sizes": d["network"]["sizes"] | {"b0": 10**6, "b1": 10**6}}}
    ),
    "not_an_object": lambda d: "[1, 2, 3]",
    "empty_file": lambda d: "",
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
@pytest.mark.parametrize("command", ["run", "validate", "export"])
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, case, command):
    name = _bad(tmp_path, f"{case}.json", BAD_CASES[case](good_doc(tmp_path)))
    proc = cli(command, name, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"tensorbench: error: {name}: ")
    assert "Traceback" not in proc.stderr


def test_the_issue_examples_say_what_is_wrong(cli, tmp_path):
    d = good_doc(tmp_path)
    proc = cli("run", _bad(tmp_path, "h.json", BAD_CASES["huge_tensor"](d)), cwd=tmp_path)
    assert "tensor 'A1' would have 2e+12 elements" in proc.stderr
    proc = cli("run", _bad(tmp_path, "n.json", BAD_CASES["negative_size"](d)), cwd=tmp_path)
    assert "size of index 'b0' must be >= 1, got -4" in proc.stderr
    proc = cli("run", _bad(tmp_path, "u.json", BAD_CASES["unknown_task"](d)), cwd=tmp_path)
    assert "unknown task 'teleport'; choose one of: attention, contract" in proc.stderr


def test_other_bad_input(cli, tmp_path):
    proc = cli("run", "missing.json", cwd=tmp_path)
    assert proc.returncode == 2 and "no such config file" in proc.stderr
    proc = cli("template", "nope")
    assert proc.returncode == 2 and "unknown template 'nope'" in proc.stderr
    proc = cli("template", "mps", "--sites", "0")
    assert proc.returncode == 2 and "sites must be between 2 and 512" in proc.stderr
    proc = cli("template", "mera", "--sites", "6")
    assert proc.returncode == 2 and "power of two" in proc.stderr
    proc = cli("template", "mps", "--device", "tpu")
    assert proc.returncode == 2 and "config.device" in proc.stderr
    proc = cli("run", "x.json", "--bogus")
    assert proc.returncode == 2


def test_serve_refuses_a_bad_config_before_starting(cli, tmp_path):
    name = _bad(tmp_path, "bad.json", "{")
    proc = cli("serve", name, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr


def test_version_and_help(cli):
    assert cli("--version").stdout.startswith("tensorbench ")
    helped = cli("--help")
    assert helped.returncode == 0
    for cmd in ("serve", "run", "export", "validate", "template"):
        assert cmd in helped.stdout
    assert "127.0.0.1" in cli("serve", "--help").stdout


def test_ctrl_c_cancels_the_run_and_keeps_a_partial_result(cli, tmp_path):
    import signal
    import time

    from tb_testing import tensorbench_cmd

    made = cli("template", "peps", "--bond", "16", "-o", "long.json", cwd=tmp_path)
    assert made.returncode == 0
    doc = json.loads((tmp_path / "long.json").read_text())
    doc["task"]["repeats"] = 1000  # minutes of work
    (tmp_path / "long.json").write_text(json.dumps(doc))
    proc = subprocess.Popen(
        [*tensorbench_cmd(), "run", "long.json"],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # as in a terminal: a test run started in the background (`pytest &`) inherits an
        # ignored SIGINT, and Python keeps it ignored, so Ctrl-C could not be simulated
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(8)  # start-up (imports, path search) takes 1-3 s
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert out.startswith("status: cancelled")
    assert "Traceback" not in err
    assert json.loads((tmp_path / "long.result.json").read_text())["status"] == "cancelled"


def test_bad_option_values_are_one_line(cli):
    proc = cli("serve", "--port", "99999")
    assert proc.returncode == 2 and "is not a port number" in proc.stderr
    proc = cli("template", "rank_matrix", "--ranks", "[" * 100_000)
    assert proc.returncode == 2 and "is not a matrix" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_files_that_are_not_configs_and_outputs_that_cannot_be_written(cli, tmp_path):
    made = cli("template", "mps", "--sites", "3", "-o", "c.json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert cli("run", "c.json", "-q", cwd=tmp_path).returncode == 0
    cases = [
        # a result file was refused over its 'config' field ("unknown field 'config'")
        (("validate", "c.result.json"), "that is a result file (what 'tensorbench run' wrote)"),
        (("run", "."), ".: is a folder; give the path of a config .json file"),
        (("run", "c.json", "-o", "."), "-o .: is a folder; give a file name"),
        # found before the run, not after it
        (("run", "c.json", "-o", "no/r.json"), "-o no/r.json: no folder no; create it"),
        # the config was replaced by its result
        (("run", "c.json", "-o", "c.json"), "-o c.json: is the config being run"),
        (("export", "c.json", "--to", "png", "-o", "no/x.png"), "no folder no"),
    ]
    for argv, message in cases:
        proc = cli(*argv, cwd=tmp_path)
        assert proc.returncode == 2 and message in proc.stderr, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert json.loads((tmp_path / "c.json").read_text())["format"] == "tensorbench/config"


def test_validate_refuses_a_contraction_run_would_refuse_for_memory(cli, tmp_path):
    # 'validate' said ok, with its parameters and flops, to a 179 GiB contraction
    assert cli("template", "mps", "-o", "c.json", cwd=tmp_path).returncode == 0
    doc = json.loads((tmp_path / "c.json").read_text())
    doc["network"]["sizes"]["p0"] = 10**9
    (tmp_path / "big.json").write_text(json.dumps(doc))
    for command in ("validate", "run"):
        proc = cli(command, "big.json", cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout
        # named by its file by both (run's message had no file name)
        assert "big.json: this contraction needs about" in proc.stderr and "GiB" in proc.stderr
    assert cli("validate", "c.json", cwd=tmp_path).returncode == 0
