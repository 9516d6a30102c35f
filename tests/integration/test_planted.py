"""Bots on the planted model reach their analytic scores through the whole pipeline (harvest → rounds → bots)."""

import numpy as np
import pytest

from mirrorneuron.game import Level, make_rounds, run_session, truth_from
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.planted import PLANTED, planted_adapter, planted_text
from mirrorneuron.players import make_bot
from mirrorneuron.players.data import BotData
from mirrorneuron.units.context import NeuronContext


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("planted")
    (root / "corpus.txt").write_text(planted_text())
    adapter = planted_adapter()
    h = harvest(
        adapter,
        HarvestSpec(corpus=str(root / "corpus.txt"), sites=("layers.0.post", "layers.1.post"), max_windows=None),
        root / "h",
    )
    return adapter, h


def _play(ctx: NeuronContext, bot: str, level: Level, n: int = 60):  # type: ignore[no-untyped-def]
    rounds = make_rounds(ctx, level, n, seed=3)
    return run_session(make_bot(bot, BotData(ctx.values, ctx.target_tokens())), rounds.rounds, truth_from(ctx))


def test_harvest_sees_the_planted_functions(planted) -> None:  # type: ignore[no-untyped-def]
    adapter, h = planted
    for i, (word, value) in enumerate(PLANTED):
        vals = NeuronContext(h, adapter, "layers.0.post", i).values
        assert set(np.unique(vals)) == {0.0, value}, word
    st = h.stats("layers.0.post")
    assert st["max"][0] == 3.0 and st["top_values"][0, 0] == 3.0


def test_unigram_bot_nails_a_token_detector(planted) -> None:  # type: ignore[no-untyped-def]
    adapter, h = planted
    res = _play(NeuronContext(h, adapter, "layers.0.post", 0), "unigram", Level.BLIND)
    assert res.summary.correlation >= 0.99


def test_mean_bot_has_no_correlation_and_is_flagged(planted) -> None:  # type: ignore[no-untyped-def]
    adapter, h = planted
    res = _play(NeuronContext(h, adapter, "layers.0.post", 0), "mean", Level.EXAMPLES)
    assert res.summary.correlation == 0.0 and res.summary.correlation_flag == "constant_prediction"


def test_ridge_at_level_three_is_near_exact(planted) -> None:  # type: ignore[no-untyped-def]
    adapter, h = planted
    ctx = NeuronContext(h, adapter, "layers.1.post", 1)  # detector 1 − detector 2
    c = ctx.contributions(int(np.argmax(ctx.values)))
    assert c.value() == pytest.approx(float(ctx.values.max()))
    res = _play(ctx, "ridge", Level.WEIGHTS)
    assert res.summary.correlation >= 0.99


def test_level_two_shows_the_upstream_detectors(planted) -> None:  # type: ignore[no-untyped-def]
    adapter, h = planted
    ctx = NeuronContext(h, adapter, "layers.1.post", 0)
    i = int(np.argmax(ctx.values))
    hints = {n.label: n for n in ctx.neighbours(i)}
    upstream = [n for n in hints.values() if n.group == "upstream"]
    assert sum(n.value for n in upstream) == pytest.approx(float(ctx.values[i]))
