"""Export a network as a self-contained program for numpy, torch, quimb or cotengra.

Each generated program builds seeded random data with numpy (the numbers the ``contract``
task draws for the same seed and dtype, so it prints the value that the app and
``tensorbench run`` show), contracts it along the path tensorbench found (the same path
the app costs and the ``contract`` task runs), defines
the module-level variables ``arrays`` (one numpy array per tensor, in tensor order) and
``result`` (axes in ``net.output`` order), and prints the result's shape and norm. It
imports only its library and numpy -- never tensorbench -- so it can be taken anywhere.

User-given names (tensors, indices, tags, the network) only ever appear in generated
code as ``repr()`` string literals or inside comments, never as identifiers: any name the
Network model accepts gives a valid program.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .cost import find_path, path_cost, reduced_inputs, walk_path
from .errors import NetworkError
from .fmt import format_bytes, sci, short

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network

__all__ = ["CODE_TARGETS", "export_code", "target_warnings"]

#: Code targets by name, with a one-line description.
CODE_TARGETS: dict[str, str] = {
    "numpy": "numpy.einsum with tensorbench's contraction path (opt_einsum's explicit form)",
    "torch": "torch.einsum, one readable pairwise step at a time along tensorbench's path",
    "quimb": "a quimb TensorNetwork with tagged tensors, contracted along tensorbench's path",
    "cotengra": "cotengra.array_contract with tensorbench's path (any number of indices)",
}

#: The only subscripts numpy.einsum and torch.einsum accept.
EINSUM_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: Most axes a numpy array or torch tensor can have (numpy 2 and torch; numpy 1 had 32).
MAX_ARRAY_AXES = 64
#: Above this many bytes of arrays, target_warnings mentions the memory the program needs.
MEMORY_WARNING_BYTES = 4 * 2**30

#: Path cost (multiply-adds) above which numpy's slow hyperedge steps are worth a warning.
SLOW_HYPER_COST = 10**8

_ITEMSIZE = {"float32": 4, "float64": 8, "complex64": 8, "complex128": 16}


def _check_target(target: str) -> None:
    if target not in CODE_TARGETS:
        raise NetworkError(
            f"unknown code target {target!r}; choose one of: {', '.join(CODE_TARGETS)}"
        )


def _check_dtype(dtype: str) -> None:
    if dtype not in _ITEMSIZE:
        raise NetworkError(f"unknown dtype {dtype!r}; choose one of: {', '.join(_ITEMSIZE)}")


def _too_many_letters(net: Network, target: str) -> str | None:
    """Why ``net`` cannot be written as one numpy einsum equation, or None if it can."""
    n = len(net.indices)
    if target != "numpy" or n <= len(EINSUM_LETTERS):
        return None
    return (
        f"numpy.einsum accepts only the {len(EINSUM_LETTERS)} letters a-z and A-Z as "
        f"indices and this network has {n} indices; export to 'cotengra' or 'quimb' instead "
        "(they take any number of indices)"
    )


def _wide_step(
    steps: Sequence[tuple[int, int, tuple[str, ...], tuple[str, ...], tuple[str, ...]]],
    target: str,
) -> str | None:
    """Why a step of the path is too wide for ``target``'s einsum, or None if none is."""
    for k, (_a, _b, A, B, _new) in enumerate(steps):
        n = len(set(A) | set(B))
        if n <= len(EINSUM_LETTERS):
            continue
        if target == "torch":
            return (
                f"step {k + 1} of the path joins {n} indices, but torch.einsum accepts only "
                f"the {len(EINSUM_LETTERS)} letters a-z and A-Z; choose another path "
                "optimizer or merge some indices (cotengra and quimb may hit the same limit)"
            )
        # cotengra (and quimb through it) hand some steps to numpy.einsum with one symbol
        # per index of the step; past 52 symbols numpy raises (measured with cotengra 0.8).
        return (
            f"step {k + 1} of the path joins {n} indices; {target} may pass such a step to "
            f"numpy.einsum, which accepts only {len(EINSUM_LETTERS)} letters, so the program "
            "can fail: choose another path optimizer or merge some indices"
        )
    return None


