"""Editing operations on networks, as pure functions: each takes a Network and returns a new one.

The editor canvas calls these; because every result is a validated :class:`Network`, a
drawing can never be in a state the engine cannot run, and undo is a stack of values.
An empty canvas is ``None`` (a Network has at least one tensor).

Refusals raise :class:`EditError` with a sentence saying what was wrong and what to do:
joining a tensor to itself, putting an index twice on a tensor, bonding legs of different
sizes, names that generated code could not use as written.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Mapping, Sequence

from .errors import NetworkError
from .network import Network, Tensor

__all__ = [
    "EditError",
    "add_leg",
    "add_tensor",
    "auto_layout",
    "check_name",
    "connect",
    "delete_indices",
    "delete_tensors",
    "fresh_name",
    "make_hyperedge",
    "move",
    "rename_index",
    "rename_tensor",
    "reorder_legs",
    "set_size",
]

#: Size given to new legs and bonds until the user sets one.
DEFAULT_SIZE = 2
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


class EditError(NetworkError):
    """An edit the network cannot take; the message says why and what to do instead."""


def check_name(name: str, what: str = "name") -> str:
    """Accept names that read well in code and diagrams: a letter or _, then letters,
    digits or _, at most 32 characters, not a Python keyword."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise EditError(
            f"{what} {name!r} is not allowed: use letters, digits and _ (starting with a letter "
            "or _), at most 32 characters, e.g. A1 or chi_2"
        )
    if keyword.iskeyword(name):
        raise EditError(f"{what} {name!r} is a Python keyword; add a letter, e.g. {name}_")
    return name


def fresh_name(taken: Iterable[str], prefix: str) -> str:
    """The first of ``prefix0, prefix1, ...`` not in ``taken``."""
    used = set(taken)
    k = 0
    while f"{prefix}{k}" in used:
        k += 1
    return f"{prefix}{k}"


def _tensors(net: Network) -> list[Tensor]:
    return list(net.tensors)


def _rebuild(
    net: Network,
    tensors: Sequence[Tensor],
    sizes: Mapping[str, int] | None = None,
    output: Sequence[str] | None = None,
) -> Network:
    """A new network; sizes and output are pruned to the indices still in use."""
    used = {ix for t in tensors for ix in t.indices}
    sizes = {ix: s for ix, s in (net.sizes if sizes is None else sizes).items() if ix in used}
    out = [ix for ix in (net.output if output is None else output) if ix in used]
    return Network(tensors, sizes, out, name=net.name)


def _index_names(net: Network | None) -> set[str]:
    return set() if net is None else set(net.indices)


def _tensor_index(net: Network, name: str) -> int:
    for k, t in enumerate(net.tensors):
        if t.name == name:
            return k
    raise EditError(f"there is no tensor named {name!r}")


def add_tensor(net: Network | None, pos: tuple[float, float], name: str | None = None) -> Network:
    """Add a tensor with no legs at ``pos`` (the first tensor of an empty canvas too)."""
    taken = set() if net is None else {t.name for t in net.tensors}
    name = fresh_name(taken, "T") if name is None else check_name(name, "tensor name")
    if name in taken:
        raise EditError(f"a tensor called {name!r} exists already; pick another name")
    t = Tensor(name, (), (float(pos[0]), float(pos[1])))
    if net is None:
        return Network([t], {})
    return Network([*net.tensors, t], net.sizes, net.output, name=net.name)


def add_leg(
    net: Network, tensor: str, size: int = DEFAULT_SIZE, name: str | None = None
) -> Network:
    """Give ``tensor`` a new open leg (a new output index) of ``size``."""
    k = _tensor_index(net, tensor)
    ix = fresh_name(_index_names(net), "i") if name is None else check_name(name, "index name")
    if ix in net.sizes:
        raise EditError(f"index {ix!r} exists already; pick another name")
    tensors = _tensors(net)
    t = tensors[k]
    tensors[k] = Tensor(t.name, (*t.indices, ix), t.pos, t.tags)
    return _rebuild(net, tensors, net.sizes | {ix: size}, [*net.output, ix])


def connect(
    net: Network, a: tuple[str, str | None], b: tuple[str, str | None], size: int = DEFAULT_SIZE
) -> Network:
    """Join two ends, each a ``(tensor, index or None)``.

    * tensor to tensor: a new bond of ``size``;
    * leg to tensor: the tensor takes the leg's index (an open leg becomes a bond, a bond
      becomes a hyperedge);
    * leg to leg: the two indices merge (their sizes must agree).
    """
    (ta, ia), (tb, ib) = a, b
    if ta == tb:
        raise EditError(f"tensor {ta!r} cannot be connected to itself (a trace is not a bond)")
    ka, kb = _tensor_index(net, ta), _tensor_index(net, tb)
    for t, ix in ((ta, ia), (tb, ib)):
        if ix is not None and ix not in net.tensors[_tensor_index(net, t)].indices:
            raise EditError(f"tensor {t!r} has no leg {ix!r}")
    tensors = _tensors(net)
    if ia is None and ib is None:
        ix = fresh_name(_index_names(net), "b")
        tensors[ka] = Tensor(
            tensors[ka].name, (*tensors[ka].indices, ix), tensors[ka].pos, tensors[ka].tags
        )
        tensors[kb] = Tensor(
            tensors[kb].name, (*tensors[kb].indices, ix), tensors[kb].pos, tensors[kb].tags
        )
        return _rebuild(net, tensors, net.sizes | {ix: size})
    if ia is None:  # make the leg side come first
        (ta, ia, ka), (tb, ib, kb) = (tb, ib, kb), (ta, ia, ka)
    assert ia is not None
    if ib is None:
        if ia in tensors[kb].indices:
            raise EditError(f"tensor {tb!r} already has index {ia!r}; an index joins a tensor once")
        t = tensors[kb]
        tensors[kb] = Tensor(t.name, (*t.indices, ia), t.pos, t.tags)
        return _rebuild(net, tensors, output=[o for o in net.output if o != ia])
    if ia == ib:
        raise EditError(f"{ta!r} and {tb!r} are already connected by {ia!r}")
    if net.sizes[ia] != net.sizes[ib]:
        raise EditError(
            f"legs {ia!r} (size {net.sizes[ia]}) and {ib!r} (size {net.sizes[ib]}) have different "
            "sizes; set them equal before connecting"
        )
    for t in tensors:
        if ia in t.indices and ib in t.indices:
            raise EditError(
                f"tensor {t.name!r} has both {ia!r} and {ib!r}; joining them would put one index "
                "on it twice"
            )
    tensors = [
        Tensor(t.name, tuple(ia if ix == ib else ix for ix in t.indices), t.pos, t.tags)
        for t in tensors
    ]
    return _rebuild(net, tensors, output=[o for o in net.output if o not in (ia, ib)])


