"""Models from outside the zoo, by name: the built-in real models and those registered with ``models add``.

The registry is ``$MIRRORNEURON_HOME/models.json``: ``{"NAME": {"source": "hf:PATH_OR_NAME" | "tl:NAME",
"layers": [..] | null, "n_ctx": 64}}``. ``zoo_adapter(name)`` (and so every command) resolves zoo models
first, then the built-in real models, then this registry. Loaded adapters are kept (a few) per process.
:func:`playable_models` lists all three kinds, with what makes each one ready, without loading any.
"""

from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from mirrorneuron.config import settings
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.real import BUILTINS, INSTALL_HINT, hf_cache_dir
from mirrorneuron.models.zoo import REGISTRY, checkpoint_dir
from mirrorneuron.types import Modality, UserError

KINDS = ("hf", "tl")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_LOADED: OrderedDict[str, TorchAdapter] = OrderedDict()
KEEP_LOADED = 3


@dataclass(frozen=True)
class ModelEntry:
    name: str
    source: str  # hf:PATH_OR_NAME or tl:NAME
    layers: tuple[int, ...] | None = None  # layers with an mlp.post site (None: the default choice)
    n_ctx: int = 64

    @property
    def kind(self) -> str:
        return self.source.split(":", 1)[0]

    @property
    def target(self) -> str:
        return self.source.split(":", 1)[1]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("name")
        d["layers"] = list(self.layers) if self.layers is not None else None
        return d


def registry_file() -> Path:
    return settings().home / "models.json"


def read_registry() -> dict[str, ModelEntry]:
    path = registry_file()
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
        return {
            n: ModelEntry(
                n, e["source"], tuple(e["layers"]) if e.get("layers") is not None else None, int(e.get("n_ctx", 64))
            )
            for n, e in raw.items()
        }
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise UserError(f"{path} is not a valid model registry ({e}); fix or delete it") from None


def _write(entries: dict[str, ModelEntry]) -> None:
    path = registry_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({n: e.to_json() for n, e in sorted(entries.items())}, indent=2) + "\n")
    tmp.replace(path)


def parse_source(source: str) -> tuple[str, str]:
    kind, sep, target = source.partition(":")
    if not sep or kind not in KINDS or not target.strip():
        raise UserError(f"bad model source {source!r}: use hf:PATH_OR_NAME or tl:NAME (e.g. hf:./my-model)")
    return kind, target.strip()


def _is_zoo(name: str) -> bool:
    return name in REGISTRY or checkpoint_dir(name) is not None


def _default_name(kind: str, target: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(target.rstrip("/")).name.lower()).strip("-.") or "model"
    return f"{base}-tl" if kind == "tl" else base


def _load(entry: ModelEntry) -> TorchAdapter:
    layers = list(entry.layers) if entry.layers is not None else None
    if entry.kind == "hf":
        from mirrorneuron.models.hf import hf_adapter

        return hf_adapter(entry.target, entry.name, layers=layers, n_ctx=entry.n_ctx)
    from mirrorneuron.models.hf import load_hf, resolve, text_tokenizer
    from mirrorneuron.models.tl import tl_adapter, tl_from_hf_llama

    if Path(entry.target).expanduser().exists():
        hf, tok, _ = load_hf(resolve(entry.target))
        return tl_adapter(tl_from_hf_llama(hf), entry.name, text_tokenizer(tok)[0], layers=layers, n_ctx=entry.n_ctx)
    try:
        from transformer_lens import HookedTransformer

        model = HookedTransformer.from_pretrained(entry.target)
    except ImportError:
        raise UserError("tl: models need transformer-lens: pip install 'mirrorneuron[tl]'") from None
    except Exception as e:  # unknown name, offline hub, …
        raise UserError(f"TransformerLens cannot load {entry.target!r}: {str(e).splitlines()[0]}") from None
    return tl_adapter(model, entry.name, layers=layers, n_ctx=entry.n_ctx)


def _cached(key: str, load: Callable[[], TorchAdapter]) -> TorchAdapter:
    if key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    adapter = load()
    _LOADED[key] = adapter
    while len(_LOADED) > KEEP_LOADED:
        _LOADED.popitem(last=False)
    return adapter


