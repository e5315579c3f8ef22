"""The Network page without a browser: state, forms, run panel, diagram geometry."""

from __future__ import annotations

import json

import holoviews as hv
import panel as pn
import pytest
from tb_testing import upload

from tensorbench.app.demos import demo_names, load_demo
from tensorbench.app.pages.network import NetworkPage
from tensorbench.app.server import create_app
from tensorbench.engine import TEMPLATES, Network, build_template
from tensorbench.widgets.network_state import CUSTOM, NetworkState, default_config
from tensorbench.widgets.network_view import bond_width, diagram_geometry, network_diagram
from tensorbench.widgets.plots import contraction_tree, stats_rows, step_costs

hv.extension("bokeh", logo=False)


def test_default_is_the_shipped_mps_demo():
    assert default_config() == load_demo("mps")
    state = NetworkState()
    assert state.template == "mps" and state.stats.params == 3136


def test_template_edits_update_config_and_stats():
    page = NetworkPage()
    before = page.state.stats.optimized.flops
    _p, sites = page.template_form._widgets["sites"]
    sites.value = 12
    assert page.state.config.network.name == "MPS 12 sites, bond 16, phys 2"
    assert page.state.stats.optimized.flops > before
    assert json.loads(page.json_editor.value)["network"]["name"] == "MPS 12 sites, bond 16, phys 2"
    assert "MPS 12 sites" in page.script_view.object


def test_switching_templates_builds_their_fields():
    page = NetworkPage()
    page.template_form._select.value = "tucker"
    assert set(page.template_form._widgets) == {"dims", "ranks"}
    assert page.state.config.network.name.startswith("Tucker")
    _p, ranks = page.template_form._widgets["ranks"]
    ranks.value = "2, 3, 4, 5"
    assert page.state.config.network.sizes["r3"] == 5


def test_the_template_list_names_each_template_once():
    # 'ht' beside 'hierarchical_tucker' read as two templates
    page = NetworkPage()
    options = page.template_form._select.options
    assert "hierarchical_tucker" in options and "ht" not in options
    assert "peps_2x2" in options  # a preset, not another name for the same thing
    page.state.apply_template("ht", {})  # the short name still works, and shows
    assert page.template_form._select.value == "ht"


def test_bad_edits_keep_the_work_and_say_why():
    page = NetworkPage()
    page.template_form._select.value = "tucker"
    page.template_form._widgets["ranks"][1].value = "2, 2, 2, 2"
    good = page.state.config
    _p, dims = page.template_form._widgets["dims"]
    dims.value = "4, x, 4"
    assert "could not read '4, x, 4'" in page.state.error
    assert page.state.config == good
    assert page.alert.visible and "could not read" in page.alert.object
    dims.value = "4, 4, 4"  # three modes but four ranks
    assert "expected 3 values" in page.state.error and page.state.config == good
    dims.value = "4, 4, 4, 4"
    assert page.state.error == "" and not page.alert.visible


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not a UTF-8 text file"),
        (
            json.dumps(
                {"task": {"kind": "contract"}, "network": {"tensors": [], "sizes": {}}}
            ).encode(),
            "empty",
        ),
        (json.dumps({"task": {"kind": "nope"}}).encode(), "unknown task 'nope'"),
        (b"[" * 50_000, "bad.json"),
    ],
)
def test_bad_uploads_leave_the_config_alone(data, match):
    page = NetworkPage()
    before = page.state.config
    upload(page.upload, data, "bad.json")
    assert match in page.state.error
    assert page.state.config == before
    assert "Traceback" not in page.alert.object


def test_uploads_and_pasted_json_replace_the_config():
    page = NetworkPage()
    cfg = load_demo("peps_4x4")
    upload(page.upload, cfg.to_json().encode(), "peps.json")
    assert page.state.error == ""
    assert page.state.config == cfg
    assert page.state.template == CUSTOM and page.template_form._select.value == CUSTOM
    # a bare network document gets the current task
    net = build_template("cp", dims=[3, 4], rank=2)
    page.json_editor.value = net.to_json()
    page.apply_json.clicks += 1
    assert page.state.config.network == net and page.state.config.kind == "contract"