def make_hyperedge(net: Network, names: Sequence[str], size: int = DEFAULT_SIZE) -> Network:
    """Join three or more tensors by one new shared index (a hyperedge)."""
    names = list(dict.fromkeys(names))
    if len(names) < 3:
        raise EditError(
            "select three or more tensors for a hyperedge (two make a bond: connect them)"
        )
    ks = [_tensor_index(net, n) for n in names]
    ix = fresh_name(_index_names(net), "h")
    tensors = _tensors(net)
    for k in ks:
        t = tensors[k]
        tensors[k] = Tensor(t.name, (*t.indices, ix), t.pos, t.tags)
    return _rebuild(net, tensors, net.sizes | {ix: size})


def rename_tensor(net: Network, old: str, new: str) -> Network:
    """Rename a tensor (names must stay unique)."""
    k = _tensor_index(net, old)
    check_name(new, "tensor name")
    if new != old and any(t.name == new for t in net.tensors):
        raise EditError(f"a tensor called {new!r} exists already; pick another name")
    tensors = _tensors(net)
    t = tensors[k]
    tensors[k] = Tensor(new, t.indices, t.pos, t.tags)
    return _rebuild(net, tensors)


def rename_index(net: Network, old: str, new: str) -> Network:
    """Rename an index everywhere it appears."""
    if old not in net.sizes:
        raise EditError(f"there is no index named {old!r}")
    check_name(new, "index name")
    if new != old and new in net.sizes:
        raise EditError(f"index {new!r} exists already; connect the legs instead of renaming")
    tensors = [
        Tensor(t.name, tuple(new if ix == old else ix for ix in t.indices), t.pos, t.tags)
        for t in net.tensors
    ]
    sizes = {(new if ix == old else ix): s for ix, s in net.sizes.items()}
    out = [new if ix == old else ix for ix in net.output]
    return Network(tensors, sizes, out, name=net.name)


def set_size(net: Network, ix: str, size: int) -> Network:
    """Set the size (dimension) of an index; validated like any network size."""
    if ix not in net.sizes:
        raise EditError(f"there is no index named {ix!r}")
    return Network(net.tensors, net.sizes | {ix: size}, net.output, name=net.name)


def delete_tensors(net: Network, names: Iterable[str]) -> Network | None:
    """Remove tensors; their bonds to remaining tensors become open legs there.

    Returns None when nothing is left (an empty canvas).
    """
    gone = set(names)
    for n in gone:
        _tensor_index(net, n)
    tensors = [t for t in net.tensors if t.name not in gone]
    if not tensors:
        return None
    out = list(net.output)
    for ix in net.indices:
        remaining = sum(ix in t.indices for t in tensors)
        if remaining == 1 and ix not in out and net.kind(ix) != "summed":
            out.append(ix)  # a cut bond stays visible as an open leg
    return _rebuild(net, tensors, output=out)


def delete_indices(net: Network, names: Iterable[str]) -> Network:
    """Remove indices (legs, bonds, hyperedges) from every tensor."""
    gone = set(names)
    for ix in gone:
        if ix not in net.sizes:
            raise EditError(f"there is no index named {ix!r}")
    tensors = [
        Tensor(t.name, tuple(ix for ix in t.indices if ix not in gone), t.pos, t.tags)
        for t in net.tensors
    ]
    return _rebuild(net, tensors)


def move(net: Network, positions: Mapping[str, tuple[float, float]]) -> Network:
    """Move tensors to new positions ``{name: (x, y)}``."""
    for n in positions:
        _tensor_index(net, n)
    return net.with_positions(positions)


def reorder_legs(net: Network, tensor: str, order: Sequence[str]) -> Network:
    """Give a tensor's indices a new axis order (the order of its array and of code)."""
    k = _tensor_index(net, tensor)
    t = net.tensors[k]
    if sorted(order) != sorted(t.indices):
        raise EditError(
            f"the new order of {tensor!r} must list exactly its indices {list(t.indices)}"
        )
    tensors = _tensors(net)
    tensors[k] = Tensor(t.name, tuple(order), t.pos, t.tags)
    return _rebuild(net, tensors)


def auto_layout(net: Network, seed: int = 0) -> Network:
    """Place every tensor afresh with a force-directed layout (then hand-edit)."""
    return net.with_layout(seed=seed, force=True)
