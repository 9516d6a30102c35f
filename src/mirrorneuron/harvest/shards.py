"""How a harvest's windows are cut into shards and batches, and a shard's forward passes: the one definition
every engine uses (``run`` here, ``ray_engine`` on actors), so both write the same cache."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from mirrorneuron.models.adapter import TorchAdapter

ShardActs = Iterator[tuple[int, int, dict[str, torch.Tensor]]]  # (window lo, hi, site -> float32 [B, P, U])


def shard_bounds(shard: int, shard_windows: int, total: int) -> tuple[int, int]:
    """The windows [lo, hi) of ``shard``."""
    return shard * shard_windows, min((shard + 1) * shard_windows, total)


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """How ``n`` windows of a shard are cut into batches: [lo, hi) of each (batches never cross shards)."""
    return [(b, min(b + batch_size, n)) for b in range(0, n, batch_size)]


def shard_batches(adapter: TorchAdapter, inputs: np.ndarray, sites: Sequence[str], batch_size: int) -> ShardActs:
    """The forward passes of one shard's ``inputs``: (lo, hi, activations) of each batch, relative to the shard
    (the stats are batch-size independent, but the float32 activations of a batch may depend on what else is
    in it, so every engine cuts the same batches)."""
    for b, e in batch_bounds(len(inputs), batch_size):
        yield b, e, adapter.run(adapter.to_tensor(inputs[b:e]), sites)
