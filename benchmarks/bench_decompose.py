"""Decompositions: tensorbench's sampled CP, Tucker, TR and TT rounding against TensorLy and quimb.

Four cases on seeded synthetic data with a known noise floor; every library runs in this
process, on the same data (same seeds), in its best configuration for the work found by
trial (the trials are quoted below and in the tables):

1. CP, 200^3, rank 10, Gaussian factors plus Gaussian noise of relative norm 0.01, 5
   seeds: time until the relative error first reaches the noise floor (<= 1.05 x noise)
   within a cap of 200 sweeps and 60 s. Ours: ``cp_als_lev`` (defaults: 461 samples,
   start from the singular vectors of 200 sampled fibres per mode, patience 8, iterates
   averaged between exact evaluations), its Gaussian start (``init="random"``) and
   ``average=False``, and, for reference, exact ``cp_als`` (HOSVD start, its default, and
   Gaussian start). TensorLy ``parafac`` with ``init="svd"`` (its default), with a
   Gaussian ``CPTensor`` as ``init`` (its fastest to the floor: ``init="random"`` draws
   uniform [0, 1) factors, which stalled near 0.46 error in our trials; it runs too), and
   ``randomised_parafac`` with our 461 samples (its default leverage sampling, with its
   default uniform start and with the Gaussian start) and with 4x as many. A stricter
   count sits beside the floor: runs whose *returned* fit is within 1.01 x the noise
   (sampled ALS iterates scatter a few percent above the exact fit; the 1.05 x floor does
   not see that).
2. Tucker, 300^3, multilinear rank (10, 10, 10) plus 1% noise, 5 seeds: time and error
   of one call. Ours: ``tucker_rand`` (defaults: oversample 10, one power iteration, the
   first mode's range found on X with one other mode sketched, so X is read twice),
   ``tucker_sketch`` and ``hosvd``. TensorLy ``tucker`` with ``init="random"`` (defaults,
   tol 1e-4), with ``init="random"`` and the fewest sweeps that reach equal error
   (``n_iter_max=k``, ``tol=0``, k searched per seed: an oracle setting, its best case),
   and with its default ``init="svd"`` on the first seed (skipped past 120 s).
   "Equal error" means at most 1.01 x our ``hosvd`` error on that seed.
3. TR, 8^6 and 16^6 (8^6 is too small for sampling to pay off), ranks 4, random TR cores
   plus 0.1% noise, 5 seeds: time to <= 1.1 x noise within 100 sweeps and 60 s (120 s at
   16^6). Ours: ``tr_als_lev`` (defaults: 2560 samples, 160 R^2, and the sub-tensor start:
   a fit to 6 indices per mode, extended to all of X; 0 sweeps in the table: the start
   itself reached the floor), ``tr_als_lev`` with ``init="random"`` (the Gaussian start, so
   the sampled sweeps alone), and exact ``tr_als``. TensorLy
   ``tensor_ring_als`` with ``ls_solve="normal_eq"`` (2-4x faster here than its default
   "lstsq", which runs at 8^6 for reference) and ``tensor_ring_als_sampled`` with our
   samples, ``randomized_error=True`` and ``tol=0`` (with its defaults it forms the dense
   tensor every sweep, and its tol test stops at the first uptick of the sampled
   estimate). quimb: ``TensorNetwork.fit(method="als")`` on a ring from a Gaussian start
   scaled to ||X|| (as ``tr_als`` starts). Both sampled methods also run with twice the
   default samples (marked: not a default), with half of them and with an eighth (320),
   where a Gaussian start can stall near error 1 (measured apart from this table: at 16^6
   and half the samples, TensorLy on 3 of 5 seeds after 60 sweeps, ours from a Gaussian
   start on 4 of 5; at 8^6 and 320 samples, ours from a Gaussian start reached the floor
   on none of 5 seeds in 100 sweeps, 4 of them never below error 1), so the sub-tensor
   start is what converges.
4. TT rounding, 10 modes of 100: the sum of two (and of four) random rank-50 TTs rounded
   to rank 50, and the nearly low-rank sums a + 0.01 b (+ 0.01 c + 0.01 d). Exact
   ``tt_round`` vs ``tt_round_rand`` (on the summed TT) and ``tt_round_sum_rand`` (on the
   terms; also with oversample 40), and quimb's MPS ``add_MPS`` + ``compress(max_bond=50,
   cutoff=0)``. Times include forming the sum where a method needs it; median of 5 calls.
   Errors against the exact sum come from the TT of the difference (``tt_norm``, QR-based;
   the inner-product expansion ``<s,s> - 2<s,r> + <r,r>`` is stored as a cross-check),
   never from dense tensors.

Timing and correctness. Before timing, the dense evaluators used below are checked against
TensorLy's and quimb's own reconstructions. Every iterative run gets a callback that stops
the clock, computes the exact relative error of the current iterate from a dense
reconstruction (never a method's own estimate), and restarts the clock: time-to-floor
excludes the benchmark's checks but includes every error evaluation a method makes for
itself. Our callbacks receive only the iteration record, so the benchmark reads the current
factors from the method's frame. TensorLy's callback at initialization makes it compute a
dense reconstruction error it would otherwise skip; that computation is timed again in the
callback and subtracted. Where a method reports an error it computes exactly, the largest
gap to ours is recorded (``reported_gap``). quimb's fit has no callback: single-step fits
give its per-step errors, and its time is a fresh fit of exactly the steps that reached the
floor. Data seeds differ from method seeds: with equal seeds the engine's Gaussian start
equals the true factors (same generator stream) and converges in one sweep.

Threads and backends: the machine's 2 cores were shared with another engineer's browser
tests; with 2 threads, OpenBLAS ran a TensorLy TR-ALS sweep (16^6) 4x slower under that
load (2.6 s vs 0.66 s at 1 thread), so by default torch and OpenBLAS both run one thread
(``--threads``). TensorLy uses its numpy backend, measured faster than "pytorch" for every
configuration here at 1 thread (parafac 5 sweeps from a Gaussian start 0.16-0.19 s vs
0.32 s; its SVD start 2.0 vs 2.2 s; randomised_parafac 20 sweeps 0.07 vs 0.13 s; tucker 2
sweeps 0.33 vs 0.51 s; tensor_ring_als sweep 16^6 0.62-0.76 vs 1.56 s;
tensor_ring_als_sampled fails on "pytorch" with ValueError: invalid type 'numpy.float64').
quimb runs on numpy arrays (its default). Timings are medians over seeds (or calls).

Run:  .venv/bin/python benchmarks/bench_decompose.py [--quick] [--device auto] [--threads 1]
Writes benchmarks/results/decompose_<device>.json and .md (--quick only prints: it is a
smoke test on smaller sizes and one seed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import quimb
import quimb.tensor as qtn
import tensorly as tl
import threadpoolctl
import torch
from tensorly.cp_tensor import CPTensor
from tensorly.decomposition import (
    parafac,
    randomised_parafac,
    tensor_ring_als,
    tensor_ring_als_sampled,
    tucker,
)

from tensorbench.engine import __version__
from tensorbench.engine.decompose import get_method, relative_error
from tensorbench.engine.decompose.cp import default_samples as cp_default_samples
from tensorbench.engine.decompose.tr import default_samples as tr_default_samples
from tensorbench.engine.decompose.tr import tr_random, tr_to_dense
from tensorbench.engine.decompose.tt import (
    tt_add,
    tt_inner,
    tt_norm,
    tt_random,
    tt_round,
    tt_round_rand,
    tt_round_sum_rand,
    tt_to_dense,
)
from tensorbench.engine.device import device_info, resolve_device

RESULTS = Path(__file__).parent / "results"
F64 = torch.float64


@dataclass(frozen=True)
class Sizes:
    cp_n: int = 200
    cp_rank: int = 10
    cp_cap: tuple[int, float] = (200, 60.0)
    tucker_n: int = 300
    tucker_rank: int = 10
    tr_sizes: tuple[tuple[int, float], ...] = ((8, 60.0), (16, 120.0))  # (n, time cap)
    tr_order: int = 6
    tr_rank: int = 4
    tr_cap_iters: int = 100
    tt_modes: int = 10
    tt_n: int = 100
    tt_rank: int = 50
    seeds: int = 5
    tt_repeats: int = 5


FULL = Sizes()
QUICK = Sizes(
    cp_n=100,
    cp_cap=(100, 20.0),
    tucker_n=120,
    tr_sizes=((8, 20.0),),
    tt_modes=6,
    tt_n=40,
    tt_rank=10,
    seeds=1,
    tt_repeats=3,
)

# --------------------------------------------------------------------------- clocks


class Clock:
    """Wall and process-CPU time of one run, paused while the benchmark checks errors."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.restart()

    def restart(self) -> None:
        self.off_wall = self.off_cpu = 0.0
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def now(self) -> tuple[float, float]:
        self._sync()
        return (
            time.perf_counter() - self.t0 - self.off_wall,
            time.process_time() - self.c0 - self.off_cpu,
        )

    @contextmanager
    def paused(self):
        self._sync()
        w, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self._sync()
            self.off_wall += time.perf_counter() - w
            self.off_cpu += time.process_time() - c

    def discount(self, fn: Callable[[], object]) -> None:
        """Time ``fn`` (work a peer did only because a callback was given) and take it off."""
        w, c = time.perf_counter(), time.process_time()
        fn()
        self.off_wall += time.perf_counter() - w
        self.off_cpu += time.process_time() - c


