"""Streaming per-unit statistics for one harvest site (DESIGN.md §4, §6).

`SiteAccumulator` sees the activations of one site batch by batch (rows = tokens, columns = units) and keeps:

- exact count / mean / population variance (Chan et al. parallel merge in float64), min, max, fraction > 0;
- per-unit top-k values with their global token indices, ordered by (value desc, index asc), so ties are
  broken towards the earliest token and the result never depends on how the stream was batched;
- a uniform random sample of token positions, shared by all units: every global token index gets a
  deterministic pseudo-random priority (splitmix64 of index and seed) and the `sample_size` indices with the
  smallest priority are kept (bottom-k sampling) together with their full activation rows. Quantiles are
  exact quantiles of that sample, so they equal the exact quantiles of all data while count <= sample_size.

Everything is resumable: `from_state_dict(acc.state_dict())` continues bit-identically.
"""

from __future__ import annotations

import numpy as np
import torch

QUANTILE_LEVELS: np.ndarray = np.array([0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])

_U64 = 0xFFFF_FFFF_FFFF_FFFF
_GOLDEN = np.uint64(0x9E37_79B9_7F4A_7C15)
_BLOCK = 64  # rows per block for the top-k pre-filter


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer (a bijection of uint64), vectorised; integer overflow wraps as intended."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58_476D_1CE4_E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D0_49BB_1331_11EB)
    return z ^ (z >> np.uint64(31))


