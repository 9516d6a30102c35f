"""Learning: pooled learning curves and rounds-to-imitation, from human rounds. docs/analysis.md ("Learning").

**Learning curve**: the mean outcome (score / 100) of rounds by how many rounds the player had already
played on that unit (``prior_rounds``; the last bin pools ≥ ``max_prior``). Rounds of one player are not
independent, so each player's rounds in a bin are averaged first; the curve is the mean over players with a
t interval over players (cluster-robust by player).

**Rounds-to-imitation** of a unit: for one player, the number of rounds they had played on the unit when the
correlation (DESIGN §6 pearson, ``game.scoring.summarize``) of their guesses with the truth over their last
``window`` rounds on it first reached ``threshold`` (default 0.8; or, with ``threshold="ridge"``, the ridge
bot's pooled correlation on the same unit). A player who never reaches it is right-censored at the rounds
they played. The unit's value is the Kaplan–Meier median over its players ("the typical player"), with a
bootstrap interval over players; inf when fewer than half ever reach it; "not enough data" below
``min_players`` players with at least ``window`` rounds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mirrorneuron.analysis.gap import bot_names
from mirrorneuron.analysis.rankings import NOT_ENOUGH, mean_interval
from mirrorneuron.analysis.sections import AnalysisData, Section, not_enough
from mirrorneuron.game.scoring import summarize

MAX_PRIOR = 30
MIN_PLAYERS = 5
WINDOW = 10
THRESHOLD = 0.8
N_BOOT = 200
NO_RIDGE = "no ridge-bot level on this unit (no rounds, or its correlation is ≤ 0)"


def learning_curve(
    rounds: pd.DataFrame, *, outcome: str = "outcome", max_prior: int = MAX_PRIOR, min_players: int = MIN_PLAYERS
) -> pd.DataFrame:
    """One row per ``prior_rounds`` bin (0 … max_prior, the last pooling ≥ max_prior) with ≥ ``min_players``
    players: prior_rounds, mean, se, lo, hi, n_rounds, n_players."""
    df = pd.DataFrame(
        {
            "bin": np.minimum(rounds["prior_rounds"].to_numpy(), max_prior),
            "player": rounds["player_id"].astype(str).to_numpy(),
            "y": rounds[outcome].to_numpy(dtype=np.float64),
        }
    )
    per_player = df.groupby(["bin", "player"], sort=True)["y"].agg(["mean", "size"]).reset_index()
    rows = []
    for b, g in per_player.groupby("bin", sort=True):
        if len(g) < min_players:
            continue
        m, se, lo, hi = mean_interval(g["mean"].to_numpy())
        rows.append(
            {
                "prior_rounds": int(b),
                "mean": m,
                "se": se,
                "lo": lo,
                "hi": hi,
                "n_rounds": int(g["size"].sum()),
                "n_players": len(g),
            }
        )
    cols = ["prior_rounds", "mean", "se", "lo", "hi", "n_rounds", "n_players"]
    return pd.DataFrame(rows, columns=cols)


def first_crossing(actual: np.ndarray, guess: np.ndarray, window: int, threshold: float) -> int | None:
    """Rounds played when the trailing-``window`` correlation first reaches ``threshold`` (None: never)."""
    for end in range(window, actual.size + 1):
        if summarize(actual[end - window : end], guess[end - window : end]).correlation >= threshold:
            return end
    return None


def km_medians(times: np.ndarray, reached: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Kaplan–Meier medians of times to an event with right-censoring, one per row of ``weights`` ([B, n]:
    how many times each subject counts, e.g. bootstrap multiplicities); inf where the curve never falls to ½."""
    event_times = np.unique(times[reached])
    if event_times.size == 0:
        return np.full(weights.shape[0], np.inf)
    events = weights @ (reached[:, None] & (times[:, None] == event_times)).astype(np.float64)  # [B, T]
    at_risk = weights @ (times[:, None] >= event_times).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(at_risk > 0, 1.0 - events / at_risk, 1.0)
    below = np.cumprod(factor, axis=1) <= 0.5
    first = below.argmax(axis=1)
    return np.where(below.any(axis=1), event_times[first], np.inf)


def km_median(times: np.ndarray, reached: np.ndarray) -> float:
    """Kaplan–Meier median of one sample (see :func:`km_medians`)."""
    return float(km_medians(times, reached, np.ones((1, times.size)))[0])


def ridge_thresholds(rounds: pd.DataFrame) -> dict[str, float]:
    """Per unit: the ridge bot's pooled §6 correlation over its rounds (all versions pooled)."""
    names = bot_names(rounds["player_id"])
    ridge = rounds[(names == "ridge").to_numpy()]
    return {
        str(u): summarize(g["actual"].to_numpy(), g["guess"].to_numpy()).correlation
        for u, g in ridge.groupby("unit_id", observed=True)
    }


