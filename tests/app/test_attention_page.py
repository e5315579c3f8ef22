"""The Attention page without a browser: forms, a run, its views, bad input, export."""

from __future__ import annotations

import holoviews as hv
from tb_testing import upload

from tensorbench.app.pages.attention import AttentionPage, default_attention_config
from tensorbench.engine import get_task, load_config, run
from tensorbench.widgets.attention_view import setup_svg

hv.extension("bokeh", logo=False)


def small_page() -> AttentionPage:
    cfg = load_config(
        {
            "task": {
                "kind": "attention",
                "input": {"kind": "planted", "heads": 2, "d": 16},
                "n": 128,
                "methods": [{"method": "exact"}, {"method": "lev", "keys": 16}],
                "sweep": {"param": "n", "values": [64, 128]},
                "repeats": 2,
            },
            "device": "cpu",
        }
    )
    return AttentionPage(cfg)


def test_default_is_a_4k_problem_with_exact_hyper_and_lev():
    task = default_attention_config().task
    assert task["n"] == 4096 and task["heatmap"] >= 4096
    assert [m["method"] for m in task["methods"]] == ["exact", "hyper", "lev"]
    page = AttentionPage()
    assert "4096 x 4096" in page.setup.object


def test_forms_edit_the_config_and_bad_values_are_refused():
    page = small_page()
    page.causal.value = True
    assert page.state.config.task["causal"] is True
    assert "causal" in page.setup.object
    page.input_kind.value = "shared_prefix"
    assert page.state.config.task["input"]["kind"] == "shared_prefix"
    assert "K prefix" in page.setup.object
    before = page.state.config
    page.sweep_param.value = "n"
    page.sweep_values.value = "64, abc"
    assert "could not read" in page.state.error and page.state.config == before
    assert "layer" not in page.sweep_param.options
    page.input_kind.value = "minilm"
    assert "layer" in page.sweep_param.options


def test_a_run_fills_the_plots_table_and_heatmaps_and_matches_the_exported_config():
    page = small_page()
    page.start()
    page.state.wait(300)
    page._refresh(force=True)
    snap = page.state.snapshot()
    assert snap[0]["status"] == "ok", snap[0]["error"]
    assert page.table.object.count("<tr data-label=") == 4
    assert page.plots.object is not None and page.heat.object is not None
    assert "lev keys=16" in page.heat_caption.object
    # both errors, the one against the values' scale beside the relative one
    v_errors = [r["v_error"] for r in snap[0]["result"].metrics["rows"]]
    assert ">error vs V</th>" in page.table.object
    assert all(f"<td>{v:.3e}</td>" in page.table.object for v in v_errors)
    live = [r["rel_error"] for r in snap[0]["result"].metrics["rows"]]
    again = [r["rel_error"] for r in run(load_config(page.state.config.to_json())).metrics["rows"]]
    assert live == again


def test_the_status_line_says_ok_only_with_the_results_in_place():
    # it said "ok · 12 measured" seconds before the table's last rows and the plots'
    # last points arrived: the status went out first, the results after they were built
    page = small_page()
    page.start()
    page.state.wait(300)
    page.table.object, page.plots.object, page.heat.object = "", None, None
    seen = []
    update = page.rows.update
    page.rows.update = lambda snap: (
        seen.append((page.table.object, page.plots.object, page.heat.object)),
        update(snap),
    )
    page._refresh(force=True)
    ((table, plots, heat),) = seen
    assert table.count("<tr data-label=") == 4 and plots is not None and heat is not None


def test_a_failing_run_says_why_and_keeps_the_page():
    page = small_page()
    page.methods.choice.value = ["hydragen"]  # needs a shared_prefix input: fails at run
    assert page.state.config.task["methods"] == [{"method": "hydragen"}]
    page.start()
    page.state.wait(60)
    page._refresh(force=True)
    r = page.state.snapshot()[0]
    assert r["status"] == "failed" and "shared_prefix" in r["error"]
    assert "shared_prefix" in page.rows._rows["attention"][1].object


def test_setup_svg_escapes_user_text():
    task = default_attention_config().task | {
        "input": {"kind": "minilm", "text": "<script>alert(1)</script>", "layer": 0},
    }
    assert "<script>" not in setup_svg(task)


def test_heatmaps_come_three_to_a_row():
    # four in a row ran past the right edge of a 1440 px page beside the sidebar
    import numpy as np

    from tensorbench.widgets.attention_view import heatmaps

    w = np.full((8, 8), 1 / 8)
    kept = {m: np.ones((8, 8), dtype=bool) for m in ("exact", "hyper", "lev")}
    layout = heatmaps({"weights": w, "kept": kept}, ["exact", "hyper", "lev"])
    assert len(layout) == 4 and layout._max_cols == 3


