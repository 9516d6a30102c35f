"""Skill × difficulty: per-player skill, per-unit difficulty, per-level effect and a practice term, fitted to
per-round outcomes by sparse least squares, with 95 % intervals. docs/analysis.md describes the model.

    outcome ≈ mu + skill[player] − difficulty[unit] + level_effect[level] + beta · log(1 + prior_rounds)

``outcome`` is a round's score / 100 (higher = better) or |error| / scale (then "skill" is negative skill);
``prior_rounds`` is how many rounds the player had already played on that unit (:func:`prior_rounds`).
Identifiability: a small ridge ``lam`` on skill and difficulty (``lam`` pseudo-rounds at the mean: a player
with n rounds is shrunk by lam / (n + lam)); level effects are contrasts with the lowest level present.

Two entry points: :func:`fit_arrays` on integer codes (fast; 10M rounds in a few seconds) and
:func:`fit_skill_difficulty` on a DataFrame with columns ``player_id, unit_id, level, outcome`` (and
``prior_rounds`` when the practice term is wanted), returning DataFrames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mirrorneuron.analysis.solve import big_block_variances, block_pcg, normal_equations

Z95 = 1.959963984540054  # the 97.5 % normal quantile
DEFAULT_RIDGE = 1.0
SE_RTOL = 1e-4  # the variance solves need two or three digits only


@dataclass(frozen=True)
class ArrayFit:
    """A fit on integer codes. ``*_se`` are standard errors; ``level_effect[0]`` is the reference (0, se 0)."""

    mu: float  # the overall mean outcome (a nuisance parameter: no se, the ridge makes diag(N⁻¹) overstate it)
    skill: np.ndarray  # [P]
    skill_se: np.ndarray
    difficulty: np.ndarray  # [U]
    difficulty_se: np.ndarray
    level_effect: np.ndarray  # [L]
    level_se: np.ndarray
    beta: float | None  # practice: gain per unit of log(1 + prior rounds); None when not fitted
    beta_se: float | None
    sigma: float  # residual standard deviation
    n_rounds: int
    player_rounds: np.ndarray  # [P]
    unit_rounds: np.ndarray  # [U]
    unit_players: np.ndarray  # [U] distinct players per unit
    level_rounds: np.ndarray  # [L]
    ridge: float
    iterations: int
    converged: bool

    def predict(
        self, player: np.ndarray, unit: np.ndarray, level: np.ndarray, prior: np.ndarray | None = None
    ) -> np.ndarray:
        out = self.mu + self.skill[player] - self.difficulty[unit] + self.level_effect[level]
        if self.beta is not None:
            if prior is None:
                raise ValueError("this fit has a practice term: pass prior_rounds")
            out = out + self.beta * np.log1p(prior)
        return np.asarray(out)


def prior_rounds(player: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """For rounds in play order: how many rounds the same player had already played on the same unit."""
    player, unit = np.asarray(player, dtype=np.int64), np.asarray(unit, dtype=np.int64)
    if player.size == 0:
        return np.zeros(0, dtype=np.int64)
    key = player * (int(unit.max()) + 1) + unit
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    run_start = np.maximum.accumulate(np.where(starts, np.arange(key.size), 0))
    out = np.empty(key.size, dtype=np.int64)
    out[order] = np.arange(key.size) - run_start
    return out


def _codes(name: str, x: Any, n: int | None) -> tuple[np.ndarray, int]:
    arr = np.asarray(x)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D array of integer codes, got dtype {arr.dtype} shape {arr.shape}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} codes must be ≥ 0")
    top = int(arr.max()) + 1 if arr.size else 0
    if n is not None and top > n:
        raise ValueError(f"{name} has code {top - 1} but n_{name}s is {n}")
    return arr.astype(np.int64, copy=False), top if n is None else n


def fit_arrays(
    player: Any,
    unit: Any,
    level: Any,
    outcome: Any,
    prior: Any = None,
    *,
    n_players: int | None = None,
    n_units: int | None = None,
    n_levels: int | None = None,
    ridge: float = DEFAULT_RIDGE,
    rtol: float = 1e-8,
    maxiter: int = 5000,
) -> ArrayFit:
    """Fit the model to per-round integer codes (player, unit, level: 0-based) and outcomes.

    ``prior`` (rounds already played on that unit) adds the practice term ``beta · log1p(prior)`` (beta is
    None if every prior is 0). Level 0 is the reference; a level code with no rounds gets effect NaN. Players
    or units without rounds (codes below ``n_players`` / ``n_units`` never used) stay at 0 with the ridge's
    prior se. ValueError on malformed input."""
    p_idx, n_p = _codes("player", player, n_players)
    u_idx, n_u = _codes("unit", unit, n_units)
    l_idx, n_l = _codes("level", level, n_levels)
    y = np.asarray(outcome, dtype=np.float64)
    if not (p_idx.size == u_idx.size == l_idx.size == y.size):
        raise ValueError(
            f"player, unit, level and outcome differ in length ({p_idx.size}, {u_idx.size}, {l_idx.size}, {y.size})"
        )
    if y.size < 2:
        raise ValueError("a fit needs at least 2 rounds")
    if not np.all(np.isfinite(y)):
        raise ValueError("outcome contains NaN or inf")
    if not ridge > 0:
        raise ValueError(f"ridge must be positive (it makes skill and difficulty identifiable), got {ridge}")
    x = None
    if prior is not None:
        pr = np.asarray(prior, dtype=np.float64)
        if pr.shape != y.shape or not np.all(np.isfinite(pr)) or (pr.size and pr.min() < 0):
            raise ValueError("prior must be one non-negative count per round")
        x = np.log1p(pr) if pr.any() else None  # nobody played a unit twice: no practice term to fit
    level_rounds = np.bincount(l_idx, minlength=n_l)
    if level_rounds[0] == 0:
        raise ValueError("level code 0 (the reference level) has no rounds")
    normal = normal_equations(p_idx, u_idx, l_idx, y, x, n_p, n_u, n_l, float(ridge))
    empty = np.flatnonzero(level_rounds == 0)  # their effects come out as 0 (pinned); reported as NaN
    big, k_fixed = normal.diag_a.size, normal.fixed.shape[0]
    # one block solve: the estimate (tight) and one unit vector per fixed parameter (for its variance)
    b = np.zeros((normal.size, 1 + k_fixed))
    b[:, 0] = normal.rhs
    b[big + np.arange(k_fixed), 1 + np.arange(k_fixed)] = 1.0
    tol = np.r_[rtol, np.full(k_fixed, SE_RTOL)]
    sol, iterations, converged = block_pcg(normal.matvec, b, 1.0 / normal.diagonal(), tol, maxiter)
    theta = sol[:, 0]
    skill, difficulty, fixed = theta[:n_p], theta[n_p:big], theta[big:]
    levels = np.r_[0.0, fixed[1:n_l]]
    beta = float(fixed[n_l]) if x is not None else None
    fitted = fixed[0] + skill[p_idx] - difficulty[u_idx] + levels[l_idx]
    if beta is not None and x is not None:
        fitted += beta * x
    resid = y - fitted
    played = int(np.count_nonzero(normal.diag_a > ridge))  # players and units with rounds
    dof = max(y.size - (played + k_fixed - empty.size), 1)
    sigma2 = float(resid @ resid) / dof
    var_big = big_block_variances(normal) * sigma2
    var_fixed = np.diag(sol[big:, 1:]) * sigma2
    level_se = np.r_[0.0, np.sqrt(var_fixed[1:n_l])]
    levels[empty] = np.nan
    level_se[empty] = np.nan
    return ArrayFit(
        mu=float(fixed[0]),
        skill=skill,
        skill_se=np.sqrt(var_big[:n_p]),
        difficulty=difficulty,
        difficulty_se=np.sqrt(var_big[n_p:]),
        level_effect=levels,
        level_se=level_se,
        beta=beta,
        beta_se=float(np.sqrt(var_fixed[n_l])) if x is not None else None,
        sigma=float(np.sqrt(sigma2)),
        n_rounds=int(y.size),
        player_rounds=np.bincount(p_idx, minlength=n_p),
        unit_rounds=np.bincount(u_idx, minlength=n_u),
        unit_players=np.diff(normal.counts_t.indptr),
        level_rounds=level_rounds,
        ridge=float(ridge),
        iterations=iterations,
        converged=bool(converged.all()),
    )


def _interval(est: np.ndarray, se: np.ndarray) -> dict[str, np.ndarray]:
    return {"se": se, "lo": est - Z95 * se, "hi": est + Z95 * se}


@dataclass(frozen=True)
class SkillDifficultyFit:
    """A fit as DataFrames. ``players``: player_id, skill, se, lo, hi (95 %), n_rounds. ``units``: unit_id,
    difficulty, se, lo, hi, n_rounds, n_players. ``levels``: level, effect (vs the lowest level), se, lo, hi,
    n_rounds. ``summary``: mu, beta (practice) and its se, sigma, counts, ridge, iterations, converged."""

    players: pd.DataFrame
    units: pd.DataFrame
    levels: pd.DataFrame
    summary: dict[str, Any]
    arrays: ArrayFit = field(repr=False)


REQUIRED = ("player_id", "unit_id", "level")


def fit_skill_difficulty(
    rounds: pd.DataFrame,
    outcome: str = "outcome",
    practice: str | None = "prior_rounds",
    ridge: float = DEFAULT_RIDGE,
) -> SkillDifficultyFit:
    """Fit the model to a DataFrame of rounds (one row per answered round; any row order).

    Columns: ``player_id``, ``unit_id``, ``level`` (any labels; the lowest level is the reference), the
    ``outcome`` column, and ``practice`` (rounds already played on the unit; None: no practice term)."""
    missing = [c for c in (*REQUIRED, outcome, *([practice] if practice else [])) if c not in rounds.columns]
    if missing:
        raise ValueError(f"rounds lack column(s) {missing}; they have {list(rounds.columns)}")
    players = pd.Categorical(rounds["player_id"])
    units = pd.Categorical(rounds["unit_id"])
    level_labels, level_codes = np.unique(rounds["level"].to_numpy(), return_inverse=True)
    fit = fit_arrays(
        players.codes.astype(np.int64),
        units.codes.astype(np.int64),
        level_codes.astype(np.int64),
        rounds[outcome].to_numpy(dtype=np.float64),
        None if practice is None else rounds[practice].to_numpy(dtype=np.float64),
        n_players=len(players.categories),
        n_units=len(units.categories),
        n_levels=len(level_labels),
        ridge=ridge,
    )
    players_df = pd.DataFrame(
        {
            "player_id": players.categories,
            "skill": fit.skill,
            **_interval(fit.skill, fit.skill_se),
            "n_rounds": fit.player_rounds,
        }
    )
    units_df = pd.DataFrame(
        {
            "unit_id": units.categories,
            "difficulty": fit.difficulty,
            **_interval(fit.difficulty, fit.difficulty_se),
            "n_rounds": fit.unit_rounds,
            "n_players": fit.unit_players,
        }
    )
    levels_df = pd.DataFrame(
        {
            "level": level_labels,
            "effect": fit.level_effect,
            **_interval(fit.level_effect, fit.level_se),
            "n_rounds": fit.level_rounds,
        }
    )
    summary = {
        "mu": fit.mu,
        "beta": fit.beta,
        "beta_se": fit.beta_se,
        "sigma": fit.sigma,
        "n_rounds": fit.n_rounds,
        "n_players": len(players.categories),
        "n_units": len(units.categories),
        "outcome": outcome,
        "ridge": fit.ridge,
        "iterations": fit.iterations,
        "converged": fit.converged,
    }
    return SkillDifficultyFit(players_df, units_df, levels_df, summary, fit)
