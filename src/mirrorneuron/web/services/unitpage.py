"""A unit's dashboard: stats, histogram, top examples, quantile bins, how the bots do (cached per unit) and
the automated finders' scores (read live).

Everything with values comes from the unit's training examples (the windows the game never asks), so a
player who reads the page is never asked an example whose value it showed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mirrorneuron.game import UnitStats, make_rounds, quantile_bins, top_pool, training_mask
from mirrorneuron.units import HarvestedUnit
from mirrorneuron.web.schemas.common import ExampleValue, StatsOut
from mirrorneuron.web.schemas.units import BinOut, HistogramOut, UnitOut
from mirrorneuron.web.services.results import bots_on
from mirrorneuron.web.unitcache import UnitCache

N_TOP, N_BINS, PER_BIN, HIST_BINS, BOT_LEVEL = 12, 10, 3, 40, 1


def example_value(ctx: HarvestedUnit, i: int) -> ExampleValue:
    return ExampleValue.model_validate({"index": i, "value": float(ctx.values[i]), "example": ctx.example(i).to_dict()})


def build_unit_page(cache: UnitCache, unit_id: str, bot_rounds: int) -> UnitOut:
    ctx = cache.context(unit_id)
    shown = np.flatnonzero(training_mask(ctx.groups))  # never asked: safe to show with values
    v = np.asarray(ctx.values, dtype=np.float64)[shown]
    counts, edges = np.histogram(v, bins=HIST_BINS)
    rng = np.random.default_rng(0)
    bins = []
    for members in quantile_bins(v, N_BINS):
        if not members.size:
            continue
        pick = shown[np.sort(rng.choice(members, min(PER_BIN, members.size), replace=False))]
        bins.append(
            BinOut(
                lo=float(v[members].min()),
                hi=float(v[members].max()),
                count=int(members.size),
                examples=[example_value(ctx, int(i)) for i in pick],
            )
        )
    with cache.lock:
        rs = make_rounds(ctx, BOT_LEVEL, bot_rounds, seed=0)
    return UnitOut(
        unit_id=ctx.unit_id,
        model=ctx.adapter.name,
        site=ctx.site,
        kind=ctx.ref.kind,
        key=ctx.ref.key,
        modality=ctx.modality,
        n_examples=int(v.size),
        stats=StatsOut.model_validate(UnitStats.from_values(v).to_dict()),
        frac_positive=float((v > 0).mean()),
        histogram=HistogramOut(edges=[float(x) for x in edges], counts=[int(c) for c in counts]),
        top=[example_value(ctx, int(i)) for i in shown[top_pool(v, N_TOP)]],
        bins=bins,
        players=[],
        bots_level=BOT_LEVEL,
        bots_rounds=bot_rounds,
        bots=bots_on(ctx, rs, cache),
        withheld=False,
    )


def personalise(
    page: UnitOut, play_stats: dict[str, Any], withheld: bool, scores: Sequence[dict[str, Any]] = ()
) -> UnitOut:
    """Add the live player stats and finder scores (``store.scores.unit_scores``, read per request: a finders
    run may have just replaced them); while the viewer has a game open on the unit, drop what a
    level-1 game would not show: the examples with values (a round may ask one of them), the player stats
    (mean scores moving after each guess would tell) and the finder scores (computed from every harvested
    value, asked examples included)."""
    update: dict[str, Any] = {"players": play_stats.get("levels", []), "withheld": withheld, "finders": list(scores)}
    if withheld:
        update.update(top=[], players=[], finders=[], bins=[b.model_copy(update={"examples": []}) for b in page.bins])
    return UnitOut.model_validate({**page.model_dump(), **update})
