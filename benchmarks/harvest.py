"""Harvest throughput against the forward it cannot avoid, a bare forward and TransformerLens (issues 3, 14).

Per model (``tiny-gelu``, the default; ``rand-d256``, a random-init d_model-256 TinyTransformer) and window
count (1,024 windows = 65k tokens; ``--million``: 16,384 = 1M), everything runs in one process on the same token
windows, batch 32, 2 torch threads:

- ours: the real ``harvest()`` into a temporary folder (hooks, streaming stats, top-k, sample, quantiles,
  fp16 activation shards and resumable state on disk) on both MLP neuron sites; and the same with the
  statistics in line (``overlap=False``: the harvest before they ran beside the next forward);
- forward to site: the plain forward, no hooks, that stops after the last harvested site (the physical limit);
- bare forward: ``model(tokens)`` in ``torch.inference_mode()`` with no hooks (incl. the unembedding), and the
  same without the unembedding; hooked forward: only the forward the harvest runs (``adapter.run``);
- TransformerLens: a ``HookedTransformer`` of the same shape holding our weights (checked: same activations),
  ``run_with_cache`` on the two ``hook_post`` names per batch, plus straightforward numpy statistics; and the
  same with ``stop_at_layer=n_layers`` (skips the unembedding, as our harvest does), reported alongside.

Rounds are interleaved (the machine is noisy); ``ratio_vs_X`` is the median over rounds of the ratio within a
round, ``best_ratio_vs_X`` best against best. The last line printed is one JSON object (the first run's ratios
at the top, every run under ``runs``): ``.venv/bin/python benchmarks/harvest.py [--windows 256] [--million]``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mirrorneuron.harvest.overlap import one_torch_thread
from mirrorneuron.harvest.run import HarvestSpec, harvest, load_inputs
from mirrorneuron.harvest.stats import SiteAccumulator
from mirrorneuron.harvest.topk import block_max
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.models.transformer import TinyTransformer, TransformerConfig

sys.path.insert(0, str(Path(__file__).parent))
from harvest_common import _tiny_to_site, forward_to_site, interleave, ratios, timed, tl_harvest

MODELS = ("tiny-gelu", "rand-d256")
SITES = ("blocks.0.mlp.post", "blocks.1.mlp.post")
TL_HOOKS = tuple(s.replace("mlp.post", "mlp.hook_post") for s in SITES)
D256 = TransformerConfig(vocab_size=2048, d_model=256, n_layers=2, n_heads=4, d_mlp=1024, n_ctx=64, act_fn="gelu")


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


# ----------------------------------------------------------------------------------------- TransformerLens
def transformer_lens_twin(adapter: TorchAdapter) -> Any:
    """A HookedTransformer of the same shape with our weights loaded unchanged (nothing folded)."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    m = adapter.module
    c = m.cfg
    d_head = c.d_model // c.n_heads
    cfg = HookedTransformerConfig(
        n_layers=c.n_layers,
        d_model=c.d_model,
        n_heads=c.n_heads,
        d_head=d_head,
        d_mlp=c.d_mlp,
        n_ctx=c.n_ctx,
        d_vocab=c.vocab_size,
        act_fn=c.act_fn,
        normalization_type="LN",
        positional_embedding_type="standard",
        device="cpu",
        dtype=torch.float32,
    )
    with warnings.catch_warnings():  # 3.x marks HookedTransformer deprecated in favour of 4.x's TransformerBridge
        warnings.simplefilter("ignore", DeprecationWarning)
        tl = HookedTransformer(cfg)  # built from a config: no fold_ln / centering is applied to what we load
    sd: dict[str, torch.Tensor] = {
        "embed.W_E": m.embed.weight,
        "pos_embed.W_pos": m.pos_embed.weight,
        "ln_final.w": m.ln_final.weight,
        "ln_final.b": m.ln_final.bias,
        "unembed.W_U": m.unembed.weight.T,
        "unembed.b_U": m.unembed.bias,
    }
    h, d = c.n_heads, c.d_model
    for i, blk in enumerate(m.blocks):
        p = f"blocks.{i}."
        w_qkv, b_qkv = blk.attn.qkv.weight.view(3, h, d_head, d), blk.attn.qkv.bias.view(3, h, d_head)
        for j, name in enumerate("QKV"):
            sd[p + f"attn.W_{name}"] = w_qkv[j].transpose(1, 2)  # [h, d_model, d_head]
            sd[p + f"attn.b_{name}"] = b_qkv[j]
        sd[p + "attn.W_O"] = blk.attn.proj.weight.T.reshape(h, d_head, d)
        sd[p + "attn.b_O"] = blk.attn.proj.bias
        for ln in ("ln1", "ln2"):
            sd[p + f"{ln}.w"], sd[p + f"{ln}.b"] = getattr(blk, ln).weight, getattr(blk, ln).bias
        sd[p + "mlp.W_in"], sd[p + "mlp.b_in"] = blk.mlp.W_in.weight.T, blk.mlp.W_in.bias
        sd[p + "mlp.W_out"], sd[p + "mlp.b_out"] = blk.mlp.W_out.weight.T, blk.mlp.W_out.bias
    full = tl.state_dict()
    missing = {k for k, v in full.items() if k not in sd and v.numel() > 1 and not k.endswith(".mask")}
    assert not missing and set(sd) <= set(full), f"weight conversion incomplete: {missing or set(sd) - set(full)}"
    tl.load_state_dict(full | {k: v.detach().clone().contiguous() for k, v in sd.items()}, strict=True)
    return tl.eval()


