"""Which finder predicts bot imitability across a sweep: per finder, the Spearman correlation between its
scores and held-out bot imitability over the units of each sweep model and pooled over all of them, with
bootstrap 95 % intervals (units resampled within models), and the finders ranked by the pooled value.

Inputs (pure, DataFrames in and out):
- ``scores``: one row per (unit, finder): ``unit_id, model, finder, score`` (``store.scores.scores_frame``);
- ``plays``: one row per (model, unit, level, bot): ``correlation``, the unit's pooled correlation over its
  held-out rounds (``zoo sweep-bots``' ``bot_plays.csv``).

A unit's **imitability** (the target) is the mean correlation of the ``TARGET_BOTS`` at ``TARGET_LEVELS`` (the
mean bot is 0 by construction and level 3 is exact, ≈ 1 for every unit: neither separates units). The
``imitability_*`` finders are bot scores themselves; two things keep the comparison honest: the sweep-bots
rounds share no window with the finders' rounds (``gameplay.sweep_bots.finder_windows``), and each
``imitability_<bot>_*`` finder is also compared with the imitability of the *other* target bots only
(``spearman_other_bots``), so a bot is never credited for predicting its own score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

TARGET_BOTS = ("unigram", "knn", "ridge")
TARGET_LEVELS = (0, 1, 2)
POOLED = "pooled"
# What each imitability finder's score is as a bot play: (bot, the levels at which the bot would score the
# same on the same rounds — the unigram bot reads no hint, kNN nothing above level 1, ridge the same features
# at levels 0 and 1), so a target built from them weighs bots and levels as one from ``zoo sweep-bots`` does.
FINDER_PLAYS: dict[str, tuple[str, tuple[int, ...]]] = {
    "imitability_unigram": ("unigram", (0, 1, 2, 3)),
    "imitability_knn_l0": ("knn", (0,)),
    "imitability_knn_l1": ("knn", (1, 2, 3)),
    "imitability_ridge_l1": ("ridge", (0, 1)),
    "imitability_ridge_l2": ("ridge", (2,)),
    "imitability_ridge_l3": ("ridge", (3,)),
}


def finder_plays(scores: pd.DataFrame) -> pd.DataFrame:
    """The imitability finders' scores as bot plays (``model, unit, level, bot, correlation``): the bots'
    held-out correlations on the finders' own rounds, for every unit the finders scored (``zoo sweep-bots``
    plays only a few per model). A target made from them must not judge the imitability finders by their own
    score: :func:`rank_finders` with ``own_rounds`` ranks those by the other bots only."""
    rows = []
    for finder, (bot, levels) in FINDER_PLAYS.items():
        sub = scores[scores["finder"] == finder]
        for level in levels:
            rows.append(pd.DataFrame({"model": sub["model"], "unit": sub["unit_id"], "level": level, "bot": bot,
                                      "correlation": sub["score"].astype(float)}))  # fmt: skip
    cols = ["model", "unit", "level", "bot", "correlation"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def imitability_targets(plays: pd.DataFrame, bots: tuple[str, ...] = TARGET_BOTS) -> pd.DataFrame:
    """Per unit (``model, unit_id``): the mean correlation over ``bots`` at ``TARGET_LEVELS`` (column
    ``imitability``), NaN correlations (constant guesses) left out."""
    sel = plays[plays["bot"].isin(bots) & plays["level"].isin(TARGET_LEVELS)]
    out = sel.groupby(["model", "unit"], sort=True)["correlation"].mean().reset_index()
    return out.rename(columns={"unit": "unit_id", "correlation": "imitability"})


def own_bot(finder: str) -> str | None:
    """The bot an ``imitability_<bot>[_lN]`` finder plays, else None."""
    if not finder.startswith("imitability_"):
        return None
    bot = finder.removeprefix("imitability_").split("_")[0]
    return bot if bot in TARGET_BOTS else None


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (Pearson of the average-tie ranks, = scipy's spearmanr, without its per-call overhead)."""
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def _boot(frame: pd.DataFrame, col: str, n_boot: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """Spearman of ``score`` with ``col`` over ``frame``'s rows and a percentile interval from resampling the
    rows within each model."""
    frame = frame[np.isfinite(frame["score"]) & np.isfinite(frame[col])]
    x, y = frame["score"].to_numpy(), frame[col].to_numpy()
    rho = _spearman(x, y)
    if np.isnan(rho):
        return rho, float("nan"), float("nan")
    blocks = [np.flatnonzero(frame["model"].to_numpy() == m) for m in frame["model"].unique()]
    boots = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.concatenate([blk[rng.integers(0, blk.size, blk.size)] for blk in blocks])
        boots[b] = _spearman(x[idx], y[idx])
    lo, hi = np.nanquantile(boots, [0.025, 0.975]) if np.isfinite(boots).any() else (np.nan, np.nan)
    return rho, float(lo), float(hi)


def finder_correlations(scores: pd.DataFrame, plays: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per finder × scope (each model, and ``pooled``): ``n`` units, ``spearman`` with the target
    imitability and its 95 % interval, and for imitability finders ``spearman_other_bots`` (target without the
    finder's own bot) with its interval. Only units both scored and played enter."""
    rng = np.random.default_rng(seed)
    targets = imitability_targets(plays)
    others = {
        b: imitability_targets(plays, tuple(x for x in TARGET_BOTS if x != b)).rename(
            columns={"imitability": "other_bots"}
        )
        for b in TARGET_BOTS
    }
    rows = []
    for finder, sub in scores.groupby("finder", sort=False):
        joined = sub[["model", "unit_id", "score"]].merge(targets, on=["model", "unit_id"])
        bot = own_bot(str(finder))
        if bot is not None:
            joined = joined.merge(others[bot], on=["model", "unit_id"])
        for scope in [*sorted(joined["model"].unique()), POOLED]:
            part = joined if scope == POOLED else joined[joined["model"] == scope]
            rho, lo, hi = _boot(part, "imitability", n_boot, rng)
            row = {"finder": finder, "scope": scope, "n": len(part), "spearman": rho, "ci_low": lo, "ci_high": hi}
            if bot is not None:
                o, olo, ohi = _boot(part, "other_bots", n_boot, rng)
                row.update(spearman_other_bots=o, other_ci_low=olo, other_ci_high=ohi)
            rows.append(row)
    cols = ["finder", "scope", "n", "spearman", "ci_low", "ci_high"]
    cols += ["spearman_other_bots", "other_ci_low", "other_ci_high"]
    return pd.DataFrame(rows, columns=cols)


def rank_finders(corr: pd.DataFrame, own_rounds: bool = False) -> pd.DataFrame:
    """The pooled rows, best predictor first (by |Spearman|: a finder can predict by being low), with the
    mean of the per-model correlations next to the pooled one and a ``rank`` column. ``own_rounds``: the
    target was played on the imitability finders' own rounds (:func:`finder_plays`), so those are ranked by
    ``spearman_other_bots`` (column ``ranked_by``) — their own ``spearman`` includes their own score."""
    pooled = corr[corr["scope"] == POOLED].copy()
    within = corr[corr["scope"] != POOLED].groupby("finder")["spearman"].mean().rename("mean_within_model")
    pooled = pooled.merge(within, left_on="finder", right_index=True, how="left")
    others = own_rounds & pooled["finder"].map(own_bot).notna()
    pooled["ranked_by"] = np.where(others, "spearman_other_bots", "spearman")
    pick = {"rho": ("spearman_other_bots", "spearman"), "rho_low": ("other_ci_low", "ci_low"),
            "rho_high": ("other_ci_high", "ci_high")}  # fmt: skip
    for col, (other, own) in pick.items():
        pooled[col] = pooled[other].where(others, pooled[own]).astype(float)
    pooled = pooled.assign(_key=-pooled["rho"].abs().fillna(-1.0)).sort_values(["_key", "finder"])
    pooled = pooled.drop(columns="_key").reset_index(drop=True)
    pooled.insert(0, "rank", np.arange(1, len(pooled) + 1))
    return pooled


def plot_finder_ranking(corr: pd.DataFrame, path: Path, own_rounds: bool = False) -> Path:
    """One row per finder (ranked): pooled Spearman with its interval (bar), each model's (dots) and, for the
    imitability finders, the correlation with the other bots' imitability only (open diamond)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranked = rank_finders(corr, own_rounds)
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(ranked) + 1.4))
    ys = np.arange(len(ranked))[::-1]
    err = np.vstack([ranked["rho"] - ranked["rho_low"], ranked["rho_high"] - ranked["rho"]])
    colours = np.where(ranked["ranked_by"] == "spearman", "#8fb3d9", "#e0a96d")
    ax.barh(ys, ranked["rho"], xerr=np.nan_to_num(err), color=colours, ecolor="#333", capsize=2)
    per_model = corr[corr["scope"] != POOLED]
    for y, finder in zip(ys, ranked["finder"], strict=True):
        vals = per_model.loc[per_model["finder"] == finder, "spearman"].to_numpy()
        ax.plot(vals, np.full(vals.size, y), ".", color="#555", ms=3)
    other = ranked["spearman_other_bots"].to_numpy(dtype=np.float64)
    ax.plot(other, ys, "D", mfc="none", mec="#c0392b", ms=5, label="vs the other bots' imitability")
    ax.set_yticks(ys, ranked["finder"])
    ax.axvline(0, color="#999", lw=0.8)
    label = "; orange bars: vs the other bots only" if own_rounds else ""
    ax.set_xlabel(f"Spearman with held-out bot imitability (pooled; dots: each model{label})", fontsize=8)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
