"""Code and picture exports: generated programs give the engine's numbers, pictures parse.

Ground truth is the engine's own contraction (:func:`tensorbench.engine.contract`) of the
very arrays the generated program built, so every code target is checked against one
reference, on every template and on random networks with hyperedges, scalars and summed
legs.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from tb_testing import SMALL_TEMPLATE_ARGS, networks

from tensorbench.engine import (
    CODE_TARGETS,
    EXPORT_TARGETS,
    TEMPLATES,
    Config,
    Network,
    NetworkError,
    Tensor,
    build_template,
    contract,
    export_as,
    export_code,
    get_task,
    run,
    target_warnings,
)
from tensorbench.engine.drawing import latex_escape, to_png, to_svg, to_tikz

CODE = list(CODE_TARGETS)
SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

SMALL = SMALL_TEMPLATE_ARGS

# Names that break naive code generation: quotes, triple quotes, backslashes, Unicode,
# spaces, keywords, format braces, comment signs and an encoding declaration.
NASTY = [
    'a"b',
    "c'd",
    'e"""f',
    "g\\h",
    "ünï",
    "class",
    "x y",
    "'''",
    "# not a comment",
    "{0} %s",
    "\\N{BULLET}",
    "coding: latin-1",
]


def nasty_network() -> Network:
    """A chain of tensors with hostile tensor, index and tag names, a hyperedge (on three
    tensors and in the output), a summed leg, a scalar tensor and a hostile network name."""
    n = len(NASTY)
    tensors = []
    for k, name in enumerate(NASTY):
        ixs = [f"leg {NASTY[k]}"]
        if k > 0:
            ixs.append(f"bond{k} {NASTY[k - 1]}")
        if k < n - 1:
            ixs.append(f"bond{k + 1} {NASTY[k]}")
        if k in (1, 4, 7):
            ixs.append('hyper """\\')
        tensors.append(Tensor(name, tuple(ixs), None, (NASTY[-1 - k], "lambda")))
    tensors.append(Tensor("scalar ()", (), None, ("if",)))
    sizes = {ix: 2 for t in tensors for ix in t.indices}
    sizes["leg ünï"] = 3
    output = [f"leg {name}" for name in NASTY if name != "class"] + ['hyper """\\']
    return Network(tensors, sizes, output, name='-*- coding: utf-16 -*- """ \\ \'evil\'')


def run_code(source: str) -> dict:
    """Execute a generated program in a fresh namespace and return its variables."""
    namespace: dict = {}
    exec(compile(source, "<export>", "exec"), namespace)
    return namespace


def check_target(net: Network, target: str, dtype: str = "float64") -> dict:
    """Run ``target``'s program for ``net``; its result must equal the engine's contraction
    of the same arrays."""
    ns = run_code(export_code(net, target, dtype=dtype))
    arrays = ns["arrays"]
    assert len(arrays) == len(net.tensors)
    # the program's data is the contract task's, bit for bit (numpy's generator)
    engine_data = net.random_arrays(seed=0, dtype=dtype, generator="numpy")
    for a, t, e in zip(arrays, net.tensors, engine_data, strict=True):
        assert isinstance(a, np.ndarray) and a.shape == net.shape(t)
        assert a.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(a, e.numpy())
    expected = contract(net, [torch.from_numpy(a) for a in arrays]).numpy()
    got = np.asarray(ns["result"])
    assert got.shape == expected.shape == tuple(net.sizes[ix] for ix in net.output)
    scale = max(float(np.abs(expected).max(initial=0.0)), 1.0)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13 * scale)
    return ns


# ------------------------------------------------------------------------------ code targets


@pytest.mark.parametrize("target", CODE)
@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_matches_the_engine(name, target):
    check_target(build_template(name, **SMALL[name]), target)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(net=networks())
def test_random_networks_match_the_engine(net):
    # Random networks hold hyperedges, scalars (no indices), summed dangling legs,
    # disconnected parts and shuffled axis orders.
    for target in CODE:
        check_target(net, target)


