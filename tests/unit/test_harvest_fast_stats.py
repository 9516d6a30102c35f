"""The fast per-batch statistics (harvest round 3: numpy top-k with a transposed partition, a tie cut on only the
columns that need one, numpy row scatter for the sample, torch's transposing copy for the quantiles) equal plain
references on random data, never write into the caller's activations, and the checks catch planted faults."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pytest
import torch

from mirrorneuron.harvest import topk
from mirrorneuron.harvest.quantiles import QUANTILE_LEVELS, sorted_quantiles
from mirrorneuron.harvest.sample import TokenSample, token_priority
from mirrorneuron.harvest.stats import SiteAccumulator
from mirrorneuron.harvest.topk import RunningTopK, column_counts


def tied_data(rng: np.random.Generator, n: int, units: int) -> np.ndarray:
    """Continuous columns, and columns of few distinct values (ties at every cut, signed zeros included)."""
    x = rng.normal(size=(n, units)).astype(np.float32)
    few = rng.random(units) < 0.5
    x[:, few] = rng.choice(np.array([-1.0, -0.0, 0.0, 0.5, 2.0], dtype=np.float32), size=(n, int(few.sum())))
    return x


def reference(x: np.ndarray, k: int, size: int, seed: int) -> dict[str, np.ndarray]:
    """Top-k by (value desc, index asc) with lexsort; the sample as the `size` lowest priorities, by sorting."""
    n = x.shape[0]
    idx = np.array([np.lexsort((np.arange(n), -x[:, u]))[: min(k, n)] for u in range(x.shape[1])], dtype=np.int64)
    idx = idx.reshape(x.shape[1], -1)
    sample = np.sort(np.lexsort((np.arange(n), token_priority(np.arange(n), seed)))[:size])
    return {
        "top_indices": idx,
        "top_values": np.take_along_axis(x.T, idx, axis=1),
        "sample_indices": sample,
        "sample_values": x[sample],
    }


def check(x: np.ndarray, cuts: list[int], k: int = 7, size: int = 50, seed: int = 3) -> None:
    """Stream ``x`` in the batches given by ``cuts``; the results equal the reference and ``x`` is untouched."""
    original = x.copy()
    acc = SiteAccumulator(x.shape[1], top_k=k, sample_size=size, seed=seed)
    for a, b in pairwise([0, *cuts, x.shape[0]]):
        acc.update(torch.from_numpy(x[a:b]), a)
    got, want = acc.finalize(), reference(x, k, size, seed)
    assert x.tobytes() == original.tobytes(), "the statistics wrote into the activations"
    for key in ("top_indices", "top_values", "sample_indices", "sample_values"):
        assert got[key].dtype == want[key].dtype and got[key].tobytes() == want[key].tobytes(), key
    quantiles = np.quantile(want["sample_values"].astype(np.float64), QUANTILE_LEVELS, axis=0).T
    np.testing.assert_array_equal(got["quantiles"], quantiles)  # equal (the sign of a zero may differ)


CASES = [(1, 1), (2, 1), (40, 1), (1, 6), (300, 1), (300, 2), (300, 9), (2048, 5)]


@pytest.mark.parametrize(("n", "units"), CASES)
def test_fast_statistics_equal_the_reference(n: int, units: int) -> None:
    rng = np.random.default_rng(n * 31 + units)
    for _ in range(4):
        x = tied_data(rng, n, units)
        cuts = sorted({int(c) for c in rng.integers(1, n, size=rng.integers(0, 6))}) if n > 1 else []
        check(x, cuts)
        check(x, [])  # the whole stream as one batch: the batch top-k path on every column


def check_mask(top: RunningTopK, x: np.ndarray) -> None:
    """The batch top-k mask holds exactly min(k, n) entries per column: the reference's top-k rows."""
    mask = top._batch_top_mask(x)
    np.testing.assert_array_equal(column_counts(mask), np.full(x.shape[1], min(top.k, x.shape[0])))
    ref = reference(x, top.k, 0, 0)["top_indices"]
    for u in range(x.shape[1]):
        np.testing.assert_array_equal(np.flatnonzero(mask[:, u]), np.sort(ref[u]))


