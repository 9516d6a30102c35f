"""A uniform random sample of token positions shared by all units of a site (bottom-k sampling).

Every global token index gets a deterministic pseudo-random priority (splitmix64 of index and seed) and the
``size`` indices with the smallest priority are kept with their full activation rows, so the sample never
depends on how the stream was batched.
"""

from __future__ import annotations

import numpy as np
import torch

_U64 = 0xFFFF_FFFF_FFFF_FFFF
_GOLDEN = np.uint64(0x9E37_79B9_7F4A_7C15)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer (a bijection of uint64), vectorised; integer overflow wraps as intended."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58_476D_1CE4_E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D0_49BB_1331_11EB)
    return z ^ (z >> np.uint64(31))


def token_priority(indices: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic pseudo-random uint64 priority of each global token index (smaller = sampled first)."""
    salt = _mix64(np.array([seed & _U64], dtype=np.uint64))
    return _mix64(np.asarray(indices, dtype=np.int64).astype(np.uint64) * _GOLDEN + salt)


class TokenSample:
    """The rows of the ``size`` lowest-priority tokens seen so far (slot order is arbitrary)."""

    def __init__(self, size: int, n_units: int, seed: int) -> None:
        self.size, self.seed = size, seed
        self.n = 0  # slots [0, n) are filled
        self.values = torch.empty((size, n_units))
        self._rows = self.values.numpy()  # the same memory: numpy's row scatter is 3-10x torch's here
        self.indices = np.empty(size, dtype=np.int64)
        self._prio = np.empty(size, dtype=np.uint64)

    def update(self, x: np.ndarray, base: int) -> None:
        """Offer rows ``x`` float32 [n, U], row r being global token ``base + r``."""
        cap, n = self.size, x.shape[0]
        if cap == 0:
            return
        idx = np.arange(base, base + n, dtype=np.int64)
        prio = token_priority(idx, self.seed)
        start = 0
        if self.n < cap:  # not full yet: take rows as they come
            cur = self.n
            start = min(cap - cur, n)
            self._rows[cur : cur + start] = x[:start]
            self.indices[cur : cur + start] = idx[:start]
            self._prio[cur : cur + start] = prio[:start]
            self.n += start
            if start == n:
                return
        # Full: only rows whose priority beats the current worst one are candidates (new indices lose ties).
        cand = np.flatnonzero(prio[start:] < self._prio.max()) + start
        if cand.size == 0:
            return
        merged = np.concatenate([self._prio, prio[cand]])
        keep = merged <= merged[np.argpartition(merged, cap - 1)[cap - 1]]
        if int(keep.sum()) != cap:  # equal priorities at the cut (practically never): break ties by index
            order = np.lexsort((np.concatenate([self.indices, idx[cand]]), merged))
            keep = np.zeros(merged.size, dtype=bool)
            keep[order[:cap]] = True
        evict = np.flatnonzero(~keep[:cap])
        accept = cand[keep[cap:]]
        self._rows[evict] = x[accept]
        self.indices[evict] = idx[accept]
        self._prio[evict] = prio[accept]

    def merge(self, other: TokenSample) -> None:
        """Fold in the sample of other tokens (same size and seed): the ``size`` lowest priorities of the union,
        which is exactly the sample of the tokens of both (priorities are a bijection of the index: no ties)."""
        if other.n == 0:
            return
        idx = np.concatenate([self.indices[: self.n], other.indices[: other.n]])
        prio = np.concatenate([self._prio[: self.n], other._prio[: other.n]])
        vals = torch.cat([self.values[: self.n], other.values[: other.n]])
        keep = np.lexsort((idx, prio))[: self.size]
        self.n = keep.size
        self.indices[: self.n], self._prio[: self.n] = idx[keep], prio[keep]
        self.values[: self.n] = vals[torch.from_numpy(keep)]

    def load(self, indices: np.ndarray, values: torch.Tensor) -> None:
        """Restore a saved sample (its priorities are recomputed from the indices)."""
        ns = indices.size
        if ns > self.size:
            raise ValueError("inconsistent SiteAccumulator state")
        self.n = ns
        self.indices[:ns] = indices
        self._prio[:ns] = token_priority(self.indices[:ns], self.seed)
        self.values[:ns] = values

    def ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """(indices ascending, their rows as float32 [n, U])."""
        order = np.argsort(self.indices[: self.n], kind="stable")
        return self.indices[: self.n][order], self.values[: self.n].numpy()[order]