# ----------------------------------------------------------------------------------------- ours / bare
def bare_forward(model: torch.nn.Module, batches: list[torch.Tensor]) -> None:
    with torch.inference_mode():
        for tokens in batches:
            model(tokens)


def bare_forward_no_unembed(model: Any, batches: list[torch.Tensor]) -> None:
    with torch.inference_mode():
        for tokens in batches:
            x = model.embed(tokens) + model.pos_embed(torch.arange(tokens.shape[1]))
            for block in model.blocks:
                x = block(x)
            model.ln_final(x)


def hooked_forward(adapter: TorchAdapter, batches: list[torch.Tensor]) -> None:
    """Only the forward our harvest runs (hooks on both sites, stops after the last): its floor."""
    for tokens in batches:
        adapter.run(tokens, SITES)


def stats_parts(adapter: TorchAdapter, batches: list[torch.Tensor], spec: HarvestSpec) -> dict[str, float]:
    """Seconds our harvest spends in ``SiteAccumulator.update`` (both sites) and in one site's ``finalize``, on one
    torch thread as in the harvest; then the thread CPU seconds of each statistic inside ``update`` (the same calls
    ``update`` makes, timed one by one), and of both sites' ``finalize``."""
    acts = [adapter.run(tokens, SITES) for tokens in batches]
    flat = [{s: a[s].reshape(-1, a[s].shape[-1]) for s in SITES} for a in acts]
    with one_torch_thread():
        accs = {s: SiteAccumulator(adapter.width(s), spec.top_k, spec.sample_size, spec.seed) for s in SITES}
        t0 = time.perf_counter()
        start = 0
        for a in flat:
            for s in SITES:
                accs[s].update(a[s], start)
            start += a[SITES[0]].shape[0]
        t1 = time.perf_counter()
        accs[SITES[0]].finalize()
        out = {"stats_update": t1 - t0, "finalize_one_site": time.perf_counter() - t1}
        part = dict.fromkeys(("block_max", "moments", "topk", "sample", "finalize_both"), 0.0)
        accs = {s: SiteAccumulator(adapter.width(s), spec.top_k, spec.sample_size, spec.seed) for s in SITES}
        start, clock = 0, time.thread_time
        for a in flat:
            for s in SITES:
                acc, xn = accs[s], a[s].numpy()
                c0 = clock()
                blockmax, colmax = block_max(xn)
                c1 = clock()
                acc.moments.update(a[s], colmax)
                c2 = clock()
                acc.top.update(xn, start, blockmax, colmax)
                c3 = clock()
                acc.sample.update(xn, start)
                c4 = clock()
                for k, d in zip(part, (c1 - c0, c2 - c1, c3 - c2, c4 - c3), strict=False):
                    part[k] += d
            start += a[SITES[0]].shape[0]
        c0 = clock()
        for acc in accs.values():
            acc.finalize()
        part["finalize_both"] = clock() - c0
    return out | {f"cpu_{k}": v for k, v in part.items()}


def our_harvest(
    adapter: TorchAdapter, spec: HarvestSpec, prepared: tuple[np.ndarray, str, str], overlap: bool = True
) -> float:
    with tempfile.TemporaryDirectory(prefix="mn-bench-") as tmp:
        t0 = time.perf_counter()
        harvest(adapter, spec, Path(tmp) / "h", prepared=prepared, overlap=overlap)
        return time.perf_counter() - t0


def bench_adapter(name: str) -> TorchAdapter:
    """The default model, or ``rand-d256``: a random-init (seed 0) TinyTransformer with d_model 256, d_mlp 1024
    and tiny-gelu's tokenizer (speed does not depend on training)."""
    if name != "rand-d256":
        return zoo_adapter(name)
    base = zoo_adapter("tiny-gelu")
    torch.manual_seed(0)
    return TorchAdapter("rand-d256", TinyTransformer(D256), "text", base.tokenizer, "random-init-seed0", D256.n_ctx)


