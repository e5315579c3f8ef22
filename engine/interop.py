"""Read networks drawn in other tools into the :class:`~tensorbench.engine.network.Network` model.

tensor-network-editor
---------------------
`tensor-network-editor <https://pypi.org/project/tensor-network-editor/>`_ (1.1) saves a
drawing as a versioned JSON document (``save_spec``; ``serialize_spec`` gives the same
dict)::

    {"schema_version": 2,
     "network": {
        "id": "...", "name": "MPS",
        "tensors": [{"id": "tensor_0", "name": "A1", "position": {"x": 0.0, "y": 0.0},
                     "indices": [{"id": "tensor_0_right", "name": "right", "dimension": 3},
                                 {"id": "tensor_0_phys", "name": "phys", "dimension": 2}],
                     ...}],
        "edges": [{"id": "edge_0_1", "name": "edge-0-1",
                   "left": {"tensor_id": "tensor_0", "index_id": "tensor_0_right"},
                   "right": {"tensor_id": "tensor_1", "index_id": "tensor_1_left"}}],
        "hyperedges": [{"id": "h", "name": "h", "endpoints": [{"tensor_id": ..., "index_id": ...},
                                                               ...]}],
        "linear_periodic_chain": null, "grid_periodic_grid": null, "tree_periodic_tree": null,
        "groups": [], "notes": [], "contraction_plan": null, "metadata": {}}}

Its model differs from ours in one way that matters: an index there is a *leg* owned by one
tensor (ids are unique across the document, names only within a tensor), and a connection
is a separate object -- an edge joins two legs, a hyperedge three or more. A leg that no
edge or hyperedge touches is open, and the editor keeps every open leg in the result. Here
a connection becomes one shared index name, so the converter names each connection once
and gives that name to every leg it touches.
"""

from __future__ import annotations

import itertools
import math
import numbers
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import NetworkError, brief
from .network import MAX_NAME_LENGTH, Network, Tensor

__all__ = ["TNE_SCHEMA_VERSIONS", "from_tensor_network_editor"]

#: Schema versions of tensor-network-editor documents this importer reads (1.1 writes 2
#: and reads 1 and 2 with the same network layout).
TNE_SCHEMA_VERSIONS = (1, 2)

# The editor's periodic modes store repeating cells, not one network: what they stand for
# depends on how many times a cell repeats, which the document does not fix.
_PERIODIC_MODES = {
    "linear_periodic_chain": "linear periodic",
    "grid_periodic_grid": "grid periodic",
    "tree_periodic_tree": "tree periodic",
}

# Spacing of neighbouring tensors on the editor's canvas in its templates (320-340 px);
# used to scale positions only when no edge gives a better measure.
_CANVAS_SPACING = 320.0

_PREFIX = "tensor-network-editor document"


def _fail(message: str) -> NetworkError:
    return NetworkError(f"{_PREFIX}: {message}")


_KIND_WORDS: dict[type, str] = {str: "a string", list: "a list", Mapping: "an object"}


