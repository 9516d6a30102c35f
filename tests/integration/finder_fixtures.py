"""What the finder tests share: the reference a finder's score must equal, the unit played alone through the
game."""

from __future__ import annotations

import numpy as np

from mirrorneuron.game import make_rounds, run_session, truth_from
from mirrorneuron.game.scoring import CONSTANT_ACTUAL
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.players import BotData, make_bot
from mirrorneuron.units.context import NeuronContext


def played_alone(h: Harvest, adapter: TorchAdapter, site: str, j: int, bot: str, level: int, rounds: int) -> float:
    """Unit ``j`` played alone through the game (its own context, passes, examples, draw and bot data), scored
    from the session's full summary: NaN for a constant unit or a constant actual."""
    ctx = NeuronContext(h, adapter, site, j)
    if float(np.ptp(ctx.values)) == 0:
        return np.nan
    rs = make_rounds(ctx, level, rounds)
    result = run_session(make_bot(bot, BotData.from_context(ctx, rs.training)), rs.rounds, truth_from(ctx))
    return np.nan if CONSTANT_ACTUAL in result.summary.flags else result.summary.correlation
