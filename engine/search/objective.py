"""What a structure search searches over and what it minimizes.

A candidate is the TNGA/TnALE form of a tensor network: ``N`` cores, core ``k`` carrying
data mode ``perm[k]``, and a rank on every pair of cores (1 = no edge). The search space
fixes which pairs may carry an edge (a ring over the cores, or every pair) and the largest
rank; it also says whether the mode permutation is searched.

Two candidates that put the same ranks between the same data modes are the same network:
:meth:`Structure.key` is that mode-indexed form, used to cache evaluations.

The objective is one of (``entries`` = the number of entries of the data):

* ``penalty``: ``params / entries + lam * RSE^2`` -- the score of TNGA, TNLS and TnALE;
* ``bound``: the fewest parameters with ``RSE <= max_rse``;
* ``budget``: the lowest ``RSE`` with ``params <= max_params``.

Infeasible candidates score ``INFEASIBLE + (how far off)``, so they still order among
themselves and any feasible candidate beats them.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..network import Network

__all__ = ["INFEASIBLE", "Objective", "SearchSpace", "Structure"]

#: Score offset of a candidate that breaks the objective's constraint.
INFEASIBLE = 1e6


@dataclass(frozen=True)
class Structure:
    """Edge ranks between core positions plus the mode each core carries.

    Parameters
    ----------
    ranks : tuple of int
        Upper triangle of the ``N x N`` rank matrix between core positions, row by row
        (``(0,1), (0,2), ..., (N-2,N-1)``); 1 means no edge.
    perm : tuple of int
        ``perm[k]`` is the data mode carried by core ``k``.
    """

    ranks: tuple[int, ...]
    perm: tuple[int, ...]

    @property
    def order(self) -> int:
        """Number of cores (= data modes)."""
        return len(self.perm)

    def rank(self, a: int, b: int) -> int:
        """Rank between core positions ``a != b``."""
        a, b = min(a, b), max(a, b)
        return self.ranks[_pair_index(self.order, a, b)]

    def mode_matrix(self) -> list[list[int]]:
        """Ranks between data modes (``[m][m']``; the diagonal is 0): the network itself."""
        n = self.order
        out = [[0] * n for _ in range(n)]
        for a, b in itertools.combinations(range(n), 2):
            r = self.rank(a, b)
            out[self.perm[a]][self.perm[b]] = out[self.perm[b]][self.perm[a]] = r
        return out

    def key(self) -> tuple[int, ...]:
        """Canonical form: the upper triangle of :meth:`mode_matrix` (cache key)."""
        m = self.mode_matrix()
        return tuple(m[a][b] for a, b in itertools.combinations(range(self.order), 2))

    def rank_matrix(self, dims: Sequence[int]) -> list[list[int]]:
        """The full matrix of :func:`~tensorbench.engine.templates.from_rank_matrix`
        (diagonal: the size of the mode each core carries)."""
        n = self.order
        return [
            [dims[self.perm[a]] if a == b else self.rank(a, b) for b in range(n)] for a in range(n)
        ]

    def params(self, dims: Sequence[int]) -> int:
        """Number of parameters of the network's cores."""
        n = self.order
        total = 0
        for k in range(n):
            p = dims[self.perm[k]]
            for j in range(n):
                if j != k:
                    p *= self.rank(k, j)
            total += p
        return total

    def trimmed(self, dims: Sequence[int]) -> Structure:
        """The same network with every rank no larger than it can be: a bond wider than
        the product of its core's mode size and other bonds carries nothing more (the
        core's unfolding has at most that rank), so it is cut to that, until none is.
        Represents exactly the tensors ``self`` does, with fewer parameters where a rank
        was cut (a random "truth" of rank 4 beside a rank-1 bond and a mode of 3)."""
        n = self.order
        ranks = list(self.ranks)

        def rank(a: int, b: int) -> int:
            return ranks[_pair_index(n, min(a, b), max(a, b))]

        def room(k: int, other: int) -> int:  # what core k can carry to core `other`
            return dims[self.perm[k]] * math.prod(
                rank(k, j) for j in range(n) if j not in (k, other)
            )

        changed = True
        while changed:
            changed = False
            for a, b in itertools.combinations(range(n), 2):
                cap = min(room(a, b), room(b, a))
                if rank(a, b) > cap:
                    ranks[_pair_index(n, a, b)], changed = cap, True
        return Structure(tuple(ranks), self.perm)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Structure:
        """The structure of :meth:`to_dict`'s form (``{"ranks", "perm"}``)."""
        return cls(tuple(d["ranks"]), tuple(d["perm"]))

    def core_unknowns(self) -> list[int]:
        """Unknowns per row of each core's least-squares problem in ALS: the product of
        its bond ranks (core position order)."""
        n = self.order
        return [math.prod(self.rank(k, j) for j in range(n) if j != k) for k in range(n)]

    def unknowns(self) -> int:
        """The most unknowns per row of one core's least-squares problem in ALS (its Gram
        matrix is this size squared)."""
        return max(self.core_unknowns())

    def underdetermined(self, dims: Sequence[int]) -> tuple[int, int, int] | None:
        """A core whose ALS least squares has more unknowns per row than equations, as
        ``(core, unknowns, equations)``, or None. Such a core alone holds more numbers
        than the data (``unknowns * n_k > prod(dims)``): it fits anything, compresses
        nothing, and its Gram matrix is the costliest part of every sweep."""
        entries = math.prod(dims)
        for k, u in enumerate(self.core_unknowns()):
            rows = entries // dims[self.perm[k]]
            if u > rows:
                return k, u, rows
        return None

    def network(self, dims: Sequence[int]) -> Network:
        """The candidate as a :class:`~tensorbench.engine.network.Network`."""
        from ..templates import from_rank_matrix

        return from_rank_matrix(self.rank_matrix(dims), list(self.perm))

    def describe(self) -> str:
        """Short text: the non-trivial edges between modes, e.g. ``i0-i1:3 i1-i2:2``."""
        m = self.mode_matrix()
        edges = [
            f"i{a}-i{b}:{m[a][b]}"
            for a, b in itertools.combinations(range(self.order), 2)
            if m[a][b] > 1
        ]
        return " ".join(edges) or "no edges (rank-1 outer product)"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"ranks": list(self.ranks), "perm": list(self.perm)}


def _pair_index(n: int, a: int, b: int) -> int:
    """Position of pair ``a < b`` in the row-by-row upper triangle of an ``n x n`` matrix."""
    return a * n - a * (a + 1) // 2 + (b - a - 1)


@dataclass(frozen=True)
class SearchSpace:
    """Which candidates a search may propose.

    Parameters
    ----------
    dims : tuple of int
        Mode sizes of the data.
    topology : {"ring", "full"}
        ``ring``: edges only between neighbouring core positions (``k, k+1 mod N``), the
        tensor-ring space of TNLS/TnALE where the permutation matters; ``full``: any pair
        may carry an edge (the FCTN space of TNGA), where a permutation adds nothing.
    max_rank : int
        Largest rank of an edge.
    permute : bool
        Search the mode permutation too (``ring`` only).
    """

    dims: tuple[int, ...]
    topology: str = "ring"
    max_rank: int = 4
    permute: bool = False

    def __post_init__(self) -> None:
        if len(self.dims) < 2:
            raise ConfigError("structure search needs data of order >= 2")
        if self.topology not in ("ring", "full"):
            raise ConfigError(f"topology must be 'ring' or 'full', got {self.topology!r}")
        if not 1 <= self.max_rank <= 64:
            raise ConfigError(f"max_rank must be between 1 and 64, got {self.max_rank}")

    @property
    def order(self) -> int:
        """Number of modes."""
        return len(self.dims)

    @property
    def entries(self) -> int:
        """Entries of the data."""
        return math.prod(self.dims)

    @property
    def searches_perm(self) -> bool:
        """Whether the permutation is a search variable."""
        return self.permute and self.topology == "ring" and self.order > 3

    def edges(self) -> list[tuple[int, int]]:
        """Core-position pairs that may carry an edge."""
        n = self.order
        if self.topology == "full" or n <= 3:
            return list(itertools.combinations(range(n), 2))
        return [(k, k + 1) for k in range(n - 1)] + [(0, n - 1)]  # in ring order

    def make(self, edge_ranks: Sequence[int], perm: Sequence[int] | None = None) -> Structure:
        """The structure with ``edge_ranks`` on :meth:`edges` (clipped to 1..max_rank)."""
        n = self.order
        ranks = [1] * (n * (n - 1) // 2)
        for (a, b), r in zip(self.edges(), edge_ranks, strict=True):
            ranks[_pair_index(n, a, b)] = max(1, min(self.max_rank, int(r)))
        return Structure(tuple(ranks), tuple(perm) if perm is not None else tuple(range(n)))

    def changed(
        self, edge_ranks: Sequence[int], perm: Sequence[int], new: dict[int, int]
    ) -> Structure:
        """:meth:`make` of ``edge_ranks`` with the edges in ``new`` set to their values."""
        ranks = list(edge_ranks)
        for e, r in new.items():
            ranks[e] = r
        return self.make(ranks, perm)

    def edge_ranks(self, s: Structure) -> list[int]:
        """The searched variables of ``s``: its rank on every edge of :meth:`edges`."""
        return [s.rank(a, b) for a, b in self.edges()]

    def random(self, rng: random.Random) -> Structure:
        """A uniformly drawn candidate (ranks and, when searched, permutation)."""
        ranks = [rng.randint(1, self.max_rank) for _ in self.edges()]
        perm = list(range(self.order))
        if self.searches_perm:
            rng.shuffle(perm)
        return self.make(ranks, perm)

    def smallest(self) -> Structure:
        """Every edge at rank 1."""
        return self.make([1] * len(self.edges()))

    def holding(self, perm: Sequence[int] | None = None) -> Structure | None:
        """Every edge at the smallest rank whose network has at least as many parameters
        as the data has entries (e.g. rank 3 for a ring over four modes of size 3: 108
        parameters, 81 entries), a count any exact fit needs; None when no rank up to
        ``max_rank`` has it, or when that network has a core ALS cannot solve
        (:meth:`Structure.underdetermined`, e.g. beside a mode much larger than the rest)."""
        n_edges = len(self.edges())
        for r in range(1, self.max_rank + 1):
            s = self.make([r] * n_edges, perm)
            if s.params(self.dims) >= self.entries:
                return None if s.underdetermined(self.dims) else s
        return None


@dataclass(frozen=True)
class Objective:
    """Score of a candidate from its parameter count and relative error (lower is better).

    Parameters
    ----------
    kind : {"penalty", "bound", "budget"}
        See the module docstring.
    lam : float
        Weight of ``RSE^2`` (``penalty``); the papers' synthetic protocol uses 200.
    max_rse : float
        Error bound (``bound``).
    max_params : int
        Parameter budget (``budget``).
    """

    kind: str = "penalty"
    lam: float = 200.0
    max_rse: float = 0.05
    max_params: int = 10_000

    def __post_init__(self) -> None:
        if self.kind not in ("penalty", "bound", "budget"):
            raise ConfigError(
                f"objective kind must be 'penalty', 'bound' or 'budget', got {self.kind!r}"
            )

    def score(self, params: int, rse: float, entries: int) -> float:
        """The score of a fitted candidate."""
        ratio = params / entries
        if self.kind == "penalty":
            return ratio + self.lam * rse**2
        if self.kind == "bound":
            return ratio if rse <= self.max_rse else INFEASIBLE + rse
        return rse if params <= self.max_params else INFEASIBLE + ratio

    def lower_bound(self, params: int, entries: int) -> float:
        """The best score a candidate of ``params`` parameters could reach (RSE = 0): a
        candidate whose bound is not below the incumbent's score need not be fitted."""
        if self.kind == "budget":
            return 0.0 if params <= self.max_params else INFEASIBLE
        return params / entries

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.kind,
            "lam": self.lam,
            "max_rse": self.max_rse,
            "max_params": self.max_params,
        }
