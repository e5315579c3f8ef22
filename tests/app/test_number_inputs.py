"""Number boxes carry no browser bounds; an out-of-range value reaches the server's check.

Bokeh keeps the old value, without a word, when a typed number is outside an input's
``start``/``end``: a user who typed 0 as a sequence length saw nothing happen. Unbounded,
the value reaches the config check, whose message the page shows.
"""

from __future__ import annotations

import json

import panel as pn
import pytest

from tensorbench.app.pages.attention import AttentionPage
from tensorbench.app.pages.decompose import DecomposePage
from tensorbench.app.pages.network import NetworkPage
from tensorbench.app.pages.search import SearchPage
from tensorbench.widgets.forms import IntBox

PAGES = [NetworkPage, AttentionPage, DecomposePage, SearchPage]


@pytest.mark.parametrize("page_cls", PAGES, ids=lambda c: c.__name__)
def test_no_number_input_has_browser_bounds(page_cls: type) -> None:
    layout = page_cls().__panel__()
    boxes = layout.select(pn.widgets.IntInput) + layout.select(pn.widgets.FloatInput)
    assert boxes, "expected number inputs on the page"
    bounded = [(w.name, w.start, w.end) for w in boxes if w.start is not None or w.end is not None]
    assert not bounded


@pytest.mark.parametrize(
    ("page_cls", "field", "value", "message"),
    [
        (AttentionPage, "n", 0, '"sequence length n" must be between 1 and 4194304, got 0'),
        (
            AttentionPage,
            "n",
            None,
            '"sequence length n" is empty: enter an integer from 1 to 4194304',
        ),
        (AttentionPage, "repeats", 5000, '"timed repeats" must be between 1 and 1000'),
        (AttentionPage, "heatmap", -1, '"heatmaps up to n" must be between 0 and 4096'),
        (AttentionPage, "seed", -1, '"seed": expected an integer in [0, 2**63)'),
        (DecomposePage, "seed", -3, '"seed": expected an integer in [0, 2**63)'),
        (SearchPage, "seed", None, '"seed": expected an integer in [0, 2**63)'),
        (SearchPage, "workers", 300, '"worker processes per strategy" must be between 0 and 256'),
    ],
)
def test_out_of_range_number_is_reported_and_config_kept(
    page_cls: type, field: str, value: object, message: str
) -> None:
    page = page_cls()
    before = page.state.config
    getattr(page, field).value = value
    assert message in page.state.error
    assert page.state.config == before


@pytest.mark.parametrize("page_cls", PAGES, ids=lambda c: c.__name__)
def test_whole_number_boxes_read_exponents_and_refuse_fractions(page_cls: type) -> None:
    # Bokeh's integer box drops every non-digit key as it is typed: "1e3" became 13. The
    # pages' whole-number boxes take any number; a whole one arrives as an int.
    from tensorbench.widgets.forms import IntBox

    page = page_cls()
    if page_cls is NetworkPage:
        page.state.select([], [next(iter(page.state.network.sizes))])
    layout = page.__panel__()
    assert not layout.select(pn.widgets.IntInput)
    boxes = layout.select(IntBox)
    assert boxes
    for box in boxes:
        # "1e20" came as an int beyond int64 and raised in Panel's NaN test
        assert box._process_property_change({"value": 10**20}) == {"value": 10**20}
        # an emptied box is sent back empty, not as "NaN"
        assert box._process_param_change({"value": None})["value"] is None
        assert box.step == 1  # its arrows step by one
        assert box._process_property_change({"value": 1000.0}) == {"value": 1000}
        assert type(box._process_property_change({"value": 1000.0})["value"]) is int
        assert box._process_property_change({"value": 2.5}) == {"value": 2.5}


@pytest.mark.parametrize(
    ("page_cls", "field", "message"),
    [
        (AttentionPage, "n", '"sequence length n" must be an integer, got 2.5'),
        (AttentionPage, "repeats", '"timed repeats" must be an integer, got 2.5'),
        (DecomposePage, "seed", '"seed": expected an integer in [0, 2**63), got 2.5'),
        (SearchPage, "truth_order", "order must be between 3 and 12, got 2.5"),
        (SearchPage, "truth_size", "mode size must be between 2 and 64, got 2.5"),
    ],
)
def test_a_fractional_whole_number_is_refused_not_cut(
    page_cls: type, field: str, message: str
) -> None:
    page = page_cls()
    before = page.state.config
    if page_cls is AttentionPage:  # the default sweeps n, which disables its box
        page.sweep_param.value = "(no sweep)"
        before = page.state.config
    getattr(page, field).value = 2.5
    assert message in page.state.error
    assert page.state.config == before


