"""What every part of the analysis report is made of: the input data and one :class:`Section` per question.

Each analysis module (rankings, learning curves, humans vs bots, across models, finder evaluation, …) has a
``section(data) -> Section`` function; the report (HTML, web page, JSON twin) only lays sections out. A
section with too little data says so in ``note`` and sets ``enough_data=False`` instead of showing numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from mirrorneuron.analysis.fit import SkillDifficultyFit


@dataclass
class AnalysisData:
    """The input of every section.

    ``rounds``: one row per answered round (``analysis.load_rounds`` columns, humans and bots together;
    ``player_kind`` tells them apart). ``fit``: the skill × difficulty fit of the human rounds (None: too few).
    ``models``: one row per model: ``model_id`` and its attribute columns (activation, width, depth, l1,
    weight_decay, data, task, seed, val_loss, val_accuracy, unigram_val_loss, …; missing ones are NaN).
    ``finder_scores``: long format ``unit_id, finder, score``. ``title``: what the report is about."""

    rounds: pd.DataFrame
    fit: SkillDifficultyFit | None = None
    models: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"model_id": pd.Series(dtype=str)}))
    finder_scores: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {"unit_id": pd.Series(dtype=str), "finder": pd.Series(dtype=str), "score": pd.Series(dtype=float)}
        )
    )
    title: str = "all gameplay"

    @property
    def human_rounds(self) -> pd.DataFrame:
        return self.rounds[self.rounds["player_kind"] == "human"] if len(self.rounds) else self.rounds


@dataclass
class Section:
    """One part of the report. ``tables`` are written as Parquet and CSV (``key-name``) and shown in the JSON
    twin; ``figure`` is rendered to PNG; ``facts`` are a few headline numbers (JSON-safe scalars)."""

    key: str
    title: str
    note: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figure: Figure | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    enough_data: bool = True


def not_enough(key: str, title: str, why: str) -> Section:
    """The section that stands in for a number when the data cannot support one."""
    return Section(key=key, title=title, note=f"Not enough data: {why}", enough_data=False)
