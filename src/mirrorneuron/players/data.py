"""What the outer layer hands a bot beyond the round: the unit's values (and target tokens) on its training
examples — the part of the harvest that is never asked, so a bot knows only what a human in the same seat
could know (references, level-0 facts, then earlier reveals)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mirrorneuron.game import Round, TextExample, UnitContext, training_mask


@dataclass(frozen=True, eq=False)
class BotData:
    """``values[i]``: the unit's activation on harvested example ``i``; ``target_tokens[i]``: that example's
    target token string (``None`` for image units). Both are read-only copies."""

    values: np.ndarray
    target_tokens: np.ndarray | None = None

    def __post_init__(self) -> None:
        values = _checked_values(self.values)
        object.__setattr__(self, "values", values)
        if self.target_tokens is not None:
            tokens = np.empty(len(self.target_tokens), dtype=object)
            tokens[:] = list(map(str, self.target_tokens))  # = [str(t) for t in ...], without the listcomp
            if tokens.shape != values.shape:
                raise ValueError(f"BotData.target_tokens has {tokens.size} entries but there are {values.size} values")
            tokens.setflags(write=False)
            object.__setattr__(self, "target_tokens", tokens)

    @classmethod
    def from_context(cls, ctx: UnitContext, training: np.ndarray | None = None) -> BotData:
        """Values and (for text units) target tokens of ``ctx``'s training examples: ``training`` (a round
        set's ``training`` mask), by default the split :func:`~mirrorneuron.game.make_rounds` uses."""
        mask = training_mask(ctx.groups) if training is None else np.asarray(training, dtype=bool)
        values = np.asarray(ctx.values, dtype=np.float64)[mask]
        site = getattr(ctx, "site_bot_data", None)  # a site's contexts share the tokens of their training half
        like = site(mask) if callable(site) else None
        if isinstance(like, BotData):
            return like.with_values(values)
        target_tokens = getattr(ctx, "target_tokens", None)  # harvested units know them without rendering
        if callable(target_tokens):
            tokens = target_tokens()
            return cls(values, None if tokens is None else np.asarray(tokens, dtype=object)[mask])
        examples = [ctx.example(int(i)) for i in np.flatnonzero(mask)]
        texts = [e for e in examples if isinstance(e, TextExample)]
        if texts and len(texts) == len(examples):
            return cls(values, np.array([e.target_token for e in texts], dtype=object))
        return cls(values)

    def with_values(self, values: np.ndarray) -> BotData:
        """Another unit's ``values`` on the same examples, sharing these (already checked, read-only) target
        tokens: a site's units have the same training examples, so their tokens need not be copied per unit."""
        out = object.__new__(BotData)
        checked = _checked_values(values)
        if self.target_tokens is not None and self.target_tokens.shape != checked.shape:
            raise ValueError(f"{checked.size} values for {self.target_tokens.size} target tokens")
        object.__setattr__(out, "values", checked)
        object.__setattr__(out, "target_tokens", self.target_tokens)
        if self.target_tokens is not None:  # the same tokens: the same numbering, made once
            out.__dict__["token_codes"] = self.token_codes
        return out

    @cached_property
    def token_codes(self) -> tuple[dict[str, int], np.ndarray]:
        """The distinct target tokens numbered in first-seen order, and each example's number (text units)."""
        tokens = [] if self.target_tokens is None else self.target_tokens.tolist()
        index = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
        codes = np.fromiter(map(index.__getitem__, tokens), np.int64, count=len(tokens))
        codes.setflags(write=False)
        return index, codes

    @cached_property
    def mean(self) -> float | None:
        """The unit mean over the training examples, or ``None`` when no values were given (computed once: the
        values are read-only; bots ask for it every round)."""
        return float(self.values.mean()) if self.values.size else None


def _checked_values(values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(out)):
        raise ValueError("BotData.values must be finite")
    out.setflags(write=False)
    return out


def unit_mean(data: BotData | None, round: Round) -> float:
    """The unit mean from ``data``, falling back to the round's level-0 stats."""
    mean = data.mean if data is not None else None
    return round.hints.stats.mean if mean is None else mean
