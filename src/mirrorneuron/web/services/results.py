"""A game's answered rounds, the reveal of one round, and the end-of-game summary with the bots."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mirrorneuron.game import Draw, RoundSet, SamplingPlan, draw_examples, rounds_from, running_mean, summarize
from mirrorneuron.game.scoring import POINTS_VERSION
from mirrorneuron.game.session import Player, SessionResult
from mirrorneuron.gameplay import play_bots
from mirrorneuron.players import OFFLINE_BOT_NAMES
from mirrorneuron.store import repo
from mirrorneuron.store.models import Guess, Round
from mirrorneuron.units import HarvestedUnit
from mirrorneuron.units.base import CONTEXT_AFTER, CONTEXT_BEFORE
from mirrorneuron.web.schemas.games import PlayerScore, ResultOut, ShadedWindow, SummaryOut
from mirrorneuron.web.services.memo import GameMeta
from mirrorneuron.web.unitcache import UnitCache

Pair = tuple[Round, Guess | None]


def result_out(rnd: Round, guess: Guess, feedback: bool) -> ResultOut:
    return ResultOut(
        round_id=rnd.id,
        seq=rnd.seq,
        guess=guess.value,
        actual=rnd.actual if feedback else None,
        score=guess.score if feedback else None,
        points=guess.points if feedback else None,
        max_points=repo.round_max_points(rnd) if feedback else None,
        seconds=guess.seconds,
    )


def shaded_window(ctx: HarvestedUnit, index: int) -> ShadedWindow | None:
    """The example's visible tokens with this unit's activation on each (text units only)."""
    if ctx.modality != "text":
        return None
    tokens, acts = ctx.window_activations(index)
    _, p = ctx.harvest.example_location(index)
    lo, hi = max(0, p - CONTEXT_BEFORE), min(len(tokens), p + CONTEXT_AFTER + 1)
    return ShadedWindow(tokens=tokens[lo:hi], activations=[float(a) for a in acts[lo:hi]], target=p - lo)


def human_score(pairs: list[Pair], name: str = "you") -> PlayerScore | None:
    done = [(r, g) for r, g in pairs if g is not None]
    if not done:
        return None
    scores = np.array([g.score for _, g in done])
    s = summarize(
        [r.actual for r, _ in done],
        [g.value for _, g in done],
        scale=[r.scale for r, _ in done],
        weights=[r.weight for r, _ in done],
    )
    return PlayerScore(
        name=name,
        n=s.n,
        mean_score=s.mean_round_score,
        points=float(sum(g.points or 0.0 for _, g in done)),
        max_points=float(sum(repo.round_max_points(r) or 0.0 for r, _ in done)),
        points_version=POINTS_VERSION,
        correlation=s.correlation,
        correlation_flag=s.correlation_flag,
        r2=s.r2,
        abs_dev_explained=s.abs_dev_explained,
        weighted_correlation=s.weighted_correlation,
        curve=[float(x) for x in running_mean(scores)],
    )


def session_score(res: SessionResult) -> PlayerScore:
    s = res.summary
    return PlayerScore(
        name=res.player,
        n=s.n,
        mean_score=s.mean_round_score,
        points=res.total_points,
        max_points=res.max_points,
        points_version=POINTS_VERSION,
        correlation=s.correlation,
        correlation_flag=s.correlation_flag,
        r2=s.r2,
        abs_dev_explained=s.abs_dev_explained,
        weighted_correlation=s.weighted_correlation,
        curve=[float(x) for x in res.learning_curve()],
    )


BotPlays = dict[str, tuple[Player, SessionResult]]


def bot_plays(ctx: HarvestedUnit, rs: RoundSet, cache: UnitCache, n: int | None = None) -> BotPlays:
    """Every offline bot (held out: fitted on the unit's training examples only) plays the first ``n``
    rounds of ``rs`` (all by default), with feedback."""
    with cache.lock:  # some bots run numpy-heavy fits; keep one at a time per process
        return play_bots(ctx, rs, OFFLINE_BOT_NAMES, rs.rounds[:n] if n is not None else None)


def bots_on(ctx: HarvestedUnit, rs: RoundSet, cache: UnitCache, n: int | None = None) -> list[PlayerScore]:
    """The offline bots' scores on the first ``n`` rounds of ``rs``."""
    return [session_score(res) for _, res in bot_plays(ctx, rs, cache, n).values()]


def game_roundset(cache: UnitCache, meta: GameMeta, pairs: list[Pair]) -> tuple[HarvestedUnit, RoundSet] | None:
    """The game's rounds rebuilt from its stored items (the training split and references follow from the
    unit, plan and seed); None if the harvest no longer holds the stored examples (e.g. it was redone)."""
    ctx = cache.context(meta.unit_id)
    if any(r.example_index >= ctx.values.size or ctx.harvest.example_id(r.example_index) != r.example_id for r, _ in pairs):
        return None
    plan = SamplingPlan.from_mix(meta.sampling, meta.seed)
    with cache.lock:
        base = draw_examples(ctx, 0, plan)
        items = replace(base, draws=tuple(Draw(r.example_index, r.source, r.weight) for r, _ in pairs))  # type: ignore[arg-type]
        return ctx, rounds_from(ctx, meta.level, items, plan, meta.seed)


def game_summary(cache: UnitCache, meta: GameMeta, pairs: list[Pair]) -> tuple[SummaryOut, BotPlays]:
    """The end-of-game summary and the bots' plays on the same rounds (for the caller to store)."""
    answered = sum(1 for _, g in pairs if g is not None)
    if not meta.feedback:
        return SummaryOut(n_rounds=len(pairs), n_answered=answered, feedback=False, you=None, bots=[]), {}
    built = game_roundset(cache, meta, pairs)
    plays = bot_plays(built[0], built[1], cache, answered) if built else {}
    bots = [session_score(res) for _, res in plays.values()]
    return SummaryOut(n_rounds=len(pairs), n_answered=answered, feedback=True, you=human_score(pairs), bots=bots), plays
