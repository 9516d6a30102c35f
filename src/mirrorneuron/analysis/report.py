"""The analysis report: a list of :class:`~mirrorneuron.analysis.sections.Section`, laid out as a
self-contained HTML page (PNG figures inlined), every table as Parquet and CSV, and a JSON twin.

``build_report(data)`` fits the human rounds when ``data.fit`` is missing, then calls each builder of
:data:`SECTION_BUILDERS`; a builder that raises becomes a section saying what failed, so one broken section
never takes the report down. ``write_report`` writes the files; ``report_json`` / ``render_sections`` are
what the web page serves.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import Engine, func, select

from mirrorneuron.analysis import across, finder_eval, gap, learning, rankings
from mirrorneuron.analysis.fit import SkillDifficultyFit, fit_skill_difficulty
from mirrorneuron.analysis.fit_sections import difficulty_section, levels_section, skill_section
from mirrorneuron.analysis.frames import load_analysis_data
from mirrorneuron.analysis.load import rounds_query
from mirrorneuron.analysis.sections import AnalysisData, Section
from mirrorneuron.store.models import Guess, Model, Round, Study
from mirrorneuron.types import UserError

log = logging.getLogger(__name__)

Builder = Callable[[AnalysisData], Section]
Progress = Callable[[str], None]  # called with a step's name when it is done

SECTION_BUILDERS: list[Builder] = [
    difficulty_section,
    rankings.section,
    levels_section,
    skill_section,
    learning.section,
    gap.section,
    across.section,
    finder_eval.section,
]
MIN_FIT_ROUNDS = 20  # fewer human rounds than this: no fit (the fit's sections say "Not enough data")
MAX_HTML_ROWS = 40  # rows of a table shown in the HTML; the Parquet / CSV files hold all of them
FIGURE_DPI = 110
TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html", "j2")))


@dataclass
class Report:
    """Built sections, their figures as PNG bytes (by section key) and what the data covers."""

    title: str
    generated_at: str
    covers: dict[str, Any]
    sections: list[Section]
    images: dict[str, bytes] = field(default_factory=dict)


# --- loading (a stand-in until analysis.load.load_analysis_data exists) --------------------------------
def check_selection(engine: Engine, study: str | None, model: str | None) -> None:
    """UserError for a study or model the store does not have."""
    with engine.connect() as c:
        if study is not None and c.execute(select(Study.id).where(Study.id == study)).first() is None:
            raise UserError(f"no study {study!r} in the gameplay store (its id is in the study's share link)")
        if model is not None and c.execute(select(Model.id).where(Model.id == model)).first() is None:
            raise UserError(f"no model {model!r} in the gameplay store (a model appears once it has been played)")


def load_data(
    engine: Engine, study: str | None = None, model: str | None = None, exclude_units: Collection[str] = ()
) -> AnalysisData:
    """The report's input (``load_analysis_data``) with rounds and finder scores on ``exclude_units`` left out
    (the web leaves out units an open study locks)."""
    data = load_analysis_data(engine, study, model)
    if exclude_units:
        hidden = set(exclude_units)
        data.rounds = data.rounds[~data.rounds["unit_id"].astype(str).isin(hidden)].reset_index(drop=True)
        scores = data.finder_scores
        data.finder_scores = scores[~scores["unit_id"].astype(str).isin(hidden)].reset_index(drop=True)
    return data


def period(
    engine: Engine, study: str | None = None, model: str | None = None, exclude_units: Collection[str] = ()
) -> dict[str, str | None]:
    """When the rounds :func:`load_data` selects were answered: the times of the first and last guess."""
    stmt = rounds_query(study_id=study, model_id=model).with_only_columns(
        func.min(Guess.created_at), func.max(Guess.created_at)
    )
    if exclude_units:
        stmt = stmt.where(Round.unit_id.not_in(list(exclude_units)))
    with engine.connect() as c:
        first, last = c.execute(stmt).one()
    return {
        k: v.isoformat(timespec="seconds") if v else None
        for k, v in (("first_guess_at", first), ("last_guess_at", last))
    }


# --- building ----------------------------------------------------------------------------------------
def fit_rounds(data: AnalysisData) -> SkillDifficultyFit | None:
    """The skill × difficulty fit of the human rounds (score / 100, with the practice term), or None below
    :data:`MIN_FIT_ROUNDS`."""
    human = data.human_rounds
    if len(human) < MIN_FIT_ROUNDS:
        return None
    ids = {c: human[c].cat.remove_unused_categories() for c in ("player_id", "unit_id") if human[c].dtype == "category"}
    return fit_skill_difficulty(human.assign(**ids), outcome="outcome", practice="prior_rounds")


def builder_name(builder: Builder) -> str:
    """``rankings.section`` → "rankings"; other functions by their own name."""
    name = getattr(builder, "__name__", type(builder).__name__)
    return str(getattr(builder, "__module__", "")).rsplit(".", 1)[-1] if name == "section" else name


def failed_section(name: str, error: BaseException) -> Section:
    return Section(
        key=f"{name}-failed",
        title=f"{name}: failed",
        note=f"This section could not be built ({type(error).__name__}: {error}); the rest of the report is unaffected.",
        enough_data=False,
        facts={"error": type(error).__name__},
    )


def png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI)
    return buf.getvalue()


def covers(data: AnalysisData) -> dict[str, Any]:
    r, h = data.rounds, data.human_rounds
    return {
        "rounds": len(r),
        "human_rounds": len(h),
        "bot_rounds": len(r) - len(h),
        "human_players": int(h["player_id"].nunique()) if len(h) else 0,
        "units": int(r["unit_id"].nunique()) if len(r) else 0,
        "models": sorted(str(m) for m in r["model_id"].dropna().unique()) if len(r) else [],
        "studies": sorted(str(s) for s in r["study_id"].dropna().unique()) if len(r) else [],
        "levels": sorted(int(v) for v in r["level"].unique()) if len(r) else [],
    }


def _unique_key(key: str, taken: set[str]) -> str:
    out, i = key, 2
    while out in taken:
        out, i = f"{key}-{i}", i + 1
    taken.add(out)
    return out


def build_report(
    data: AnalysisData, builders: Sequence[Builder] = SECTION_BUILDERS, progress: Progress | None = None
) -> Report:
    """Every section of the report (figures rendered to PNG). ``progress(step)`` after the fit and after
    each section."""
    done = progress or (lambda _step: None)
    sections: list[Section] = []
    if data.fit is None:
        try:
            data = replace(data, fit=fit_rounds(data))
        except Exception as e:  # a failed fit leaves the fit's sections at "not enough data"
            log.exception("the skill × difficulty fit failed")
            sections.append(failed_section("fit", e))
    done("fit")
    images: dict[str, bytes] = {}
    taken: set[str] = set()
    for builder in builders:
        name = builder_name(builder)
        try:
            section = builder(data)
            section.key = _unique_key(section.key, taken)
            if section.figure is not None:
                images[section.key] = png(section.figure)
        except Exception as e:
            log.exception("report section %s failed", name)
            section = failed_section(name, e)
            section.key = _unique_key(section.key, taken)
        sections.append(section)
        done(section.key)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    return Report(data.title, when, covers(data), sections, images)


# --- output ------------------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """Facts as JSON: numpy scalars as Python numbers, NaN / inf as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(df.to_json(orient="records", date_format="iso", default_handler=str))
    return out