def test_sweep_plots_share_one_legend_above_them():
    # inside each of the three frames the legend covered the curves
    from tensorbench.widgets.attention_view import sweep_legend, sweep_plots
    from tensorbench.widgets.multirun import run_color

    rows = [
        {"label": m, "value": n, "median_s": 0.01 * n, "rel_error": 1e-3, "speedup": 1.0}
        for m in ("exact", "hyper <b>")
        for n in (256, 512)
    ]
    legend = sweep_legend(rows)
    assert legend.index("exact") < legend.index("hyper &lt;b&gt;")  # escaped, in run order
    assert run_color(0) in legend and run_color(1) in legend
    layout = sweep_plots(rows, "n")
    import holoviews as hv

    shown = [hv.Store.lookup_options("bokeh", p, "plot").kwargs.get("show_legend") for p in layout]
    assert shown == [False, False, False]
    # ticks at the swept values (Bokeh's own, on less than a decade, ran together)
    ticks = [hv.Store.lookup_options("bokeh", p, "plot").kwargs.get("xticks") for p in layout]
    assert ticks == [[(256.0, "256"), (512.0, "512")]] * 3


def test_run_refuses_while_the_length_box_shows_a_refused_value():
    # n = -5 was refused (alert), a later change of another box cleared the alert, and
    # Run then ran n = 512 without a word while the box still said -5.
    page = small_page()
    before = page.state.config.task["n"]
    page.n.value = -5
    assert "must be between 1 and" in page.state.error
    page._input_form.widgets["heads"].value = 3  # accepted: the alert goes, n still -5
    assert page.state.error == "" and page.state.config.task["n"] == before
    page.start()
    assert page.state.runs == {}
    assert page.state.error.startswith('Not run: "sequence length n" must be between 1 and')


def test_setup_drawing_gives_every_operand_in_the_same_axis_order():
    # V once read "2x128x16" beside Q's "1x2x128x16" (the batch axis missing)
    page = small_page()
    svg = page.setup.object
    assert svg.count("1x2x128x16") == 2  # Q and V
    assert "1x2x16x128" in svg  # K transposed


def test_setup_drawing_is_wide_enough_for_v_s_caption():
    # with a shared prefix, V's caption ran off the drawing's right edge
    import re

    task = get_task("attention").check(
        {
            "input": {"kind": "shared_prefix", "heads": 4, "d": 64, "prefix": 4096, "batch": 4},
            "n": 256,
            "methods": [{"method": "exact"}, {"method": "hydragen"}],
        }
    )
    svg = setup_svg(task)
    width = float(re.search(r"width='(\d+)'", svg).group(1))
    x, caption = re.findall(r"<text x='([\d.]+)'[^>]*>([^<]*\(prefix shared\))</text>", svg)[0]
    assert float(x) + 6.5 * len(caption) / 2 <= width


def test_the_n_box_says_when_a_sweep_sets_the_lengths():
    # With a sweep over n the box's value is not used: it read 1024 while the run measured
    # 512..4096 and the drawing showed 1024 x 1024.
    page = small_page()  # sweeps n over 64, 128
    assert page.n.disabled and page.n.name == "sequence length n (swept: 64 to 128)"
    assert "128 x 128" in page.setup.object and "largest, n = 128" in page.setup.object
    page.sweep_param.value = ""
    assert not page.n.disabled and page.n.name == "sequence length n"
    # a shared prefix's n is each sequence's own part
    page.input_kind.value = "shared_prefix"
    assert page.n.name == "suffix length n"
    assert page.state.config.task["sweep"] is None
    assert "(no sweep)" in page.sweep_param.options


def test_choosing_minilm_brings_the_lengths_within_its_512_tokens():
    page = AttentionPage()  # n 4096, sweep over n 512..4096
    page.input_kind.value = "minilm"
    task = page.state.config.task
    assert page.state.error == ""
    assert task["input"]["kind"] == "minilm" and task["n"] == 512
    assert task["sweep"] == {"param": "n", "values": [512]}
    assert page.sweep_values.value == "512"


