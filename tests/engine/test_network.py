"""The Network model: structure, validation, JSON, bridges and costs against references."""

from __future__ import annotations

import json
import math

import cotengra as ctg
import numpy as np
import opt_einsum as oe
import pytest
import quimb.tensor as qtn
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tb_testing import networks

from tensorbench.engine import (
    Network,
    NetworkError,
    Tensor,
    build_template,
    contract,
    find_path,
    network_stats,
)
from tensorbench.engine.cost import naive_path, path_cost, reduced_inputs
from tensorbench.engine.edit import rename_index
from tensorbench.engine.network import MAX_INDEX_SIZE, MAX_TENSOR_ELEMENTS

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def small() -> Network:
    """A, B, C: bond a (A-B), bond b (B-C), open i on A, hyperedge r on A, B, C, summed z on C."""
    return Network(
        [Tensor("A", ("i", "a", "r")), Tensor("B", ("a", "b", "r")), Tensor("C", ("b", "r", "z"))],
        {"i": 2, "a": 3, "b": 4, "r": 5, "z": 6},
        ["i"],
    )


# ----------------------------------------------------------------------------- structure


def test_index_kinds_follow_index_sharing():
    net = small()
    assert net.kind("a") == "bond" and net.kind("b") == "bond"
    assert net.kind("i") == "open"
    assert net.kind("r") == "hyper"
    assert net.kind("z") == "summed"
    assert net.bonds == ("a", "b")
    assert net.open_indices == ("i",)
    assert net.hyperedges == ("r",)
    assert net.degree("r") == 3
    assert net.neighbors("A") == (1, 2)
    assert net.components() == [[0, 1, 2]]


def test_output_index_on_two_tensors_is_a_hyperedge():
    net = Network(
        [Tensor("A", ("b", "x")), Tensor("B", ("b", "y"))],
        {"b": 2, "x": 3, "y": 4},
        ["b", "x", "y"],
    )
    assert net.kind("b") == "hyper"
    assert net.degree("b") == 3


def test_default_output_is_indices_on_one_tensor_in_order_of_appearance():
    net = Network([Tensor("A", ("x", "a")), Tensor("B", ("a", "w"))], {"x": 2, "a": 3, "w": 4})
    assert net.output == ("x", "w")


def test_sizes_params_and_compression():
    net = small()
    assert net.shape("C") == (4, 5, 6)
    assert net.num_params == 2 * 3 * 5 + 3 * 4 * 5 + 4 * 5 * 6
    assert net.full_size == 2
    assert net.compression == pytest.approx(2 / net.num_params)


def test_disconnected_components():
    net = Network([Tensor("A", ("i",)), Tensor("B", ("j",))], {"i": 2, "j": 3})
    assert net.components() == [[0], [1]]


# ----------------------------------------------------------------------------- validation