def _require(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    """Return ``obj[key]`` if it is present and of type ``kind``, else raise naming both."""
    if key not in obj:
        raise _fail(f"{where} has no {key!r} field")
    value = obj[key]
    if not isinstance(value, kind):
        raise _fail(f"{where}.{key} must be {_KIND_WORDS[kind]}, got {brief(value)}")
    return value


def _dimension(value: Any, where: str) -> int:
    """A leg's dimension as an int. The editor's loader also accepts integral floats."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(f"{where}.dimension must be a positive integer, got {brief(value)}")
    integral = isinstance(value, numbers.Integral)
    if not integral and not (math.isfinite(value) and float(value).is_integer()):
        raise _fail(f"{where}.dimension must be a positive integer, got {brief(value)}")
    dim = int(value)
    if dim < 1:
        raise _fail(f"{where}.dimension must be >= 1, got {dim}")
    return dim


def _canvas_point(value: Any, where: str) -> tuple[float, float] | None:
    """The ``{"x": ..., "y": ...}`` canvas position of a tensor, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _fail(f"{where}.position must be an object {{x, y}}, got {brief(value)}")
    out = []
    for axis in ("x", "y"):
        v = value.get(axis)
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise _fail(f"{where}.position.{axis} must be a finite number, got {brief(v)}")
        out.append(float(v))
    return out[0], out[1]


def _clean(text: str) -> str:
    """``text`` made a valid tensorbench name: printable, trimmed (may come back empty).

    Names in the editor are free text (spaces, any characters, any length); ours must be
    printable, without outer spaces and at most ``MAX_NAME_LENGTH`` characters.
    """
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return text[:MAX_NAME_LENGTH].rstrip()


def _unique(candidates: Sequence[tuple[str, str]]) -> list[str]:
    """Pick one distinct name per item from ``(preferred, fallback)`` pairs.

    A preferred name shared by several items (the editor allows duplicate names, e.g. every
    edge made by its builder is named after its left leg) is replaced by each item's
    fallback (an id, unique in the document); what still collides gets a ``~k`` suffix.
    Deterministic, so the same document always gives the same network.
    """
    preferred = [_clean(p) for p, _ in candidates]
    counts = Counter(preferred)
    picked = [
        p if p and counts[p] == 1 else (_clean(f) or p or "x")
        for p, (_, f) in zip(preferred, candidates, strict=True)
    ]
    picked_counts = Counter(picked)
    taken = {p for p, n in picked_counts.items() if n == 1}  # suffixes must not take these
    seen: set[str] = set()
    out = []
    for name in picked:
        if name in seen:
            k = 2
            while True:
                suffix = f"~{k}"
                candidate = name[: MAX_NAME_LENGTH - len(suffix)] + suffix
                if candidate not in seen and candidate not in taken:
                    break
                k += 1
            name = candidate
        seen.add(name)
        out.append(name)
    return out


@dataclass
class _Leg:
    """One leg of an editor tensor (an "index" there, owned by one tensor)."""

    tensor: int  # position of its tensor in the document
    name: str
    dim: int
    where: str  # how messages name it


@dataclass
class _Parsed:
    """The document's structure, before naming: tensors, legs, connections."""

    tensor_ids: list[str] = field(default_factory=list)
    tensor_names: list[str] = field(default_factory=list)
    points: list[tuple[float, float] | None] = field(default_factory=list)
    axes: list[list[str]] = field(default_factory=list)  # leg ids per tensor, axis order
    legs: dict[str, _Leg] = field(default_factory=dict)  # by document-wide leg id
    conn_names: list[tuple[str, str]] = field(default_factory=list)  # (name, fallback id)
    conn_legs: list[list[str]] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)  # leg ids some connection uses


