"""Report sections drawn from the skill × difficulty fit (``data.fit``): the unit difficulty forest plot, the
level effects and the distribution of player skill. Each says "Not enough data" below its minimum."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mirrorneuron.analysis.sections import AnalysisData, Section, not_enough

MIN_UNIT_ROUNDS = 5  # a unit's difficulty is shown only from this many rounds on
MIN_UNITS = 2  # a ranking needs at least two units
MIN_PLAYER_ROUNDS = 5
MIN_PLAYERS = 3
MIN_LEVEL_ROUNDS = 10
FOREST_EACH_END = 30  # beyond 2 × this many units the plot shows the easiest and the hardest only

NO_FIT = "no skill × difficulty fit (too few human rounds)"


def _forest(units: pd.DataFrame) -> Figure:
    """Horizontal intervals, hardest at the top; a gap row marks units left out in the middle."""
    n = len(units)
    if n > 2 * FOREST_EACH_END:
        shown = pd.concat([units.iloc[:FOREST_EACH_END], units.iloc[-FOREST_EACH_END:]])
        ys = np.r_[np.arange(FOREST_EACH_END), np.arange(FOREST_EACH_END) + FOREST_EACH_END + 1]
    else:
        shown, ys = units, np.arange(n)
    fig = Figure(figsize=(8, 1.2 + 0.18 * (ys.max() + 1)), layout="constrained")
    ax = fig.add_subplot()
    est = shown["difficulty"].to_numpy()
    err = np.vstack([est - shown["lo"].to_numpy(), shown["hi"].to_numpy() - est])
    ax.errorbar(est, ys, xerr=err, fmt="o", ms=3, lw=1, color="#3060a0", ecolor="#7090c0")
    ax.set_yticks(ys, [str(u) for u in shown["unit_id"]], fontsize=6)
    if n > 2 * FOREST_EACH_END:
        ax.axhline(FOREST_EACH_END, color="#aaa", ls=":", lw=1)
        ax.text(0.01, FOREST_EACH_END, f"  … {n - 2 * FOREST_EACH_END} units not shown …", fontsize=7,
                va="center", transform=ax.get_yaxis_transform())  # fmt: skip
    ax.axvline(0.0, color="#888", lw=0.8)
    ax.set_xlabel("difficulty (score / 100 lost vs the average unit), 95 % interval")
    ax.set_title("Units from easiest (bottom) to hardest (top)")
    return fig


def difficulty_section(data: AnalysisData) -> Section:
    key, title = "difficulty", "Unit difficulty"
    if data.fit is None:
        return not_enough(key, title, NO_FIT)
    units = data.fit.units[data.fit.units["n_rounds"] >= MIN_UNIT_ROUNDS]
    if len(units) < MIN_UNITS:
        return not_enough(key, title, f"fewer than {MIN_UNITS} units with ≥ {MIN_UNIT_ROUNDS} human rounds")
    units = units.sort_values("difficulty", kind="stable", ignore_index=True)
    shown = min(len(units), 2 * FOREST_EACH_END)
    note = (
        f"Difficulty of each unit with ≥ {MIN_UNIT_ROUNDS} human rounds from the skill × difficulty fit (higher"
        f" = harder; 0 = the average unit), with 95 % intervals. The plot shows {shown} of {len(units)} units"
        + (f": the {FOREST_EACH_END} easiest and the {FOREST_EACH_END} hardest." if shown < len(units) else ".")
    )
    hardest, easiest = units.iloc[-1], units.iloc[0]
    facts = {
        "units_ranked": len(units),
        "units_too_few_rounds": int(len(data.fit.units) - len(units)),
        "easiest_unit": str(easiest["unit_id"]),
        "hardest_unit": str(hardest["unit_id"]),
        "difficulty_sd": float(units["difficulty"].std(ddof=0)),
    }
    return Section(key, title, note, tables={"units": units}, figure=_forest(units), facts=facts)


def levels_section(data: AnalysisData) -> Section:
    key, title = "levels", "Level effects"
    if data.fit is None:
        return not_enough(key, title, NO_FIT)
    levels = data.fit.levels[data.fit.levels["n_rounds"] >= MIN_LEVEL_ROUNDS].reset_index(drop=True)
    if len(levels) < 2:
        return not_enough(key, title, f"fewer than 2 levels with ≥ {MIN_LEVEL_ROUNDS} human rounds")
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.add_subplot()
    est = levels["effect"].to_numpy()
    err = np.vstack([est - levels["lo"].to_numpy(), levels["hi"].to_numpy() - est])
    xs = np.arange(len(levels))
    ax.errorbar(xs, est, yerr=err, fmt="o", capsize=4, color="#3060a0")
    ax.set_xticks(xs, [f"level {lv}" for lv in levels["level"]])
    ax.axhline(0.0, color="#888", lw=0.8)
    ax.set_ylabel("effect on score / 100, 95 % interval")
    ax.set_title(f"Levels compared with level {levels['level'].iloc[0]}")
    note = (
        f"How much more (or less) of the score a round at each level earns than at the lowest level, with"
        f" player skill, unit difficulty and practice held fixed; levels with ≥ {MIN_LEVEL_ROUNDS} human rounds."
    )
    summary = data.fit.summary
    facts = {
        "levels": [int(v) for v in levels["level"]],
        "practice_beta": summary.get("beta"),
        "practice_beta_se": summary.get("beta_se"),
    }
    return Section(key, title, note, tables={"levels": levels}, figure=fig, facts=facts)


def skill_section(data: AnalysisData) -> Section:
    key, title = "skill", "Player skill"
    if data.fit is None:
        return not_enough(key, title, NO_FIT)
    players = data.fit.players[data.fit.players["n_rounds"] >= MIN_PLAYER_ROUNDS]
    if len(players) < MIN_PLAYERS:
        return not_enough(key, title, f"fewer than {MIN_PLAYERS} players with ≥ {MIN_PLAYER_ROUNDS} rounds")
    players = players.sort_values("skill", ascending=False, kind="stable", ignore_index=True)
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.hist(players["skill"].to_numpy(), bins=min(40, max(5, len(players) // 5)), color="#3060a0", alpha=0.8)
    ax.axvline(0.0, color="#888", lw=0.8)
    ax.set_xlabel("skill (score / 100 gained vs the average player)")
    ax.set_ylabel("players")
    ax.set_title(f"Skill of {len(players)} players")
    width = (players["hi"] - players["lo"]).median()
    note = (
        f"Estimated skill of each human player with ≥ {MIN_PLAYER_ROUNDS} rounds (higher = better), shrunk"
        f" towards the average by the fit's ridge; the median 95 % interval is {width:.3f} wide."
    )
    facts = {"players_ranked": len(players), "skill_sd": float(players["skill"].std(ddof=0)),
             "median_interval_width": float(width)}  # fmt: skip
    return Section(key, title, note, tables={"players": players}, figure=fig, facts=facts)
