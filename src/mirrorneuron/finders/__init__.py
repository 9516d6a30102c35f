"""Automated unit finders: methods that score every unit of a harvested model (density, kurtosis, unigram R²,
held-out bot imitability, SAE alignment, weight concentration, polysemanticity, a random baseline).

Above ``units``, ``harvest`` and ``players``; below ``store``, ``web``, ``gameplay`` and the CLI (which store
and show the scores). A user adds a finder by subclassing :class:`Finder` and calling :func:`register`, or
by naming it as ``package.module:Name``.
"""

from mirrorneuron.finders import shipped  # noqa: F401  (importing it registers the shipped finders)
from mirrorneuron.finders.base import Finder, SiteData
from mirrorneuron.finders.harvested import site_data
from mirrorneuron.finders.imitability import BotImitability, HeldOutViolation, check_held_out
from mirrorneuron.finders.registry import available, get, load_finder, register, select

__all__ = [
    "BotImitability",
    "Finder",
    "HeldOutViolation",
    "SiteData",
    "available",
    "check_held_out",
    "get",
    "load_finder",
    "register",
    "select",
    "site_data",
]
