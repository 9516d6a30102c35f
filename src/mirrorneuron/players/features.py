"""Named, sparse features of a round for the ridge bot; the feature set grows with the level.

- level 0/1: a hashed bag of the target token and the 2 tokens before it (text), or the pixels (images);
- level 2: + each neighbour's value, one feature per label;
- level 3: the value the contributions give whenever the payload determines it (elementwise, gated,
  SoLU: ``Contributions.computable``), which makes a linear fit exact; otherwise + each contribution term,
  the pre-activation (and each up term of a gated unit).

Hashing uses CRC-32, not Python's salted ``hash``, so features are the same in every process.
"""

from __future__ import annotations

import zlib

from mirrorneuron.game import Contributions, Example, ImageExample, Level, Round, TextExample

Features = dict[str, float]
N_BUCKETS = 128
CONTEXT = 2  # tokens before the target that enter the bag


def token_bucket(back: int, token: str, n_buckets: int = N_BUCKETS) -> int:
    """Stable hash bucket of ``token`` seen ``back`` positions before the target."""
    return zlib.crc32(f"{back}|{token}".encode()) % n_buckets


def example_features(round: Round, n_buckets: int = N_BUCKETS) -> Features:
    return input_features(round.example, n_buckets)


def input_features(ex: Example, n_buckets: int = N_BUCKETS) -> Features:
    """The level-0/1 features of an example alone (also used to run a fitted ridge on any input)."""
    out: Features = {}
    if isinstance(ex, TextExample):
        for back in range(min(CONTEXT, ex.target) + 1):
            key = f"tok:{token_bucket(back, ex.tokens[ex.target - back], n_buckets)}"
            out[key] = out.get(key, 0.0) + 1.0
    elif isinstance(ex, ImageExample):
        for i, p in enumerate(ex.pixels.reshape(-1).tolist()):
            if p:
                out[f"px:{i}"] = p
    return out


def contribution_features(c: Contributions) -> Features:
    out: Features = {f"term:{label}": value for label, value in c.terms}
    if c.up is not None:
        out.update({f"up:{label}": value for label, value in c.up.terms})
    out["preact"] = c.preactivation
    if c.computable:
        out["value"] = c.value()
    return out


def round_features(round: Round, n_buckets: int = N_BUCKETS) -> Features:
    """The features of ``round`` at its level (zero-valued features are left out).

    At level 3, where the payload determines the value, only the computed value and the pre-activation are
    used: extra weak features would only dilute a fit from a few rounds.
    """
    c = round.hints.contributions if round.level >= Level.WEIGHTS else None
    if c is not None and c.computable:
        return {"preact": c.preactivation, "value": c.value()}
    out = example_features(round, n_buckets)
    if round.level >= Level.NEIGHBOURS:
        out.update({f"nb:{h.label}": h.value for h in round.hints.neighbours})
    if round.level >= Level.WEIGHTS and round.hints.contributions is not None:
        out.update(contribution_features(round.hints.contributions))
    return out