def test_a_causal_shared_prefix_draws_the_whole_prefix_kept():
    def kept_corners(inp: dict) -> list[tuple[float, float]]:
        task = get_task("attention").check(
            {"input": inp, "n": 1024, "causal": True, "methods": [{"method": "exact"}]}
        )
        (poly,) = setup_svg(task).split("<polygon")[1:]
        pts = poly.split("points='")[1].split("'")[0].split()
        return [tuple(map(float, p.split(","))) for p in pts]

    # end-aligned: every query sees the whole prefix (the top edge runs from the left
    # corner to the prefix's end), then a triangle of its own suffix
    left, edge, right, bottom = kept_corners({"kind": "shared_prefix", "prefix": 1024})
    assert left[1] == edge[1] and edge[0] > left[0] and right[0] > edge[0]
    assert bottom[0] == left[0] and bottom[1] == right[1]
    # no prefix: the plain causal triangle (its top edge has no length)
    left, edge, *_ = kept_corners({"kind": "clustered"})
    assert edge == left


def test_a_lone_point_is_inside_its_log_axis_and_times_read_without_exponents():
    from tensorbench.widgets.attention_view import results_table, sweep_plots

    row = {
        "method": "exact",
        "label": "exact",
        "param": "n",
        "value": 256,
        "n": 256,
        "median_s": 0.00243,
        "p20_s": 0.859,
        "p80_s": 1.07,
        "speedup": 1.0,
        "rel_error": 3.9e-7,
        "peak_bytes": 0,
    }
    layout = sweep_plots([row], "n")
    lims = [p.opts.get().kwargs["ylim"] for p in layout]
    assert lims[1][0] < 3.9e-7 < lims[1][1]  # the error panel
    assert "859-1070" in results_table([row])


def test_an_uploaded_config_keeps_its_own_input_parameters():
    # Showing it set the input kind first, whose watcher pushed that input's defaults:
    # a MiniLM config at layer 3 came back at layer 0 with the default text.
    page = AttentionPage()  # clustered input, a sweep over n up to 4096
    cfg = load_config(
        {
            "task": {
                "kind": "attention",
                "input": {"kind": "minilm", "text": "my own words here", "layer": 3},
                "n": 64,
                "methods": [{"method": "exact"}],
            },
            "device": "cpu",
        }
    )
    upload(page.files.upload, cfg.to_json().encode(), "upload.json")
    task = page.state.config.task
    assert task["input"] == {"kind": "minilm", "text": "my own words here", "layer": 3}
    assert task["n"] == 64 and task["sweep"] is None and page.state.error == ""
    assert page._input_form.widgets["layer"].value == 3


def test_weights_are_shown_at_the_largest_length_a_method_was_measured_at():
    # cancelled right after the exact weights of n=2048 were drawn, the pane showed them
    # alone under "n = 2048 ... Of all entries:" and a sentence that ended there
    page = small_page()
    page.start()
    page.state.wait(300)
    snap = page.state.snapshot()
    heat = snap[0]["result"].artifacts["heatmaps"]
    n = max(heat, key=int)
    heat[str(2 * int(n))] = {"weights": heat[n]["weights"], "kept": {}}
    page._draw_heatmaps(snap)
    assert f"n = {n}: exact attention weights" in page.heat_caption.object
    assert "% computed" in page.heat_caption.object
    for h in heat.values():  # nothing measured anywhere: no pane at all
        h["kept"] = {}
    page._draw_heatmaps(snap)
    assert page.heat.object is None and page.heat_caption.object == ""


def test_a_run_cancelled_before_its_first_row_does_not_say_cancelled_twice():
    from tensorbench.app.pages.attention import _status_text

    snap = {"records": [], "message": "cancelled", "status": "cancelled"}
    assert _status_text(snap) == ""  # the row reads "attention cancelled", once
    assert _status_text(snap | {"message": "input with n=512", "status": "running"}) == (
        " · input with n=512"
    )


def test_a_log_axis_within_a_decade_or_two_gets_labelled_ticks():
    # speedups of 0.13 to 1.1: Bokeh labelled nothing below 0.5
    from tensorbench.widgets.attention_view import _log_ticks, sweep_plots

    assert _log_ticks(0.131, 1.1) == [(0.2, "0.2"), (0.5, "0.5"), (1.0, "1")]
    assert _log_ticks(1e-6, 1e-2) is None  # wide spans keep Bokeh's decades
    rows = [
        {"label": m, "value": n, "median_s": s * n, "rel_error": 1e-3, "speedup": sp}
        for m, s, sp in (("exact", 1e-4, 1.0), ("hyper", 8e-4, 0.131))
        for n in (512, 1024)
    ]
    speedup = sweep_plots(rows, "n")[2]
    assert [t for t, _ in speedup.opts.get().kwargs["yticks"]] == [0.2, 0.5, 1.0]
