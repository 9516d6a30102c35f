"""Across models: unit difficulty grouped by a model attribute, next to the models' capability.

Units pass the rankings' minimum-data rule first; each unit belongs to its model (``model_id`` of its
rounds) and so to the model's attribute value (activation, width, depth, l1, weight_decay, data, task, seed,
…: any column of ``AnalysisData.models``). Per attribute value: the mean difficulty of its units with a t
interval over units, and the mean ``val_loss`` / ``val_accuracy`` of its models, so imitability is never
read without its capability cost. The test of difference is Kruskal–Wallis on the units' difficulties (two
or more groups; rank-based, so no normality assumed). It treats units as exchangeable within a group: with
one model per group it compares those models, not the attribute (``models_per_group`` says so), and a
seed-to-seed difference between models is read as an attribute effect. docs/analysis.md ("Across models").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import kruskal

from mirrorneuron.analysis.rankings import MIN_PLAYERS, MIN_ROUNDS, mean_interval, unit_ranking
from mirrorneuron.analysis.sections import AnalysisData, Section, not_enough

CAPABILITY = ("val_loss", "val_accuracy")
NOT_ATTRIBUTES = ("model_id", "unigram_loss", *CAPABILITY)
ALPHA = 0.05


def attribute_columns(models: pd.DataFrame) -> list[str]:
    """The model columns to group by: every column but ids and capability figures with ≥ 2 distinct values."""
    return [
        c
        for c in models.columns
        if c not in NOT_ATTRIBUTES and not str(c).startswith("val_") and models[c].dropna().astype(str).nunique() >= 2
    ]


def unit_difficulties(
    data: AnalysisData, *, min_rounds: int = MIN_ROUNDS, min_players: int = MIN_PLAYERS
) -> pd.DataFrame:
    """Units with enough data and their model: unit_id, model_id, difficulty, se, lo, hi."""
    if data.fit is None:
        return pd.DataFrame(columns=["unit_id", "model_id", "difficulty", "se", "lo", "hi"])
    ranked = unit_ranking(data.fit, min_rounds=min_rounds, min_players=min_players)
    ranked = ranked[ranked["enough_data"]]
    owner = data.rounds[["unit_id", "model_id"]].astype(str).drop_duplicates("unit_id")
    out = ranked[["unit_id", "difficulty", "se", "lo", "hi"]].assign(unit_id=lambda d: d["unit_id"].astype(str))
    return out.merge(owner, on="unit_id", how="inner")


def _capability(models: pd.DataFrame) -> list[str]:
    return [c for c in CAPABILITY if c in models.columns]


def per_model(units: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """One row per model with units: its attribute columns, n_units, mean difficulty, se, lo, hi."""
    rows = []
    for m, g in units.groupby("model_id", sort=True):
        mean, se, lo, hi = mean_interval(g["difficulty"].to_numpy())
        rows.append({"model_id": m, "n_units": len(g), "difficulty": mean, "se": se, "lo": lo, "hi": hi})
    out = pd.DataFrame(rows, columns=["model_id", "n_units", "difficulty", "se", "lo", "hi"])
    return out.merge(models.assign(model_id=models["model_id"].astype(str)), on="model_id", how="left")


def compare(units: pd.DataFrame, models: pd.DataFrame, attribute: str) -> tuple[pd.DataFrame, dict[str, object]]:
    """Difficulty by the values of ``attribute``: (groups table, test). Groups: value, n_models, n_units,
    difficulty (mean over units), se, lo, hi, and the mean capability columns of the group's models. Test:
    Kruskal–Wallis statistic and p over groups with ≥ 2 units (p NaN with fewer than 2 such groups)."""
    if attribute not in models.columns:
        raise ValueError(f"models have no column {attribute!r}; they have {list(models.columns)}")
    cap = _capability(models)
    m = (
        models[["model_id", attribute, *cap]]
        .dropna(subset=[attribute])
        .assign(model_id=lambda d: d["model_id"].astype(str))
    )
    if m[attribute].dtype == object:  # JSON attributes may hold lists or mixed types: group by their text
        m[attribute] = m[attribute].astype(str)
    joined = units.merge(m, on="model_id", how="inner")
    rows, samples = [], []
    for value, g in joined.groupby(attribute, sort=True):
        mean, se, lo, hi = mean_interval(g["difficulty"].to_numpy())
        ms = m[m["model_id"].isin(g["model_id"])]  # the value's models that have ranked units
        rows.append(
            {
                "attribute": attribute,
                "value": str(value),
                "n_models": ms["model_id"].nunique(),
                "n_units": len(g),
                "difficulty": mean,
                "se": se,
                "lo": lo,
                "hi": hi,
                **{c: float(ms[c].mean()) for c in cap},
            }
        )
        if len(g) >= 2:
            samples.append(g["difficulty"].to_numpy())
    groups = pd.DataFrame(rows)
    stat, p = (np.nan, np.nan)
    if len(samples) >= 2 and np.ptp(np.concatenate(samples)) > 0:  # kruskal refuses all-equal values
        res = kruskal(*samples)
        stat, p = float(res.statistic), float(res.pvalue)
    test = {
        "attribute": attribute,
        "test": "kruskal-wallis",
        "statistic": stat,
        "p_value": p,
        "groups": len(samples),
        "models_per_group": int(groups["n_models"].min()) if len(groups) else 0,
    }
    return groups, test


def section(data: AnalysisData, *, min_rounds: int = MIN_ROUNDS, min_players: int = MIN_PLAYERS) -> Section:
    key, title = "across", "Across models: difficulty by training attribute"
    attrs = attribute_columns(data.models)
    if not attrs:
        return not_enough(key, title, "no model attribute takes two or more values among the models")
    units = unit_difficulties(data, min_rounds=min_rounds, min_players=min_players)
    if units.empty:
        return not_enough(key, title, "no unit passes the minimum-data rule")
    compared = [compare(units, data.models, a) for a in attrs]
    tests = pd.DataFrame([t for _, t in compared])
    tested = tests[tests["p_value"].notna()]
    if tested.empty:
        return not_enough(key, title, "no attribute has two values with at least 2 ranked units each")
    groups = pd.concat([g for g, _ in compared if len(g)], ignore_index=True)
    fig = Figure(figsize=(4 * len(tested), 3.6))
    for i, attr in enumerate(tested["attribute"]):
        ax = fig.add_subplot(1, len(tested), i + 1)
        g = groups[groups["attribute"] == attr]
        x = np.arange(len(g))
        ax.errorbar(x, g["difficulty"], yerr=[g["difficulty"] - g["lo"], g["hi"] - g["difficulty"]], fmt="o", capsize=3)
        loss = g["val_loss"] if "val_loss" in g else pd.Series(np.nan, index=g.index)
        labels = [
            f"{v}\nval loss {vl:.2f}" if np.isfinite(vl) else str(v) for v, vl in zip(g["value"], loss, strict=True)
        ]
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_xlim(-0.5, len(g) - 0.5)
        ax.set_title(f"{attr} (Kruskal–Wallis p = {tests.set_index('attribute').loc[attr, 'p_value']:.3g})", fontsize=9)
        ax.set_ylabel("mean unit difficulty")
    fig.tight_layout()
    sig = [f"{r.attribute} (p = {r.p_value:.3g})" for r in tested.itertuples() if r.p_value < ALPHA]
    note = (
        "Mean difficulty of the ranked units (score / 100 scale, higher = harder) per value of each model attribute, "
        "95 % t intervals over units, next to the models' validation loss / accuracy. Kruskal–Wallis test across "
        "values; units are treated as exchangeable within a value, so with one model per value it compares models. "
        + (f"Differences at α = {ALPHA}: {', '.join(sig)}." if sig else f"No attribute differs at α = {ALPHA}.")
    )
    return Section(
        key=key,
        title=title,
        note=note,
        tables={"groups": groups, "tests": tests, "models": per_model(units, data.models)},
        figure=fig,
        facts={f"p_{r.attribute}": float(r.p_value) for r in tested.itertuples()},
    )
