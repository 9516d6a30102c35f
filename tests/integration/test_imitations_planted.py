"""Imitations on real models: on the planted model (detectors and sums are known) a correct hand-written rule
scores ≈ perfect and a wrong one badly; chained rules; the predictor's shapes and values on LM and digits
inputs; versioned storage and the score table (imitation vs the player vs the bots)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

from mirrorneuron.buildout.imitate import held_out_draws, parse_unit_id, predict_examples, predictor, score_on
from mirrorneuron.buildout.rules import Rule, RuleError, parse_rule
from mirrorneuron.game import SamplingPlan, draw_examples
from mirrorneuron.gameplay.games import prepare_game, store_game
from mirrorneuron.gameplay.imitations import named_player, save_and_score, stored_rule
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.models.planted import planted_adapter, planted_text
from mirrorneuron.store import history, repo
from mirrorneuron.store import imitations as store
from mirrorneuron.store.db import make_engine, migrate, session_factory
from mirrorneuron.types import UserError
from mirrorneuron.units.context import NeuronContext

DET = "planted/layers.0.post/neuron/{}"
SUM = "planted/layers.1.post/neuron/{}"
CAT = 'token "cat" -> 3\nelse 0'


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    root = tmp_path_factory.mktemp("planted-imit")
    (root / "corpus.txt").write_text(planted_text())
    adapter = planted_adapter()
    spec = HarvestSpec(corpus=str(root / "corpus.txt"), sites=("layers.0.post", "layers.1.post"), max_windows=None)
    return adapter, harvest(adapter, spec, root / "h")


def ctx_of(planted: tuple[Any, Any], site: str, i: int) -> NeuronContext:
    adapter, h = planted
    return NeuronContext(h, adapter, site, i)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'imit.db'}")
    migrate(engine)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def test_a_correct_detector_rule_is_perfect_and_a_wrong_one_is_not(planted: tuple[Any, Any]) -> None:
    ctx = ctx_of(planted, "layers.0.post", 0)  # fires 3.0 on "cat"
    draws = held_out_draws(ctx)
    good = score_on(ctx, parse_rule(CAT), draws)
    assert good.n == len(draws.draws) >= 100
    assert good.correlation == pytest.approx(1.0) and good.r2 == pytest.approx(1.0)
    assert good.mean_round_score == pytest.approx(100.0)
    wrong = score_on(ctx, parse_rule('token "dog" -> 3'), draws)
    assert wrong.correlation < 0.1 and wrong.r2 < 0.0
    half = score_on(ctx, parse_rule('token "cat" -> 1.5'), draws)  # right shape, wrong size
    assert half.correlation == pytest.approx(1.0) and half.r2 < 0.9


def test_the_held_out_draw_never_holds_a_training_or_reference_example(planted: tuple[Any, Any]) -> None:
    ctx = ctx_of(planted, "layers.0.post", 1)
    draws = held_out_draws(ctx)
    refs = draw_examples(ctx, 0, SamplingPlan()).references
    asked = np.array([d.index for d in draws.draws])
    assert not draws.training[asked].any() and not set(asked) & set(refs.indices)


def test_a_sum_unit_chains_true_units_and_imitations(planted: tuple[Any, Any]) -> None:
    ctx = ctx_of(planted, "layers.1.post", 1)  # detector 1 − detector 2
    mine = {DET.format(2): parse_rule('token "fish" -> 1.5')}
    rule = parse_rule(f'unit("{DET.format(1)}") - imitation("{DET.format(2)}")')
    assert score_on(ctx, rule, held_out_draws(ctx), mine.get).r2 == pytest.approx(1.0)
    wrong = parse_rule(f'unit("{DET.format(1)}") + unit("{DET.format(2)}")')
    assert score_on(ctx, wrong, held_out_draws(ctx)).r2 < 0.5


def test_predictor_matches_the_model_on_lm_inputs(planted: tuple[Any, Any]) -> None:
    adapter, h = planted
    x = np.asarray(h.inputs[:5])
    rule = parse_rule(f'unit("{DET.format(0)}") + unit("{DET.format(1)}")')
    f = predictor(adapter, SUM.format(0), rule)
    got = f(x)
    want = adapter.activations(x, "layers.1.post")[..., 0]
    assert got.dtype == np.float32 and got.shape == want.shape == x.shape
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert parse_unit_id(SUM.format(0)) == ("planted", "layers.1.post", 0)


def test_predictor_on_digits_gives_one_value_per_image() -> None:
    adapter = zoo_adapter("digits-mlp")
    images = np.random.default_rng(0).random((6, 8, 8)).astype(np.float32)
    unit = "digits-mlp/layers.1.post/neuron/5"
    f = predictor(adapter, unit, parse_rule('pixels[0:4, 0:8] * 2 + 0.5 * unit("digits-mlp/layers.0.post/neuron/3")'))
    got = f(images)
    assert got.shape == (6, 1) == adapter.activations(images, "layers.1.post")[..., 5].shape
    want = 2 * images[:, 0:4, :].mean(axis=(1, 2)) + 0.5 * adapter.activations(images, "layers.0.post")[:, 0, 3]
    np.testing.assert_allclose(got[:, 0], want, atol=1e-5)


def test_a_rule_may_not_read_its_own_unit_nor_loop(planted: tuple[Any, Any]) -> None:
    adapter, h = planted
    x = np.asarray(h.inputs[:2])
    with pytest.raises(RuleError, match="the unit being imitated") as exc:
        predictor(adapter, DET.format(0), parse_rule(f'1 + unit("{DET.format(0)}")'))(x)
    assert (exc.value.line, exc.value.col) == (1, 5)
    loop: dict[str, Rule] = {
        DET.format(1): parse_rule(f'imitation("{DET.format(2)}")'),
        DET.format(2): parse_rule(f'imitation("{DET.format(0)}")'),
    }
    with pytest.raises(RuleError, match="imitation cycle"):
        predictor(adapter, DET.format(0), parse_rule(f'imitation("{DET.format(1)}")'), resolve=loop.get)(x)
    with pytest.raises(RuleError, match="no imitation of"):
        predictor(adapter, DET.format(0), parse_rule(f'imitation("{DET.format(1)}")'))(x)
    with pytest.raises(UserError, match="not planted"):
        predictor(adapter, "other/layers.0.post/neuron/0", parse_rule("1"))


def test_versions_count_per_player_and_unit(session: Session) -> None:
    repo.ensure_model(session, "planted", "text", "x")
    for uid in (DET.format(0), DET.format(1)):
        repo.ensure_unit(session, uid, "planted", "layers.0.post", "neuron", 0, {})
    a, b = repo.ensure_player(session, None).id, repo.ensure_player(session, None).id
    rows = [store.save_imitation(session, p, u, src, {}) for p, u, src in
            [(a, DET.format(0), "1"), (a, DET.format(0), "2"), (b, DET.format(0), "3"), (a, DET.format(1), "4"),
             (a, DET.format(0), "5")]]
    assert [r.version for r in rows] == [1, 2, 1, 1, 3]
    assert [r.source for r in store.versions(session, DET.format(0), a)] == ["1", "2", "5"]
    assert len(store.versions(session, DET.format(0))) == 4
    latest = store.latest_per_unit(session, a)
    assert {u: r.version for u, r in latest.items()} == {DET.format(0): 3, DET.format(1): 1}
    assert store.latest(session, b, DET.format(1)) is None


def test_save_and_score_puts_the_imitation_next_to_the_player_and_the_bots(
    planted: tuple[Any, Any], session: Session
) -> None:
    ctx = ctx_of(planted, "layers.0.post", 0)
    pid = named_player(session, "ada")
    assert named_player(session, "ada") == pid  # found again by name
    game = prepare_game(ctx, 1, 12, SamplingPlan(seed=4))
    game_id = store_game(session, pid, game, True, client="cli")
    rounds = [r for r, _ in repo.game_results(session, game_id)]
    history.record_guesses(session, pid, [(r.id, 1.0, None) for r in rounds])  # a poor player: always 1
    session.commit()

    row = save_and_score(session, ctx, pid, CAT)
    assert row.version == 1 and row.source == CAT and stored_rule(row) == parse_rule(CAT)
    table = {(r["who"], r["on"]): r for r in row.scores["rows"]}  # type: ignore[index]
    assert table["imitation", "held-out draw"]["correlation"] == pytest.approx(1.0)
    assert {"unigram bot", "knn bot", "ridge bot"} <= {w for w, _ in table}
    assert table["you (rounds)", "your rounds"]["n"] == 12
    assert table["you (rounds)", "your rounds"]["flags"] == ["constant_prediction"]
    assert table["imitation", "your rounds"]["mean_round_score"] == pytest.approx(100.0)
    idx = [r.example_index for r in rounds]
    np.testing.assert_allclose(predict_examples(ctx, parse_rule(CAT), idx), [r.actual for r in rounds], atol=1e-6)
    assert save_and_score(session, ctx, pid, "0.5").version == 2


def test_a_failing_save_stores_nothing(planted: tuple[Any, Any], session: Session) -> None:
    ctx = ctx_of(planted, "layers.0.post", 0)
    pid = named_player(session, "bo")
    with pytest.raises(RuleError):
        save_and_score(session, ctx, pid, 'imitation("planted/layers.0.post/neuron/2")')  # none saved yet
    with pytest.raises(RuleError):
        save_and_score(session, ctx, pid, "1 +")
    assert store.versions(session, ctx.unit_id, pid) == []
