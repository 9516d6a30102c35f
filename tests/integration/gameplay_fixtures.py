"""A small real game in the store for the export and load tests: rounds made by the game core from text and
image examples (the payloads a player is served), played by a human and a bot, on a text and an image model
with attributes, one of the games in a study. Import the fixture into a test module:

    from gameplay_fixtures import played  # noqa: F401  (pytest fixture)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from store_fixtures import uid

from mirrorneuron.game import ArrayContext, ImageExample, TextExample, make_rounds
from mirrorneuron.store import export, repo
from mirrorneuron.store.db import session_factory
from mirrorneuron.store.models import Model

WORDS = [" the", " cat", " sat", " on", " a", " mat", "\n", " and", " then", " it", " ran", " off"]
TEXT_ATTRS = {"activation": "gelu", "width": 64, "l1": 0.0, "seed": 7, "val_loss": 2.5, "layers": [0, 1]}
IMAGE_ATTRS = {"activation": "relu", "width": 32, "val_accuracy": 0.9}


@dataclass
class Played:
    """What was stored: ids, and per answered round the example served and the truth (by round id)."""

    text_model: str
    image_model: str
    text_unit: str
    image_unit: str
    study_id: str
    human: str
    bot: str
    served: dict[str, dict[str, Any]] = field(default_factory=dict)  # round id → payload["example"]
    truth: dict[str, float] = field(default_factory=dict)  # answered round id → actual
    kinds: dict[str, str] = field(default_factory=dict)  # answered round id → player kind

    @property
    def n_answered(self) -> int:
        return len(self.truth)


def _context(unit_id: str, examples: list[Any], seed: int) -> ArrayContext:
    values = np.random.default_rng(seed).normal(size=len(examples))
    return ArrayContext(unit_id=unit_id, values=values, examples=examples)


def _store_game(
    s: Session, ctx: ArrayContext, model: str, player: str, n: int, answer: int, **kwargs: Any
) -> list[tuple[str, dict[str, Any], float]]:
    """A game of ``n`` rounds made by the game core; the player answers the first ``answer`` of them.
    Returns (round id, served example, actual) of the answered ones."""
    rs = make_rounds(ctx, 0, n, seed=3)
    rows = [
        {
            "seq": r.seq,
            "example_id": r.example.content_id,
            "example_index": r.index,
            "source": r.source,
            "weight": r.weight,
            "scale": r.scale,
            "payload": r.to_dict(),
            "actual": float(ctx.values[r.index]),
        }
        for r in rs.rounds
    ]
    repo.ensure_examples(
        s,
        model,
        [
            {"id": x["example_id"], "harvest_index": x["example_index"], "payload": x["payload"]["example"]}
            for x in rows
        ],
    )
    game = repo.create_game(s, player, ctx.unit_id, 0, True, 3, rows, **kwargs)
    s.commit()
    out = []
    for k in range(answer):
        rnd = repo.next_round(s, game.id)
        assert rnd is not None
        repo.submit_guess(s, player, rnd.id, rnd.token, 0.1 * k, 2.0)
        out.append((rnd.id, rnd.payload["example"], rnd.actual))
    return out


def store_played(engine: Engine) -> Played:
    with session_factory(engine)() as s:
        text_model, image_model = f"txt-{uid()}", f"img-{uid()}"
        text_unit, image_unit = f"{text_model}/blocks.0.mlp.post/neuron/5", f"{image_model}/blocks.0.mlp.post/neuron/2"
        for model, modality, attrs in ((text_model, "text", TEXT_ATTRS), (image_model, "image", IMAGE_ATTRS)):
            repo.ensure_model(s, model, modality, "abc")
            s.execute(update(Model).where(Model.id == model).values(attributes=attrs))
        repo.ensure_unit(s, text_unit, text_model, "blocks.0.mlp.post", "neuron", 5, {"scale": 2.0})
        repo.ensure_unit(s, image_unit, image_model, "blocks.0.mlp.post", "neuron", 2, {"scale": 2.0})
        human = repo.ensure_player(s, None)
        bot = repo.ensure_player(s, None, kind="bot")
        bot.bot_name, bot.bot_version = "ridge", "2"
        cfg = repo.StudyConfig(name="pilot", units=[text_unit], levels=[0], rounds_per_unit=4)
        study = repo.create_study(s, cfg, human.id)
        s.commit()
        texts = [TextExample(tuple(WORDS[i : i + 5]), 2 + i % 3) for i in range(8)]
        images = [ImageExample(np.random.default_rng(i).random((8, 8))) for i in range(6)]
        text_ctx, image_ctx = _context(text_unit, texts, 1), _context(image_unit, images, 2)
        played = Played(text_model, image_model, text_unit, image_unit, study.id, human.id, bot.id)
        answered = [
            (human.id, _store_game(s, text_ctx, text_model, human.id, 4, 4, study_id=study.id, design="between")),
            (bot.id, _store_game(s, text_ctx, text_model, bot.id, 4, 4, design="bots", client="cli")),
            (human.id, _store_game(s, image_ctx, image_model, human.id, 3, 2)),  # one round left unanswered
        ]
        for player, rounds in answered:
            for round_id, example, actual in rounds:
                played.served[round_id], played.truth[round_id] = example, actual
                played.kinds[round_id] = "bot" if player == bot.id else "human"
    return played


@pytest.fixture(scope="module")
def played(store_engine: Engine) -> Played:
    return store_played(store_engine)


def marked(example: dict[str, Any]) -> str:
    """The window with its target in [[ ]], computed here independently of the export."""
    tokens, t = example["tokens"], example["target"]
    return "".join(tokens[:t]) + "[[" + tokens[t] + "]]" + "".join(tokens[t + 1 :])


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray | list):
        return [_plain(x) for x in v]
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return None
    return v.item() if isinstance(v, np.generic) else v


def rows_of(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values (None for every kind of missing), comparable across libraries."""
    return [{k: _plain(v) for k, v in r.items()} for r in df.astype(object).to_dict("records")]


def faulty_join(fault: str) -> Any:
    """A stand-in for ``store.export.joined`` with a planted fault: ``duplicates`` or ``drops-bots``."""
    real = export.joined

    def joined(*columns: Any) -> Any:
        stmt = real(*columns)
        if fault == "duplicates":  # one row per example of the unit's model, not per guess
            return stmt.join(export._e, export._e.c.model_id == export._u.c.model_id)
        return stmt.where(export._p.c.kind == "human")  # drops the bots' rows

    return joined
