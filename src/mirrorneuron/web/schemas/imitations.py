"""Imitation rules on the web: the editor's preview (reference examples only) and saved versions."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from mirrorneuron.buildout.rules.parser import MAX_SOURCE
from mirrorneuron.web.schemas.common import ExampleOut, Strict


class RuleIn(Strict):
    """A rule as typed (grammar: docs/imitations.md). Nothing else: the examples are chosen by the server."""

    source: str = Field(max_length=MAX_SOURCE)


class RuleProblem(Strict):
    """A rule that does not parse or evaluate (422): ``detail`` is one line, ``line``/``col`` are 1-based."""

    detail: str
    line: int
    col: int


class PreviewRow(Strict):
    index: int
    kind: str  # "top" or "random" reference
    example: ExampleOut
    value: float
    predicted: float


class PreviewOut(Strict):
    """The rule's predictions vs the truth on the unit's level-1 reference examples (never an askable one)."""

    unit_id: str
    rows: list[PreviewRow]
    correlation: float
    r2: float
    abs_dev_explained: float
    mean_round_score: float | None


class ScoreRowOut(Strict):
    """One line of the comparison: who predicted (imitation, a bot, you), on which examples, the metrics."""

    who: str
    on: str  # "held-out draw" or "your rounds"
    n: int
    correlation: float
    r2: float
    abs_dev_explained: float
    mean_round_score: float | None
    flags: list[str]


class ScoresOut(Strict):
    """A version's held-out scores (``gameplay.imitations.score_table``); the first row is the imitation."""

    held_out: int
    bot_level: int
    rows: list[ScoreRowOut]


class ImitationOut(Strict):
    id: int
    unit_id: str
    player_id: str
    version: int
    source: str
    scores: ScoresOut | None
    created_at: datetime


class ImitationsOut(Strict):
    """JSON twin of the editor's history: every saved version of the viewer's imitations of the unit."""

    unit_id: str
    imitations: list[ImitationOut]