def target_warnings(
    net: Network, target: str, *, optimize: str = "auto", seed: int = 0, dtype: str = "float64"
) -> list[str]:
    """Human sentences on the limits of ``target`` for ``net`` (empty when none apply).

    Parameters
    ----------
    net : Network
        The network to export.
    target : str
        A name from :data:`CODE_TARGETS`.
    optimize, seed, dtype : str, int, str
        As for :func:`export_code`: the path and data type the program would use.

    Returns
    -------
    list of str
        One sentence per limit; a sentence about a hard limit means :func:`export_code`
        raises for this network and target.
    """
    _check_target(target)
    _check_dtype(dtype)
    out: list[str] = []
    letters = _too_many_letters(net, target)
    if letters:
        out.append(letters)
    path = find_path(net, optimize, seed=seed)
    inputs, output, _sizes = reduced_inputs(net)
    if target != "numpy":  # numpy's limit is the whole equation's, checked above
        wide = _wide_step(list(walk_path(inputs, output, path)), target)
        if wide:
            out.append(wide)
    cost = path_cost(net, path, dtype=dtype)
    most_axes = max((len(s.indices) for s in cost.steps), default=len(output))
    if max(most_axes, len(output)) > MAX_ARRAY_AXES:
        out.append(
            f"the path makes a tensor with {max(most_axes, len(output))} axes, above the "
            f"{MAX_ARRAY_AXES} an array can have; the program will fail: choose another path "
            "optimizer or close some open legs"
        )
    itemsize = _ITEMSIZE[dtype]
    raw = sum(math.prod(net.shape(t)) for t in net.tensors)
    need = itemsize * (raw + cost.peak_size)
    if need > MEMORY_WARNING_BYTES:
        out.append(
            f"the program holds about {format_bytes(need)} of {dtype} arrays at its peak; "
            "lower the sizes to run it on a small machine"
        )
    if target == "numpy" and cost.cost > SLOW_HYPER_COST and net.hyperedges:
        # numpy.einsum sends steps with a batch (hyper) index to its generic loop instead
        # of BLAS; it stays correct, it is only slow once the work is large.
        out.append(
            "numpy.einsum contracts hyperedges with its generic loop, not BLAS, and this "
            f"path costs {short(cost.cost, 3)} multiply-adds: torch or cotengra will be faster"
        )
    return out


# ---------------------------------------------------------------------------- the program


@dataclass(frozen=True)
class _Plan:
    """What every target needs: the network, its path in both forms and the data recipe."""

    net: Network
    ssa: tuple[tuple[int, int], ...]
    linear: list[tuple[int, ...]]
    flops: int
    optimize: str
    seed: int
    dtype: str


def _plan(net: Network, optimize: str, seed: int, dtype: str) -> _Plan:
    from opt_einsum.paths import ssa_to_linear

    ssa = find_path(net, optimize, seed=seed)
    # A lone tensor still needs one step: numpy's einsum with an empty explicit path skips
    # the sum over the tensor's dangling legs, and cotengra refuses an empty path.
    linear = [tuple(int(i) for i in p) for p in ssa_to_linear(ssa)] if ssa else [(0,)]
    flops = path_cost(net, ssa, dtype=dtype).flops
    return _Plan(net, ssa, linear, flops, optimize, seed, dtype)


def _header(plan: _Plan, target: str, library: str) -> list[str]:
    from . import __version__

    net = plan.net
    # User text stays off the first two lines: Python reads an encoding declaration there
    # ("coding: ..." in a comment), so a network called "coding: utf-16" would break it.
    # repr() keeps names on one line (it escapes every line break and control character).
    return [
        f"# Generated by tensorbench {__version__} (code target {target!r}): contract a "
        f"tensor network with {library}.",
        f"# Path: optimizer {plan.optimize!r}, seed {plan.seed}; predicted {sci(plan.flops, 4)} "
        f"flops ({plan.dtype}); {len(net.tensors)} tensors, {len(net.indices)} indices.",
        f"# Network: {repr(net.name) if net.name else '(unnamed)'}",
        "# Self-contained: it defines `arrays` (one per tensor) and `result` (axes in output",
        "# order), then prints the result's shape and Frobenius norm.",
        "",
    ]


