"""Humans vs bots on the same rounds and metric: the simulatability gap. docs/analysis.md ("Humans vs bots").

Bots are players with ``player_kind == "bot"`` and ids ``bot-NAME-vV``. An **item** is (unit, level,
example): the same question asked with the same information. For every bot and unit, the items both humans
and the bot answered are paired; per item, the humans' mean outcome (score / 100) minus the bot's mean
outcome is one difference, and the gap is the mean difference over items with a paired t interval over
items (items are the independent units: each item's humans are averaged first). Positive gap: people beat
the bot on that unit. Below ``min_items`` shared items the gap is "not enough data". The pooled §6
correlation of each side's guesses on the shared items is shown next to it.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mirrorneuron.analysis.rankings import NOT_ENOUGH, interval_text, mean_interval
from mirrorneuron.analysis.sections import AnalysisData, Section, not_enough
from mirrorneuron.game.scoring import summarize

BOT_ID = re.compile(r"^bot-(?P<name>.+)-v(?P<version>[^-]+)$")
ITEM = ("unit_id", "level", "example_id")
MIN_ITEMS = 10


def bot_name(player_id: str) -> str | None:
    """``bot-ridge-v2`` → ``ridge``; None for an id that is not a bot's."""
    m = BOT_ID.match(player_id)
    return m["name"] if m else None


def bot_names(player_ids: pd.Series) -> pd.Series:
    """:func:`bot_name` of every id (parsed once per distinct id); None for ids that are not a bot's."""
    ids = player_ids.astype(str)
    return ids.map({p: bot_name(p) for p in ids.unique()})


def _normalised(rounds: pd.DataFrame) -> pd.DataFrame:
    """The rounds with string item keys, ``kind`` and ``bot`` (the bot's name; None for humans)."""
    keys = [k for k in ITEM if k != "level"]
    df = rounds.assign(**{k: rounds[k].astype(str) for k in keys}, kind=rounds["player_kind"].astype(str))
    names = bot_names(df["player_id"])
    df["bot"] = names.where(names.notna(), df["player_id"].astype(str)).where(df["kind"] == "bot", None)
    return df


def paired_items(rounds: pd.DataFrame, outcome: str = "outcome") -> pd.DataFrame:
    """One row per (bot, item) answered by the bot and by at least one human: bot, unit_id, level,
    example_id, human (mean outcome), bot_outcome, n_humans."""
    keys, df = list(ITEM), _normalised(rounds)
    human = df[df["kind"] == "human"].groupby(keys)[outcome].agg(human="mean", n_humans="size").reset_index()
    bot = df[df["kind"] == "bot"].groupby(["bot", *keys])[outcome].mean().rename("bot_outcome").reset_index()
    return bot.merge(human, on=keys, how="inner")


