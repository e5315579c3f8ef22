"""Random embeddings (sketches) used by the sketched decompositions.

Every sketch is an ``m x n`` random matrix ``S`` with ``E[S^T S] = I``, so for every fixed
``x`` the squared norm ``||S x||^2`` is an unbiased estimate of ``||x||^2``. The sketches
differ in how fast they apply and in how far ``||S x||^2 / ||x||^2`` spreads around 1. Each
object has:

* ``m``, ``n`` -- sketch size and input size;
* ``apply(A, dim=0)`` -- sketch axis ``dim`` of a tensor (size ``n`` there, ``m`` after);
  ``apply(A)`` on an ``(n, k)`` matrix is ``S @ A``, ``apply(A, dim=1)`` is ``A @ S.T``;
* ``apply_modes(X, modes)`` -- sketch several axes of a tensor at once (flattened in the
  order given, the first slowest: row-major), giving one leading axis of size ``m``;
* ``rel_std`` -- an upper bound on the standard deviation of ``||S x||^2 / ||x||^2`` over
  draws of ``S``, for any fixed ``x`` (the "distortion" one draw typically shows);
* ``to_dense()`` -- the matrix itself (small sizes: tests and teaching).

=====================  ===========================  ==================================
constructor            apply cost on ``(n, k)``     ``rel_std`` (bound over all x)
=====================  ===========================  ==================================
gaussian               ``m n k``                    ``sqrt(2/m)`` (exact)
count_sketch (s)       ``s n k``                    ``sqrt(2/m)``
srtt                   ``n k log n``                ``sqrt(5/m (n-m)/(n-1))``
khatri_rao_gaussian    ``m n k`` (less on KR input) ``sqrt((3^N - 1)/m)``
tt_gaussian            ``r n k`` (less on TT input) ``sqrt(prod_k(1 + 2/r_k) - 1)``
=====================  ===========================  ==================================

As subspace embeddings (every ``x`` in a ``d``-dimensional subspace kept within a factor
``1 +- eps`` with probability ``1 - delta``): Gaussian needs ``m ~ (d + log(1/delta))/eps^2``,
CountSketch ``m ~ d^2/(eps^2 delta)``, a sparse sign embedding with ``s ~ log(d)/eps``
nonzeros ``m ~ d log(d)/eps^2``, SRTT ``m ~ (d + log n) log(d)/eps^2`` (Woodruff 2014;
Martinsson & Tropp 2020). Structured (Khatri-Rao, TT) embeddings need more rows for the
same distortion; their advantage is applying to structured inputs without forming them.

All random numbers come from a CPU ``torch.Generator`` seeded by ``seed`` and are drawn in
float64 before being cast and moved, so a seed gives the same sketch on every device.
Sketches are real; applied to complex data they act on real and imaginary parts alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..device import check_memory, resolve_device, resolve_dtype
from .base import DecompositionError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..network import Network

__all__ = [
    "SRTT",
    "CountSketch",
    "GaussianSketch",
    "KhatriRaoGaussian",
    "Sketch",
    "TTGaussian",
    "count_sketch",
    "dct",
    "gaussian",
    "khatri_rao_gaussian",
    "random_tt_cores",
    "srtt",
    "tt_gaussian",
]


# --------------------------------------------------------------------------- helpers


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DecompositionError(f"{what} must be a positive integer, got {value!r}")
    return value


def _dims(dims: Any, what: str = "dims") -> tuple[int, ...]:
    if isinstance(dims, int):
        dims = (dims,)
    try:
        out = tuple(dims)
    except TypeError:
        raise DecompositionError(
            f"{what} must be a list of positive integers, got {dims!r}"
        ) from None
    if not out:
        raise DecompositionError(f"{what} is empty; give at least one mode size")
    for d in out:
        _positive_int(d, f"each of {what}")
    return out


def _real_dtype(dtype: Any) -> torch.dtype:
    """The real dtype of a sketch meant for data of ``dtype`` (complex -> its real part)."""
    import torch

    dt = resolve_dtype(dtype)
    if dt.is_complex:
        return torch.float64 if dt == torch.complex128 else torch.float32
    if not dt.is_floating_point:
        raise DecompositionError(f"sketch dtype must be a float type, got {dt}")
    return dt


def _generator(seed: int) -> torch.Generator:
    import torch

    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DecompositionError(f"seed must be an integer, got {seed!r}")
    return torch.Generator(device="cpu").manual_seed(int(seed))


def _randn(shape: Sequence[int], gen: torch.Generator, std: float, like: dict) -> torch.Tensor:
    import torch

    x = torch.randn(tuple(shape), generator=gen, dtype=torch.float64)
    if std != 1.0:
        x = x * std
    return x.to(**like)


def _match(S: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """``S`` cast to ``A``'s dtype and device (a real sketch acts on complex data too)."""
    if S.dtype == A.dtype and S.device == A.device:
        return S
    return S.to(device=A.device, dtype=A.dtype)