def _window_correlations(a: np.ndarray, g: np.ndarray, pos: np.ndarray, window: int) -> np.ndarray:
    """Pearson r of each trailing window (NaN where fewer than ``window`` rounds precede in the group), from
    running sums: a fast screen only (cancellation makes it approximate); decisions use ``summarize``."""

    def sums(x: np.ndarray) -> np.ndarray:
        c = np.r_[0.0, np.cumsum(x)]
        idx = np.arange(1, x.size + 1)
        return c[idx] - c[np.maximum(idx - window, 0)]

    n = float(window)
    sa, sg, saa, sgg, sag = (sums(x) for x in (a, g, a * a, g * g, a * g))
    cov, va, vg = sag - sa * sg / n, saa - sa * sa / n, sgg - sg * sg / n
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(va * vg)
    return np.where(pos >= window - 1, r, np.nan)


SCREEN_SLACK = 0.01  # windows within this of the threshold are checked exactly


def _crossings(
    unit: np.ndarray,
    player: np.ndarray,
    actual: np.ndarray,
    guess: np.ndarray,
    scale: np.ndarray,
    window: int,
    thresholds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (unit, player) sequence with ≥ ``window`` rounds: (unit code, rounds played, rounds played at the
    first crossing or -1). Inputs are per round in play order; ``thresholds`` per unit code (NaN: none)."""
    if unit.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.lexsort((np.arange(unit.size), player, unit))
    unit, player, a_raw, g_raw = unit[order], player[order], actual[order], guess[order]
    start = np.r_[True, (unit[1:] != unit[:-1]) | (player[1:] != player[:-1])]
    group = np.cumsum(start) - 1
    first_row = np.flatnonzero(start)
    pos = np.arange(unit.size) - first_row[group]
    length = np.diff(np.r_[first_row, unit.size])
    a, g = a_raw / scale[order], g_raw / scale[order]
    count = np.bincount(unit)
    with np.errstate(invalid="ignore", divide="ignore"):  # centred per unit: small running sums, little cancellation
        a, g = a - (np.bincount(unit, a) / count)[unit], g - (np.bincount(unit, g) / count)[unit]
    r = _window_correlations(a, g, pos, window)
    thr = thresholds[unit]
    pending = np.flatnonzero(np.isfinite(thr) & (np.nan_to_num(r, nan=-2.0) >= thr - SCREEN_SLACK))
    hit = np.full(first_row.size, -1)
    while pending.size:  # confirm each sequence's first candidate window with the §6 scorer
        _, first = np.unique(group[pending], return_index=True)
        tried = pending[first]
        ok = np.array(
            [
                summarize(a_raw[i - window + 1 : i + 1], g_raw[i - window + 1 : i + 1]).correlation >= thr[i]
                for i in tried
            ]
        )
        hit[group[tried[ok]]] = pos[tried[ok]] + 1
        pending = pending[(hit[group[pending]] < 0) & ~np.isin(pending, tried[~ok])]
    keep = length >= window
    return unit[first_row][keep], length[keep], hit[keep]


def rounds_to_imitation(
    rounds: pd.DataFrame,
    *,
    threshold: float | str = THRESHOLD,
    window: int = WINDOW,
    min_players: int = MIN_PLAYERS,
    n_boot: int = N_BOOT,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Per unit (human rounds only, in play order): unit_id, threshold, n_players (with ≥ window rounds),
    n_reached, median_rounds, lo, hi (95 % bootstrap percentile over players), enough_data, shown."""
    if window < 2:
        raise ValueError(f"window must be at least 2 rounds (a correlation needs two), got {window}")
    ridge = ridge_thresholds(rounds) if threshold == "ridge" else {}
    if isinstance(threshold, str) and threshold != "ridge":
        raise ValueError(f"threshold must be a number or 'ridge', got {threshold!r}")
    human = rounds[rounds["player_kind"] == "human"]
    if "guess_id" in human.columns:
        human = human.sort_values("guess_id", kind="stable")
    rng = np.random.default_rng(seed)
    unit_code, unit_ids = pd.factorize(human["unit_id"].astype(str))
    player_code, _ = pd.factorize(human["player_id"].astype(str))
    if isinstance(threshold, str):  # the ridge bot's level; none where it has no rounds or r ≤ 0
        thr = np.array([ridge.get(u, np.nan) for u in unit_ids], dtype=np.float64)
        thr[~(thr > 0)] = np.nan
    else:
        if not 0 < float(threshold) <= 1:
            raise ValueError(f"threshold must be a correlation in (0, 1], got {threshold}")
        thr = np.full(unit_ids.size, float(threshold))
    scale = human["scale"].to_numpy(dtype=np.float64) if "scale" in human else np.ones(len(human))
    seq_unit, n_played, hit = _crossings(
        unit_code,
        player_code,
        human["actual"].to_numpy(dtype=np.float64),
        human["guess"].to_numpy(dtype=np.float64),
        scale,
        window,
        thr,
    )
    rows = []
    by_unit = np.argsort(seq_unit, kind="stable")
    bounds = np.searchsorted(seq_unit[by_unit], np.arange(unit_ids.size + 1))
    for i, j in enumerate(np.argsort(unit_ids)):
        mine = by_unit[bounds[j] : bounds[j + 1]]
        times, reached = np.where(hit[mine] > 0, hit[mine], n_played[mine]).astype(np.float64), hit[mine] > 0
        ok = bool(np.isfinite(thr[j])) and times.size >= min_players
        med = lo = hi = float("nan")
        if ok:
            med = km_median(times, reached)
            boot = km_medians(times, reached, rng.multinomial(times.size, np.full(times.size, 1 / times.size), n_boot))
            lo, hi = (float(q) for q in np.quantile(boot, [0.025, 0.975], method="lower"))
        rows.append(
            {
                "unit_id": unit_ids[j],
                "threshold": thr[j],
                "n_players": times.size,
                "n_reached": int(reached.sum()),
                "median_rounds": med,
                "lo": lo,
                "hi": hi,
                "enough_data": ok,
                "shown": _shown(med, lo, hi, ok, bool(np.isfinite(thr[j]))),
            }
        )
        if progress:
            progress(i + 1, unit_ids.size)
    cols = ["unit_id", "threshold", "n_players", "n_reached", "median_rounds", "lo", "hi", "enough_data", "shown"]
    return pd.DataFrame(rows, columns=cols)


def _rounds_text(x: float) -> str:
    return f"{x:.0f}" if np.isfinite(x) else "never"


def _shown(median: float, lo: float, hi: float, ok: bool, has_threshold: bool) -> str:
    if not has_threshold:
        return NO_RIDGE
    if not ok:
        return NOT_ENOUGH
    return f"{_rounds_text(median)} [{_rounds_text(lo)}, {_rounds_text(hi)}]"


def section(data: AnalysisData, *, threshold: float | str = THRESHOLD, window: int = WINDOW) -> Section:
    key, title = "learning", "Learning curves and rounds-to-imitation"
    human = data.human_rounds
    curve = learning_curve(human) if len(human) else pd.DataFrame()
    if len(curve) < 2:
        return not_enough(key, title, f"fewer than 2 practice bins have {MIN_PLAYERS} or more human players")
    rti = rounds_to_imitation(data.rounds, threshold=threshold, window=window)
    fig = Figure(figsize=(10, 3.8))
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(curve["prior_rounds"], curve["mean"], marker="o", ms=3)
    ax.fill_between(curve["prior_rounds"], curve["lo"], curve["hi"], alpha=0.3)
    ax.set_xlabel(f"rounds already played on the unit (last bin: ≥ {MAX_PRIOR})")
    ax.set_ylabel("mean score / 100")
    ax.set_title("pooled learning curve (95 % interval over players)", fontsize=9)
    ok = rti[rti["enough_data"] & np.isfinite(rti["median_rounds"])]
    ax2 = fig.add_subplot(1, 2, 2)
    if len(ok):
        ax2.hist(ok["median_rounds"], bins=20)
    ax2.set_xlabel("rounds-to-imitation (median player)")
    ax2.set_title(f"units whose median player reaches r ≥ {threshold} (window {window})", fontsize=9)
    fig.tight_layout()
    n_ok = int(rti["enough_data"].sum())
    never = int((rti["enough_data"] & ~np.isfinite(rti["median_rounds"])).sum())
    gain = float(curve["mean"].iloc[-1] - curve["mean"].iloc[0])
    note = (
        f"Mean human score / 100 by rounds already played on the unit, averaged per player first (95 % t "
        f"interval over players): from {curve['mean'].iloc[0]:.3f} on a first round to {curve['mean'].iloc[-1]:.3f} "
        f"in the last bin ({gain:+.3f}). Rounds-to-imitation: rounds a typical player (Kaplan–Meier median) needs "
        f"before the correlation of their last {window} guesses with the truth reaches {threshold}; "
        f"{n_ok} units have ≥ {MIN_PLAYERS} players with ≥ {window} rounds, of which the median player never "
        f'reaches it on {never}; the others say "not enough data".'
    )
    return Section(
        key=key,
        title=title,
        note=note,
        tables={"curve": curve, "rounds_to_imitation": rti},
        figure=fig,
        facts={
            "first_round_mean": float(curve["mean"].iloc[0]),
            "learning_gain": gain,
            "units_with_rounds_to_imitation": n_ok,
            "units_never_imitated": never,
        },
    )
