"""The tutorial's unit and its ending.

The planted model (``models.planted``) is not servable by name, so the tutorial plays the default text
model's most token-lookup-like neuron: among the lively neurons of its neuron sites (the quarter with the
narrowest q01–q99 spread is skipped, as for surprise units), the one whose activation the target token's
identity explains best — the highest unigram R² (between-token variance / total variance) over the
harvest's training half (windows the game never asks), tokens seen fewer than :data:`MIN_TOKEN_COUNT` times
pooled into one group. Its guesses can be learned from a handful of rounds and the level-1 references.
"""

from __future__ import annotations

import numpy as np

from mirrorneuron.config import settings
from mirrorneuron.game import training_mask
from mirrorneuron.harvest.run import default_sites
from mirrorneuron.types import UnitRef
from mirrorneuron.web.schemas.games import SummaryOut
from mirrorneuron.web.unitcache import UnitCache

TUTORIAL_LEVEL = 1  # the level-1 reference panel is the tutorial's main teaching aid
TUTORIAL_ROUNDS = 5  # about a minute
MIN_TOKEN_COUNT = 5
RULE = (
    "the default model's lively neuron with the highest unigram R² (share of variance explained by the target "
    "token) over the harvest's training half"
)
_chosen: dict[str, str] = {}  # harvest path → unit id (the rule is deterministic per harvest)


def unigram_r2(tokens: np.ndarray, acts: np.ndarray, min_count: int = MIN_TOKEN_COUNT) -> np.ndarray:
    """Per column of ``acts`` [N, U]: the share of its variance explained by ``tokens`` [N] (the mean per token
    as the predictor); tokens seen fewer than ``min_count`` times form one pooled group. 0 for a constant column."""
    _, codes, counts = np.unique(tokens, return_inverse=True, return_counts=True)
    codes = np.where(counts[codes] >= min_count, codes, -1)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    n = np.diff(np.r_[starts, sorted_codes.size]).astype(np.float64)
    sums = np.add.reduceat(acts[order], starts, axis=0)
    mean = acts.mean(axis=0)
    between = (n[:, None] * (sums / n[:, None] - mean) ** 2).sum(axis=0)
    total = ((acts - mean) ** 2).sum(axis=0)
    return np.divide(between, total, out=np.zeros_like(total), where=total > 0)


def tutorial_unit(cache: UnitCache, model: str | None = None) -> str:
    """The tutorial's unit id on ``model`` (default: the default text model); see the module docstring."""
    model = model or settings().default_text_model
    h = cache.harvest(model)
    key = str(h.path)
    if key in _chosen:
        return _chosen[key]
    adapter = cache.adapter(model)
    train = training_mask(np.repeat(np.arange(h.n_windows), h.positions))
    tokens = np.asarray(h.inputs).reshape(-1)[train]
    best: tuple[float, str, int] = (-np.inf, "", 0)
    with cache.lock:
        for site in [s for s in default_sites(adapter) if s in h.sites] or h.sites:
            acts = np.asarray(h.activations(site), dtype=np.float64).reshape(-1, h.width(site))[train]
            q01, q99 = np.quantile(acts, [0.01, 0.99], axis=0)
            spread = q99 - q01
            r2 = np.where(spread > np.quantile(spread, 0.25), unigram_r2(tokens, acts), -np.inf)
            i = int(np.argmax(r2))
            if r2[i] > best[0]:
                best = (float(r2[i]), site, i)
    unit = UnitRef(model, best[1], "neuron", str(best[2])).id
    _chosen[key] = unit
    return unit


def points_vs_mean_bot(summary: SummaryOut) -> tuple[float, float, float]:
    """(your points, the mean bot's points, the points perfect guesses earn) on the game's rounds, as the game
    summary scored them (``game.scoring``)."""
    if summary.you is None:
        raise ValueError("the game has no scored rounds (feedback off)")
    mean = next((b for b in summary.bots if b.name == "mean"), None)
    if mean is None:
        raise ValueError("the mean bot did not play these rounds")
    return summary.you.points, mean.points, summary.you.max_points
