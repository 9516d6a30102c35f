"""Study power: with P players × R rounds over U units, how often can the fit tell apart two units whose
difficulty differs by d? Answered by simulation with the same fit (docs/analysis.md, "Study power").

Each simulation plants difficulties −d/2 and +d/2 on units 0 and 1 (the other units normal), lets every
player play exactly R rounds in games of ``rounds_per_game`` rounds on units drawn uniformly (a game replays
the previous unit with probability ``repeat``) at random levels, fits skill × difficulty
(:func:`~mirrorneuron.analysis.fit.fit_arrays`, practice term included) and tests the difference with
z = (d̂₁ − d̂₀) / √(se₀² + se₁²) at two-sided level α (the covariance of the two estimates is ignored; it is
positive through shared players, which makes the test slightly conservative). Power is the fraction of
simulations that reject, with a 95 % Wilson interval; a simulation in which unit 0 or 1 got no rounds counts
as a failure to tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm

from mirrorneuron.analysis.fit import Z95, fit_arrays
from mirrorneuron.analysis.simulate import SimConfig, simulate

N_SIMS = 200


@dataclass(frozen=True)
class PowerResult:
    power: float
    lo: float  # 95 % Wilson interval of the simulated power
    hi: float
    rejections: int
    n_sims: int
    players: int
    rounds_per_player: int
    units: int
    difference: float
    alpha: float
    mean_se_difference: float  # the typical standard error of d̂₁ − d̂₀ (NaN if never estimable)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def check_design(
    players: int, rounds_per_player: int, units: int, difference: float, alpha: float, n_sims: int, rounds_per_game: int
) -> None:
    """ValueError with a one-line reason for a design the simulation cannot run."""
    if players < 2:
        raise ValueError(f"players must be at least 2, got {players}")
    if rounds_per_player < 2:
        raise ValueError(f"rounds per player must be at least 2, got {rounds_per_player}")
    if rounds_per_game < 1:
        raise ValueError(f"rounds per game must be at least 1, got {rounds_per_game}")
    if units < 2:
        raise ValueError(f"units must be at least 2 (two units are compared), got {units}")
    if not np.isfinite(difference) or difference < 0:
        raise ValueError(f"difference must be a finite number ≥ 0 (score / 100 scale), got {difference}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if n_sims < 1:
        raise ValueError(f"n_sims must be at least 1, got {n_sims}")


def power(
    players: int,
    rounds_per_player: int,
    units: int,
    difference: float,
    *,
    alpha: float = 0.05,
    n_sims: int = N_SIMS,
    rounds_per_game: int = 10,
    base: SimConfig | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> PowerResult:
    """The probability of telling apart two units whose difficulty differs by ``difference`` (see the module
    doc). ``base`` supplies the rest of the simulation (skill / difficulty / noise sd, level effects, practice,
    repeat; its player, unit, game and seed fields are replaced). ``progress(done, total)`` after each
    simulation."""
    per_game = min(rounds_per_game, rounds_per_player)
    check_design(players, rounds_per_player, units, difference, alpha, n_sims, per_game)
    cfg = base or SimConfig()
    games = max(1, round(rounds_per_player / per_game))
    crit = float(norm.ppf(1 - alpha / 2))
    rejections, ses = 0, []
    for i in range(n_sims):
        sim = simulate(
            SimConfig(
                **{
                    **asdict(cfg),
                    "n_players": players,
                    "n_units": units,
                    "games_per_player": float(games),
                    "rounds_per_game": per_game,
                    "exact_games": True,
                    "popularity": 0.0,
                    "seed": seed + i,
                    "planted_difficulty": (-difference / 2, difference / 2),
                }
            )
        )
        levels = np.unique(sim.level, return_inverse=True)[1]  # the lowest level played is the reference
        fit = fit_arrays(sim.player, sim.unit, levels, sim.outcome, sim.prior, n_players=players, n_units=units)
        if fit.unit_rounds[0] and fit.unit_rounds[1]:
            se = float(np.hypot(fit.difficulty_se[0], fit.difficulty_se[1]))
            ses.append(se)
            rejections += abs(fit.difficulty[1] - fit.difficulty[0]) / se > crit
        if progress:
            progress(i + 1, n_sims)
    lo, hi = wilson(rejections, n_sims)
    return PowerResult(
        power=rejections / n_sims,
        lo=lo,
        hi=hi,
        rejections=int(rejections),
        n_sims=n_sims,
        players=players,
        rounds_per_player=games * per_game,
        units=units,
        difference=float(difference),
        alpha=alpha,
        mean_se_difference=float(np.mean(ses)) if ses else float("nan"),
    )
