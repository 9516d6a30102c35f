"""Finder evaluation: does an automated per-unit score predict which units people can imitate, or enjoy?

For every finder in ``AnalysisData.finder_scores`` (``unit_id, finder, score``; higher = predicted more
imitable or more interesting), over the units that pass the rankings' minimum-data rule:

- Spearman ρ with **imitability** (−difficulty from the skill × difficulty fit);
- Spearman ρ with three **interest** measures derived from human rounds: ``replays`` (mean games per player
  on the unit minus one), ``completion`` (fraction of the unit's games that reached the most common game
  length of all games: the planned length) and ``time`` (mean total seconds a player spent on the unit);
- 95 % bootstrap intervals (percentile, resampling units, :data:`N_BOOT` draws) for every ρ;
- precision@k: of the finder's k top-scored units, the fraction among the k easiest; of its k lowest, the
  fraction among the k hardest (chance: k / n).

Finders are ranked by ρ with imitability (rank 1 = best). docs/analysis.md ("Finder evaluation").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import rankdata

from mirrorneuron.analysis.across import unit_difficulties
from mirrorneuron.analysis.sections import AnalysisData, Section, not_enough

N_BOOT = 1000
MIN_UNITS = 5
TARGETS = ("imitability", "replays", "completion", "time")


def interest(rounds: pd.DataFrame) -> pd.DataFrame:
    """Per unit, from human rounds: unit_id, replays, completion, time (see the module doc)."""
    h = rounds[rounds["player_kind"] == "human"]
    cols = ["unit_id", "replays", "completion", "time"]
    if h.empty:
        return pd.DataFrame(columns=cols)
    games = (
        h.assign(
            unit_id=h["unit_id"].astype(str), player_id=h["player_id"].astype(str), game_id=h["game_id"].astype(str)
        )
        .groupby("game_id")
        .agg(
            unit_id=("unit_id", "first"),
            player_id=("player_id", "first"),
            length=("seq", "max"),
            seconds=("seconds", "sum"),
            timed=("seconds", "count"),
        )
    )
    planned = games["length"].mode().max()  # seq is 0-based; only comparisons with it matter
    games["complete"] = games["length"] >= planned
    per_player = games.groupby(["unit_id", "player_id"]).agg(
        n_games=("complete", "size"), seconds=("seconds", "sum"), timed=("timed", "sum")
    )
    per_player.loc[per_player["timed"] == 0, "seconds"] = np.nan  # no recorded times (older rows): unknown, not 0
    out = pd.DataFrame(
        {
            "replays": per_player["n_games"].groupby("unit_id").mean() - 1.0,
            "completion": games.groupby("unit_id")["complete"].mean(),
            "time": per_player["seconds"].groupby("unit_id").mean(),
        }
    )
    return out.reset_index()[cols]


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman ρ of each row pair of x and y ([B, n]); NaN where a row is constant."""
    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=1) / den, np.nan)


def spearman_ci(x: np.ndarray, y: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float]:
    """(ρ, lo, hi): Spearman ρ with a 95 % percentile bootstrap interval over the pairs."""
    rho = float(_spearman_rows(x[None], y[None])[0])
    idx = np.random.default_rng(seed).integers(0, x.size, (n_boot, x.size))
    boot = _spearman_rows(x[idx], y[idx])
    boot = boot[np.isfinite(boot)]
    lo, hi = np.quantile(boot, [0.025, 0.975]) if boot.size else (np.nan, np.nan)
    return rho, float(lo), float(hi)


def precision_at_k(score: np.ndarray, imitability: np.ndarray, k: int) -> tuple[float, float]:
    """(easiest, hardest): overlap of the finder's top-k with the k most imitable units, and of its bottom-k
    with the k least imitable, each as a fraction of k (ties broken by order)."""
    top, bottom = set(np.argsort(-score, kind="stable")[:k]), set(np.argsort(score, kind="stable")[:k])
    easy, hard = set(np.argsort(-imitability, kind="stable")[:k]), set(np.argsort(imitability, kind="stable")[:k])
    return len(top & easy) / k, len(bottom & hard) / k


