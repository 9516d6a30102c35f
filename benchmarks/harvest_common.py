"""Shared by the harvest benchmarks: the forward-to-site baselines, interleaved timing, per-round ratios.

The physical limit of a harvest is the forward it cannot avoid: the model run up to the last harvested site and
no further. ``forward_to_site`` measures it without any hook on a ``TinyTransformer`` (the blocks are called
by hand: embeddings, the blocks before the site's, then the site's block up to ``mlp.post`` or ``resid.post``);
for any other model ``forward_to_site_one_hook`` runs the model with one forward hook on the last site that
only stops the pass (no copy, no statistics: one Python call per batch).
"""

from __future__ import annotations

import contextlib
import re
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mirrorneuron.harvest.quantiles import QUANTILE_LEVELS
from mirrorneuron.harvest.run import HarvestSpec
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.transformer import TinyTransformer


class _Stop(Exception):
    pass


def _tiny_to_site(model: Any, tokens: torch.Tensor, site: str) -> torch.Tensor:
    m = re.fullmatch(r"blocks\.(\d+)\.(mlp\.post|resid\.post)", site)
    if m is None:
        raise ValueError(f"forward_to_site knows blocks.N.mlp.post / blocks.N.resid.post, not {site!r}")
    last = int(m.group(1))
    x = model.embed(tokens) + model.pos_embed(torch.arange(tokens.shape[1]))
    for block in model.blocks[:last]:
        x = block(x)
    block = model.blocks[last]
    if m.group(2) == "resid.post":
        return block(x)
    x = x + block.attn(block.ln1(x))
    mlp = block.mlp
    h = mlp.W_in(block.ln2(x))
    if mlp.act_fn == "relu":
        return F.relu(h)
    if mlp.act_fn == "gelu":
        return F.gelu(h)
    return mlp.ln(h * torch.softmax(h, dim=-1))


def forward_to_site(adapter: TorchAdapter, batches: Sequence[torch.Tensor], last_site: str) -> None:
    """The plain forward of a TinyTransformer up to ``last_site``, no hooks (see the module docstring)."""
    model = adapter.module
    assert isinstance(model, TinyTransformer)
    with torch.inference_mode():
        for tokens in batches:
            _tiny_to_site(model, tokens, last_site)


def forward_to_site_one_hook(adapter: TorchAdapter, batches: Sequence[torch.Tensor], last_site: str) -> None:
    """Any model: its own forward, stopped by a single do-nothing hook on ``last_site``."""

    def stop(*_: Any) -> None:
        raise _Stop

    handle = adapter.sites[last_site].register_forward_hook(stop)
    try:
        with torch.inference_mode():
            for tokens in batches:
                with contextlib.suppress(_Stop):
                    adapter.module(tokens)
    finally:
        handle.remove()


def last_site(adapter: TorchAdapter, sites: Sequence[str]) -> str:
    """The site the forward reaches last (sites are registered in forward order)."""
    order = adapter.site_names()
    return max(sites, key=order.index)


def timed(fn: Callable[..., Any], *args: Any) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def confirmed(times: list[float]) -> bool:
    return len(times) >= 2 and sorted(times)[1] <= 1.1 * min(times)


def interleave(
    runs: dict[str, Callable[[], float]], repeats: int, budget: float, log: Callable[[str], None], n_tokens: int
) -> dict[str, list[float]]:
    """At least ``repeats`` rounds of every run, the order rotating each round; more (within ``budget``
    seconds) until every run's best is confirmed by a second within 10 %. Returns each run's seconds by round."""
    secs: dict[str, list[float]] = {k: [] for k in runs}
    names = list(runs)
    t_start, r = time.perf_counter(), 0
    while r < repeats or (not all(confirmed(v) for v in secs.values()) and time.perf_counter() - t_start < budget):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            secs[name].append(runs[name]())
        r += 1
        log(f"repeat {r}: " + ", ".join(f"{k} {n_tokens / secs[k][-1]:,.0f} tok/s" for k in names))
    return secs


