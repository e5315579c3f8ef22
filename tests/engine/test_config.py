"""Config documents: defaults, round trips, and clear refusals of bad documents."""

from __future__ import annotations

import copy
import json
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorbench.engine import Config, ConfigError, build_template, load_config


def good_doc() -> dict:
    net = build_template("mps", sites=4, bond=3, phys=2)
    return {
        "format": "tensorbench/config",
        "version": 1,
        "network": net.to_dict(),
        "task": {"kind": "contract"},
        "seed": 5,
        "device": "cpu",
    }


def test_defaults_are_filled_and_round_trip():
    cfg = load_config(good_doc())
    assert cfg.task == {
        "kind": "contract",
        "dtype": "float64",
        "optimize": "auto",
        "repeats": 3,
        "warmup": True,
    }
    assert cfg.seed == 5 and cfg.device == "cpu"
    again = Config.from_dict(json.loads(cfg.to_json()))
    assert again == cfg


def test_replace_validates():
    cfg = load_config(good_doc())
    assert cfg.replace(task={"dtype": "float32"}).task["dtype"] == "float32"
    assert cfg.replace(task={"dtype": "float32"}).task["optimize"] == "auto"
    with pytest.raises(ConfigError, match="config.task.dtype must be one of"):
        cfg.replace(task={"dtype": "float16"})


# (where to put what, and the words the error must contain)
BAD = [
    (("seed",), -1, "config.seed"),
    (("seed",), "0", "config.seed"),
    (("seed",), 1.5, "config.seed"),
    (("device",), "tpu", "config.device"),
    (("device",), 3, "config.device"),
    (("version",), 2, "newer tensorbench"),
    (("version",), "1", "config.version"),
    (("format",), "tensorbench/network", "config.format"),
    (("task",), "contract", "config.task: expected an object"),
    (("task",), {}, "missing field 'kind'"),
    (("task", "kind"), "compress", "unknown task 'compress'; choose one of: attention, contract"),
    (("task", "repeats"), 0, "config.task.repeats must be between 1"),
    (("task", "repeats"), "3", "config.task.repeats must be an integer"),
    (("task", "dtype"), "int8", "config.task.dtype must be one of"),
    (("task", "optimize"), "best", "config.task.optimize must be one of"),
    (("task", "warmup"), "yes", "config.task.warmup must be true or false"),
    (("task", "speed"), 1, "unknown parameter 'speed'"),
    (("network",), [], "config.network: expected a JSON object"),
    (("network", "sizes", "b0"), -2, "config.network: sizes: size of index 'b0' must be >= 1"),
    (("network", "sizes", "b0"), 2 * 10**9, "tensor 'A1' would have 1.2e+10 elements"),
    (("network", "tensors"), "A", "config.network.tensors: expected a list"),
    (("name",), 12, "config.name"),
    (("colour",), "red", "unknown field 'colour'"),
]


def _put(doc: dict, path: tuple[str, ...], value) -> dict:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(("path", "value", "match"), BAD)
def test_bad_fields_name_themselves(path, value, match):
    with pytest.raises(ConfigError, match=re.escape(match)):
        load_config(_put(good_doc(), path, value))


def test_missing_network_and_task():
    doc = good_doc()
    del doc["network"]
    with pytest.raises(ConfigError, match="task 'contract' needs a 'network'"):
        load_config(doc)
    doc = good_doc()
    del doc["task"]
    with pytest.raises(ConfigError, match="missing field 'task'"):
        load_config(doc)


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**15), 10**15)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    ("seed",),
    ("device",),
    ("task",),
    ("task", "kind"),
    ("task", "repeats"),
    ("network",),
    ("network", "tensors"),
    ("network", "sizes"),
    ("network", "output"),
    ("version",),
    ("format",),
]


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(FIELDS), value=JSONISH)
def test_any_garbage_in_any_field_is_a_config_error_or_valid(field, value):
    doc = _put(good_doc(), field, value)
    try:
        load_config(doc)
    except ConfigError as e:
        assert "\n" not in str(e)  # one line, for the CLI
    # anything else (TypeError, KeyError, ...) fails the test


def test_load_config_from_files(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(good_doc()))
    assert load_config(p).seed == 5
    assert load_config(str(p)).seed == 5
    p.write_text('{"task": {"kind": "contract"},')
    with pytest.raises(ConfigError, match=r"c.json: not valid JSON: .* line 1 column"):
        load_config(p)
    with pytest.raises(ConfigError, match=r"the end of the text: is the file cut short\?"):
        load_config(p)
    p.write_text('{"name": "ab\ncd"}')  # a raw newline inside a string
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert " at at " not in str(err.value) and "cut short" not in str(err.value)
    p.write_text("  \n")
    with pytest.raises(ConfigError, match="c.json: not valid JSON: the text is empty$"):
        load_config(p)
    p.write_text('{"name": "abc')
    with pytest.raises(ConfigError, match=r"Unterminated string starting at line 1 column 10"):
        load_config(p)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.json")
    p.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(p)


def test_deeply_nested_json_is_refused_cleanly(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError):
        load_config(p)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    from tensorbench.engine import run

    cfg = load_config(_put(good_doc(), ("device",), "cuda"))
    with pytest.raises(ConfigError, match="use 'auto' or 'cpu'"):
        run(cfg)


def test_an_emptied_list_and_a_large_bound_read_as_a_person_would_write_them():
    from tensorbench.engine.params import Param, check_params

    budgets = (Param("budgets", "ints", [1000], "budgets", max=2**40, scalar_ok=True),)
    with pytest.raises(ConfigError, match=r"budgets is empty: give at least one integer"):
        check_params(budgets, {"budgets": []}, "tucker", ConfigError)  # it read "got []"
    with pytest.raises(ConfigError, match=r"between 1 and 1099511627776, got 0"):
        check_params(budgets, {"budgets": [0]}, "tucker", ConfigError)  # not 1.09951e+12
    lam = (Param("lam", "float", 200.0, "lam", min=1e-6, max=1e12),)
    with pytest.raises(ConfigError, match=r"between 1e-06 and 1e\+12, got -5"):
        check_params(lam, {"lam": -5}, "objective", ConfigError)  # not 1000000000000