def _data(plan: _Plan) -> list[str]:
    """Lines that build ``arrays``: seeded Gaussian data, one array per tensor."""
    net, dtype = plan.net, plan.dtype
    complex_ = dtype.startswith("complex")
    lines = [
        f"seed = {int(plan.seed)}",
        "rng = np.random.default_rng(seed)",
        "",
        "",
        "def random_array(shape, std):",
        '    """Gaussian entries with standard deviation `std`.',
        "",
        "    The scales keep every entry of the result near unit size, whatever the network.",
        '    """',
    ]
    if complex_:
        lines += [
            "    re = rng.standard_normal(shape)",
            "    im = rng.standard_normal(shape)",
            f"    return np.asarray((re + 1j * im) * (std / np.sqrt(2)), dtype=np.{dtype})",
        ]
    else:
        lines.append(f"    return np.asarray(rng.standard_normal(shape) * std, dtype=np.{dtype})")
    lines += ["", "", "# One array per tensor; its axes follow the tensor's indices.", "arrays = ["]
    for t, std in zip(net.tensors, net.random_scales(), strict=True):
        shape = net.shape(t)
        lines.append(
            f"    random_array({shape!r}, {std!r}),  # tensor {t.name!r}, indices {t.indices!r}"
        )
    lines += ["]", ""]
    return lines


def _literal_lines(name: str, items: Sequence[object]) -> list[str]:
    """``name = [...]`` with one item per line (the tensors' order stays easy to follow)."""
    return [f"{name} = [", *(f"    {item!r}," for item in items), "]"]


def _path_lines(plan: _Plan) -> list[str]:
    return [
        "# The contraction path tensorbench found, in opt_einsum's linear form: each pair",
        "# names two positions in the list of remaining operands; the result goes last.",
        f"path = {plan.linear!r}",
    ]


def _norm_print(norm_expr: str) -> list[str]:
    return [
        "",
        f"norm = {norm_expr}",
        'print(f"result: shape {tuple(result.shape)}, norm {norm:.12e}")',
        "",
    ]


def _numpy(plan: _Plan) -> str:
    net = plan.net
    sym = net.symbols()
    eq, _shapes = net.to_einsum()
    lines = [*_header(plan, "numpy", "numpy.einsum"), "import numpy as np", "", *_data(plan)]
    lines.append("# einsum letters of the indices: letter = index name (size)")
    for ix, size in net.sizes.items():
        lines.append(f"#   {sym[ix]} = {ix!r} ({size})")
    lines += [
        f"equation = {eq!r}",
        "",
        *_path_lines(plan),
        "",
        "# numpy runs each pairwise step of the path with tensordot or einsum.",
        'result = np.asarray(np.einsum(equation, *arrays, optimize=["einsum_path", *path]))',
        *_norm_print("float(np.sqrt(np.sum(np.abs(result) ** 2)))"),
    ]
    return "\n".join(lines)


def _local_equation(A: Sequence[str], B: Sequence[str], out: Sequence[str]) -> str:
    """A two-operand einsum equation with letters given in order of first appearance."""
    sym: dict[str, str] = {}
    for ix in (*A, *B):
        sym.setdefault(ix, EINSUM_LETTERS[len(sym)])
    return "{},{}->{}".format(*("".join(sym[ix] for ix in ixs) for ixs in (A, B, out)))


def _torch(plan: _Plan) -> str:
    net = plan.net
    inputs, output, _sizes = reduced_inputs(net)
    steps = list(walk_path(inputs, output, plan.ssa))
    wide = _wide_step(steps, "torch")
    if wide:
        raise NetworkError(wide)
    names = [t.name for t in net.tensors]
    lines = [
        *_header(plan, "torch", "torch.einsum, one pairwise step at a time"),
        "import numpy as np",
        "import torch",
        "",
        *_data(plan),
        "# Live tensors by id: inputs are 0..n-1, each step's result takes the next id.",
        "tensors = {k: torch.from_numpy(a) for k, a in enumerate(arrays)}",
    ]
    summed = [
        (k, t, [t.indices.index(ix) for ix in t.indices if ix not in reduced])
        for k, (t, reduced) in enumerate(zip(net.tensors, inputs, strict=True))
    ]
    if any(axes for _k, _t, axes in summed):
        lines += ["", "# Legs on one tensor that are not in the output are summed first."]
        for k, t, axes in summed:
            if axes:
                gone = tuple(t.indices[a] for a in axes)
                lines.append(
                    f"tensors[{k}] = tensors[{k}].sum(dim={tuple(axes)!r})  "
                    f"# tensor {t.name!r}: sums {gone!r}"
                )

    def label(k: int) -> str:
        return repr(names[k]) if k < len(names) else f"step {k - len(names) + 1}"

    n = len(net.tensors)
    for k, (a, b, A, B, new) in enumerate(steps):
        gone = tuple(ix for ix in (*A, *(ix for ix in B if ix not in A)) if ix not in new)
        lines += [
            "",
            f"# step {k + 1}/{len(steps)}: {label(a)} x {label(b)}; "
            + (f"sums {gone!r}, " if gone else "")
            + f"keeps {new!r}",
            f"tensors[{n + k}] = torch.einsum({_local_equation(A, B, new)!r}, "
            f"tensors.pop({a}), tensors.pop({b}))",
        ]
    final = tuple(steps[-1][4]) if steps else tuple(inputs[0])
    lines += ["", "(result,) = tensors.values()"]
    if final != tuple(output):
        perm = tuple(final.index(ix) for ix in output)
        lines.append(f"result = result.permute{perm!r}  # axes in output order {output!r}")
    lines += _norm_print("float(torch.linalg.vector_norm(result))")
    return "\n".join(lines)


