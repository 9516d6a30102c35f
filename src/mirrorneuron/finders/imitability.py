"""Held-out bot imitability: a bot fitted on the unit's training half plays rounds drawn from the held-out
half (the game's own draw, ``game.make_rounds``) and is scored by the pooled correlation of DESIGN §6.

The shipped bots are used as they are (``players.make_bot``); every run is checked by :func:`check_held_out`:
the bot may learn only from training examples and is asked only held-out ones.

Levels where a bot reads nothing new are not scored again: the unigram bot uses no hint (any level = level
0); kNN reads the level-1 references and nothing above (levels 2–3 = level 1); ridge uses the same
example features at levels 0 and 1 (level 0 = level 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mirrorneuron.finders.base import Finder, SiteData
from mirrorneuron.game import (
    Draws,
    RoundSet,
    SamplingPlan,
    UnitContext,
    draw_examples,
    rounds_from,
    run_session,
    truth_from,
)
from mirrorneuron.game.scoring import CONSTANT_ACTUAL, pooled_correlation
from mirrorneuron.players import make_bot
from mirrorneuron.players.data import BotData

N_ROUNDS = 40
FitData = tuple[np.ndarray, BotData]  # a fitted mask and the bot data built from it


class HeldOutViolation(AssertionError):
    """A bot was fitted on a held-out example, or asked a training one."""


def check_held_out(fitted: np.ndarray, rs: RoundSet) -> None:
    """Raise :class:`HeldOutViolation` unless every example in the ``fitted`` mask is in ``rs.training`` and
    no round asks a training or fitted example."""
    fitted = np.asarray(fitted, dtype=bool)
    leaked = np.flatnonzero(fitted & ~rs.training)
    if leaked.size:
        raise HeldOutViolation(f"{rs.unit_id}: bot fitted on held-out examples {leaked[:5].tolist()}")
    asked = np.array([r.index for r in rs.rounds], dtype=np.int64)
    bad = asked[rs.training[asked] | fitted[asked]] if asked.size else asked
    if bad.size:
        raise HeldOutViolation(f"{rs.unit_id}: rounds ask training examples {bad[:5].tolist()}")


class BotImitability(Finder):
    """Correlation of one bot's guesses with the truth over ``rounds`` held-out rounds at ``level``."""

    def __init__(self, bot: str, level: int, rounds: int = N_ROUNDS, note: str = "") -> None:
        self.bot, self.level, self.rounds = bot, int(level), rounds
        self.name = f"imitability_{bot}_l{level}" if bot != "unigram" else "imitability_unigram"
        self.describe = f"held-out correlation of the {bot} bot at level {level} ({rounds} rounds){note}"
        self.slow = self.level >= 2  # level 2–3 hints run the model on every round's window

    def fitted_mask(self, ctx: UnitContext, rs: RoundSet) -> np.ndarray:
        """The examples the bot learns from: the round set's training half."""
        return rs.training

    def play(
        self,
        ctx: UnitContext,
        plan: SamplingPlan,
        draws: Draws | None = None,
        fit_on: FitData | None = None,
        rs: RoundSet | None = None,
    ) -> float:
        """One held-out session. ``fit_on``: (mask, data) the bot learns from, built earlier; used only when
        its mask is :meth:`fitted_mask`'s, else the data is built again from the fitted mask. ``rs``: the
        rounds of ``draws`` at this level, if already built (another finder at the same level built them)."""
        draws = draws or draw_examples(ctx, self.rounds, plan)
        rs = rs if rs is not None else rounds_from(ctx, self.level, draws, plan, plan.seed)
        fitted = self.fitted_mask(ctx, rs)
        check_held_out(fitted, rs)
        same = fit_on is not None and (fit_on[0] is fitted or np.array_equal(fit_on[0], fitted))
        bot_data = fit_on[1] if fit_on is not None and same else BotData.from_context(ctx, fitted)
        result = run_session(make_bot(self.bot, bot_data), rs.rounds, truth_from(ctx))
        played = result.results  # the session's summary is never made: only its correlation is read
        corr, flag = pooled_correlation([r.actual for r in played], [r.guess for r in played])
        return np.nan if flag == CONSTANT_ACTUAL else corr

    def score(self, data: SiteData) -> np.ndarray:
        plan = SamplingPlan(seed=data.seed)
        full = self.level >= 2
        # Shared by every bot and level of a unit: its context, its draws (the same items at every level) and
        # the data its bot learns from (the draws' training half; bots only read it), built once, not per finder.
        # Every unit of a site has the same training half (and so held-out indices): computed once per site.
        contexts: dict[int, UnitContext] = data.memo.setdefault(f"contexts/{full}", {})
        shared: dict[int, Draws] = data.memo.setdefault(f"draws/{self.rounds}", {})
        fit_on: dict[int, FitData] = data.memo.setdefault(f"bot_data/{self.rounds}", {})
        default_split = plan.training_fraction == SamplingPlan.training_fraction
        training, runs = (data.training, data.group_runs) if default_split else (None, None)
        held_out = None if training is None else np.flatnonzero(~training)
        lively = []
        for j in range(data.n_units):
            ctx = contexts[j] if j in contexts else contexts.setdefault(j, data.unit(j, full=full))
            if float(np.ptp(np.asarray(ctx.values))) > 0:
                lively.append(j)
                if j not in shared:
                    shared[j] = draw_examples(ctx, self.rounds, plan, training=training, runs=runs, held_out=held_out)
                if j not in fit_on:
                    fit_on[j] = (shared[j].training, BotData.from_context(ctx, shared[j].training))
        if full and lively:
            _prefetch(contexts[lively[0]], [d.index for j in lively for d in shared[j].draws])
        # The rounds at a level are the same for every bot playing it (unigram and kNN at level 0, kNN and
        # ridge at level 1): built once per (unit, level); rounds are immutable, bots only read them.
        built: dict[int, RoundSet] = rounds_memo(data, self.rounds, self.level)
        out = np.full(data.n_units, np.nan)
        for j in lively:
            if j not in built:
                built[j] = rounds_from(contexts[j], self.level, shared[j], plan, plan.seed)
            out[j] = self.play(contexts[j], plan, shared[j], fit_on[j], built[j])
        return out


def rounds_memo(data: SiteData, rounds: int, level: int) -> dict[int, RoundSet]:
    """The site's shared round sets of ``rounds`` rounds at ``level``, per unit. Only the level played last is
    kept (the finders of one level run one after another; another order only builds them again)."""
    key = f"rounds/{rounds}/{level}"
    for other in [k for k in data.memo if k.startswith("rounds/") and k != key]:
        del data.memo[other]
    memo: dict[int, RoundSet] = data.memo.setdefault(key, {})
    return memo


def _prefetch(ctx: UnitContext, indices: list[int]) -> None:
    """Run the forward passes of every window these examples lie in, in batches, before the rounds ask for
    them one by one (a context that shares its site's passes says how: ``prefetch``)."""
    prefetch = getattr(ctx, "prefetch", None)
    if callable(prefetch):
        prefetch(indices)


def imitability_finders(rounds: int = N_ROUNDS) -> Sequence[BotImitability]:
    return (
        BotImitability("unigram", 0, rounds, "; it uses no hint, so every level scores the same"),
        BotImitability("knn", 0, rounds),
        BotImitability("knn", 1, rounds, "; levels 2–3 add nothing kNN reads"),
        BotImitability("ridge", 1, rounds, "; level 0 gives it the same features"),
        BotImitability("ridge", 2, rounds),
        BotImitability("ridge", 3, rounds),
    )
