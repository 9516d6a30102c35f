"""A player simulator with planted truths, for validating the fits and the analyses and for study power.

Players play games of ``rounds_per_game`` rounds on one unit at one level. Each round's outcome (score / 100)
follows the fitted model exactly, so a fit's intervals can be checked against the planted values:

    outcome = clip(mu + skill[p] − difficulty[u] + level_effect[level] + beta · log1p(prior) + noise, 0, 1)

Skills and difficulties are normal and centred (they sum to zero, as the fit's ridge assumes); a player plays
a geometric number of games, each on a new unit (drawn with mild popularity skew) or, with probability
``repeat``, again on the unit of their previous game (so practice accumulates). :func:`gameplay_frame` turns
a simulation into the columns the store loader returns; :func:`planted_finders` adds finder scores with a
planted best (:data:`BEST_FINDER`). Pure numpy / pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from mirrorneuron.analysis.fit import Z95, ArrayFit, prior_rounds
from mirrorneuron.game.scoring import round_score

ROUND_COLUMNS = ("player_id", "unit_id", "level", "prior_rounds", "outcome", "game", "seq")


@dataclass(frozen=True)
class SimConfig:
    n_players: int = 2000
    n_units: int = 300
    games_per_player: float = 5.0  # mean of a geometric count (≥ 1)
    rounds_per_game: int = 10
    repeat: float = 0.3  # chance a game replays the unit of the player's previous game
    mu: float = 0.5
    skill_sd: float = 0.08
    difficulty_sd: float = 0.08
    level_effect: tuple[float, ...] = (0.0, 0.03, 0.06, 0.1)  # levels 0 blind … 3 weights
    beta: float = 0.03  # practice: gain per unit of log(1 + prior rounds)
    noise_sd: float = 0.1
    popularity: float = 0.5  # unit weights ∝ rank^-popularity (0: uniform)
    seed: int = 0
    # planted difficulties of the first units (before centring; the rest stay normal): study power, planted
    # attribute effects
    planted_difficulty: tuple[float, ...] = ()
    exact_games: bool = False  # every player plays round(games_per_player) games instead of a geometric count


@dataclass(frozen=True)
class Simulation:
    """Per-round integer arrays (play order) and the planted truth. ``outcome`` is a score / 100."""

    config: SimConfig
    player: np.ndarray  # [N] player code
    unit: np.ndarray  # [N] unit code
    level: np.ndarray  # [N]
    prior: np.ndarray  # [N] rounds the player had already played on this unit
    outcome: np.ndarray  # [N]
    game: np.ndarray  # [N] game code (games are numbered in play order)
    seq: np.ndarray  # [N] round number within its game
    skill: np.ndarray  # [P] planted
    difficulty: np.ndarray  # [U] planted
    clipped: float  # fraction of outcomes clipped to [0, 1]

    @property
    def n_rounds(self) -> int:
        return int(self.outcome.size)

    def player_ids(self) -> np.ndarray:
        return np.array([f"p{i}" for i in range(self.config.n_players)], dtype=object)

    def unit_ids(self) -> np.ndarray:
        return np.array([f"u{j}" for j in range(self.config.n_units)], dtype=object)

    def rounds(self) -> pd.DataFrame:
        """The rounds as a DataFrame in the fit's columns (ids are categoricals ``p<i>`` / ``u<j>``)."""
        return pd.DataFrame(
            {
                "player_id": pd.Categorical.from_codes(self.player, self.player_ids()),
                "unit_id": pd.Categorical.from_codes(self.unit, self.unit_ids()),
                "level": self.level,
                "prior_rounds": self.prior,
                "outcome": self.outcome,
                "game": self.game,
                "seq": self.seq,
            }
        )