def evaluate_finders(
    finder_scores: pd.DataFrame,
    units: pd.DataFrame,
    rounds: pd.DataFrame,
    *,
    k: int | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per finder, best first: finder, n_units, rho_<target>, lo_<target>, hi_<target> for each of
    :data:`TARGETS`, k, precision_easiest, precision_hardest, chance, rank. ``units``: unit_id, difficulty
    (ranked units only, as :func:`~mirrorneuron.analysis.across.unit_difficulties` gives)."""
    base = units[["unit_id", "difficulty"]].assign(unit_id=units["unit_id"].astype(str))
    base = base.merge(interest(rounds), on="unit_id", how="left")
    base["imitability"] = -base["difficulty"]
    rows = []
    for name, g in finder_scores.assign(unit_id=finder_scores["unit_id"].astype(str)).groupby("finder", sort=True):
        d = base.merge(g[["unit_id", "score"]].dropna(), on="unit_id", how="inner")
        if len(d) < MIN_UNITS:
            continue
        row: dict[str, object] = {"finder": name, "n_units": len(d)}
        score = d["score"].to_numpy(dtype=np.float64)
        for t in TARGETS:
            keep = d[t].notna().to_numpy()
            rho, lo, hi = spearman_ci(score[keep], d[t].to_numpy(dtype=np.float64)[keep], n_boot=n_boot, seed=seed)
            row |= {f"rho_{t}": rho, f"lo_{t}": lo, f"hi_{t}": hi}
        kk = k or max(1, min(10, len(d) // 5))
        row["k"] = kk
        row["precision_easiest"], row["precision_hardest"] = precision_at_k(score, d["imitability"].to_numpy(), kk)
        row["chance"] = kk / len(d)
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out = out.sort_values("rho_imitability", ascending=False, ignore_index=True, na_position="last")
    out["rank"] = np.arange(1, len(out) + 1)
    return out


def section(data: AnalysisData, *, k: int | None = None) -> Section:
    key, title = "finders", "Finder evaluation: which automated scores predict human imitability"
    if data.finder_scores.empty:
        return not_enough(key, title, "no stored finder scores")
    units = unit_difficulties(data)
    if len(units) < MIN_UNITS:
        return not_enough(key, title, f"fewer than {MIN_UNITS} units pass the minimum-data rule")
    table = evaluate_finders(data.finder_scores, units, data.rounds, k=k)
    if table.empty:
        return not_enough(key, title, f"no finder scored {MIN_UNITS} or more of the ranked units")
    fig = Figure(figsize=(8, 0.45 * len(table) + 1.8))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(table))[::-1]
    for j, t in enumerate(TARGETS):
        rho = table[f"rho_{t}"].to_numpy()
        err = [rho - table[f"lo_{t}"].to_numpy(), table[f"hi_{t}"].to_numpy() - rho]
        ax.errorbar(rho, y + 0.15 * (j - 1.5), xerr=err, fmt="o", ms=3, capsize=2, label=t)
    ax.set_yticks(y, list(table["finder"]))
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("Spearman ρ with the finder's score (95 % bootstrap interval)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    best = table.iloc[0]
    note = (
        f"Spearman ρ of each finder's score with human imitability (−difficulty) and with interest (replays, "
        f"completion, time spent), 95 % bootstrap intervals over units, and precision@k for the easiest and hardest "
        f"units (chance k / n). Best at predicting imitability: {best['finder']} (ρ = {best['rho_imitability']:.2f} "
        f"[{best['lo_imitability']:.2f}, {best['hi_imitability']:.2f}], over {best['n_units']} units)."
    )
    return Section(
        key=key,
        title=title,
        note=note,
        tables={"finders": table},
        figure=fig,
        facts={"best_finder": str(best["finder"]), "best_rho": float(best["rho_imitability"])},
    )
