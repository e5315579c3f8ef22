"""Editing operations: every result is a valid network; refusals say what to do."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorbench.engine import Network, NetworkError, Tensor, build_template, contract
from tensorbench.engine import edit as ed
from tensorbench.engine.edit import EditError


def chain() -> Network:
    """T0 - T1 - T2 drawn from an empty canvas, with one dimension set."""
    net = ed.add_tensor(None, (0, 0))
    net = ed.add_tensor(net, (1, 0))
    net = ed.add_tensor(net, (2, 0))
    net = ed.connect(net, ("T0", None), ("T1", None))
    net = ed.connect(net, ("T1", None), ("T2", None))
    return ed.set_size(net, "b0", 3)


def test_draw_a_chain_from_nothing():
    net = chain()
    assert [t.name for t in net.tensors] == ["T0", "T1", "T2"]
    assert net.bonds == ("b0", "b1")
    assert net.num_params == 3 + 3 * 2 + 2
    assert net.to_einsum()[0] == "a,ab,b->"


def test_legs_and_leg_to_leg_connections():
    net = ed.add_leg(ed.add_leg(chain(), "T0"), "T2")
    assert net.open_indices == ("i0", "i1")
    with pytest.raises(EditError, match="different sizes"):
        ed.connect(ed.set_size(net, "i0", 5), ("T0", "i0"), ("T2", "i1"))
    ring = ed.connect(net, ("T0", "i0"), ("T2", "i1"))
    assert ring.kind("i0") == "bond" and "i1" not in ring.sizes and ring.output == ()


def test_leg_to_bond_makes_a_hyperedge_and_hyperedge_button():
    net = ed.add_tensor(chain(), (1, 1))  # T3
    hyper = ed.connect(net, ("T0", "b0"), ("T3", None))
    assert hyper.kind("b0") == "hyper" and hyper.degree("b0") == 3
    h = ed.make_hyperedge(net, ["T0", "T2", "T3"])
    assert h.kind("h0") == "hyper"
    with pytest.raises(EditError, match="three or more"):
        ed.make_hyperedge(net, ["T0", "T1"])


def test_bad_edits_are_refused_with_reasons():
    net = chain()
    with pytest.raises(EditError, match="cannot be connected to itself"):
        ed.connect(net, ("T0", None), ("T0", None))
    with pytest.raises(EditError, match="already connected"):
        ed.connect(net, ("T0", "b0"), ("T1", "b0"))
    with pytest.raises(EditError, match="already has index 'b0'"):
        ed.connect(net, ("T0", "b0"), ("T1", None))
    with pytest.raises(NetworkError, match="must be >= 1"):
        ed.set_size(net, "b0", 0)
    for bad in ("two words", "it's", 'say"hi"', "class", "1abc", "", "x" * 40):
        with pytest.raises(EditError):
            ed.rename_tensor(net, "T0", bad)
        with pytest.raises(EditError):
            ed.rename_index(net, "b0", bad)
    with pytest.raises(EditError, match="exists already"):
        ed.rename_tensor(net, "T0", "T1")
    with pytest.raises(EditError, match="no tensor named"):
        ed.add_leg(net, "nope")


def test_delete_keeps_cut_bonds_as_open_legs_and_empties():
    net = chain()
    cut = ed.delete_tensors(net, ["T1"])
    assert [t.name for t in cut.tensors] == ["T0", "T2"]
    assert cut.open_indices == ("b0", "b1")
    assert ed.delete_tensors(net, ["T0", "T1", "T2"]) is None
    no_bond = ed.delete_indices(net, ["b0"])
    assert "b0" not in no_bond.sizes and no_bond.tensor("T0").indices == ()


def test_rename_reorder_move_layout():
    net = ed.rename_index(ed.rename_tensor(chain(), "T1", "core"), "b0", "chi")
    assert net.tensor("core").indices == ("chi", "b1")
    net = ed.reorder_legs(net, "core", ["b1", "chi"])
    assert net.tensor("core").indices == ("b1", "chi")
    with pytest.raises(EditError, match="exactly its indices"):
        ed.reorder_legs(net, "core", ["b1"])
    moved = ed.move(net, {"T0": (5.0, 5.0)})
    assert moved.tensor("T0").pos == (5.0, 5.0)
    laid = ed.auto_layout(net)
    assert all(t.pos is not None for t in laid.tensors)


OPS = st.sampled_from(["tensor", "leg", "connect", "join", "hyper", "size", "delete", "rename"])


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(OPS, st.integers(0, 50), st.integers(0, 50)), max_size=25))
def test_random_edit_sequences_keep_a_valid_contractible_network(ops):
    net: Network | None = None
    for op, a, b in ops:
        try:
            names = [] if net is None else [t.name for t in net.tensors]
            if op == "tensor" or net is None:
                net = ed.add_tensor(net, (a / 10, b / 10))
            elif op == "leg":
                net = ed.add_leg(net, names[a % len(names)], size=1 + b % 3)
            elif op == "connect":
                net = ed.connect(net, (names[a % len(names)], None), (names[b % len(names)], None))
            elif op == "join" and net.sizes:
                ix = list(net.sizes)[a % len(net.sizes)]
                holder = net.tensors[net.tensors_with(ix)[0]].name
                net = ed.connect(net, (holder, ix), (names[b % len(names)], None))
            elif op == "hyper":
                net = ed.make_hyperedge(net, [names[(a + k) % len(names)] for k in range(3)])
            elif op == "size" and net.sizes:
                net = ed.set_size(net, list(net.sizes)[a % len(net.sizes)], 1 + b % 4)
            elif op == "delete":
                net = ed.delete_tensors(net, [names[a % len(names)]])
            elif op == "rename":
                net = ed.rename_tensor(net, names[a % len(names)], f"R{b}")
        except EditError:
            continue  # refused edits leave the network as it was
        if net is not None:
            assert Network.from_dict(net.to_dict()) == net
    if net is not None and len(net.tensors) <= 8 and net.full_size <= 4096:
        arrays = net.random_arrays(seed=1)
        eq, _ = net.to_einsum()
        ref = np.einsum(eq, *[x.numpy() for x in arrays])
        np.testing.assert_allclose(contract(net, arrays).numpy(), ref, rtol=1e-10, atol=1e-12)


def test_templates_edit_like_any_network():
    net = build_template("mps", sites=4)
    net = ed.connect(net, ("A0", "p0"), ("A3", "p3"))
    assert net.kind("p0") == "bond"
    assert isinstance(net.tensors[0], Tensor)
