"""The loss-recovered fraction, against hand-computed values (the SAELens CE-loss score's definition)."""

import math

import pytest

from mirrorneuron.buildout.splice import fraction_recovered


def test_hand_computed_fractions() -> None:
    # loss: clean 2.0, ablated 4.0, spliced 3.0 → half of the gap recovered
    assert fraction_recovered(2.0, 4.0, 3.0).value == pytest.approx(0.5)
    assert fraction_recovered(2.0, 4.0, 2.0).value == 1.0  # spliced = clean
    assert fraction_recovered(2.0, 4.0, 4.0).value == 0.0  # spliced = ablated
    assert fraction_recovered(2.0, 4.0, 5.0).value == pytest.approx(-0.5)  # worse than ablation
    # accuracy: clean 0.9, ablated 0.5, spliced 0.8 → (0.8 − 0.5) / (0.9 − 0.5) = 0.75, the same formula
    assert fraction_recovered(0.9, 0.5, 0.8, "accuracy").value == pytest.approx(0.75)


@pytest.mark.parametrize("ablated", [2.0, 2.0 + 1e-9, math.nan])
def test_no_gap_gives_none_and_a_reason(ablated: float) -> None:
    f = fraction_recovered(2.0, ablated, 3.0)
    assert f.value is None and f.reason is not None and "does not change the loss" in f.reason
