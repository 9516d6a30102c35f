"""The shipped finders, registered in a fixed order (importing this module registers them)."""

from __future__ import annotations

from mirrorneuron.finders.activation import (
    ActivationDensity,
    Kurtosis,
    MaxZ,
    PolyDensity,
    RandomBaseline,
    UnigramR2,
)
from mirrorneuron.finders.imitability import imitability_finders
from mirrorneuron.finders.registry import register
from mirrorneuron.finders.structure import SaeAlignment, TopMeasure, WeightParticipation, WeightTopShare

SHIPPED = (
    ActivationDensity(),
    Kurtosis(),
    PolyDensity(),
    MaxZ(),
    UnigramR2(),
    TopMeasure("top_distinct", "distinct target tokens (or digit classes) among the top-20 examples (units.poly)"),
    TopMeasure("top_effective", "exp(entropy) of the top-20 examples' target tokens: 1 = one token (units.poly)"),
    TopMeasure("top_context_clusters", "groups of unrelated contexts among the top-20 examples (units.poly)"),
    WeightParticipation(),
    WeightTopShare(),
    SaeAlignment(),
    *imitability_finders(),
    RandomBaseline(),
)
for _finder in SHIPPED:
    register(_finder, replace=True)