def token_priority(indices: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic pseudo-random uint64 priority of each global token index (smaller = sampled first)."""
    salt = _mix64(np.array([seed & _U64], dtype=np.uint64))
    return _mix64(np.asarray(indices, dtype=np.int64).astype(np.uint64) * _GOLDEN + salt)


def _block_max(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max of each full block of `_BLOCK` rows per unit ([n // _BLOCK, U]) and the column max ([U])."""
    nb = x.shape[0] // _BLOCK
    blockmax = x[: nb * _BLOCK].reshape(nb, _BLOCK, x.shape[1]).max(1)
    if nb * _BLOCK == x.shape[0]:
        return blockmax, blockmax.max(0)
    tail = x[nb * _BLOCK :].max(0)
    return blockmax, np.maximum(blockmax.max(0), tail) if nb else tail


def _column_counts(mask: np.ndarray) -> np.ndarray:
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


class SiteAccumulator:
    """Batch-size-independent, resumable streaming statistics of one site's `n_units` activations."""

    def __init__(self, n_units: int, top_k: int = 20, sample_size: int = 16384, seed: int = 0) -> None:
        if n_units < 1 or top_k < 0 or sample_size < 0 or not -(2**63) <= seed < 2**63:
            raise ValueError("n_units must be >= 1, top_k and sample_size >= 0, seed a 64-bit integer")
        self.n_units, self.top_k, self.sample_size, self.seed = n_units, top_k, sample_size, seed
        self.count = 0
        self.next_index: int | None = None  # global index the next update must start at
        self._mean = torch.zeros(n_units, dtype=torch.float64)
        self._m2 = torch.zeros(n_units, dtype=torch.float64)
        self._min = torch.full((n_units,), float("inf"))
        self._max = torch.full((n_units,), float("-inf"))
        self._npos = torch.zeros(n_units, dtype=torch.int64)
        self._top_vals = torch.empty((n_units, 0))
        self._top_idx = torch.empty((n_units, 0), dtype=torch.int64)
        self._n_sample = 0  # rows [0, _n_sample) of the reservoir are filled; slot order is arbitrary
        self._sample_vals = torch.empty((sample_size, n_units))
        self._sample_idx = np.empty(sample_size, dtype=np.int64)
        self._sample_prio = np.empty(sample_size, dtype=np.uint64)

    # ------------------------------------------------------------------ update
    def update(self, acts: torch.Tensor, first_index: int) -> None:
        """Add `acts` (float32 [n_tokens, n_units]); row r is global token `first_index + r`."""
        if acts.ndim != 2 or acts.shape[1] != self.n_units:
            raise ValueError(f"expected shape [n_tokens, {self.n_units}], got {tuple(acts.shape)}")
        if first_index < 0 or (self.next_index is not None and first_index != self.next_index):
            raise ValueError(f"batch starts at token {first_index}; expected {self.next_index}")
        x = acts.detach().to(device="cpu", dtype=torch.float32).contiguous()
        n = x.shape[0]
        if n == 0:
            self.next_index = first_index
            return
        # numpy reductions along the token axis are ~3x faster than torch's here (and single-threaded)
        xn = x.numpy()
        blockmax_np, colmax_np = _block_max(xn)
        blockmax, colmax = torch.from_numpy(blockmax_np), torch.from_numpy(colmax_np)
        if bool(np.isnan(colmax_np).any()):
            raise ValueError("activations contain NaN")
        self._update_moments(x)
        torch.minimum(self._min, torch.from_numpy(xn.min(0)), out=self._min)
        torch.maximum(self._max, colmax, out=self._max)
        self._npos += torch.from_numpy(_column_counts(xn > 0))
        self._update_topk(x, first_index, blockmax, colmax)
        self._update_sample(x, first_index)
        self.count += n
        self.next_index = first_index + n

    def _update_moments(self, x: torch.Tensor) -> None:
        n = x.shape[0]
        ones = torch.ones((1, n), dtype=torch.float64)
        x64 = x.to(torch.float64)
        bmean = (ones @ x64).squeeze(0) / n  # token-axis reductions are fastest as a matrix product
        x64 -= bmean
        bm2 = (ones @ x64.square_()).squeeze(0)
        total = self.count + n
        delta = bmean - self._mean
        self._mean += delta * (n / total)
        self._m2 += bm2 + delta.square() * (self.count * n / total)

    def _update_topk(self, x: torch.Tensor, base: int, blockmax: torch.Tensor, colmax: torch.Tensor) -> None:
        k, (n, n_units) = self.top_k, x.shape
        if k == 0:
            return
        if self._top_vals.shape[1] < k:  # still filling up: every unit takes its batch top-min(k, n)
            mask = self._batch_top_mask(x) if n > k else torch.ones_like(x, dtype=torch.bool)
            rows, units = mask.nonzero(as_tuple=True)  # row-major: increasing token index per unit
            self._merge_topk(x[rows, units], rows + base, units)
            return
        # Full: a batch value can only enter by beating the unit's k-th value strictly (on equality the
        # running entry wins, it has the smaller index). Blocks whose max does not beat it are skipped.
        kth = self._top_vals[:, -1]
        if not bool((colmax > kth).any()):
            return
        hot_b, hot_u = (blockmax > kth).nonzero(as_tuple=True)
        if hot_b.numel() * _BLOCK > n * n_units // 8:  # dense: one pass over the whole batch
            mask = torch.from_numpy(np.greater(x.numpy(), kth.numpy()))
            if int(mask.count_nonzero()) > 4 * k * n_units:
                mask &= self._batch_top_mask(x)
            rows, units = mask.nonzero(as_tuple=True)
        else:  # sparse: look only inside the hot (block, unit) pairs, then the tail rows
            nb = blockmax.shape[0]
            vals = x[: nb * _BLOCK].view(nb, _BLOCK, n_units)[hot_b, :, hot_u]  # [pairs, _BLOCK]
            pair, offset = (vals > kth[hot_u, None]).nonzero(as_tuple=True)
            tail_rows, tail_units = (x[nb * _BLOCK :] > kth).nonzero(as_tuple=True)
            rows = torch.cat([hot_b[pair] * _BLOCK + offset, tail_rows + nb * _BLOCK])
            units = torch.cat([hot_u[pair], tail_units])
        self._merge_topk(x[rows, units], rows + base, units)

    def _batch_top_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Mask of exactly min(k, n) entries per column: its top ones by (value desc, row asc)."""
        kk, xn = min(self.top_k, x.shape[0]), x.numpy()
        kth = torch.topk(x, kk, dim=0, sorted=False).values.amin(0).numpy()
        above, tied = xn > kth, xn == kth
        need = kk - _column_counts(above)
        if (_column_counts(tied) > need).any():  # keep only the earliest `need` ties at the cut
            tied &= np.cumsum(tied, axis=0, dtype=np.int32) <= need
        return torch.from_numpy(above | tied)

    def _merge_topk(self, vals: torch.Tensor, idx: torch.Tensor, units: torch.Tensor) -> None:
        """Exact merge of candidates into the running top-k of the units they belong to."""
        k, k_cur = self.top_k, self._top_vals.shape[1]
        active = torch.unique(units)
        n_act = active.numel()
        lut = torch.empty(self.n_units, dtype=torch.int64)
        lut[active] = torch.arange(n_act)
        # Running entries first: for equal (unit, value) the concatenation is then in increasing index order,
        # so a stable sort on (unit, value desc) realises the full (unit, value desc, index asc) order.
        all_vals = torch.cat([self._top_vals[active].reshape(-1), vals])
        all_idx = torch.cat([self._top_idx[active].reshape(-1), idx])
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
            self._top_vals[active] = new_vals
            self._top_idx[active] = new_idx
        elif n_act == self.n_units:  # still filling up: every unit got the same number of candidates
            self._top_vals, self._top_idx = new_vals, new_idx
        else:
            raise RuntimeError("top-k grew for a subset of units")  # unreachable for NaN-free input

    def _update_sample(self, x: torch.Tensor, base: int) -> None:
        cap, n = self.sample_size, x.shape[0]
        if cap == 0:
            return
        idx = np.arange(base, base + n, dtype=np.int64)
        prio = token_priority(idx, self.seed)
        start = 0
        if self._n_sample < cap:  # not full yet: take rows as they come
            cur = self._n_sample
            start = min(cap - cur, n)
            self._sample_vals[cur : cur + start] = x[:start]
            self._sample_idx[cur : cur + start] = idx[:start]
            self._sample_prio[cur : cur + start] = prio[:start]
            self._n_sample += start
            if start == n:
                return
        # Full: only rows whose priority beats the current worst one are candidates (new indices lose ties).
        cand = np.flatnonzero(prio[start:] < self._sample_prio.max()) + start
        if cand.size == 0:
            return
        merged = np.concatenate([self._sample_prio, prio[cand]])
        keep = merged <= merged[np.argpartition(merged, cap - 1)[cap - 1]]
        if int(keep.sum()) != cap:  # equal priorities at the cut (practically never): break ties by index
            order = np.lexsort((np.concatenate([self._sample_idx, idx[cand]]), merged))
            keep = np.zeros(merged.size, dtype=bool)
            keep[order[:cap]] = True
        evict = np.flatnonzero(~keep[:cap])
        accept = cand[keep[cap:]]
        self._sample_vals[torch.from_numpy(evict)] = x[torch.from_numpy(accept)]
        self._sample_idx[evict] = idx[accept]
        self._sample_prio[evict] = prio[accept]

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything needed to resume, as plain contiguous CPU tensors (safetensors-serialisable)."""
        ns, nxt = self._n_sample, -1 if self.next_index is None else self.next_index
        return {
            "config": torch.tensor([self.n_units, self.top_k, self.sample_size, self.seed]),
            "count": torch.tensor([self.count]),
            "next_index": torch.tensor([nxt]),
            "mean": self._mean.clone(),
            "m2": self._m2.clone(),
            "min": self._min.clone(),
            "max": self._max.clone(),
            "npos": self._npos.clone(),
            "top_values": self._top_vals.contiguous().clone(),
            "top_indices": self._top_idx.contiguous().clone(),
            "sample_indices": torch.from_numpy(self._sample_idx[:ns].copy()),
            "sample_values": self._sample_vals[:ns].clone(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> SiteAccumulator:
        n_units, top_k, sample_size, seed = (int(v) for v in state["config"].tolist())
        acc = cls(n_units, top_k=top_k, sample_size=sample_size, seed=seed)
        acc.count = int(state["count"].item())
        next_index = int(state["next_index"].item())
        acc.next_index = None if next_index < 0 else next_index
        for name in ("mean", "m2", "min", "max", "npos"):
            getattr(acc, f"_{name}").copy_(state[name])
        acc._top_vals = state["top_values"].to(torch.float32).clone()
        acc._top_idx = state["top_indices"].to(torch.int64).clone()
        ns = state["sample_indices"].numel()
        if acc._top_vals.shape[0] != n_units or ns > sample_size:
            raise ValueError("inconsistent SiteAccumulator state")
        acc._n_sample = ns
        acc._sample_idx[:ns] = state["sample_indices"].numpy()
        acc._sample_prio[:ns] = token_priority(acc._sample_idx[:ns], seed)
        acc._sample_vals[:ns] = state["sample_values"]
        return acc

    # ------------------------------------------------------------------ results
    def finalize(self, levels: np.ndarray = QUANTILE_LEVELS) -> dict[str, np.ndarray]:
        """Per-unit results; quantiles are exact (numpy linear) quantiles of the float64 sample values."""
        levels = np.asarray(levels, dtype=np.float64)
        c, ns, u = self.count, self._n_sample, self.n_units
        order = np.argsort(self._sample_idx[:ns], kind="stable")
        sample_values = self._sample_vals[:ns].numpy()[order]
        quantiles = np.quantile(sample_values.astype(np.float64), levels, axis=0).T if ns else None
        moments = (self._mean, self._m2 / max(c, 1), self._min, self._max, self._npos.double() / max(c, 1))
        per_unit = dict(zip(("mean", "var", "min", "max", "frac_pos"), moments, strict=True))
        return {
            "count": np.array(c, dtype=np.int64),
            **{k: v.numpy().astype(np.float64) if c else np.full(u, np.nan) for k, v in per_unit.items()},
            "quantiles": np.full((u, levels.size), np.nan) if quantiles is None else quantiles.copy(),
            "levels": levels.copy(),
            "top_values": self._top_vals.numpy().copy(),
            "top_indices": self._top_idx.numpy().copy(),
            "sample_indices": self._sample_idx[:ns][order],
            "sample_values": sample_values,
        }


def _timing_check(n_tokens: int = 4096, n_units: int = 512, n_batches: int = 60) -> None:
    """By hand: `python -m mirrorneuron.harvest.stats [threads]`; ms per update on ReLU-like data."""
    import sys
    import time

    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads())
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randn(n_tokens, n_units, generator=gen).relu_() for _ in range(n_batches)]
    acc, ms = SiteAccumulator(n_units), []
    for i, b in enumerate(batches):
        t0 = time.perf_counter()
        acc.update(b, i * n_tokens)
        ms.append(1e3 * (time.perf_counter() - t0))
    base = []  # baseline in the same run (noisy machine): one float64 copy of a batch
    for b in batches[-20:]:
        t0 = time.perf_counter()
        b.double()
        base.append(1e3 * (time.perf_counter() - t0))
    print(
        f"[{n_tokens}, {n_units}] threads={torch.get_num_threads()} first={ms[0]:.1f} ms "
        f"median(2-20)={np.median(ms[1:20]):.2f} median(40-60)={np.median(ms[40:]):.2f} ms "
        f"baseline x.double()={np.median(base):.2f} ms"
    )


if __name__ == "__main__":
    _timing_check()
