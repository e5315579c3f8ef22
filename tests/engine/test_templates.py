"""Every template: valid, costs as cotengra/opt_einsum report, contraction = numpy.einsum."""

from __future__ import annotations

import cotengra as ctg
import numpy as np
import opt_einsum as oe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tb_testing import SMALL_TEMPLATE_ARGS

from tensorbench.engine import (
    TEMPLATES,
    NetworkError,
    build_template,
    contract,
    from_rank_matrix,
    to_rank_matrix,
)
from tensorbench.engine.cost import reduced_inputs
from tensorbench.engine.templates import mps, tensor_ring, tucker

SMALL = SMALL_TEMPLATE_ARGS


def test_every_template_has_small_sizes_here():
    assert set(SMALL) == set(TEMPLATES)


def test_tensor_network_editor_templates_have_counterparts():
    for name in ("mps", "mpo", "peps_2x2", "mera", "ttn", "pepo", "tebd_gate_layer"):
        assert name in TEMPLATES


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_defaults_build_and_every_tensor_has_a_position(name):
    net = build_template(name)
    assert len(net.tensors) >= 1
    assert all(t.pos is not None for t in net.tensors)
    assert net.name


@pytest.mark.parametrize("name", sorted(SMALL))
def test_contraction_equals_numpy_einsum(name):
    net = build_template(name, **SMALL[name])
    arrays = net.random_arrays(seed=7)
    eq, _shapes = net.to_einsum()
    ref = np.einsum(eq, *[a.numpy() for a in arrays], optimize="greedy")
    got = contract(net, arrays).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_costs_equal_cotengra_and_opt_einsum(name):
    net = build_template(name, **SMALL[name])
    stats = net.stats()
    inputs, output, sizes = reduced_inputs(net)
    for pc in (stats.optimized, stats.naive):
        tree = ctg.ContractionTree.from_path(inputs, output, sizes, ssa_path=pc.path)
        assert pc.flops == tree.total_flops("float")
        assert pc.largest_intermediate == tree.max_size()
        assert pc.peak_size == tree.peak_size()
        eq, shapes = net.to_einsum()
        _, info = oe.contract_path(
            eq, *shapes, shapes=True, optimize=oe.paths.ssa_to_linear(pc.path)
        )
        assert pc.largest_intermediate == info.largest_intermediate
    assert stats.params == sum(np.prod(s) for s in net.to_einsum()[1])


def test_mps_structure_and_counts():
    net = mps(sites=8, bond=16, phys=2)
    assert net.output == tuple(f"p{k}" for k in range(8))
    assert len(net.bonds) == 7
    assert net.num_params == 2 * (2 * 16) + 6 * (16 * 2 * 16)
    ring = mps(sites=8, bond=16, phys=2, periodic=True)
    assert len(ring.bonds) == 8 and all(len(t.indices) == 3 for t in ring.tensors)
    two = mps(sites=2, bond=3, phys=2, periodic=True)
    assert len(two.bonds) == 2  # two distinct bonds between the same two tensors


def test_cp_is_a_hyperedge_and_tucker_counts():
    net = build_template("cp", dims=[4, 5, 6], rank=3)
    assert net.hyperedges == ("r",) and net.degree("r") == 3
    weighted = build_template("cp", dims=[4, 5, 6], rank=3, weights=True)
    assert weighted.degree("r") == 4
    t = tucker(dims=[4, 5, 6], ranks=[2, 3, 4])
    assert t.num_params == 2 * 3 * 4 + 4 * 2 + 5 * 3 + 6 * 4
    assert t.full_size == 120


def test_peps_2x2_is_peps_with_two_rows_and_columns():
    a = build_template("peps_2x2")
    assert len(a.tensors) == 4 and len(a.bonds) == 4 and len(a.open_indices) == 4


def test_mera_shape():
    net = build_template("mera", sites=8)
    kinds = [t.tags[1] for t in net.tensors]
    assert kinds.count("disentangler") == 3 + 1  # 3 at the first layer, 1 at the second
    assert kinds.count("isometry") == 4 + 2
    assert kinds.count("top") == 1
    assert len(net.open_indices) == 8
    with pytest.raises(NetworkError, match="power of two"):
        build_template("mera", sites=6)


def test_template_argument_errors():
    with pytest.raises(NetworkError, match="unknown template 'nope'; choose one of: cp"):
        build_template("nope")
    with pytest.raises(NetworkError, match="sites must be between 2 and"):
        build_template("mps", sites=0)
    with pytest.raises(NetworkError, match="unknown parameter 'site'"):
        build_template("mps", site=3)
    with pytest.raises(NetworkError, match="expected 3 values"):
        build_template("tensor_train", dims=[2, 2, 2, 2], ranks=[2, 2])
    with pytest.raises(NetworkError, match="must be a list of integers"):
        build_template("tucker", dims=4)


@st.composite
def rank_matrices(draw):
    n = draw(st.integers(2, 6))
    R = [[1] * n for _ in range(n)]
    for i in range(n):
        R[i][i] = draw(st.integers(1, 5))
        for j in range(i + 1, n):
            R[i][j] = R[j][i] = draw(st.integers(1, 4))
    perm = draw(st.permutations(list(range(n))))
    return R, list(perm)


@settings(max_examples=80, deadline=None)
@given(rm=rank_matrices())
def test_rank_matrix_round_trip(rm):
    R, perm = rm
    net = from_rank_matrix(R, perm)
    R2, perm2 = to_rank_matrix(net)
    assert R2 == R and perm2 == perm
    # the data tensor has the modes in order: mode m has size R[k][k] where perm[k] == m
    for k, m in enumerate(perm):
        assert net.sizes[net.output[m]] == R[k][k]


def test_tensor_ring_in_rank_matrix_form():
    net = tensor_ring(dims=[3, 4, 5, 6], ranks=[2, 3, 4, 5])
    R, perm = to_rank_matrix(net)
    assert perm == [0, 1, 2, 3]
    assert [R[k][k] for k in range(4)] == [3, 4, 5, 6]
    # bond r{k} joins cores k and k+1 with ranks[k]
    assert R[0][1] == 2 and R[1][2] == 3 and R[2][3] == 4 and R[3][0] == 5
    assert R[0][2] == 1 and R[1][3] == 1


def test_rank_matrix_refuses_what_it_cannot_express():
    with pytest.raises(NetworkError, match="hyper index"):
        to_rank_matrix(build_template("cp", dims=[2, 3, 4], rank=2))
    with pytest.raises(NetworkError, match="symmetric"):
        from_rank_matrix([[2, 3], [1, 2]])
    with pytest.raises(NetworkError, match="permutation"):
        from_rank_matrix([[2, 3], [3, 2]], [0, 0])


@pytest.mark.parametrize(
    "name", ["tensor_train", "tensor_ring", "tucker", "cp", "hierarchical_tucker", "fctn"]
)
def test_generated_names_fit_for_many_modes(name):
    net = build_template(name, dims=[12] * 12)
    assert len(net.name) <= 64 and "12 values" in net.name


def test_rank_matrix_perm_defaults_to_the_identity_for_any_n():
    net = build_template("rank_matrix", ranks=[[5, 2], [2, 5]])
    assert to_rank_matrix(net) == ([[5, 2], [2, 5]], [0, 1])
