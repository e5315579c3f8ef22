"""Contraction paths and their costs.

Paths are found with cotengra (deterministic choices only, so a config and a seed always
give the same path) and costed here step by step, so every number the app shows can be
traced to one pairwise contraction. Conventions follow cotengra:

* ``cost`` -- scalar multiply-adds: for each pairwise step, the product of the sizes of
  every index on either operand (``ContractionTree.contraction_cost``);
* ``flops`` -- ``cost`` times 2 for real and 4 for complex data
  (``ContractionTree.total_flops(dtype)``);
* ``largest_intermediate`` -- elements of the biggest tensor a step produces
  (``ContractionTree.max_size``), and ``width`` its log2 (``contraction_width``);
* ``peak_size`` -- most elements alive at once (inputs not yet consumed plus
  intermediates), following the path's order.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .errors import NetworkError
from .fmt import ratio

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network

__all__ = [
    "OPTIMIZERS",
    "NetworkStats",
    "PathCost",
    "StepCost",
    "find_path",
    "naive_path",
    "network_stats",
    "path_cost",
    "reduced_inputs",
    "walk_path",
]

#: Path optimizers by name. All are deterministic for a given seed.
OPTIMIZERS = {
    "auto": "exact dynamic programming when the network is small enough, else seeded "
    "random-greedy (32 trials, fewer above 100 tensors so the search stays near a second)",
    "greedy": "cotengra's greedy: cheapest pair first (fast, good for large networks)",
    "random-greedy": "seeded random-greedy, 128 trials (slower, usually better than greedy)",
    "optimal": "cotengra's exact dynamic programming (refused when too hard)",
    "naive": "the order the tensors are listed: ((T0 T1) T2) T3 ...",
}

# cotengra's own cut-off between its exact search and its heuristics (presets.AutoOptimizer).
_OPTIMAL_HARDNESS = 250.0
# Beyond this the exact search can run for minutes (measured on 2 cores: hardness 512 took
# 0.8 s, 1244 took 24 s, 1281 did not finish in 5 min): refuse 'optimal' outright.
_OPTIMAL_REFUSE = 600.0
# random-greedy costs ~0.6 ms per tensor per trial in pure Python: 'auto' runs
# min(32, _AUTO_TRIAL_BUDGET // tensors) trials (at least one).
_AUTO_TRIAL_BUDGET = 3000

Path = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class StepCost:
    """One pairwise contraction of a path (positions are SSA ids)."""

    left: int
    right: int
    indices: tuple[str, ...]  # indices of the new tensor, in its axis order
    cost: int  # multiply-adds of this step
    size: int  # elements of the new tensor


@dataclass(frozen=True)
class PathCost:
    """The cost of contracting a network along one path."""

    optimizer: str
    path: Path  # SSA path: operands 0..n-1, then each step's result gets the next id
    steps: tuple[StepCost, ...]
    cost: int
    flops: int
    largest_intermediate: int
    peak_size: int
    width: float

    def to_dict(self, *, steps: bool = False) -> dict[str, Any]:
        """JSON form; per-step records only if ``steps``."""
        d = asdict(self)
        d["path"] = [list(p) for p in self.path]
        if steps:
            d["steps"] = [asdict(s) | {"indices": list(s.indices)} for s in self.steps]
        else:
            d.pop("steps")
        return d


@dataclass(frozen=True)
class NetworkStats:
    """Sizes and contraction costs of a network."""

    num_tensors: int
    num_indices: int
    num_bonds: int
    num_open: int
    num_hyper: int
    params: int
    full_size: int
    compression: float
    dtype: str
    optimized: PathCost
    naive: PathCost

    @property
    def speedup(self) -> float:
        """Naive-order flops over optimized flops."""
        return ratio(self.naive.flops, max(self.optimized.flops, 1))

    def to_dict(self, *, steps: bool = False) -> dict[str, Any]:
        """JSON form (nested path costs)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("optimized", "naive")}
        d["optimized"] = self.optimized.to_dict(steps=steps)
        d["naive"] = self.naive.to_dict(steps=steps)
        d["speedup"] = self.speedup
        return d


