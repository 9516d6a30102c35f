"""The Ray engine of a harvest (``mirrorneuron harvest … --engine ray [--address …]``).

Design, chosen for exactness: a Ray Data actor pool does the forward passes, the driver does everything else.
Each actor holds one copy of the model (the adapter is put in the object store once and loaded in the actor's
constructor); a dataset row is one shard's input windows, and an actor runs that shard's batches exactly as the
local engine does (``run.shard_batches``) and returns their float32 activations. The driver takes the shards
back in shard order and feeds the very same batches to the very same accumulators, writes the same shard
files, saves the same resumable state and finalises the same stats: the cache is byte-identical to the local
engine's, and resuming works the same way (a harvest started on one engine can be finished on the other).

The alternative, actors returning per-shard accumulator states merged on the driver (``harvest.merge``), would
spare the driver the statistics but not make them identical: the float64 mean and variance of a merge agree
with the streaming ones only to rounding. The forward pass is the expensive part, so it is what is spread.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import ray
import torch

from mirrorneuron.harvest.shards import ShardActs, batch_bounds, shard_batches, shard_bounds
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.types import UserError

if TYPE_CHECKING:  # run imports this module (the engine dispatch): at run time only the other way
    from mirrorneuron.harvest.run import HarvestSpec

_QUIET = {"enable_progress_bars": False, "print_on_execution_start": False, "enable_auto_log_stats": False}


class ShardForward:
    """A Ray Data actor: one model, the forward passes of one shard per call."""

    def __init__(self, adapter: Any, sites: Sequence[str], batch_size: int) -> None:
        # the driver's adapter, put in the object store once (weights, tokenizer and all: any adapter works)
        self.adapter: TorchAdapter = ray.get(adapter) if isinstance(adapter, ray.ObjectRef) else adapter
        self.sites, self.batch_size = list(sites), batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        (shard,), (inputs,) = batch["shard"], batch["inputs"]
        out: dict[str, list[torch.Tensor]] = {s: [] for s in self.sites}
        for _, _, acts in shard_batches(self.adapter, np.array(inputs), self.sites, self.batch_size):
            for s in self.sites:
                out[s].append(acts[s])
        # one row per shard; sites are numbered columns (site names hold dots, which Arrow columns may not)
        return {
            "shard": np.array([shard]),
            **{f"site{i}": torch.cat(out[s]).numpy()[None] for i, s in enumerate(self.sites)},
        }


def _connect(address: str | None) -> bool:
    """Join ``address`` (or start a local Ray) unless this process is already in a Ray session; True if this
    call started the session (and so should end it)."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise UserError(f"cannot start or reach Ray at {address or 'a new local cluster'}: {e}") from None
    return True


@contextmanager
def _quiet_ordered_data() -> Iterator[None]:
    """Ray Data keeps the shards in order and prints no progress of its own (the CLI has its bar)."""
    ctx, log = ray.data.DataContext.get_current(), logging.getLogger("ray.data")
    saved = {k: getattr(ctx, k) for k in _QUIET}, ctx.execution_options.preserve_order, log.level
    for k, v in _QUIET.items():
        setattr(ctx, k, v)
    ctx.execution_options.preserve_order = True
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for k, v in saved[0].items():
            setattr(ctx, k, v)
        ctx.execution_options.preserve_order = saved[1]
        log.setLevel(saved[2])


def ray_forward(
    address: str | None,
    adapter: TorchAdapter,
    inputs: np.ndarray,
    sites: Sequence[str],
    spec: HarvestSpec,
    shards: range,
) -> Generator[ShardActs, None, None]:
    """Per shard of ``shards``, in order, its batches (window lo, hi, float32 activations), computed on Ray."""
    if not shards:
        return
    started = _connect(address)
    try:
        with _quiet_ordered_data():
            rows = [
                {"shard": k, "inputs": inputs[slice(*shard_bounds(k, spec.shard_windows, len(inputs)))]} for k in shards
            ]
            actors = max(1, min(len(rows), int(ray.cluster_resources().get("CPU", 1))))
            results = ray.data.from_items(rows).map_batches(
                ShardForward,
                fn_constructor_kwargs={
                    "adapter": ray.put(adapter),
                    "sites": list(sites),
                    "batch_size": spec.batch_size,
                },
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
                num_cpus=1,
            )
            for expected, row in zip(shards, results.iter_rows(), strict=True):
                if int(row["shard"]) != expected:
                    raise RuntimeError(f"Ray returned shard {row['shard']} where shard {expected} was due")
                lo, _ = shard_bounds(expected, spec.shard_windows, len(inputs))
                acts = {s: torch.from_numpy(np.array(row[f"site{i}"])) for i, s in enumerate(sites)}
                cuts = batch_bounds(len(acts[sites[0]]), spec.batch_size)
                yield ((lo + b, lo + e, {s: a[b:e] for s, a in acts.items()}) for b, e in cuts)
    finally:
        if started:
            ray.shutdown()
