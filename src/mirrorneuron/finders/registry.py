"""The registry of finders: the shipped ones, and a user's, registered by object or by import path."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable

from mirrorneuron.finders.base import Finder
from mirrorneuron.types import UserError

_REGISTRY: dict[str, Finder] = {}
NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


def _check(finder: object, where: str) -> Finder:
    if isinstance(finder, type) and issubclass(finder, Finder):
        try:
            finder = finder()
        except TypeError as e:
            raise UserError(f"{where}: cannot make the finder without arguments ({e})") from None
    if not isinstance(finder, Finder):
        raise UserError(f"{where} is not a finder: subclass mirrorneuron.finders.Finder and implement score(data)")
    if not isinstance(finder.name, str) or not NAME.match(finder.name):
        raise UserError(f"{where}: finder name {finder.name!r} must be 1–64 of a-z 0-9 _ . - (starting with a letter)")
    if not isinstance(finder.version, str) or not 1 <= len(finder.version) <= 32:
        raise UserError(f"{where}: finder {finder.name!r} needs a version string of 1–32 characters")
    return finder


def register(finder: Finder | type[Finder], replace: bool = False) -> Finder:
    """Add ``finder`` (an instance, or a class constructible without arguments); a taken name is an error
    unless ``replace``."""
    f = _check(finder, repr(finder))
    if f.name in _REGISTRY and not replace and _REGISTRY[f.name] is not f:
        raise UserError(f"a finder named {f.name!r} is already registered")
    _REGISTRY[f.name] = f
    return f


def load_finder(path: str) -> Finder:
    """Import a user's finder from ``package.module:Name`` (a Finder subclass or instance) and register it."""
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise UserError(f"finder {path!r}: give a registered name or an import path like mypkg.mod:MyFinder")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except ImportError as e:
        raise UserError(f"finder {path!r}: cannot import {module!r} ({e})") from None
    except AttributeError:
        raise UserError(f"finder {path!r}: module {module!r} has no {attr!r}") from None
    return register(_check(obj, f"finder {path!r}"), replace=True)


def available() -> dict[str, Finder]:
    """Every registered finder by name (the shipped ones first, in a fixed order: the package registers them)."""
    return dict(_REGISTRY)


def get(name: str) -> Finder:
    """A finder by registered name or import path (``mod:Name``); UserError naming the choices otherwise."""
    if ":" in name:
        return load_finder(name)
    found = available().get(name.strip())
    if found is None:
        raise UserError(f"unknown finder {name!r}; choose one of {', '.join(available())} or give mod:Name")
    return found


def select(names: Iterable[str] = (), slow: bool = True) -> list[Finder]:
    """The finders ``names`` (default: every registered one; without ``slow``, those not marked slow)."""
    chosen = [get(n) for n in names] if names else list(available().values())
    return chosen if names or slow else [f for f in chosen if not f.slow]