BAD = [
    ({"tensors": [], "sizes": {}}, "empty"),
    ({"tensors": [{"name": "A", "indices": ["i"]}], "sizes": {"i": 0}}, "index 'i' must be >= 1"),
    ({"tensors": [{"name": "A", "indices": ["i"]}], "sizes": {"i": -3}}, "'i' must be >= 1"),
    ({"tensors": [{"name": "A", "indices": ["i"]}], "sizes": {"i": 2.5}}, "'i' must be a positive"),
    ({"tensors": [{"name": "A", "indices": ["i"]}], "sizes": {"i": "4"}}, "'i' must be a positive"),
    (
        {"tensors": [{"name": "A", "indices": ["i"]}], "sizes": {"i": True}},
        "'i' must be a positive",
    ),
    (
        {"tensors": [{"name": "A", "indices": ["i", "i"]}], "sizes": {"i": 2}},
        "tensor 'A': index 'i' appears twice",
    ),
    (
        {"tensors": [{"name": "A", "indices": ["i", "j"]}], "sizes": {"i": 2}},
        "tensor 'A': index 'j' has no size",
    ),
    (
        {"tensors": [{"name": "A", "indices": ["i"]}], "sizes": {"i": 2, "q": 3}},
        "index 'q' is not used",
    ),
    (
        {"tensors": [{"name": "A", "indices": ["i"]}], "sizes": {"i": 2}, "output": ["k"]},
        "output index 'k' is not an index",
    ),
    (
        {"tensors": [{"name": "A", "indices": ["i"]}], "sizes": {"i": 2}, "output": ["i", "i"]},
        "listed twice",
    ),
    (
        {"tensors": [{"name": "A", "indices": ["i"]}], "sizes": {"i": MAX_INDEX_SIZE + 1}},
        "above the limit",
    ),
    (
        {"tensors": [{"name": "A", "indices": ["i", "j"]}], "sizes": {"i": 10**6, "j": 10**6}},
        "tensor 'A' would have 1e\\+12 elements",
    ),
    (
        {
            "tensors": [{"name": "A", "indices": ["i"]}, {"name": "A", "indices": ["i"]}],
            "sizes": {"i": 2},
        },
        "'A' is used twice",
    ),
    ({"tensors": [{"name": "", "indices": ["i"]}], "sizes": {"i": 2}}, "empty"),
    ({"tensors": [{"name": 3, "indices": ["i"]}], "sizes": {"i": 2}}, "must be a string"),
    ({"tensors": [{"name": "A", "indices": "ij"}], "sizes": {"i": 2}}, "indices must be a list"),
    ({"tensors": [{"name": "A", "indices": ["i"], "pos": [0]}], "sizes": {"i": 2}}, "pos"),
    (
        {"tensors": [{"name": "A", "indices": ["i"], "color": 1}], "sizes": {"i": 2}},
        "unknown field 'color'",
    ),
    (
        {"tensors": [{"name": "A", "indices": ["i"]}], "sizes": {"i": 2}, "extra": 1},
        "unknown field 'extra'",
    ),
    (
        {"tensors": [{"name": "A", "indices": ["i"]}], "sizes": {"i": 2}, "version": 99},
        "newer tensorbench",
    ),
    ({"format": "other", "tensors": [], "sizes": {}}, "format"),
    ({"tensors": {"A": 1}, "sizes": {}}, "expected a list"),
    ({"tensors": [{"name": "A", "indices": ["i"]}]}, "missing field 'sizes'"),
    ([1, 2], "expected a JSON object"),
]


@pytest.mark.parametrize(("doc", "match"), BAD)
def test_bad_documents_are_refused_with_the_culprit_named(doc, match):
    with pytest.raises(NetworkError, match=match):
        Network.from_dict(doc)


def test_absurd_tensor_limit_is_a_real_limit():
    # just under the limit is accepted (no data is allocated by the model)
    n = math.isqrt(MAX_TENSOR_ELEMENTS)
    Network([Tensor("A", ("i", "j"))], {"i": n, "j": n})


@SETTINGS
@given(net=networks())
def test_json_round_trip(net):
    again = Network.from_json(net.to_json())
    assert again == net
    assert again.to_dict() == net.to_dict()
    assert json.loads(net.to_json())["format"] == "tensorbench/network"


CORRUPTIONS = [
    ("size_zero", lambda d: d["sizes"].__setitem__(next(iter(d["sizes"])), 0)),
    ("size_float", lambda d: d["sizes"].__setitem__(next(iter(d["sizes"])), 1.5)),
    ("size_missing", lambda d: d["sizes"].pop(next(iter(d["sizes"])))),
    (
        "dup_index",
        lambda d: d["tensors"][0]["indices"].extend(d["tensors"][0]["indices"][:1] or ["x", "x"]),
    ),
    ("dup_name", lambda d: d["tensors"].append(dict(d["tensors"][0]))),
    ("bad_output", lambda d: d.__setitem__("output", ["not-an-index"])),
    ("no_tensors", lambda d: d.__setitem__("tensors", [])),
    ("name_type", lambda d: d["tensors"][0].__setitem__("name", None)),
    ("indices_type", lambda d: d["tensors"][0].__setitem__("indices", 7)),
    ("absurd", lambda d: d["sizes"].update({k: 10**9 for k in d["sizes"]})),
]


