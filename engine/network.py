"""The Network model: tensors as ordered lists of index names, one size dict.

An index that appears on two tensors is a bond, on one tensor an open leg (when it is in the
output) and on three or more tensors -- or on two tensors while also in the output -- a
hyperedge. This is quimb's view and maps one to one onto einsum, opt_einsum and cotengra.

A :class:`Network` is validated when it is built, so every instance is well formed; errors
name the tensor or index at fault. JSON documents look like::

    {"format": "tensorbench/network", "version": 1,
     "tensors": [{"name": "A", "indices": ["i", "a"], "pos": [0, 0], "tags": ["core"]}],
     "sizes": {"i": 4, "a": 2}, "output": ["i"]}
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .errors import NetworkError, brief

if TYPE_CHECKING:  # pragma: no cover - typing only
    import quimb.tensor as qtn
    import torch

    from .cost import NetworkStats

__all__ = [
    "FORMAT",
    "MAX_INDEX_SIZE",
    "MAX_TENSOR_ELEMENTS",
    "VERSION",
    "IndexKind",
    "Network",
    "Tensor",
]

FORMAT = "tensorbench/network"
VERSION = 1
#: Largest size of a single index: beyond this no array library indexes safely.
MAX_INDEX_SIZE = 2**31 - 1
#: Largest number of elements of a single tensor (80 GB in float64): a tensor bigger than
#: this cannot be stored on any single device, so a document asking for one is an error.
MAX_TENSOR_ELEMENTS = 10**10
MAX_NAME_LENGTH = 64
#: Most axes one array can have (numpy and torch both stop at 64).
MAX_AXES = 64
MAX_TENSORS = 10_000
#: Beyond this many tensors to place, auto_layout uses a circle instead of a spring layout.
SPRING_LAYOUT_LIMIT = 300

IndexKind = Literal["bond", "open", "hyper", "summed"]

_NETWORK_KEYS = {"format", "version", "name", "tensors", "sizes", "output"}
_TENSOR_KEYS = {"name", "indices", "pos", "tags"}


def _check_name(name: Any, what: str) -> str:
    """Return ``name`` if it is a usable tensor/index/tag name, else raise."""
    if not isinstance(name, str):
        raise NetworkError(f"{what} must be a string, got {type(name).__name__} {name!r}")
    if not name:
        raise NetworkError(f"{what} is empty; give it a name")
    if len(name) > MAX_NAME_LENGTH:
        raise NetworkError(
            f"{what} {name[:20]!r}... is {len(name)} characters long; "
            f"the limit is {MAX_NAME_LENGTH}"
        )
    if name != name.strip() or not name.isprintable():
        raise NetworkError(
            f"{what} {name!r} has leading/trailing spaces or unprintable characters; remove them"
        )
    return name


def _check_size(ix: str, value: Any, where: str = "sizes") -> int:
    """Return the size of index ``ix`` as an int, or raise naming the index."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise NetworkError(
            f"{where}: size of index {ix!r} must be a positive integer, got {brief(value)}"
        )
    value = int(value)
    if value < 1:
        raise NetworkError(f"{where}: size of index {ix!r} must be >= 1, got {value}")
    if value > MAX_INDEX_SIZE:
        raise NetworkError(
            f"{where}: size of index {ix!r} is {value}, above the limit of {MAX_INDEX_SIZE}"
        )
    return value


def _finite(x: numbers.Real) -> bool:
    try:
        return math.isfinite(x)
    except OverflowError:  # an int beyond the float range
        return False


def _check_pos(pos: Any, what: str) -> tuple[float, float] | None:
    if pos is None:
        return None
    if (
        not isinstance(pos, (list, tuple))
        or len(pos) != 2
        or not all(isinstance(p, numbers.Real) and not isinstance(p, bool) for p in pos)
        or not all(_finite(p) for p in pos)
    ):
        raise NetworkError(f"{what} must be two finite numbers [x, y], got {brief(pos)}")
    return (float(pos[0]), float(pos[1]))


