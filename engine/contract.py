"""The ``contract`` task: contract a network with seeded random data along its best path.

It reports the path's predicted cost (flops, largest intermediate, peak) next to what the
contraction measured (wall time, achieved GFLOP/s, the live-tensor peak and, on CUDA,
the allocator's peak), so users see how well the cost model predicts their hardware.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .config import Config
from .cost import OPTIMIZERS, find_path, naive_path, path_cost, reduced_inputs, walk_path
from .device import DTYPES, check_memory, resolve_device, resolve_dtype
from .errors import NetworkError
from .fmt import format_bytes, format_number, format_seconds, ratio, sci, shape_str, short
from .network import MAX_AXES
from .params import Param
from .run import Reporter, register_task

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .network import Network

__all__ = ["ContractionPlan", "contract", "contract_arrays", "estimate_bytes"]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _pair_equation(A: Sequence[str], B: Sequence[str], out: Sequence[str]) -> str:
    sym: dict[str, str] = {}
    for ix in (*A, *B):
        if ix not in sym:
            if len(sym) == len(_LETTERS):
                raise NetworkError(
                    "a single contraction step involves more than 52 indices, which torch.einsum "
                    "cannot express; choose another path or fewer indices"
                )
            sym[ix] = _LETTERS[len(sym)]
    return (
        "".join(sym[i] for i in A)
        + ","
        + "".join(sym[i] for i in B)
        + "->"
        + "".join(sym[i] for i in out)
    )


def _pair_op(
    A: Sequence[str], B: Sequence[str], out: Sequence[str]
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The cheapest torch call for one pairwise step.

    A plain contraction (every shared index summed, nothing else dropped) is a
    ``tensordot`` whose result axes -- the left operand's kept indices, then the right's --
    are already in ``out`` order; batch (hyper) indices need ``einsum``.
    """
    import torch

    shared = [ix for ix in A if ix in B]
    rest = [ix for ix in A if ix not in shared] + [ix for ix in B if ix not in shared]
    if not any(ix in out for ix in shared) and rest == list(out):
        dims = ([A.index(ix) for ix in shared], [B.index(ix) for ix in shared])
        return lambda x, y: torch.tensordot(x, y, dims=dims)
    eq = _pair_equation(A, B, out)
    return lambda x, y: torch.einsum(eq, x, y)