# ----------------------------------------------------------------------------------------- main
def bench(adapter: TorchAdapter, windows: int, args: argparse.Namespace) -> dict[str, Any]:
    """Every method on the same ``windows`` windows of the default corpus; one result dict."""
    model = adapter.module
    spec = HarvestSpec(sites=SITES, max_windows=windows, batch_size=32)
    t0 = time.perf_counter()
    prepared = load_inputs(adapter, spec)
    prep_s = time.perf_counter() - t0
    tokens = torch.from_numpy(prepared[0]).long()
    batches = list(tokens.split(spec.batch_size))
    n_tokens = tokens.numel()
    log(f"{adapter.name}: {len(tokens)} windows x {tokens.shape[1]} = {n_tokens} tokens (inputs in {prep_s:.2f} s)")

    tl = transformer_lens_twin(adapter)
    with torch.inference_mode():
        logits, cache = tl.run_with_cache(batches[0], names_filter=list(TL_HOOKS))
        ours = adapter.run(batches[0], SITES)
        for s, h in zip(SITES, TL_HOOKS, strict=True):
            torch.testing.assert_close(cache[h], ours[s], atol=1e-4, rtol=0)
        torch.testing.assert_close(logits, model(batches[0]), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(_tiny_to_site(model, batches[0], SITES[-1]), ours[SITES[-1]], atol=0, rtol=0)
    log("the TransformerLens twin matches our activations and logits (atol 1e-4); forward_to_site ends at the site")

    warm = max(1, min(4, len(batches)))
    warm_prepared = (prepared[0][: warm * spec.batch_size], *prepared[1:])
    bare_forward(model, batches[:warm])
    forward_to_site(adapter, batches[:warm], SITES[-1])
    hooked_forward(adapter, batches[:warm])
    our_harvest(adapter, spec, warm_prepared)
    tl_harvest(tl, batches[:warm], TL_HOOKS, spec)
    log("warmed up")

    runs: dict[str, Callable[[], float]] = {
        "harvest": lambda: our_harvest(adapter, spec, prepared),
        "harvest_in_line": lambda: our_harvest(adapter, spec, prepared, overlap=False),
        "bare": lambda: timed(bare_forward, model, batches),
        "forward_to_site": lambda: timed(forward_to_site, adapter, batches, SITES[-1]),
        "bare_no_unembed": lambda: timed(bare_forward_no_unembed, model, batches),
        "hooked_forward": lambda: timed(hooked_forward, adapter, batches),
        "tl": lambda: timed(tl_harvest, tl, batches, TL_HOOKS, spec),
    }
    if not args.fast:
        runs["tl_stop_at_layer"] = lambda: timed(tl_harvest, tl, batches, TL_HOOKS, spec, tl.cfg.n_layers)
    load_before = os.getloadavg()[0]
    secs = interleave(runs, args.repeats, args.budget, log, n_tokens)
    load_after = os.getloadavg()[0]
    parts = [stats_parts(adapter, batches, spec) for _ in range(3)]
    breakdown = {
        "harvest": round(min(secs["harvest"]), 3),
        "forward_to_site": round(min(secs["forward_to_site"]), 3),
        "forward_with_hooks": round(min(secs["hooked_forward"]), 3),
    } | {k: round(min(p[k] for p in parts), 3) for k in parts[0]}
    log("seconds (best of runs): " + ", ".join(f"{k} {v:.3f}" for k, v in breakdown.items()))
    spread = statistics.median(secs["bare"]) / min(secs["bare"])
    tps = {k: n_tokens / min(v) for k, v in secs.items()}
    base = {"bare_forward": "bare", "forward_to_site": "forward_to_site", "transformer_lens": "tl"}
    base |= {"bare_forward_no_unembed": "bare_no_unembed", "hooked_forward": "hooked_forward"}
    base["harvest_in_line"] = "harvest_in_line"  # > 1: the overlapped statistics are faster
    if "tl_stop_at_layer" in secs:
        base["transformer_lens_stop_at_layer"] = "tl_stop_at_layer"
    result = {
        "model": adapter.name,
        "tokens": n_tokens,
        "windows": len(tokens),
        "batch_size": spec.batch_size,
        "sites": list(SITES),
        "repeats": len(secs["harvest"]),
        "tokens_per_s": round(tps["harvest"]),
        **ratios(secs, "harvest", base),
        "tokens_per_s_best": {k: round(v) for k, v in tps.items()},
        "tokens_per_s_median": {k: round(n_tokens / statistics.median(v)) for k, v in secs.items()},
        "bare_forward_median_over_best": round(spread, 2),
        "seconds": breakdown,
        "inputs_s": round(prep_s, 2),
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],  # before / after the timed rounds
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }
    log(json.dumps(result))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated (default {','.join(MODELS)})")
    ap.add_argument("--windows", default="1024", help="comma-separated window counts of 64 tokens (1024 = 65k)")
    ap.add_argument("--million", action="store_true", help="also 16,384 windows (1M tokens; slow)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved timed rounds, at least (median reported)")
    ap.add_argument("--budget", type=float, default=0, help="seconds for extra rounds until bests are confirmed")
    ap.add_argument("--fast", action="store_true", help="skip the stop_at_layer TransformerLens variant")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(w) for w in args.windows.split(",")] + ([16384] if args.million else [])
    results = [bench(bench_adapter(m.strip()), w, args) for m in args.models.split(",") for w in sizes]
    first = results[0]
    summary = {
        "bench": "harvest",
        **{k: first[k] for k in ("model", "tokens", "tokens_per_s") if k in first},
        **{k: v for k, v in first.items() if k.startswith("ratio_vs_")},
        "goals": {"ratio_vs_forward_to_site": 0.85, "ratio_vs_bare_forward": 0.85, "ratio_vs_transformer_lens": 3},
        "threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "transformer_lens": importlib.metadata.version("transformer-lens"),
        "runs": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