class CapReachedError(Exception):
    """Raised from our callbacks to end a run at the time cap."""


@dataclass
class Tracker:
    """Follows one iterative run: exact error per iteration until the floor is reached."""

    clock: Clock
    error: Callable[[Any], float]  # exact relative error of a state
    target: float
    cap_s: float
    points: list[list[Any]] = field(default_factory=list)
    hit: dict[str, Any] | None = None
    iters: int = 0
    capped: bool = False
    cap_error: float | None = None
    reported_gap: float = 0.0

    def observe(
        self, state: Any, reported: float | None, reported_exact: bool, it: int | None = None
    ) -> bool:
        """Record one iteration (``it``: the method's own sweep count, where it reports
        one: 0 for a start it reports before sweeping); True when the time cap is passed
        (the run must stop)."""
        wall, cpu = self.clock.now()
        self.iters = self.iters + 1 if it is None else it
        with self.clock.paused():
            err = None
            if self.hit is None or (reported_exact and reported is not None):
                err = self.error(state)
            if err is not None and reported is not None and reported_exact and err > 0:
                self.reported_gap = max(self.reported_gap, abs(reported - err) / err)
            self.points.append([self.iters, round(wall, 5), round(cpu, 5), err, reported])
            if self.hit is None and err is not None and err <= self.target:
                self.hit = {"iter": self.iters, "wall_s": wall, "cpu_s": cpu}
            self.capped = wall > self.cap_s
            if self.capped:
                self.cap_error = err if err is not None else self.error(state)
        return self.capped


def _frame_locals(names: Sequence[str]) -> dict[str, Any]:
    """Locals of the nearest calling frame of one of ``names`` (a method's loop state)."""
    f = sys._getframe(2)
    while f is not None and f.f_code.co_name not in names:
        f = f.f_back
    if f is None:
        raise RuntimeError(f"no frame of {names} above the callback")
    return f.f_locals


def _record(
    case: str, method: str, config: str, seed: int, tracker: Tracker, total: tuple, **extra
) -> dict[str, Any]:
    hit = tracker.hit
    return {
        "case": case,
        "method": method,
        "config": config,
        "seed": seed,
        "target": tracker.target,
        "reached": hit is not None,
        "time_to_floor_s": hit["wall_s"] if hit else None,
        "cpu_to_floor_s": hit["cpu_s"] if hit else None,
        "iters_to_floor": hit["iter"] if hit else None,
        "iterations": tracker.iters,
        "total_s": total[0],
        "total_cpu_s": total[1],
        "reported_gap": tracker.reported_gap,
        "trace": tracker.points,  # [iter, wall_s, cpu_s, exact error (until the floor), reported]
        **extra,
    }


# --------------------------------------------------------------------------- evaluators


def _t(a: Any, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).to(
        like.device, like.dtype
    )