def test_examples_open():
    page = NetworkPage()
    for name in demo_names():
        page.examples.value = name
        assert page.state.error == ""
        assert page.state.config == load_demo(name)


def test_run_settings_validate_and_sync():
    page = NetworkPage()
    rs = page.run_settings
    rs._widgets["dtype"][1].value = "complex64"
    assert page.state.config.task["dtype"] == "complex64"
    assert page.state.stats.optimized.flops == 2 * default_config().network.stats().optimized.flops
    rs._seed.value = 9
    assert page.state.config.seed == 9
    upload(page.upload, load_demo("cp").to_json().encode(), "c.json")
    assert rs._widgets["dtype"][1].value == "float64" and rs._seed.value == 0


def test_run_panel_runs_off_the_event_loop_and_shows_the_summary():
    page = NetworkPage()
    page.run_panel.start()
    page.run_panel.wait(120)
    assert page.run_panel.error == ""
    assert page.run_panel.result is not None and page.run_panel.result.status == "ok"
    assert "value: shape (2, 2, 2, 2, 2, 2, 2, 2)" in page.run_panel.summary_pane.object
    assert not page.run_panel.running
    assert isinstance(page.result_area.objects[0].object, hv.Layout)


def test_a_result_of_an_earlier_network_is_marked_as_such():
    # After an edit or an import the Result tab went on showing the old run unmarked
    page = NetworkPage()
    assert not page.stale_note.visible
    page.run_panel.start()
    page.run_panel.wait(120)
    assert page.run_panel.result.status == "ok" and not page.stale_note.visible
    t = page.state.network.tensors[0].name
    assert page.state.add_legs([t])
    assert (
        page.stale_note.visible
        and "from earlier settings: the network changed since" in page.stale_note.object
    )
    page.state.undo()  # the network that was run: the result is its own again
    assert not page.stale_note.visible
    page.state.add_legs([t])
    page.run_panel.start()
    page.run_panel.wait(120)
    assert not page.stale_note.visible  # the new run's result replaced the old one


def test_run_errors_are_messages():
    # a 48-site MPS with every leg open: 2^48 entries out, refused in the run's worker
    page = NetworkPage()
    assert page.state.replace_network(build_template("mps", sites=48, bond=2, phys=2))
    page.run_panel.start()
    page.run_panel.wait(60)
    assert "needs about 4.0 PiB" in page.run_panel.error
    assert page.run_panel._alert.visible
    # where the result goes too (the alert sat below the window's edge), and no bar
    # left standing part-filled
    assert "The run failed: this contraction needs about 4.0 PiB" in (
        page.run_panel.summary_pane.object
    )
    assert not page.run_panel._progress.visible
    page.state.clear()  # a failure of the network now gone is no news (it stayed on)
    assert page.run_panel.error == "" and page.run_panel.summary_pane.object == ""
    page.state.undo()
    page.run_panel.start()
    page.run_panel.wait(60)
    assert "needs about 4.0 PiB" in page.run_panel.error
    page.state.replace_network(build_template("mps", sites=4, bond=2, phys=2))
    assert "failed" not in page.run_panel.summary_pane.object
    page.run_panel.start()
    assert "failed" not in page.run_panel.summary_pane.object  # not news during the new run
    page.run_panel.wait(60)
    assert "tb-summary" in page.run_panel.summary_pane.object


def test_sessions_do_not_share_state():
    a, b = NetworkPage(), NetworkPage()
    a.template_form._widgets["sites"][1].value = 5
    assert b.state.config.network.name == "MPS 8 sites, bond 16, phys 2"
    t1, t2 = create_app(), create_app()
    assert t1 is not t2


def test_data_plots_leave_the_wheel_to_the_page_but_the_diagram_zooms():
    create_app()  # sets the app's plot defaults
    render = hv.renderer("bokeh").get_plot
    curve = render(hv.Curve([1, 2, 3]) * hv.Scatter([1, 2, 3])).state.toolbar
    assert curve.active_scroll in ("auto", None)
    diagram = render(network_diagram(build_template("mps"))).state.toolbar
    assert type(diagram.active_scroll).__name__ == "WheelZoomTool"