@SETTINGS
@given(net=networks(), corruption=st.sampled_from(CORRUPTIONS))
def test_corrupted_documents_raise_network_error_only(net, corruption):
    name, corrupt = corruption
    doc = json.loads(net.to_json())
    assume(doc["sizes"] or not name.startswith("size"))
    if name == "absurd":  # 1e9 elements is fine for a vector, absurd for a matrix
        assume(any(len(t["indices"]) >= 2 for t in doc["tensors"]))
    corrupt(doc)
    with pytest.raises(NetworkError):
        Network.from_dict(doc)


def test_from_einsum():
    net = Network.from_einsum("ab,bc->ac", {"a": 2, "b": 3, "c": 4})
    assert [t.indices for t in net.tensors] == [("a", "b"), ("b", "c")]
    assert net.output == ("a", "c")
    with pytest.raises(NetworkError, match="index 'c' has no size"):
        Network.from_einsum("ab,bc->ac", {"a": 2, "b": 3})


@pytest.mark.parametrize(
    ("equation", "match"),
    [
        # each was read as a tensor "with index 'c' twice" or an index with no size
        ("ab,bc-ac", r"'-' is not an index; did you mean '->'"),
        ("ab,bc>ac", r"'>' is not an index; did you mean '->'"),
        ("ab;bc->ac", r"';' is not an index; operands are separated by ','"),
        ("...ab,bc->ac", r"'\.' is not an index; '\.\.\.' \(broadcast modes\) is not supported"),
        ("a1,1b->ab", r"'1' is not an index; indices are letters"),
    ],
)
def test_einsum_typos_are_named(equation, match):
    with pytest.raises(NetworkError, match=match):
        Network.from_einsum(equation, {k: 2 for k in "abc1"})


def test_einsum_strings_past_52_indices_come_back():
    # to_einsum names indices past a-zA-Z with opt_einsum's other symbols: they import
    net = build_template("mps", sites=30, bond=2, phys=2)
    eq, _shapes = net.to_einsum()
    sym = net.symbols()
    back = Network.from_einsum(eq, {sym[ix]: d for ix, d in net.sizes.items()})
    assert len(back.indices) == len(net.indices) > 52


def test_layout_places_every_tensor_deterministically():
    net = Network.from_einsum("ab,bc,cd,da->", {k: 2 for k in "abcd"})
    a, b = net.with_layout(seed=1), net.with_layout(seed=1)
    assert all(t.pos is not None for t in a.tensors)
    assert a == b


# ----------------------------------------------------------------------------- bridges


def _dense_reference(net: Network, arrays):
    eq, _ = net.to_einsum()
    return oe.contract(eq, *[a.cpu().numpy() for a in arrays], optimize="greedy")


@SETTINGS
@given(net=networks())
def test_contraction_equals_dense_einsum(net):
    arrays = net.random_arrays(seed=3)
    ref = _dense_reference(net, arrays)
    got = contract(net, arrays).numpy()
    assert got.shape == ref.shape == tuple(net.sizes[ix] for ix in net.output)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_to_einsum_runs_in_numpy():
    net = small()
    eq, shapes = net.to_einsum()
    assert eq == "iar,abr,brz->i"  # single-letter index names are their own symbols
    assert shapes == [(2, 3, 5), (3, 4, 5), (4, 5, 6)]
    # one longer name: every index gets a symbol, in order of first appearance
    assert rename_index(net, "a", "bond").to_einsum()[0] == "abc,bdc,dce->a"
    arrays = [a.numpy() for a in net.random_arrays(seed=0)]
    np.testing.assert_allclose(
        np.einsum(eq, *arrays), contract(net, net.random_arrays()).numpy(), rtol=1e-12
    )


@SETTINGS
@given(net=networks(hyper=True))
def test_quimb_round_trip_keeps_structure_and_value(net):
    tn = net.to_quimb(seed=1)
    assert isinstance(tn, qtn.TensorNetwork)
    back = Network.from_quimb(tn, output=net.output)
    assert [t.name for t in back.tensors] == [t.name for t in net.tensors]
    assert [t.indices for t in back.tensors] == [t.indices for t in net.tensors]
    assert back.sizes == net.sizes and back.output == net.output
    ref = contract(net, net.random_arrays(seed=1)).numpy()
    got = tn.contract(output_inds=net.output, optimize="greedy")
    got = np.asarray(got.data if hasattr(got, "data") else got)
    np.testing.assert_allclose(got.reshape(ref.shape), ref, rtol=1e-10, atol=1e-12)


