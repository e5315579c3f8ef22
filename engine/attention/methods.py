"""The attention methods by name, their parameters, and how they are measured.

Every method is ``func(inp, causal, params, kept) -> (out, info)`` on an
:class:`~tensorbench.engine.attention.inputs.AttentionInput`; ``kept`` asks for the map of
entries it computed (heatmaps and recall, small inputs only). :func:`measure` times a
method (median and p20/p80 of repeats, CUDA events on a GPU), measures its peak memory,
and compares its output with the float64 exact reference.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..params import Param
from .core import AttentionError, reference_attention
from .exact import sdpa, topk_attention
from .hydragen import hydragen_attention
from .hyper import hyper_attention, hyper_pairs
from .inputs import AttentionInput
from .lev import lev_attention
from .masks import MASKS, make_mask, masked_attention

__all__ = ["METHODS", "MethodSpec", "counted_flops", "get_method", "measure", "reference_for"]


@dataclass(frozen=True)
class MethodSpec:
    """A registered method."""

    name: str
    func: Callable[..., tuple[torch.Tensor, dict[str, Any]]]
    params: tuple[Param, ...]
    doc: str
    family: str = "attention"
    #: Needs as many queries as keys: ``(when, what)`` with ``when`` "always" or "causal"
    #: (only then) and ``what`` the refusal's subject; None where any input serves.
    needs_square: tuple[str, str] | None = None


METHODS: dict[str, MethodSpec] = {}


def _register(
    name: str, doc: str, *params: Param, needs_square: tuple[str, str] | None = None
) -> Callable:
    def deco(func: Callable) -> Callable:
        METHODS[name] = MethodSpec(name, func, tuple(params), doc, needs_square=needs_square)
        return func

    return deco


def get_method(name: str) -> MethodSpec:
    """The spec of method ``name``; an unknown name lists the valid ones."""
    if name not in METHODS:
        raise AttentionError(
            f"unknown attention method {name!r}; choose one of: {', '.join(sorted(METHODS))}"
        )
    return METHODS[name]


def _causal_keep(nq: int, nk: int, device: Any) -> torch.Tensor:
    """End-aligned causal map: query ``i`` sits at position ``nk - nq + i``."""
    qi = torch.arange(nk - nq, nk, device=device)[:, None]
    return torch.arange(nk, device=device)[None, :] <= qi


@_register(
    "exact",
    "exact attention (SDPA: flash / cuDNN on CUDA, fused kernel on CPU)",
    Param(
        "backend",
        "choice",
        "auto",
        "pin one of PyTorch's SDPA kernels",
        choices=("auto", "flash", "efficient", "cudnn", "math"),
    ),
)
def _exact(inp: AttentionInput, causal: bool, p: dict[str, Any], kept: bool):
    k, v = inp.full_kv()
    out = sdpa(inp.q, k, v, causal=causal, backend=p.get("backend", "auto"))
    info: dict[str, Any] = {}
    if kept:
        nq, nk = inp.q.shape[-2], k.shape[-2]
        m = _causal_keep(nq, nk, k.device) if causal else torch.ones(nq, nk, dtype=torch.bool)
        info["kept"] = m.expand(*inp.q.shape[:-1], nk)
    return out, info


@_register(
    "hyper",
    "HyperAttention: sortLSH block-diagonal part plus a sampled residual",
    Param("lsh_projections", "int", 7, "hyperplanes of the sort (2^r buckets)", max=30),
    Param("block", "int", 256, "queries and keys per diagonal block", max=2**20),
    Param("samples", "int", 256, "keys sampled for the residual", max=2**24),
    Param("min_seq_len", "int", 2048, "causal pieces this short are exact", max=2**24),
    Param("seed", "int", 0, "seed of the hyperplanes and samples", min=0, max=2**31 - 1),
    needs_square=("causal", "causal HyperAttention needs"),
)
def _hyper(inp: AttentionInput, causal: bool, p: dict[str, Any], kept: bool):
    k, v = inp.full_kv()
    return hyper_attention(inp.q, k, v, causal=causal, return_kept=kept, **p)


@_register(
    "lev",
    "LevAttention: every query attends a universal set of keys chosen by leverage score",
    Param("keys", "int", 256, "size of the universal set", max=2**24),
    Param("eps", "float", None, "keep keys with leverage at least this instead", min=0.0, max=1e6),
    Param("window", "int", 0, "also attend this many nearest keys", min=0, max=2**24),
    Param(
        "power", "float", None, "f(x) = |x|^power attention instead of softmax", min=0.1, max=64.0
    ),
)
def _lev(inp: AttentionInput, causal: bool, p: dict[str, Any], kept: bool):
    k, v = inp.full_kv()
    out, info = lev_attention(inp.q, k, v, causal=causal, return_kept=kept, **p)
    if kept:
        heads, nq, nk = inp.q.shape[-3], inp.q.shape[-2], k.shape[-2]
        idx = info.pop("kept").repeat_interleave(heads // k.shape[-3], dim=-2)
        m = torch.zeros(*inp.q.shape[:-1], nk, dtype=torch.bool, device=k.device)
        m.scatter_(-1, idx.unsqueeze(-2).expand(*idx.shape[:-1], nq, idx.shape[-1]), True)
        if p.get("window"):
            qi = torch.arange(nk - nq, nk, device=k.device)[:, None]
            kj = torch.arange(nk, device=k.device)[None, :]
            w = p["window"]
            m |= (qi - kj < w) & (kj - qi < (1 if causal else w))
        if causal:
            m &= _causal_keep(nq, nk, k.device)
        info["kept"] = m
    return out, info


@_register(
    "hydragen",
    "Hydragen: the shared prefix attended once for the whole batch, merged with each "
    "sequence's suffix (exact; needs a shared_prefix input)",
)
def _hydragen(inp: AttentionInput, causal: bool, p: dict[str, Any], kept: bool):
    if not inp.shared_prefix:
        raise AttentionError(
            "hydragen needs a batch sharing a prefix: choose the shared_prefix input"
        )
    out = hydragen_attention(inp.q, (inp.prefix_k, inp.prefix_v), inp.k, inp.v, causal=causal)
    info: dict[str, Any] = {}
    if kept:
        _, info = _exact(inp, causal, {}, True)
    return out, info


@_register(
    "mask",
    "a block-sparse mask (FlexAttention on CUDA, a block loop on the CPU); exact under it",
    Param("pattern", "choice", "sliding_window", "the mask", choices=tuple(MASKS)),
    Param("options", "json", None, 'the pattern\'s parameters, e.g. {"window": 512}'),
    Param("block", "int", 128, "block size of the sparsity", max=2**16),
    needs_square=("always", "block-sparse masks need"),
)
def _mask(inp: AttentionInput, causal: bool, p: dict[str, Any], kept: bool):
    k, v = inp.full_kv()
    if inp.q.shape[-2] != k.shape[-2]:
        raise AttentionError(
            "block-sparse masks need as many queries as keys; choose another input"
        )
    opts = dict(p["options"] or {})
    if p["pattern"] == "bigbird":
        opts.setdefault("n", k.shape[-2])
    spec = make_mask(p["pattern"], **opts)
    out, info = masked_attention(inp.q, k, v, spec, block=p["block"])
    if kept:
        info["kept"] = spec.dense(inp.q.shape[-2], k.shape[-2], k.device).expand(
            *inp.q.shape[:-1], k.shape[-2]
        )
    info["density"] = info["blocks_kept"] / info["blocks_total"]
    return out, info


@_register(
    "topk",
    "oracle: each query keeps its top-k scores exactly (computes every score; the best any "
    "method keeping k entries per row can do)",
    Param("topk", "int", 256, "entries kept per row", max=2**24),
)
def _topk(inp: AttentionInput, causal: bool, p: dict[str, Any], kept: bool):
    k, v = inp.full_kv()
    out, lse = topk_attention(inp.q, k, v, p["topk"], causal=causal)
    info: dict[str, Any] = {"lse": lse}
    if kept:
        info["kept"] = _topk_kept(inp.q, k, p["topk"], causal)
    return out, info


def _topk_kept(q: torch.Tensor, k: torch.Tensor, topk: int, causal: bool) -> torch.Tensor:
    from .core import expand_kv

    s = torch.matmul(q.double(), expand_kv(k, q.shape[-3]).double().transpose(-1, -2))
    if causal:
        s = s.masked_fill(~_causal_keep(q.shape[-2], k.shape[-2], q.device), -math.inf)
    idx = s.topk(min(topk, k.shape[-2]), dim=-1).indices
    return torch.zeros_like(s, dtype=torch.bool).scatter_(-1, idx, True) & torch.isfinite(s)


# --------------------------------------------------------------------------- measuring


def reference_for(
    inp: AttentionInput,
    causal: bool,
    power: float | None = None,
    check: Callable[[], None] | None = None,
):
    """The float64 exact ``(out, lse)`` of ``inp`` (end-aligned causal when asked);
    ``check`` is called between chunks (see :func:`reference_attention`)."""
    k, v = inp.full_kv()
    nq, nk = inp.q.shape[-2], k.shape[-2]
    mask = _causal_keep(nq, nk, "cpu") if causal else None
    return reference_attention(inp.q, k, v, mask=mask, power=power, check=check)


def counted_flops(
    name: str, inp: AttentionInput, causal: bool, p: dict[str, Any], info: dict[str, Any]
) -> float:
    """Multiply-adds x 2 of the score and value products a method performs (counted from
    its parameters, not measured): ``4 d`` per query-key pair computed."""
    b, h, nq, d = inp.q.shape
    nk = inp.full_kv()[0].shape[-2]
    pair = 4.0 * d * b * h
    full = nq * nk * (0.5 if causal and nq == nk else 1.0)
    if name in ("exact", "hydragen", "topk"):
        return pair * full
    if name == "hyper":
        # Its own plan: the pieces it runs exactly count in full (a causal run below
        # min_seq_len is exact attention and once counted as half of it).
        return pair * hyper_pairs(
            nq,
            nk,
            causal=causal and nq == nk,
            block=p["block"],
            samples=p["samples"],
            min_seq_len=p["min_seq_len"],
        )
    if name == "lev":
        return pair * nq * (info.get("set_size", 0) + 2 * p.get("window", 0))
    if name == "mask":
        return pair * full * info.get("density", 1.0) * (2.0 if causal else 1.0)
    return float("nan")


def _release_free_memory() -> None:
    """Hand the C heap's free pages back to the OS (glibc ``malloc_trim``; nothing where
    that is not available).

    Without it a run reuses the pages an earlier run freed and the resident set does not
    grow: every method measured ~4 KiB on CPU, exact attention at 4096 tokens included.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: macOS, Windows, musl
        ctypes.CDLL(None).malloc_trim(0)