def clear_loaded() -> None:
    _LOADED.clear()


def add_model(
    source: str, name: str | None = None, layers: list[int] | None = None, n_ctx: int = 64, check: bool = True
) -> ModelEntry:
    """Register ``source`` under ``name`` (default: from the folder or hub name); loads it once to check it."""
    kind, target = parse_source(source)
    if kind == "hf" or Path(target).expanduser().exists():
        path = Path(target).expanduser()
        target = str(path.resolve()) if path.exists() else target
    name = name or _default_name(kind, target)
    if not _NAME.match(name):
        raise UserError(f"bad model name {name!r}: letters, digits, '.', '_' and '-' only (no '/')")
    if name in BUILTINS or _is_zoo(name):
        raise UserError(f"{name!r} is already a built-in or zoo model; choose another --name")
    if n_ctx < 2:
        raise UserError("--n-ctx must be at least 2")
    entry = ModelEntry(name, f"{kind}:{target}", tuple(layers) if layers is not None else None, n_ctx)
    if check:
        _cached(json.dumps([name, entry.to_json()]), lambda: _load(entry))
    entries = read_registry()
    entries[name] = entry
    _write(entries)
    return entry


def remove_model(name: str) -> None:
    entries = read_registry()
    if name not in entries:
        raise UserError(f"no registered model {name!r}; `mirrorneuron models list` shows them")
    del entries[name]
    _write(entries)


def registered_adapter(name: str) -> TorchAdapter | None:
    """The adapter of a built-in real model or a registered one; None for any other name (zoo models)."""
    if name in BUILTINS:
        builtin = BUILTINS[name]
        return _cached(f"{name}@{hf_cache_dir()}", builtin.load)
    if _is_zoo(name):
        return None
    entry = read_registry().get(name)
    if entry is None:
        return None
    return _cached(json.dumps([name, entry.to_json()]), lambda: _load(entry))


@dataclass(frozen=True)
class PlayableModel:
    """A model the game can offer, as listed without loading it."""

    name: str
    kind: Literal["zoo", "built-in", "registered"]
    modality: Modality
    description: str  # registered models: their source
    trained: bool  # it has trained weights (only a zoo entry can lack them)
    ready: bool  # playable on this machine now
    hint: str | None  # what makes it ready (None when it is)
    task: str | None = None  # the zoo's training task (lm, digits)


def _registered(e: ModelEntry) -> PlayableModel:
    layers = f" (mlp layers {','.join(map(str, e.layers))})" if e.layers is not None else ""
    folder = Path(e.target)
    gone = folder.is_absolute() and not folder.exists()  # a hub name cannot be checked without loading it
    hint = f"restore {folder}, or `mirrorneuron models remove {e.name}`" if gone else None
    return PlayableModel(e.name, "registered", "text", e.source + layers, True, not gone, hint)  # hf, tl: text


def playable_models() -> list[PlayableModel]:
    """Every model by name: the zoo (trained or not), the built-in real models (installed or not) and the
    registered ones, each with whether it is ready and, if not, the command that makes it ready."""
    out = []
    for name, zc in REGISTRY.items():
        trained = checkpoint_dir(name) is not None
        hint = None if trained else f"mirrorneuron zoo train {name}"
        out.append(PlayableModel(name, "zoo", zc.modality, zc.description, trained, trained, hint, zc.task))
    for b in BUILTINS.values():
        installed = b.installed
        hint = None if installed else INSTALL_HINT
        out.append(PlayableModel(b.name, "built-in", "text", b.description, True, installed, hint))
    # a name the zoo or a built-in took since it was registered resolves to those (as in registered_adapter)
    out += [_registered(e) for e in read_registry().values() if e.name not in BUILTINS and not _is_zoo(e.name)]
    return out


def model_rows() -> list[dict[str, str]]:
    """Every non-zoo model: name, source, status (for ``models list``)."""
    return [
        {
            "name": m.name,
            "source": f"built-in: {m.description}" if m.kind == "built-in" else m.description,
            "status": m.hint or "ready",
        }
        for m in playable_models()
        if m.kind != "zoo"
    ]