def _check_input(A: Any) -> None:
    import torch

    if not isinstance(A, torch.Tensor):
        raise DecompositionError(f"a sketch applies to a torch.Tensor, got {type(A).__name__}")
    if not (A.dtype.is_floating_point or A.dtype.is_complex):
        raise DecompositionError(
            f"a sketch applies to float or complex data, got {A.dtype}; convert with .double()"
        )


def dct(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Orthonormal DCT-II of ``x`` along ``dim`` (``scipy.fft.dct(norm="ortho")``), via one FFT.

    Makhoul's reordering: even entries in order, then odd entries reversed; the FFT of that
    sequence, rotated by ``exp(-i pi k / 2n)``, has the DCT as its real part. Complex input
    is transformed part by part (the DCT is a real matrix).
    """
    import torch

    if x.is_complex():
        return torch.complex(dct(x.real, dim), dct(x.imag, dim))
    n = x.shape[dim]
    y = x.movedim(dim, -1)
    v = torch.cat([y[..., ::2], y[..., 1::2].flip(-1)], dim=-1)
    V = torch.fft.fft(v, dim=-1)
    k = torch.arange(n, device=x.device, dtype=x.dtype)
    ang = k * (-math.pi / (2 * n))
    out = V.real * torch.cos(ang) - V.imag * torch.sin(ang)
    scale = torch.full((n,), math.sqrt(2.0 / n), device=x.device, dtype=x.dtype)
    scale[0] = math.sqrt(1.0 / n)
    return (out * scale).movedim(-1, dim)


# --------------------------------------------------------------------------- base


class Sketch:
    """An ``m x n`` random embedding with ``E[S^T S] = I`` (see the module docstring)."""

    m: int
    n: int

    @property
    def rel_std(self) -> float:
        """Bound on the standard deviation of ``||S x||^2 / ||x||^2`` for any fixed ``x``."""
        raise NotImplementedError

    def _apply_rows(self, A: torch.Tensor) -> torch.Tensor:
        """``S @ A`` for a 2-D ``A`` of shape ``(n, k)``."""
        raise NotImplementedError

    def apply(self, A: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """Sketch axis ``dim`` of ``A`` (size ``n``) to size ``m``; other axes are kept.

        ``apply(A)`` on an ``(n, k)`` matrix is ``S @ A``; ``apply(A, dim=1)`` on ``(k, n)``
        is ``A @ S.T``; a vector of length ``n`` gives a vector of length ``m``.
        """
        _check_input(A)
        if A.ndim == 0:
            raise DecompositionError("a sketch applies to a vector, matrix or tensor, not a scalar")
        d = dim % A.ndim
        if A.shape[d] != self.n:
            raise DecompositionError(
                f"axis {dim} of the input has size {A.shape[d]} but the sketch takes {self.n}"
            )
        B = A.movedim(d, 0)
        rest = B.shape[1:]
        out = self._apply_rows(B.reshape(self.n, -1))
        return out.reshape(self.m, *rest).movedim(0, d)

    def apply_modes(self, X: torch.Tensor, modes: Sequence[int]) -> torch.Tensor:
        """Sketch the axes ``modes`` of ``X`` together into one leading axis of size ``m``.

        The axes are flattened in the order given (the first slowest, as ``reshape`` does),
        so their sizes must multiply to ``n``; the other axes follow in their order. For a
        3-way ``X``, ``apply_modes(X, [1, 2])`` is ``S @ X_(0)^T`` with ``X_(0)`` the
        row-major mode-0 unfolding (shape ``(m, I0)``).
        """
        _check_input(X)
        modes = [int(k) % X.ndim for k in modes]
        if len(set(modes)) != len(modes):
            raise DecompositionError(f"modes {modes} name an axis twice")
        size = math.prod(X.shape[k] for k in modes)
        if size != self.n:
            raise DecompositionError(
                f"modes {modes} of the input have {size} entries in all; the sketch takes {self.n}"
            )
        rest = [k for k in range(X.ndim) if k not in modes]
        Y = X.permute(*modes, *rest)
        rest_shape = Y.shape[len(modes) :]
        return self._apply_rows(Y.reshape(self.n, -1)).reshape(self.m, *rest_shape)

    def to_dense(self) -> torch.Tensor:
        """The ``m x n`` matrix (forms it: small sizes only)."""
        import torch

        like = self._like()
        return self._apply_rows(torch.eye(self.n, **like))

    def _like(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.m} x {self.n}, rel_std {self.rel_std:.3g}>"


# --------------------------------------------------------------------------- dense Gaussian


class GaussianSketch(Sketch):
    """Dense Gaussian embedding ``S = G / sqrt(m)``, ``G`` with iid standard normal entries."""

    def __init__(self, m: int, n: int, *, seed: int, dtype: Any, device: Any) -> None:
        self.m = _positive_int(m, "sketch size m")
        self.n = _positive_int(n, "input size n")
        dt, dev = _real_dtype(dtype), resolve_device(device)
        check_memory(
            m * n * 8,
            dev,
            f"a dense {m} x {n} Gaussian sketch",
            "use count_sketch or srtt, or a smaller sketch size",
        )
        self.matrix = _randn(
            (m, n), _generator(seed), 1.0 / math.sqrt(m), {"dtype": dt, "device": dev}
        )

    @property
    def rel_std(self) -> float:
        """``sqrt(2/m)``: ``m ||S x||^2 / ||x||^2`` is chi-squared with ``m`` degrees of freedom."""
        return math.sqrt(2.0 / self.m)

    def _apply_rows(self, A: torch.Tensor) -> torch.Tensor:
        return _match(self.matrix, A) @ A

    def _like(self) -> dict:
        return {"dtype": self.matrix.dtype, "device": self.matrix.device}

    def to_dense(self) -> torch.Tensor:
        """The matrix."""
        return self.matrix


def gaussian(
    m: int, n: int, *, seed: int = 0, dtype: Any = "float64", device: Any = "cpu"
) -> GaussianSketch:
    """An ``m x n`` dense Gaussian embedding with ``E||S x||^2 = ||x||^2``.

    ``||S x||^2 / ||x||^2`` is ``chi2_m / m`` for every ``x``: mean 1, standard deviation
    ``sqrt(2/m)``. The most accurate embedding for a given ``m`` and the slowest to apply
    (``m n k`` for ``k`` columns); it stores ``m n`` numbers.
    """
    return GaussianSketch(m, n, seed=seed, dtype=dtype, device=device)


# --------------------------------------------------------------------------- sparse signs


def _distinct_rows(n: int, m: int, s: int, gen: torch.Generator) -> torch.Tensor:
    """``(s, n)`` row indices: for each column a uniform random ``s``-subset of ``range(m)``.

    Floyd's algorithm, vectorized over columns: step ``t`` draws from ``[0, m - s + t]`` and
    takes ``m - s + t`` itself when the draw is already in the column's set.
    """
    import torch

    rows = torch.empty((s, n), dtype=torch.long)
    for t in range(s):
        j = m - s + t
        cand = torch.randint(0, j + 1, (n,), generator=gen)
        if t:
            dup = (rows[:t] == cand).any(0)
            cand = torch.where(dup, torch.full_like(cand, j), cand)
        rows[t] = cand
    return rows


class CountSketch(Sketch):
    """Sparse sign embedding: ``s`` entries ``+-1/sqrt(s)`` per column, in distinct rows."""

    def __init__(self, m: int, n: int, *, s: int, seed: int, dtype: Any, device: Any) -> None:
        import torch

        self.m = _positive_int(m, "sketch size m")
        self.n = _positive_int(n, "input size n")
        self.s = _positive_int(s, "nonzeros per column s")
        if s > m:
            raise DecompositionError(f"nonzeros per column s={s} exceeds the sketch size m={m}")
        dt, dev = _real_dtype(dtype), resolve_device(device)
        gen = _generator(seed)
        rows = _distinct_rows(n, m, s, gen)
        bits = torch.randint(0, 2, (s, n), generator=gen, dtype=torch.int64)
        signs = (2.0 * bits.to(torch.float64) - 1.0) / math.sqrt(s)
        self.rows = rows.to(dev)
        self.signs = signs.to(dtype=dt, device=dev)

    @property
    def rel_std(self) -> float:
        """``sqrt(2/m)``: the variance is ``2 (||x||^4 - ||x||_4^4) / m`` for every ``s``."""
        return math.sqrt(2.0 / self.m)

    def _apply_rows(self, A: torch.Tensor) -> torch.Tensor:
        out = A.new_zeros((self.m, A.shape[1]))
        rows = self.rows.to(A.device)
        signs = _match(self.signs, A)
        for t in range(self.s):
            # Scatter-add every input row into its bucket: no dense m x n matrix.
            out.index_add_(0, rows[t], A * signs[t, :, None])
        return out

    def _like(self) -> dict:
        return {"dtype": self.signs.dtype, "device": self.signs.device}


def count_sketch(
    m: int, n: int, *, s: int = 1, seed: int = 0, dtype: Any = "float64", device: Any = "cpu"
) -> CountSketch:
    """An ``m x n`` sparse sign embedding (``s = 1``: CountSketch) with ``E||S x||^2 = ||x||^2``.

    Each column has ``s`` nonzeros ``+-1/sqrt(s)`` in distinct uniformly chosen rows, with
    independent signs. ``Var(||S x||^2 / ||x||^2) = 2 (1 - ||x||_4^4/||x||^4) / m <= 2/m``
    for any ``s``; larger ``s`` buys a subspace embedding with far fewer rows
    (``m ~ d log d`` instead of ``d^2``). Applied by scatter-adds in ``s n k`` operations.
    """
    return CountSketch(m, n, s=s, seed=seed, dtype=dtype, device=device)


# --------------------------------------------------------------------------- SRTT


class SRTT(Sketch):
    """Subsampled randomized trigonometric transform ``S = sqrt(n/m) P F D``.

    ``D`` random signs, ``F`` the orthonormal DCT-II, ``P`` uniform row sampling (without
    replacement when ``m <= n``, with replacement otherwise).
    """

    def __init__(self, m: int, n: int, *, seed: int, dtype: Any, device: Any) -> None:
        import torch

        self.m = _positive_int(m, "sketch size m")
        self.n = _positive_int(n, "input size n")
        dt, dev = _real_dtype(dtype), resolve_device(device)
        gen = _generator(seed)
        bits = torch.randint(0, 2, (n,), generator=gen, dtype=torch.int64)
        self.signs = (2.0 * bits.to(torch.float64) - 1.0).to(dtype=dt, device=dev)
        self.replace = m > n
        if self.replace:
            idx = torch.randint(0, n, (m,), generator=gen)
        else:
            idx = torch.randperm(n, generator=gen)[:m]
        self.rows = idx.to(dev)
        self.scale = math.sqrt(n / m)

    @property
    def rel_std(self) -> float:
        """``sqrt(5/m (n-m)/(n-1))`` (``sqrt(5/m)`` with replacement), typically ~``sqrt(2/m)``.

        With ``y = F D x``, sampling gives variance ``(n sum y_i^4 / ||y||^4 - 1)/m`` times the
        finite-population factor; random signs and ``F_ij^2 <= 2/n`` bound the expected
        ``n sum y_i^4 / ||y||^4`` by 6. A near-Gaussian ``y`` gives 3, hence ~``2/m``.
        """
        if self.replace:
            return math.sqrt(5.0 / self.m)
        if self.n == 1:
            return 0.0
        return math.sqrt(5.0 / self.m * (self.n - self.m) / (self.n - 1))

    def _apply_rows(self, A: torch.Tensor) -> torch.Tensor:
        signs = self.signs.to(A.device, A.real.dtype if A.is_complex() else A.dtype)
        Y = dct(A * signs[:, None], dim=0)
        return Y[self.rows.to(A.device)] * self.scale

    def _like(self) -> dict:
        return {"dtype": self.signs.dtype, "device": self.signs.device}


def srtt(m: int, n: int, *, seed: int = 0, dtype: Any = "float64", device: Any = "cpu") -> SRTT:
    """An ``m x n`` subsampled randomized DCT with ``E||S x||^2 = ||x||^2``, applied by FFT.

    Random signs spread any ``x`` over all DCT coefficients, so uniform sampling of ``m`` of
    them loses little: ``Std(||S x||^2/||x||^2) <= sqrt(5/m (n-m)/(n-1))``, typically
    ``sqrt(2/m)``. Costs ``O(n k log n)`` for ``k`` columns and stores ``n + m`` numbers.
    """
    return SRTT(m, n, seed=seed, dtype=dtype, device=device)


# --------------------------------------------------------------------------- Khatri-Rao


class KhatriRaoGaussian(Sketch):
    """Row-wise Khatri-Rao Gaussian: row ``i`` of ``S`` is ``g_i^(1) x ... x g_i^(N) / sqrt(m)``.

    With ``G_k`` the ``m x I_k`` matrix of the mode-``k`` vectors,
    ``S (A_1 kr ... kr A_N) = (G_1 A_1) * ... * (G_N A_N) / sqrt(m)`` (elementwise), where
    ``kr`` is the Khatri-Rao product whose rows are ordered row-major (``i_1`` slowest).
    """

    def __init__(self, m: int, dims: Sequence[int], *, seed: int, dtype: Any, device: Any) -> None:
        self.m = _positive_int(m, "sketch size m")
        self.dims = _dims(dims)
        self.n = math.prod(self.dims)
        dt, dev = _real_dtype(dtype), resolve_device(device)
        gen = _generator(seed)
        like = {"dtype": dt, "device": dev}
        # The 1/sqrt(m) sits on the first factor only.
        self.factors = [
            _randn((m, d), gen, 1.0 / math.sqrt(m) if k == 0 else 1.0, like)
            for k, d in enumerate(self.dims)
        ]

    @property
    def rel_std(self) -> float:
        """``sqrt((3^N - 1)/m)``: a product of ``N`` Gaussians has ``E<g, x>^4 <= 3^N ||x||^4``."""
        return math.sqrt((3.0 ** len(self.dims) - 1.0) / self.m)

    def apply_factors(self, factors: Sequence[torch.Tensor]) -> torch.Tensor:
        """``S (A_1 kr ... kr A_N)`` for factors ``A_k`` of shape ``(I_k, R)``: ``(m, R)``.

        Costs ``m R sum_k I_k``; the ``prod I_k x R`` Khatri-Rao product is never formed.
        """
        if len(factors) != len(self.dims):
            raise DecompositionError(
                f"got {len(factors)} factor matrices for a sketch over {len(self.dims)} modes"
            )
        out = None
        for k, (A, d) in enumerate(zip(factors, self.dims, strict=True)):
            _check_input(A)
            if A.ndim != 2 or A.shape[0] != d:
                raise DecompositionError(
                    f"factor {k} has shape {tuple(A.shape)}; expected ({d}, R) for this sketch"
                )
            if out is not None and A.shape[1] != out.shape[1]:
                raise DecompositionError(
                    f"factor {k} has {A.shape[1]} columns, factor 0 has {out.shape[1]}"
                )
            P = _match(self.factors[k], A) @ A
            out = P if out is None else out * P
        assert out is not None
        return out

    def _apply_rows(self, A: torch.Tensor) -> torch.Tensor:
        import torch

        k = A.shape[1]
        W = _match(self.factors[0], A) @ A.reshape(self.dims[0], -1)  # (m, I2...IN k)
        for G, d in zip(self.factors[1:], self.dims[1:], strict=True):
            # Row i of S meets row i of G_k: a batched mat-vec per sketch row.
            W = torch.einsum("mir,mi->mr", W.reshape(self.m, d, -1), _match(G, A))
        return W.reshape(self.m, k)

    def _like(self) -> dict:
        return {"dtype": self.factors[0].dtype, "device": self.factors[0].device}

    def embedding_arrays(self) -> list[torch.Tensor]:
        """Per-mode arrays ``(m, I_k)`` whose hyperedge product over ``m`` is ``S``."""
        return list(self.factors)

    def apply_network(
        self, net: Network, cores: Sequence[torch.Tensor], *, optimize: str = "auto"
    ) -> torch.Tensor:
        """``S vec(T)`` for the tensor ``T`` a network represents, never formed: shape ``(m,)``.

        ``net.output`` (in order) must have the sizes ``dims``.
        """
        return _apply_embedding_network(self, net, cores, hyper=True, optimize=optimize)


def khatri_rao_gaussian(
    m: int,
    dims: Sequence[int],
    *,
    seed: int = 0,
    dtype: Any = "float64",
    device: Any = "cpu",
) -> KhatriRaoGaussian:
    """An ``m x prod(dims)`` row-wise Khatri-Rao Gaussian embedding, ``E||S x||^2 = ||x||^2``.

    Sketches a Khatri-Rao product of factors (``apply_factors``) without forming it, and a
    dense vector, unfolding (``apply``) or tensor (``apply_modes``) of matching length with
    the same ``S``, so a sketched least-squares problem uses one operator on both sides.
    ``Std(||S x||^2/||x||^2) <= sqrt((3^N - 1)/m)`` for ``N = len(dims)``: the distortion grows
    with the number of modes, so use more rows than a dense Gaussian would need.
    """
    return KhatriRaoGaussian(m, dims, seed=seed, dtype=dtype, device=device)


# --------------------------------------------------------------------------- TT


def random_tt_cores(
    dims: Sequence[int],
    ranks: Sequence[int],
    gen: torch.Generator,
    *,
    dtype: Any = "float64",
    device: Any = "cpu",
) -> list[torch.Tensor]:
    """Gaussian TT cores ``(r_{k-1}, n_k, r_k)`` with ``r_0 = 1`` and ``r_N = ranks[-1]``.

    ``ranks`` lists ``r_1 .. r_N`` (the last is the output size: 1 for a probe vector, ``m``
    for an embedding). Core ``k`` has variance ``1/r_k``, which makes ``E[S^T S] = I``.
    """
    like = {"dtype": _real_dtype(dtype), "device": resolve_device(device)}
    cores, left = [], 1
    for d, r in zip(dims, ranks, strict=True):
        cores.append(_randn((left, d, r), gen, 1.0 / math.sqrt(r), like))
        left = r
    return cores


class TTGaussian(Sketch):
    """TT-structured Gaussian embedding (Ma & Solomonik 2022 style).

    ``S[a, (i_1..i_N)] = sum G_1[1, i_1, b_1] G_2[b_1, i_2, b_2] ... G_N[b_{N-1}, i_N, a]``: a
    chain of Gaussian cores whose last bond is the sketch index ``a`` (size ``m``) and whose
    internal bonds have the chosen ranks; core ``k`` has variance ``1/r_k`` (``r_N = m``).
    """

    def __init__(
        self,
        m: int,
        dims: Sequence[int],
        *,
        rank: int | Sequence[int],
        seed: int,
        dtype: Any,
        device: Any,
    ) -> None:
        self.m = _positive_int(m, "sketch size m")
        self.dims = _dims(dims)
        self.n = math.prod(self.dims)
        N = len(self.dims)
        if isinstance(rank, int):
            ranks = [rank] * (N - 1)
        else:
            ranks = list(rank)
            if len(ranks) != N - 1:
                raise DecompositionError(
                    f"tt_gaussian over {N} modes needs {N - 1} internal ranks, got {len(ranks)}"
                )
        for r in ranks:
            _positive_int(r, "each internal rank of tt_gaussian")
        self.ranks = (*ranks, m)
        self.cores = random_tt_cores(
            self.dims, self.ranks, _generator(seed), dtype=dtype, device=device
        )

    @property
    def rel_std(self) -> float:
        """``sqrt(prod_k (1 + 2/r_k) - 1)`` over internal ranks and ``m``.

        Each core is a Gaussian sketch of one grouped axis, which multiplies the second
        moment of ``||.||^2`` by at most ``1 + 2/r_k``; ranks ``~ N m`` give ~``sqrt(4/m)``.
        """
        return math.sqrt(math.prod(1.0 + 2.0 / r for r in self.ranks) - 1.0)

    def _apply_rows(self, A: torch.Tensor) -> torch.Tensor:
        k = A.shape[1]
        W = A
        left = 1
        for G, d, r in zip(self.cores, self.dims, self.ranks, strict=True):
            # Rows of W are (b_{k-1}, i_k) once reshaped: one GEMM per core.
            W = _match(G, A).reshape(left * d, r).T @ W.reshape(left * d, -1)
            left = r
        return W.reshape(self.m, k)

    def _like(self) -> dict:
        return {"dtype": self.cores[0].dtype, "device": self.cores[0].device}

    def apply_tt(self, cores: Sequence[torch.Tensor]) -> torch.Tensor:
        """Sketch a tensor in TT format, never formed: cores ``(s_{k-1}, n_k, s_k)``.

        Returns shape ``(s_0, m, s_N)``: ``[0, :, 0]`` for an ordinary TT (``s_0 = s_N = 1``);
        boundary ranks above 1 (a piece of a longer train) are kept. One left-to-right sweep
        costs ``O(s_0 n r s (r + s))`` per core.
        """
        import torch

        if len(cores) != len(self.dims):
            raise DecompositionError(
                f"got {len(cores)} TT cores for a sketch over {len(self.dims)} modes"
            )
        W = None
        for k, (X, G, d) in enumerate(zip(cores, self.cores, self.dims, strict=True)):
            _check_input(X)
            if X.ndim != 3 or X.shape[1] != d:
                raise DecompositionError(
                    f"TT core {k} has shape {tuple(X.shape)}; expected (s{k}, {d}, s{k + 1})"
                )
            if W is None:
                s0 = X.shape[0]
                W = torch.eye(s0, dtype=X.dtype, device=X.device).reshape(s0, 1, s0)
            elif W.shape[2] != X.shape[0]:
                raise DecompositionError(
                    f"TT core {k} has left rank {X.shape[0]} but core {k - 1} has right rank "
                    f"{W.shape[2]}"
                )
            T = torch.einsum("bas,sit->bait", W, X)
            W = torch.einsum("bait,aic->bct", T, _match(G, X))
        assert W is not None
        return W

    def embedding_arrays(self) -> list[torch.Tensor]:
        """The cores with the size-1 left boundary dropped: ``(n_1, r_1), (r_1, n_2, r_2), ...``."""
        return [self.cores[0][0], *self.cores[1:]]

    def apply_network(
        self, net: Network, cores: Sequence[torch.Tensor], *, optimize: str = "auto"
    ) -> torch.Tensor:
        """``S vec(T)`` for the tensor ``T`` a network represents, never formed: shape ``(m,)``.

        ``net.output`` (in order) must have the sizes ``dims``; the embedding's cores join
        the network and one contraction (tensorbench's path search) gives the result.
        """
        return _apply_embedding_network(self, net, cores, hyper=False, optimize=optimize)


def tt_gaussian(
    m: int,
    dims: Sequence[int],
    *,
    rank: int | Sequence[int] | None = None,
    seed: int = 0,
    dtype: Any = "float64",
    device: Any = "cpu",
) -> TTGaussian:
    """An ``m x prod(dims)`` TT-structured Gaussian embedding, ``E||S x||^2 = ||x||^2``.

    Applies to a dense tensor (``apply`` / ``apply_modes``: one GEMM per mode, the first
    costing ``r_1 prod(dims)``), to a TT (``apply_tt``) and to any network
    (``apply_network``) without forming it. ``rank`` (default ``m``) is the internal bond
    size; ``Std(||S x||^2/||x||^2) <= sqrt(prod_k (1 + 2/r_k) - 1)`` with ``r_N = m``.
    """
    return TTGaussian(
        m, dims, rank=m if rank is None else rank, seed=seed, dtype=dtype, device=device
    )


# --------------------------------------------------------------------------- networks


def _apply_embedding_network(
    sk: KhatriRaoGaussian | TTGaussian,
    net: Network,
    cores: Sequence[torch.Tensor],
    *,
    hyper: bool,
    optimize: str,
) -> torch.Tensor:
    """Contract a structured embedding with a network (see ``apply_network``)."""
    from ..network import Network as Net
    from ..network import Tensor

    out_sizes = tuple(net.sizes[ix] for ix in net.output)
    if out_sizes != sk.dims:
        raise DecompositionError(
            f"the network's output has sizes {out_sizes}; the sketch takes {sk.dims}"
        )
    if len(cores) != len(net.tensors):
        raise DecompositionError(f"got {len(cores)} cores for {len(net.tensors)} tensors")
    taken = set(net.indices) | {t.name for t in net.tensors}

    def fresh(base: str) -> str:
        name = base
        while name in taken:
            name = "~" + name
        taken.add(name)
        return name

    out = fresh("~sketch")
    arrays = list(cores)
    ref = arrays[0]
    emb = [a.to(device=ref.device, dtype=ref.dtype) for a in sk.embedding_arrays()]
    tensors = list(net.tensors)
    sizes = net.sizes | {out: sk.m}
    N = len(sk.dims)
    if hyper:
        for k, ix in enumerate(net.output):
            tensors.append(Tensor(fresh(f"~S{k}"), (out, ix)))
    else:
        bonds = [fresh(f"~b{k}") for k in range(N - 1)] + [out]
        for k, ix in enumerate(net.output):
            left = (bonds[k - 1],) if k else ()
            tensors.append(Tensor(fresh(f"~S{k}"), (*left, ix, bonds[k])))
            if k < N - 1:
                sizes[bonds[k]] = sk.ranks[k]
    combined = Net(tensors, sizes, (out,))
    from .residual import contract_checked

    return contract_checked(
        combined,
        arrays + emb,
        optimize=optimize,
        what="applying the sketch to this network",
        hint="use a smaller sketch size or internal rank",
    )
