"""Explanations of a unit and their simulation scores (``/api/units/{unit_id}/explanations``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mirrorneuron.web.schemas.common import Strict


class ExplanationIn(Strict):
    text: str = Field(min_length=1, max_length=500, description="one sentence: what the unit fires on")
    llm_explanation: bool = Field(False, description="also have the LLM write an explanation and score it alike")


class MetricsOut(Strict):
    """Standard metrics (``game.scoring``) over the scored examples; correlation is the headline score."""

    n: int
    correlation: float
    r2: float
    abs_dev_explained: float
    mean_round_score: float | None


class ExplanationOut(Strict):
    id: int
    unit_id: str
    author: str = Field(description="the player's id, or llm:<backend> for an LLM-written explanation")
    text: str
    status: Literal["scoring", "scored", "failed"]
    error: str | None = Field(None, description="why scoring failed")
    backend: str | None = None
    n: int | None = Field(None, description="how many examples were scored (the player's guessed rounds)")
    player: MetricsOut | None = Field(None, description="the player's own guesses on the same examples")
    simulation: MetricsOut | None = Field(None, description="this explanation, simulated by the LLM")
    llm_text: str | None = Field(None, description="the LLM-written explanation scored beside it")
    llm: MetricsOut | None = Field(None, description="the LLM-written explanation, simulated")
    created_at: str


class ExplanationsOut(Strict):
    unit_id: str
    explanations: list[ExplanationOut]