def _correlations(shared: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {
        (str(b), str(u)): summarize(g["actual"].to_numpy(), g["guess"].to_numpy()).correlation
        for (b, u), g in shared.groupby(["pair_bot", "unit_id"], sort=False)
    }


def simulatability_gap(rounds: pd.DataFrame, *, min_items: int = MIN_ITEMS, outcome: str = "outcome") -> pd.DataFrame:
    """Per (bot, unit): n_items, human, bot_outcome, gap (= human − bot), se, lo, hi, human_correlation,
    bot_correlation (§6, on the shared items' rounds), enough_data, shown. Sorted by bot, then gap."""
    pairs = paired_items(rounds, outcome)
    keys, df = list(ITEM), _normalised(rounds)
    items = pairs[["bot", *keys]].rename(columns={"bot": "pair_bot"})
    human_shared = df[df["kind"] == "human"].merge(items, on=keys)  # each bot's shared items' human rounds
    bot_shared = df[df["kind"] == "bot"].merge(items, on=keys)
    human_corr = _correlations(human_shared)
    bot_corr = _correlations(bot_shared[bot_shared["bot"] == bot_shared["pair_bot"]])
    rows = []
    for (b, unit), g in pairs.groupby(["bot", "unit_id"], sort=True):
        d = (g["human"] - g["bot_outcome"]).to_numpy()
        ok = d.size >= min_items
        m, se, lo, hi = mean_interval(d) if ok else (np.nan,) * 4
        rows.append(
            {
                "bot": b,
                "unit_id": unit,
                "n_items": d.size,
                "human": float(g["human"].mean()),
                "bot_outcome": float(g["bot_outcome"].mean()),
                "gap": m,
                "se": se,
                "lo": lo,
                "hi": hi,
                "human_correlation": human_corr.get((b, unit), np.nan),
                "bot_correlation": bot_corr.get((b, unit), np.nan),
                "enough_data": ok,
                "shown": interval_text(m, lo, hi) if ok else NOT_ENOUGH,
            }
        )
    cols = [
        "bot",
        "unit_id",
        "n_items",
        "human",
        "bot_outcome",
        "gap",
        "se",
        "lo",
        "hi",
        "human_correlation",
        "bot_correlation",
        "enough_data",
        "shown",
    ]
    return pd.DataFrame(rows, columns=cols).sort_values(["bot", "gap"], ignore_index=True)


def bot_summary(gap: pd.DataFrame) -> pd.DataFrame:
    """Per bot, over units with enough data: n_units, humans_better (interval above 0), bot_better (below 0),
    mean gap with a t interval over units."""
    rows = []
    for b, g in gap[gap["enough_data"]].groupby("bot", sort=True):
        m, se, lo, hi = mean_interval(g["gap"].to_numpy())
        rows.append(
            {
                "bot": b,
                "n_units": len(g),
                "humans_better": int((g["lo"] > 0).sum()),
                "bot_better": int((g["hi"] < 0).sum()),
                "mean_gap": m,
                "se": se,
                "lo": lo,
                "hi": hi,
            }
        )
    return pd.DataFrame(rows, columns=["bot", "n_units", "humans_better", "bot_better", "mean_gap", "se", "lo", "hi"])


def section(data: AnalysisData, *, min_items: int = MIN_ITEMS) -> Section:
    key, title = "gap", "Humans vs bots: the simulatability gap"
    if not len(data.rounds) or not (data.rounds["player_kind"] == "bot").any():
        return not_enough(key, title, "no bot rounds")
    gap = simulatability_gap(data.rounds, min_items=min_items)
    summary = bot_summary(gap)
    if not len(summary):
        return not_enough(key, title, f"no unit has {min_items} items answered by both humans and a bot")
    fig = Figure(figsize=(8, 0.5 * len(summary) + 2))
    ax = fig.add_subplot(1, 1, 1)
    ok = gap[gap["enough_data"]]
    bots = list(summary["bot"])
    for i, b in enumerate(bots):
        g = ok[ok["bot"] == b]
        ax.errorbar(
            g["gap"],
            np.full(len(g), i) + np.linspace(-0.3, 0.3, len(g)),
            xerr=[g["gap"] - g["lo"], g["hi"] - g["gap"]],
            fmt="o",
            ms=3,
            alpha=0.6,
        )
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_yticks(range(len(bots)), bots)
    ax.set_xlabel("human − bot mean score / 100 on the same items (95 % interval per unit)")
    fig.tight_layout()
    parts = [
        f"{r.bot}: humans ahead on {r.humans_better}, behind on {r.bot_better} of {r.n_units} units "
        f"(mean gap {r.mean_gap:+.3f})"
        for r in summary.itertuples()
    ]
    note = (
        "Human minus bot score / 100 on the same items (unit, level, example), per unit, with paired t intervals "
        f'over items; units with fewer than {min_items} shared items say "not enough data". ' + "; ".join(parts) + "."
    )
    return Section(
        key=key,
        title=title,
        note=note,
        tables={"gap": gap, "bots": summary},
        figure=fig,
        facts={f"humans_better_than_{r.bot}": int(r.humans_better) for r in summary.itertuples()},
    )
