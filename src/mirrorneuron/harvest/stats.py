"""Streaming per-unit statistics for one harvest site (DESIGN.md §4, §6).

`SiteAccumulator` sees the activations of one site batch by batch (rows = tokens, columns = units) and keeps:

- exact count / mean / population variance, min, max, fraction > 0 (:mod:`.moments`);
- per-unit top-k values with their global token indices, ordered by (value desc, index asc) (:mod:`.topk`);
- a uniform random sample of token positions shared by all units (bottom-k sampling, :mod:`.sample`).
  Quantiles are exact quantiles of that sample (:mod:`.quantiles`), so they equal the exact quantiles of all
  data while count <= sample_size.

None of it depends on how the stream was batched, and everything is resumable:
`from_state_dict(acc.state_dict())` continues bit-identically.
"""

from __future__ import annotations

import numpy as np
import torch

from mirrorneuron.harvest.moments import STATE_KEYS, Moments
from mirrorneuron.harvest.quantiles import QUANTILE_LEVELS, sorted_quantiles
from mirrorneuron.harvest.sample import TokenSample, token_priority
from mirrorneuron.harvest.topk import RunningTopK, block_max

__all__ = ["QUANTILE_LEVELS", "SiteAccumulator", "token_priority"]


class SiteAccumulator:
    """Batch-size-independent, resumable streaming statistics of one site's `n_units` activations."""

    def __init__(self, n_units: int, top_k: int = 20, sample_size: int = 16384, seed: int = 0) -> None:
        if n_units < 1 or top_k < 0 or sample_size < 0 or not -(2**63) <= seed < 2**63:
            raise ValueError("n_units must be >= 1, top_k and sample_size >= 0, seed a 64-bit integer")
        self.n_units, self.top_k, self.sample_size, self.seed = n_units, top_k, sample_size, seed
        self.next_index: int | None = None  # global index the next update must start at
        self.moments = Moments(n_units)
        self.top = RunningTopK(n_units, top_k)
        self.sample = TokenSample(sample_size, n_units, seed)

    @property
    def count(self) -> int:
        return self.moments.count

    def update(self, acts: torch.Tensor, first_index: int) -> None:
        """Add `acts` (float32 [n_tokens, n_units]); row r is global token `first_index + r`."""
        if acts.ndim != 2 or acts.shape[1] != self.n_units:
            raise ValueError(f"expected shape [n_tokens, {self.n_units}], got {tuple(acts.shape)}")
        if first_index < 0 or (self.next_index is not None and first_index != self.next_index):
            raise ValueError(f"batch starts at token {first_index}; expected {self.next_index}")
        x = acts.detach().to(device="cpu", dtype=torch.float32).contiguous()
        if x.shape[0] == 0:
            self.next_index = first_index
            return
        xn = x.numpy()
        blockmax, colmax = block_max(xn)
        if bool(np.isnan(colmax).any()):
            raise ValueError("activations contain NaN")
        self.moments.update(x, colmax)
        self.top.update(xn, first_index, blockmax, colmax)
        self.sample.update(xn, first_index)
        self.next_index = first_index + x.shape[0]

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything needed to resume, as plain contiguous CPU tensors (safetensors-serialisable)."""
        ns, nxt = self.sample.n, -1 if self.next_index is None else self.next_index
        return {
            "config": torch.tensor([self.n_units, self.top_k, self.sample_size, self.seed]),
            "count": torch.tensor([self.count]),
            "next_index": torch.tensor([nxt]),
            **self.moments.state(),
            "top_values": self.top.values.contiguous().clone(),
            "top_indices": self.top.indices.contiguous().clone(),
            "sample_indices": torch.from_numpy(self.sample.indices[:ns].copy()),
            "sample_values": self.sample.values[:ns].clone(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> SiteAccumulator:
        n_units, top_k, sample_size, seed = (int(v) for v in state["config"].tolist())
        acc = cls(n_units, top_k=top_k, sample_size=sample_size, seed=seed)
        next_index = int(state["next_index"].item())
        acc.next_index = None if next_index < 0 else next_index
        acc.moments.load({k: state[k] for k in STATE_KEYS}, int(state["count"].item()))
        acc.top.values = state["top_values"].to(torch.float32).clone()
        acc.top.indices = state["top_indices"].to(torch.int64).clone()
        if acc.top.values.shape[0] != n_units:
            raise ValueError("inconsistent SiteAccumulator state")
        acc.sample.load(state["sample_indices"].numpy(), state["sample_values"])
        return acc

    # ------------------------------------------------------------------ results
    def finalize(self, levels: np.ndarray = QUANTILE_LEVELS) -> dict[str, np.ndarray]:
        """Per-unit results; quantiles are exact (numpy linear) quantiles of the float64 sample values."""
        levels = np.asarray(levels, dtype=np.float64)
        sample_indices, sample_values = self.sample.ordered()
        quantiles = (
            sorted_quantiles(sample_values, levels)
            if sample_indices.size
            else np.full((self.n_units, levels.size), np.nan)
        )
        return {
            "count": np.array(self.count, dtype=np.int64),
            **self.moments.results(),
            "quantiles": quantiles,
            "levels": levels.copy(),
            "top_values": self.top.values.numpy().copy(),
            "top_indices": self.top.indices.numpy().copy(),
            "sample_indices": sample_indices,
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