def test_einsum_import_keeps_the_letters_and_refuses_conflicting_sizes():
    page = NetworkPage()
    imp = page.einsum_import
    imp.equation.value, imp.sizes.value = "ij,jk,kl->il", "i=4, j=8, k=2, l=3"
    assert imp.apply()
    net = page.state.config.network
    assert net.to_einsum()[0] == "ij,jk,kl->il" and net.sizes["j"] == 8
    # j given twice with different sizes: refused, the drawing stays as it was
    imp.equation.value, imp.sizes.value = "ij,jk->ik", "i=4, j=8, j=3, k=2"
    assert not imp.apply()
    assert "j is given twice, as 8 and 3" in page.state.error
    assert page.state.config.network == net


def test_stats_card_rows():
    rows = dict((k, v) for k, _label, v in stats_rows(default_config().network.stats()))
    assert rows["params"] == "3136"
    assert rows["flops"] == "3.686e+04"
    assert rows["tensors"] == "8 (7 bonds, 8 open, 0 hyper)"
    two = build_template("mps", sites=2).stats()
    assert dict((k, v) for k, _l, v in stats_rows(two))["tensors"].startswith("2 (1 bond, ")
    ring = build_template("tensor_ring", dims=[3, 3, 3], ranks=2)
    closed = Network(ring.tensors, ring.sizes, ()).stats()  # a number: nothing compressed
    assert dict((k, v) for k, _l, v in stats_rows(closed))["compression"] == "none (no open legs)"
    # one tensor: nothing to contract, not "0 (0x)"
    one = Network.from_einsum("ab->ab", {"a": 2, "b": 3}).stats()
    assert dict((k, v) for k, _l, v in stats_rows(one))["naive_flops"] == "0"


# ----------------------------------------------------------------------------- diagram


def test_geometry_draws_every_index_once():
    net = build_template("cp", dims=[3, 4, 5], rank=2, weights=True)
    geo = diagram_geometry(net)
    assert len(geo.nodes) == 4
    assert len(geo.hubs) == 1 and geo.hubs[0]["degree"] == 4
    assert sum(e["kind"] == "hyper" for e in geo.edges) == 4
    assert sorted(le["index"] for le in geo.leg_ends) == ["i0", "i1", "i2"]
    assert any(lab["text"] == "r=2" for lab in geo.labels)


def test_bonds_are_labelled_and_widths_grow_with_log_dimension():
    net = build_template("tensor_train", dims=[2, 2, 2], ranks=[2, 64])
    geo = diagram_geometry(net)
    widths = {e["index"]: e["width"] for e in geo.edges if e["kind"] == "bond"}
    assert widths["r1"] > widths["r0"]
    assert bond_width(64) - bond_width(2) == pytest.approx(1.2 * 5)
    assert {lab["text"] for lab in geo.labels if lab["kind"] == "bond"} == {"2", "64"}


def test_parallel_bonds_are_drawn_apart():
    net = build_template("mps", sites=2, bond=3, periodic=True)
    geo = diagram_geometry(net)
    ys = sorted(e["y0"] for e in geo.edges if e["kind"] == "bond")
    assert ys[0] != ys[1]


def test_open_legs_point_away_from_bonds():
    geo = diagram_geometry(build_template("mps", sites=5))
    for leg in geo.leg_ends:
        assert leg["y"] < 0  # physical legs hang below the chain


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_renders_with_bokeh(name):
    net = build_template(name)
    plot = hv.render(network_diagram(net), backend="bokeh")
    assert plot is not None


def test_networks_without_positions_and_summed_legs_render():
    from tensorbench.engine import Network, Tensor

    net = Network(
        [Tensor("A", ("i", "a", "z")), Tensor("B", ("a", "j"))],
        {"i": 2, "a": 3, "z": 4, "j": 2},
        ["i", "j"],
    )
    geo = diagram_geometry(net)
    assert {le["kind"] for le in geo.leg_ends} == {"open", "summed"}
    hv.render(network_diagram(net), backend="bokeh")