class _PeakRSS:
    """Peak resident memory of this process while a block runs (sampled every 2 ms from
    /proc; 0 where that is not available), minus the resident memory before it. The C
    heap's free pages are released first, so memory the block reuses counts too."""

    def __enter__(self) -> _PeakRSS:
        _release_free_memory()
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096
        except OSError:
            return 0

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def delta(self) -> int:
        return max(0, self.peak - self.start)


def measure(
    name: str,
    inp: AttentionInput,
    *,
    causal: bool,
    params: dict[str, Any],
    repeats: int = 5,
    reference: tuple[torch.Tensor, torch.Tensor] | None = None,
    exact_seconds: float | None = None,
    kept: bool = False,
    check: Callable[[], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run method ``name`` ``repeats`` times (after one warm-up) and measure it;
    ``check`` (a run's cancel check) is called before each of those runs.

    Returns ``(metrics, info)``: metrics are JSON numbers -- ``median_s``, ``p20_s``,
    ``p80_s``, ``peak_bytes`` (CUDA: allocator peak; CPU: peak resident-set growth over one
    more run, untimed, after the C heap's free pages are released),
    ``flops`` (counted), ``speedup`` (against ``exact_seconds``), and with a reference
    ``rel_error`` (Frobenius, against float64 exact), ``v_error`` (the same difference
    against the values' scale, :func:`_values_scale`), ``max_error``, ``lse_error`` (where
    the method returns log-sum-exps) and ``recall`` (share of the reference's attention
    mass on entries above 1/Nk that the method computed; with ``kept``).
    """
    spec = get_method(name)
    dev = inp.q.device

    def run(keep: bool = False) -> tuple[torch.Tensor, dict[str, Any]]:
        # Cancel waited for every repeat: exact attention at 32k tokens on a CPU is ~20 s
        # a run, five runs a measurement
        if check is not None:
            check()
        return spec.func(inp, causal, params, keep)

    out, info = run(kept)  # warm-up (and the kept map, when asked)
    times = []
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            torch.cuda.synchronize(dev)
            times.append(start.elapsed_time(end) / 1e3)
        peak = torch.cuda.max_memory_allocated(dev) - base
    else:
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        with _PeakRSS() as mem:  # one more run, off the clock (the poller costs time)
            run()
        peak = mem.delta
    times.sort()
    # inclusive: the 20th and 80th percentiles stay within the measured times
    q = statistics.quantiles(times, n=5, method="inclusive") if len(times) >= 2 else [times[0]] * 4
    m: dict[str, Any] = {
        "median_s": statistics.median(times),
        "p20_s": q[0],
        "p80_s": q[3],
        "peak_bytes": int(peak),
        "flops": counted_flops(name, inp, causal, params, info),
    }
    if exact_seconds:
        m["speedup"] = exact_seconds / m["median_s"]
    if reference is not None:
        ref, ref_lse = reference
        diff = out.detach().to("cpu", torch.float64) - ref
        m["rel_error"] = float(diff.norm() / ref.norm())
        m["v_error"] = float(diff.norm() / _values_scale(inp, ref))
        m["max_error"] = float(diff.abs().max())
        if "lse" in info:
            m["lse_error"] = float((info["lse"].to("cpu", torch.float64) - ref_lse).abs().max())
        if kept and "kept" in info:
            m["recall"] = _recall(inp, causal, info["kept"])
    for key in ("set_size", "density", "blocks_kept", "blocks_total"):
        if key in info:
            m[key] = info[key]
    return m, info


def _values_scale(inp: AttentionInput, ref: torch.Tensor) -> float:
    """``sqrt(rows of O) * rms row norm of V``: the size of the output if every query took
    one value row whole.

    ``||O~ - O|| / ||O||`` runs far above 1 whenever attention spreads over many random
    values: each row of O is then their average, near zero, and any sampling noise dwarfs
    it (the clustered demo read 1.7 for HyperAttention). Measured against V's scale --
    the scale of HyperAttention's guarantee, ``||V||`` -- the same error says how much of
    the values' size it gets wrong.
    """
    v = inp.full_kv()[1].detach().to("cpu", torch.float64)
    rms = float(v.pow(2).sum(-1).mean().sqrt())
    rows = ref.numel() // ref.shape[-1]
    return max(rms * math.sqrt(rows), 1e-300)


def _recall(inp: AttentionInput, causal: bool, kept: torch.Tensor) -> float:
    """Share of the exact attention mass on large entries (weight > 1/Nk) that is kept."""
    k = inp.full_kv()[0]
    nq, nk = inp.q.shape[-2], k.shape[-2]
    mask = _causal_keep(nq, nk, "cpu") if causal else None
    from .core import expand_kv

    q64 = inp.q.detach().cpu().double()
    s = torch.matmul(q64, expand_kv(k, q64.shape[-3]).cpu().double().transpose(-1, -2))
    s = s / math.sqrt(q64.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, -math.inf)
    w = torch.softmax(s, dim=-1)
    big = w > 1.0 / nk
    total = float((w * big).sum())
    return float((w * big * kept.cpu()).sum()) / total if total > 0 else 1.0
