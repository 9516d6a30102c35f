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
    bits = (values + 0.0).contiguous().view(torch.int32).to(torch.int64)
    ordered = torch.where(bits < 0, bits ^ 0x7FFF_FFFF, bits)  # monotone in the float value
    return (2**31 - 1) - ordered


class RunningTopK:
    """Per-unit top-``k`` values [U, k'] (float32) and their global token indices (int64), k' <= k."""

    def __init__(self, n_units: int, k: int) -> None:
        self.n_units, self.k = n_units, k
        self.values = torch.empty((n_units, 0))
        self.indices = torch.empty((n_units, 0), dtype=torch.int64)

    def update(self, x: torch.Tensor, base: int, blockmax: torch.Tensor, colmax: torch.Tensor) -> None:
        """Offer ``x`` [n, U] (row r = token ``base + r``) given its ``block_max``."""
        k, (n, n_units) = self.k, x.shape
        if k == 0:
            return
        if self.values.shape[1] < k:  # still filling up: every unit takes its batch top-min(k, n)
            mask = self._batch_top_mask(x) if n > k else torch.ones_like(x, dtype=torch.bool)
            rows, units = mask.nonzero(as_tuple=True)  # row-major: increasing token index per unit
            self._merge(x[rows, units], rows + base, units)
            return
        # On equality the running entry wins (it has the smaller index).
        kth = self.values[:, -1]
        if not bool((colmax > kth).any()):
            return
        hot_b, hot_u = (blockmax > kth).nonzero(as_tuple=True)
        if hot_b.numel() * BLOCK > n * n_units // 8:  # dense: one pass over the whole batch
            mask = torch.from_numpy(np.greater(x.numpy(), kth.numpy()))
            if int(mask.count_nonzero()) > 4 * k * n_units:
                mask &= self._batch_top_mask(x)
            rows, units = mask.nonzero(as_tuple=True)
        else:  # sparse: look only inside the hot (block, unit) pairs, then the tail rows
            nb = blockmax.shape[0]
            vals = x[: nb * BLOCK].view(nb, BLOCK, n_units)[hot_b, :, hot_u]  # [pairs, BLOCK]
            pair, offset = (vals > kth[hot_u, None]).nonzero(as_tuple=True)
            tail_rows, tail_units = (x[nb * BLOCK :] > kth).nonzero(as_tuple=True)
            rows = torch.cat([hot_b[pair] * BLOCK + offset, tail_rows + nb * BLOCK])
            units = torch.cat([hot_u[pair], tail_units])
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

    def _batch_top_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Mask of exactly min(k, n) entries per column: its top ones by (value desc, row asc)."""
        kk, xn = min(self.k, x.shape[0]), x.numpy()
        kth = torch.topk(x, kk, dim=0, sorted=False).values.amin(0).numpy()
        above, tied = xn > kth, xn == kth
        need = kk - column_counts(above)
        if (column_counts(tied) > need).any():  # keep only the earliest `need` ties at the cut
            tied &= np.cumsum(tied, axis=0, dtype=np.int32) <= need
        return torch.from_numpy(above | tied)

    def _merge(self, vals: torch.Tensor, idx: torch.Tensor, units: torch.Tensor) -> None:
        """Exact merge of candidates into the running top-k of the units they belong to."""
        k, k_cur = self.k, self.values.shape[1]
        active = torch.unique(units)
        n_act = active.numel()
        lut = torch.empty(self.n_units, dtype=torch.int64)
        lut[active] = torch.arange(n_act)
        # Running entries first: for equal (unit, value) the concatenation is then in increasing index order,
        # so a stable sort on (unit, value desc) realises the full (unit, value desc, index asc) order.
        all_vals = torch.cat([self.values[active].reshape(-1), vals])
        all_idx = torch.cat([self.indices[active].reshape(-1), idx])
        local = torch.cat([torch.arange(n_act).repeat_interleave(k_cur), lut[units]])
        order = torch.sort((local << 32) | _desc_key(all_vals), stable=True).indices
        counts = torch.bincount(local, minlength=n_act)
        starts = counts.cumsum(0) - counts
        rank = torch.arange(order.numel()) - starts[local[order]]
        keep = order[rank < k]
        k_new = min(k, int(counts.min()))
        if keep.numel() != n_act * k_new:
            raise RuntimeError("top-k merge produced a ragged result")  # unreachable for NaN-free input
        new_vals, new_idx = all_vals[keep].view(n_act, k_new), all_idx[keep].view(n_act, k_new)
        if k_new == k_cur:
            self.values[active] = new_vals
            self.indices[active] = new_idx
        elif n_act == self.n_units:  # still filling up: every unit got the same number of candidates
            self.values, self.indices = new_vals, new_idx
        else:
            raise RuntimeError("top-k grew for a subset of units")  # unreachable for NaN-free input
