"""Attention: exact SDPA against HyperAttention, LevAttention and a sliding-window mask.

Synthetic table: sequence lengths 1k..32k, head dimension 64, 4 heads, batch 1, float32,
causal and not; clustered keys, n/32 clusters (each query's attention concentrated on the
~32 keys of its cluster, wherever they are in the sequence). For every
method: median time (and p20/p80) of repeated runs, speedup over SDPA measured in the same
process on the same input, relative Frobenius error against float64 exact attention
(computed in row chunks), and the counted flops. Parameters: HyperAttention 7 hyperplanes,
blocks of 256, 256 samples, exact below 2048 tokens (causal); LevAttention 256 keys;
sliding window 256.

Real-data table: queries, keys and values of every layer of the shipped MiniLM encoder on
a 512-token text (12 heads of 32); each method's error at a fixed budget of 64 keys per
query (HyperAttention: blocks of 32 plus 32 samples; LevAttention: 64 keys; window 64;
top-64 oracle).

Everything runs through the public ``attention`` task (``tensorbench.engine.run``), the
same code the app and exported scripts use. With ``--device cuda`` the tables are recorded
under the device's name (attention_cuda.*).

Run: ``python benchmarks/bench_attention.py`` (``--quick`` for a smoke run, no files).
Writes benchmarks/results/attention_<device>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from tensorbench.engine import load_config, run
from tensorbench.engine.device import device_info, resolve_device

ROOT = Path(__file__).resolve().parent
METHODS = [
    {"method": "exact", "label": "SDPA"},
    {"method": "hyper", "block": 256, "samples": 256, "label": "HyperAttention"},
    {"method": "lev", "keys": 256, "label": "LevAttention"},
    {
        "method": "mask",
        "pattern": "sliding_window",
        "options": {"window": 256},
        "label": "sliding window 256",
    },
]
REAL_METHODS = [
    {"method": "exact", "label": "SDPA"},
    {"method": "hyper", "block": 32, "samples": 32, "min_seq_len": 64, "label": "HyperAttention"},
    {"method": "lev", "keys": 64, "label": "LevAttention"},
    {
        "method": "mask",
        "pattern": "sliding_window",
        "options": {"window": 64, "causal": False},
        "label": "window 64",
    },
    {"method": "topk", "topk": 64, "label": "top-64 oracle"},
]
TEXT = (
    "The history of tensor networks begins in quantum physics, where the state of many "
    "particles is a tensor with one index per particle, far too large to store. Matrix "
    "product states, tree tensor networks and projected entangled pair states store such "
    "states as contractions of small tensors, and the same ideas compress weight matrices, "
    "images and datasets. Attention in a transformer compares every token with every other "
    "token; most comparisons are tiny, which is why sparse attention can be fast. "
)


def synthetic(ns: list[int], causal: bool, device: str, repeats: int) -> list[dict[str, Any]]:
    cfg = load_config(
        {
            "task": {
                "kind": "attention",
                "input": {"kind": "clustered", "heads": 4, "d": 64, "per_cluster": 32},
                "n": ns[0],
                "causal": causal,
                "methods": [
                    m | {"options": {**m["options"], "causal": causal}} if "options" in m else m
                    for m in METHODS
                ],
                "sweep": {"param": "n", "values": ns},
                "repeats": repeats,
                "heatmap": 0,
            },
            "device": device,
            "seed": 0,
        }
    )
    t0 = time.perf_counter()
    rows = run(cfg, progress=_printer).metrics["rows"]
    print(f"  causal={causal}: {time.perf_counter() - t0:.0f} s", flush=True)
    return [r | {"causal": causal} for r in rows]


def real(device: str, repeats: int) -> list[dict[str, Any]]:
    cfg = load_config(
        {
            "task": {
                "kind": "attention",
                "input": {"kind": "minilm", "text": TEXT},
                "n": 512,
                "methods": REAL_METHODS,
                "sweep": {"param": "layer", "values": [0, 1, 2, 3, 4, 5]},
                "repeats": repeats,
                "heatmap": 512,
            },
            "device": device,
            "seed": 0,
        }
    )
    return run(cfg, progress=_printer).metrics["rows"]


def hydragen(device: str, repeats: int, quick: bool) -> list[dict[str, Any]]:
    """Hydragen vs SDPA over each sequence's copy of the prefix (8 query heads, 1 KV head,
    d=128, float32 on the CPU): decode (one query) and prefill (every suffix token)."""
    rows = []
    cases = [(4, 256, 64)] if quick else [(8, 1024, 128), (16, 2048, 256), (32, 4096, 256)]
    for batch, prefix, suffix in cases:
        for queries in (1, 0):
            cfg = load_config(
                {
                    "task": {
                        "kind": "attention",
                        "input": {
                            "kind": "shared_prefix",
                            "batch": batch,
                            "heads": 8,
                            "kv_heads": 1,
                            "d": 128,
                            "prefix": prefix,
                            "queries": queries,
                        },
                        "n": suffix,
                        "causal": True,
                        "methods": [
                            {"method": "exact", "label": "SDPA, copied prefix"},
                            {"method": "hydragen", "label": "Hydragen"},
                        ],
                        "repeats": repeats,
                        "heatmap": 0,
                    },
                    "device": device,
                }
            )
            for r in run(cfg, progress=_printer).metrics["rows"]:
                rows.append(
                    r
                    | {
                        "batch": batch,
                        "prefix": prefix,
                        "suffix": suffix,
                        "mode": "decode" if queries == 1 else "prefill",
                    }
                )
    return rows


def _printer(event: dict[str, Any]) -> None:
    if event.get("type") == "record":
        err = event.get("rel_error")
        print(
            f"    {event['label']:<20} n={event['n']:<6} value={event['value']!s:<6} "
            f"{event['median_s'] * 1e3:9.2f} ms  speedup {event.get('speedup', 0):6.2f}x  "
            f"error {err if err is None else f'{err:.3e}'}",
            flush=True,
        )


def markdown(
    synth: list[dict], real_rows: list[dict], hyd: list[dict], env: dict[str, Any], note: str
) -> str:
    lines = [
        "# attention: exact SDPA vs sparse methods",
        "",
        f"{env.get('device_name') or env.get('cpu')} · torch {torch.__version__} · "
        f"{torch.get_num_threads()} threads · {note}",
        "",
        "## Synthetic: clustered keys (n/32 clusters), 4 heads, d=64, float32",
        "",
        "| causal | n | method | median | p20-p80 | speedup vs SDPA | relative error "
        "| recall | counted flops |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in synth:
        lines.append(
            f"| {r['causal']} | {r['n']} | {r['label']} | {r['median_s'] * 1e3:.2f} ms | "
            f"{r['p20_s'] * 1e3:.2f}-{r['p80_s'] * 1e3:.2f} | {r.get('speedup', 0):.2f}x | "
            f"{r.get('rel_error', float('nan')):.3e} | {r.get('recall', '-')} | "
            f"{r['flops']:.3g} |"
        )
    if real_rows:
        labels = list(dict.fromkeys(r["label"] for r in real_rows))
        lines += [
            "",
            "## MiniLM (all-MiniLM-L6-v2), 512 tokens, 12 heads of 32: relative error per layer",
            "",
            "| layer | " + " | ".join(labels) + " |",
            "| ---: |" + " ---: |" * len(labels),
        ]
        for layer in sorted({r["value"] for r in real_rows}):
            cells = []
            for label in labels:
                row = next(
                    (r for r in real_rows if r["label"] == label and r["value"] == layer), None
                )
                cells.append("-" if row is None else f"{row.get('rel_error', float('nan')):.3e}")
            lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    if hyd:
        lines += [
            "",
            "## Hydragen: a shared prefix, 8 query heads, 1 KV head, d=128, float32, causal",
            "",
            "| batch | prefix | suffix | mode | method | median | speedup vs SDPA | "
            "relative error |",
            "| ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |",
        ]
        for r in hyd:
            lines.append(
                f"| {r['batch']} | {r['prefix']} | {r['suffix']} | {r['mode']} | {r['label']} "
                f"| {r['median_s'] * 1e3:.2f} ms | {r.get('speedup', 0):.2f}x | "
                f"{r.get('rel_error', float('nan')):.3e} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--ns", default="1024,2048,4096,8192,16384,32768")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    ns = [256, 512] if args.quick else [int(x) for x in args.ns.split(",")]
    env = device_info(device)
    load = os.getloadavg()[0]
    print(f"attention benchmark on {env.get('device_name') or env.get('cpu')}", flush=True)
    synth = []
    for causal in (False, True):
        synth += synthetic(ns, causal, device, 1 if args.quick else args.repeats)
    real_rows = [] if args.quick else real(device, args.repeats)
    hyd = hydragen(device, 1 if args.quick else args.repeats, args.quick)
    note = f"load average {load:.2f} at start"
    md = markdown(synth, real_rows, hyd, env, note)
    print(md)
    if args.quick:
        return
    kind = "cuda" if device.startswith("cuda") else "cpu"
    out = Path(args.out) if args.out else ROOT / "results" / f"attention_{kind}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(
        json.dumps(
            {"environment": env, "note": note, "synthetic": synth, "real": real_rows},
            indent=1,
            default=float,
        )
    )
    out.with_suffix(".md").write_text(md)


if __name__ == "__main__":
    main()
