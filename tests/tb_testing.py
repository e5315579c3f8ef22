"""Helpers shared by test modules: random valid networks, the CLI runner."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tensorbench.engine import Config, Network, Tensor, load_config

# Small sizes for each template: dense references (numpy.einsum) stay cheap.
SMALL_TEMPLATE_ARGS = {
    "mps": {"sites": 5, "bond": 3, "phys": 2},
    "mpo": {"sites": 4, "bond": 3, "phys": 2},
    "tensor_train": {"dims": [3, 4, 2, 3], "ranks": [2, 3, 2]},
    "tensor_ring": {"dims": [3, 4, 2], "ranks": [2, 3, 2]},
    "tucker": {"dims": [3, 4, 5], "ranks": [2, 3, 2]},
    "cp": {"dims": [3, 4, 5], "rank": 3, "weights": True},
    "peps": {"rows": 2, "cols": 3, "bond": 2, "phys": 2},
    "peps_2x2": {},
    "pepo": {"rows": 2, "cols": 2, "bond": 2, "phys": 2},
    "ttn": {"sites": 6, "bond": 3, "phys": 2},
    "hierarchical_tucker": {"dims": [2, 3, 4, 2, 3], "rank": 2},
    "ht": {"dims": [3, 3, 3], "rank": 2},
    "mera": {"sites": 8, "bond": 3, "phys": 2},
    "fctn": {"dims": [3, 2, 3, 2], "rank": 2},
    "tebd_gate_layer": {"sites": 5, "bond": 3, "phys": 2, "offset": 1},
    "rank_matrix": {"ranks": [[3, 2, 1], [2, 4, 3], [1, 3, 2]], "perm": [2, 0, 1]},
}


#: A small noisy tensor train (6 x 7 x 8, ranks 2, 3): quick to decompose.
SMALL_TT_DATA = {
    "kind": "synthetic",
    "template": "tensor_train",
    "args": {"dims": [6, 7, 8], "ranks": [2, 3]},
    "noise": 0.01,
    "seed": 3,
}


def decompose_config(methods: list[dict], data: dict | None = None, **task) -> Config:
    """A CPU decompose config of ``methods`` on ``data`` (default :data:`SMALL_TT_DATA`)."""
    doc = {"kind": "decompose", "data": data or SMALL_TT_DATA, "methods": methods, **task}
    return load_config({"task": doc, "seed": 1, "device": "cpu"})


INDEX_NAMES = [f"{c}{k}" for c in "abcdefgh" for k in range(4)]


@st.composite
def networks(
    draw,
    max_tensors: int = 6,
    max_size: int = 4,
    hyper: bool = True,
    summed: bool = True,
    connected: bool = False,
) -> Network:
    """Random valid networks: bonds, open legs and (optionally) hyperedges and summed legs.

    Sizes stay small so the networks can be contracted densely as a ground truth.
    """
    n = draw(st.integers(1, max_tensors))
    pool = draw(st.permutations(INDEX_NAMES))
    it = iter(pool)
    indices: list[list[str]] = [[] for _ in range(n)]
    sizes: dict[str, int] = {}
    output: list[str] = []
    # bonds: a chain first when connected, then random extra pairs
    pairs = [(k, k + 1) for k in range(n - 1)] if connected else []
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n))
    pairs += [(a, b) for a, b in extra if a != b]
    for a, b in pairs:
        ix = next(it)
        indices[a].append(ix)
        indices[b].append(ix)
        sizes[ix] = draw(st.integers(1, max_size))
    for k in range(n):
        for _ in range(draw(st.integers(0 if n > 1 else 1, 2))):
            ix = next(it)
            indices[k].append(ix)
            sizes[ix] = draw(st.integers(1, max_size))
            if not summed or draw(st.booleans()) or draw(st.booleans()):
                output.append(ix)
    if hyper and n >= 3 and draw(st.booleans()):
        members = draw(st.lists(st.integers(0, n - 1), min_size=3, max_size=n, unique=True))
        ix = next(it)
        for k in members:
            indices[k].append(ix)
        sizes[ix] = draw(st.integers(1, max_size))
        if draw(st.booleans()):
            output.append(ix)
    # shuffle axis order on each tensor: generated code must respect it
    tensors = []
    for k in range(n):
        order = draw(st.permutations(indices[k]))
        pos = draw(st.one_of(st.none(), st.tuples(st.floats(-5, 5), st.floats(-5, 5))))
        tensors.append(Tensor(f"T{k}", tuple(order), pos, ()))
    output = draw(st.permutations(output))
    return Network(tensors, sizes, output)


def tensorbench_cmd() -> list[str]:
    """The installed ``tensorbench`` console script (the one a user would run)."""
    exe = Path(sys.executable).with_name("tensorbench")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("tensorbench")
    assert found, "the tensorbench command is not installed (pip install -e .)"
    return [found]


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    """Run ``tensorbench ARGS`` in a subprocess and capture its output."""
    return subprocess.run(
        [*tensorbench_cmd(), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def open_page(page, server: str, title: str) -> None:
    """Load the app in a Playwright ``page`` (ready once the default network's 3136
    parameters show) and open the page named ``title`` from the sidebar."""
    from playwright.sync_api import expect

    page.goto(server)
    expect(page.locator("[data-stat=params] .tb-value")).to_have_text("3136", timeout=60_000)
    page.get_by_role("button", name=title, exact=True).click()


_FRAME_HEIGHTS_JS = """() => {
  const out = [];
  // the y axis panel of a figure, in its shadow root or one nested in it
  const leftPanel = (root) => {
    const left = root.querySelector('.bk-CanvasPanel.bk-left');
    if (left) return left.getBoundingClientRect().height;
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) {
        const h = leftPanel(el.shadowRoot);
        if (h >= 0) return h;
      }
    }
    return -1;
  };
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) {
        if (el.classList.contains('bk-Figure')) {
          out.push(leftPanel(el.shadowRoot));
        }
        walk(el.shadowRoot);
      }
    }
  };
  walk(document);
  return out;
}"""


def frame_heights(page) -> list[float]:
    """Height in pixels of every Bokeh figure's plotting frame on ``page`` (its y axis
    panel): 0 where a figure was laid out as axes only, with no room for its data."""
    return page.evaluate(_FRAME_HEIGHTS_JS)


def expect_frames(page, count: int, timeout_s: float = 30.0) -> None:
    """Wait until ``count`` figures on ``page`` have frames over 100 px tall (plots are
    redrawn every second or so), else fail with the heights seen."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        heights = frame_heights(page)
        if sum(h > 100 for h in heights) >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} plot frames over 100 px, got {heights}")
        page.wait_for_timeout(250)


def upload(widget: Any, content: bytes, filename: str) -> None:
    """Choose a file in a FileInput as the browser does: name and content in one change."""
    widget.param.update(value=content, filename=filename)