def test_tree_and_cost_plots_render_steps_beyond_int64():
    # a step of 2**70 entries: Python ints this large made HoloViews' range code raise
    from tensorbench.engine import Network, Tensor

    dims = {"i": 2**30, "a": 2, "j": 2**30, "b": 2, "k": 2**30}
    net = Network(
        [Tensor("A", ("i", "a")), Tensor("B", ("a", "j", "b")), Tensor("C", ("b", "k"))],
        dims,
        ["i", "j", "k"],
    )
    stats = net.stats()
    assert max(s.size for s in stats.optimized.steps) > 2**63
    names = [t.name for t in net.tensors]
    for plot in (contraction_tree(stats, names), step_costs(stats)):
        assert hv.render(plot, backend="bokeh") is not None


# ----------------------------------------------------------------------------- background work


def test_background_stats_keep_only_the_newest_request():
    state = NetworkState(sync=False)
    assert state.wait(60)
    # a slow request (hundreds of tensors) then a fast one: only the fast one lands
    state.apply_template("peps", {"rows": 20, "cols": 20, "bond": 2, "phys": 2})
    state.apply_template("mps", {"sites": 5, "bond": 3, "phys": 2})
    assert state.computing
    assert state.wait(120)
    assert not state.computing
    assert state.config.network.name == "MPS 5 sites, bond 3, phys 2"
    assert state.stats.num_tensors == 5  # not the 400-tensor PEPS


def test_background_stats_of_huge_networks_are_numbers_or_messages():
    state = NetworkState(sync=False)
    state.apply_template("peps", {"rows": 32, "cols": 32, "bond": 3, "phys": 2})
    assert state.wait(300)
    assert state.config.network.name.startswith("PEPS 32x32")
    if state.error:  # pure-Python cotengra scores paths in floats and overflows
        assert "overflow floating point" in state.error and state.stats is None
    else:  # cotengrust keeps going; our costs are exact ints
        assert state.stats.optimized.flops > 2**1024


def test_closing_the_session_cancels_its_run():
    page = NetworkPage()
    page.run_settings._widgets["repeats"][1].value = 1000
    page.template_form._widgets["bond"][1].value = 64  # seconds per contraction
    page.run_panel.start()
    page.run_panel._session_closed(None)  # what Panel calls when the tab goes away
    page.run_panel.wait(120)
    assert page.run_panel.result.status == "cancelled"


def test_background_stats_errors_become_messages():
    state = NetworkState(sync=False)
    state.apply_template("peps", {"rows": 5, "cols": 5, "bond": 3, "phys": 2})
    state.update_run_settings(optimize="optimal")
    assert state.wait(120)
    assert "too hard for this network" in state.error and state.stats is None
    assert state.config.task["optimize"] == "optimal"  # the setting is kept, the error shown


def test_tensor_network_editor_documents_open_in_the_page():
    doc = {
        "schema_version": 2,
        "network": {
            "id": "n",
            "name": "pair",
            "tensors": [
                {
                    "id": "t0",
                    "name": "A",
                    "position": {"x": 0, "y": 0},
                    "indices": [
                        {"id": "t0_r", "name": "r", "dimension": 3},
                        {"id": "t0_p", "name": "p", "dimension": 2},
                    ],
                },
                {
                    "id": "t1",
                    "name": "B",
                    "position": {"x": 320, "y": 0},
                    "indices": [{"id": "t1_l", "name": "l", "dimension": 3}],
                },
            ],
            "edges": [
                {
                    "id": "e",
                    "name": "bond",
                    "left": {"tensor_id": "t0", "index_id": "t0_r"},
                    "right": {"tensor_id": "t1", "index_id": "t1_l"},
                }
            ],
            "hyperedges": [],
        },
    }
    page = NetworkPage()
    upload(page.upload, json.dumps(doc).encode(), "pair.json")
    assert page.state.error == ""
    net = page.state.network
    assert [t.name for t in net.tensors] == ["A", "B"] and len(net.bonds) == 1
    assert page.state.stats.params == 2 * 3 + 3