def cp_dense(lam: torch.Tensor, factors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Dense CP tensor as ``(I_0, prod(others))``: weighted U0 times the Khatri-Rao rows."""
    R = factors[0].shape[1]
    kr = factors[-1]
    for U in reversed(factors[1:-1]):
        kr = (U[:, None, :] * kr[None, :, :]).reshape(-1, R)
    return (factors[0] * lam) @ kr.T


def cp_error(X: torch.Tensor, nx: float, lam: Any, factors: Sequence[Any]) -> float:
    fs = [_t(u, X) for u in factors]
    w = torch.ones(fs[0].shape[1], dtype=X.dtype, device=X.device) if lam is None else _t(lam, X)
    return float(torch.linalg.vector_norm(X.reshape(X.shape[0], -1) - cp_dense(w, fs))) / nx


def tucker_dense(core: torch.Tensor, factors: Sequence[torch.Tensor]) -> torch.Tensor:
    T = core
    for U in factors:  # contract the leading core mode; the new mode goes last
        T = torch.tensordot(T, U, dims=([0], [1]))
    return T


def tucker_error(X: torch.Tensor, nx: float, core: Any, factors: Sequence[Any]) -> float:
    dense = tucker_dense(_t(core, X), [_t(u, X) for u in factors])
    return float(torch.linalg.vector_norm(X - dense)) / nx


def tr_error(X: torch.Tensor, nx: float, cores: Sequence[Any]) -> float:
    return float(torch.linalg.vector_norm(X - tr_to_dense([_t(c, X) for c in cores]))) / nx


def tt_scale(cores: list[torch.Tensor], s: float) -> list[torch.Tensor]:
    return [cores[0] * s, *cores[1:]]


def tt_rel_error(exact: list[torch.Tensor], approx: list[torch.Tensor], n_exact: float) -> float:
    """``||exact - approx|| / ||exact||`` from the TT of the difference (QR-based norm)."""
    return float(tt_norm(tt_add(exact, tt_scale(approx, -1.0)))) / n_exact


def to_mps(cores: Sequence[torch.Tensor]) -> qtn.MatrixProductState:
    arrays = [c.numpy() for c in cores]
    arrays[0] = arrays[0][0]  # (n, r): quimb's end tensors have no dummy bond
    arrays[-1] = arrays[-1][:, :, 0]
    return qtn.MatrixProductState(arrays, shape="lpr")


def from_mps(mps: qtn.MatrixProductState) -> list[torch.Tensor]:
    mps = mps.copy()
    mps.permute_arrays("lpr")
    arrays = [torch.as_tensor(np.asarray(a)) for a in mps.arrays]
    arrays[0] = arrays[0][None]
    arrays[-1] = arrays[-1][:, :, None]
    return arrays


def tr_network(cores: Sequence[np.ndarray]) -> qtn.TensorNetwork:
    n = len(cores)
    return qtn.TensorNetwork(
        [
            qtn.Tensor(c, inds=(f"b{(k - 1) % n}", f"k{k}", f"b{k}"), tags={f"I{k}"})
            for k, c in enumerate(cores)
        ]
    )


def tr_cores_of(tn: qtn.TensorNetwork, n: int) -> list[np.ndarray]:
    out = []
    for k in range(n):
        t = tn[f"I{k}"]
        out.append(np.asarray(t.transpose(f"b{(k - 1) % n}", f"k{k}", f"b{k}").data))
    return out


def check_evaluators() -> None:
    """Our dense evaluators agree with TensorLy's and quimb's reconstructions."""
    rng = np.random.default_rng(7)
    X = torch.as_tensor(rng.standard_normal((6, 7, 8)))
    nx = float(torch.linalg.vector_norm(X))
    fs = [rng.standard_normal((d, 3)) for d in X.shape]
    w = rng.standard_normal(3)
    ref = float(np.linalg.norm(X.numpy() - tl.cp_to_tensor((w, fs)))) / nx
    assert abs(cp_error(X, nx, w, fs) - ref) < 1e-12, "CP evaluator disagrees with TensorLy"
    core = rng.standard_normal((2, 3, 4))
    us = [rng.standard_normal((d, r)) for d, r in zip(X.shape, core.shape, strict=True)]
    ref = float(np.linalg.norm(X.numpy() - tl.tucker_to_tensor((core, us)))) / nx
    assert abs(tucker_error(X, nx, core, us) - ref) < 1e-12, "Tucker evaluator disagrees"
    cores = [rng.standard_normal((2, d, 2)) for d in (3, 4, 5, 6)]
    dense = tl.tr_to_tensor(cores)
    got = tr_to_dense([torch.as_tensor(c) for c in cores]).numpy()
    assert np.allclose(got, dense, atol=1e-12), "tr_to_dense disagrees with TensorLy"
    got = tr_network(cores).to_dense([f"k{k}" for k in range(4)]).reshape(dense.shape)
    assert np.allclose(got, dense, atol=1e-12), "quimb ring layout disagrees"
    assert all(
        np.array_equal(a, b) for a, b in zip(tr_cores_of(tr_network(cores), 4), cores, strict=True)
    )
    a, b = tt_random([4, 5, 6, 3], 3, seed=1), tt_random([4, 5, 6, 3], 2, seed=2)
    da, db = tt_to_dense(a), tt_to_dense(b)
    want = float(torch.linalg.vector_norm(da - db) / torch.linalg.vector_norm(da))
    assert abs(tt_rel_error(a, b, float(tt_norm(a))) - want) < 1e-12, "TT error disagrees"
    back = tt_to_dense(from_mps(to_mps(a)))
    assert torch.allclose(back, da, atol=1e-12), "MPS round trip disagrees"


# --------------------------------------------------------------------------- data


def noisy(S: torch.Tensor, noise: float, gen: torch.Generator) -> tuple[torch.Tensor, float]:
    """``S`` plus Gaussian noise of norm ``noise ||S||``; returns X and ||N|| / ||X||."""
    N = torch.randn(S.shape, generator=gen, dtype=S.dtype)
    N *= noise * torch.linalg.vector_norm(S) / torch.linalg.vector_norm(N)
    X = S + N
    return X, float(torch.linalg.vector_norm(N) / torch.linalg.vector_norm(X))


def make_cp(n: int, rank: int, noise: float, seed: int) -> tuple[torch.Tensor, float]:
    g = torch.Generator().manual_seed(seed)
    fs = [torch.randn(n, rank, generator=g, dtype=F64) for _ in range(3)]
    S = cp_dense(torch.ones(rank, dtype=F64), fs).reshape(n, n, n)
    return noisy(S, noise, g)


def make_tucker(n: int, rank: int, noise: float, seed: int) -> tuple[torch.Tensor, float]:
    g = torch.Generator().manual_seed(seed)
    core = torch.randn(rank, rank, rank, generator=g, dtype=F64)
    fs = [torch.randn(n, rank, generator=g, dtype=F64) for _ in range(3)]
    return noisy(tucker_dense(core, fs), noise, g)


def make_tr(n: int, order: int, rank: int, noise: float, seed: int) -> tuple[torch.Tensor, float]:
    S = tr_to_dense(tr_random([n] * order, rank, seed=seed))
    return noisy(S, noise, torch.Generator().manual_seed(seed + 1))


def gaussian_tr_start(shape: Sequence[int], rank: int, seed: int, nx: float) -> list[np.ndarray]:
    """Seeded Gaussian ring cores scaled so the ring has norm ``nx`` (as tr_als starts)."""
    g = torch.Generator().manual_seed(seed)
    cores = [torch.randn(rank, d, rank, generator=g, dtype=F64) for d in shape]
    s = (nx / float(torch.linalg.vector_norm(tr_to_dense(cores)))) ** (1.0 / len(shape))
    return [(c * s).numpy() for c in cores]


# --------------------------------------------------------------------------- runners


def run_ours(
    method: str,
    X: torch.Tensor,
    seed: int,
    params: dict[str, Any],
    tracker: Tracker,
    frames: Sequence[str],
    state: Callable[[dict[str, Any]], Any],
) -> tuple[Any, str, tuple[float, float]]:
    """Run one of our iterative methods under ``tracker``; returns (result, stop, total)."""
    spec = get_method(method)

    def cb(rec: dict[str, Any]) -> None:
        st = state(_frame_locals(frames))
        exact = bool(rec.get("exact", True))
        if tracker.observe(st, float(rec["rel_error"]), exact, int(rec["iter"])):
            raise CapReachedError

    tracker.clock.restart()
    try:
        d = spec.func(X, seed=seed, callback=cb, **params)
    except CapReachedError:
        return None, "time cap", tracker.clock.now()
    total = tracker.clock.now()
    info = d.info
    stop = info.get("stop") or ("converged" if info.get("converged") else "max_iter")
    return d, stop, total


def tl_callback(
    tracker: Tracker, state: Callable[[Any], Any], exact: bool, init_cost: Callable[[Any], object]
) -> Callable[..., bool | None]:
    """A TensorLy callback: skips (and discounts) the init call, then tracks every sweep."""
    first = [True]

    def cb(obj: Any, err: Any = None) -> bool | None:
        if first[0]:
            first[0] = False
            if err is not None:  # TensorLy computed a dense error only for this call
                tracker.clock.discount(lambda: init_cost(obj))
            return None
        stop = tracker.observe(state(obj), None if err is None else float(err), exact)
        return True if stop else None

    return cb


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (case, method, config): successes, medians over successes."""
    keys: list[tuple[str, str, str]] = []
    for r in rows:
        k = (r["case"], r["method"], r["config"])
        if k not in keys:
            keys.append(k)
    out = []
    for k in keys:
        rs = [r for r in rows if (r["case"], r["method"], r["config"]) == k]
        ok = [r for r in rs if r["reached"]]

        def med(key: str, rr: list[dict[str, Any]]) -> Any:
            return statistics.median(r[key] for r in rr) if rr else None

        out.append(
            {
                "case": k[0],
                "method": k[1],
                "config": k[2],
                "successes": len(ok),
                "runs": len(rs),
                "median_time_to_floor_s": med("time_to_floor_s", ok),
                "median_cpu_to_floor_s": med("cpu_to_floor_s", ok),
                "median_iters_to_floor": med("iters_to_floor", ok),
                "median_final_error": med("final_error", rs),
                "final_to_noise": [r["final_error"] / r["noise"] for r in rs if r.get("noise")],
                "median_noise": med("noise", rs),
                "median_total_s": med("total_s", rs),
                "stops": sorted({r["stop"] for r in rs}),
                "max_reported_gap": max(r["reported_gap"] for r in rs),
            }
        )
    return out


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x * 1e3:.0f} ms" if x < 1 else f"{x:.2f} s"