class ContractionPlan:
    """A path compiled once into torch calls, to run on many sets of arrays.

    Parameters
    ----------
    net : Network
        The network (its tensors give the arrays' axis order).
    path : sequence of (int, int)
        An SSA path, e.g. from :func:`~tensorbench.engine.cost.find_path`.
    """

    def __init__(self, net: Network, path: Sequence[Sequence[int]]) -> None:
        inputs, output, _sizes = reduced_inputs(net)
        self.net = net
        # Dangling legs are summed first, as the cost model assumes.
        self.reduce_axes = [
            [t.indices.index(ix) for ix in t.indices if ix not in reduced]
            for t, reduced in zip(net.tensors, inputs, strict=True)
        ]
        if len(output) > MAX_AXES:
            raise NetworkError(
                f"the output has {len(output)} indices; arrays have at most {MAX_AXES} axes: "
                "close some open legs"
            )
        self.steps = []
        final = inputs[0]
        for k, (a, b, A, B, new) in enumerate(walk_path(inputs, output, path)):
            if len(new) > MAX_AXES:
                raise NetworkError(
                    f"step {k + 1} of the path makes a tensor with {len(new)} axes; arrays have "
                    f"at most {MAX_AXES}: choose another path optimizer or merge indices"
                )
            self.steps.append((a, b, _pair_op(A, B, new)))
            final = new
        self.final_perm = (
            None if tuple(final) == tuple(output) else [final.index(ix) for ix in output]
        )

    def __call__(
        self,
        arrays: Sequence[torch.Tensor],
        *,
        on_step: Callable[[int, float], None] | None = None,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Contract ``arrays`` (one per tensor, in order).

        Parameters
        ----------
        on_step : callable, optional
            Called as ``on_step(k, seconds)`` after each pairwise step; it may raise to stop.

        Returns
        -------
        result : torch.Tensor
            The contracted tensor, axes in ``net.output`` order.
        trace : dict
            ``step_seconds`` (per step, device-synchronized) and ``peak_live_bytes`` (most
            bytes held at once by the inputs and intermediates kept alive here).
        """
        import torch

        net = self.net
        if len(arrays) != len(net.tensors):
            raise NetworkError(f"got {len(arrays)} arrays for {len(net.tensors)} tensors")
        device = arrays[0].device
        cuda = device.type == "cuda"
        live: dict[int, torch.Tensor] = {}
        for k, (arr, t, axes) in enumerate(zip(arrays, net.tensors, self.reduce_axes, strict=True)):
            if tuple(arr.shape) != net.shape(t):
                raise NetworkError(
                    f"tensor {t.name!r}: array shape {tuple(arr.shape)} != {net.shape(t)}"
                )
            live[k] = arr.sum(dim=axes) if axes else arr

        def nbytes(x: torch.Tensor) -> int:
            return x.numel() * x.element_size()

        alive = sum(nbytes(x) for x in live.values())
        peak = alive
        step_seconds: list[float] = []
        n = len(net.tensors)
        for k, (a, b, op) in enumerate(self.steps):
            t0 = time.perf_counter()
            x = op(live[a], live[b])
            if cuda:
                torch.cuda.synchronize(device)
            dt = time.perf_counter() - t0
            peak = max(peak, alive + nbytes(x))
            alive += nbytes(x) - nbytes(live.pop(a)) - nbytes(live.pop(b))
            live[n + k] = x
            step_seconds.append(dt)
            if on_step is not None:
                on_step(k, dt)
        (result,) = live.values()
        if self.final_perm is not None:
            result = result.permute(self.final_perm)
        return result, {"step_seconds": step_seconds, "peak_live_bytes": peak}


def contract_arrays(
    net: Network,
    arrays: Sequence[torch.Tensor],
    path: Sequence[Sequence[int]],
    *,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Contract torch ``arrays`` (one per tensor of ``net``) along an SSA ``path``.

    A one-off :class:`ContractionPlan`; see it for the arguments and return values.
    """
    return ContractionPlan(net, path)(arrays, on_step=on_step)


def estimate_bytes(net: Network, path: Sequence[Sequence[int]], dtype: str) -> int:
    """Bytes a contraction along ``path`` holds at its peak, with a margin.

    The inputs as given, plus the path's peak of live tensors, plus one more copy of the
    largest intermediate for the transposes torch.einsum makes internally.
    """
    itemsize = resolve_dtype(dtype).itemsize
    cost = path_cost(net, path, dtype=dtype)
    raw_inputs = sum(math.prod(net.shape(t)) for t in net.tensors)
    return itemsize * (raw_inputs + cost.peak_size + cost.largest_intermediate)


def contract(
    net: Network,
    arrays: Sequence[torch.Tensor] | None = None,
    *,
    optimize: str = "auto",
    seed: int = 0,
    dtype: str = "float64",
    device: str = "auto",
) -> torch.Tensor:
    """Contract ``net`` (with ``arrays`` or seeded random data) along an optimized path.

    The random data is :meth:`Network.random_arrays` with numpy's generator, the data of
    the contract task and of the exported standalone programs.

    Refuses with :class:`~tensorbench.engine.errors.ResourceError` before allocating when
    the contraction would not fit in the device's memory.
    """
    path = find_path(net, optimize, seed=seed)
    plan = ContractionPlan(net, path)
    if arrays is None:
        check_memory(
            estimate_bytes(net, path, dtype),
            device,
            "this contraction",
            "use smaller sizes or fewer open legs",
        )
        arrays = net.random_arrays(seed=seed, dtype=dtype, device=device, generator="numpy")
    result, _ = plan(arrays)
    return result


def value_summary(x: torch.Tensor) -> dict[str, Any]:
    """Shape, Frobenius norm and sum of a result, computed in double precision on the CPU."""
    import torch

    y = x.detach().to("cpu")
    y = y.to(torch.complex128 if y.is_complex() else torch.float64)
    total = y.sum()
    out: dict[str, Any] = {"shape": list(y.shape), "norm": float(torch.linalg.vector_norm(y))}
    if y.is_complex():
        out["sum"] = [float(total.real), float(total.imag)]
    else:
        out["sum"] = float(total)
    return out


def _summarize(config: Config, m: dict[str, Any]) -> list[str]:
    net = config.network
    assert net is not None
    task = config.task
    where = m.get("device", "?")
    lines = [
        f"contract: {net.name or 'network'} ({len(net.tensors)} tensors) on {where}, "
        f"{task['dtype']}, seed {config.seed}",
    ]
    opt, naive = m.get("predicted"), m.get("naive")
    if opt:
        lines.append(
            f"path ({task['optimize']}): flops {sci(opt['flops'], 6)}, largest intermediate "
            f"{format_number(opt['largest_intermediate'])}, "
            f"peak {format_number(opt['peak_size'])}, width {opt['width']:.2f}"
        )
    if naive and opt:
        lines.append(
            f"naive order: flops {sci(naive['flops'], 6)} "
            f"({short(ratio(naive['flops'], max(opt['flops'], 1)), 3)}x the optimized path)"
        )
    if "value" in m:
        v = m["value"]
        s = v["sum"]
        s_txt = f"{s:.12e}" if isinstance(s, float) else f"{s[0]:.12e}{s[1]:+.12e}j"
        lines.append(f"value: shape {shape_str(v['shape'])}, norm {v['norm']:.12e}, sum {s_txt}")
    if "time_median_s" in m:
        lines.append(
            f"time: median {format_seconds(m['time_median_s'])} "
            f"(min {format_seconds(m['time_min_s'])}, {m['repeats']} repeats), "
            f"{m['gflops']:.3g} GFLOP/s"
        )
    if "predicted_bytes" in m and "measured_peak_live_bytes" in m:
        extra = ""
        if "cuda_peak_allocated_bytes" in m:
            extra = f", CUDA allocator peak {format_bytes(m['cuda_peak_allocated_bytes'])}"
        # Two different numbers, once both called "peak" (the Network page's "peak memory"
        # card matched the second): the memory check's reservation is a bound, not a
        # prediction of the live peak.
        path_peak = ""
        if "predicted_peak_bytes" in m:
            path_peak = f" (the path predicts {format_bytes(m['predicted_peak_bytes'])})"
        lines.append(
            f"memory: live peak {format_bytes(m['measured_peak_live_bytes'])}{path_peak}{extra}; "
            f"the memory check reserved {format_bytes(m['predicted_bytes'])} (inputs held "
            "throughout, plus a copy of the largest intermediate)"
        )
    return lines


def check_contraction_fits(net: Network, need: int, device: Any) -> None:
    """Refuse (ResourceError) a contraction needing ``need`` bytes that ``device`` lacks,
    saying how to make it smaller."""
    # closing legs helps only a network that has open ones
    hint = "lower the bond or leg sizes" + (", or close some open legs" if net.output else "")
    check_memory(need, device, "this contraction", hint)


def check_contract_config(config: Config) -> None:
    """What ``run`` refuses of a contract config before any work, found without building
    anything ('validate' said ok to a 179 GiB contraction)."""
    net = config.network
    assert net is not None  # guaranteed by the config
    task = config.task
    path = find_path(net, task["optimize"], seed=config.seed)
    check_contraction_fits(
        net, estimate_bytes(net, path, task["dtype"]), resolve_device(config.device)
    )


@register_task(
    "contract",
    Param("dtype", "choice", "float64", "data type of the random tensors", choices=DTYPES),
    Param("optimize", "choice", "auto", "contraction path optimizer", choices=tuple(OPTIMIZERS)),
    Param("repeats", "int", 3, "timed contractions (the median is reported)", min=1, max=1000),
    Param("warmup", "bool", True, "run one untimed contraction first"),
    doc="contract the network with seeded random data along the optimized path; compare the "
    "predicted cost with measured time and memory",
    summarize=_summarize,
)
def contract_task(config: Config, rep: Reporter) -> dict[str, Any]:
    """Run the ``contract`` task (see the module docstring)."""
    import torch

    net = config.network
    assert net is not None  # guaranteed by the config
    task = config.task
    dtype, optimize = task["dtype"], task["optimize"]
    device = resolve_device(config.device)
    rep.progress(0.0, "finding a contraction path")
    path = find_path(net, optimize, seed=config.seed)
    predicted = path_cost(net, path, optimizer=optimize, dtype=dtype)
    naive = path_cost(net, naive_path(len(net.tensors)), optimizer="naive", dtype=dtype)
    need = estimate_bytes(net, path, dtype)
    metrics: dict[str, Any] = {
        "device": str(device),
        "predicted": predicted.to_dict(steps=True),
        "naive": naive.to_dict(),
        "predicted_bytes": need,
        "predicted_peak_bytes": resolve_dtype(dtype).itemsize * predicted.peak_size,
    }
    check_contraction_fits(net, need, device)
    plan = ContractionPlan(net, path)  # refuses impossible steps before any allocation
    rep.check_cancel(metrics)
    rep.progress(0.02, "generating random data")
    # numpy's generator: the exported numpy/torch/quimb/cotengra programs draw the same
    # numbers without tensorbench, so they print this run's value
    arrays = net.random_arrays(seed=config.seed, dtype=dtype, device=device, generator="numpy")

    runs = task["repeats"] + (1 if task["warmup"] else 0)
    steps = max(len(path), 1)
    done = 0

    def on_step(k: int, dt: float) -> None:
        nonlocal done
        done += 1
        rep.progress(0.05 + 0.95 * done / (runs * steps), f"step {k + 1}/{steps}")
        rep.check_cancel(metrics)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    times: list[float] = []
    per_step: list[list[float]] = []
    result = None
    for r in range(runs):
        t0 = time.perf_counter()
        result, trace = plan(arrays, on_step=on_step)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dt = time.perf_counter() - t0
        if len(path) == 0:
            on_step(0, dt)
        if task["warmup"] and r == 0:
            continue
        times.append(dt)
        per_step.append(trace["step_seconds"])
        rep.record(repeat=len(times), seconds=dt)
        metrics["measured_peak_live_bytes"] = trace["peak_live_bytes"]
    assert result is not None
    if device.type == "cuda":
        metrics["cuda_peak_allocated_bytes"] = int(torch.cuda.max_memory_allocated(device) - base)
    median = statistics.median(times)
    metrics |= {
        "value": value_summary(result),
        "repeats": len(times),
        "times_s": times,
        "time_median_s": median,
        "time_min_s": min(times),
        "gflops": ratio(predicted.flops, median) / 1e9,
        "step_seconds_median": [statistics.median(s) for s in zip(*per_step, strict=True)],
    }
    return metrics
