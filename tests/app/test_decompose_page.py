"""The Decompose page without a browser: forms, runs per method, cancel, images, export."""

from __future__ import annotations

import json
import tempfile

import holoviews as hv
import panel as pn
import pytest
from tb_testing import upload

from tensorbench.app.pages.decompose import DecomposePage, error_curves, results_table
from tensorbench.engine import TensorbenchError, load_config, run
from tensorbench.widgets.multirun import any_active

hv.extension("bokeh", logo=False)

SMALL = {
    "kind": "synthetic",
    "template": "tensor_train",
    "args": {"dims": [8, 9, 10], "ranks": [2, 3]},
    "noise": 0.01,
    "seed": 2,
}


def page_with(methods) -> DecomposePage:
    cfg = load_config(
        {"task": {"kind": "decompose", "data": SMALL, "methods": methods}, "device": "cpu"}
    )
    return DecomposePage(cfg)


def test_runs_go_side_by_side_and_match_a_sequential_run():
    page = page_with(
        [{"method": "tt_svd", "ranks": [2, 3]}, {"method": "hooi", "ranks": [2, 6, 3]}]
    )
    page.start()
    page.state.wait(120)
    page._refresh(force=True)
    snap = page.state.snapshot()
    assert [r["status"] for r in snap] == ["ok", "ok"]
    assert all(r["records"] for r in snap)
    assert isinstance(error_curves(snap), hv.Layout)
    table = results_table(snap)
    assert "tt_svd" in table and "hooi" in table
    # a finished run's status line says what its table row says
    for r in snap:
        final = r["result"].metrics["runs"][0]
        status = page.rows._rows[r["label"]][1].object
        assert f"iteration {final['iterations']} · error {final['rel_error']:.4g}" in status
        assert f"<td>{final['iterations']}</td>" in table
    # the exported config, run at once, gives the same final errors
    sequential = run(page.state.config)
    for r in snap:
        mine = r["result"].metrics["runs"][0]["rel_error"]
        theirs = next(x for x in sequential.metrics["runs"] if x["label"] == r["label"])
        assert f"{mine:.6e}" == f"{theirs['rel_error']:.6e}"


def test_one_run_can_be_cancelled_while_others_finish():
    from tensorbench.engine import build_template

    page = page_with([{"method": "tt_svd", "ranks": [2, 3]}])
    net = build_template("tensor_train", dims=[8, 9, 10], ranks=[2, 3])
    page.state.set_network(net)
    assert [m["method"] for m in page.state.config.task["methods"]] == ["tt_svd", "network_als"]
    page.state.set_network(None)  # no network: no network_als (it would have none to fit)
    assert [m["method"] for m in page.state.config.task["methods"]] == ["tt_svd"]
    page.state.set_network(net)
    page.state.set_methods(
        [
            {"method": "tt_svd", "ranks": [2, 3]},
            {"method": "network_als", "max_iter": 100000, "tol": 0.0},
        ]
    )
    page._sync_widgets()  # Run reads the boxes: they show what the state was given
    page.start()
    page.state.cancel("network_als")
    page.state.wait(120)
    status = {r["label"]: r["status"] for r in page.state.snapshot()}
    assert status == {"tt_svd": "ok", "network_als": "cancelled"}


def test_forms_edit_the_config_and_refuse_bad_values():
    page = page_with([{"method": "tt_svd", "ranks": [2, 3]}])
    page.methods.value = ["tt_svd", "hosvd"]
    assert [m["method"] for m in page.state.config.task["methods"]] == ["tt_svd", "hosvd"]
    form = page.method_form.forms["tt_svd"]
    form.widgets["ranks"].value = "2, x"
    assert "could not read" in page.state.error
    page.data_kind.value = "image"
    assert page.state.config.task["data"]["kind"] == "image"
    upload(page.upload, b"{", "bad.json")
    assert "not valid JSON" in page.state.error
    good = json.dumps(
        load_config(
            {"task": {"kind": "decompose", "data": SMALL, "methods": [{"method": "hooi"}]}}
        ).to_dict()
    )
    upload(page.upload, good.encode(), "upload.json")
    assert page.methods.value == ["hooi"]


def test_image_data_shows_original_and_reconstructions():
    cfg = load_config(
        {
            "task": {
                "kind": "decompose",
                "data": {"kind": "image", "image": "camera", "crop": [64, 64]},
                "methods": [{"method": "hosvd", "ranks": [8, 8]}],
            },
            "device": "cpu",
        }
    )
    page = DecomposePage(cfg)
    page.start()
    page.state.wait(120)
    page._refresh(force=True)
    page.images.objects = page._image_panes(page.state.snapshot())
    titles = [p.object.opts.get().kwargs.get("title") for p in page.images.objects[0]]
    assert titles == ["original", "hosvd"]
    assert page.images.objects[0].flex_wrap == "wrap"  # many methods: rows of images
    # the original is the data that was run, not what the sidebar shows now (the moon
    # was drawn beside the camera's reconstructions)
    original = page.images.objects[0][0].object.data
    page.state.set_data({"kind": "image", "image": "moon", "crop": [64, 64]})
    panes = page._image_panes(page.state.snapshot())
    assert (panes[0][0].object.data == original).all().all()
    page.state.set_data({"kind": "synthetic"})  # not an image: the run's images stay
    assert len(page._image_panes(page.state.snapshot())[0]) == 2


def test_network_page_hands_its_drawing_to_the_decompose_page():
    from tensorbench.app.server import create_app

    tmpl = create_app()
    nav, side = tmpl.sidebar[0], tmpl.sidebar[1]
    assert nav.value == "network"
    send = next(
        o
        for o in side.objects
        if isinstance(o, pn.widgets.Button) and o.label == "Decompose with this network"
    )
    send.clicks += 1
    assert nav.value == "decompose"
    methods = [
        w
        for o in side.objects
        for w in ([o] if not isinstance(o, pn.Column) else o.objects)
        if isinstance(w, pn.widgets.MultiChoice)
    ]
    assert methods and "network_als" in methods[0].value


