"""Importing tensor-network-editor documents: structure, numbers against einsum, bad input.

The fixtures below are JSON as tensor-network-editor 1.1.0 writes it (``save_spec``),
checked in rather than produced at test time because CI does not install that package:
MPS_JSON is its ``mps`` template (3 sites, bond 3, physical 2) verbatim; PEPS_JSON its
``peps_2x2`` template (side 2, bond 3) and HYPER_JSON a network made with its
``NetworkBuilder`` (a 3-way hyperedge plus an edge), both without the layout-only fields
(sizes, leg offsets, metadata) that its loader fills with defaults. When the package is
installed, one more test converts all seven of its templates live.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest

from tensorbench.engine import Network, NetworkError, contract, network_stats
from tensorbench.engine.interop import from_tensor_network_editor

MPS_JSON = """\
{
  "schema_version": 2,
  "network": {
    "id": "template_mps_3",
    "name": "MPS (3 sites)",
    "tensors": [
      {
        "id": "tensor_0",
        "name": "A1",
        "position": {"x": 0.0, "y": 0.0},
        "size": {"width": 180.0, "height": 108.0},
        "indices": [
          {
            "id": "tensor_0_right",
            "name": "right",
            "dimension": 3,
            "offset": {"x": 58.0, "y": 0.0},
            "metadata": {"leg_kind": "bond", "symmetry": "none"}
          },
          {
            "id": "tensor_0_phys",
            "name": "phys",
            "dimension": 2,
            "offset": {"x": 0.0, "y": 28.0},
            "metadata": {"leg_kind": "physical", "symmetry": "none"}
          }
        ],
        "linear_periodic_role": null,
        "grid_periodic_role": null,
        "tree_periodic_role": null,
        "tree_periodic_child_index": null,
        "tensor_data": {"mode": "zeros"},
        "metadata": {"role": "state", "family": "mps", "symmetry": "none", "initial_state": "zeros"}
      },
      {
        "id": "tensor_1",
        "name": "A2",
        "position": {"x": 320.0, "y": 0.0},
        "size": {"width": 180.0, "height": 108.0},
        "indices": [
          {
            "id": "tensor_1_left",
            "name": "left",
            "dimension": 3,
            "offset": {"x": -58.0, "y": 0.0},
            "metadata": {"leg_kind": "bond", "symmetry": "none"}
          },
          {
            "id": "tensor_1_right",
            "name": "right",
            "dimension": 3,
            "offset": {"x": 58.0, "y": 0.0},
            "metadata": {"leg_kind": "bond", "symmetry": "none"}
          },
          {
            "id": "tensor_1_phys",
            "name": "phys",
            "dimension": 2,
            "offset": {"x": 0.0, "y": 28.0},
            "metadata": {"leg_kind": "physical", "symmetry": "none"}
          }
        ],
        "linear_periodic_role": null,
        "grid_periodic_role": null,
        "tree_periodic_role": null,
        "tree_periodic_child_index": null,
        "tensor_data": {"mode": "zeros"},
        "metadata": {"role": "state", "family": "mps", "symmetry": "none", "initial_state": "zeros"}
      },
      {
        "id": "tensor_2",
        "name": "A3",
        "position": {"x": 640.0, "y": 0.0},
        "size": {"width": 180.0, "height": 108.0},
        "indices": [
          {
            "id": "tensor_2_left",
            "name": "left",
            "dimension": 3,
            "offset": {"x": -58.0, "y": 0.0},
            "metadata": {"leg_kind": "bond", "symmetry": "none"}
          },
          {
            "id": "tensor_2_phys",
            "name": "phys",
            "dimension": 2,
            "offset": {"x": 0.0, "y": 28.0},
            "metadata": {"leg_kind": "physical", "symmetry": "none"}
          }
        ],
        "linear_periodic_role": null,
        "grid_periodic_role": null,
        "tree_periodic_role": null,
        "tree_periodic_child_index": null,
        "tensor_data": {"mode": "zeros"},
        "metadata": {"role": "state", "family": "mps", "symmetry": "none", "initial_state": "zeros"}
      }
    ],
    "groups": [],
    "edges": [
      {
        "id": "edge_0_1",
        "name": "edge-0-1",
        "left": {"tensor_id": "tensor_0", "index_id": "tensor_0_right"},
        "right": {"tensor_id": "tensor_1", "index_id": "tensor_1_left"},
        "metadata": {}
      },
      {
        "id": "edge_1_2",
        "name": "edge-1-2",
        "left": {"tensor_id": "tensor_1", "index_id": "tensor_1_right"},
        "right": {"tensor_id": "tensor_2", "index_id": "tensor_2_left"},
        "metadata": {}
      }
    ],
    "hyperedges": [],
    "notes": [],
    "contraction_plan": null,
    "linear_periodic_chain": null,
    "grid_periodic_grid": null,
    "tree_periodic_tree": null,
    "metadata": {
      "template_name": "mps",
      "role": "state",
      "boundary_condition": "open",
      "symmetry": "none",
      "initial_state": "zeros"
    }
  }
}
"""

PEPS_JSON = """\
{
  "schema_version": 2,
  "network": {
    "id": "template_peps_2",
    "name": "PEPS 2x2",
    "tensors": [
      {
        "id": "tensor_a",
        "name": "A",
        "position": {"x": 0.0, "y": 0.0},
        "indices": [
          {"id": "tensor_a_right", "name": "right", "dimension": 3},
          {"id": "tensor_a_down", "name": "down", "dimension": 3},
          {"id": "tensor_a_phys", "name": "phys", "dimension": 2}
        ]
      },
      {
        "id": "tensor_b",
        "name": "B",
        "position": {"x": 340.0, "y": 0.0},
        "indices": [
          {"id": "tensor_b_left", "name": "left", "dimension": 3},
          {"id": "tensor_b_down", "name": "down", "dimension": 3},
          {"id": "tensor_b_phys", "name": "phys", "dimension": 2}
        ]
      },
      {
        "id": "tensor_c",
        "name": "C",
        "position": {"x": 0.0, "y": 280.0},
        "indices": [
          {"id": "tensor_c_right", "name": "right", "dimension": 3},
          {"id": "tensor_c_up", "name": "up", "dimension": 3},
          {"id": "tensor_c_phys", "name": "phys", "dimension": 2}
        ]
      },
      {
        "id": "tensor_d",
        "name": "D",
        "position": {"x": 340.0, "y": 280.0},
        "indices": [
          {"id": "tensor_d_left", "name": "left", "dimension": 3},
          {"id": "tensor_d_up", "name": "up", "dimension": 3},
          {"id": "tensor_d_phys", "name": "phys", "dimension": 2}
        ]
      }
    ],
    "edges": [
      {
        "id": "edge_ab",
        "name": "edge-ab",
        "left": {"tensor_id": "tensor_a", "index_id": "tensor_a_right"},
        "right": {"tensor_id": "tensor_b", "index_id": "tensor_b_left"}
      },
      {
        "id": "edge_cd",
        "name": "edge-cd",
        "left": {"tensor_id": "tensor_c", "index_id": "tensor_c_right"},
        "right": {"tensor_id": "tensor_d", "index_id": "tensor_d_left"}
      },
      {
        "id": "edge_ac",
        "name": "edge-ac",
        "left": {"tensor_id": "tensor_a", "index_id": "tensor_a_down"},
        "right": {"tensor_id": "tensor_c", "index_id": "tensor_c_up"}
      },
      {
        "id": "edge_bd",
        "name": "edge-bd",
        "left": {"tensor_id": "tensor_b", "index_id": "tensor_b_down"},
        "right": {"tensor_id": "tensor_d", "index_id": "tensor_d_up"}
      }
    ],
    "hyperedges": []
  }
}
"""

HYPER_JSON = """\
{
  "schema_version": 2,
  "network": {
    "id": "cp",
    "name": "CP rank 3 + matrix",
    "tensors": [
      {
        "id": "tA",
        "name": "A",
        "position": {"x": 0.0, "y": 0.0},
        "indices": [
          {"id": "A_r", "name": "r", "dimension": 3},
          {"id": "A_i", "name": "i", "dimension": 2}
        ]
      },
      {
        "id": "tB",
        "name": "B",
        "position": {"x": 200.0, "y": 0.0},
        "indices": [
          {"id": "B_r", "name": "r", "dimension": 3},
          {"id": "B_j", "name": "j", "dimension": 4}
        ]
      },
      {
        "id": "tC",
        "name": "C",
        "position": {"x": 100.0, "y": 200.0},
        "indices": [
          {"id": "C_r", "name": "r", "dimension": 3},
          {"id": "C_k", "name": "k", "dimension": 5}
        ]
      },
      {
        "id": "tD",
        "name": "D",
        "position": {"x": 100.0, "y": 400.0},
        "indices": [
          {"id": "D_k", "name": "k", "dimension": 5},
          {"id": "D_l", "name": "l", "dimension": 2}
        ]
      }
    ],
    "edges": [
      {
        "id": "e_cd",
        "name": "k",
        "left": {"tensor_id": "tC", "index_id": "C_k"},
        "right": {"tensor_id": "tD", "index_id": "D_k"}
      }
    ],
    "hyperedges": [
      {
        "id": "h",
        "name": "rank",
        "endpoints": [
          {"tensor_id": "tA", "index_id": "A_r"},
          {"tensor_id": "tB", "index_id": "B_r"},
          {"tensor_id": "tC", "index_id": "C_r"}
        ]
      }
    ]
  }
}
"""

# Flops its `analyze` reports for these documents ("Automatic full", 2 x multiply-adds),
# recorded with tensor-network-editor 1.1.0; ours count the same way (see the benchmark).
ITS_FLOPS = {"mps": 120, "peps": 720, "hyper": 336}
DOCS = {"mps": MPS_JSON, "peps": PEPS_JSON, "hyper": HYPER_JSON}


def load(key: str) -> dict:
    return json.loads(DOCS[key])


# ----------------------------------------------------------------------------- structure


def test_mps_tensors_indices_sizes_and_output():
    net = from_tensor_network_editor(load("mps"))
    assert net.name == "MPS (3 sites)"
    assert [t.name for t in net.tensors] == ["A1", "A2", "A3"]
    # Axis order is the document's; an edge is one index named after the edge.
    assert [t.indices for t in net.tensors] == [
        ("edge-0-1", "A1.phys"),
        ("edge-0-1", "edge-1-2", "A2.phys"),
        ("edge-1-2", "A3.phys"),
    ]
    assert net.sizes == {"edge-0-1": 3, "A1.phys": 2, "edge-1-2": 3, "A2.phys": 2, "A3.phys": 2}
    assert net.output == ("A1.phys", "A2.phys", "A3.phys")  # every open leg, in order
    assert net.bonds == ("edge-0-1", "edge-1-2") and net.hyperedges == ()
    # Canvas 320 px apart -> one unit apart; y up.
    assert [t.pos for t in net.tensors] == [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)]


def test_peps_lattice_and_positions():
    net = from_tensor_network_editor(load("peps"))
    assert [t.name for t in net.tensors] == ["A", "B", "C", "D"]
    assert set(net.bonds) == {"edge-ab", "edge-cd", "edge-ac", "edge-bd"}
    assert net.output == ("A.phys", "B.phys", "C.phys", "D.phys")
    assert all(net.sizes[b] == 3 for b in net.bonds)
    assert net.shape("D") == (3, 3, 2)
    assert {net.tensors[k].name for k in net.neighbors("A")} == {"B", "C"}
    pos = {t.name: t.pos for t in net.tensors}
    # The canvas's y points down, ours up: the second row (C, D) goes below the first.
    assert pos["A"] == (0.0, 0.0)
    assert pos["C"][1] < 0 and pos["C"][0] == 0.0
    assert pos["B"][0] > 0 and pos["B"][1] == 0.0
    assert pos["D"] == (pos["B"][0], pos["C"][1])


def test_hyperedge_becomes_one_shared_summed_index():
    net = from_tensor_network_editor(load("hyper"))
    assert net.hyperedges == ("rank",)
    assert net.tensors_with("rank") == (0, 1, 2)
    assert net.sizes["rank"] == 3
    assert net.bonds == ("k",)
    assert net.output == ("A.i", "B.j", "D.l")


def test_bare_network_object_is_accepted():
    doc = load("mps")
    assert from_tensor_network_editor(doc["network"]) == from_tensor_network_editor(doc)


def test_schema_version_1_is_read():
    doc = load("peps")
    doc["schema_version"] = 1
    del doc["network"]["hyperedges"]  # older documents may lack it
    assert from_tensor_network_editor(doc) == from_tensor_network_editor(load("peps"))


def test_duplicate_and_odd_names_become_unique_valid_names():
    # The editor allows duplicate tensor and edge names (its builder names an edge after
    # its left leg), names with outer spaces, and names longer than ours.
    doc = {
        "schema_version": 2,
        "network": {
            "id": "n",
            "name": "  x" * 40,
            "tensors": [
                {
                    "id": f"t{k}",
                    "name": "T",
                    "position": {"x": 100.0 * k, "y": 0.0},
                    "indices": [
                        {"id": f"t{k}_a", "name": "a", "dimension": 2},
                        {"id": f"t{k}_b", "name": "b", "dimension": 2},
                    ],
                }
                for k in range(3)
            ],
            "edges": [
                {
                    "id": "e0",
                    "name": "b",
                    "left": {"tensor_id": "t0", "index_id": "t0_b"},
                    "right": {"tensor_id": "t1", "index_id": "t1_a"},
                },
                {
                    "id": "e1",
                    "name": "b",
                    "left": {"tensor_id": "t1", "index_id": "t1_b"},
                    "right": {"tensor_id": "t2", "index_id": "t2_a"},
                },
            ],
        },
    }
    net = from_tensor_network_editor(doc)
    assert [t.name for t in net.tensors] == ["t0", "t1", "t2"]  # ids replace shared names
    assert net.bonds == ("e0", "e1")
    assert net.output == ("t0.a", "t2.b")
    assert net.name is not None and len(net.name) <= 64 and net.name == net.name.strip()


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("key", sorted(DOCS))
def test_contraction_equals_dense_einsum(key):
    net = from_tensor_network_editor(load(key))
    arrays = net.random_arrays(seed=3)
    eq, _ = net.to_einsum()
    ref = np.einsum(eq, *[a.numpy() for a in arrays])
    got = contract(net, arrays).numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("key", sorted(DOCS))
def test_our_optimized_flops_are_not_worse_than_its_analyze(key):
    assert network_stats(from_tensor_network_editor(load(key))).optimized.flops <= ITS_FLOPS[key]


# ----------------------------------------------------------------------------- bad input


def _edit(key: str, change) -> dict:
    doc = copy.deepcopy(load(key))
    change(doc["network"])
    return doc


def _set(path, value):
    def change(net):
        *head, last = path
        obj = net
        for p in head:
            obj = obj[p]
        obj[last] = value

    return change


def _tensor_leg(k, a):
    return ("tensors", k, "indices", a)


BAD = [
    ([], "expected a JSON object, got list"),
    ({"schema_version": 3, "network": {}}, "unsupported schema_version 3"),
    ({"schema_version": 2}, "document has no 'network' field"),
    ({"schema_version": 2, "network": []}, "document.network must be an object"),
    (_edit("mps", _set(("tensors",), [])), "network.tensors is empty"),
    (_edit("mps", lambda n: n.pop("tensors")), "network has no 'tensors' field"),
    (_edit("mps", lambda n: n["tensors"][1].pop("id")), "network.tensors[1] has no 'id' field"),
    (_edit("mps", _set(("tensors", 1, "indices"), "abc")), "tensor 'A2'.indices must be a list"),
    (_edit("mps", _set((*_tensor_leg(0, 1), "dimension"), 0)), "leg 'phys'.dimension must be >= 1"),
    (_edit("mps", _set((*_tensor_leg(0, 1), "dimension"), 2.5)), "must be a positive integer"),
    (_edit("mps", _set((*_tensor_leg(0, 1), "dimension"), "2")), "must be a positive integer"),
    (_edit("mps", lambda n: n["tensors"][0]["indices"][1].pop("dimension")), "no 'dimension'"),
    (_edit("mps", _set(("tensors", 2, "id"), "tensor_0")), "tensor id 'tensor_0' is used twice"),
    (_edit("mps", _set((*_tensor_leg(2, 1), "id"), "tensor_0_phys")), "leg id 'tensor_0_phys'"),
    (_edit("mps", _set(("tensors", 0, "position"), {"x": "a"})), "position.x must be a finite"),
    (_edit("mps", _set(("edges", 0, "left", "index_id"), "nope")), "names leg 'nope', which no"),
    (_edit("mps", _set(("edges", 0, "left", "tensor_id"), "tensor_2")), "belongs to tensor"),
    (_edit("mps", lambda n: n["edges"][0].pop("right")), "edge 'edge-0-1' has no 'right' field"),
    (_edit("mps", _set(("edges",), {})), "network.edges must be a list"),
    (
        _edit(
            "mps",
            _set(("edges", 1, "left"), {"tensor_id": "tensor_0", "index_id": "tensor_0_right"}),
        ),
        "leg 'right' is connected twice (again by edge 'edge-1-2')",
    ),
    (
        _edit(
            "mps",
            _set(("edges", 0, "right"), {"tensor_id": "tensor_0", "index_id": "tensor_0_phys"}),
        ),
        "joins two legs of tensor 'A1' (a trace)",
    ),
    (_edit("mps", _set((*_tensor_leg(1, 0), "dimension"), 4)), "joins legs of dimensions [3, 4]"),
    (
        _edit("hyper", lambda n: n["hyperedges"][0]["endpoints"].pop()),
        "hyperedge 'rank' has 2 endpoints; a hyperedge joins at least 3",
    ),
    (
        _edit(
            "hyper", _set(("hyperedges", 0, "endpoints", 2), {"tensor_id": "tC", "index_id": "C_k"})
        ),
        "tensor 'C' leg 'k' is connected twice (again by hyperedge 'rank')",
    ),
    (_edit("mps", _set(("linear_periodic_chain",), {"cells": []})), "linear periodic mode"),
    (_edit("mps", _set(("tree_periodic_tree",), {})), "tree periodic mode"),
]


@pytest.mark.parametrize(("doc", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_documents_raise_one_line_network_errors(doc, message):
    with pytest.raises(NetworkError) as err:
        from_tensor_network_editor(doc)
    text = str(err.value)
    assert message in text
    assert text.startswith("tensor-network-editor document: ")
    assert "\n" not in text


def test_importing_the_converter_needs_neither_the_editor_nor_the_app():
    code = (
        "import sys; import tensorbench.engine.interop; "
        "bad = [m for m in ('tensor_network_editor', 'panel', 'bokeh', 'holoviews') "
        "if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# ----------------------------------------------------------------------------- live


def test_every_template_of_the_installed_editor_converts():
    tne = pytest.importorskip("tensor_network_editor")
    from tensor_network_editor.analysis import analyze_spec
    from tensor_network_editor.io import serialize_spec

    names = tne.list_template_names()
    assert len(names) >= 7
    for name in names:
        spec = tne.build_template_spec(name)
        doc = json.loads(json.dumps(serialize_spec(spec)))
        net = from_tensor_network_editor(doc)
        report = analyze_spec(spec)
        assert isinstance(net, Network)
        assert len(net.tensors) == report.network.tensor_count == len(spec.tensors), name
        assert len(net.output) == report.network.open_index_count, name
        assert len(net.bonds) == report.network.edge_count, name
        for t, ts in zip(net.tensors, spec.tensors, strict=True):
            assert net.shape(t) == ts.shape, (name, t.name)
        its = report.contraction.automatic_full
        assert its.status == "complete", (name, its.message)
        assert network_stats(net).optimized.flops <= its.summary.total_estimated_flops, name
        arrays = net.random_arrays(seed=0)
        eq, _ = net.to_einsum()
        ref = np.einsum(eq, *[a.numpy() for a in arrays], optimize="greedy")
        np.testing.assert_allclose(contract(net, arrays).numpy(), ref, rtol=1e-10, atol=1e-12)
