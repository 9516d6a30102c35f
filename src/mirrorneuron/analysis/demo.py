"""A complete report from simulated gameplay, for trying the analysis before any study has run (and for
checking that every section renders with data): planted players and units (``simulate``), split over models
that differ in one attribute, two bots answering the same items, and planted finder scores.

Nothing here touches the store: the rounds are the frame ``load_rounds`` would return (``gameplay_frame``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mirrorneuron.analysis.sections import AnalysisData
from mirrorneuron.analysis.simulate import SimConfig, gameplay_frame, planted_finders, simulate
from mirrorneuron.game.scoring import round_score

# Two simulated models per activation function; units alternate between them (``gameplay_frame``).
DEMO_MODELS = pd.DataFrame(
    {
        "model_id": ["sim-relu-s0", "sim-gelu-s0", "sim-relu-s1", "sim-gelu-s1"],
        "activation": ["relu", "gelu", "relu", "gelu"],
        "seed": [0, 0, 1, 1],
        "val_loss": [3.91, 3.84, 3.93, 3.85],
    }
)
# bot name → (mean outcome on an easy unit, how fast it falls with the unit's planted difficulty)
DEMO_BOTS = {"ridge-v1": (0.85, 0.6), "mean-v1": (0.6, 0.2)}


def _bot_rounds(human: pd.DataFrame, difficulty: np.ndarray, seed: int) -> pd.DataFrame:
    """Each bot answers every distinct item (unit, level, example) the humans answered once; its guess is
    placed so the round's score (``round_score``) is a planted outcome that depends on the unit."""
    rng = np.random.default_rng(seed)
    items = human.drop_duplicates(["unit_id", "level", "example_id"]).reset_index(drop=True)
    unit_code = items["unit_id"].cat.codes.to_numpy()
    parts = []
    for k, (name, (easy, slope)) in enumerate(DEMO_BOTS.items()):
        mean = np.clip(easy - slope * difficulty[unit_code] + rng.normal(0, 0.05, len(items)), 0.0, 1.0)
        actual, scale = items["actual"].to_numpy(), items["scale"].to_numpy()
        guess = actual + np.where(rng.random(len(items)) < 0.5, -1.0, 1.0) * (1.0 - mean) * scale
        score = np.array([round_score(g, a, s) for g, a, s in zip(guess, actual, scale, strict=True)])
        bot = items.copy()
        bot["player_id"], bot["player_kind"] = f"bot-{name}", "bot"
        bot["game_id"] = [f"bot{k}-{g}" for g in items["game_id"].astype(str)]
        bot["guess"], bot["score"], bot["outcome"] = guess, score, score / 100.0
        bot["abs_error"] = np.abs(guess - actual) / scale
        parts.append(bot)
    return pd.concat([p.astype({"player_id": str, "player_kind": str, "game_id": str}) for p in parts])


def demo_data(n_players: int = 300, n_units: int = 40, seed: int = 0) -> AnalysisData:
    """Simulated gameplay with every input the report reads: humans, bots, model attributes, finders."""
    sim = simulate(SimConfig(n_players=n_players, n_units=n_units, rounds_per_game=10, seed=seed))
    human = gameplay_frame(sim, models=tuple(DEMO_MODELS["model_id"]), seed=seed)
    human["game_id"] = human["game_id"].astype(str)
    bots = _bot_rounds(human, sim.difficulty, seed)
    rounds = pd.concat([human.astype({"player_id": str, "player_kind": str}), bots], ignore_index=True)
    for col in ("player_id", "player_kind", "unit_id", "model_id", "game_id", "example_id"):
        rounds[col] = rounds[col].astype(str).astype("category")
    rounds["guess_id"] = np.arange(len(rounds))
    rounds["study_id"] = None  # simulated: in no study
    return AnalysisData(
        rounds=rounds,
        models=DEMO_MODELS.copy(),
        finder_scores=planted_finders(sim, seed),
        title=f"simulated demo ({n_players} players × {n_units} units, planted truths)",
    )