def from_tensor_network_editor(doc: Mapping[str, Any]) -> Network:
    """Convert a tensor-network-editor JSON document into a :class:`Network`.

    Parameters
    ----------
    doc : dict
        The document as the editor saves it (``{"schema_version": 2, "network": {...}}``,
        what ``tensor_network_editor.save_spec`` writes and ``serialize_spec`` returns),
        or just its ``"network"`` object. Only plain JSON data is read; the
        tensor-network-editor package itself is not needed.

    Returns
    -------
    Network
        One tensor per editor tensor, in document order, named by the tensor's name
        (made unique and valid if needed) with its legs in the document's axis order.
        Index names: an edge becomes an index named after the edge, a hyperedge an index
        named after the hyperedge and shared by all its tensors (summed, like the editor's
        copy tensor), and an open leg becomes an output index ``"<tensor>.<leg>"``. The
        output holds every open leg in document order (the editor keeps all of them).
        Positions are the canvas positions scaled so neighbouring tensors sit about one
        unit apart, with y pointing up as in tensorbench's drawings.

    Raises
    ------
    NetworkError
        If the document is malformed: a missing or mistyped field, an unsupported schema
        version, a periodic-mode document, an edge or hyperedge naming a leg that does not
        exist or is already connected, connected legs of different dimensions, or a
        connection joining a tensor to itself. The one-line message names the item at fault.

    Notes
    -----
    Numeric tensor data, groups, notes, metadata and a saved manual contraction plan are
    not imported: tensorbench networks hold structure only.
    """
    net_doc = _network_object(doc)
    parsed = _Parsed()
    _read_tensors(net_doc, parsed)
    for field_name, word in (("edges", "edge"), ("hyperedges", "hyperedge")):
        raw = net_doc.get(field_name)
        if raw is None:  # schema 1 documents may lack hyperedges
            continue
        if not isinstance(raw, list):
            raise _fail(f"network.{field_name} must be a list, got {brief(raw)}")
        for k, item in enumerate(raw):
            _read_connection(item, f"network.{field_name}[{k}]", word, parsed)

    # Names. Tensors keep theirs, de-duplicated by id. Indices: connections first, then
    # open legs as "<tensor>.<leg>" (a leg name is only unique within its tensor).
    names = _unique(list(zip(parsed.tensor_names, parsed.tensor_ids, strict=True)))
    opens = [i for ids in parsed.axes for i in ids if i not in parsed.claimed]
    open_names = []
    for i in opens:
        owner = names[parsed.legs[i].tensor]
        open_names.append((f"{owner}.{parsed.legs[i].name}", f"{owner}.{i}"))
    index_names = _unique(parsed.conn_names + open_names)
    name_of_leg: dict[str, str] = {}
    for number, ids in enumerate(parsed.conn_legs):
        for i in ids:
            name_of_leg[i] = index_names[number]
    for j, i in enumerate(opens):
        name_of_leg[i] = index_names[len(parsed.conn_legs) + j]

    positions = _positions(parsed)
    tensors = [
        Tensor(names[k], tuple(name_of_leg[i] for i in ids), positions[k])
        for k, ids in enumerate(parsed.axes)
    ]
    sizes = {name_of_leg[i]: leg.dim for i, leg in parsed.legs.items()}
    label = net_doc.get("name")
    label = _clean(label) if isinstance(label, str) else ""
    try:
        return Network(tensors, sizes, [name_of_leg[i] for i in opens], name=label or None)
    except NetworkError as e:  # e.g. a tensor with more axes than arrays can have
        raise _fail(str(e)) from None


def _network_object(doc: Any) -> Mapping[str, Any]:
    """The ``network`` object of a saved document (or ``doc`` if it is one), checked."""
    if not isinstance(doc, Mapping):
        raise _fail(f"expected a JSON object, got {type(doc).__name__}")
    if "schema_version" in doc or "network" in doc:
        version = doc.get("schema_version")
        if isinstance(version, bool) or version not in TNE_SCHEMA_VERSIONS:
            raise _fail(
                f"unsupported schema_version {brief(version)}; this importer reads "
                f"{' and '.join(map(str, TNE_SCHEMA_VERSIONS))}"
            )
        net_doc = _require(doc, "network", Mapping, "document")
    else:
        net_doc = doc  # the bare network object (NetworkSpec.to_dict())
    for key, label in _PERIODIC_MODES.items():
        if net_doc.get(key) is not None:
            raise _fail(
                f"the network uses the editor's {label} mode ({key!r}), whose repeating "
                "cells are not one fixed network; convert it to a normal network first"
            )
    if not _require(net_doc, "tensors", list, "network"):
        raise _fail("network.tensors is empty; add at least one tensor")
    return net_doc


def _read_tensors(net_doc: Mapping[str, Any], parsed: _Parsed) -> None:
    """Read every tensor and its legs into ``parsed``, keyed by the legs' ids."""
    for k, t in enumerate(net_doc["tensors"]):
        where = f"network.tensors[{k}]"
        if not isinstance(t, Mapping):
            raise _fail(f"{where} must be an object, got {brief(t)}")
        tid = _require(t, "id", str, where)
        if tid in parsed.tensor_ids:
            raise _fail(f"tensor id {tid!r} is used twice")
        name = t.get("name", "")
        if not isinstance(name, str):
            raise _fail(f"{where}.name must be a string, got {brief(name)}")
        where = f"tensor {name or tid!r}"
        parsed.tensor_ids.append(tid)
        parsed.tensor_names.append(name)
        parsed.points.append(_canvas_point(t.get("position"), where))
        ids: list[str] = []
        for a, ix in enumerate(_require(t, "indices", list, where)):
            iwhere = f"{where}.indices[{a}]"
            if not isinstance(ix, Mapping):
                raise _fail(f"{iwhere} must be an object, got {brief(ix)}")
            iid = _require(ix, "id", str, iwhere)
            iname = ix.get("name", "")
            if not isinstance(iname, str):
                raise _fail(f"{iwhere}.name must be a string, got {brief(iname)}")
            iwhere = f"{where} leg {iname or iid!r}"
            if iid in parsed.legs:
                raise _fail(f"leg id {iid!r} is used twice (again in {where})")
            if "dimension" not in ix:
                raise _fail(f"{iwhere} has no 'dimension' field")
            parsed.legs[iid] = _Leg(k, iname, _dimension(ix["dimension"], iwhere), iwhere)
            ids.append(iid)
        parsed.axes.append(ids)