def ratios(secs: dict[str, list[float]], ours: str, baselines: dict[str, str]) -> dict[str, float]:
    """``ratio_vs_X``: the median over rounds of (baseline's time / ours) in the same round (how many times
    the baseline's tokens/s ours reaches); ``best_ratio_vs_X``: best time against best time."""
    out: dict[str, float] = {}
    for field, base in baselines.items():
        per_round = [b / o for o, b in zip(secs[ours], secs[base], strict=True)]
        out[f"ratio_vs_{field}"] = round(statistics.median(per_round), 3)
        out[f"best_ratio_vs_{field}"] = round(min(secs[base]) / min(secs[ours]), 3)
    return out


# ----------------------------------------------------------------------------------------- TransformerLens baseline
class NumpyStats:
    """A researcher's straightforward streaming stats on cached activations of one site."""

    def __init__(self, n_units: int, top_k: int, sample_rows: np.ndarray) -> None:
        self.n, self.k = 0, top_k
        self.sum = np.zeros(n_units)
        self.sumsq = np.zeros(n_units)
        self.min = np.full(n_units, np.inf, dtype=np.float32)
        self.max = np.full(n_units, -np.inf, dtype=np.float32)
        self.npos = np.zeros(n_units, dtype=np.int64)
        self.top_vals = np.empty((0, n_units), dtype=np.float32)
        self.top_idx = np.empty((0, n_units), dtype=np.int64)
        self.sample_rows = sample_rows  # sorted global token indices of a uniform random sample
        self.fp16: list[np.ndarray] = []
        self.sample: list[np.ndarray] = []

    def update(self, acts: np.ndarray) -> None:
        n = acts.shape[0]
        x = acts.astype(np.float64)
        self.sum += x.sum(0)
        self.sumsq += (x * x).sum(0)
        np.minimum(self.min, acts.min(0), out=self.min)
        np.maximum(self.max, acts.max(0), out=self.max)
        self.npos += (acts > 0).sum(0)
        vals = np.concatenate([self.top_vals, acts])
        idx = np.concatenate([self.top_idx, np.broadcast_to(np.arange(self.n, self.n + n)[:, None], acts.shape)])
        if len(vals) > self.k:
            part = np.argpartition(-vals, self.k - 1, axis=0)[: self.k]
            vals, idx = np.take_along_axis(vals, part, 0), np.take_along_axis(idx, part, 0)
        self.top_vals, self.top_idx = vals, idx
        self.fp16.append(acts.astype(np.float16))
        lo, hi = np.searchsorted(self.sample_rows, [self.n, self.n + n])
        self.sample.append(acts[self.sample_rows[lo:hi] - self.n])
        self.n += n

    def finalize(self) -> dict[str, np.ndarray]:
        mean = self.sum / self.n
        order = np.argsort(-self.top_vals, axis=0, kind="stable")
        return {
            "mean": mean,
            "var": self.sumsq / self.n - mean**2,
            "frac_pos": self.npos / self.n,
            "top_values": np.take_along_axis(self.top_vals, order, 0).T,
            "quantiles": np.quantile(np.concatenate(self.sample), QUANTILE_LEVELS, axis=0).T,
        }


def tl_harvest(
    tl: Any,
    batches: list[torch.Tensor],
    hooks: Sequence[str],
    spec: HarvestSpec,
    stop_at_layer: int | None = None,
    prefix: torch.Tensor | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """TransformerLens ``run_with_cache`` on ``hooks`` per batch plus ``NumpyStats``; ``prefix`` (a BOS) is
    prepended to every window and left out of the statistics."""
    total = sum(b.numel() for b in batches)
    rows = np.sort(np.random.default_rng(spec.seed).choice(total, min(spec.sample_size, total), replace=False))
    stats = {h: NumpyStats(tl.cfg.d_mlp, spec.top_k, rows) for h in hooks}
    skip = 0 if prefix is None else prefix.numel()
    with torch.inference_mode():
        for tokens in batches:
            if prefix is not None:
                tokens = torch.cat([prefix.expand(tokens.shape[0], -1), tokens], dim=1)
            _, cache = tl.run_with_cache(tokens, names_filter=list(hooks), stop_at_layer=stop_at_layer)
            for h in hooks:
                a = cache[h][:, skip:]
                stats[h].update(a.reshape(-1, a.shape[-1]).numpy())
    return {h: s.finalize() for h, s in stats.items()}