def test_index_size_out_of_range_or_cleared_is_reported() -> None:
    page = NetworkPage()
    st = page.state
    ix = next(iter(st.network.sizes))
    before = st.network
    assert not st.set_size(ix, 0)
    assert "must be >= 1, got 0" in st.error
    assert not st.set_size(ix, None)
    assert f"size of index {ix!r}: enter a whole number" in st.error
    assert st.network == before


def test_every_engine_parameter_shows_its_help_checkboxes_too() -> None:
    # The other inputs show their doc as a "?" icon (description); Panel's Checkbox has no
    # description, so an on/off parameter such as cp_als_lev's "average" had no help at all.
    from tensorbench.engine.params import Param
    from tensorbench.widgets.forms import IntBox, ParamForm

    params = (
        Param("average", "bool", True, "hand back the mean of the last sweeps when better"),
        Param("max_iter", "int", 10, "most sweeps"),
    )
    col = ParamForm(params, {}, lambda: None).column()
    tips = [t.value for t in col.select(pn.widgets.TooltipIcon)]
    assert tips == ["hand back the mean of the last sweeps when better"]
    assert [w.description for w in col.select(IntBox)] == ["most sweeps"]
    assert len(col.select(pn.widgets.CheckBoxGroup)) == 1  # the app's Checkbox, drawn


def test_checkbox_value_is_a_bool_both_ways() -> None:
    # The app's Checkbox is a one-option CheckBoxGroup (its words are a real <label>);
    # pages read and set a plain bool, and a tick in the browser must reach it.
    from tensorbench.widgets.forms import Checkbox

    seen = []
    box = Checkbox(label="causal", value=False, width=120)
    box.param.watch(lambda e: seen.append(e.new), "value")
    group = box.__panel__()
    assert group.value == [] and group.width == 120
    group.value = ["causal"]  # what a click in the browser does
    assert box.value is True and seen == [True]
    box.value = False  # what a page does when it loads a config
    assert group.value == []
    box.disabled = True
    assert group.disabled


def test_json_boxes_read_python_dicts_and_say_how_to_write_one() -> None:
    # The synthetic data's "args" help once read {'dims': [8, 8, 8], 'ranks': 3}, which the
    # box refused (JSON wants double quotes) with an example of another template's args.
    from tensorbench.engine import TensorbenchError
    from tensorbench.engine.data import get_source
    from tensorbench.widgets.forms import value_of, widget_for

    args = next(p for p in get_source("synthetic").params if p.name == "args")
    box = widget_for(args, None)
    box.value = "{'dims': [8, 8, 8], 'ranks': (3, 2, 3), 'cyclic': True}"
    assert value_of(args, box) == {"dims": [8, 8, 8], "ranks": [3, 2, 3], "cyclic": True}
    box.value = '{"dims": [8, 8], "ranks": null}'
    assert value_of(args, box) == {"dims": [8, 8], "ranks": None}
    for bad in ("{'dims': {1, 2}}", "{dims: 8}", "{'x': float('nan')}"):
        box.value = bad
        with pytest.raises(TensorbenchError, match=r'write JSON, e\.g\. \{"dims": \[8, 8, 8\]'):
            value_of(args, box)


def test_lists_of_numbers_read_whole_values_as_ints_exactly():
    from tensorbench.engine import TensorbenchError
    from tensorbench.widgets.forms import parse_numbers

    values = parse_numbers("1e3, 2.5e3, 0.5, 1e-3, 1e23, 2.0, 7", "sweep values", "50, 100")
    assert values == [1000, 2500, 0.5, 0.001, 10**23, 2, 7]
    assert [type(v) for v in values] == [int, int, float, float, int, int, int]
    for bad in ("nan", "inf", "1e400", "1e999999999", "abc", "1,,x"):
        with pytest.raises(TensorbenchError, match="sweep values: could not read"):
            parse_numbers(bad, "sweep values", "50, 100")


def test_a_json_box_without_its_own_example_asks_for_an_object():
    # the network box offered a template's args ({"sites": 6}) as its example
    from tensorbench.engine import TensorbenchError
    from tensorbench.engine.data import get_source
    from tensorbench.widgets.forms import value_of, widget_for

    network = next(p for p in get_source("synthetic").params if p.name == "network")
    box = widget_for(network, None)
    box.value = '{"broken":'
    with pytest.raises(TensorbenchError, match=r'write a JSON object \(\{"key": value'):
        value_of(network, box)