def test_time_per_step_ticks_whole_steps():
    # with three steps the default ticker labelled 1, 1.5, 2, 2.5, 3
    from bokeh.models import BasicTicker

    from tensorbench.engine import load_config, run
    from tensorbench.widgets.plots import step_plot

    net = build_template("mps", sites=4, bond=2, phys=2)
    cfg = load_config({"network": net.to_dict(), "task": {"kind": "contract"}, "device": "cpu"})
    layout = hv.render(step_plot(run(cfg)), backend="bokeh")
    bars = next(f for f in layout.children if "time per step" in f[0].title.text)[0]
    ticker = bars.xaxis[0].ticker
    assert isinstance(ticker, BasicTicker) and ticker.min_interval == 1


def test_a_template_title_goes_with_its_structure():
    # After Clear (or adding a tensor), exported scripts were still titled "MPS 8 sites,
    # bond 16, phys 2".
    st = NetworkState(sync=True)
    title = st.config.name
    assert title and title == st.network.name
    first = st.network.tensors[0].name
    assert st.edit_network(lambda net: net.with_positions({first: (5.0, 5.0)}))
    assert st.config.name == title  # moved, still the template's network
    assert st.add_tensor((9.0, 9.0))
    assert st.config.name is None and not st.network.name
    assert "MPS" not in st.config.to_json().split('"tensors"')[0]
    assert st.undo() and st.config.name == title
    assert st.clear() and st.config.name is None
    # a loaded config keeps its own name through edits
    loaded = NetworkState(st_config := default_config().replace(name="my ring"), sync=True)
    assert st_config.name == "my ring"
    assert loaded.add_tensor((1.0, 1.0)) and loaded.config.name == "my ring"


def test_a_config_of_another_kind_uploaded_here_opens_on_its_page():
    # An attention config uploaded on the Network page emptied the canvas in silence (it
    # has no network); it now opens on the Attention page, and the drawing stays.

    from tensorbench.engine import load_config
    from tensorbench.widgets.forms import IntBox

    app = create_app()
    nav, side = app.sidebar[0], app.sidebar[1]
    assert nav.value == "network"
    picker = next(w for w in side.select(pn.widgets.FileInput) if "json" in w.accept)
    cfg = load_config({"task": {"kind": "attention", "n": 256, "methods": [{"method": "exact"}]}})
    upload(picker, cfg.to_json().encode(), "attn.json")
    assert nav.value == "attention"
    widgets = [*app.main[0].select(IntBox), *side.select(IntBox)]
    n_box = next(w for w in widgets if w.name == "sequence length n")
    assert n_box.value == 256
    # the Network page kept its drawing, with no error
    nav.value = "network"
    html = " ".join(str(p.object) for p in app.main[0].select(pn.pane.HTML))
    assert "3136" in html


def test_a_network_state_without_a_router_refuses_other_kinds():
    from tensorbench.engine import load_config

    state = NetworkState()
    before = state.config
    cfg = load_config({"task": {"kind": "decompose"}, "device": "cpu"})
    assert not state.load_text(cfg.to_json(), "dec.json")
    assert "a 'decompose' config runs on another page" in state.error
    assert state.config == before


def test_an_example_name_or_an_old_title_does_not_follow_a_new_network():
    # After opening the CP example, an einsum import was exported as "CP (20, 30, 40)
    # rank 6"; and an edit of the example's structure kept that title too.
    page = NetworkPage()
    page.examples.value = "cp"
    assert page.state.config.name == load_demo("cp").name
    imp = page.einsum_import
    imp.equation.value, imp.sizes.value = "ab,bc->ac", "a=3, b=4, c=5"
    assert imp.apply()
    assert page.state.config.name is None
    assert "CP (" not in page.state.script()
    page.examples.value = "mps"
    assert page.state.config.name == load_demo("mps").name
    t = page.state.network.tensors[0].name
    assert page.state.add_legs([t])
    assert page.state.config.name is None
    # a user's own config keeps its name through edits
    cfg = load_demo("mps").replace(name="my experiment")
    assert page.state.load_text(cfg.to_json(), "mine.json")
    assert page.state.add_legs([t])
    assert page.state.config.name == "my experiment"


