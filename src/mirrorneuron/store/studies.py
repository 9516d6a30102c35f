"""Studies: a researcher's configuration (units, levels, rounds per unit, feedback, sampling) and progress."""

from __future__ import annotations

import json
import math
import secrets
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mirrorneuron import safe_yaml
from mirrorneuron.game.sampling import DEFAULT_MIX
from mirrorneuron.store.catalog import new_id
from mirrorneuron.store.errors import NotFound
from mirrorneuron.store.models import Game, Guess, Round, Study, Unit, utcnow


class SamplingConfig(BaseModel):
    """Proportions of rounds drawn from the top examples, the quantile bins and uniformly at random."""

    model_config = ConfigDict(strict=True, extra="forbid")

    top: float = Field(DEFAULT_MIX["top"], ge=0, le=1)
    bins: float = Field(DEFAULT_MIX["bins"], ge=0, le=1)
    random: float = Field(DEFAULT_MIX["random"], ge=0, le=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SamplingConfig:
        total = self.top + self.bins + self.random
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"top + bins + random must sum to 1, got {total:g}")
        return self


class StudyConfig(BaseModel):
    """A study as a researcher writes it (YAML or JSON). Unknown fields are errors."""

    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    units: list[str] = Field(min_length=1, max_length=1000)
    levels: list[int] = Field(min_length=1, max_length=4)
    rounds_per_unit: int = Field(ge=1, le=500)
    feedback: bool = True
    practice_rounds: int = Field(0, ge=0, le=20)
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig.model_validate(DEFAULT_MIX))
    # between: each player plays one level per unit (levels rotate over players), every player gets the same
    # items, so levels are compared on the same examples; within: a player plays every level of a unit, each
    # level on its own, disjoint examples.
    design: Literal["between", "within"] = "between"
    seed: int = Field(default_factory=lambda: secrets.randbelow(2**31), ge=0, le=2**31 - 1)  # recorded

    @field_validator("units")
    @classmethod
    def _units(cls, units: list[str]) -> list[str]:
        cleaned = [u.strip() for u in units]
        if any(not u for u in cleaned):
            raise ValueError("unit ids must be non-empty")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("unit ids must not repeat")
        return cleaned

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: list[int]) -> list[int]:
        bad = [lv for lv in levels if not 0 <= lv <= 3]
        if bad:
            raise ValueError(f"levels must be between 0 and 3, got {bad}")
        if len(set(levels)) != len(levels):
            raise ValueError("levels must not repeat")
        return levels

    @classmethod
    def from_text(cls, text: str) -> StudyConfig:
        """Parse a YAML or JSON study file; ValueError naming each bad field."""
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("study config is nested too deeply") from None
        except json.JSONDecodeError:
            try:
                data = safe_yaml.load(text)
            except yaml.YAMLError as exc:
                raise ValueError(f"study config is neither valid JSON nor valid YAML: {_yaml_error(exc)}") from None
        if not isinstance(data, dict):
            raise ValueError("study config must be a mapping of fields (name, units, levels, rounds_per_unit, …)")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ValueError(f"invalid study config: {describe_errors(exc)}") from None


def describe_errors(exc: ValidationError) -> str:
    """Pydantic errors as one line: ``field 'levels.1': …; field 'sampling': …``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            model = SamplingConfig if err["loc"][:1] == ("sampling",) else StudyConfig
            msg = "unknown field (allowed: " + ", ".join(model.model_fields) + ")"
        parts.append(f"field '{where}': {msg}")
    return "; ".join(parts)


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else str(problem)


def unknown_units(s: Session, unit_ids: list[str]) -> list[str]:
    """The ids in ``unit_ids`` that are not registered in the units table."""
    known = set(s.scalars(select(Unit.id).where(Unit.id.in_(unit_ids))))
    return [u for u in unit_ids if u not in known]


def create_study(s: Session, config: StudyConfig, owner_id: str, check_units: bool = False) -> Study:
    """Store a study owned by ``owner_id`` under a short URL-safe id. With ``check_units`` every unit must be
    registered (ValueError naming the unknown ones)."""
    if check_units:
        missing = unknown_units(s, config.units)
        if missing:
            raise ValueError(f"unknown unit(s) in study config: {', '.join(missing)}")
    study = Study(id=new_id(6), name=config.name, config=config.model_dump(mode="json"), owner_id=owner_id)
    s.add(study)
    s.flush()
    return study


def get_study(s: Session, study_id: str) -> Study | None:
    return s.get(Study, study_id)


def study_config(study: Study) -> StudyConfig:
    return StudyConfig.model_validate(study.config)


def participants(s: Session, study_id: str) -> int:
    """How many players have joined the study (they have games in it)."""
    stmt = select(func.count(func.distinct(Game.player_id))).where(Game.study_id == study_id)
    return int(s.execute(stmt).scalar_one())


def study_progress(s: Session, study_id: str) -> dict[str, Any]:
    """Players, games started/finished and guesses per unit × level (practice games counted apart)."""
    study = s.get(Study, study_id)
    if study is None:
        raise NotFound(f"no study {study_id!r}")
    config = study_config(study)
    per_game = (
        select(
            Game.id,
            Game.player_id,
            Game.practice,
            func.count(Round.id).label("n_rounds"),
            func.count(Guess.id).label("n_guesses"),
        )
        .join(Round, Round.game_id == Game.id)
        .outerjoin(Guess, (Guess.round_id == Round.id) & (Guess.player_id == Game.player_id))
        .where(Game.study_id == study_id)
        .group_by(Game.id, Game.player_id, Game.practice)
    )
    games = s.execute(per_game).all()
    cells_q = (
        select(
            Round.unit_id,
            Round.level,
            func.count(Guess.id),
            func.count(func.distinct(Guess.player_id)),
            func.avg(Guess.score),
        )
        .join(Game, Game.id == Round.game_id)
        .join(Guess, (Guess.round_id == Round.id) & (Guess.player_id == Game.player_id))
        .where(Game.study_id == study_id, Game.practice.is_(False))
        .group_by(Round.unit_id, Round.level)
    )
    found = {(u, lv): (n, p, m) for u, lv, n, p, m in s.execute(cells_q)}
    cells: list[dict[str, Any]] = []
    for unit in config.units:
        for level in config.levels:
            n, p, m = found.get((unit, level), (0, 0, None))
            cells.append(
                {
                    "unit_id": unit,
                    "level": level,
                    "guesses": int(n),
                    "players": int(p),
                    "mean_score": None if m is None else float(m),
                }
            )
    real = [g for g in games if not g.practice]
    return {
        "study_id": study_id,
        "name": study.name,
        "players": len({g.player_id for g in games}),
        "games_started": len(real),
        "games_finished": sum(1 for g in real if g.n_guesses >= g.n_rounds),
        "practice_games": len(games) - len(real),
        "guesses": sum(int(c["guesses"]) for c in cells),
        "target_guesses_per_player": config.rounds_per_unit * len(config.units) * len(config.levels),
        "cells": cells,
    }


def close_study(s: Session, study_id: str) -> Study:
    """Close the study (its units unlock; closing again keeps the first time). NotFound if there is none."""
    study = s.get(Study, study_id)
    if study is None:
        raise NotFound(f"no study {study_id!r}")
    if study.closed_at is None:
        study.closed_at = utcnow()
        s.flush()
    return study
