"""The editor without a browser: canvas messages drive the state; undo; canvas drawing data."""

from __future__ import annotations

from tensorbench.app.pages.network import NetworkPage
from tensorbench.engine import build_template
from tensorbench.widgets.network_editor import SCALE, canvas_graph


def draw_chain(page: NetworkPage) -> None:
    ed = page.editor
    ed.clear()
    for x in (0, 100, 200):
        ed.handle({"type": "add_tensor", "x": x, "y": 0})
    ed.handle(
        {
            "type": "connect",
            "a": {"tensor": "T0", "index": None},
            "b": {"tensor": "T1", "index": None},
        }
    )
    ed.handle(
        {
            "type": "connect",
            "a": {"tensor": "T1", "index": None},
            "b": {"tensor": "T2", "index": None},
        }
    )


def test_canvas_messages_draw_a_chain_with_live_stats():
    page = NetworkPage()
    draw_chain(page)
    s = page.state
    assert s.network.bonds == ("b0", "b1") and s.stats.params == 8
    s.select([], ["b0"])
    s.set_size("b0", 3)
    assert s.stats.params == 11
    assert "a,ab,b-&gt;" in page.editor.einsum.object
    assert "tb-einsum-note" not in page.editor.einsum.object
    assert s.template == "(custom network)"
    assert page.editor.canvas.graph["tensors"][1]["x"] == 100.0


def test_moves_undo_redo_and_clear():
    page = NetworkPage()
    draw_chain(page)
    ed, s = page.editor, page.state
    ed.handle({"type": "move", "positions": {"T2": [200, 90]}})
    assert s.network.tensor("T2").pos == (200 / SCALE, -90 / SCALE)
    ed.handle({"type": "undo"})
    assert s.network.tensor("T2").pos == (200 / SCALE, 0.0)
    ed.handle({"type": "redo"})
    assert s.network.tensor("T2").pos[1] == -1.0
    ed.clear()
    assert s.network is None and s.stats is None
    ed.handle({"type": "undo"})
    assert len(s.network.tensors) == 3


def test_refused_gestures_say_why_and_keep_the_drawing():
    page = NetworkPage()
    draw_chain(page)
    before = page.state.network
    page.editor.handle(
        {
            "type": "connect",
            "a": {"tensor": "T0", "index": None},
            "b": {"tensor": "T0", "index": None},
        }
    )
    assert "cannot be connected to itself" in page.state.error
    assert page.state.network == before
    page.state.select(["T1"], [])
    page.editor.handle({"type": "shortcut", "key": "c"})
    assert "exactly two tensors" in page.state.error


def test_shortcuts_and_selection_panel():
    page = NetworkPage()
    draw_chain(page)
    ed, s = page.editor, page.state
    ed.handle({"type": "select", "tensors": ["T0", "T1", "T2"], "indices": []})
    ed.handle({"type": "shortcut", "key": "h"})
    assert s.network.hyperedges == ("h0",)
    ed.handle({"type": "select", "tensors": ["T1"], "indices": []})
    ed.handle({"type": "shortcut", "key": "l"})
    assert s.network.open_indices == ("i0",)
    labels = [
        getattr(o, "label", "") for row in ed.side.objects for o in getattr(row, "objects", [row])
    ]
    assert any(str(lab).startswith("0: b0") for lab in labels)
    ed.handle({"type": "delete"})
    assert [t.name for t in s.network.tensors] == ["T0", "T2"]


def test_the_largest_intermediate_is_highlighted():
    page = NetworkPage()  # the default MPS
    assert page.editor.hot and set(page.editor.hot) <= {t.name for t in page.state.network.tensors}
    assert page.editor.canvas.graph["hot"] == page.editor.hot


def test_canvas_graph_describes_legs_in_axis_order():
    net = build_template("cp", dims=[3, 4, 5], rank=2, weights=True)
    g = canvas_graph(net)
    u0 = next(t for t in g["tensors"] if t["id"] == "U0")
    assert [(leg["order"], leg["index"], leg["kind"]) for leg in u0["legs"]] == [
        (0, "i0", "open"),
        (1, "r", "hyper"),
    ]
    assert next(b for b in g["bonds"] if b["index"] == "r")["tensors"] == [
        "U0",
        "U1",
        "U2",
        "lambda",
    ]
    two = canvas_graph(build_template("mps", sites=2, periodic=True))
    assert sorted(b["offset"] for b in two["bonds"]) == [-0.5, 0.5]
    assert canvas_graph(None)["tensors"] == []


def test_a_replaced_network_is_fitted_into_view_and_canvas_edits_are_not():
    # By tensor names alone, a 3-tensor einsum import after a 4-tensor one (T0..T2 after
    # T0..T3) looked like one deleted tensor, and the triangle was drawn half off-canvas.
    page = NetworkPage()
    ed, s = page.editor, page.state
    s.wait()
    fits: list[bool] = []  # every drawing sent (stats arriving later redraw without a fit)
    ed.canvas.param.watch(lambda e: fits.append(e.new["fit"]), "graph")

    def fitted(action) -> bool:
        fits.clear()
        assert action(), s.error
        s.wait()
        return any(fits)

    imp = page.einsum_import
    for eq, sizes in (
        ("ij,jk,kl,lm->im", "i=2,j=8,k=8,l=8,m=2"),
        ("abc,cde,efa->bdf", "a=4,b=3,c=4,d=3,e=4,f=3"),
    ):
        imp.equation.value, imp.sizes.value = eq, sizes
        assert fitted(imp.apply)
    assert not fitted(lambda: s.add_tensor((0.0, 0.0)))  # an edit on the canvas: view kept
    assert fitted(lambda: s.replace_network(build_template("mps", sites=3, bond=2, phys=2)))


def _side_widgets(ed, label):
    out = []
    for row in ed.side.objects:
        for o in getattr(row, "objects", [row]):
            if getattr(o, "label", None) == label:
                out.append(o)
    return out


def test_a_refused_rename_or_size_shows_the_value_in_force_again():
    """The box must not keep text the network refused: it would read as done."""
    page = NetworkPage()
    draw_chain(page)
    ed, s = page.editor, page.state
    s.select(["T0"], [])
    (box,) = _side_widgets(ed, "tensor name")
    box.value = "T1"  # taken
    assert "T1" in s.error and [t.name for t in s.network.tensors] == ["T0", "T1", "T2"]
    assert box.value == "T0"
    s.select([], ["b0"])
    (name,) = _side_widgets(ed, "index name")
    name.value = "b1"  # taken
    assert s.network.bonds == ("b0", "b1") and name.value == "b0"
    (size,) = _side_widgets(ed, "size (dimension)")
    size.value = None  # a cleared number box
    assert "whole number" in s.error and size.value == s.network.sizes["b0"] == 2
    s.error = ""
    size.value = 5  # an accepted edit stays
    assert s.network.sizes["b0"] == 5 and not s.error


def test_an_einsum_past_52_indices_says_which_einsums_take_it():
    # a 30-site MPS has 59 indices: its string leaves a-z, A-Z, and numpy.einsum and
    # torch.einsum refuse it as copied
    page = NetworkPage()
    page.state.replace_network(build_template("mps", sites=30, bond=2, phys=2))
    assert "numpy.einsum and torch.einsum take only those 52" in page.editor.einsum.object
