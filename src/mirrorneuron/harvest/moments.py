"""Exact streaming count / mean / population variance (Chan et al. parallel merge in float64), min, max and
the number of positive values per unit."""

from __future__ import annotations

import numpy as np
import torch

from mirrorneuron.harvest.topk import column_counts

STATE_KEYS = ("mean", "m2", "min", "max", "npos")


class Moments:
    def __init__(self, n_units: int) -> None:
        self.count = 0
        self.mean = torch.zeros(n_units, dtype=torch.float64)
        self.m2 = torch.zeros(n_units, dtype=torch.float64)
        self.min = torch.full((n_units,), float("inf"))
        self.max = torch.full((n_units,), float("-inf"))
        self.npos = torch.zeros(n_units, dtype=torch.int64)

    def update(self, x: torch.Tensor, colmax: np.ndarray) -> None:
        """Add ``x`` float32 [n, U] (n >= 1) whose column max is ``colmax``."""
        n = x.shape[0]
        xn = x.numpy()  # numpy reductions along the token axis are ~3x faster than torch's here
        torch.minimum(self.min, torch.from_numpy(xn.min(0)), out=self.min)
        torch.maximum(self.max, torch.from_numpy(colmax), out=self.max)
        self.npos += torch.from_numpy(column_counts(xn > 0))
        ones = torch.ones((1, n), dtype=torch.float64)
        x64 = x.to(torch.float64)
        bmean = (ones @ x64).squeeze(0) / n  # token-axis reductions are fastest as a matrix product
        x64 -= bmean
        bm2 = (ones @ x64.square_()).squeeze(0)
        total = self.count + n
        delta = bmean - self.mean
        self.mean += delta * (n / total)
        self.m2 += bm2 + delta.square() * (self.count * n / total)
        self.count = total

    def merge(self, other: Moments) -> None:
        """Fold in the moments of other tokens (Chan et al.'s pairwise update; exact for count/min/max/npos)."""
        if other.count == 0:
            return
        total = self.count + other.count
        delta = other.mean - self.mean
        self.mean += delta * (other.count / total)
        self.m2 += other.m2 + delta.square() * (self.count * other.count / total)
        torch.minimum(self.min, other.min, out=self.min)
        torch.maximum(self.max, other.max, out=self.max)
        self.npos += other.npos
        self.count = total

    def state(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k).clone() for k in STATE_KEYS}

    def load(self, state: dict[str, torch.Tensor], count: int) -> None:
        for k in STATE_KEYS:
            getattr(self, k).copy_(state[k])
        self.count = count

    def results(self) -> dict[str, np.ndarray]:
        """mean, var, min, max, frac_pos as float64 [U] (NaN before any data)."""
        c = self.count
        per_unit = {
            "mean": self.mean,
            "var": self.m2 / max(c, 1),
            "min": self.min,
            "max": self.max,
            "frac_pos": self.npos.double() / max(c, 1),
        }
        return {k: v.numpy().astype(np.float64) if c else np.full(v.shape[0], np.nan) for k, v in per_unit.items()}
