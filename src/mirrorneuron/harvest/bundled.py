"""Token windows of a model's default harvest, shipped next to the model (issue 14: a first start ≤ 5 s).

Tokenising the whole default corpus costs ≈ 2 s of a first ``mirrorneuron play`` (HF ``tokenizers`` on six long
documents barely parallelises); the chosen windows are a 512 kB array. ``BUILTIN_ZOO/MODEL/harvest_inputs``
holds them with the key they were made from in the file's metadata: the tokenizer's sha256, the corpus id and
checksum, ``n_ctx`` and ``max_windows``. They are used only when every part of the key matches the harvest at
hand, so a retrained tokenizer, another corpus or window count tokenises as before; the files are made by
``python -m mirrorneuron.harvest.bundle_make MODEL``, and a test re-tokenises and compares them
(``bundle_make.bundle_problem``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open

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