@pytest.mark.parametrize("target", CODE)
def test_edge_cases_match_the_engine(target):
    lone = Network([Tensor("A", ("i", "s", "j"))], {"i": 2, "s": 3, "j": 4}, ["j", "i"])
    scalar = Network([Tensor("A", ())], {})
    scalars = Network([Tensor("A", ()), Tensor("B", ("s",)), Tensor("C", ())], {"s": 3}, [])
    # a hyperedge on two tensors and in the output (a batch index), output reversed
    batch = Network(
        [Tensor("A", ("b", "i", "k")), Tensor("B", ("k", "b", "j"))],
        {"b": 2, "i": 3, "j": 4, "k": 5},
        ["j", "b", "i"],
    )
    for net in (lone, scalar, scalars, batch):
        check_target(net, target)


@pytest.mark.parametrize("target", CODE)
def test_complex_data(target):
    ns = check_target(
        build_template("cp", dims=[3, 4, 2], rank=3, weights=True), target, "complex128"
    )
    assert np.iscomplexobj(np.asarray(ns["result"]))


@pytest.mark.parametrize("target", CODE)
def test_hostile_names_compile_and_run(target):
    net = nasty_network()
    source = export_code(net, target)
    compile(source, "n.py", "exec")
    check_target(net, target)
    # Names appear only as string literals or in comments, never as identifiers.
    assert "class =" not in source and "if =" not in source


