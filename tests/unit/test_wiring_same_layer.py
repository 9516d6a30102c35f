"""Same-layer neighbours come from one correlation product per block of units; they must be the units the
definition picks (each unit's correlations with the site on the standardised harvest sample), with its r."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from mirrorneuron.units import wiring


class SampleOnly:
    """The one thing ``_same_layer`` reads of a harvest: the site's statistics sample."""

    def __init__(self, sample: np.ndarray) -> None:
        self.sample = sample

    def stats(self, site: str) -> dict[str, Any]:
        return {"sample_values": self.sample}


def _sample(units: int, rows: int = 400, seed: int = 0) -> np.ndarray:
    """Units that share a few latent factors (so each has clear neighbours), stored as float16 like a harvest."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((rows, 6))
    mix = rng.standard_normal((6, units)) * rng.random(units)
    return (latent @ mix + 0.5 * rng.standard_normal((rows, units))).astype(np.float16)


def _definition(sample: np.ndarray, index: int) -> tuple[list[int], np.ndarray]:
    x = sample.astype(np.float64)
    x = (x - x.mean(0)) / (x.std(0) + 1e-12)
    corr = x.T @ x[:, index] / len(x)
    corr[index] = 0.0
    return wiring._top(corr, wiring.N_SAME), corr


def _agree(units: int) -> bool:
    sample = _sample(units)
    harvest = SampleOnly(sample)
    for index in range(units):
        links = wiring._same_layer(harvest, "s", index)  # type: ignore[arg-type]
        ids, corr = _definition(sample, index)
        if [lk.index for lk in links] != ids or any(lk.source != "s" for lk in links):
            return False
        shown = [float(re.search(r"r=([+-][0-9.]+)", lk.label).group(1)) for lk in links]  # type: ignore[union-attr]
        if not np.allclose(shown, corr[ids], atol=0.0051):  # the label rounds r to 2 decimals
            return False
    return True


@pytest.mark.parametrize("units", [2, 5, wiring.CORRELATION_BLOCK, 2 * wiring.CORRELATION_BLOCK + 3])
def test_same_layer_neighbours_are_the_definitions(units: int) -> None:
    assert _agree(units)


def test_each_block_is_one_product_with_the_definitions_numbers() -> None:
    sample = _sample(300)
    harvest = SampleOnly(sample)
    b = wiring.CORRELATION_BLOCK
    for index in (0, b - 1, b, 299):
        block = wiring._correlations(harvest, "s", index // b)  # type: ignore[arg-type]
        assert block is not None and not block.flags.writeable and block.shape == (300, min(b, 300 - index // b * b))
        _, corr = _definition(sample, index)
        got = block[:, index % b].copy()
        got[index] = 0.0
        np.testing.assert_allclose(got, corr, rtol=0, atol=1e-13)
    assert wiring._same_layer(SampleOnly(sample[:2]), "s", 0) == []  # too small a sample: no neighbours


def _shifted(harvest: Any, site: str, block: int) -> np.ndarray | None:
    """Planted fault: each block's columns start one unit late (every unit gets its successor's neighbours)."""
    x = wiring._standardised_sample(harvest, site)
    assert x is not None
    b = wiring.CORRELATION_BLOCK
    return x.T @ np.roll(x, -1, axis=1)[:, block * b : (block + 1) * b] / len(x)


def test_a_block_read_off_by_one_unit_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wiring, "_correlations", _shifted)
    assert not _agree(2 * wiring.CORRELATION_BLOCK + 3)