def _dtype_factor(dtype: str) -> int:
    return 4 if "complex" in dtype else 2


def naive_path(n: int) -> Path:
    """SSA path contracting operands in listed order: ((0 1) 2) 3 ..."""
    if n < 2:
        return ()
    path = [(0, 1)]
    for k in range(2, n):
        path.append((n + k - 2, k))
    return tuple(path)


def reduced_inputs(net: Network) -> tuple[list[tuple[str, ...]], tuple[str, ...], dict[str, int]]:
    """Operand indices with dangling summed legs removed, the output, the sizes.

    A leg on one tensor that is not in the output is summed over before anything else
    (one pass over that tensor, which, as in cotengra, is not counted in the cost).
    """
    inputs = [tuple(ix for ix in t.indices if net.kind(ix) != "summed") for t in net.tensors]
    return inputs, net.output, net.sizes


def walk_path(
    inputs: Sequence[tuple[str, ...]], output: Sequence[str], path: Sequence[Sequence[int]]
) -> Iterator[tuple[int, int, tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    """Follow an SSA path: yield ``(a, b, left, right, result)`` index tuples per step.

    An index stays on a result while another live tensor still holds it or it is an
    output index; the result's axis order is the left operand's indices then the right's.
    Both the cost model and the executor walk paths through here, so they always agree.
    """
    n = len(inputs)
    out_set = set(output)
    holders: dict[str, int] = {}
    for ixs in inputs:
        for ix in ixs:
            holders[ix] = holders.get(ix, 0) + 1
    live: dict[int, tuple[str, ...]] = dict(enumerate(inputs))
    for k, (a, b) in enumerate(path):
        if a not in live or b not in live or a == b:
            raise NetworkError(f"path step {k} ({a}, {b}) names an operand that is not available")
        A, B = live.pop(a), live.pop(b)
        for ix in A + B:
            holders[ix] -= 1
        union = A + tuple(ix for ix in B if ix not in A)
        new = tuple(ix for ix in union if ix in out_set or holders[ix] > 0)
        for ix in new:
            holders[ix] += 1
        live[n + k] = new
        yield a, b, A, B, new


def path_cost(
    net: Network, path: Sequence[Sequence[int]], *, optimizer: str = "given", dtype: str = "float64"
) -> PathCost:
    """Cost a network along an SSA ``path`` (see the module docstring for definitions)."""
    inputs, output, sizes = reduced_inputs(net)
    n = len(inputs)
    path = tuple((int(a), int(b)) for a, b in path)
    if len(path) != max(n - 1, 0):
        raise NetworkError(f"a path for {n} tensors needs {max(n - 1, 0)} steps, got {len(path)}")

    def size_of(ixs: Sequence[str]) -> int:
        return math.prod(sizes[ix] for ix in ixs)

    alive = sum(size_of(ixs) for ixs in inputs)
    peak = alive
    steps: list[StepCost] = []
    total = largest = 0
    for a, b, A, B, new in walk_path(inputs, output, path):
        union = A + tuple(ix for ix in B if ix not in A)
        step_cost, new_size = size_of(union), size_of(new)
        total += step_cost
        largest = max(largest, new_size)
        # The operands are alive while the result is being written.
        peak = max(peak, alive + new_size)
        alive += new_size - size_of(A) - size_of(B)
        steps.append(StepCost(a, b, new, step_cost, new_size))
    if n == 1:
        largest = size_of(output)
    return PathCost(
        optimizer=optimizer,
        path=path,
        steps=tuple(steps),
        cost=total,
        flops=total * _dtype_factor(dtype),
        largest_intermediate=largest,
        peak_size=peak,
        width=math.log2(max(largest, 1)),
    )


def optimal_hardness(net: Network) -> float:
    """cotengra's estimate of how hard the exact path search is for ``net``."""
    from cotengra.presets import estimate_optimal_hardness

    return float(estimate_optimal_hardness([t.indices for t in net.tensors]))


def find_path(net: Network, optimize: str = "auto", *, seed: int = 0) -> Path:
    """Find an SSA contraction path with a named optimizer (see :data:`OPTIMIZERS`).

    Paths depend only on the structure (which tensor holds which index, sizes, output), so
    they are memoized on it: moving or renaming tensors, or undoing an edit, costs nothing.
    """
    if optimize not in OPTIMIZERS:
        raise NetworkError(
            f"unknown path optimizer {optimize!r}; choose one of: {', '.join(OPTIMIZERS)}"
        )
    n = len(net.tensors)
    if n < 2:
        return ()
    if optimize == "naive":
        return naive_path(n)
    from opt_einsum import get_symbol

    # Single-character labels: cotengra's Rust accelerator (cotengrust), when installed,
    # only takes those, and they make a compact cache key.
    inputs, output, sizes = reduced_inputs(net)
    sym = {ix: get_symbol(k) for k, ix in enumerate(sizes)}
    key_inputs = tuple("".join(sym[ix] for ix in ixs) for ixs in inputs)
    key_output = "".join(sym[ix] for ix in output)
    key_sizes = tuple(sizes[ix] for ix in sizes)
    return _find_path_cached(key_inputs, key_output, key_sizes, optimize, seed)


@functools.lru_cache(maxsize=256)
def _find_path_cached(
    inputs: tuple[str, ...], output: str, sizes: tuple[int, ...], optimize: str, seed: int
) -> Path:
    import cotengra as ctg
    from cotengra.presets import estimate_optimal_hardness
    from opt_einsum import get_symbol

    size_dict = {get_symbol(k): d for k, d in enumerate(sizes)}
    ins = [tuple(term) for term in inputs]
    n = len(ins)
    hardness = float(estimate_optimal_hardness(ins))
    trials = 128
    if optimize == "auto":
        optimize = "optimal" if hardness < _OPTIMAL_HARDNESS else "random-greedy"
        trials = max(1, min(32, _AUTO_TRIAL_BUDGET // n))
    if optimize == "optimal":
        if hardness > _OPTIMAL_REFUSE:
            raise NetworkError(
                f"the exact path search is too hard for this network (hardness {hardness:.0f}, "
                f"limit {_OPTIMAL_REFUSE:.0f}); use 'auto' or 'random-greedy'"
            )
        opt: Any = ctg.OptimalOptimizer()
    elif optimize == "greedy":
        opt = ctg.GreedyOptimizer()
    else:
        opt = ctg.RandomGreedyOptimizer(max_repeats=trials, seed=seed, parallel=False)
    try:
        tree = ctg.array_contract_tree(
            ins, tuple(output), size_dict, optimize=opt, canonicalize=False
        )
    except OverflowError:
        raise NetworkError(
            "contraction costs of this network overflow floating point (beyond 1e308), so no "
            "path can be scored; lower the sizes or close some open legs"
        ) from None
    return tuple((int(a), int(b)) for a, b in tree.get_ssa_path())


def network_stats(
    net: Network, *, optimize: str = "auto", dtype: str = "float64", seed: int = 0
) -> NetworkStats:
    """Sizes of ``net`` and the cost of contracting it optimized and in naive order."""
    path = find_path(net, optimize, seed=seed)
    return NetworkStats(
        num_tensors=len(net.tensors),
        num_indices=len(net.indices),
        num_bonds=len(net.bonds),
        num_open=len(net.open_indices),
        num_hyper=len(net.hyperedges),
        params=net.num_params,
        full_size=net.full_size,
        compression=net.compression,
        dtype=dtype,
        optimized=path_cost(net, path, optimizer=optimize, dtype=dtype),
        naive=path_cost(net, naive_path(len(net.tensors)), optimizer="naive", dtype=dtype),
    )