def test_receive_network_sets_data_and_method():
    from tensorbench.engine import build_template

    page = page_with([{"method": "hosvd"}])
    net = build_template("tensor_ring", dims=[5, 6, 7], ranks=2)
    page.receive_network(net)
    task = page.state.config.task
    assert task["data"]["kind"] == "synthetic" and task["data"]["network"]["tensors"]
    assert [m["method"] for m in task["methods"]] == ["hosvd", "network_als"]
    # the form does not name a template the data does not come from
    fields = page.data._form.widgets
    assert not fields["template"].visible and not fields["args"].visible
    fields["network"].value = ""
    assert fields["template"].visible
    page.receive_network(net)
    page.state.set_settings(device="cpu")
    page.start()
    page.state.wait(120)
    assert {r["label"]: r["status"] for r in page.state.snapshot()} == {
        "hosvd": "ok",
        "network_als": "ok",
    }
    # another network sent over: the last run's results (of other data) leave the page
    page._refresh(force=True)
    assert "network_als" in page.results.object and page.curves.object is not None
    page.receive_network(build_template("tensor_ring", dims=[4, 5, 6], ranks=2))
    assert page.state.snapshot() == [] and not page.rows.column.objects
    assert "network_als" not in page.results.object and page.curves.object is None


def test_sweep_mode_runs_each_value_and_plots_error_and_time():
    from tensorbench.app.pages.decompose import sweep_plot

    page = page_with(
        [{"method": "tucker_rand", "ranks": [2, 6, 3]}, {"method": "tt_rand", "ranks": [2, 3]}]
    )
    assert "oversample" in page.sweep_param.options
    page.sweep_param.value = "oversample"
    page.sweep_values.value = "0, 2, 5"
    assert page.state.config.task["sweep"] == {"param": "oversample", "values": [0, 2, 5]}
    page.sweep_values.value = "0, x"
    assert "could not read" in page.state.error
    page.sweep_values.value = "0, 2, 5"
    page.start()
    page.state.wait(120)
    snap = page.state.snapshot()
    labels = [x["label"] for x in snap[0]["result"].metrics["runs"]]
    assert labels == [
        "tucker_rand oversample=0",
        "tucker_rand oversample=2",
        "tucker_rand oversample=5",
    ]
    assert isinstance(sweep_plot(snap), hv.Layout)
    # the live curves: one per swept value (joined, they zig-zagged back to iteration 1)
    by_iter = next(iter(error_curves(snap)))
    curves = [c for c in by_iter if isinstance(c, hv.Curve)]
    assert [c.label for c in curves[:3]] == labels
    assert all(list(c.dimension_values("iteration")) == [1] for c in curves[:3])


def test_a_sample_sweep_can_have_the_exact_method_beside_it():
    # "samples" was offered only when every chosen method was sampled, so the sweep plot
    # could not show the exact baseline; now the exact method runs once, a dashed level
    from tensorbench.app.pages.decompose import sweep_plot

    page = page_with(
        [
            {"method": "cp_als", "rank": 2, "max_iter": 5},
            {"method": "cp_als_lev", "rank": 2, "max_iter": 5},
        ]
    )
    assert "samples" in page.sweep_param.options
    page.sweep_param.value = "samples"
    page.sweep_values.value = "100, 1e3"  # "1e3" is 1000, not a refused 1000.0
    assert page.state.error == ""
    assert page.state.config.task["sweep"] == {"param": "samples", "values": [100, 1000]}
    jobs = page.state.runs_for_config()
    assert [cfg.task["sweep"] for _l, _e, cfg in jobs] == [
        None,
        {"param": "samples", "values": [100, 1000]},
    ]
    page.start()
    page.state.wait(120)
    snap = page.state.snapshot()
    assert [r["status"] for r in snap] == ["ok", "ok"]
    err = sweep_plot(snap)[0]
    curves = [c for c in err.traverse(lambda x: x, [hv.Curve])]
    level = next(c for c in curves if c.label == "cp_als (once)")
    exact = snap[0]["result"].metrics["runs"][0]["rel_error"]
    assert list(level.dimension_values("relative error")) == [exact, exact]
    assert list(level.dimension_values("value")) == [100, 1000]
    assert level.opts.get().kwargs["line_dash"] == "dashed"


def test_uploaded_arrays_are_saved_and_named_by_path(tmp_path):
    import io

    import numpy as np

    page = page_with([{"method": "hosvd", "ranks": [2, 2, 2]}])
    page.data_kind.value = "upload"
    picker = page.data_form_area.objects[0]
    buf = io.BytesIO()
    np.save(buf, np.random.default_rng(0).standard_normal((4, 5, 6)))
    upload(picker, buf.getvalue(), "x.npy")
    spec = page.state.config.task["data"]
    # saved under the user's own name, so messages and the config name their file
    assert spec["kind"] == "upload" and spec["path"].endswith("/x.npy")
    page.state.set_settings(device="cpu")
    page.start()
    page.state.wait(60)
    assert page.state.snapshot()[0]["status"] == "ok"
    bad = io.BytesIO()
    np.save(bad, np.array([object()], dtype=object), allow_pickle=True)
    upload(picker, bad.getvalue(), "evil.npy")
    page.start()
    page.state.wait(60)
    failed = page.state.snapshot()[0]
    assert "failed" in failed["status"] and "evil.npy" in failed["error"]
    from tensorbench.widgets.data_form import save_upload, upload_dir

    for name in ("../../etc/passwd.npy", ".hidden.npz", ".npy", "a b;c.npy"):
        path = save_upload(b"x", name)
        assert path.parent.parent == upload_dir() and not path.name.startswith(".")
        assert path.suffix in (".npy", ".npz") and "/" not in path.name


