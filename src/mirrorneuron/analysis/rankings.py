"""Rankings from the skill × difficulty fit: units players imitate best and worst, players, level effects.

Every unit and player gets its estimate with a 95 % interval, but only when it passes the minimum-data rule
(``min_rounds`` rounds and, for units, ``min_players`` distinct players); below it the estimate is NaN and
its ``shown`` text is "not enough data", so a unit seen twice is never ranked among the easiest.
Difficulty is on the outcome scale (score / 100) relative to the average unit: +0.05 means players score
5 points lower on it than on the average unit, all else equal. docs/analysis.md ("Rankings").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import t as student_t

from mirrorneuron.analysis.fit import SkillDifficultyFit
from mirrorneuron.analysis.sections import AnalysisData, Section, not_enough

MIN_ROUNDS = 20
MIN_PLAYERS = 3
NOT_ENOUGH = "not enough data"
ESTIMATE = ("se", "lo", "hi")


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, se, lo, hi): a t interval; se and the bounds are NaN for fewer than 2 values."""
    v = np.asarray(values, dtype=np.float64)
    m = float(v.mean()) if v.size else float("nan")
    if v.size < 2:
        return m, float("nan"), float("nan"), float("nan")
    se = float(v.std(ddof=1) / np.sqrt(v.size))
    half = float(student_t.ppf(0.5 + level / 2, v.size - 1)) * se
    return m, se, m - half, m + half


def interval_text(est: float, lo: float, hi: float) -> str:
    return f"{est:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def _apply_rule(df: pd.DataFrame, value: str, ok: np.ndarray, ascending: bool) -> pd.DataFrame:
    out = df.copy()
    cols = [value, *ESTIMATE]
    out.loc[~ok, cols] = np.nan
    out["enough_data"] = ok
    out["shown"] = [
        interval_text(e, lo, hi) if k else NOT_ENOUGH
        for e, lo, hi, k in zip(out[value], out["lo"], out["hi"], ok, strict=True)
    ]
    out["rank"] = out[value].rank(ascending=ascending, method="min")  # 1 = easiest unit / best player
    return out.sort_values(["enough_data", value], ascending=[False, ascending], ignore_index=True)


def unit_ranking(
    fit: SkillDifficultyFit, *, min_rounds: int = MIN_ROUNDS, min_players: int = MIN_PLAYERS
) -> pd.DataFrame:
    """The fit's units, easiest first: unit_id, difficulty, se, lo, hi, n_rounds, n_players, enough_data,
    shown (the estimate and interval as text, or "not enough data"), rank (1 = easiest; NaN below the rule)."""
    u = fit.units
    ok = ((u["n_rounds"] >= min_rounds) & (u["n_players"] >= min_players)).to_numpy()
    return _apply_rule(u, "difficulty", ok, ascending=True)


def player_ranking(fit: SkillDifficultyFit, *, min_rounds: int = MIN_ROUNDS) -> pd.DataFrame:
    """The fit's players, most skilled first (columns as :func:`unit_ranking`, ``skill`` for difficulty)."""
    p = fit.players
    return _apply_rule(p, "skill", (p["n_rounds"] >= min_rounds).to_numpy(), ascending=False)


def level_effects(fit: SkillDifficultyFit) -> pd.DataFrame:
    """Level effects (contrasts with the lowest level) with intervals and the rounds behind each."""
    out = fit.levels.copy()
    out["shown"] = [interval_text(e, lo, hi) for e, lo, hi in zip(out["effect"], out["lo"], out["hi"], strict=True)]
    return out


def extremes(ranking: pd.DataFrame, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``k`` easiest and ``k`` hardest units that pass the rule (hardest last-first)."""
    ok = ranking[ranking["enough_data"]]
    return ok.head(k), ok.tail(k).iloc[::-1]


def _forest(fig: Figure, pos: int, rows: pd.DataFrame, label: str, value: str, title: str) -> None:
    ax = fig.add_subplot(1, 3, pos)
    y = np.arange(len(rows))[::-1]
    est = rows[value].to_numpy()
    ax.errorbar(est, y, xerr=[est - rows["lo"], rows["hi"] - est], fmt="o", capsize=3)
    ax.set_yticks(y, [str(v) for v in rows[label]], fontsize=7)
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(value)


def section(
    data: AnalysisData, *, k: int = 10, min_rounds: int = MIN_ROUNDS, min_players: int = MIN_PLAYERS
) -> Section:
    key, title = "rankings", "Units players imitate best and worst"
    if data.fit is None:
        return not_enough(key, title, "no skill × difficulty fit (too few human rounds)")
    units = unit_ranking(data.fit, min_rounds=min_rounds, min_players=min_players)
    players = player_ranking(data.fit, min_rounds=min_rounds)
    levels = level_effects(data.fit)
    n_ok = int(units["enough_data"].sum())
    if n_ok < 2:
        return not_enough(
            key, title, f"{n_ok} unit(s) have ≥ {min_rounds} rounds from ≥ {min_players} players; 2 are needed"
        )
    easy, hard = extremes(units, min(k, max(1, n_ok // 2)))
    fig = Figure(figsize=(13, 0.35 * max(len(easy), len(hard), len(levels)) + 1.5))
    _forest(fig, 1, easy, "unit_id", "difficulty", "easiest (lowest difficulty)")
    _forest(fig, 2, hard, "unit_id", "difficulty", "hardest")
    _forest(fig, 3, levels, "level", "effect", "level effects (vs the lowest level)")
    fig.tight_layout()
    e, h = easy.iloc[0], hard.iloc[0]
    note = (
        f"Difficulty per unit from the skill × difficulty fit (score / 100 scale, relative to the average unit; "
        f"higher = harder), 95 % intervals. {n_ok} of {len(units)} units have at least {min_rounds} rounds from "
        f'{min_players} players; the rest say "{NOT_ENOUGH}". Easiest: {e["unit_id"]} ({e["shown"]}); hardest: '
        f"{h['unit_id']} ({h['shown']}). Level effects are contrasts with the lowest level."
    )
    return Section(
        key=key,
        title=title,
        note=note,
        tables={"units": units, "players": players, "levels": levels},
        figure=fig,
        facts={
            "units_ranked": n_ok,
            "units_not_enough_data": len(units) - n_ok,
            "easiest_unit": str(e["unit_id"]),
            "hardest_unit": str(h["unit_id"]),
            "players_ranked": int(players["enough_data"].sum()),
        },
    )