def _structure(plan: _Plan, library: str) -> list[str]:
    """``inputs``, then ``tags`` (quimb) or ``size_dict`` (cotengra), ``output``, ``path``."""
    net = plan.net
    lines = _literal_lines("inputs", [t.indices for t in net.tensors])
    if library == "quimb":
        lines += _literal_lines("tags", [(t.name, *t.tags) for t in net.tensors])
    lines.append(f"output = {net.output!r}")
    if library == "cotengra":
        lines.append(f"size_dict = {net.sizes!r}")
    return [*lines, "", *_path_lines(plan)]


def _quimb(plan: _Plan) -> str:
    lines = [
        *_header(plan, "quimb", "quimb"),
        "import numpy as np",
        "import quimb.tensor as qtn",
        "",
        *_data(plan),
        "# Index names of each tensor (quimb's inds) and its tags: its name, then its tags.",
        *_structure(plan, "quimb"),
        "",
        "tn = qtn.TensorNetwork(",
        "    [",
        "        qtn.Tensor(data, inds=inds, tags=tags_)",
        "        for data, inds, tags_ in zip(arrays, inputs, tags, strict=True)",
        "    ],",
        "    virtual=True,",
        ")",
        "# output_inds keeps hyperedges and fixes the axis order; preserve_tensor keeps a",
        "# Tensor even when the result is a scalar.",
        "result = tn.contract(output_inds=output, optimize=path, preserve_tensor=True)",
        "result = result.transpose(*output).data",
        *_norm_print("float(np.sqrt(np.sum(np.abs(result) ** 2)))"),
    ]
    return "\n".join(lines)


def _cotengra(plan: _Plan) -> str:
    lines = [
        *_header(plan, "cotengra", "cotengra.array_contract"),
        "import cotengra as ctg",
        "import numpy as np",
        "",
        *_data(plan),
        "# Index names of each tensor; cotengra takes any hashable names, any number of them.",
        *_structure(plan, "cotengra"),
        "",
        "result = np.asarray(",
        "    ctg.array_contract(arrays, inputs, output, size_dict=size_dict, optimize=path)",
        ")",
        *_norm_print("float(np.sqrt(np.sum(np.abs(result) ** 2)))"),
    ]
    return "\n".join(lines)


_WRITERS: dict[str, Callable[[_Plan], str]] = {
    "numpy": _numpy,
    "torch": _torch,
    "quimb": _quimb,
    "cotengra": _cotengra,
}


def export_code(
    net: Network,
    target: str,
    *,
    seed: int = 0,
    optimize: str = "auto",
    dtype: str = "float64",
) -> str:
    """Return a self-contained Python program that contracts ``net`` with one library.

    Parameters
    ----------
    net : Network
        The network to contract.
    target : str
        One of :data:`CODE_TARGETS`: ``"numpy"``, ``"torch"``, ``"quimb"``, ``"cotengra"``.
    seed : int
        Seeds the program's random data (numpy ``default_rng``) and the path search.
    optimize : str
        Path optimizer (see :data:`tensorbench.engine.cost.OPTIMIZERS`).
    dtype : str
        ``"float64"``, ``"float32"``, ``"complex128"`` or ``"complex64"``.

    Returns
    -------
    str
        Python source defining ``arrays`` and ``result`` and printing the result's shape
        and Frobenius norm.

    Raises
    ------
    NetworkError
        For an unknown target, optimizer or dtype, or a network the target cannot
        express (more indices than einsum's 52 letters: use cotengra or quimb then).
    """
    _check_target(target)
    _check_dtype(dtype)
    letters = _too_many_letters(net, target)
    if letters:
        raise NetworkError(letters)
    return _WRITERS[target](_plan(net, optimize, int(seed), dtype))
