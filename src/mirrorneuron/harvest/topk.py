"""Exact running per-unit top-k of a stream of activations, with a cheap pre-filter.

Entries are ordered by (value desc, global token index asc), so ties go to the earliest token and the result
never depends on how the stream was batched. Once every unit holds k entries, a batch value can only enter by
beating its unit's k-th value strictly; blocks of ``BLOCK`` rows whose max does not beat it are skipped.
"""

from __future__ import annotations

import numpy as np
import torch

BLOCK = 64  # rows per block for the top-k pre-filter


def block_max(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max of each full block of ``BLOCK`` rows per unit ([n // BLOCK, U]) and the column max ([U])."""
    nb = x.shape[0] // BLOCK
    blockmax = x[: nb * BLOCK].reshape(nb, BLOCK, x.shape[1]).max(1)
    if nb * BLOCK == x.shape[0]:
        return blockmax, blockmax.max(0)
    tail = x[nb * BLOCK :].max(0)
    return blockmax, np.maximum(blockmax.max(0), tail) if nb else tail


def column_counts(mask: np.ndarray) -> np.ndarray:
    """Per-column count of a bool [n, U] array (uint8 partial sums of 255 rows: ~10x faster than .sum(0))."""
    pos = mask.view(np.uint8)
    full = (mask.shape[0] // 255) * 255
    counts = pos[full:].sum(0, dtype=np.int64)
    if full:
        chunks = np.add.reduce(pos[:full].reshape(-1, 255, mask.shape[1]), axis=1, dtype=np.uint8)
        counts += chunks.sum(0, dtype=np.int64)
    return counts


def _desc_key(values: torch.Tensor) -> torch.Tensor:
    """int64 in [0, 2^32) that sorts float32 values descending (-0.0 and +0.0 compare equal)."""
    return torch.from_numpy(_desc_key_np(values.numpy()))


def _desc_key_np(values: np.ndarray) -> np.ndarray:
    bits = (values + np.float32(0.0)).view(np.int32).astype(np.int64)  # + 0.0 turns -0.0 into +0.0
    ordered = np.where(bits < 0, bits ^ 0x7FFF_FFFF, bits)  # monotone in the float value
    return (2**31 - 1) - ordered


class RunningTopK:
    """Per-unit top-``k`` values [U, k'] (float32) and their global token indices (int64), k' <= k.

    The per-batch work is numpy on views of these tensors: it is a few dozen small operations per batch, and
    numpy's per-call overhead is a fraction of torch's (docs/benchmarks.md, "Harvest statistics, round 3").
    """

    def __init__(self, n_units: int, k: int) -> None:
        self.n_units, self.k = n_units, k
        self.values = torch.empty((n_units, 0))
        self.indices = torch.empty((n_units, 0), dtype=torch.int64)

    def update(self, x: np.ndarray, base: int, blockmax: np.ndarray, colmax: np.ndarray) -> None:
        """Offer ``x`` float32 [n, U] (row r = token ``base + r``) given its ``block_max``."""
        k, (n, n_units) = self.k, x.shape
        if k == 0:
            return
        if self.values.shape[1] < k:  # still filling up: every unit takes its batch top-min(k, n)
            mask = self._batch_top_mask(x) if n > k else np.ones(x.shape, dtype=bool)
            rows, units = np.nonzero(mask)  # row-major: increasing token index per unit
            self._merge(x[rows, units], rows + base, units)
            return
        # On equality the running entry wins (it has the smaller index).
        kth = np.ascontiguousarray(self.values[:, -1].numpy())  # broadcasting a strided row is ~10x slower
        if not bool((colmax > kth).any()):
            return
        hot_b, hot_u = np.nonzero(blockmax > kth)
        if hot_b.size * BLOCK > n * n_units // 8:  # dense: one pass over the whole batch
            mask = x > kth
            if int(np.count_nonzero(mask)) > 4 * k * n_units:
                mask &= self._batch_top_mask(x)
            rows, units = np.nonzero(mask)
        else:  # sparse: look only inside the hot (block, unit) pairs, then the tail rows
            nb = blockmax.shape[0]
            vals = x[: nb * BLOCK].reshape(nb, BLOCK, n_units)[hot_b, :, hot_u]  # [pairs, BLOCK]
            pair, offset = np.nonzero(vals > kth[hot_u, None])
            tail_rows, tail_units = np.nonzero(x[nb * BLOCK :] > kth)
            rows = np.concatenate([hot_b[pair] * BLOCK + offset, tail_rows + nb * BLOCK])
            units = np.concatenate([hot_u[pair], tail_units])
        self._merge(x[rows, units], rows + base, units)

    def merge(self, other: RunningTopK) -> None:
        """Fold in the top-k of other tokens: the first k of the union by (value desc, index asc), i.e. exactly
        the top-k of the tokens of both, whatever order they came in."""
        if other.values.shape[1] == 0:
            return
        vals = torch.cat([self.values, other.values], 1)
        idx = torch.cat([self.indices, other.indices], 1)
        by_index = torch.sort(idx, dim=1, stable=True).indices  # then a stable sort by value keeps index order
        vals, idx = vals.gather(1, by_index), idx.gather(1, by_index)
        top = torch.sort(_desc_key(vals), dim=1, stable=True).indices[:, : self.k]
        self.values, self.indices = vals.gather(1, top), idx.gather(1, top)

    def _batch_top_mask(self, x: np.ndarray) -> np.ndarray:
        """Mask of exactly min(k, n) entries per column: its top ones by (value desc, row asc)."""
        n = x.shape[0]
        kk = min(self.k, n)
        xt = torch.empty((x.shape[1], n)).copy_(torch.from_numpy(x).t()).numpy()  # a copy: ~2x numpy's .T.copy()
        xt.partition(n - kk, axis=1)  # selection along rows: ~10x torch.topk along the token axis
        kth = np.ascontiguousarray(xt[:, n - kk])
        above, tied = x > kth, x == kth
        need = kk - column_counts(above)
        cols = np.flatnonzero(column_counts(tied) > need)  # keep only the earliest `need` ties at the cut
        if cols.size:
            sub = tied[:, cols]
            tied[:, cols] = np.cumsum(sub, axis=0, dtype=np.int32) <= need[cols]
            tied[:, cols] &= sub
        return above | tied

    def _merge(self, vals: np.ndarray, idx: np.ndarray, units: np.ndarray) -> None:
        """Exact merge of candidates into the running top-k of the units they belong to."""
        k, k_cur = self.k, self.values.shape[1]
        active = np.unique(units)
        n_act = active.size
        lut = np.empty(self.n_units, dtype=np.int64)
        lut[active] = np.arange(n_act)
        # Running entries first: for equal (unit, value) the concatenation is then in increasing index order,
        # so a stable sort on (unit, value desc) realises the full (unit, value desc, index asc) order.
        cur_v, cur_i = self.values.numpy(), self.indices.numpy()
        all_vals = np.concatenate([cur_v[active].reshape(-1), vals])
        all_idx = np.concatenate([cur_i[active].reshape(-1), idx])
        local = np.concatenate([np.repeat(np.arange(n_act), k_cur), lut[units]])
        order = np.argsort((local << 32) | _desc_key_np(all_vals), kind="stable")
        counts = np.bincount(local, minlength=n_act)
        starts = np.cumsum(counts) - counts
        rank = np.arange(order.size) - starts[local[order]]
        keep = order[rank < k]
        k_new = min(k, int(counts.min()))
        if keep.size != n_act * k_new:
            raise RuntimeError("top-k merge produced a ragged result")  # unreachable for NaN-free input
        new_vals, new_idx = all_vals[keep].reshape(n_act, k_new), all_idx[keep].reshape(n_act, k_new)
        if k_new == k_cur:
            cur_v[active] = new_vals
            cur_i[active] = new_idx
        elif n_act == self.n_units:  # still filling up: every unit got the same number of candidates
            self.values, self.indices = torch.from_numpy(new_vals), torch.from_numpy(new_idx)
        else:
            raise RuntimeError("top-k grew for a subset of units")  # unreachable for NaN-free input