def test_quimb_torch_backend_and_native_quimb_networks():
    net = small()
    tn = net.to_quimb(backend="torch", dtype="float32")
    assert all(
        isinstance(t.data, torch.Tensor) and t.data.dtype == torch.float32 for t in tn.tensors
    )
    mps = qtn.MPS_rand_state(5, bond_dim=3)
    back = Network.from_quimb(mps)
    assert len(back.tensors) == 5
    assert len(back.output) == 5 and len(back.bonds) == 4
    assert all(t.name.startswith("I") for t in back.tensors)  # quimb's site tags name them


# ----------------------------------------------------------------------------- costs


def _ctg_tree(net: Network, path):
    inputs, output, sizes = reduced_inputs(net)
    return ctg.ContractionTree.from_path(inputs, output, sizes, ssa_path=path)


@SETTINGS
@given(
    net=networks(max_tensors=7),
    optimize=st.sampled_from(["auto", "greedy", "naive"]),
    dtype=st.sampled_from(["float64", "complex64"]),
)
def test_costs_equal_what_cotengra_reports(net, optimize, dtype):
    stats = network_stats(net, optimize=optimize, dtype=dtype)
    for pc in (stats.optimized, stats.naive):
        tree = _ctg_tree(net, pc.path)
        assert pc.cost == tree.contraction_cost()
        assert pc.flops == tree.total_flops("complex" if "complex" in dtype else "float")
        assert pc.largest_intermediate == tree.max_size()
        assert pc.peak_size == tree.peak_size()
        assert pc.width == pytest.approx(math.log2(tree.max_size()))
        if len(net.tensors) > 1:  # cotengra's width of a one-node tree is not a log
            assert pc.width == pytest.approx(tree.contraction_width())


@SETTINGS
@given(net=networks(max_tensors=7, summed=False))
def test_step_costs_equal_opt_einsum(net):
    if len(net.tensors) < 2:
        return
    eq, shapes = net.to_einsum()
    for path in (find_path(net, "greedy"), naive_path(len(net.tensors))):
        pc = path_cost(net, path)
        linear = oe.paths.ssa_to_linear(path)
        _, info = oe.contract_path(eq, *shapes, shapes=True, optimize=linear)
        assert pc.largest_intermediate == info.largest_intermediate
        # opt_einsum counts a step's multiply-adds as 2x the index volume when the step
        # sums an index, 1x for a pure product; cotengra (and we) count the volume once.
        expected = 0
        for step in pc.steps:
            operands_indices = set()
            for side in (step.left, step.right):
                operands_indices |= set(_indices_of(net, pc, side))
            inner = len(operands_indices) > len(step.indices)
            expected += step.cost * (2 if inner else 1)
        assert info.opt_cost == expected


def _indices_of(net: Network, pc, ssa_id: int):
    inputs, _, _ = reduced_inputs(net)
    if ssa_id < len(inputs):
        return inputs[ssa_id]
    return pc.steps[ssa_id - len(inputs)].indices


def test_naive_path_is_listing_order():
    assert naive_path(4) == ((0, 1), (4, 2), (5, 3))
    assert naive_path(1) == ()


def test_unknown_optimizer_lists_valid_ones():
    with pytest.raises(NetworkError, match="choose one of: auto, greedy"):
        find_path(small(), "fastest")


def test_optimized_beats_naive_on_a_tree():
    from tensorbench.engine.templates import ttn

    stats = ttn(sites=16, bond=8).stats()
    assert stats.optimized.flops < stats.naive.flops / 100


def test_paths_are_deterministic_for_a_seed():
    from tensorbench.engine.templates import peps

    net = peps(rows=5, cols=5, bond=4)  # large enough for the random-greedy branch
    assert find_path(net, "auto", seed=3) == find_path(net, "auto", seed=3)
    assert find_path(net, "random-greedy", seed=3) == find_path(net, "random-greedy", seed=3)