def _centred_normal(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    v = rng.normal(0.0, sd, n)
    return v - v.mean()


def simulate(config: SimConfig | None = None) -> Simulation:
    """Simulate gameplay under ``config`` (deterministic for its seed)."""
    c = config or SimConfig()
    if c.n_players < 1 or c.n_units < 1 or c.rounds_per_game < 1 or c.games_per_player < 1:
        raise ValueError("n_players, n_units, rounds_per_game and games_per_player must be at least 1")
    if not 0 <= c.repeat < 1:
        raise ValueError(f"repeat must be in [0, 1), got {c.repeat}")
    rng = np.random.default_rng(c.seed)
    skill = _centred_normal(rng, c.n_players, c.skill_sd)
    difficulty = _centred_normal(rng, c.n_units, c.difficulty_sd)
    if c.planted_difficulty:
        if len(c.planted_difficulty) > c.n_units:
            raise ValueError(f"planted_difficulty has {len(c.planted_difficulty)} values for {c.n_units} units")
        difficulty[: len(c.planted_difficulty)] = c.planted_difficulty
        difficulty -= difficulty.mean()  # centred as the ridge assumes; differences are kept
    levels = np.asarray(c.level_effect, dtype=np.float64)
    # games: a geometric number per player, in player order (one player's games follow each other)
    if c.exact_games:
        n_games = np.full(c.n_players, max(1, round(c.games_per_player)))
    else:
        n_games = rng.geometric(1.0 / c.games_per_player, c.n_players)
    game_player = np.repeat(np.arange(c.n_players), n_games)
    g = game_player.size
    weights = (np.arange(c.n_units) + 1.0) ** -c.popularity
    unit_of_rank = rng.permutation(c.n_units)  # popularity is unrelated to difficulty
    fresh = unit_of_rank[rng.choice(c.n_units, size=g, p=weights / weights.sum())]
    first = np.r_[True, game_player[1:] != game_player[:-1]]
    new = first | (rng.random(g) >= c.repeat)
    game_unit = fresh[np.maximum.accumulate(np.where(new, np.arange(g), 0))]  # repeats copy the last new unit
    game_level = rng.integers(0, levels.size, g)
    r = c.rounds_per_game
    game = np.repeat(np.arange(g), r)
    player, unit, level = game_player[game], game_unit[game], game_level[game]
    seq = np.tile(np.arange(r), g)
    prior = prior_rounds(player, unit)
    mean = c.mu + skill[player] - difficulty[unit] + levels[level] + c.beta * np.log1p(prior)
    raw = mean + rng.normal(0.0, c.noise_sd, mean.size)
    outcome = np.clip(raw, 0.0, 1.0)
    return Simulation(
        config=c,
        player=player,
        unit=unit,
        level=level,
        prior=prior,
        outcome=outcome,
        game=game,
        seq=seq,
        skill=skill,
        difficulty=difficulty,
        clipped=float(np.mean((raw < 0) | (raw > 1))),
    )


BEST_FINDER = "planted-best"
# finder name → noise sd in units of the difficulty sd (None: pure noise, unrelated to difficulty)
PLANTED_FINDERS: dict[str, float | None] = {BEST_FINDER: 0.1, "planted-noisy": 1.0, "planted-random": None}


def planted_finders(sim: Simulation, seed: int = 0) -> pd.DataFrame:
    """Simulated finder scores (long: ``unit_id, finder, score``; higher = predicted more imitable): the
    planted best is −difficulty plus a little noise, the others are noisier or unrelated."""
    rng = np.random.default_rng(seed)
    sd = float(sim.difficulty.std()) or 1.0
    parts = []
    for name, noise in PLANTED_FINDERS.items():
        n = sim.difficulty.size
        score = rng.normal(0.0, sd, n) if noise is None else -sim.difficulty + rng.normal(0.0, noise * sd, n)
        parts.append(pd.DataFrame({"unit_id": sim.unit_ids(), "finder": name, "score": score}))
    return pd.concat(parts, ignore_index=True)


N_FRAME_EXAMPLES = 32


def gameplay_frame(sim: Simulation, *, models: Sequence[str] = ("sim",), seed: int = 0) -> pd.DataFrame:
    """The simulation as :func:`~mirrorneuron.analysis.load.load_rounds` would return it after storing it (a
    human's rounds; no store): unit ``u<j>`` belongs to ``models[j % len(models)]``, each unit has
    :data:`N_FRAME_EXAMPLES` examples with fixed true values, and the guess sits on a random side of the
    truth at the distance that makes the round's score (``round_score``) the simulated outcome × 100."""
    rng = np.random.default_rng(seed)
    n = sim.n_rounds
    scales = np.exp(rng.normal(0.0, 0.5, sim.config.n_units))
    values = rng.normal(0.0, 0.3, (sim.config.n_units, N_FRAME_EXAMPLES)) * scales[:, None]
    example = rng.integers(0, N_FRAME_EXAMPLES, n)
    scale = scales[sim.unit]
    actual = values[sim.unit, example]
    guess = actual + np.where(rng.random(n) < 0.5, -1.0, 1.0) * (1.0 - sim.outcome) * scale
    score = np.array([round_score(g, a, s) for g, a, s in zip(guess, actual, scale, strict=True)])
    example_ids = [f"u{u}-ex{e}" for u in range(sim.config.n_units) for e in range(N_FRAME_EXAMPLES)]
    model_of_unit = np.array([models[j % len(models)] for j in range(sim.config.n_units)], dtype=object)
    return pd.DataFrame(
        {
            "guess_id": np.arange(n),
            "player_id": pd.Categorical.from_codes(sim.player, sim.player_ids()),
            "player_kind": pd.Categorical(np.full(n, "human")),
            "unit_id": pd.Categorical.from_codes(sim.unit, sim.unit_ids()),
            "model_id": pd.Categorical(model_of_unit[sim.unit]),
            "level": sim.level,
            "game_id": pd.Categorical.from_codes(sim.game, [f"g{g}" for g in range(int(sim.game.max()) + 1)]),
            "seq": sim.seq,
            "example_id": pd.Categorical.from_codes(sim.unit * N_FRAME_EXAMPLES + example, example_ids),
            "scale": scale,
            "actual": actual,
            "guess": guess,
            "score": score,
            "seconds": rng.uniform(2.0, 20.0, n),
            "outcome": score / 100.0,
            "abs_error": np.abs(guess - actual) / scale,
            "prior_rounds": sim.prior,
        }
    )


@dataclass(frozen=True)
class Recovery:
    """How well a fit recovered a simulation's planted truth (coverage: of the nominal 95 % intervals)."""

    difficulty_spearman: float
    skill_spearman: float
    difficulty_coverage: float
    skill_coverage: float
    interval_coverage: float  # over players and units together
    level_error: np.ndarray  # [L] fitted − planted level effect (contrasts with level 0)
    level_z: np.ndarray  # [L] level_error / se (0 for the reference)
    beta_error: float | None

    def to_dict(self) -> dict[str, object]:
        return {
            "difficulty_spearman": self.difficulty_spearman,
            "skill_spearman": self.skill_spearman,
            "difficulty_coverage": self.difficulty_coverage,
            "skill_coverage": self.skill_coverage,
            "interval_coverage": self.interval_coverage,
            "level_error": self.level_error.tolist(),
            "level_z": self.level_z.tolist(),
            "beta_error": self.beta_error,
        }


def recovery(sim: Simulation, fit: ArrayFit) -> Recovery:
    """Compare ``fit`` (on ``sim``'s codes) with the planted truth."""
    if fit.skill.size != sim.skill.size or fit.difficulty.size != sim.difficulty.size:
        raise ValueError("the fit's players/units do not match the simulation's (fit on its codes)")
    hit_s = np.abs(fit.skill - sim.skill) <= Z95 * fit.skill_se
    hit_d = np.abs(fit.difficulty - sim.difficulty) <= Z95 * fit.difficulty_se
    planted = np.asarray(sim.config.level_effect, dtype=np.float64)[: fit.level_effect.size]
    err = fit.level_effect - (planted - planted[0])
    z = np.divide(err, fit.level_se, out=np.zeros_like(err), where=fit.level_se > 0)
    return Recovery(
        difficulty_spearman=float(spearmanr(fit.difficulty, sim.difficulty).statistic),
        skill_spearman=float(spearmanr(fit.skill, sim.skill).statistic),
        difficulty_coverage=float(hit_d.mean()),
        skill_coverage=float(hit_s.mean()),
        interval_coverage=float(np.r_[hit_s, hit_d].mean()),
        level_error=err,
        level_z=z,
        beta_error=None if fit.beta is None else fit.beta - sim.config.beta,
    )