#: The stricter CP criterion on the returned fit (final error / noise).
TIGHT = 1.01


def _within(s: dict[str, Any], tight: float) -> int:
    """Runs whose final error is at most ``tight`` x the noise."""
    return sum(x <= tight for x in s["final_to_noise"])


def floor_table(summary: list[dict[str, Any]], ref_method: str, tight: float | None = None) -> str:
    extra = f" final <= {tight:g} x noise |" if tight else ""
    lines = [
        "| case | method | configuration | reached floor | median time to floor | median CPU "
        f"| median sweeps | median final error (noise) |{extra} stop | time / ours |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
        + (" ---: |" if tight else "")
        + " --- | ---: |",
    ]
    for s in summary:
        ref = next(
            (
                x["median_time_to_floor_s"]
                for x in summary
                if x["case"] == s["case"]
                and x["method"] == ref_method
                and x["config"] == "defaults"
            ),
            None,
        )
        t = s["median_time_to_floor_s"]
        ratio = f"{t / ref:.1f}x" if (t is not None and ref) else "—"
        it = s["median_iters_to_floor"]
        lines.append(
            f"| {s['case']} | {s['method']} | {s['config']} | {s['successes']}/{s['runs']} | "
            f"{_fmt_s(t)} | {_fmt_s(s['median_cpu_to_floor_s'])} | "
            f"{'—' if it is None else f'{it:g}'} | "
            f"{s['median_final_error']:.5f} ({s['median_noise']:.5f}) | "
            + (f"{_within(s, tight)}/{s['runs']} | " if tight else "")
            + f"{', '.join(s['stops'])} | {ratio} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- case 1: CP


def _cp_state(loc: dict[str, Any]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    # At its exact evaluations a sampled method measures (and would hand back) ``shown``:
    # the window mean of its iterates when that fits better (see ``average``). Between
    # evaluations ``shown`` is the last evaluation's, stale: the iterate is what it holds.
    evaluated = loc.get("evaluate") and loc.get("shown") is not None
    factors, lam = loc["shown"] if evaluated else (loc["factors"], loc["lam"])
    return lam.clone(), [u.clone() for u in factors]


def _tr_state(loc: dict[str, Any]) -> list[torch.Tensor]:
    return [c.clone() for c in loc["cores"]]


def _peer_stop(tr: Tracker, cap_it: int) -> str:
    return "time cap" if tr.capped else ("max_iter" if tr.iters >= cap_it else "tol")


def _cp_seed(sz: Sizes, device: torch.device, case: str, s: int) -> list[dict[str, Any]]:
    n, R = sz.cp_n, sz.cp_rank
    cap_it, cap_s = sz.cp_cap
    S = cp_default_samples(R)
    X, nu = make_cp(n, R, 0.01, 1000 + s)
    X = X.to(device)
    Xn = X.cpu().numpy().copy()  # a private copy: no peer can touch the others' data
    nx = float(torch.linalg.vector_norm(X))
    target = 1.05 * nu
    clock = Clock(device)
    rows = []

    def err(st: tuple) -> float:
        return cp_error(X, nx, st[0], st[1])

    def done(method: str, config: str, tr: Tracker, total: tuple, final: float, stop: str):
        rows.append(
            _record(case, method, config, s, tr, total, final_error=final, stop=stop, noise=nu)
        )
        print(f"  {case} seed {s} {method} {config}: {rows[-1]['time_to_floor_s']}", flush=True)

    ours = [
        ("cp_als_lev", "defaults", {"rank": R, "max_iter": cap_it}),
        ("cp_als_lev", "init=random (Gaussian)", {"rank": R, "max_iter": cap_it, "init": "random"}),
        ("cp_als_lev", "average=False", {"rank": R, "max_iter": cap_it, "average": False}),
        ("cp_als", "init=hosvd (default)", {"rank": R, "max_iter": cap_it}),
        ("cp_als", "init=random (Gaussian)", {"rank": R, "max_iter": cap_it, "init": "random"}),
    ]
    for method, config, params in ours:
        tr = Tracker(clock, err, target, cap_s)
        d, stop, total = run_ours(method, X, s, params, tr, ("cp_als", "_sampled_als"), _cp_state)
        if d is not None:
            final = cp_error(X, nx, d.cores[-1], d.cores[:-1])
            if s == 0:  # the returned cores are what the network contracts to
                gap = abs(relative_error(X, d.reconstruct()) - final)
                assert gap < 1e-9, f"{method}: reconstruct() disagrees by {gap:.2e}"
        else:
            final = tr.cap_error
        done(method, config, tr, total, final, stop)

    g = torch.Generator().manual_seed(s)
    gauss = [torch.randn(n, R, generator=g, dtype=F64).numpy() for _ in range(3)]
    peers: list[tuple[str, str, Callable[..., Any], dict[str, Any], bool]] = [
        ("TensorLy parafac", "init=svd (default)", parafac, {"init": "svd"}, True),
        (
            "TensorLy parafac",
            "init=Gaussian CPTensor",
            parafac,
            {"init": CPTensor((None, [u.copy() for u in gauss]))},
            True,
        ),
        ("TensorLy parafac", "init=random (uniform)", parafac, {"init": "random"}, True),
        (
            "TensorLy randomised_parafac",
            f"n_samples={S}, init=random (default)",
            randomised_parafac,
            {"n_samples": S},
            False,
        ),
        (
            "TensorLy randomised_parafac",
            f"n_samples={4 * S} (4x ours), init=random (default)",
            randomised_parafac,
            {"n_samples": 4 * S},
            False,
        ),
        (
            "TensorLy randomised_parafac",
            f"n_samples={S}, init=Gaussian CPTensor",
            randomised_parafac,
            {"n_samples": S, "init": CPTensor((None, [u.copy() for u in gauss]))},
            False,
        ),
    ]

    def init_cost(cp: Any) -> object:
        return tl.norm(Xn - tl.cp_to_tensor(cp), 2)

    for method, config, fn, kw, exact in peers:
        tr = Tracker(clock, err, target, cap_s)
        cb = tl_callback(tr, lambda cp: (cp[0], cp[1]), exact, init_cost)
        clock.restart()
        out = fn(Xn, R, n_iter_max=cap_it, random_state=s, callback=cb, **kw)
        total = clock.now()
        done(method, config, tr, total, cp_error(X, nx, out[0], out[1]), _peer_stop(tr, cap_it))
    return rows


def bench_cp(sz: Sizes, device: torch.device) -> tuple[list[dict], list[dict]]:
    case = f"CP {sz.cp_n}^3 r{sz.cp_rank}"
    rows = []
    for s in range(sz.seeds):
        rows += _cp_seed(sz, device, case, s)
    return rows, summarize(rows)


# --------------------------------------------------------------------------- case 2: Tucker


def _tucker_seed(
    sz: Sizes, device: torch.device, case: str, s: int, with_svd: bool
) -> list[dict[str, Any]]:
    n, r = sz.tucker_n, sz.tucker_rank
    X, nu = make_tucker(n, r, 0.01, 2000 + s)
    X = X.to(device)
    Xn = X.cpu().numpy().copy()
    nx = float(torch.linalg.vector_norm(X))
    rows: list[dict[str, Any]] = []

    def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out, time.perf_counter() - w, time.process_time() - c

    def add(method: str, config: str, out: Any, w: float, c: float, **extra: Any) -> float:
        core, fs = out
        e = tucker_error(X, nx, core, fs)
        rows.append(
            {
                "case": case,
                "method": method,
                "config": config,
                "seed": s,
                "time_s": w,
                "cpu_s": c,
                "error": e,
                "noise": nu,
                **extra,
            }
        )
        print(f"  {case} seed {s} {method} {config}: {w:.3f} s, error {e:.6f}", flush=True)
        return e

    ref = math.inf
    for method in ("hosvd", "tucker_rand", "tucker_sketch"):
        spec = get_method(method)
        d, w, c = timed(lambda spec=spec: spec.func(X, seed=s, ranks=r))
        e = add(method, "defaults", (d.cores[0], d.cores[1:]), w, c, reported=d.rel_error)
        if method == "hosvd":
            ref = e
        if s == 0:
            gap = abs(relative_error(X, d.reconstruct()) - e)
            assert gap < 1e-9, f"{method}: reconstruct() disagrees by {gap:.2e}"

    out, w, c = timed(lambda: tucker(Xn, [r] * 3, init="random", random_state=s))
    add("TensorLy tucker", "init=random, defaults (tol 1e-4)", out, w, c)
    tried = []
    for k in range(1, 7):
        out, w, c = timed(
            lambda k=k: tucker(Xn, [r] * 3, init="random", n_iter_max=k, tol=0, random_state=s)
        )
        e = tucker_error(X, nx, out[0], out[1])
        tried.append({"n_iter_max": k, "time_s": w, "error": e})
        if e <= 1.01 * ref:
            break
    add(
        "TensorLy tucker",
        "init=random, fewest sweeps at equal error (oracle)",
        out,
        w,
        c,
        n_iter_max=tried[-1]["n_iter_max"],
        tried=tried,
    )
    if with_svd:
        out, w, c = timed(lambda: tucker(Xn, [r] * 3, random_state=s))
        add("TensorLy tucker", "init=svd (default), first seed only", out, w, c)
    for rr in rows:
        rr["equal_error"] = rr["error"] <= 1.01 * ref
    return rows


def bench_tucker(sz: Sizes, device: torch.device) -> tuple[list[dict], list[dict]]:
    case = f"Tucker {sz.tucker_n}^3 r{sz.tucker_rank}"
    rows: list[dict[str, Any]] = []
    for s in range(sz.seeds):
        rows += _tucker_seed(sz, device, case, s, with_svd=s == 0)
    keys: list[tuple[str, str]] = []
    for rr in rows:
        if (rr["method"], rr["config"]) not in keys:
            keys.append((rr["method"], rr["config"]))
    summary = []
    for m, cfg in keys:
        rs = [x for x in rows if (x["method"], x["config"]) == (m, cfg)]
        summary.append(
            {
                "case": case,
                "method": m,
                "config": cfg,
                "runs": len(rs),
                "median_time_s": statistics.median(x["time_s"] for x in rs),
                "median_cpu_s": statistics.median(x["cpu_s"] for x in rs),
                "median_error": statistics.median(x["error"] for x in rs),
                "median_noise": statistics.median(x["noise"] for x in rs),
                "equal_error_runs": sum(x["equal_error"] for x in rs),
                "n_iter_max": sorted({x["n_iter_max"] for x in rs if "n_iter_max" in x}),
            }
        )
    return rows, summary


def tucker_table(summary: list[dict[str, Any]]) -> str:
    ours = next(x["median_time_s"] for x in summary if x["method"] == "tucker_rand")
    lines = [
        "| case | method | configuration | median time | median CPU | median error (noise) "
        "| equal error | time / tucker_rand |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in summary:
        cfg = s["config"]
        if s["n_iter_max"]:
            cfg += f" (n_iter_max {', '.join(map(str, s['n_iter_max']))})"
        lines.append(
            f"| {s['case']} | {s['method']} | {cfg} | {_fmt_s(s['median_time_s'])} | "
            f"{_fmt_s(s['median_cpu_s'])} | {s['median_error']:.6f} ({s['median_noise']:.6f}) | "
            f"{s['equal_error_runs']}/{s['runs']} | {s['median_time_s'] / ours:.1f}x |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- case 3: TR


def _tr_seed(
    sz: Sizes, device: torch.device, n: int, cap_s: float, case: str, s: int
) -> list[dict[str, Any]]:
    N, R, cap_it = sz.tr_order, sz.tr_rank, sz.tr_cap_iters
    S = tr_default_samples([R] * N)
    X, nu = make_tr(n, N, R, 1e-3, 3000 + s)
    X = X.to(device)
    Xn = X.cpu().numpy().copy()
    nx = float(torch.linalg.vector_norm(X))
    target = 1.1 * nu
    clock = Clock(device)
    rows: list[dict[str, Any]] = []

    def err(cores: Sequence[Any]) -> float:
        return tr_error(X, nx, cores)

    def done(
        method: str, config: str, tr: Tracker, total: tuple, final: float, stop: str, **extra: Any
    ) -> None:
        rows.append(
            _record(
                case, method, config, s, tr, total, final_error=final, stop=stop, noise=nu, **extra
            )
        )
        print(f"  {case} seed {s} {method} {config}: {rows[-1]['time_to_floor_s']}", flush=True)

    ours = [
        ("tr_als_lev", "defaults", {"ranks": R, "max_iter": cap_it}),
        (
            "tr_als_lev",
            "init=random (Gaussian start)",
            {"ranks": R, "max_iter": cap_it, "init": "random"},
        ),
        (
            "tr_als_lev",
            f"samples={2 * S} (2x default)",
            {"ranks": R, "max_iter": cap_it, "samples": 2 * S},
        ),
        (
            "tr_als_lev",
            f"samples={S // 2} (half default)",
            {"ranks": R, "max_iter": cap_it, "samples": S // 2},
        ),
        (
            "tr_als_lev",
            f"samples={S // 8} (1/8 default)",
            {"ranks": R, "max_iter": cap_it, "samples": S // 8},
        ),
        ("tr_als", "defaults", {"ranks": R, "max_iter": cap_it}),
    ]
    for method, config, params in ours:
        tr = Tracker(clock, err, target, cap_s)
        d, stop, total = run_ours(method, X, s, params, tr, ("tr_als", "tr_als_lev"), _tr_state)
        if d is not None:
            final = tr_error(X, nx, d.cores)
            if s == 0:
                gap = abs(relative_error(X, d.reconstruct()) - final)
                assert gap < 1e-9, f"{method}: reconstruct() disagrees by {gap:.2e}"
        else:
            final = tr.cap_error
        done(method, config, tr, total, final, stop)

    def init_cost(trt: Any) -> object:
        return tl.norm(tl.tr_to_tensor(trt) - Xn)

    peers: list[tuple[str, str, Callable[..., Any], dict[str, Any], bool]] = [
        (
            "TensorLy tensor_ring_als",
            "ls_solve=normal_eq",
            tensor_ring_als,
            {"ls_solve": "normal_eq"},
            True,
        ),
    ]
    if n <= 8:  # "lstsq" is 2-4x slower; at 16^6 it would only add minutes
        peers.append(
            ("TensorLy tensor_ring_als", "ls_solve=lstsq (default)", tensor_ring_als, {}, True)
        )
    marks = {S: "", 2 * S: " (2x default)", S // 2: " (half default)", S // 8: " (1/8 default)"}
    for m, mark in marks.items():
        peers.append(
            (
                "TensorLy tensor_ring_als_sampled",
                f"n_samples={m}{mark}, randomized_error, tol=0",
                tensor_ring_als_sampled,
                {"n_samples": m, "randomized_error": True, "tol": 0},
                False,
            )
        )
    for method, config, fn, kw, exact in peers:
        tr = Tracker(clock, err, target, cap_s)
        cb = tl_callback(tr, list, exact, init_cost)
        clock.restart()
        out = fn(Xn, R, n_iter_max=cap_it, random_state=s, callback=cb, **kw)
        total = clock.now()
        done(method, config, tr, total, tr_error(X, nx, list(out)), _peer_stop(tr, cap_it))

    # quimb: per-step errors from single-step fits, then one timed fit of that many steps.
    target_tn = qtn.TensorNetwork([qtn.Tensor(Xn, inds=[f"k{k}" for k in range(N)])])
    start = gaussian_tr_start(X.shape, R, s, nx)
    tn = tr_network([c.copy() for c in start])
    tr = Tracker(clock, err, target, cap_s)
    step_s = 0.0
    for _ in range(cap_it):
        w0 = time.perf_counter()
        tn = tn.fit(target_tn, method="als", steps=1, tol=0.0, inplace=True)
        step_s += time.perf_counter() - w0
        e = tr_error(X, nx, tr_cores_of(tn, N))
        tr.iters += 1
        tr.points.append([tr.iters, None, None, e, None])
        if e <= target or step_s > cap_s:
            break
    final = tr.points[-1][3]
    replay = None
    if final <= target:
        tn2 = tr_network([c.copy() for c in start])
        w0, c0 = time.perf_counter(), time.process_time()
        tn2 = tn2.fit(target_tn, method="als", steps=tr.iters, tol=0.0, inplace=True)
        w, c = time.perf_counter() - w0, time.process_time() - c0
        replay = tr_error(X, nx, tr_cores_of(tn2, N))
        tr.hit = {"iter": tr.iters, "wall_s": w, "cpu_s": c}
    stop = "floor (stopped there)" if replay is not None else "cap"
    done(
        "quimb fit",
        "method=als, tol=0, steps=k (replayed)",
        tr,
        (step_s, math.nan),
        final,
        stop,
        replay_error=replay,
    )
    return rows


def bench_tr(sz: Sizes, device: torch.device) -> tuple[list[dict], list[dict]]:
    rows: list[dict[str, Any]] = []
    for n, cap_s in sz.tr_sizes:
        case = f"TR {n}^{sz.tr_order} r{sz.tr_rank}"
        for s in range(sz.seeds):
            rows += _tr_seed(sz, device, n, cap_s, case, s)
    return rows, summarize(rows)


# --------------------------------------------------------------------------- case 4: TT


def bench_tt(sz: Sizes) -> tuple[list[dict], list[dict]]:
    dims = [sz.tt_n] * sz.tt_modes
    r = sz.tt_rank
    base = [tt_random(dims, r, seed=4000 + j) for j in range(4)]
    variants = [
        (f"2 x rank {r}: a + b", [base[0], base[1]]),
        (f"2 x rank {r}: a + 0.01 b", [base[0], tt_scale(base[1], 0.01)]),
        (f"4 x rank {r}: a + b + c + d", base),
        (f"4 x rank {r}: a + 0.01 (b + c + d)", [base[0]] + [tt_scale(t, 0.01) for t in base[1:]]),
    ]
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for name, terms in variants:
        case = f"TT {sz.tt_n}^{sz.tt_modes} {name} -> {r}"
        exact_sum = reduce(tt_add, terms)
        n_sum = float(tt_norm(exact_sum))
        mps_terms = [to_mps(t) for t in terms]

        def quimb_round(mps_terms: list = mps_terms) -> qtn.MatrixProductState:
            m = reduce(lambda a, b: a.add_MPS(b), mps_terms)
            m.compress(max_bond=r, cutoff=0.0)
            return m

        methods: dict[str, Callable[[], Any]] = {
            "tt_round (exact)": lambda terms=terms: tt_round(reduce(tt_add, terms), r),
            "tt_round_rand": lambda terms=terms: tt_round_rand(reduce(tt_add, terms), r, seed=0),
            "tt_round_sum_rand": lambda terms=terms: tt_round_sum_rand(terms, r, seed=0),
            "tt_round_sum_rand (oversample=40)": lambda terms=terms: tt_round_sum_rand(
                terms, r, oversample=40, seed=0
            ),
            "quimb add_MPS + compress (exact SVD)": quimb_round,
        }
        times: dict[str, list[float]] = {m: [] for m in methods}
        errors: dict[str, float] = {}
        errors_inner: dict[str, float] = {}
        ranks: dict[str, int] = {}
        for m, fn in methods.items():  # warm-up call, whose result is checked
            out = fn()
            cores = from_mps(out) if isinstance(out, qtn.MatrixProductState) else out
            errors[m] = tt_rel_error(exact_sum, cores, n_sum)
            # The same from inner products (cancels below ~1e-8, fine at these errors).
            sq = n_sum**2 - 2 * float(tt_inner(exact_sum, cores)) + float(tt_inner(cores, cores))
            errors_inner[m] = math.sqrt(max(sq, 0.0)) / n_sum
            ranks[m] = max(int(c.shape[2]) for c in cores)
            assert ranks[m] <= r, f"{m} returned rank {ranks[m]} > {r}"
        for _ in range(sz.tt_repeats):  # round robin: load changes hit every method alike
            for m, fn in methods.items():
                w0 = time.perf_counter()
                fn()
                times[m].append(time.perf_counter() - w0)
        exact_t = statistics.median(times["tt_round (exact)"])
        for m in methods:
            med = statistics.median(times[m])
            rows.append(
                {
                    "case": case,
                    "method": m,
                    "times_s": times[m],
                    "error": errors[m],
                    "error_from_inner_products": errors_inner[m],
                    "max_rank": ranks[m],
                }
            )
            summary.append(
                {
                    "case": case,
                    "method": m,
                    "median_s": med,
                    "error": errors[m],
                    "speedup_vs_exact": exact_t / med,
                }
            )
            print(f"  {case} {m}: {med:.3f} s, error {errors[m]:.4f}", flush=True)
    return rows, summary


def tt_table(summary: list[dict[str, Any]]) -> str:
    lines = [
        "| case | method | median time | rel. error vs exact sum | speed-up vs tt_round |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for s in summary:
        lines.append(
            f"| {s['case']} | {s['method']} | {_fmt_s(s['median_s'])} | {s['error']:.4f} | "
            f"{s['speedup_vs_exact']:.2f}x |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- targets


def _best(summary: list[dict], case: str, method: str) -> dict | None:
    """The configuration of ``method`` with most successes, then the fastest."""
    cands = [s for s in summary if s["case"] == case and s["method"] == method]
    cands = [s for s in cands if s["successes"]] or cands
    if not cands:
        return None
    return min(cands, key=lambda s: (-s["successes"], s["median_time_to_floor_s"] or math.inf))


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []

    def add(what: str, measured: str, met: bool | None) -> None:
        out.append({"target": what, "measured": measured, "met": met})

    if "cp" in results:
        sm = results["cp"]["summary"]
        case = sm[0]["case"]
        ours = next(s for s in sm if s["method"] == "cp_als_lev")
        pf = [s for s in sm if s["method"] == "TensorLy parafac" and s["successes"]]
        fastest = min(pf, key=lambda s: s["median_time_to_floor_s"])
        reliable = _best(sm, case, "TensorLy parafac")
        t = ours["median_time_to_floor_s"]
        for label, peer in (("fastest", fastest), ("most reliable", reliable)):
            if label != "fastest" and peer is fastest:
                continue
            pt = peer["median_time_to_floor_s"]
            ratio = pt / t if t else None
            add(
                f"CP: cp_als_lev >= 5x faster to the floor than parafac ({label}: "
                f"{peer['config']}, {peer['successes']}/{peer['runs']} reached)",
                f"{_fmt_s(t)} vs {_fmt_s(pt)} ({'—' if ratio is None else f'{ratio:.1f}x'})",
                None if ratio is None else ratio >= 5,
            )
        rp = _best(sm, case, "TensorLy randomised_parafac")
        add(
            f"CP: higher success rate than randomised_parafac (best: {rp['config']})",
            f"{ours['successes']}/{ours['runs']} vs {rp['successes']}/{rp['runs']}"
            + (
                " (both succeed on every seed: a tie is the most this protocol can show)"
                if ours["successes"] == rp["successes"] == ours["runs"]
                else ""
            ),
            ours["successes"] > rp["successes"],
        )
        # The same question for the returned fit: sampled iterates scatter a few percent
        # above the exact fit, which the 1.05x floor does not see (not the wording,
        # reported beside it).
        rps = [s for s in sm if s["method"] == "TensorLy randomised_parafac"]
        rp_t = max(rps, key=lambda s: (_within(s, TIGHT), -(s["median_total_s"] or 0)))
        mine, theirs = _within(ours, TIGHT), _within(rp_t, TIGHT)
        add(
            f"CP, stricter: final fit within {TIGHT:g} x noise, more often than "
            f"randomised_parafac (best: {rp_t['config']})",
            f"{mine}/{ours['runs']} vs {theirs}/{rp_t['runs']} (median time to return: "
            f"{_fmt_s(ours['median_total_s'])} vs {_fmt_s(rp_t['median_total_s'])})",
            mine > theirs,
        )
    if "tucker" in results:
        sm = results["tucker"]["summary"]
        ours = next(s for s in sm if s["method"] == "tucker_rand")
        peers = [
            s for s in sm if s["method"] == "TensorLy tucker" and s["equal_error_runs"] == s["runs"]
        ]
        best = min(peers, key=lambda s: s["median_time_s"])
        ratio = best["median_time_s"] / ours["median_time_s"]
        add(
            "Tucker: tucker_rand >= 3x faster than TensorLy's best at equal error "
            f"({best['config']})",
            f"{_fmt_s(ours['median_time_s'])} (error {ours['median_error']:.6f}) vs "
            f"{_fmt_s(best['median_time_s'])} (error {best['median_error']:.6f}): {ratio:.1f}x",
            ratio >= 3,
        )
    if "tr" in results:
        sm = results["tr"]["summary"]
        for case in dict.fromkeys(s["case"] for s in sm):
            ours = next(
                s
                for s in sm
                if s["case"] == case and s["method"] == "tr_als_lev" and s["config"] == "defaults"
            )

            def row(method: str, mark: str, case: str = case) -> dict[str, Any]:
                # mark "": our defaults row, or the peer's row at our default samples
                return next(
                    s
                    for s in sm
                    if s["case"] == case
                    and s["method"] == method
                    and (
                        mark in s["config"]
                        if mark
                        else s["config"] == "defaults" or "default)" not in s["config"]
                    )
                    and "init=" not in s["config"]
                )

            for mark in ("", "half default", "1/8 default"):
                mine = row("tr_als_lev", mark)
                theirs = row("TensorLy tensor_ring_als_sampled", mark)
                label = "defaults" if not mark else f"{mine['config']}, not a target"
                add(
                    f"{case}: tr_als_lev ({label}) converges where TensorLy's sampled TR-ALS "
                    "(same samples) stalls",
                    f"{mine['successes']}/{mine['runs']} vs {theirs['successes']}/{theirs['runs']}",
                    mine["successes"] > theirs["successes"],
                )
            # The exact baseline is the fastest exact TR-ALS of the run, ours or a peer's
            # (each in its best configuration), among those that reached the floor on
            # every seed.
            exact = min(
                (
                    s
                    for s in sm
                    if s["case"] == case
                    and s["method"] in ("tr_als", "TensorLy tensor_ring_als", "quimb fit")
                    and s["successes"] == s["runs"]
                    and s["median_time_to_floor_s"]
                ),
                key=lambda s: s["median_time_to_floor_s"],
            )
            exact_name = exact["method"] + (
                f" ({exact['config']})" if exact["config"] != "defaults" else ""
            )
            twice = next(
                s
                for s in sm
                if s["case"] == case and s["method"] == "tr_als_lev" and "2x" in s["config"]
            )
            gauss = next(
                s
                for s in sm
                if s["case"] == case and s["method"] == "tr_als_lev" and "init=" in s["config"]
            )
            others = [(f"{c['config']}, not a target", c) for c in (gauss, twice)]
            for label, lev in [("defaults", ours), *others]:
                t, te = lev["median_time_to_floor_s"], exact["median_time_to_floor_s"]
                ratio = te / t if (t and te) else None
                add(
                    f"{case}: tr_als_lev ({label}) >= 5x faster to the floor than the fastest "
                    "exact TR-ALS",
                    f"{_fmt_s(t)} ({lev['successes']}/{lev['runs']} reached) vs {_fmt_s(te)}, "
                    f"{exact_name} ({'—' if ratio is None else f'{ratio:.1f}x'})",
                    None if ratio is None else ratio >= 5,
                )
    if "tt" in results:
        sm = results["tt"]["summary"]
        for case in dict.fromkeys(s["case"] for s in sm):
            rand = [
                s
                for s in sm
                if s["case"] == case and "rand" in s["method"] and "oversample" not in s["method"]
            ]
            best = max(rand, key=lambda s: s["speedup_vs_exact"])
            add(
                f"{case}: randomized rounding >= 3x faster than tt_round",
                f"{best['method']}: {best['speedup_vs_exact']:.2f}x (error {best['error']:.4f})",
                best["speedup_vs_exact"] >= 3,
            )
    return out


def targets_table(ts: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | met |", "| --- | --- | --- |"]
    for t in ts:
        met = {True: "met", False: "**missed**", None: "**missed** (no time: not reached)"}
        lines.append(f"| {t['target']} | {t['measured']} | {met[t['met']]} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="where our methods run (peers: CPU)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one seed; no files")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (0: as is)")
    parser.add_argument("--cases", default="cp,tucker,tr,tt", help="comma-separated subset")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
        limiter = threadpoolctl.threadpool_limits(args.threads)  # noqa: F841 - kept alive
    tl.set_backend("numpy")
    sz = QUICK if args.quick else FULL
    check_evaluators()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    results: dict[str, Any] = {}
    load = {"start": os.getloadavg()}
    t_start = time.perf_counter()
    for c in cases:
        print(f"== {c}", flush=True)
        t0 = time.perf_counter()
        if c == "cp":
            rows, summary = bench_cp(sz, device)
        elif c == "tucker":
            rows, summary = bench_tucker(sz, device)
        elif c == "tr":
            rows, summary = bench_tr(sz, device)
        elif c == "tt":
            rows, summary = bench_tt(sz)
        else:
            raise SystemExit(f"unknown case {c!r}; choose from cp, tucker, tr, tt")
        results[c] = {"rows": rows, "summary": summary, "wall_s": time.perf_counter() - t0}
        load[c] = os.getloadavg()
    ts = targets(results)
    tables = {}
    if "cp" in results:
        tables["cp"] = floor_table(results["cp"]["summary"], "cp_als_lev", TIGHT)
    if "tucker" in results:
        tables["tucker"] = tucker_table(results["tucker"]["summary"])
    if "tr" in results:
        tables["tr"] = floor_table(results["tr"]["summary"], "tr_als_lev")
    if "tt" in results:
        tables["tt"] = tt_table(results["tt"]["summary"])
    tables["targets"] = targets_table(ts)
    for text in tables.values():
        print()
        print(text)
    env = device_info(device)
    threads = {"torch": torch.get_num_threads(), "blas": threadpoolctl.threadpool_info()}
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s; load average {load}")
    if args.quick:
        return
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"decompose_{device.type}.json"
    doc = {
        "benchmark": "decompose",
        "tensorbench": __version__,
        "environment": env,
        "versions": {
            "tensorly": tl.__version__,
            "tensorly_backend": tl.get_backend(),
            "quimb": quimb.__version__,
            "numpy": np.__version__,
            "torch": torch.__version__,
        },
        "threads": threads,
        "load_average": load,
        "sizes": {k: getattr(sz, k) for k in sz.__dataclass_fields__},
        "targets": ts,
        "results": results,
    }
    out.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    where = (
        f"{env['device_name']} ({env['device']}, {env.get('cpu_count', '?')} cores), "
        f"torch {env['torch']}, TensorLy {tl.__version__} (numpy backend), quimb "
        f"{quimb.__version__}; {threads['torch']} thread(s) for torch and OpenBLAS"
    )
    md = out.with_suffix(".md")
    md.write_text(markdown(where, tables, load, device))
    print(f"wrote {out} and {md}")


def markdown(where: str, tables: dict[str, str], load: dict, device: torch.device) -> str:
    la = ", ".join(f"{k} {v[0]:.1f}" for k, v in load.items())
    parts = [
        "# decompositions: tensorbench vs TensorLy and quimb\n",
        f"{where}. {'CPU only; a CUDA run needs a lent device. ' if device.type == 'cpu' else ''}"
        f"Machine load (1-minute load average at start and after each case: {la}; 1.0 is "
        f"this benchmark's own thread); times are medians over seeds.\n",
        "Time to floor: wall time until the exact relative error of the iterate (computed by "
        "the benchmark off the clock) first reaches the floor; medians over the runs that "
        "reached it. Final error: at the method's own stop (or the cap). See the script's "
        "docstring for configurations and why they were chosen.\n",
    ]
    captions = {
        "cp": "## CP: 200^3, rank 10, 1% noise, floor = 1.05 x noise, cap 200 sweeps / 60 s",
        "tucker": "## Tucker: 300^3, ranks (10, 10, 10), 1% noise; equal error = <= 1.01 x hosvd",
        "tr": "## TR: ranks 4, 0.1% noise, floor = 1.1 x noise, cap 100 sweeps / 60 s (8^6), "
        "120 s (16^6)",
        "tt": "## TT rounding: 10 modes of 100, sums of random rank-50 TTs rounded to 50",
        "targets": "## Targets (the issue's Done-when)",
    }
    for k, text in tables.items():
        parts.append(f"{captions[k]}\n\n{text}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    main()