def test_batch_top_mask_is_exactly_min_k_n_per_column_earliest_ties_first() -> None:
    x = tied_data(np.random.default_rng(0), 500, 12)
    check_mask(RunningTopK(12, 9), x)


# ----------------------------------------------------------------------------------------- planted faults
def _cut(x: np.ndarray, kk: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    kth = np.sort(x, axis=0)[x.shape[0] - kk + offset]
    above, tied = x > kth, x == kth
    return above, tied, kk - column_counts(above)


def _latest_ties_first(self: RunningTopK, x: np.ndarray) -> np.ndarray:
    """The tie cut counted from the end of the batch: the latest tokens win ties at the k-th value."""
    above, tied, need = _cut(x, min(self.k, x.shape[0]))
    return above | (tied & (np.cumsum(tied[::-1], axis=0)[::-1] <= need))


def _one_short(self: RunningTopK, x: np.ndarray) -> np.ndarray:
    """The cut one order statistic too high: k - 1 candidates per column (plus ties)."""
    kk = min(self.k, x.shape[0])
    above, tied, need = _cut(x, kk, offset=1 if kk > 1 else 0)
    return above | (tied & (np.cumsum(tied, axis=0) <= need))


def _partition_in_place(self: RunningTopK, x: np.ndarray) -> np.ndarray:
    """The transposed copy skipped when it is already contiguous (one unit): partitions the caller's rows."""
    xt = torch.from_numpy(x).t().contiguous().numpy()
    n, kk = x.shape[0], min(self.k, x.shape[0])
    xt.partition(n - kk, axis=1)
    above, tied = x > xt[:, n - kk], x == xt[:, n - kk]
    tied &= np.cumsum(tied, axis=0, dtype=np.int32) <= kk - column_counts(above)
    return above | tied


def _no_tie_cut(self: RunningTopK, x: np.ndarray) -> np.ndarray:
    """Every value tied with the k-th goes in (still correct after the merge, but more than k candidates)."""
    above, tied, _ = _cut(x, min(self.k, x.shape[0]))
    return above | tied


@pytest.mark.parametrize("fault", [_latest_ties_first, _one_short, _partition_in_place])
def test_the_reference_check_catches_a_planted_fault(
    fault: Callable[[RunningTopK, np.ndarray], np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(topk.RunningTopK, "_batch_top_mask", fault)
    rng = np.random.default_rng(1)
    with pytest.raises(AssertionError):
        for n, units in CASES:
            x = tied_data(rng, n, units)
            check(x, [])
            check(x, [n // 2] if n > 1 else [])


def test_the_mask_check_catches_extra_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topk.RunningTopK, "_batch_top_mask", _no_tie_cut)
    with pytest.raises(AssertionError):
        check_mask(RunningTopK(12, 9), tied_data(np.random.default_rng(0), 500, 12))


def test_the_reference_check_catches_sample_rows_written_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted: the numpy rows the sample scatters into are a copy, not a view of the tensor it saves."""
    init = TokenSample.__init__

    def detached(self: TokenSample, size: int, n_units: int, seed: int) -> None:
        init(self, size, n_units, seed)
        self._rows = self._rows.copy()

    monkeypatch.setattr(TokenSample, "__init__", detached)
    with pytest.raises(AssertionError):
        check(tied_data(np.random.default_rng(3), 300, 2), [100])


def test_sorted_quantiles_leave_their_input_alone() -> None:
    # one unit or one row: the transpose is a view, so the copy must be explicit or the sort reorders the sample
    for shape in ((1000, 1), (1, 7), (50, 3)):
        x = np.random.default_rng(2).normal(size=shape).astype(np.float32)
        before = x.copy()
        ref = np.quantile(x.astype(np.float64), QUANTILE_LEVELS, axis=0).T
        np.testing.assert_array_equal(sorted_quantiles(x), ref)
        assert x.tobytes() == before.tobytes(), shape