# ----------------------------------------------------------------------------- hostile input


def test_more_axes_than_arrays_allow_is_refused():
    with pytest.raises(NetworkError, match="tensor 'A' has 70 indices; arrays have at most 64"):
        Network([Tensor("A", tuple(f"i{k}" for k in range(70)))], {f"i{k}": 1 for k in range(70)})


def test_output_or_steps_beyond_64_axes_are_refused_before_allocating():
    a = Tensor("A", tuple(f"i{k}" for k in range(40)))
    b = Tensor("B", tuple(f"j{k}" for k in range(40)))
    net = Network([a, b], {**{f"i{k}": 1 for k in range(40)}, **{f"j{k}": 1 for k in range(40)}})
    with pytest.raises(NetworkError, match="the output has 80 indices"):
        contract(net)


def test_lists_must_be_lists_and_numbers_must_be_finite():
    with pytest.raises(NetworkError, match="indices must be a list"):
        Network.from_dict({"tensors": [{"name": "A", "indices": {"i": 1}}], "sizes": {"i": 2}})
    with pytest.raises(NetworkError, match="tags must be a list"):
        Network.from_dict(
            {"tensors": [{"name": "A", "indices": ["i"], "tags": {"x": 1}}], "sizes": {"i": 2}}
        )
    with pytest.raises(NetworkError, match=r"pos must be two finite numbers .*\.\.\.$"):
        Network.from_dict(
            {"tensors": [{"name": "A", "indices": ["i"], "pos": [10**400, 0]}], "sizes": {"i": 2}}
        )


def test_duplicate_json_keys_are_refused():
    with pytest.raises(NetworkError, match="key 'sizes' appears twice"):
        Network.from_json(
            '{"tensors": [{"name": "A", "indices": ["i"]}], "sizes": {"i": 2}, "sizes": {"i": 3}}'
        )


def test_costs_beyond_the_float_range_stay_exact_or_refuse_clearly():
    from tensorbench.engine.fmt import format_bytes, sci, short
    from tensorbench.engine.templates import mps, peps

    big = mps(sites=512, bond=1, phys=4096)  # 4096**512 output entries
    assert big.compression == math.inf
    # 4096**512 = 3.3747...e+1849 (its decimal digits, checked with str())
    assert sci(big.full_size, 3) == "3.375e+1849"
    assert short(big.full_size) == "3.375e+1849"
    assert format_bytes(big.full_size).endswith("e+1849 B")
    # units up to YiB: "3.98e+21 B" read as a different kind of number from "37.8 GiB"
    assert format_bytes(3.98e21) == "3.4 ZiB" and format_bytes(3 * 1024**8) == "3.0 YiB"
    assert format_bytes(2**70) == "1.0 ZiB" and format_bytes(10**30) == "1.00e+30 B"
    # Path scoring in floats overflows in pure-Python cotengra (a clear error), not with its
    # Rust accelerator (then the costs are exact Python ints).
    try:
        stats = peps(rows=32, cols=32).stats()
    except NetworkError as e:
        assert "overflow floating point" in str(e)
    else:
        assert stats.optimized.flops > 2**1024 and "e+" in short(stats.optimized.flops)


def test_layout_of_large_networks_is_fast():
    import time

    n = 2000
    net = Network(
        [Tensor(f"T{k}", (f"b{k}", f"b{(k + 1) % n}")) for k in range(n)],
        {f"b{k}": 2 for k in range(n)},
    )
    t0 = time.perf_counter()
    placed = net.with_layout()
    assert time.perf_counter() - t0 < 5
    assert all(t.pos is not None for t in placed.tensors)


def test_layout_with_coinciding_fixed_positions_spreads_the_rest():
    net = Network(
        [
            Tensor("A", ("i", "a"), (3e-223, 0.0)),
            Tensor("B", ("a", "b"), (0.0, 0.0)),
            Tensor("C", ("b",), None),
        ],
        {"i": 2, "a": 3, "b": 2},
    )
    (x, y) = net.with_layout().tensor("C").pos
    assert math.isfinite(x) and math.isfinite(y) and math.hypot(x, y) > 0.5
