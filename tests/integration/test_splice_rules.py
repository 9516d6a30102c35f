"""Build-out end to end on the planted model: players' hand-written rules (the rule language, not numpy
stand-ins) spliced in. Correct rules recover the loss (≈ 1), wrong rules do not (≈ 0 or below); a chained rule
for the downstream sum unit built on the player's own detector imitations recovers it too."""

from __future__ import annotations

import numpy as np
import pytest

from mirrorneuron.buildout.imitate import predictor
from mirrorneuron.buildout.rules import Rule, parse_rule
from mirrorneuron.buildout.splice import Splicer, SpliceUnit, Task
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.planted import PLANTED, planted_adapter, planted_text

CORRECT = [f'token "{word}" -> {value}' for word, value in PLANTED]
WRONG = [f'token "{PLANTED[(i + 1) % 3][0]}" -> {value}' for i, (_, value) in enumerate(PLANTED)]  # another word


@pytest.fixture(scope="module")
def adapter() -> TorchAdapter:
    return planted_adapter()


@pytest.fixture(scope="module")
def splicer(adapter: TorchAdapter) -> Splicer:
    ids = np.asarray(adapter.encode(planted_text(3000, seed=11)), dtype=np.int64)
    return Splicer(adapter, Task("output", ids[: len(ids) // 16 * 16].reshape(-1, 16), slice="planted, seed 11"))


def unit_id(adapter: TorchAdapter, site: str, i: int) -> str:
    return f"{adapter.name}/{site}/neuron/{i}"


def spliced(adapter: TorchAdapter, splicer: Splicer, rules: list[str]) -> float | None:
    preds = {
        SpliceUnit("layers.0.post", i): predictor(adapter, unit_id(adapter, "layers.0.post", i), parse_rule(src))
        for i, src in enumerate(rules)
    }
    return splicer.splice(preds).loss_recovered


def test_correct_rules_recover_the_loss_and_wrong_ones_do_not(adapter: TorchAdapter, splicer: Splicer) -> None:
    good = spliced(adapter, splicer, CORRECT)
    bad = spliced(adapter, splicer, WRONG)
    assert good is not None and good > 0.98
    assert bad is not None and bad < 0.1


def test_a_chained_rule_on_the_players_own_imitations(adapter: TorchAdapter, splicer: Splicer) -> None:
    """Sum unit 0 = detector 0 + detector 1, written over the player's imitations of the detectors."""
    mine: dict[str, Rule] = {unit_id(adapter, "layers.0.post", i): parse_rule(src) for i, src in enumerate(CORRECT)}
    d0, d1 = (unit_id(adapter, "layers.0.post", i) for i in (0, 1))
    for source, expect_good in ((f'imitation("{d0}") + imitation("{d1}")', True), (f'imitation("{d0}")', False)):
        sum0 = predictor(adapter, unit_id(adapter, "layers.1.post", 0), parse_rule(source), resolve=mine.get)
        got = splicer.splice({SpliceUnit("layers.1.post", 0): sum0}).loss_recovered
        assert got is not None and (got > 0.98 if expect_good else got < 0.9), (source, got)
