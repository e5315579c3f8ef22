"""The decompose task: config validation, runs, sweeps, cancel, and reproducible exports."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from tb_testing import SMALL_TT_DATA, decompose_config

from tensorbench.engine import ConfigError, build_template, export_script, load_config, run

DATA = SMALL_TT_DATA
config = decompose_config


def test_validation_names_the_field_at_fault():
    with pytest.raises(
        ConfigError,
        match=r"config.task.methods\[0\]: unknown decomposition "
        r"method 'svd'; choose one of: .*hosvd",
    ):
        config([{"method": "svd"}])
    # the method's name beside its position: the page shows cards by name
    with pytest.raises(ConfigError, match=r"config.task.methods\[1\] \(tt_svd\).ranks"):
        config([{"method": "hosvd"}, {"method": "tt_svd", "ranks": -1}])
    with pytest.raises(
        ConfigError, match=r"config.task.methods\[0\] \(tt_svd\): unknown parameter 'rnk'"
    ):
        config([{"method": "tt_svd", "rnk": 2}])
    with pytest.raises(ConfigError, match="config.task.data"):
        load_config(
            {
                "task": {
                    "kind": "decompose",
                    "data": {"kind": "nope"},
                    "methods": [{"method": "hosvd"}],
                }
            }
        )
    with pytest.raises(ConfigError, match="non-empty list"):
        config([])


def test_runs_every_method_and_records_each_iteration():
    cfg = config(
        [
            {"method": "tt_svd", "ranks": [2, 3]},
            {"method": "hosvd", "ranks": [2, 6, 3]},
            {"method": "hooi", "ranks": [2, 6, 3]},
        ]
    )
    result = run(cfg)
    runs = {r["label"]: r for r in result.metrics["runs"]}
    assert set(runs) == {"tt_svd", "hosvd", "hooi"}
    for r in runs.values():
        assert r["status"] == "ok" and 0 < r["rel_error"] < 0.05
        assert r["params"] > 0 and r["iterations"] >= 1
    # hooi's sweeps, not its records (the HOSVD start is a record at iteration 0)
    hooi = result.artifacts["decompositions"]["hooi"]
    assert runs["hooi"]["iterations"] == hooi.info["iterations"] == len(hooi.history) - 1
    assert {rec["method"] for rec in result.history} == set(runs)
    assert set(result.artifacts["decompositions"]) == set(runs)
    lines = result.summary().splitlines()
    assert lines[0].startswith("decompose: ") and len(lines) == 4


def test_a_stalled_run_says_so_in_the_summary():
    # A sampled TR-ALS with far too few samples ends worse than all zeros; the summary
    # (the CLI's and the exported script's output) carried only "relative error 1.48".
    data = {
        "kind": "synthetic",
        "template": "tensor_ring",
        "args": {"dims": [8] * 5, "ranks": [3] * 5},
        "noise": 0.001,
        "seed": 5,
    }
    method = {"method": "tr_als_lev", "ranks": 3, "samples": 30, "max_iter": 20, "init": "random"}
    lines = run(config([method, {"method": "tr_als", "ranks": 3}], data)).summary().splitlines()
    assert lines[1].startswith("tr_als_lev: relative error 1.")
    assert lines[2].startswith("  warning: stalled: after 20 sweeps") and "(now 30)" in lines[2]
    assert lines[3].startswith("tr_als: relative error ") and len(lines) == 4


def test_exported_script_gives_the_same_final_errors(tmp_path):
    cfg = config(
        [{"method": "tt_svd", "ranks": [2, 3]}, {"method": "tucker_rand", "ranks": [2, 6, 3]}]
    )
    expected = [line.split(",")[0] for line in run(cfg).summary().splitlines()[1:]]
    path = tmp_path / "s.py"
    path.write_text(export_script(cfg))
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = [line.split(",")[0] for line in proc.stdout.splitlines()[1:]]
    assert got == expected and all("relative error" in line for line in got)


def test_sweep_runs_each_value():
    cfg = config(
        [{"method": "tucker_rand", "ranks": [2, 6, 3]}],
        sweep={"param": "oversample", "values": [0, 4]},
    )
    runs = run(cfg).metrics["runs"]
    assert [r["sweep_value"] for r in runs] == [0, 4]
    assert [r["label"] for r in runs] == ["tucker_rand oversample=0", "tucker_rand oversample=4"]
    # a bad value is refused with the config, before any data is loaded or run
    with pytest.raises(ConfigError, match="oversample"):
        config([{"method": "tucker_rand"}], sweep={"param": "oversample", "values": [-5]})


@pytest.mark.parametrize(
    ("methods", "sweep", "message"),
    [
        # a valid 10 beside a 0 used to fail the whole run after the data was loaded
        (
            [{"method": "cp_als_lev", "rank": 2}, {"method": "cp_als_uniform", "rank": 2}],
            {"param": "samples", "values": [10, 0]},
            r"sweep.values\[1\]: samples=0 for config.task.methods\[0\] \(cp_als_lev\): "
            "samples must be between 1",
        ),
        (
            [{"method": "cp_als_lev", "rank": 2}],
            {"param": "samples", "values": [10, 10]},
            "10 appears twice; give each value once",
        ),
        (
            [{"method": "tt_svd"}],
            {"param": "eps", "values": [0, 0.0]},  # one value, written twice
            "0.0 appears twice",
        ),
        (
            [{"method": "tt_svd"}],
            {"param": ["eps"], "values": [0.1]},  # a TypeError escaped here
            r"sweep.param must be a parameter name, got \['eps'\]",
        ),
        (
            [{"method": "cp_als", "rank": 2}, {"method": "hosvd"}],
            {"param": "samples", "values": [10]},
            r"no chosen method \(cp_als, hosvd\) has a parameter 'samples'",
        ),
    ],
)
def test_a_bad_sweep_is_refused_with_the_config(methods, sweep, message):
    with pytest.raises(ConfigError, match=message):
        config(methods, sweep=sweep)


def test_a_method_given_twice_with_the_same_settings_is_refused():
    with pytest.raises(
        ConfigError,
        match=r"methods\[1\] \(hooi\) repeats methods\[0\] with the same settings, so it "
        "would run twice to the same numbers",
    ):
        config([{"method": "hooi", "ranks": [2, 3, 2]}, {"method": "hooi", "ranks": [2, 3, 2]}])
    config([{"method": "hooi", "ranks": [2, 3, 2]}, {"method": "hooi", "ranks": [2, 2, 2]}])


def test_a_method_without_the_swept_parameter_runs_once_as_the_baseline():
    # exact CP-ALS beside a sample sweep of the sampled one: the sweep plot's reference
    cfg = config(
        [
            {"method": "cp_als", "rank": 2, "max_iter": 5},
            {"method": "cp_als_lev", "rank": 2, "max_iter": 5},
        ],
        sweep={"param": "samples", "values": [50, 100]},
    )
    runs = run(cfg).metrics["runs"]
    assert [r["label"] for r in runs] == [
        "cp_als",
        "cp_als_lev samples=50",
        "cp_als_lev samples=100",
    ]
    assert "sweep_value" not in runs[0] and [r["sweep_value"] for r in runs[1:]] == [50, 100]
    assert all(r["status"] == "ok" for r in runs)


def test_cancel_keeps_what_finished():
    cfg = config(
        [
            {"method": "tt_svd", "ranks": [2, 3]},
            {"method": "hooi", "ranks": [2, 6, 3], "max_iter": 50, "tol": 0.0},
        ]
    )
    cancel = threading.Event()

    def progress(event):
        if event.get("type") == "record" and event["method"] == "hooi":
            cancel.set()

    result = run(cfg, progress=progress, cancel=cancel)
    assert result.status == "cancelled"
    statuses = [r["status"] for r in result.metrics["runs"]]
    assert statuses == ["ok", "cancelled"]
    assert "hooi: cancelled" in result.summary()


def test_network_als_needs_the_configs_network():
    # refused with the config (it passed 'validate' and failed its own run)
    with pytest.raises(ConfigError, match=r"needs a 'network': methods\[0\] \(network_als\)"):
        config([{"method": "network_als"}])
    net = build_template("tensor_train", dims=[6, 7, 8], ranks=[2, 3])
    cfg = config([{"method": "hosvd"}]).replace(
        network=net, task={"methods": [{"method": "network_als", "max_iter": 30}]}
    )
    r = run(cfg).metrics["runs"][0]
    assert r["status"] == "ok" and r["rel_error"] < 0.05


@pytest.mark.parametrize("method", ["tr_als", "network_als"])
def test_methods_do_not_start_at_synthetic_data_from_the_same_seed(method):
    # Exact ring data drawn with seed 0, methods seeded with 0 (both defaults): the
    # methods' Gaussian start draws the ring's cores in the same order and shapes, so
    # with one shared stream the first sweep would already be exact (error ~1e-15).
    ring = build_template("tensor_ring", dims=[5, 6, 5, 6], ranks=[2, 3, 2, 3])
    data = {"kind": "synthetic", "network": ring.to_dict(), "noise": 0.0, "seed": 0}
    entry = {"method": method, "max_iter": 1, "tol": 0.0}
    if method == "tr_als":
        entry["ranks"] = [2, 3, 2, 3]
    cfg = load_config(
        {
            "task": {"kind": "decompose", "data": data, "methods": [entry]},
            "network": ring.to_dict(),
            "seed": 0,
            "device": "cpu",
        }
    )
    (r,) = run(cfg).metrics["runs"]
    assert r["status"] == "ok" and r["rel_error"] > 1e-3


def test_final_error_falls_back_when_the_reconstruction_does_not_fit(monkeypatch):
    # The exact final error forms the reconstruction; refused for memory, the run keeps
    # the method's own last error instead of failing a finished fit.
    from tensorbench.engine.decompose.base import Decomposition
    from tensorbench.engine.errors import ResourceError

    cfg = config([{"method": "tt_als", "ranks": [2, 3], "max_iter": 3}])
    exact = run(cfg).metrics["runs"][0]

    def refuse(self):
        raise ResourceError("the reconstruction needs about 9 GiB")

    monkeypatch.setattr(Decomposition, "reconstruct", refuse)
    res = run(cfg)
    got = res.metrics["runs"][0]
    assert got["status"] == "ok"
    assert got["rel_error"] == res.history[-1]["rel_error"]  # the method's own last error
    assert got["rel_error"] == pytest.approx(exact["rel_error"], rel=1e-6)