def _read_connection(item: Any, where: str, word: str, parsed: _Parsed) -> None:
    """Read one edge (``word="edge"``) or hyperedge and claim its legs in ``parsed``.

    A leg claimed twice, a leg of another tensor than the endpoint says, or two legs of
    one tensor (a trace: tensorbench gives a connection one index name, and a tensor cannot
    carry an index twice) are errors, as are legs of different dimensions.
    """
    if not isinstance(item, Mapping):
        raise _fail(f"{where} must be an object, got {brief(item)}")
    cid, cname = item.get("id", ""), item.get("name", "")
    if not isinstance(cid, str) or not isinstance(cname, str):
        raise _fail(f"{where}: id and name must be strings")
    where = f"{word} {cname or cid or where!r}"
    if word == "edge":
        ends = [(side, _require(item, side, Mapping, where)) for side in ("left", "right")]
    else:
        raw_ends = _require(item, "endpoints", list, where)
        if len(raw_ends) < 3:
            raise _fail(
                f"{where} has {len(raw_ends)} endpoints; a hyperedge joins at least 3 legs "
                "(use an edge for 2)"
            )
        ends = []
        for p, end in enumerate(raw_ends):
            if not isinstance(end, Mapping):
                raise _fail(f"{where}.endpoints[{p}] must be an object, got {brief(end)}")
            ends.append((f"endpoints[{p}]", end))
    ids: list[str] = []
    for side, end in ends:
        ewhere = f"{where}.{side}"
        tid = _require(end, "tensor_id", str, ewhere)
        iid = _require(end, "index_id", str, ewhere)
        leg = parsed.legs.get(iid)
        if leg is None:
            raise _fail(f"{ewhere} names leg {iid!r}, which no tensor has")
        owner = parsed.tensor_ids[leg.tensor]
        if owner != tid:
            raise _fail(f"{ewhere}: leg {iid!r} belongs to tensor {owner!r}, not {tid!r}")
        if iid in parsed.claimed:
            raise _fail(f"{leg.where} is connected twice (again by {where})")
        if any(parsed.legs[j].tensor == leg.tensor for j in ids):
            raise _fail(
                f"{where} joins two legs of tensor {parsed.tensor_names[leg.tensor] or owner!r} "
                "(a trace), which tensorbench cannot express: contract that trace first"
            )
        parsed.claimed.add(iid)
        ids.append(iid)
    dims = [parsed.legs[i].dim for i in ids]
    if len(set(dims)) > 1:
        raise _fail(f"{where} joins legs of dimensions {dims}, which must be equal")
    parsed.conn_names.append((cname, cid or f"{word}{len(parsed.conn_names)}"))
    parsed.conn_legs.append(ids)


def _positions(parsed: _Parsed) -> list[tuple[float, float] | None]:
    """Canvas positions in tensorbench units: neighbours about 1 apart, y up.

    The scale is the median canvas distance between connected tensors, so a drawing keeps
    its shape whatever spacing it was drawn at.
    """
    lengths = []
    for ids in parsed.conn_legs:
        owners = [parsed.legs[i].tensor for i in ids]
        for a, b in itertools.pairwise(owners):
            pa, pb = parsed.points[a], parsed.points[b]
            if pa is not None and pb is not None and math.dist(pa, pb) > 0:
                lengths.append(math.dist(pa, pb))
    scale = statistics.median(lengths) if lengths else _CANVAS_SPACING
    # "+ 0.0" turns the -0.0 of a tensor on the top row into 0.0 for tidy JSON.
    return [None if p is None else (p[0] / scale, -p[1] / scale + 0.0) for p in parsed.points]