@pytest.mark.parametrize("dtype", ["float64", "float32", "complex128"])
@pytest.mark.parametrize("target", CODE)
def test_exported_program_prints_the_value_of_tensorbench_run(tmp_path, target, dtype):
    # A user exports numpy code from the Network page and compares its printed norm with
    # the page's Run (the contract task): they once differed (the task drew its data with
    # torch's generator, the programs with numpy's), 30.33 against 34.00 on a 6^4 ring.
    net = build_template("tensor_ring", dims=[6, 6, 6, 6], ranks=3)
    task = get_task("contract").check({"dtype": dtype})
    cfg = Config({"kind": "contract", **task}, net, 7, "cpu")
    path = tmp_path / f"{target}_export.py"
    path.write_text(export_as(cfg, target), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    printed = float(re.fullmatch(r"result: shape .*, norm (\S+)\n", proc.stdout).group(1))
    value = run(cfg).metrics["value"]["norm"]
    assert printed == pytest.approx(value, rel=1e-5 if dtype == "float32" else 1e-10)


@pytest.mark.parametrize("target", CODE)
def test_program_runs_as_a_script(tmp_path, target):
    # Hostile names again: a script read from a file also honours encoding declarations.
    net = nasty_network()
    source = export_code(net, target, seed=5)
    path = tmp_path / f"{target}_export.py"  # not numpy.py: it would shadow numpy
    path.write_text(source, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    ns = run_code(source)
    expected = contract(net, [torch.from_numpy(a) for a in ns["arrays"]])
    norm = float(torch.linalg.vector_norm(expected))
    m = re.fullmatch(r"result: shape (\(.*\)), norm (\S+)\n", proc.stdout)
    assert m, proc.stdout
    assert m.group(1) == str(tuple(expected.shape))
    assert float(m.group(2)) == pytest.approx(norm, rel=1e-10)


def test_header_names_the_network_flops_and_version():
    from tensorbench.engine import __version__
    from tensorbench.engine.cost import find_path, path_cost

    net = build_template("mps", sites=4, bond=3)
    flops = path_cost(net, find_path(net)).flops
    for target in CODE:
        head = export_code(net, target).splitlines()[:4]
        text = "\n".join(head)
        assert f"tensorbench {__version__}" in text
        assert repr(net.name) in text
        assert f"{flops:.4e} flops" in text
        # nothing the user typed sits on the lines Python reads encoding declarations from
        assert net.name not in "\n".join(head[:2])


def test_seed_changes_the_data_not_the_structure():
    net = build_template("mps", sites=3, bond=2)
    a = run_code(export_code(net, "numpy", seed=1))["arrays"]
    b = run_code(export_code(net, "numpy", seed=1))["arrays"]
    c = run_code(export_code(net, "numpy", seed=2))["arrays"]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def wide_chain(n: int = 30) -> Network:
    """A chain with a summed leg on every tensor: 2n - 1 indices, a scalar result."""
    tensors = []
    for k in range(n):
        ixs = [f"s{k}"] + ([f"b{k}"] if k > 0 else []) + ([f"b{k + 1}"] if k < n - 1 else [])
        tensors.append(Tensor(f"T{k}", tuple(ixs)))
    sizes = {ix: 2 for t in tensors for ix in t.indices}
    return Network(tensors, sizes, [])


def test_more_than_52_indices():
    net = wide_chain()
    assert len(net.indices) > 52
    with pytest.raises(NetworkError, match="52 letters.*export to 'cotengra' or 'quimb'"):
        export_code(net, "numpy")
    assert any("52 letters" in w for w in target_warnings(net, "numpy"))
    # torch uses local letters per step; cotengra and quimb take any index names
    for target in ("torch", "cotengra", "quimb"):
        assert target_warnings(net, target) == []
        check_target(net, target)


def test_a_step_with_more_than_52_indices_refuses_torch():
    a = tuple(f"a{k}" for k in range(30))
    b = tuple(f"c{k}" for k in range(30))
    net = Network(
        [Tensor("A", (*a, "x")), Tensor("B", ("x", *b))], {ix: 1 for ix in (*a, *b)} | {"x": 3}
    )
    with pytest.raises(NetworkError, match="torch.einsum accepts only the 52"):
        export_code(net, "torch")
    assert any("step 1" in w for w in target_warnings(net, "torch"))
    # cotengra and quimb hand such a step to numpy.einsum, which has the same limit: the
    # code is still written, with a warning the app can show.
    for target in ("cotengra", "quimb"):
        compile(export_code(net, target), "x.py", "exec")
        assert any("may pass such a step" in w for w in target_warnings(net, target))


def test_unknown_target_lists_the_valid_ones():
    net = build_template("mps", sites=3)
    with pytest.raises(NetworkError, match="unknown code target 'jax'.*numpy, torch, quimb"):
        export_code(net, "jax")
    with pytest.raises(NetworkError, match="unknown code target"):
        target_warnings(net, "jax")
    with pytest.raises(NetworkError, match="unknown dtype"):
        export_code(net, "numpy", dtype="int8")
    with pytest.raises(NetworkError, match="unknown path optimizer"):
        export_code(net, "numpy", optimize="fastest")


def test_target_warnings_are_sentences():
    cp = build_template("cp", dims=[3, 4, 5], rank=3)
    for target in CODE:
        assert target_warnings(cp, target) == []
    (note,) = target_warnings(build_template("cp", dims=[200, 200, 200], rank=64), "numpy")
    assert note.startswith("numpy.einsum contracts hyperedges")
    # 2**30 entries per tensor: the warning is computed, nothing is allocated
    big = Network(
        [Tensor("A", ("i", "j")), Tensor("B", ("j", "k"))], {"i": 2**15, "j": 2**15, "k": 2}
    )
    (note,) = target_warnings(big, "quimb")
    assert "GiB" in note and note.endswith("small machine")


# ---------------------------------------------------------------------------------- pictures


def svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [el.text or "" for el in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("name", ["mps", "cp", "peps", "mera", "tucker"])
def test_svg_parses_and_shows_every_tensor(name):
    net = build_template(name, **SMALL[name])
    svg = to_svg(net)
    root = ET.fromstring(svg)
    texts = svg_texts(svg)
    for t in net.tensors:
        assert t.name in texts
    x0, y0, w, h = map(float, root.get("viewBox").split())
    assert (x0, y0) == (0, 0) and 50 < w < 5000 and 50 < h < 5000
    for c in root.iter(f"{SVG}circle"):
        cx, cy, r = (float(c.get(k)) for k in ("cx", "cy", "r"))
        assert r <= cx <= w - r and r <= cy <= h - r  # inside the margins
    hubs = list(root.iter(f"{SVG}polygon"))
    assert len(hubs) == len(net.hyperedges)
    dashed = [ln for ln in root.iter(f"{SVG}line") if ln.get("stroke-dasharray")]
    assert bool(dashed) == bool(net.hyperedges)


def test_svg_escapes_hostile_names():
    net = nasty_network().replace(tensors=[*nasty_network().tensors, Tensor("<b>&amp;</b>]]>", ())])
    svg = to_svg(net)
    texts = svg_texts(svg)
    for t in net.tensors:
        assert t.name in texts
    assert net.name in texts
    assert "<b>" not in svg


def test_tikz_is_a_picture_with_escaped_names():
    net = Network(
        [Tensor("a_b$c", ("i", "k")), Tensor("{x}^%#&~\\", ("k", "j"))],
        {"i": 2, "j": 3, "k": 4},
        name="50% & more",
    )
    tex = to_tikz(net)
    body = [line for line in tex.splitlines() if not line.startswith("%")]
    assert body[0] == "\\begin{tikzpicture}" and body[-1] == "\\end{tikzpicture}"
    assert tex.count("\\begin{tikzpicture}") == tex.count("\\end{tikzpicture}") == 1
    assert r"{a\_b\$c}" in tex
    assert r"{\{x\}\^{}\%\#\&\textasciitilde{}\textbackslash{}}" in tex
    assert r"50\% \& more" in tex
    # Braces balance once escaped ones are removed, and no bare % starts a comment.
    plain = "\n".join(body).replace("\\{", "").replace("\\}", "")
    assert plain.count("{") == plain.count("}")
    assert not re.search(r"(?<!\\)%", "\n".join(body))


def test_latex_escape():
    assert latex_escape("a_b") == r"a\_b"
    assert latex_escape("\\") == r"\textbackslash{}"
    assert latex_escape("Σx (2)") == r"$\Sigma$x (2)"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_png_has_a_sensible_size():
    net = build_template("peps", **SMALL["peps"])
    w, h = png_size(to_png(net))
    assert 200 < w < 4000 and 100 < h < 4000
    w2, _h2 = png_size(to_png(net, dpi=300))
    assert w2 == pytest.approx(2 * w, rel=0.02)


def test_png_draws_hostile_names_as_text():
    # '$...$' would be mathtext (and fail to parse) if matplotlib were allowed to read it.
    net = Network([Tensor("$\\frac{$", ("i",)), Tensor("中文 ünï", ("i",))], {"i": 2})
    png_size(to_png(net, dpi=50))


# ------------------------------------------------------------------------------- export_as


def test_export_as_covers_every_target():
    net = build_template("cp", dims=[3, 4, 2], rank=2)
    cfg = Config(get_task("contract").defaults(), net, seed=3, device="cpu", name="c")
    for target, (doc, suffix, binary) in EXPORT_TARGETS.items():
        assert doc and suffix.startswith(".")
        for source in (cfg, cfg.to_dict(), net):
            data = export_as(source, target)
            assert isinstance(data, bytes if binary else str), target
    assert Network.from_json(export_as(cfg, "json")) == net
    assert export_as(cfg, "script") == __import__("tensorbench").engine.export_script(cfg)
    assert export_as(cfg, "numpy") == export_code(net, "numpy", seed=3)
    assert export_as(cfg, "svg") == to_svg(net, seed=3)
    assert export_as(net, "numpy", seed=4) == export_code(net, "numpy", seed=4)


def test_export_as_rejects_unknown_targets_and_options():
    net = build_template("mps", sites=3)
    with pytest.raises(NetworkError, match="unknown export target 'pdf'.*script, json"):
        export_as(net, "pdf")
    with pytest.raises(TypeError, match="takes no option 'dpi'"):
        export_as(net, "svg", dpi=100)


def test_engine_import_stays_light():
    code = (
        "import sys, tensorbench.engine\n"
        "print(' '.join(m for m in ('matplotlib', 'panel', 'bokeh', 'holoviews') "
        "if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_no_two_leg_labels_of_a_template_overlap(name):
    # the hierarchical Tucker's middle leaves pointed their legs at each other, and
    # "i1 (6)" and "i2 (6)" were drawn on top of one another
    from tensorbench.engine.drawing import LABEL_FONT_PX, scene

    drawn = scene(build_template(name)).labels
    labels = [_label_box(lab) for lab in drawn if lab["kind"] == "open"]
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            apart = a[1] <= b[0] or b[1] <= a[0] or abs(a[2] - b[2]) >= LABEL_FONT_PX
            assert apart, (a, b)


def _label_box(lab):
    """(left, right, y) of a label as drawn (~0.5 em per character at this size)."""
    from tensorbench.engine.drawing import LABEL_FONT_PX

    w = 0.5 * LABEL_FONT_PX * len(lab["text"])
    left = {"start": lab["x"], "end": lab["x"] - w}.get(lab["anchor"], lab["x"] - w / 2)
    return left, left + w, lab["y"]


@pytest.mark.parametrize("name", ["peps", "mps", "tensor_ring", "ttn", "mera"])
def test_no_leg_label_covers_a_leg_end(name):
    # a sideways leg's label was centred past its tip and covered it ("p1_0 (2)" on a
    # PEPS), in the SVG, PNG and TikZ pictures; it now starts (or ends) beside it
    from tensorbench.engine.drawing import LABEL_FONT_PX, LEG_END_HALF, scene

    sc = scene(build_template(name))
    for lab in sc.labels:
        left, right, y = _label_box(lab)
        for end in sc.leg_ends:
            clear_x = right <= end["x"] - LEG_END_HALF or left >= end["x"] + LEG_END_HALF
            clear_y = abs(y - end["y"]) >= LABEL_FONT_PX / 2 + LEG_END_HALF
            assert clear_x or clear_y, (lab["text"], end["index"])


@pytest.mark.parametrize(
    ("equation", "sizes"),
    [
        ("ab,bc,bd->acd", "abcd"),
        # two hyperedges between four tensors (a new user's drawing: "h0=2" sat on a spoke)
        ("ahb,bhjk,ck,hkj->abc", "abchjk"),
    ],
)
def test_hyperedge_labels_keep_off_the_lines(equation, sizes):
    import numpy as np

    from tensorbench.engine.layout import diagram_geometry

    g = diagram_geometry(Network.from_einsum(equation, dict.fromkeys(sizes, 2)))
    points = np.array(
        [
            (e["x0"] + (e["x1"] - e["x0"]) * t, e["y0"] + (e["y1"] - e["y0"]) * t)
            for e in g.edges
            for t in np.linspace(0.0, 1.0, 21)
        ]
    )
    hyper = [lab for lab in g.labels if lab["kind"] == "hyper"]
    assert hyper
    for lab in hyper:
        gap = np.min(np.linalg.norm(points - np.array([lab["x"], lab["y"]]), axis=1))
        assert gap >= 0.15 * g.scale, (lab["text"], gap / g.scale)


def test_bond_sizes_in_pictures_keep_off_other_bonds():
    # an FCTN square's diagonals cross at their middles: each one's size sat on the other
    import numpy as np

    from tensorbench.engine import build_template
    from tensorbench.engine.layout import diagram_geometry

    g = diagram_geometry(build_template("fctn", dims=[3, 3, 3, 3]))
    bonds = [e for e in g.edges if e["kind"] == "bond"]
    labels = [lab for lab in g.labels if lab["kind"] == "bond"]
    assert len(bonds) == len(labels) == 6
    for lab, own in zip(labels, bonds, strict=True):
        p = np.array([lab["x"], lab["y"]])
        for e in bonds:
            if e is own:
                continue
            a, b = np.array([e["x0"], e["y0"]]), np.array([e["x1"], e["y1"]])
            t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0, 1)
            gap = np.linalg.norm(p - (a + t * (b - a)))
            assert gap >= 0.07 * g.scale, (lab["text"], own["index"], e["index"], gap / g.scale)