def test_a_file_that_is_not_an_array_is_refused_by_its_own_name():
    # a .json was saved as .npy and refused as "broken.npy"; an empty file went unsaid
    page = page_with([{"method": "hosvd", "ranks": [2, 2, 2]}])
    page.data_kind.value = "upload"
    picker = page.data_form_area.objects[0]
    upload(picker, b'{"task": {}}', "broken.json")
    assert "broken.json: not a .npy or .npz file" in page.state.error
    picker.param.update(value=None, filename="empty.npy")  # what an empty file sends
    assert "empty.npy: the file is empty" in page.state.error


def test_uploads_are_kept_once_per_content_where_configs_can_find_them(tmp_path, monkeypatch):
    """An upload outlives the server (exported configs name it), and the same file uploaded
    again reuses its copy instead of adding a folder per upload."""
    from tensorbench.widgets.data_form import save_upload, upload_dir

    monkeypatch.setenv("TENSORBENCH_UPLOAD_DIR", str(tmp_path / "up"))
    assert upload_dir() == tmp_path / "up"
    a = save_upload(b"same bytes", "w.npy")
    b = save_upload(b"same bytes", "w.npy")
    c = save_upload(b"other bytes", "w.npy")
    assert a == b and a.read_bytes() == b"same bytes"
    assert c != a and c.read_bytes() == b"other bytes" and c.name == "w.npy"
    assert sorted(p.name for p in (tmp_path / "up").rglob("*")) == sorted(
        [a.parent.name, c.parent.name, "w.npy", "w.npy"]
    )
    monkeypatch.delenv("TENSORBENCH_UPLOAD_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert upload_dir() == tmp_path / "cache" / "tensorbench" / "uploads"
    # A relative cache folder is ignored (configs must name absolute paths).
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert upload_dir().is_absolute() and "relative" not in str(upload_dir())
    # Not writable there: a private folder in the temp folder, still one copy per content.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "cache").write_text("a file where a folder should be")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    d = save_upload(b"same bytes", "w.npy")
    assert d.parent.parent.name.startswith("tensorbench-uploads-")
    assert d.read_bytes() == b"same bytes" and d.parent.parent.stat().st_mode & 0o077 == 0
    assert not list(d.parent.glob(".part-*"))  # no partial file left behind


def test_a_run_ending_during_a_redraw_still_gets_its_final_redraw(monkeypatch):
    """The poll stops only when the snapshot it drew says every run is done: a run that
    ends between the snapshot and the end of the redraw must be drawn once more."""
    page = page_with([{"method": "tt_svd", "ranks": [2, 3]}])
    page.start()
    page.state.wait(120)
    done = page.state.snapshot()
    assert done[0]["status"] == "ok"

    class Poll:
        stopped = False

        def stop(self):
            self.stopped = True

    poll = Poll()
    page._poll = poll
    stale = [dict(done[0], status="running", result=None)]
    monkeypatch.setattr(page.state, "snapshot", lambda: stale)
    page._refresh(force=True)
    assert not poll.stopped  # the live state says "done", but this redraw drew "running"
    assert "running" in page.rows._rows["tt_svd"][1].object
    monkeypatch.setattr(page.state, "snapshot", lambda: done)
    page._refresh()
    assert poll.stopped and page._poll is None
    assert "ok" in page.rows._rows["tt_svd"][1].object


def test_a_cancel_shows_at_once_while_the_run_winds_down():
    # A fit in flight ends only after its sweep; the row must say the click landed
    # (a user who sees "running" after clicking Cancel clicks again, or thinks it broke).
    from tensorbench.widgets.multirun import EntryRun

    page = page_with([{"method": "tt_svd", "ranks": [2, 3]}])
    er = EntryRun("tt_svd", {"method": "tt_svd"}, status="running")
    page.state.runs = {"tt_svd": er}
    page.rows.reset(page.state.snapshot())
    page.rows.update(page.state.snapshot())
    _row, text, _bar, cancel, _color = page.rows._rows["tt_svd"]
    assert ">running<" in text.object and not cancel.disabled
    page.state.cancel_all()
    snap = page.state.snapshot()
    assert snap[0]["status"] == "running" and snap[0]["cancelling"]
    assert page.state.running  # still winding down: the poll must go on
    page.rows.update(snap)
    assert ">cancelling<" in text.object and cancel.disabled
    er.status = "cancelled"  # the worker ended
    page.rows.update(page.state.snapshot())
    assert ">cancelled<" in text.object


def test_plot_redraws_are_spaced_by_their_cost_while_runs_go_on(monkeypatch):
    # Each redraw builds new figures; at a fixed 1/s a big search kept the server ~85% busy.
    import tensorbench.widgets.multirun as multirun

    clock = [100.0]
    monkeypatch.setattr(multirun.time, "monotonic", lambda: clock[0])
    page = page_with([{"method": "tt_svd", "ranks": [2, 3]}])
    drawn = []

    def draw(cost):
        def go():
            drawn.append(clock[0])
            clock[0] += cost

        return go

    page._redraw_plots(draw(0.1), force=False, running=True)  # the first one is due
    clock[0] = 100.9
    page._redraw_plots(draw(0.1), force=False, running=True)  # cheap: once a second
    clock[0] = 101.0
    page._redraw_plots(draw(0.6), force=False, running=True)
    clock[0] = 103.9  # a 0.6 s redraw may come again only after 3 s (20% of the time)
    page._redraw_plots(draw(0.1), force=False, running=True)
    assert drawn == [100.0, 101.0]
    page._redraw_plots(draw(0.1), force=True, running=True)  # forced: at once
    page._redraw_plots(draw(0.1), force=False, running=False)  # the runs ended: at once
    assert len(drawn) == 4


def test_one_at_a_time_queues_the_runs_and_a_queued_cancel_never_starts():
    page = page_with(
        [
            {"method": "tt_als", "max_iter": 100000, "tol": 0.0},
            {"method": "tt_svd", "ranks": [2, 3]},
            {"method": "hooi", "ranks": [2, 6, 3]},
        ]
    )
    page.in_turn.value = True  # the page's checkbox
    assert page.state.sequential
    page.start()
    snap = {r["label"]: r for r in page.state.snapshot()}
    assert [r["status"] for r in snap.values()] == ["running", "queued", "queued"]
    assert page.state.running
    page.state.cancel("hooi")  # still queued: cancelled at once
    assert {r["label"]: r["status"] for r in page.state.snapshot()}["hooi"] == "cancelled"
    page.state.cancel("tt_als")  # the running one winds down, then tt_svd gets its turn
    page.state.wait(120)
    page._refresh(force=True)
    snap = {r["label"]: r for r in page.state.snapshot()}
    assert {k: r["status"] for k, r in snap.items()} == {
        "tt_als": "cancelled",
        "tt_svd": "ok",
        "hooi": "cancelled",
    }
    assert snap["hooi"]["result"] is None and not snap["hooi"]["records"]
    assert not page.state.running
    assert snap["tt_svd"]["result"].metrics["runs"][0]["status"] == "ok"


def test_run_all_refuses_while_a_box_shows_a_value_not_in_force(monkeypatch):
    # A refused box keeps what was typed while the last valid config stays in force, and
    # a later accepted change elsewhere clears the alert: Run all once ran tt_svd with
    # ranks [2, 3] while its box said "abc" (found by a user on the tensor-ring demo).
    toasts: list[str] = []
    fake = {"error": lambda *a, **k: toasts.append(a[-1]), "clear": lambda *a: None}
    monkeypatch.setattr(pn.state, "_notification", type("N", (), fake)())
    page = page_with([{"method": "tt_svd", "ranks": [2, 3]}, {"method": "hosvd"}])
    page.method_form.forms["tt_svd"].widgets["ranks"].value = "abc"
    assert "could not read 'abc'" in page.state.error
    page.seed.value = 5  # accepted: the alert went away, the box still says "abc"
    assert page.state.error == ""
    toasts.clear()
    page.start()
    assert page.state.runs == {}
    assert page.state.error.startswith("Not run: tt_svd ranks: could not read 'abc'")
    assert len(toasts) == 1 and toasts[0].startswith("Not run")  # one toast, not two
    page.method_form.forms["tt_svd"].widgets["ranks"].value = "2, 2"
    page.start()
    page.state.wait(120)
    assert page.state.error == ""
    assert [r["status"] for r in page.state.snapshot()] == ["ok", "ok"]
    assert page.state.config.task["methods"][0]["ranks"] == [2, 2]


def test_the_demo_title_goes_once_the_setup_is_edited():
    # "camera: TT vs Tucker" went on naming the config and script of synthetic data.
    page = DecomposePage()
    assert page.state.config.name == "camera: TT vs Tucker"
    page.seed.value = 3  # not the task: still the demo
    page.start()  # re-reading unchanged inputs changes nothing either
    page.state.cancel_all()
    page.state.wait(120)
    assert page.state.config.name == "camera: TT vs Tucker"
    page.data_kind.value = "synthetic"
    assert page.state.config.name is None
    assert '"name"' not in page.state.config.to_json()


def test_ranks_can_be_swept_and_the_sweep_axis_says_what_was_swept():
    from tensorbench.app.pages.decompose import sweep_plot

    page = page_with([{"method": "tt_svd", "ranks": [2, 3]}, {"method": "hosvd", "ranks": 2}])
    assert "ranks" in page.sweep_param.options  # one number stands for every rank
    page.sweep_param.value = "ranks"
    page.sweep_values.value = "1, 2, 3"
    page.start()
    page.state.wait(120)
    snap = page.state.snapshot()
    errors = [[x["rel_error"] for x in r["result"].metrics["runs"]] for r in snap if r["result"]]
    assert all(e[0] > e[1] > e[2] for e in errors)  # higher ranks fit better
    err_plot = next(iter(sweep_plot(snap)))
    assert err_plot.opts.get().kwargs["xlabel"] == "ranks"


def test_cancel_all_is_enabled_only_while_something_runs():
    page = page_with([{"method": "tt_svd", "ranks": [2, 3]}])
    assert page.cancel_all.disabled
    page.start()
    assert not page.cancel_all.disabled or not any_active(page.state.snapshot())
    page.state.wait(120)
    page._refresh(force=True)
    assert page.cancel_all.disabled


def test_an_uploaded_sweep_config_shows_its_sweep_and_settings():
    # The sweep fields stayed empty after opening an exported sweep config, so Run all
    # ran each method once; seed and dtype kept the page's own values too.
    source = page_with(
        [{"method": "tucker_rand", "ranks": [2, 6, 3]}, {"method": "tt_rand", "ranks": [2, 3]}]
    )
    source.sweep_param.value = "oversample"
    source.sweep_values.value = "0, 2, 5"
    source.seed.value = 7
    source.dtype.value = "float32"
    cfg = source.state.config
    assert cfg.task["sweep"] == {"param": "oversample", "values": [0, 2, 5]} and cfg.seed == 7

    page = DecomposePage()
    upload(page.upload, cfg.to_json().encode(), "sweep.json")
    assert page.state.error == ""
    assert page.state.config == cfg
    assert page.sweep_param.value == "oversample" and page.sweep_values.value == "0, 2, 5"
    assert page.seed.value == 7 and page.dtype.value == "float32"
    # and a config without a sweep clears the fields again
    upload(
        page.upload,
        page_with([{"method": "tt_svd", "ranks": [2, 3]}]).state.config.to_json().encode(),
        "plain.json",
    )
    assert page.sweep_param.value == "" and page.sweep_values.value == ""
    assert page.state.config.task["sweep"] is None


def test_switching_the_data_kind_and_back_keeps_what_was_entered():
    # image -> tensorly -> image brought back camera, split 1, grouped and no crop
    page = DecomposePage()
    form = page.data
    form.kind.value = "image"
    w = form._form.widgets
    w["image"].value = "astronaut"
    w["split"].value = 2
    w["crop"].value = "256, 256"
    entered = page.state.config.task["data"]
    assert entered["image"] == "astronaut" and entered["split"] == 2
    form.kind.value = "tensorly"
    assert page.state.config.task["data"]["kind"] == "tensorly"
    form.kind.value = "image"
    assert page.state.config.task["data"] == entered
    w = form._form.widgets
    assert w["image"].value == "astronaut" and w["split"].value == 2


def test_results_of_other_settings_are_marked_until_run_again():
    # After a change of data the old table stayed unmarked beside a config that named
    # the new data.
    page = page_with([{"method": "tt_svd", "ranks": [2, 3]}])
    note = page.files.stale
    assert not note.visible
    page.start()
    page.state.wait(120)
    assert not note.visible
    page.state.set_data(SMALL | {"seed": 3})
    assert note.visible and "the data changed since" in note.object
    page.seed.value = 5
    assert "the data and seed changed since" in note.object
    page.state.set_data(SMALL)
    page.seed.value = page.state.ran.seed
    assert not note.visible  # back to what ran
    page.seed.value = 5
    page.start()
    page.state.wait(120)
    assert not note.visible
    from tensorbench.engine import build_template

    page.state.set_network(build_template("tensor_train", dims=[8, 9, 10], ranks=[2, 2]))
    assert note.visible and "the network and methods changed since" in note.object


def test_the_chosen_data_is_checked_when_chosen_not_first_at_run():
    # IL2 (with NaNs, refused by default) failed first at Run, once per method; the page
    # now says so on choosing it, and shows the shape of data that loads.
    page = page_with([{"method": "tt_svd", "ranks": [2, 3]}])
    form = page.data
    assert form.wait_probe(60)
    assert "the data: 8 x 9 x 10 (720 entries)" in form.facts.object
    form.kind.value = "tensorly"
    form._form.widgets["dataset"].value = "IL2"
    assert form.wait_probe(120)
    assert "cannot be loaded, so a run would fail" in form.facts.object
    assert "missing (NaN) entries" in form.facts.object
    page.start()  # refused at once, not run to fail once per method
    assert page.state.runs == {}
    assert page.state.error.startswith("Not run: the data cannot be loaded: dataset 'IL2'")
    form._form.widgets["nan"].value = "mean"
    assert form.wait_probe(120)
    assert "the data: " in form.facts.object and "cannot" not in form.facts.object


def test_an_uploaded_config_whose_data_cannot_load_is_refused_at_run():
    # The check keyed the loaded spec (with its null fields) apart from the form's, so
    # Run all started the runs anyway; and a box refused since must not be blamed on it.
    page = DecomposePage()
    bad = page_with([{"method": "hosvd"}]).state.config.replace(
        task={"data": {"kind": "image", "image": "camera", "split": 20}}
    )
    upload(page.upload, bad.to_json().encode(), "bad.json")
    form = page.data
    assert form.wait_probe(120)
    assert "cannot be split into 20 factors" in form.facts.object
    page.start()
    assert page.state.runs == {}
    assert "Not run: the data cannot be loaded" in page.state.error
    form._form.widgets["crop"].value = "abc"
    page.start()
    assert page.state.runs == {}
    assert page.state.error.startswith("Not run: crop: could not read 'abc'")
    form._form.widgets["crop"].value = ""
    form._form.widgets["split"].value = 1
    assert form.wait_probe(120)
    assert "the data: " in form.facts.object and "cannot" not in form.facts.object


def test_the_table_shows_the_ranks_used_and_says_when_the_data_capped_them():
    # hooi with ranks 1000 on modes of 8 ran at 8 and had more parameters than the data
    page = page_with([{"method": "hooi", "ranks": 1000}, {"method": "tt_svd", "ranks": [2, 3]}])
    page.start()
    page.state.wait(120)
    table = results_table(page.state.snapshot())
    assert "<td>8, 9, 10 (asked 1000: capped by the data&#x27;s sizes)</td>" in table
    assert "<td>2, 3</td>" in table
    assert "x (larger than the data)</td>" in table  # hooi at full rank: 1.x times X
    assert table.count("larger than the data") == 1
    # a tolerance that cut the ranks is named, not blamed on the data
    from tensorbench.app.pages.decompose import _ranks_cell

    cut = {"params_given": {"ranks": 8, "eps": 0.1}, "info": {"ranks": [2, 2]}}
    assert _ranks_cell(cut) == "2, 2 (asked 8: cut by eps=0.1 or the data&#x27;s sizes)"


def test_a_sweep_shows_an_image_per_value_and_legends_that_fit():
    # A sweep showed only the original (its runs are stored as "hosvd ranks=4"), and
    # its legends ran off the plot in one row ("tt_svd ra") or sat over the points.
    cfg = load_config(
        {
            "task": {
                "kind": "decompose",
                "data": {"kind": "image", "image": "camera", "crop": [64, 64]},
                "methods": [{"method": "hosvd"}, {"method": "tt_svd"}],
                "sweep": {"param": "ranks", "values": [2, 4, 8]},
            },
            "device": "cpu",
        }
    )
    page = DecomposePage(cfg)
    page.start()
    page.state.wait(120)
    page._refresh(force=True)
    snap = page.state.snapshot()
    panes = page._image_panes(snap)[0]
    titles = [p.object.opts.get().kwargs.get("title") for p in panes]
    assert titles == ["original"] + [
        f"{m} ranks={v}" for m in ("hosvd", "tt_svd") for v in (2, 4, 8)
    ]
    curves = page.curves.object[0]
    opts = curves.opts.get().kwargs
    assert opts["legend_position"] == "top" and opts["legend_cols"] == 2
    assert opts["height"] == 320 + 22 * 2  # six entries: three rows
    assert page.curves.height >= opts["height"]
    sweep = page.sweep_plot.object[0].opts.get().kwargs
    assert sweep["legend_position"] == "top"
    # each row's status names every swept value's error (it gave the last one's alone)
    runs = snap[0]["result"].metrics["runs"]
    status = page.rows._rows["hosvd"][1].object
    assert "3 values of ranks · errors 2: " in status
    assert f"8: {runs[-1]['rel_error']:.4g}" in status


def test_an_error_that_was_not_measured_does_not_break_the_table():
    # data over the exact-error limit and a method without its own estimate: None, which
    # the table formatted with :.6e (raising inside the poll)
    from tensorbench.app.pages.decompose import _err

    assert _err(None, ".6e") == "not measured" and _err(0.5, ".3g") == "0.5"
    run_ = {
        "label": "m",
        "rel_error": None,
        "seconds": 1.0,
        "iterations": 2,
        "params": 10,
        "compression": 3.0,
        "status": "ok",
        "params_given": {},
        "info": {},
    }
    result = type("R", (), {"metrics": {"runs": [run_]}, "config": None})()
    snap = [{"label": "m", "status": "ok", "result": result, "records": [], "error": ""}]
    assert "<td>not measured</td>" in results_table(snap)


def test_the_upload_form_asks_for_a_file_before_one_is_chosen():
    # it greeted the user in red: "this data cannot be loaded, so a run would fail: an
    # upload needs exactly one of path (a file) or content (its bytes)"
    page = page_with([{"method": "hosvd"}])
    page.data.kind.value = "upload"
    assert "choose a .npy or .npz file" in page.data.facts.object
    assert "cannot be loaded" not in page.data.facts.object
    page.start()
    assert page.state.runs == {}
    assert "no file chosen: choose a .npy or .npz file to upload" in page.state.error


def test_leaving_stack_mode_keeps_the_images_out_of_the_data():
    # back from stack to gray, the images box kept its list and the data was refused:
    # "images is only used with mode='stack'; use image=... here"
    page = page_with([{"method": "hosvd"}])
    page.data.kind.value = "image"
    w = page.data._form.widgets
    w["mode"].value = "stack"
    w["images"].value = ["moon", "camera"]
    assert page.state.config.task["data"]["images"] == ["moon", "camera"]
    assert not w["image"].visible and w["images"].visible
    w["mode"].value = "gray"
    assert page.state.error == ""
    assert "images" not in page.state.config.task["data"] or not page.state.config.task["data"].get(
        "images"
    )
    assert not w["images"].visible and w["image"].visible
    assert page.data.wait_probe(60) and "the data: 512 x 512" in page.data.facts.object


def test_a_rank_list_that_does_not_fit_the_data_is_refused_before_any_run():
    # tt_als ranks "4, 4" on 3-mode data: its row failed while the others ran, and the
    # exported config was refused whole by `tensorbench run` after running hosvd
    page = page_with([{"method": "hosvd"}, {"method": "tt_als", "ranks": [4, 4, 4]}])
    assert page.data.wait_probe(60)
    page.start()
    assert page.state.runs == {}
    assert page.state.error == (
        'Not run: "ranks" of tt_als (one per bond): expected 2 positive integers, got '
        "[4, 4, 4] for the data's 3 modes (8, 9, 10). Fix that input, then run again."
    )
    with pytest.raises(TensorbenchError, match=r"methods\[1\] \(tt_als\).ranks \(one per bond\)"):
        run(page.state.config)


def test_a_network_that_does_not_fit_the_data_is_refused_before_any_run():
    # a 4-leg structure sent from the Search page, then 3-mode data: network_als started
    # a worker to fail there, beside methods that ran
    from tensorbench.engine import build_template

    page = page_with([{"method": "hosvd"}])
    page.receive_network(build_template("tensor_ring", dims=[3, 3, 3, 3], ranks=2), SMALL)
    assert [m["method"] for m in page.state.config.task["methods"]] == ["hosvd", "network_als"]
    assert page.data.wait_probe(60)
    page.start()
    assert page.state.runs == {}
    # worded by the method's name, not '"methods", value 2 (network_als: ...'
    assert page.state.error.startswith(
        "Not run: network_als: X has 3 modes but the network's output has 4 indices"
    ), page.state.error
    with pytest.raises(TensorbenchError, match=r"methods\[1\] \(network_als\): X has 3 modes"):
        run(page.state.config)


def test_an_opened_method_card_stays_open_when_another_method_is_added():
    page = page_with([{"method": "hosvd"}])
    form = page.method_form
    form.area.objects[0].collapsed = False  # the user opened hosvd's card
    form.choice.value = ["hosvd", "tt_svd"]
    cards = {c.title: c.collapsed for c in form.area.objects}
    assert cards == {"hosvd (tucker)": False, "tt_svd (tt)": True}


def test_a_method_card_says_what_its_identifier_stands_for():
    # "tr_als_lev" alone told a newcomer nothing; the card opens with the method's doc
    page = page_with([{"method": "tr_als_lev", "ranks": [2, 2, 2]}])
    (card,) = page.method_form.area.objects
    assert "TR-ALS with leverage-score sampled least squares (Malik &amp; Becker 2021)" in (
        card.objects[0].object
    )


def test_an_exact_fit_is_drawn_at_the_floor_not_left_out():
    # tt_svd at full rank records errors of 0: they were dropped from the log plot, and
    # its legend entry had nothing beside it
    from tensorbench.app.pages.decompose import ERROR_FLOOR

    page = page_with([{"method": "tt_svd"}, {"method": "hosvd", "ranks": [2, 2, 2]}])
    page.start()
    page.state.wait(60)
    layout = error_curves(page.state.snapshot())
    for panel in layout:
        curves = {el.label: el for el in panel if isinstance(el, hv.Curve)}
        assert set(curves) == {"tt_svd", "hosvd"}
        assert len(curves["tt_svd"]) and min(curves["tt_svd"]["relative error"]) >= ERROR_FLOOR


def test_stacked_images_are_shown_side_by_side():
    # "original: shape (128, 128, 2) is not an image" stood where the pictures belong
    cfg = load_config(
        {
            "task": {
                "kind": "decompose",
                "data": {
                    "kind": "image",
                    "mode": "stack",
                    "images": ["moon", "camera"],
                    "crop": [128, 128],
                },
                "methods": [{"method": "hosvd", "ranks": [8, 8, 2]}],
            },
            "device": "cpu",
        }
    )
    page = DecomposePage(cfg)
    page.start()
    page.state.wait(60)
    panes = page._image_panes(page.state.snapshot())[0].objects
    assert [type(p).__name__ for p in panes] == ["HoloViews", "HoloViews"]
    image = panes[0].object
    assert isinstance(image, hv.Image) and image.data.shape[1] > 2 * 128  # two, and a gap


def test_a_run_killed_for_memory_fails_its_row_and_the_page_lives_on():
    # Runs go to worker processes: the kernel's out-of-memory killer (SIGKILL) took the
    # whole server, and every session's work, when they ran on the server's threads.
    import multiprocessing
    import os
    import signal
    import time

    page = page_with(
        [
            {"method": "cp_als", "rank": 3, "tol": 0, "max_iter": 100_000},
            {"method": "tt_svd", "ranks": [2, 3]},
        ]
    )
    page.start()
    deadline = time.monotonic() + 60
    while not page.state.snapshot()[0]["records"] and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [p for p in multiprocessing.active_children() if p.name == "tensorbench-decompose"]
    assert workers, "the runs did not go to worker processes"
    for p in workers:  # which one is cp_als's does not matter: kill the lot, as the OOM
        os.kill(p.pid, signal.SIGKILL)  # killer might under pressure
    page.state.wait(120)
    page._refresh(force=True)
    cp = page.state.snapshot()[0]
    assert cp["status"] == "failed"
    assert "worker process ended without a result: it was killed (SIGKILL)" in cp["error"]
    table = results_table(page.state.snapshot())
    assert "killed (SIGKILL)" in table
    last = cp["records"][-1]
    assert f"its last measured error: {last['rel_error']:.6e} at iteration {last['iter']}" in table
    # the page runs again
    page.start()
    page.state.cancel("cp_als")
    page.state.wait(120)
    assert page.state.snapshot()[1]["status"] == "ok"


def test_a_cancelled_run_keeps_how_far_it_got_in_the_table():
    # its row read "cancelled" and nothing else: a long run's last error and time were
    # on the curves only
    import time

    page = page_with([{"method": "cp_als", "rank": 3, "tol": 0, "max_iter": 100_000}])
    page.start()
    deadline = time.monotonic() + 60
    while len(page.state.snapshot()[0]["records"]) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    page.state.cancel("cp_als")
    page.state.wait(120)
    (r,) = page.state.snapshot()
    assert r["status"] == "cancelled"
    last = r["records"][-1]
    seconds = r["result"].metrics["runs"][0]["seconds"]
    table = results_table([r])
    assert (
        f"<td>{last['rel_error']:.6e} <span style='color: #5a6b7b'>(last, at iteration "
        f"{last['iter']})</span></td><td>{seconds:.3g} s</td><td>{last['iter']}</td>"
        "<td colspan=3>cancelled: no decomposition kept</td>" in table
    )
    # cancelled while it waited its turn: it never ran, and the row says so
    page = page_with(
        [
            {"method": "cp_als", "rank": 3, "tol": 0, "max_iter": 100_000},
            {"method": "tt_svd", "ranks": [2, 3]},
        ]
    )
    page.state.sequential = True
    page.start()
    page.state.cancel("tt_svd")
    page.state.cancel("cp_als")
    page.state.wait(120)
    assert "<td>tt_svd</td><td colspan=6>cancelled before it started</td>" in results_table(
        page.state.snapshot()
    )


def test_runs_side_by_side_share_the_cores_and_one_at_a_time_take_them_all():
    # each worker process took every core for its torch threads: side by side their
    # pools fought over the cores (hooi on the camera: 1.3-1.9 s beside tt_als, 0.1 s
    # with a share)
    from tensorbench.engine.device import available_cores

    cores = available_cores()
    methods = [{"method": "tt_svd", "ranks": [2, 3]}, {"method": "hooi", "ranks": [2, 6, 3]}]
    page = page_with(methods)
    page.start()
    page.state.wait(120)
    threads = [r["result"].environment["cpu_threads"] for r in page.state.snapshot()]
    assert threads == [max(1, cores // 2)] * 2
    page = page_with(methods)
    page.state.sequential = True
    page.start()
    page.state.wait(120)
    threads = [r["result"].environment["cpu_threads"] for r in page.state.snapshot()]
    assert threads[0] == threads[1] >= max(1, cores // 2)


def test_runs_side_by_side_that_cannot_all_hold_the_data_are_refused(monkeypatch):
    # each worker loads its own copy: three side by side of a tensor that fits once or
    # twice went out of memory one by one; one at a time holds one copy at once
    import tensorbench.engine.device as device

    page = page_with(
        [
            {"method": "tt_svd", "ranks": [2, 3]},
            {"method": "hosvd", "ranks": [2, 3, 3]},
            {"method": "hooi", "ranks": [2, 3, 3]},
        ]
    )
    assert page.data.wait_probe(60)
    data = 8 * 9 * 10 * 8  # bytes, float64
    monkeypatch.setattr(
        device, "available_memory", lambda _d="cpu": 2.5 * data / device.MEMORY_FRACTION
    )
    page.start()
    assert page.state.runs == {}
    assert page.state.error.startswith(
        "Not run: the data, copied once per run side by side (3 runs), needs about 16.9 KiB"
    )
    assert 'tick "one at a time" (one copy at once) or choose fewer methods' in page.state.error
    page.state.sequential = True
    page.start()
    page.state.wait(120)
    assert [r["status"] for r in page.state.snapshot()] == ["ok"] * 3


def test_the_stale_note_says_what_changed_in_words():
    # "run before methods, seed changed" read as a garble
    page = page_with([{"method": "hosvd"}])
    page.state.ran = page.state.config
    assert not page.files.stale.visible
    page.state.set_settings(seed=5)
    assert "from earlier settings: the seed changed since" in page.files.stale.object
    page.state.set_methods([{"method": "tt_svd"}])
    page.state.set_settings(dtype="float32")
    assert "the dtype, methods and seed changed since" in page.files.stale.object


def test_the_downloaded_script_names_its_own_file():
    page = page_with([{"method": "hosvd"}])
    download = page.files.download_script
    assert download.filename == "tensorbench_decompose.py"
    assert "python tensorbench_decompose.py" in download.callback().getvalue().decode()


def test_method_chips_are_drawn_in_the_order_of_the_cards_and_runs():
    # The browser draws a value set from Python in the options' order: network_als, sent
    # from the Network page, headed the chips while its card and run came last.
    from tensorbench.engine import build_template

    page = page_with([{"method": "tt_svd"}, {"method": "hooi"}])
    form = page.method_form
    page.receive_network(build_template("tensor_ring", dims=[5, 6, 7], ranks=2))
    order = ["tt_svd", "hooi", "network_als"]
    assert [m["method"] for m in page.state.config.task["methods"]] == order
    assert [c.title.split()[0] for c in form.area.objects] == order
    assert form.choice.value == order and form.choice.options[:3] == order
    # a chip taken off goes back to its sorted place in the list, not the list's head
    form.choice.value = ["hooi", "network_als"]
    rest = form.choice.options[2:]
    assert rest == sorted(rest, key=form._names.index) and "tt_svd" in rest


def test_the_results_area_says_what_will_appear_there_before_any_run():
    from tensorbench.engine import build_template

    page = page_with([{"method": "tt_svd", "ranks": [2, 3]}])
    assert "Nothing run yet" in page.results.object
    page.start()
    page.state.wait(120)
    page._refresh(force=True)
    assert "Nothing run yet" not in page.results.object and "tt_svd" in page.results.object
    # new data clears the runs: the hint is back, not an empty area
    page.receive_network(build_template("tensor_ring", dims=[5, 6, 7], ranks=2))
    assert "Nothing run yet" in page.results.object


def test_a_download_leaves_out_a_network_no_chosen_method_fits():
    # An uploaded tensor-ring config, its methods and data then changed to tt_svd and
    # hooi on the camera: the download still carried the ring and its name.
    import json

    from tensorbench.engine import build_template

    net = build_template("tensor_ring", dims=[3, 4, 5], ranks=2)
    doc = {
        "name": net.name,
        "network": net.to_dict(),
        "task": {"kind": "decompose", "data": SMALL, "methods": [{"method": "network_als"}]},
    }
    page = page_with([{"method": "hosvd"}])
    assert page.state.load_text(json.dumps(doc))
    page._sync_widgets()
    page.method_form.choice.value = ["hosvd"]
    shown = page.state.exported()
    assert shown.network is None and shown.name is None
    assert "TR (3, 4, 5)" not in page.files.config_view.object
    assert page.state.config.network is not None  # kept: adding network_als again uses it
    page.method_form.choice.value = ["hosvd", "network_als"]
    assert page.state.error == ""
    assert page.state.exported().network is not None and page.state.exported().name == net.name


def test_a_method_taken_off_and_added_again_keeps_what_was_typed_into_it():
    page = page_with([{"method": "tt_svd"}, {"method": "hooi"}])
    form = page.method_form
    form.forms["hooi"].widgets["ranks"].value = "4"
    assert page.state.config.task["methods"][1]["ranks"] == 4
    form.choice.value = ["tt_svd"]
    form.choice.value = ["tt_svd", "hooi"]
    assert page.state.config.task["methods"][1]["ranks"] == 4  # it was back to 10
    # a loaded config's entries replace them
    form.show([{"method": "tt_svd"}])
    form.choice.value = ["tt_svd", "hooi"]
    assert form.values()[1].get("ranks") != 4


def test_results_table_shows_a_methods_warning():
    # A sampled run that stalled worse than all zeros showed "1.47" and nothing else.
    cfg = load_config(
        {
            "task": {
                "kind": "decompose",
                "data": {
                    "kind": "synthetic",
                    "template": "tensor_ring",
                    "args": {"dims": [8] * 5, "ranks": [3] * 5},
                    "noise": 0.001,
                    "seed": 5,
                },
                "methods": [
                    {
                        "method": "tr_als_lev",
                        "ranks": 3,
                        "samples": 30,
                        "max_iter": 20,
                        "init": "random",
                    },
                    {"method": "tr_als", "ranks": 3},
                ],
            },
            "device": "cpu",
            "seed": 1,
        }
    )
    page = DecomposePage(cfg)
    page.start()
    page.state.wait(120)
    table = results_table(page.state.snapshot())
    assert table.count("class='tb-warning'") == 1
    row = table.split("<tr data-label='tr_als_lev'>")[1].split("</tr>")[0]
    assert "stalled: after 20 sweeps the relative error is 1.4" in row and "(now 30)" in row
    # the run's status line beside it does not read as a plain success
    lev, exact = page.state.snapshot()
    assert DecomposePage._status_text(lev).endswith(" · stalled: see the results")
    assert "stalled" not in DecomposePage._status_text(exact)


def test_sweep_status_marks_stalled_values():
    # a sweep's status line lists every value's error; a stalled one read as a result
    from types import SimpleNamespace

    runs = [
        {"status": "ok", "sweep_value": 30, "rel_error": 1.4758, "info": {"warning": "w"}},
        {"status": "ok", "sweep_value": 3000, "rel_error": 0.00101, "info": {}},
    ]
    cfg = SimpleNamespace(task={"sweep": {"param": "samples"}})
    r = {"status": "ok", "result": SimpleNamespace(metrics={"runs": runs}, config=cfg)}
    assert DecomposePage._status_text(r) == (
        " · 2 values of samples · errors 30: 1.476 (stalled), 3000: 0.00101"
    )