def test_a_refused_template_value_is_put_back_and_later_edits_apply():
    # A refused 1000 sites stayed in its box beside the 8-site drawing, and the next,
    # valid, edit (bond 4) was refused for it too.
    page = NetworkPage()
    fields = page.template_form._widgets
    before = page.state.config.network
    fields["sites"][1].value = 1000
    assert "sites" in page.state.error and page.state.config.network == before
    assert fields["sites"][1].value == 8
    fields["bond"][1].value = 4
    assert page.state.config.network.sizes["b0"] == 4
    assert page.state.template_args["sites"] == 8


def test_a_run_without_timed_steps_says_why_in_words():
    # A cancelled run drew an empty 0..1 frame whose caption was cut at its edge
    import threading

    from tensorbench.engine import run

    page = NetworkPage()
    cancel = threading.Event()
    cancel.set()
    result = run(page.state.config, cancel=cancel)
    assert result.status == "cancelled"
    page._show_result(result)
    (only,) = page.result_area.objects
    assert isinstance(only, pn.pane.Markdown)
    assert "cancelled before its steps were timed" in only.object


def test_the_exported_script_names_the_file_it_is_downloaded_as():
    page = NetworkPage()
    panel = page.export_panel
    panel.target.value = "script"
    panel.active = True
    assert panel.download.filename == "tensorbench_run.py"
    assert "python tensorbench_run.py" in panel._data()


def test_a_disabled_cancel_is_plain_grey_and_coloured_while_it_can_cancel():
    # a disabled tan "Cancel" looked as clickable as an enabled one
    page = NetworkPage()
    button = page.run_panel._cancel_button
    assert button.disabled and button.button_type == "default"
    page.run_panel.running = True  # what start() sets (a real run may end at once)
    assert not button.disabled and button.button_type == "warning"
    page.run_panel.running = False
    assert button.disabled and button.button_type == "default"


def test_the_example_list_names_an_example_only_while_it_is_on_the_canvas():
    page = NetworkPage()
    page.examples.value = "tensor_ring"
    assert page.examples.value == "tensor_ring"
    t = page.state.network.tensors[0].name
    assert page.state.add_legs([t])
    assert page.examples.value == ""
    page.examples.value = "tensor_ring"  # and choosing it again opens it again
    assert page.state.config.network == load_demo("tensor_ring").network


def test_an_export_that_cannot_be_made_cannot_be_downloaded():
    # numpy's einsum takes 52 indices: the page said so and Download saved an empty file
    page = NetworkPage()
    panel = page.export_panel
    panel.active = True
    panel.target.value = "numpy"
    assert not panel.download.disabled
    page.state.replace_network(build_template("mps", sites=30, bond=2, phys=2))
    assert "52" in panel.notes.object
    assert panel.download.disabled
    page.state.replace_network(build_template("mps", sites=4, bond=2, phys=2))
    assert not panel.download.disabled


def test_the_same_file_again_reloads_it_and_an_empty_file_is_refused_aloud():
    # the browser sends nothing for the file its input already holds (so the input is
    # cleared after each), and an empty file as no content at all (it was skipped)
    page = NetworkPage()
    cfg = load_demo("cp")
    upload(page.upload, cfg.to_json().encode(), "cp.json")
    assert page.state.config == cfg
    assert page.upload.value is None and page.upload.filename is None  # ready for the next
    page.state.add_tensor((0.0, 0.0))
    assert page.state.config != cfg
    upload(page.upload, cfg.to_json().encode(), "cp.json")
    assert page.state.config == cfg
    page.upload.param.update(value=None, filename="empty.json")  # what an empty file sends
    assert "empty.json" in page.state.error and "empty" in page.state.error.split(":", 1)[1]
    assert page.state.config == cfg
