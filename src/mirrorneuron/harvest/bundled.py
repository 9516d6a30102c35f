"""Token windows of a model's default harvest, shipped next to the model (issue 14: a first start ≤ 5 s).

Tokenising the whole default corpus costs ≈ 2 s of a first ``mirrorneuron play`` (HF ``tokenizers`` on six long
documents barely parallelises); the chosen windows are a 512 kB array. ``BUILTIN_ZOO/MODEL/harvest_inputs``
holds them with the key they were made from in the file's metadata: the tokenizer's sha256, the corpus id and
checksum, ``n_ctx`` and ``max_windows``. They are used only when every part of the key matches the harvest at
hand, so a retrained tokenizer, another corpus or window count tokenises as before; the files are made by
``python -m mirrorneuron.harvest.bundled MODEL`` and a test re-tokenises and compares them.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from mirrorneuron.config import BUILTIN_ZOO
from mirrorneuron.corpus import Corpus
from mirrorneuron.models.adapter import TorchAdapter

FILE = "harvest_inputs.safetensors"


def bundle_path(model: str) -> Path:
    return BUILTIN_ZOO / model / FILE


def inputs_key(adapter: TorchAdapter, corpus: Corpus, max_windows: int | None) -> dict[str, str]:
    """What the windows of a text harvest are a function of."""
    tok = adapter.tokenizer.to_str() if adapter.tokenizer is not None else ""
    return {
        "tokenizer_sha256": hashlib.sha256(tok.encode()).hexdigest(),
        "corpus": corpus.id,
        "corpus_checksum": corpus.checksum,
        "n_ctx": str(adapter.n_ctx),
        "max_windows": str(max_windows),
    }


def bundled_inputs(adapter: TorchAdapter, corpus: Corpus, max_windows: int | None) -> np.ndarray | None:
    """The shipped windows if they were made from exactly this tokenizer, corpus and window count, else None."""
    path = bundle_path(adapter.name)
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="numpy") as f:
            if f.metadata() != inputs_key(adapter, corpus, max_windows):
                return None
            windows: np.ndarray = f.get_tensor("inputs")
    except (SafetensorError, OSError):
        return None  # unreadable: tokenise instead
    return windows


def bundle_problem(model: str, path: Path | None = None) -> str | None:
    """Why the shipped windows of ``model`` (or the file ``path``) are not what the default harvest would
    tokenise today, or None when they are exactly that (the reproducibility check)."""
    from mirrorneuron.harvest.run import default_spec, tokenised_windows
    from mirrorneuron.models.loader import zoo_adapter

    adapter = zoo_adapter(model)
    spec = default_spec(adapter)
    windows, corpus = tokenised_windows(adapter, spec)
    path = path or bundle_path(model)
    with safe_open(str(path), framework="numpy") as f:
        meta, shipped = f.metadata(), f.get_tensor("inputs")
    if meta != inputs_key(adapter, corpus, spec.max_windows):
        return f"{path} was made from another tokenizer, corpus or window count; rerun {__name__} {model}"
    if shipped.dtype != windows.dtype or not np.array_equal(shipped, windows):
        return f"{path} holds other windows than its key gives; rerun {__name__} {model}"
    return None


def write_bundle(model: str) -> Path:
    """Tokenise the default harvest's corpus of ``model`` and write its windows next to the model."""
    from mirrorneuron.harvest.run import default_spec, tokenised_windows
    from mirrorneuron.models.loader import zoo_adapter

    adapter = zoo_adapter(model)
    spec = default_spec(adapter)
    windows, corpus = tokenised_windows(adapter, spec)
    path = bundle_path(model)
    save_file(
        {"inputs": np.ascontiguousarray(windows)}, str(path), metadata=inputs_key(adapter, corpus, spec.max_windows)
    )
    return path


if __name__ == "__main__":
    print(write_bundle(sys.argv[1] if len(sys.argv) > 1 else "tiny-gelu"))
