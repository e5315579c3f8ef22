"""run(config) and the contract task: correct values, progress, cancel, memory refusal."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from tensorbench.engine import (
    Config,
    ConfigError,
    Network,
    ResourceError,
    build_template,
    get_task,
    load_config,
    run,
    task_names,
)
from tensorbench.engine.fmt import format_bytes
from tensorbench.engine.run import Reporter


def config(name: str = "mps", seed: int = 0, **task) -> Config:
    args = {"mps": {"sites": 6, "bond": 4, "phys": 2}, "cp": {"dims": [3, 4, 5], "rank": 3}}.get(
        name, {}
    )
    net = build_template(name, **args)
    return Config({"kind": "contract", **get_task("contract").check(task)}, net, seed, "cpu")


def dense_value(cfg: Config) -> np.ndarray:
    net = cfg.network
    arrays = net.random_arrays(seed=cfg.seed, dtype=cfg.task["dtype"], generator="numpy")
    eq, _ = net.to_einsum()
    return np.einsum(
        eq,
        *[a.numpy().astype(np.complex128 if a.is_complex() else np.float64) for a in arrays],
        optimize="greedy",
    )


@pytest.mark.parametrize("name", ["mps", "cp", "tucker", "peps_2x2", "mera"])
def test_contract_value_matches_dense_einsum(name):
    cfg = config(name)
    result = run(cfg)
    ref = dense_value(cfg)
    v = result.metrics["value"]
    assert result.status == "ok"
    assert v["shape"] == list(ref.shape)
    assert v["norm"] == pytest.approx(float(np.linalg.norm(ref)), rel=1e-10)
    assert v["sum"] == pytest.approx(float(ref.sum()), rel=1e-8, abs=1e-10)


def test_complex_and_single_precision():
    c = run(config(dtype="complex128"))
    ref = dense_value(config(dtype="complex128"))
    assert c.metrics["value"]["norm"] == pytest.approx(float(np.linalg.norm(ref)), rel=1e-10)
    assert c.metrics["predicted"]["flops"] == 2 * run(config()).metrics["predicted"]["flops"]
    f = run(config(dtype="float32"))
    assert f.metrics["value"]["norm"] == pytest.approx(
        run(config()).metrics["value"]["norm"], rel=1e-4
    )


def test_random_entries_have_unit_variance_after_contraction():
    # The scaling of random data keeps big networks in range: output entries ~ N(0, 1).
    net = build_template("mps", sites=10, bond=32, phys=2)
    out = run(Config(get_task("contract").defaults(), net, 0, "cpu")).metrics["value"]
    rms = out["norm"] / np.sqrt(2**10)
    assert 0.5 < rms < 2.0


def test_same_seed_same_numbers_other_seed_other_numbers():
    a, b, c = run(config(seed=1)), run(config(seed=1)), run(config(seed=2))
    assert a.metrics["value"] == b.metrics["value"]
    assert a.metrics["value"] != c.metrics["value"]
    assert a.metrics["predicted"] == b.metrics["predicted"]


def test_progress_events_and_records():
    events: list[dict] = []
    result = run(config(repeats=4), progress=events.append)
    fractions = [e["fraction"] for e in events if e["type"] == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    records = [e for e in events if e["type"] == "record"]
    assert [r["repeat"] for r in records] == [1, 2, 3, 4]
    assert result.history == [{k: v for k, v in r.items() if k != "type"} for r in records]
    assert result.metrics["repeats"] == 4 and len(result.metrics["times_s"]) == 4


def test_predicted_and_measured_memory_agree_on_live_tensors():
    result = run(config())
    m = result.metrics
    # The executor keeps exactly the tensors the cost model counts (here, float64).
    assert m["measured_peak_live_bytes"] <= m["predicted"]["peak_size"] * 8
    assert m["measured_peak_live_bytes"] >= m["predicted"]["largest_intermediate"] * 8
    assert m["predicted_peak_bytes"] == m["predicted"]["peak_size"] * 8
    # the summary names the two numbers apart: the live peak the Network page's card
    # predicts, and the memory check's larger reservation (once both "peak")
    line = next(x for x in result.summary().splitlines() if x.startswith("memory:"))
    assert f"the path predicts {format_bytes(m['predicted_peak_bytes'])}" in line
    assert f"the memory check reserved {format_bytes(m['predicted_bytes'])}" in line


def test_cancel_stops_between_steps():
    cancel = threading.Event()

    def progress(event):
        if event["type"] == "progress" and event["message"].startswith("step"):
            cancel.set()

    result = run(config(name="mera", repeats=50), progress=progress, cancel=cancel)
    assert result.status == "cancelled"
    assert "predicted" in result.metrics  # partial result kept
    assert "time_median_s" not in result.metrics
    assert result.summary().startswith("status: cancelled")


def test_memory_is_checked_before_allocating(monkeypatch):
    import tensorbench.engine.device as device

    monkeypatch.setattr(device, "available_memory", lambda _dev="cpu": 100)
    with pytest.raises(ResourceError, match="needs about .* available; lower the bond"):
        run(config())


def test_the_memory_advice_fits_the_network(monkeypatch):
    # "close some open legs" was advised for a closed ring, which has none to close
    import tensorbench.engine.device as device

    monkeypatch.setattr(device, "available_memory", lambda _dev="cpu": 100)
    task = get_task("contract").defaults()
    closed = build_template("tensor_ring", dims=[4, 4, 4], ranks=3)
    closed = Network(closed.tensors, closed.sizes, ())  # every leg summed: no open legs
    with pytest.raises(ResourceError) as err:
        run(Config(task, closed, 0, "cpu"))
    assert "open legs" not in str(err.value)
    with pytest.raises(ResourceError, match="or close some open legs"):
        run(Config(task, build_template("mps", sites=4), 0, "cpu"))


def test_result_json_is_complete():
    result = run(config())
    doc = json.loads(result.to_json())
    assert doc["format"] == "tensorbench/result" and doc["kind"] == "contract"
    assert load_config(doc["config"]) == result.config
    assert doc["environment"]["device"] == "cpu" and doc["environment"]["torch"]
    assert doc["metrics"]["predicted"]["flops"] > 0


def test_registry():
    assert "contract" in task_names()
    with pytest.raises(ConfigError, match="unknown task 'x'; choose one of: attention, contract"):
        get_task("x")


def test_reporter_throttles_progress_but_never_records():
    seen: list[dict] = []
    rep = Reporter(seen.append)
    for k in range(1000):
        rep.progress(k / 1000, "x")
    rep.record(a=1)
    rep.progress(1.0, "done")
    assert len([e for e in seen if e["type"] == "progress"]) < 20
    assert next(e for e in seen if e["type"] == "record")["a"] == 1
    assert seen[-1]["fraction"] == 1.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_contract_on_cuda_matches_cpu():
    cpu = run(config())
    gpu = run(config().replace(device="cuda"))
    assert gpu.metrics["device"].startswith("cuda")
    assert gpu.metrics["value"]["norm"] == pytest.approx(cpu.metrics["value"]["norm"], rel=1e-10)
    assert gpu.metrics["cuda_peak_allocated_bytes"] > 0
