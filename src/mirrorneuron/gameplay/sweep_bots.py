"""A sweep's models in the gameplay store: registered with their attributes, and played by every offline bot
at every level on held-out rounds (each bot's game stored like ``bots run``'s).

Each model is harvested on its own training corpus (its default harvest, so human games of it see the same
examples, and so do the finders: ``finders run --sweep``); a few lively neurons are drawn per model with a
fixed seed. The rounds never share a window with the rounds the imitability finders score the unit on
(:func:`finder_windows`), so a finder that is itself a bot score is judged on other items.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from mirrorneuron.config import PACKAGE_DATA
from mirrorneuron.finders.imitability import N_ROUNDS
from mirrorneuron.game import SamplingPlan, UnitContext, draw_examples, make_rounds, summarize, training_mask
from mirrorneuron.gameplay.bots import bot_version, play_bots, store_bot_game
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import default_spec, harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.models.sweep import attributes
from mirrorneuron.models.zoo import load_model
from mirrorneuron.players import OFFLINE_BOT_NAMES, make_bot
from mirrorneuron.players.data import BotData
from mirrorneuron.store import history, repo
from mirrorneuron.types import UnitRef
from mirrorneuron.units import unit_context
from mirrorneuron.units.data import default_harvest_dir
from mirrorneuron.units.open import lively_unit

LEVELS = (0, 1, 2, 3)
FINDER_SEED = 0  # the seed the finders draw their rounds with (``SiteData.seed``'s default)


def sweep_file(arg: Path) -> Path:
    """``default`` (or any shipped sweep's name) means the sweep file inside the package."""
    shipped = PACKAGE_DATA / "sweeps" / f"{arg}.yaml"
    return shipped if not arg.exists() and shipped.exists() else arg


def register_models(s: Session, names: Sequence[str]) -> None:
    """Register each trained zoo model with its training knobs and capability in ``models.attributes``. Commits."""
    for name in names:
        zm = load_model(name)
        repo.ensure_model(s, name, zm.config.modality, zm.checksum, attributes(zm.config, zm.metrics))
    s.commit()


def register_bots(s: Session, names: Sequence[str]) -> None:
    """The bots' player rows, made once before worker processes store games (two workers making the same
    bot's row at once would collide on its id). Commits."""
    for name in names:
        bot = make_bot(name, BotData(np.zeros(1)))
        history.ensure_bot(s, bot.name, bot_version(bot))
    s.commit()


@dataclass(frozen=True)
class BotRun:
    units: int = 6  # lively neurons per model
    rounds: int = 40  # held-out rounds per unit and level
    windows: int = 1000  # harvest windows per text model
    seed: int = 0
    levels: tuple[int, ...] = LEVELS
    bots: tuple[str, ...] = OFFLINE_BOT_NAMES


def sweep_harvest(name: str, windows: int = BotRun.windows) -> tuple[TorchAdapter, Harvest]:
    """Model ``name``'s default harvest, made (or reused) on its own training corpus: ``windows`` windows of
    text (digits: every image)."""
    adapter = zoo_adapter(name)
    cfg = load_model(name).config
    corpus = "digits" if cfg.modality == "image" else cfg.corpus
    max_windows = None if cfg.modality == "image" else windows
    spec = default_spec(adapter, corpus=corpus, max_windows=max_windows)
    return adapter, harvest(adapter, spec, default_harvest_dir(name))


def finder_windows(ctx: UnitContext, rounds: int = N_ROUNDS, seed: int = FINDER_SEED, keep: int = 0) -> np.ndarray:
    """True for the examples whose window an imitability finder's rounds of ``ctx`` ask (its own draw). On a
    harvest too small for them and ``keep`` more rounds, only the first ones (as many as leave ``keep``)."""
    held_out = np.unique(np.asarray(ctx.groups)[~training_mask(ctx.groups)]).size
    n = max(0, min(rounds, held_out - keep))  # a shorter draw is the longer one's prefix
    asked = np.zeros(len(ctx.groups), dtype=bool)
    asked[[d.index for d in draw_examples(ctx, n, SamplingPlan(seed=seed)).draws]] = True
    return asked


def played_units(adapter: TorchAdapter, h: Harvest, run: BotRun) -> list[UnitRef]:
    """The ``run.units`` lively neurons of a model the bots play (drawn with ``run.seed``)."""
    rng = np.random.default_rng(run.seed)
    return list(dict.fromkeys(lively_unit(adapter, h, rng) for _ in range(run.units * 4)))[: run.units]


def play_model(
    s: Session, name: str, run: BotRun, progress: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Every bot × level × drawn unit of model ``name``: one row each with the unit's pooled correlation
    (DESIGN §6) over its held-out rounds, which share no window with the finders' rounds; every bot game is
    stored. Commits."""
    say = progress or (lambda _m: None)
    say(f"{name}: harvesting")
    adapter, h = sweep_harvest(name, run.windows)
    refs = played_units(adapter, h, run)
    rows: list[dict[str, Any]] = []
    for ref in refs:
        ctx = unit_context(adapter, h, ref)
        not_the_finders = finder_windows(ctx, keep=run.rounds)
        for level in run.levels:
            say(f"{name}: {ref.site}/{ref.index} level {level}")
            rs = make_rounds(ctx, level, run.rounds, SamplingPlan(seed=run.seed), exclude=not_the_finders)
            for bot_name, (bot, res) in play_bots(ctx, rs, run.bots).items():
                store_bot_game(s, ctx, rs, bot, res, client="sweep-bots")
                summary = summarize([r.actual for r in res.results], [r.guess for r in res.results])
                rows.append(
                    {
                        "model": name,
                        "unit": ctx.unit_id,
                        "level": level,
                        "bot": bot_name,
                        "rounds": summary.n,
                        "correlation": summary.correlation,
                        "flag": summary.correlation_flag or "",
                    }
                )
    return rows


def play_model_alone(name: str, run: BotRun) -> list[dict[str, Any]]:
    """:func:`play_model` in a worker process: its own store session and one torch thread (workers share
    the cores). Every game commits on its own, so workers' writes interleave."""
    import torch

    from mirrorneuron.gameplay.local import local_store

    torch.set_num_threads(1)
    with local_store() as s:
        return play_model(s, name, run)
