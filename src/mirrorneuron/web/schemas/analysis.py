"""The analysis page's JSON twin: what the data covers and one entry per report section."""

from __future__ import annotations

from pydantic import Field

from mirrorneuron.web.schemas.common import Strict

Scalar = bool | int | float | str | None  # a table cell; facts are scalars or lists of them (sections.Section)


class CoversOut(Strict):
    rounds: int
    human_rounds: int
    bot_rounds: int
    human_players: int
    units: int
    models: list[str]
    studies: list[str]
    levels: list[int]
    first_guess_at: str | None = Field(None, description="when the first analysed round was answered (UTC, ISO)")
    last_guess_at: str | None = Field(None, description="when the last analysed round was answered")
    withheld_units: int = Field(0, description="units left out because an open study locks them")


class SectionOut(Strict):
    key: str
    title: str
    note: str = Field(description='what the section shows, or "Not enough data: …" / what failed')
    enough_data: bool
    facts: dict[str, Scalar | list[Scalar]] = Field(description="a few headline numbers (null where not a number)")
    tables: dict[str, list[dict[str, Scalar]]] = Field(description="each table as records (also on the page)")
    figure: str | None = Field(description="the figure as a PNG data URI, or null")


class AnalysisOut(Strict):
    """The analysis report, aggregated over answered rounds only."""

    title: str
    generated_at: str
    covers: CoversOut
    sections: list[SectionOut]