@dataclass(frozen=True)
class Tensor:
    """One tensor: a name, its ordered index names, and drawing hints.

    Parameters
    ----------
    name : str
        Unique name within the network.
    indices : tuple of str
        Index names in axis order (the order of the array's axes and of generated code).
    pos : (float, float), optional
        Position for drawing; networks without positions get an automatic layout.
    tags : tuple of str
        Free labels (quimb tags), e.g. ``"core"`` or ``"layer0"``.
    """

    name: str
    indices: tuple[str, ...]
    pos: tuple[float, float] | None = None
    tags: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of this tensor."""
        d: dict[str, Any] = {"name": self.name, "indices": list(self.indices)}
        if self.pos is not None:
            d["pos"] = [round(self.pos[0], 6), round(self.pos[1], 6)]
        if self.tags:
            d["tags"] = list(self.tags)
        return d


def _check_einsum_symbols(equation: str, symbols: str) -> None:
    """Refuse ASCII punctuation and digits as indices: they are typos of the equation's own
    syntax (``ab,bc-ac`` read as tensor ``bc-ac`` "with index 'c' twice"). Other
    characters are indices, as ``opt_einsum.get_symbol`` names those past ``a-zA-Z``."""
    for c in symbols:
        if not c.isascii() or c.isalpha():
            continue
        if c in "->":
            hint = "; did you mean '->' before the output?"
        elif c == ".":
            hint = "; '...' (broadcast modes) is not supported: name every index"
        elif c.isdigit():
            hint = "; indices are letters"
        else:
            hint = "; operands are separated by ','"
        raise NetworkError(f"einsum equation {equation!r}: {c!r} is not an index{hint}")


class Network:
    """A validated tensor network: tensors, one size dict and an output order.

    Parameters
    ----------
    tensors : sequence of Tensor or dict
        The tensors, each with ordered index names. Dicts take the JSON form.
    sizes : mapping of str to int
        The size of every index used by a tensor (and no other).
    output : sequence of str, optional
        The output indices in order. Defaults to the indices that appear on exactly one
        tensor, in order of first appearance (einsum's implicit output, unsorted).
    name : str, optional
        A label for the network (shown in the app and in exported files).

    Raises
    ------
    NetworkError
        If anything is malformed; the message names the tensor or index at fault.
    """

    def __init__(
        self,
        tensors: Sequence[Tensor | Mapping[str, Any]],
        sizes: Mapping[str, int],
        output: Sequence[str] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        if isinstance(tensors, (str, bytes)) or not isinstance(tensors, Sequence):
            raise NetworkError("tensors must be a list of tensors")
        if len(tensors) == 0:
            raise NetworkError("the network is empty; add at least one tensor")
        if len(tensors) > MAX_TENSORS:
            raise NetworkError(
                f"the network has {len(tensors)} tensors; the limit is {MAX_TENSORS}"
            )
        if not isinstance(sizes, Mapping):
            raise NetworkError(f"sizes must be a mapping of index name to size, got {brief(sizes)}")

        built: list[Tensor] = []
        seen_names: set[str] = set()
        for k, t in enumerate(tensors):
            t = _tensor_from_any(t, k)
            if t.name in seen_names:
                raise NetworkError(f"tensor name {t.name!r} is used twice; names must be unique")
            seen_names.add(t.name)
            built.append(t)

        clean_sizes: dict[str, int] = {}
        for ix, value in sizes.items():
            _check_name(ix, "index name in sizes")
            clean_sizes[ix] = _check_size(ix, value)

        where: dict[str, list[int]] = {}
        for k, t in enumerate(built):
            for ix in t.indices:
                where.setdefault(ix, []).append(k)
        for ix, ks in where.items():
            if ix not in clean_sizes:
                raise NetworkError(
                    f"tensor {built[ks[0]].name!r}: index {ix!r} has no size; add it to sizes"
                )
        unused = [ix for ix in clean_sizes if ix not in where]
        if unused:
            raise NetworkError(
                f"sizes: index {unused[0]!r} is not used by any tensor; remove it or connect it"
            )
        for t in built:
            n = math.prod(clean_sizes[ix] for ix in t.indices)
            if n > MAX_TENSOR_ELEMENTS:
                shape = tuple(clean_sizes[ix] for ix in t.indices)
                raise NetworkError(
                    f"tensor {t.name!r} would have {n:.3g} elements (shape {shape}); "
                    f"the limit is {MAX_TENSOR_ELEMENTS:.0e} elements per tensor: lower its sizes"
                )

        if output is None:
            out = tuple(ix for ix, ks in where.items() if len(ks) == 1)
        else:
            if isinstance(output, (str, bytes)) or not isinstance(output, Sequence):
                raise NetworkError(f"output must be a list of index names, got {brief(output)}")
            out = tuple(output)
            seen_out: set[str] = set()
            for ix in out:
                _check_name(ix, "output index")
                if ix not in where:
                    raise NetworkError(
                        f"output index {ix!r} is not an index of any tensor; "
                        f"known indices: {', '.join(list(where)[:12])}"
                    )
                if ix in seen_out:
                    raise NetworkError(f"output index {ix!r} is listed twice")
                seen_out.add(ix)

        if name is not None:
            _check_name(name, "network name")

        self._tensors = tuple(built)
        # Keep sizes in order of first appearance so JSON and einsum are stable.
        self._sizes = {ix: clean_sizes[ix] for ix in where}
        self._output = out
        self._where = {ix: tuple(ks) for ix, ks in where.items()}
        self._name = name

    # ------------------------------------------------------------------ structure

    @property
    def name(self) -> str | None:
        """The network's label, if any."""
        return self._name

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        """The tensors in order."""
        return self._tensors

    @property
    def sizes(self) -> dict[str, int]:
        """A copy of the size of every index, in order of first appearance."""
        return dict(self._sizes)

    @property
    def output(self) -> tuple[str, ...]:
        """The output indices in order."""
        return self._output

    @property
    def indices(self) -> tuple[str, ...]:
        """Every index, in order of first appearance."""
        return tuple(self._sizes)

    def __len__(self) -> int:
        return len(self._tensors)

    def __repr__(self) -> str:
        label = f" {self._name!r}" if self._name else ""
        return (
            f"<Network{label}: {len(self._tensors)} tensors, {len(self._sizes)} indices, "
            f"output {list(self._output)}>"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Network):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def tensor(self, name: str) -> Tensor:
        """Return the tensor called ``name``."""
        for t in self._tensors:
            if t.name == name:
                return t
        raise KeyError(f"no tensor named {name!r}")

    def shape(self, tensor: Tensor | str | int) -> tuple[int, ...]:
        """Return the shape of a tensor given by object, name or position."""
        t = self._resolve(tensor)
        return tuple(self._sizes[ix] for ix in t.indices)

    def _resolve(self, tensor: Tensor | str | int) -> Tensor:
        if isinstance(tensor, Tensor):
            return tensor
        if isinstance(tensor, int):
            return self._tensors[tensor]
        return self.tensor(tensor)

    def tensors_with(self, ix: str) -> tuple[int, ...]:
        """Positions of the tensors that carry index ``ix``."""
        return self._where[ix]

    def degree(self, ix: str) -> int:
        """Number of tensors on ``ix`` plus one if it is an output index."""
        return len(self._where[ix]) + (ix in self._output)

    def kind(self, ix: str) -> IndexKind:
        """Classify an index as ``bond``, ``open``, ``hyper`` or ``summed``.

        ``summed`` is an index on a single tensor that is not in the output: it is summed
        over (a dangling leg), as in ``einsum("ab->a")``.
        """
        n = len(self._where[ix])
        is_out = ix in self._output
        if n == 1:
            return "open" if is_out else "summed"
        if n == 2 and not is_out:
            return "bond"
        return "hyper"

    def indices_of_kind(self, kind: IndexKind) -> tuple[str, ...]:
        """All indices of one kind, in order of first appearance."""
        return tuple(ix for ix in self._sizes if self.kind(ix) == kind)

    @property
    def bonds(self) -> tuple[str, ...]:
        """Indices shared by exactly two tensors and not in the output."""
        return self.indices_of_kind("bond")

    @property
    def open_indices(self) -> tuple[str, ...]:
        """Output indices that sit on exactly one tensor."""
        return self.indices_of_kind("open")

    @property
    def hyperedges(self) -> tuple[str, ...]:
        """Indices joining three or more tensors (counting the output as one end)."""
        return self.indices_of_kind("hyper")

    def neighbors(self, tensor: Tensor | str | int) -> tuple[int, ...]:
        """Positions of the tensors sharing at least one index with ``tensor``."""
        t = self._resolve(tensor)
        k = self._tensors.index(t)
        out: list[int] = []
        for ix in t.indices:
            for j in self._where[ix]:
                if j != k and j not in out:
                    out.append(j)
        return tuple(out)

    def components(self) -> list[list[int]]:
        """Connected components as lists of tensor positions."""
        seen: set[int] = set()
        comps: list[list[int]] = []
        for start in range(len(self._tensors)):
            if start in seen:
                continue
            stack, comp = [start], []
            seen.add(start)
            while stack:
                k = stack.pop()
                comp.append(k)
                for j in self.neighbors(k):
                    if j not in seen:
                        seen.add(j)
                        stack.append(j)
            comps.append(sorted(comp))
        return comps

    def warnings(self) -> list[str]:
        """Things worth knowing about this network, in words (not errors)."""
        out = []
        comps = self.components()
        if len(comps) > 1:
            parts = "; ".join(
                "{"
                + ", ".join(self._tensors[k].name for k in c[:4])
                + (", ..." if len(c) > 4 else "")
                + "}"
                for c in comps[:4]
            )
            out.append(
                f"the network has {len(comps)} disconnected parts ({parts}): they are joined by "
                "outer products, which can make the result very large"
            )
        scalars = [t.name for t in self._tensors if not t.indices]
        if scalars and len(self._tensors) > 1:
            out.append(
                f"tensor(s) {', '.join(scalars[:5])} have no legs: they only scale the result"
            )
        summed = self.indices_of_kind("summed")
        if summed:
            out.append(
                f"leg(s) {', '.join(summed[:5])} are not in the output, so they are summed over"
            )
        return out

    # ------------------------------------------------------------------ sizes

    @property
    def num_params(self) -> int:
        """Total number of entries over all tensors."""
        return sum(math.prod(self.shape(t)) for t in self._tensors)

    @property
    def full_size(self) -> int:
        """Number of entries of the contracted (output) tensor."""
        return math.prod(self._sizes[ix] for ix in self._output)

    @property
    def compression(self) -> float:
        """``full_size / num_params``: how many times smaller the network is than its tensor."""
        from .fmt import ratio

        return ratio(self.full_size, self.num_params)

    # ------------------------------------------------------------------ edits

    def replace(
        self,
        *,
        tensors: Sequence[Tensor | Mapping[str, Any]] | None = None,
        sizes: Mapping[str, int] | None = None,
        output: Sequence[str] | None = None,
        name: str | None = None,
    ) -> Network:
        """Return a new network with some parts replaced (validated again)."""
        return Network(
            self._tensors if tensors is None else tensors,
            self._sizes if sizes is None else sizes,
            self._output if output is None else output,
            name=self._name if name is None else name,
        )

    def with_positions(self, positions: Mapping[str, tuple[float, float]]) -> Network:
        """Return a copy whose tensors take positions from ``{name: (x, y)}``."""
        tensors = [
            Tensor(t.name, t.indices, _check_pos(positions.get(t.name, t.pos), "pos"), t.tags)
            for t in self._tensors
        ]
        return self.replace(tensors=tensors)

    def with_layout(self, *, seed: int = 0, force: bool = False) -> Network:
        """Return a copy where every tensor has a position.

        Tensors that already have one keep it unless ``force``; the rest are placed by a
        seeded force-directed layout of the tensor graph.
        """
        if not force and all(t.pos is not None for t in self._tensors):
            return self
        return self.with_positions(auto_layout(self, seed=seed, force=force))

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """Return the versioned JSON document of this network."""
        d: dict[str, Any] = {"format": FORMAT, "version": VERSION}
        if self._name:
            d["name"] = self._name
        d["tensors"] = [t.to_dict() for t in self._tensors]
        d["sizes"] = dict(self._sizes)
        d["output"] = list(self._output)
        return d

    def to_json(self, indent: int | None = 2) -> str:
        """Return :meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, doc: Any, *, where: str = "network") -> Network:
        """Build a network from its JSON document, validating every field.

        Parameters
        ----------
        doc : dict
            The document (see the module docstring).
        where : str
            Prefix for error messages, e.g. ``"network"`` or ``"config.network"``.
        """
        if not isinstance(doc, Mapping):
            raise NetworkError(f"{where}: expected a JSON object, got {type(doc).__name__}")
        extra = set(doc) - _NETWORK_KEYS
        if extra:
            raise NetworkError(
                f"{where}: unknown field {sorted(extra)[0]!r}; "
                f"allowed fields: {', '.join(sorted(_NETWORK_KEYS))}"
            )
        fmt = doc.get("format", FORMAT)
        if fmt != FORMAT:
            raise NetworkError(f"{where}.format: expected {FORMAT!r}, got {brief(fmt)}")
        version = doc.get("version", VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise NetworkError(
                f"{where}.version: expected a positive integer, got {brief(version)}"
            )
        if version > VERSION:
            raise NetworkError(
                f"{where}.version: {version} was written by a newer tensorbench "
                f"(this one reads up to {VERSION}); upgrade tensorbench"
            )
        if "tensors" not in doc:
            raise NetworkError(f"{where}: missing field 'tensors'")
        if "sizes" not in doc:
            raise NetworkError(f"{where}: missing field 'sizes'")
        tensors = doc["tensors"]
        if not isinstance(tensors, list):
            raise NetworkError(f"{where}.tensors: expected a list, got {type(tensors).__name__}")
        sizes = doc["sizes"]
        if not isinstance(sizes, Mapping):
            raise NetworkError(
                f"{where}.sizes: expected an object of index -> size, got {type(sizes).__name__}"
            )
        try:
            return cls(tensors, sizes, doc.get("output"), name=doc.get("name"))
        except NetworkError as e:
            raise NetworkError(f"{where}: {e}") from None

    @classmethod
    def from_json(cls, text: str) -> Network:
        """Parse a JSON string made by :meth:`to_json`."""
        from .config import parse_json
        from .errors import ConfigError

        try:
            doc = parse_json(text, "network")
        except ConfigError as e:
            raise NetworkError(str(e)) from None
        return cls.from_dict(doc)

    # ------------------------------------------------------------------ bridges

    def to_einsum(self) -> tuple[str, list[tuple[int, ...]]]:
        """Return an einsum equation and the operand shapes.

        When every index name is a single ASCII letter, the names are the symbols (a network
        imported from ``ij,jk->ik`` reads back as that). Otherwise index names become single
        characters via ``opt_einsum.get_symbol`` in order of first appearance (``a-z``,
        ``A-Z`` first; numpy and torch accept only those 52, opt_einsum and cotengra accept
        the rest).
        """
        sym = self.symbols()
        lhs = ",".join("".join(sym[ix] for ix in t.indices) for t in self._tensors)
        rhs = "".join(sym[ix] for ix in self._output)
        return f"{lhs}->{rhs}", [self.shape(t) for t in self._tensors]

    def symbols(self) -> dict[str, str]:
        """The einsum symbol of each index (see :meth:`to_einsum`)."""
        from opt_einsum import get_symbol

        if all(len(ix) == 1 and ix.isascii() and ix.isalpha() for ix in self._sizes):
            return {ix: ix for ix in self._sizes}
        return {ix: get_symbol(k) for k, ix in enumerate(self._sizes)}

    @classmethod
    def from_einsum(
        cls, equation: str, sizes: Mapping[str, int], *, names: Sequence[str] | None = None
    ) -> Network:
        """Build a network from an einsum equation such as ``"ab,bc->ac"`` and index sizes.

        Each character is an index. Tensors are called ``T0, T1, ...`` unless ``names``.
        Without ``->`` the output is the indices that appear once, in order of appearance.
        """
        if not isinstance(equation, str):
            raise NetworkError(f"einsum equation must be a string, got {brief(equation)}")
        eq = equation.replace(" ", "")
        if eq.count("->") > 1:
            raise NetworkError(f"einsum equation {equation!r} has more than one '->'")
        lhs, _, rhs = eq.partition("->")
        _check_einsum_symbols(equation, lhs.replace(",", "") + rhs)
        terms = lhs.split(",")
        if names is None:
            names = [f"T{k}" for k in range(len(terms))]
        if len(names) != len(terms):
            raise NetworkError(f"{len(names)} names given for {len(terms)} einsum operands")
        tensors = [Tensor(n, tuple(term)) for n, term in zip(names, terms, strict=True)]
        output = list(rhs) if "->" in eq else None
        return cls(tensors, sizes, output)

    def random_scales(self) -> list[float]:
        """Standard deviation of each tensor's random entries (see :meth:`random_arrays`).

        Every contracted index of size ``d`` on ``k`` tensors divides each tensor's
        variance by ``d**(1/k)``, so the contracted output's entries have unit variance.
        """
        out = []
        for t in self._tensors:
            log_var = 0.0
            for ix in t.indices:
                if ix not in self._output:
                    log_var -= math.log(self._sizes[ix]) / len(self._where[ix])
            out.append(math.exp(0.5 * log_var))
        return out

    def random_arrays(
        self,
        *,
        seed: int = 0,
        dtype: str = "float64",
        device: str | torch.device = "cpu",
        generator: Literal["torch", "numpy"] = "torch",
    ) -> list[torch.Tensor]:
        """Seeded random data for every tensor, as torch tensors on ``device``.

        Entries are Gaussian with :meth:`random_scales` standard deviations: large networks
        neither overflow nor underflow. The numbers are drawn on the CPU in float64 and then
        cast and moved, so a seed gives the same data on every device.

        ``generator="numpy"`` draws them with ``numpy.random.default_rng(seed)``, tensor by
        tensor (complex: real parts, then imaginary), exactly as the standalone programs of
        :func:`~tensorbench.engine.codegen.export_code` do, so those programs print the
        engine's numbers without tensorbench or torch. The contract task uses it;
        ``"torch"`` (a ``torch.Generator``) is the stream of synthetic decomposition and
        search data, kept so their stored benchmark results stay reproducible.
        """
        import torch

        from .device import resolve_device, resolve_dtype

        if generator not in ("torch", "numpy"):
            raise NetworkError(f"generator must be 'torch' or 'numpy', got {generator!r}")
        dev = resolve_device(device)
        dt = resolve_dtype(dtype)
        if generator == "numpy":
            import numpy as np

            rng = np.random.default_rng(int(seed))

            def normal(shape: tuple[int, ...]) -> torch.Tensor:
                return torch.from_numpy(rng.standard_normal(shape))

        else:
            gen = torch.Generator(device="cpu").manual_seed(int(seed))

            def normal(shape: tuple[int, ...]) -> torch.Tensor:
                return torch.randn(shape, generator=gen, dtype=torch.float64)

        # float64 products as the exported programs write them (std times a draw; complex:
        # real parts, then imaginary, times std / sqrt 2), so both streams match them
        out = []
        for t, std in zip(self._tensors, self.random_scales(), strict=True):
            shape = self.shape(t)
            if dt.is_complex:
                re, im = normal(shape), normal(shape)
                x = torch.complex(re, im) * (std / math.sqrt(2.0))
            else:
                x = normal(shape) * std
            out.append(x.to(dtype=dt, device=dev))
        return out

    def to_quimb(
        self,
        arrays: Sequence[Any] | None = None,
        *,
        backend: Literal["numpy", "torch"] = "numpy",
        seed: int = 0,
        dtype: str = "float64",
        device: str | torch.device = "cpu",
    ) -> qtn.TensorNetwork:
        """Return a ``quimb.tensor.TensorNetwork`` with this structure.

        Parameters
        ----------
        arrays : sequence of arrays, optional
            One array per tensor, in order; random data (:meth:`random_arrays`) if omitted.
        backend : {"numpy", "torch"}
            Array type for random data (``device`` applies to torch only).

        Each quimb tensor is tagged with its name and tags; positions are not carried.
        Hyperedges are kept (quimb supports them; pass ``output_inds`` when contracting).
        """
        import quimb.tensor as qtn

        if arrays is None:
            arrays = self.random_arrays(seed=seed, dtype=dtype, device=device)
            if backend == "numpy":
                arrays = [a.cpu().numpy() for a in arrays]
            elif backend != "torch":
                raise NetworkError(f"backend must be 'numpy' or 'torch', got {brief(backend)}")
        if len(arrays) != len(self._tensors):
            raise NetworkError(f"got {len(arrays)} arrays for {len(self._tensors)} tensors")
        qts = []
        for t, a in zip(self._tensors, arrays, strict=True):
            if tuple(a.shape) != self.shape(t):
                raise NetworkError(
                    f"tensor {t.name!r}: array shape {tuple(a.shape)} != {self.shape(t)}"
                )
            qts.append(qtn.Tensor(a, inds=t.indices, tags=(t.name, *t.tags)))
        return qtn.TensorNetwork(qts, virtual=True)

    @classmethod
    def from_quimb(cls, tn: qtn.TensorNetwork, output: Sequence[str] | None = None) -> Network:
        """Build a network from a ``quimb.tensor.TensorNetwork`` (structure only).

        A tensor is named by its first tag that no other tensor carries; tensors without
        one are called ``T0, T1, ...``. Other tags are kept. The output defaults to quimb's
        outer indices.
        """
        tag_count: dict[str, int] = {}
        for qt in tn.tensors:
            for tag in qt.tags:
                tag_count[tag] = tag_count.get(tag, 0) + 1
        tensors, used = [], set()
        for k, qt in enumerate(tn.tensors):
            tags = sorted(qt.tags)
            name = next((g for g in tags if tag_count[g] == 1 and g not in used), None)
            if name is None:
                name = f"T{k}"
                while name in used or name in tag_count:
                    name = f"{name}_"
            used.add(name)
            tensors.append(Tensor(name, tuple(qt.inds), None, tuple(g for g in tags if g != name)))
        sizes = {ix: int(tn.ind_size(ix)) for ix in tn.ind_map}
        if output is None:
            output = list(tn.outer_inds())
        return cls(tensors, sizes, output)

    # ------------------------------------------------------------------ costs

    def stats(
        self, *, optimize: str = "auto", dtype: str = "float64", seed: int = 0
    ) -> NetworkStats:
        """Parameter count, compression and contraction costs (optimized and naive order).

        See :func:`tensorbench.engine.cost.network_stats`.
        """
        from .cost import network_stats

        return network_stats(self, optimize=optimize, dtype=dtype, seed=seed)


def _tensor_from_any(t: Any, k: int) -> Tensor:
    """Validate one tensor given as a Tensor or a JSON dict (``k`` is its position)."""
    label = f"tensors[{k}]"
    if isinstance(t, Tensor):
        name, indices, pos, tags = t.name, t.indices, t.pos, t.tags
    elif isinstance(t, Mapping):
        extra = set(t) - _TENSOR_KEYS
        if extra:
            raise NetworkError(
                f"{label}: unknown field {sorted(extra)[0]!r}; "
                f"allowed fields: {', '.join(sorted(_TENSOR_KEYS))}"
            )
        if "name" not in t:
            raise NetworkError(f"{label}: missing field 'name'")
        if "indices" not in t:
            raise NetworkError(f"{label} ({t['name']!r}): missing field 'indices'")
        name, indices, pos, tags = t["name"], t["indices"], t.get("pos"), t.get("tags", ())
    else:
        raise NetworkError(f"{label}: expected a tensor object, got {type(t).__name__}")
    name = _check_name(name, f"{label}.name")
    label = f"tensor {name!r}"
    if not isinstance(indices, (list, tuple)):
        raise NetworkError(f"{label}: indices must be a list of index names, got {brief(indices)}")
    indices = tuple(indices)
    if len(indices) > MAX_AXES:
        raise NetworkError(
            f"{label} has {len(indices)} indices; arrays have at most {MAX_AXES} axes "
            "(merge some indices)"
        )
    seen: set[str] = set()
    for ix in indices:
        _check_name(ix, f"{label}: index name")
        if ix in seen:
            raise NetworkError(
                f"{label}: index {ix!r} appears twice; a tensor cannot be joined to itself "
                "(rename one of them)"
            )
        seen.add(ix)
    if not isinstance(tags, (list, tuple)):
        raise NetworkError(f"{label}: tags must be a list of strings, got {brief(tags)}")
    tags = tuple(_check_name(g, f"{label}: tag") for g in tags)
    return Tensor(name, indices, _check_pos(pos, f"{label}: pos"), tags)


def auto_layout(
    net: Network, *, seed: int = 0, force: bool = False
) -> dict[str, tuple[float, float]]:
    """Positions for drawing: keep given ones (unless ``force``), place the rest.

    Uses networkx's seeded spring layout on the tensor graph, with fixed nodes held in
    place, scaled so that neighbouring tensors sit about one unit apart. Above
    :data:`SPRING_LAYOUT_LIMIT` tensors to place (where a spring layout takes seconds to
    minutes) the free tensors go on a circle instead.
    """
    names = [t.name for t in net.tensors]
    fixed = {t.name: t.pos for t in net.tensors if t.pos is not None and not force}
    out = {n: (float(p[0]), float(p[1])) for n, p in fixed.items() if p is not None}
    free = [n for n in names if n not in fixed]
    if not free:
        return out
    xs = [p[0] for p in out.values()]
    ys = [p[1] for p in out.values()]
    # Fixed positions that all (nearly) coincide give a spring layout no length scale: it
    # would pile the free tensors onto them (or divide by zero). Use a circle then too.
    degenerate = bool(out) and max(max(xs) - min(xs), max(ys) - min(ys)) < 1e-6
    if len(free) > SPRING_LAYOUT_LIMIT or degenerate:
        return out | _circle_positions(free, out)

    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(names)
    for ix in net.indices:
        ks = net.tensors_with(ix)
        # a star, not a clique, for hyperedges: linear in their size
        g.add_edges_from((names[ks[0]], names[k]) for k in ks[1:])
    if fixed:
        pos = nx.spring_layout(g, pos=out, fixed=list(out), seed=seed)
    else:
        pos = nx.spring_layout(g, seed=seed, scale=max(1.0, math.sqrt(len(names))))
    placed = {n: (float(p[0]), float(p[1])) for n, p in pos.items()}
    if not all(math.isfinite(c) for p in placed.values() for c in p):
        return out | _circle_positions(free, out)
    return placed


def _circle_positions(
    names: list[str], around: Mapping[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """``names`` on a circle (neighbours one unit apart) beside the ``around`` positions."""
    radius = max(1.0, len(names) / (2 * math.pi))
    cx = sum(p[0] for p in around.values()) / len(around) if around else 0.0
    cy = sum(p[1] for p in around.values()) / len(around) if around else 0.0
    if around:
        cx += radius + 1.0  # beside the fixed tensors, not on top of them
    return {
        n: (
            cx + radius * math.cos(2 * math.pi * k / len(names)),
            cy + radius * math.sin(2 * math.pi * k / len(names)),
        )
        for k, n in enumerate(names)
    }