def test_an_error_toast_goes_when_its_error_is_fixed(monkeypatch):
    # it stayed up for its 8 s, naming a value the box no longer held
    from tensorbench.app.pages.decompose import DecomposePage

    shown, gone = [], []

    class Toast:
        def __init__(self, text):
            self.text = text

        def destroy(self):
            gone.append(self.text)

    def error(text, duration=0):
        shown.append(text)
        return Toast(text)

    area = type("Area", (), {"error": staticmethod(error)})()
    monkeypatch.setattr(pn.state, "_notification", area)
    page = DecomposePage()
    page.seed.value = -3
    assert shown and '"seed"' in shown[-1] and not gone
    page.seed.value = 3
    assert gone == [shown[-1]]


def test_float_boxes_step_in_their_defaults_decade():
    # every float box stepped by 0.1: one click took a tolerance of 1e-8 to 0.1
    from tensorbench.engine.params import Param
    from tensorbench.widgets.forms import widget_for

    def step(default):
        return widget_for(Param("x", "float", default, "", min=0, max=1e6), default).step

    assert step(1e-8) == 1e-8
    assert step(0.05) == 0.01
    assert step(200.0) == 100.0
    assert step(None) == 0.1 and step(0.0) == 0.1


def test_refusals_name_the_box_and_uploads_keep_the_config_path():
    # a typed value was refused as "config.task.methods[0] (cp_als_lev).samples ...",
    # words a user who typed into the cp_als_lev card's "samples" box has to decode
    from tensorbench.engine import load_config
    from tensorbench.widgets.box_words import in_box_words

    assert (
        in_box_words(
            "config.task.sweep.values[1]: samples=0 for config.task.methods[0] (cp_als_lev): "
            "samples must be between 1 and 9, got 0"
        )
        == '"values" (sweep), value 2: samples=0 for cp_als_lev: samples must be between 1 '
        "and 9, got 0"
    )
    assert in_box_words("config.task.data: data.noise must be >= 0; see config.json") == (
        '"noise" (data) must be >= 0; see config.json'
    )
    page = DecomposePage(
        load_config(
            {
                "task": {
                    "kind": "decompose",
                    "data": {"kind": "synthetic", "template": "cp", "args": {"dims": [4, 5, 6]}},
                    "methods": [{"method": "cp_als_lev", "rank": 2}],
                },
                "device": "cpu",
            }
        )
    )
    page.method_form.forms["cp_als_lev"].widgets["max_iter"].value = 0
    assert page.state.error.startswith('"max iter" of cp_als_lev must be between 1 and')
    # a file's refusal names the place in the file, where the fix goes
    doc = page.state.config.to_dict()
    doc["task"]["methods"][0]["max_iter"] = 0
    page.state.load_text(json.dumps(doc), "mine.json")
    assert "config.task.methods[0] (cp_als_lev).max_iter must be between" in page.state.error


@pytest.mark.parametrize("page_cls", [DecomposePage, SearchPage], ids=lambda c: c.__name__)
def test_an_emptied_float_box_shows_empty_and_is_refused(page_cls: type) -> None:
    # emptied, a float box showed "NaN"; the hidden truth's noise then ran as 0 unsaid
    from tensorbench.widgets.forms import FloatBox

    page = page_cls()
    layout = page.__panel__()
    if page_cls is DecomposePage:
        for card in page.method_form.forms.values():
            for w in card.widgets.values():
                layout.append(w)  # the collapsed cards' boxes too
    floats = [w for w in layout.select(pn.widgets.FloatInput) if not isinstance(w, IntBox)]
    assert floats and all(isinstance(w, FloatBox) for w in floats)
    for box in floats:
        assert box._process_property_change({"value": float("nan")})["value"] is None
        assert box._process_param_change({"value": float("nan")})["value"] is None
    if page_cls is SearchPage:
        page.truth_noise.value = None
        assert page.state.error == "hidden truth: noise must be a number from 0 to 10, got None"


def test_an_optional_number_says_that_empty_means_not_given():
    # TnALE's interp_rounds and the sampled methods' samples showed a bare empty box
    from tensorbench.engine.params import Param
    from tensorbench.widgets.forms import widget_for

    optional = widget_for(Param("samples", "int", None, "rows sampled"), None)
    assert optional.value is None and optional.placeholder == "empty: not given (see ?)"
    given = widget_for(Param("rank", "int", 3, "CP rank"), 3)
    assert given.placeholder == ""
    assert widget_for(Param("eps", "float", None, "tolerance"), None).placeholder
