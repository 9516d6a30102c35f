"""Exact merges of streaming site statistics (`stats.SiteAccumulator`) computed over disjoint tokens.

``merge(acc(a), acc(b))`` equals ``acc(a + b)``: exactly for the count, min, max, positive counts, top-k (the
k first of the union by value desc, index asc: the streaming tie-break), the sample (the lowest priorities of
the union: each token's priority is a function of its global index alone) and so the quantiles; to rounding
(≈ 1e-15 relative) for the float64 mean and variance (Chan et al.'s pairwise update). The merge is associative
to the same degree, and merging with an empty accumulator changes nothing.

The Ray engine does not need these (it folds shards in order, bit-identically; see ``ray_engine``): they are
for statistics computed apart, e.g. per-shard states of one harvest, and are property-tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable

from mirrorneuron.harvest.stats import SiteAccumulator


def copy_accumulator(acc: SiteAccumulator) -> SiteAccumulator:
    return SiteAccumulator.from_state_dict(acc.state_dict())


def merge(a: SiteAccumulator, b: SiteAccumulator) -> SiteAccumulator:
    """The statistics of the tokens of ``a`` and ``b`` (which must be disjoint), as a new accumulator."""
    if (a.n_units, a.top_k, a.sample_size, a.seed) != (b.n_units, b.top_k, b.sample_size, b.seed):
        raise ValueError("can only merge accumulators with the same units, top_k, sample_size and seed")
    out = copy_accumulator(a)
    out.moments.merge(b.moments)
    out.top.merge(b.top)
    out.sample.merge(b.sample)
    ends = [i for i in (a.next_index, b.next_index) if i is not None]
    out.next_index = max(ends) if ends else None
    return out


def merge_all(accs: Iterable[SiteAccumulator]) -> SiteAccumulator:
    """Left fold of ``merge`` over one or more accumulators."""
    it = iter(accs)
    try:
        out = copy_accumulator(next(it))
    except StopIteration:
        raise ValueError("merge_all needs at least one accumulator") from None
    for acc in it:
        out = merge(out, acc)
    return out
