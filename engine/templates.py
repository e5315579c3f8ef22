"""Network templates: the common tensor-network families, each with its sizes as arguments.

Every template is registered with a typed parameter list, so the CLI (``tensorbench
template NAME --sites 8``) and the app's sidebar are generated from the same source.
Templates place their tensors for drawing.

Physics templates (``mps``, ``mpo``, ``peps``, ``pepo``, ``ttn``, ``mera``,
``tebd_gate_layer``) take a number of sites, a bond dimension and a physical dimension;
decomposition templates (``tensor_train``, ``tensor_ring``, ``tucker``, ``cp``,
``hierarchical_tucker``, ``fctn``) take the data's mode sizes and ranks. ``rank_matrix``
is the structure-search form (Li & Sun 2020; Li et al. 2022, 2023): an N x N symmetric
matrix whose off-diagonal entries are bond ranks (1 = no edge) and whose diagonal holds
each core's mode size, plus a permutation assigning data modes to cores.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import NetworkError
from .network import Network, Tensor
from .params import Param, check_params

__all__ = [
    "TEMPLATES",
    "Param",
    "TemplateSpec",
    "build",
    "cp",
    "fctn",
    "from_rank_matrix",
    "get_template",
    "hierarchical_tucker",
    "mera",
    "mpo",
    "mps",
    "pepo",
    "peps",
    "tebd_gate_layer",
    "tensor_ring",
    "tensor_train",
    "to_rank_matrix",
    "ttn",
    "tucker",
]


@dataclass(frozen=True)
class TemplateSpec:
    """A registered template: its builder, parameters and a one-line description."""

    name: str
    func: Callable[..., Network]
    params: tuple[Param, ...]
    doc: str
    aliases: tuple[str, ...] = ()
    defaults_override: tuple[tuple[str, Any], ...] = ()
    #: For an alias (``ht``) or a preset (``peps_2x2``): the template it names.
    alias_of: str | None = None

    def defaults(self) -> dict[str, Any]:
        """Default arguments (with this entry's overrides, e.g. for ``peps_2x2``)."""
        d = {p.name: copy.deepcopy(p.default) for p in self.params}
        d.update(copy.deepcopy(dict(self.defaults_override)))
        return d

    def build(self, **kwargs: Any) -> Network:
        """Validate arguments, fill defaults and build the network."""
        args = check_params(
            self.params, self.defaults() | kwargs, f"template {self.name!r}", NetworkError
        )
        return self.func(**args)


TEMPLATES: dict[str, TemplateSpec] = {}


def _register(
    name: str, doc: str, *params: Param, aliases: Mapping[str, Mapping[str, Any]] | None = None
) -> Callable:
    def deco(func: Callable[..., Network]) -> Callable[..., Network]:
        TEMPLATES[name] = TemplateSpec(name, func, params, doc)
        for alias, override in (aliases or {}).items():
            # "ht ... ()" read as a fault: say what the short name stands for
            what = f"{name} with {', '.join(f'{k}={v}' for k, v in override.items())}"
            TEMPLATES[alias] = TemplateSpec(
                alias,
                func,
                params,
                f"{what if override else f'short for {name}'}: {doc}",
                defaults_override=tuple(override.items()),
                alias_of=name,
            )
        return func

    return deco


def template_names(current: str | None = None) -> list[str]:
    """Templates to offer in a list: each once (no short names; presets such as
    ``peps_2x2`` kept), plus ``current`` when it is a short name in use."""
    names = [n for n, s in TEMPLATES.items() if s.alias_of is None or s.defaults_override]
    if current in TEMPLATES and current not in names:
        names.append(current)
    return sorted(names)


def get_template(name: str) -> TemplateSpec:
    """Look a template up by name; an unknown name lists the valid ones."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise NetworkError(
            f"unknown template {name!r}; choose one of: {', '.join(sorted(TEMPLATES))}"
        ) from None


def build(name: str, **kwargs: Any) -> Network:
    """Build template ``name`` with keyword arguments (defaults fill the rest)."""
    return get_template(name).build(**kwargs)


# --------------------------------------------------------------------------- helpers


def _per_item(value: int | Sequence[int], n: int, what: str) -> list[int]:
    """Broadcast an int to ``n`` items or check a list has ``n`` items."""
    if isinstance(value, int):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise NetworkError(f"{what}: expected {n} value{'s' if n != 1 else ''}, got {len(value)}")
    return value


def _seq(values: Sequence[int]) -> str:
    """``(6, 6, 6)``, or ``(6, 6, ..., 6; 12 modes)`` when long, for network names."""
    v = list(values)
    if len(v) <= 5:
        return "(" + ", ".join(map(str, v)) + ("," if len(v) == 1 else "") + ")"
    return f"({v[0]}, {v[1]}, ..., {v[-1]}; {len(v)} values)"


def _label(text: str) -> str:
    """A generated network name, cut to the name length limit."""
    from .network import MAX_NAME_LENGTH

    return text if len(text) <= MAX_NAME_LENGTH else text[: MAX_NAME_LENGTH - 3] + "..."


def _circle(
    n: int, radius: float | None = None, start: float = math.pi / 2
) -> list[tuple[float, float]]:
    r = radius if radius is not None else max(1.0, n / (2 * math.pi) * 1.2)
    return [
        (r * math.cos(start - 2 * math.pi * k / n), r * math.sin(start - 2 * math.pi * k / n))
        for k in range(n)
    ]


_SITES = Param("sites", "int", 6, "number of sites (tensors in the chain)", min=2, max=512)
_BOND = Param("bond", "int", 4, "bond dimension between neighbouring tensors")
_PHYS = Param("phys", "int", 2, "physical dimension of each site")
_PERIODIC = Param("periodic", "bool", False, "join the last site back to the first")
_DIMS = Param(
    "dims", "ints", [6, 6, 6, 6], "mode sizes of the data tensor (one per mode)", scalar_ok=False
)


# --------------------------------------------------------------------------- chains


@_register(
    "mps",
    "matrix product state / tensor train: a chain with one open leg per site",
    _SITES,
    _BOND,
    _PHYS,
    _PERIODIC,
)
def mps(sites: int = 6, bond: int = 4, phys: int = 2, periodic: bool = False) -> Network:
    """Matrix product state on ``sites`` sites (open or periodic boundary)."""
    return _chain(sites, bond, ["p{k}"], phys, periodic, "mps", "A")


@_register(
    "mpo",
    "matrix product operator: a chain with an upper and a lower open leg per site",
    _SITES,
    _BOND,
    _PHYS,
    _PERIODIC,
)
def mpo(sites: int = 6, bond: int = 4, phys: int = 2, periodic: bool = False) -> Network:
    """Matrix product operator on ``sites`` sites: legs ``u{k}`` (out) and ``d{k}`` (in)."""
    return _chain(sites, bond, ["u{k}", "d{k}"], phys, periodic, "mpo", "W")


def _chain(
    sites: int,
    bond: int,
    leg_patterns: Sequence[str],
    phys: int,
    periodic: bool,
    label: str,
    prefix: str,
) -> Network:
    n = sites
    tensors, sizes = [], {}
    pos = _circle(n) if periodic and n > 2 else [(float(k), 0.0) for k in range(n)]
    nb = n if periodic else n - 1
    for b in range(nb):
        sizes[f"b{b}"] = bond
    for k in range(n):
        left = f"b{(k - 1) % n}" if (k > 0 or periodic) else None
        right = f"b{k}" if k < nb else None
        legs = [p.format(k=k) for p in leg_patterns]
        for leg in legs:
            sizes[leg] = phys
        # Axis order: left bond, physical legs, right bond (the usual MPS convention).
        inds = ([left] if left else []) + legs + ([right] if right else [])
        if periodic and n == 2:
            inds = ["b0", *legs, "b1"] if k == 0 else ["b1", *legs, "b0"]
        tensors.append(Tensor(f"{prefix}{k}", tuple(inds), pos[k], (label,)))
    name = f"{'periodic ' if periodic else ''}{label.upper()} {n} sites, bond {bond}, phys {phys}"
    return Network(tensors, sizes, name=name)


@_register(
    "tensor_train",
    "tensor train of a data tensor: one core per mode, ranks between",
    _DIMS,
    Param("ranks", "ints", 3, "TT ranks: one value, or one per bond (modes - 1)"),
)
def tensor_train(dims: Sequence[int] = (6, 6, 6, 6), ranks: int | Sequence[int] = 3) -> Network:
    """Tensor train (TT) with mode sizes ``dims`` and ranks between consecutive cores."""
    dims = list(dims)
    n = len(dims)
    if n < 2:
        raise NetworkError("tensor_train needs at least 2 modes")
    rs = _per_item(ranks, n - 1, "tensor_train ranks (one per bond)")
    sizes = {f"i{k}": d for k, d in enumerate(dims)}
    sizes |= {f"r{k}": r for k, r in enumerate(rs)}
    tensors = []
    for k in range(n):
        inds = ([f"r{k - 1}"] if k > 0 else []) + [f"i{k}"] + ([f"r{k}"] if k < n - 1 else [])
        tensors.append(Tensor(f"G{k}", tuple(inds), (float(k), 0.0), ("tt",)))
    return Network(
        tensors,
        sizes,
        [f"i{k}" for k in range(n)],
        name=_label(f"TT {_seq(dims)} ranks {_seq(rs)}"),
    )


@_register(
    "tensor_ring",
    "tensor ring: a tensor train whose ends are joined",
    _DIMS,
    Param("ranks", "ints", 3, "TR ranks: one value, or one per bond (= modes)"),
)
def tensor_ring(dims: Sequence[int] = (6, 6, 6, 6), ranks: int | Sequence[int] = 3) -> Network:
    """Tensor ring (TR): core ``k`` holds ``(r{k-1}, i{k}, r{k})``, indices taken cyclically."""
    dims = list(dims)
    n = len(dims)
    if n < 2:
        raise NetworkError("tensor_ring needs at least 2 modes")
    rs = _per_item(ranks, n, "tensor_ring ranks (one per bond)")
    sizes = {f"i{k}": d for k, d in enumerate(dims)} | {f"r{k}": r for k, r in enumerate(rs)}
    pos = _circle(n)
    tensors = [
        Tensor(f"G{k}", (f"r{(k - 1) % n}", f"i{k}", f"r{k}"), pos[k], ("tr",)) for k in range(n)
    ]
    if n == 2:  # two cores joined by two distinct bonds
        tensors = [
            Tensor("G0", ("r1", "i0", "r0"), pos[0], ("tr",)),
            Tensor("G1", ("r0", "i1", "r1"), pos[1], ("tr",)),
        ]
    return Network(
        tensors,
        sizes,
        [f"i{k}" for k in range(n)],
        name=_label(f"TR {_seq(dims)} ranks {_seq(rs)}"),
    )


# --------------------------------------------------------------------------- Tucker and CP


@_register(
    "tucker",
    "Tucker: a core tensor with one factor matrix per mode",
    _DIMS,
    Param("ranks", "ints", 3, "core sizes: one value, or one per mode"),
)
def tucker(dims: Sequence[int] = (6, 6, 6, 6), ranks: int | Sequence[int] = 3) -> Network:
    """Tucker decomposition: core ``G(r0..r{N-1})`` and factors ``U{k}(i{k}, r{k})``."""
    dims = list(dims)
    n = len(dims)
    rs = _per_item(ranks, n, "tucker ranks (one per mode)")
    sizes = {f"i{k}": d for k, d in enumerate(dims)} | {f"r{k}": r for k, r in enumerate(rs)}
    pos = _circle(n, radius=1.5)
    tensors = [Tensor("G", tuple(f"r{k}" for k in range(n)), (0.0, 0.0), ("core",))]
    tensors += [Tensor(f"U{k}", (f"i{k}", f"r{k}"), pos[k], ("factor",)) for k in range(n)]
    return Network(
        tensors,
        sizes,
        [f"i{k}" for k in range(n)],
        name=_label(f"Tucker {_seq(dims)} core {_seq(rs)}"),
    )


@_register(
    "cp",
    "CP / CANDECOMP-PARAFAC: factor matrices sharing one rank hyperedge",
    _DIMS,
    Param("rank", "int", 3, "CP rank (size of the shared hyperedge)"),
    Param("weights", "bool", False, "add a weight vector on the hyperedge (Kruskal form)"),
)
def cp(dims: Sequence[int] = (6, 6, 6, 6), rank: int = 3, weights: bool = False) -> Network:
    """CP decomposition: factors ``U{k}(i{k}, r)`` all joined by the hyperedge ``r``."""
    dims = list(dims)
    n = len(dims)
    sizes = {f"i{k}": d for k, d in enumerate(dims)} | {"r": rank}
    # Every member of the hyperedge sits on one circle, so its hub is drawn at the centre.
    pos = _circle(n + weights, radius=1.5)
    tensors = [Tensor(f"U{k}", (f"i{k}", "r"), pos[k], ("factor",)) for k in range(n)]
    if weights:
        tensors.append(Tensor("lambda", ("r",), pos[n], ("weights",)))
    return Network(
        tensors, sizes, [f"i{k}" for k in range(n)], name=_label(f"CP {_seq(dims)} rank {rank}")
    )


# --------------------------------------------------------------------------- 2D

_ROWS = Param("rows", "int", 3, "rows of the lattice", max=64)
_COLS = Param("cols", "int", 3, "columns of the lattice", max=64)


def _lattice(
    rows: int, cols: int, bond: int, legs: Sequence[str], phys: int, label: str, prefix: str
) -> Network:
    tensors, sizes = [], {}
    for r in range(rows):
        for c in range(cols):
            inds = []
            if c > 0:
                inds.append(f"h{r}_{c - 1}")
            if r > 0:
                inds.append(f"v{r - 1}_{c}")
            for leg in legs:
                ix = leg.format(r=r, c=c)
                sizes[ix] = phys
                inds.append(ix)
            if c < cols - 1:
                inds.append(f"h{r}_{c}")
                sizes[f"h{r}_{c}"] = bond
            if r < rows - 1:
                inds.append(f"v{r}_{c}")
                sizes[f"v{r}_{c}"] = bond
            tensors.append(Tensor(f"{prefix}{r}_{c}", tuple(inds), (float(c), -float(r)), (label,)))
    return Network(tensors, sizes, name=f"{label.upper()} {rows}x{cols}, bond {bond}, phys {phys}")


@_register(
    "peps",
    "projected entangled pair state: a rows x cols lattice, one open leg per site",
    _ROWS,
    _COLS,
    Param("bond", "int", 3, "bond dimension"),
    _PHYS,
    aliases={"peps_2x2": {"rows": 2, "cols": 2}},
)
def peps(rows: int = 3, cols: int = 3, bond: int = 3, phys: int = 2) -> Network:
    """PEPS on an open ``rows x cols`` lattice; ``h`` bonds run right, ``v`` bonds down."""
    return _lattice(rows, cols, bond, ["p{r}_{c}"], phys, "peps", "A")


@_register(
    "pepo",
    "projected entangled pair operator: a lattice with upper and lower legs",
    Param("rows", "int", 2, "rows of the lattice", max=64),
    Param("cols", "int", 2, "columns of the lattice", max=64),
    Param("bond", "int", 3, "bond dimension"),
    _PHYS,
)
def pepo(rows: int = 2, cols: int = 2, bond: int = 3, phys: int = 2) -> Network:
    """PEPO on an open lattice: legs ``u{r}_{c}`` (out) and ``d{r}_{c}`` (in) per site."""
    return _lattice(rows, cols, bond, ["u{r}_{c}", "d{r}_{c}"], phys, "pepo", "O")


# --------------------------------------------------------------------------- trees


@_register(
    "ttn",
    "tree tensor network: a binary tree over the sites, two sites per leaf tensor",
    Param("sites", "int", 8, "number of physical sites", min=2, max=1024),
    _BOND,
    _PHYS,
)
def ttn(sites: int = 8, bond: int = 4, phys: int = 2) -> Network:
    """Binary tree tensor network: leaf tensors hold two sites, the root has no open leg."""
    sizes: dict[str, int] = {}
    tensors: list[Tensor] = []
    # Each node is (name, up-index, x position); build bottom-up.
    level: list[tuple[str, float]] = []
    for k in range(0, sites, 2):
        legs = [f"p{j}" for j in range(k, min(k + 2, sites))]
        for leg in legs:
            sizes[leg] = phys
        level.append((f"L{k // 2}", tensors_x := (k + (len(legs) - 1) / 2)))
        tensors.append(Tensor(f"L{k // 2}", tuple(legs), (tensors_x, 0.0), ("ttn", "leaf")))
    depth = 0
    counter = 0
    while len(level) > 1:
        depth += 1
        nxt: list[tuple[str, float]] = []
        for j in range(0, len(level), 2):
            group = level[j : j + 2]
            if len(group) == 1:
                nxt.append(group[0])
                continue
            name = f"N{counter}"
            counter += 1
            up = []
            for child, _x in group:
                ix = f"b_{child}"
                sizes[ix] = bond
                up.append(ix)
                _append_index(tensors, child, ix)
            x = sum(x for _c, x in group) / len(group)
            tensors.append(Tensor(name, tuple(up), (x, 1.2 * depth), ("ttn",)))
            nxt.append((name, x))
        level = nxt
    return Network(
        tensors,
        sizes,
        [f"p{j}" for j in range(sites)],
        name=f"TTN {sites} sites, bond {bond}, phys {phys}",
    )


def _append_index(tensors: list[Tensor], name: str, ix: str) -> None:
    for k, t in enumerate(tensors):
        if t.name == name:
            tensors[k] = Tensor(t.name, (*t.indices, ix), t.pos, t.tags)
            return
    raise AssertionError(name)  # pragma: no cover


@_register(
    "hierarchical_tucker",
    "hierarchical Tucker: factor matrices joined by a binary tree of transfer tensors",
    _DIMS,
    Param("rank", "int", 3, "rank of every tree edge"),
    aliases={"ht": {}},
)
def hierarchical_tucker(dims: Sequence[int] = (6, 6, 6, 6), rank: int = 3) -> Network:
    """Hierarchical Tucker (HT): leaves ``U{k}(i{k}, ·)``, transfer tensors up to a root."""
    dims = list(dims)
    n = len(dims)
    if n < 2:
        raise NetworkError("hierarchical_tucker needs at least 2 modes")
    sizes = {f"i{k}": d for k, d in enumerate(dims)}
    tensors: list[Tensor] = []
    level = []
    for k in range(n):
        tensors.append(Tensor(f"U{k}", (f"i{k}",), (float(k), 0.0), ("ht", "leaf")))
        level.append((f"U{k}", float(k)))
    depth, counter = 0, 0
    while len(level) > 1:
        depth += 1
        nxt = []
        for j in range(0, len(level), 2):
            group = level[j : j + 2]
            if len(group) == 1:
                nxt.append(group[0])
                continue
            name = f"B{counter}"
            counter += 1
            inds = []
            for child, _x in group:
                ix = f"r_{child}"
                sizes[ix] = rank
                inds.append(ix)
                _append_index(tensors, child, ix)
            x = sum(x for _c, x in group) / 2
            tensors.append(Tensor(name, tuple(inds), (x, 1.2 * depth), ("ht",)))
            nxt.append((name, x))
        level = nxt
    return Network(
        tensors, sizes, [f"i{k}" for k in range(n)], name=_label(f"HT {_seq(dims)} rank {rank}")
    )


@_register(
    "mera",
    "multiscale entanglement renormalization ansatz (binary, open boundary)",
    Param(
        "sites", "int", 8, "number of physical sites: a power of two, at least 4", min=4, max=256
    ),
    _BOND,
    _PHYS,
)
def mera(sites: int = 8, bond: int = 4, phys: int = 2) -> Network:
    """Binary MERA: layers of disentanglers (4 legs) and isometries (3 legs), then a top.

    At each layer of ``L`` sites, disentanglers act on the pairs (1,2), (3,4), ...,
    (L-3, L-2) and isometries merge (0,1), (2,3), ... into ``L/2`` sites of size ``bond``.
    """
    if sites & (sites - 1):
        raise NetworkError(f"template 'mera': sites must be a power of two, got {sites}")
    sizes: dict[str, int] = {}
    tensors: list[Tensor] = []
    # current[k] = (index name, size) of the k-th leg at this layer (bottom = physical)
    current = [(f"p{k}", phys) for k in range(sites)]
    for ix, d in current:
        sizes[ix] = d
    xs = [float(k) for k in range(sites)]
    layer, y = 0, 0.0
    while len(current) > 2:
        L = len(current)
        y += 1.0
        # disentanglers
        for k in range(1, L - 1, 2):
            (a, da), (b, db) = current[k], current[k + 1]
            na, nb = f"u{layer}_{k}", f"u{layer}_{k + 1}"
            sizes[na], sizes[nb] = da, db
            tensors.append(
                Tensor(
                    f"U{layer}_{k // 2}",
                    (a, b, na, nb),
                    ((xs[k] + xs[k + 1]) / 2, y),
                    ("mera", "disentangler"),
                )
            )
            current[k], current[k + 1] = (na, da), (nb, db)
        y += 1.0
        nxt, nxs = [], []
        for k in range(0, L, 2):
            (a, _da), (b, _db) = current[k], current[k + 1]
            up = f"w{layer}_{k // 2}"
            sizes[up] = bond
            x = (xs[k] + xs[k + 1]) / 2
            tensors.append(Tensor(f"W{layer}_{k // 2}", (a, b, up), (x, y), ("mera", "isometry")))
            nxt.append((up, bond))
            nxs.append(x)
        current, xs = nxt, nxs
        layer += 1
    tensors.append(
        Tensor("top", (current[0][0], current[1][0]), (sum(xs) / 2, y + 1.0), ("mera", "top"))
    )
    return Network(
        tensors,
        sizes,
        [f"p{k}" for k in range(sites)],
        name=f"MERA {sites} sites, bond {bond}, phys {phys}",
    )


# --------------------------------------------------------------------------- others


@_register(
    "fctn",
    "fully connected tensor network: every pair of cores shares a bond",
    _DIMS,
    Param("rank", "int", 2, "rank of every bond"),
)
def fctn(dims: Sequence[int] = (6, 6, 6, 6), rank: int = 2) -> Network:
    """Fully connected tensor network (FCTN, Zheng et al. 2021) with equal ranks."""
    n = len(dims)
    ranks = [[rank if i != j else dims[i] for j in range(n)] for i in range(n)]
    net = from_rank_matrix(ranks)
    return net.replace(name=_label(f"FCTN {_seq(dims)} rank {rank}"))


@_register(
    "tebd_gate_layer",
    "one TEBD layer: two-site gates applied to an MPS",
    _SITES,
    _BOND,
    _PHYS,
    Param(
        "offset", "int", 0, "0: gates on (0,1), (2,3), ...; 1: on (1,2), (3,4), ...", min=0, max=1
    ),
)
def tebd_gate_layer(sites: int = 6, bond: int = 4, phys: int = 2, offset: int = 0) -> Network:
    """An MPS with a brick of two-site gates ``G(k, k+1)`` applied to its physical legs.

    Gate legs: the MPS's legs ``p{k}`` in, new legs ``q{k}`` out; untouched sites keep
    ``p{k}`` as their output leg.
    """
    base = mps(sites, bond, phys)
    tensors = list(base.tensors)
    sizes = base.sizes
    out = [f"p{k}" for k in range(sites)]
    for k in range(offset, sites - 1, 2):
        for j in (k, k + 1):
            sizes[f"q{j}"] = phys
            out[j] = f"q{j}"
        tensors.append(
            Tensor(
                f"G{k}_{k + 1}",
                (f"p{k}", f"p{k + 1}", f"q{k}", f"q{k + 1}"),
                (k + 0.5, -1.2),
                ("gate",),
            )
        )
    return Network(
        tensors, sizes, out, name=f"TEBD layer on MPS {sites} sites, bond {bond}, phys {phys}"
    )


_DEFAULT_RANKS = [[6, 2, 1, 2], [2, 6, 3, 1], [1, 3, 6, 2], [2, 1, 2, 6]]


@_register(
    "rank_matrix",
    "structure-search form: N x N rank matrix (1 = no edge, diagonal = "
    "mode sizes) and a mode permutation",
    Param(
        "ranks",
        "int_matrix",
        _DEFAULT_RANKS,
        "symmetric N x N matrix: off-diagonal bond ranks, diagonal core mode sizes",
    ),
    Param(
        "perm",
        "ints",
        None,
        "data mode carried by each core, a permutation (default: core k carries mode k)",
        min=0,
        scalar_ok=False,
    ),
)
def from_rank_matrix(
    ranks: Sequence[Sequence[int]] = _DEFAULT_RANKS, perm: Sequence[int] | None = None
) -> Network:
    """Build the network of a rank matrix and a mode permutation.

    Core ``G{k}`` carries the data mode ``perm[k]`` as its open leg ``i{perm[k]}`` (size
    ``ranks[k][k]``); cores ``a < b`` share bond ``r{a}_{b}`` of size ``ranks[a][b]`` when
    it is above 1. The output order is the data's mode order ``i0, i1, ...``.
    """
    n = len(ranks)
    if n < 1 or any(len(row) != n for row in ranks):
        raise NetworkError("rank matrix must be square (N rows of N integers)")
    if perm is None:
        perm = list(range(n))
    perm = list(perm)
    if isinstance(perm, int) or sorted(perm) != list(range(n)):
        raise NetworkError(f"perm must be a permutation of 0..{n - 1}, got {perm}")
    for a in range(n):
        for b in range(a + 1, n):
            if ranks[a][b] != ranks[b][a]:
                raise NetworkError(
                    f"rank matrix must be symmetric: ranks[{a}][{b}]={ranks[a][b]} but "
                    f"ranks[{b}][{a}]={ranks[b][a]}"
                )
            if ranks[a][b] < 1:
                raise NetworkError(f"rank matrix entry [{a}][{b}] must be >= 1, got {ranks[a][b]}")
    pos = _circle(n)
    sizes: dict[str, int] = {}
    tensors = []
    for k in range(n):
        mode = f"i{perm[k]}"
        sizes[mode] = int(ranks[k][k])
        inds = [mode]
        for j in range(n):
            if j != k and ranks[k][j] > 1:
                ix = f"r{min(j, k)}_{max(j, k)}"
                sizes[ix] = int(ranks[k][j])
                inds.append(ix)
        tensors.append(Tensor(f"G{k}", tuple(inds), pos[k], ("core",)))
    return Network(tensors, sizes, [f"i{m}" for m in range(n)], name=f"rank matrix N={n}")


def to_rank_matrix(net: Network) -> tuple[list[list[int]], list[int]]:
    """Return ``(ranks, perm)`` for a network in structure-search form.

    Each tensor must carry exactly one output index and bonds only (no hyperedges, no
    summed legs). Several bonds between the same two tensors multiply into one rank.
    ``from_rank_matrix(*to_rank_matrix(net))`` has the same structure as ``net``.
    """
    n = len(net.tensors)
    out_pos = {ix: m for m, ix in enumerate(net.output)}
    ranks = [[1] * n for _ in range(n)]
    perm = [-1] * n
    for k, t in enumerate(net.tensors):
        outs = [ix for ix in t.indices if ix in out_pos]
        if len(outs) != 1:
            raise NetworkError(
                f"tensor {t.name!r} has {len(outs)} output legs; the rank-matrix form needs "
                "exactly one per tensor"
            )
        perm[k] = out_pos[outs[0]]
        ranks[k][k] = net.sizes[outs[0]]
    if len(set(perm)) != n or len(net.output) != n:
        raise NetworkError("the rank-matrix form needs one output mode per tensor")
    for ix in net.indices:
        kind = net.kind(ix)
        if kind in ("hyper", "summed"):
            raise NetworkError(
                f"index {ix!r} is a {kind} index; the rank-matrix form has bonds only"
            )
        if kind == "bond":
            a, b = net.tensors_with(ix)
            ranks[a][b] *= net.sizes[ix]
            ranks[b][a] = ranks[a][b]
    return ranks, perm
