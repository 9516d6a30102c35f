"""Integrity of the draw: training examples are never asked, level-0/1 facts come from them, a game asks at
most one example per window, a player's seen windows are skipped, levels share items, bots are held out."""

from __future__ import annotations

import numpy as np
import pytest

from mirrorneuron.game import (
    ArrayContext,
    Level,
    SamplingPlan,
    TextExample,
    draw_examples,
    make_rounds,
    run_session,
    truth_from,
)
from mirrorneuron.players import BotData, UnigramBot


def windowed(n_windows: int = 60, width: int = 16, seed: int = 0) -> ArrayContext:
    """A unit whose top values cluster inside windows (a burst per window), like a real text neuron."""
    rng = np.random.default_rng(seed)
    n = n_windows * width
    values = rng.normal(0.0, 0.1, n) + np.repeat(rng.exponential(1.0, n_windows), width) * (rng.random(n) < 0.5)
    examples = [TextExample((f"a{i}", f"t{i}"), 1) for i in range(n)]
    return ArrayContext("w/site/neuron/0", values, examples, groups=np.arange(n) // width)


def test_training_examples_are_never_asked_and_give_the_level_0_facts() -> None:
    ctx = windowed()
    rs = make_rounds(ctx, Level.EXAMPLES, 25, seed=3)
    asked = np.array([r.index for r in rs])
    assert not rs.training[asked].any()
    train_values = ctx.values[rs.training]
    assert rs.stats.max == pytest.approx(train_values.max()) and rs.stats.min == pytest.approx(train_values.min())
    assert set(rs.references.indices) <= set(np.flatnonzero(rs.training))
    # the argmax example can never be asked while level 0 shows max = its value
    argmax = int(np.argmax(ctx.values))
    assert argmax not in asked.tolist() or ctx.values[argmax] != rs.stats.max


def test_the_split_is_by_window_and_the_same_for_every_unit() -> None:
    a, b = windowed(seed=0), windowed(seed=1)
    ra, rb = make_rounds(a, 0, 5, seed=1), make_rounds(b, 0, 5, seed=1)
    assert np.array_equal(ra.training, rb.training)  # depends on the windows only
    groups = a.groups
    for g in np.unique(groups):
        assert len(set(ra.training[groups == g].tolist())) == 1  # a window is wholly training or asked
    assert 0.3 < ra.training.mean() < 0.7


def test_a_game_asks_at_most_one_example_per_window() -> None:
    ctx = windowed()
    rs = make_rounds(ctx, Level.BLIND, 28, seed=5)
    windows = [int(ctx.groups[r.index]) for r in rs]
    assert len(set(windows)) == len(windows) == 28  # a reveal shades its window: no later round inside it


def test_seen_windows_are_skipped_without_reshuffling_the_rest() -> None:
    ctx = windowed()
    plan = SamplingPlan()
    full = draw_examples(ctx, 12, plan, seed=2)
    seen = np.zeros(ctx.values.size, dtype=bool)
    seen[full.draws[0].index] = True  # the player saw the first item (and so its window) in an earlier game
    window_of_5th = ctx.groups == ctx.groups[full.draws[4].index]
    seen[np.flatnonzero(window_of_5th)[-1]] = True  # another token of the 5th item's window: same window
    again = draw_examples(ctx, 10, plan, seed=2, exclude=seen)
    seen_windows = set(ctx.groups[seen].tolist())
    assert not {int(ctx.groups[d.index]) for d in again.draws} & seen_windows
    kept = [d.index for d in full.draws if int(ctx.groups[d.index]) not in seen_windows]
    assert [d.index for d in again.draws] == kept[:10]  # shared items stay shared, in the same order


def test_levels_are_asked_the_same_items() -> None:
    ctx = windowed()
    per_level = [[r.index for r in make_rounds(ctx, level, 15, seed=11)] for level in (0, 1)]
    assert per_level[0] == per_level[1]


def test_running_out_of_unseen_examples_is_a_clear_error() -> None:
    ctx = windowed(n_windows=6)
    with pytest.raises(ValueError, match="left that this player has not seen"):
        make_rounds(ctx, 0, 10, seed=0)


def test_unigram_bot_is_held_out_on_tokens_that_occur_once() -> None:
    """Every example has its own token: a unigram table fitted on the asked rounds would be exact; held out
    (training examples only, then earlier reveals) it can only guess the mean — chance."""
    rng = np.random.default_rng(4)
    n = 600
    values = rng.normal(0.0, 1.0, n)
    examples = [TextExample(("the", f"tok{i}"), 1) for i in range(n)]
    ctx = ArrayContext("planted/unique/neuron/0", values, examples)
    rs = make_rounds(ctx, Level.EXAMPLES, 60, seed=1)
    res = run_session(UnigramBot(BotData.from_context(ctx, rs.training)), rs.rounds, truth_from(ctx))
    assert abs(res.summary.correlation) < 0.1
    assert len({r.guess for r in res.results}) == 1  # nothing it knows applies: always the training mean
    leaky = run_session(
        UnigramBot(BotData(values, np.array([e.target_token for e in examples]))), rs.rounds, truth_from(ctx)
    )
    assert leaky.summary.correlation > 0.99  # the planted fault: fitted on every example, it "knows" answers