def data_uri(image: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")


def report_json(report: Report) -> dict[str, Any]:
    """The JSON twin: what the data covers, and per section its note, facts, tables (as records) and figure
    (a PNG data URI, or None)."""
    return {
        "title": report.title,
        "generated_at": report.generated_at,
        "covers": jsonable(report.covers),
        "sections": [
            {
                "key": s.key,
                "title": s.title,
                "note": s.note,
                "enough_data": s.enough_data,
                "facts": jsonable(s.facts),
                "tables": {name: records(df) for name, df in s.tables.items()},
                "figure": data_uri(report.images[s.key]) if s.key in report.images else None,
            }
            for s in report.sections
        ],
    }


def table_file(section: str, table: str, ext: str) -> str:
    return f"{section}-{table}.{ext}"


def _html_table(df: pd.DataFrame) -> Markup:
    html = df.head(MAX_HTML_ROWS).to_html(index=False, na_rep="—", float_format=lambda v: f"{v:.4g}", border=0)
    return Markup(html.replace('class="dataframe"', 'class="dataframe compact"'))  # to_html escapes cells


def render_sections(report: Report, files: bool = False) -> Markup:
    """The report's body (header, contents, sections) as HTML; ``files``: link each table's CSV / Parquet."""
    return Markup(
        _env.get_template("sections.html.j2").render(
            report=report,
            images={k: data_uri(v) for k, v in report.images.items()},
            html_table=_html_table,
            table_file=table_file if files else None,
            max_rows=MAX_HTML_ROWS,
        )
    )


def _to_parquet(df: pd.DataFrame, path: Path) -> None:
    try:
        df.to_parquet(path, index=False)
    except (TypeError, ValueError, ImportError, ArithmeticError):  # mixed-type object columns: as text
        obj = [c for c in df.columns if df[c].dtype == object]
        df.astype(dict.fromkeys(obj, str)).to_parquet(path, index=False)


def write_report(report: Report, out_dir: Path) -> Path:
    """Write ``index.html``, ``report.json`` and each table as ``<section>-<table>.parquet`` and ``.csv``
    into ``out_dir`` (created); returns the path of ``index.html``. UserError if it cannot be written."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for s in report.sections:
            for name, df in s.tables.items():
                frame = df.rename(columns=str).reset_index(drop=True)
                _to_parquet(frame, out_dir / table_file(s.key, name, "parquet"))
                frame.to_csv(out_dir / table_file(s.key, name, "csv"), index=False)
        (out_dir / "report.json").write_text(json.dumps(report_json(report), indent=1), encoding="utf-8")
        index = out_dir / "index.html"
        page = _env.get_template("report.html.j2").render(report=report, body=render_sections(report, files=True))
        index.write_text(page, encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot write the report to {out_dir}: {e.strerror or e}") from None
    return index
