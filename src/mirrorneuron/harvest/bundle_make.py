"""Make and check the token windows shipped with a model (see :mod:`mirrorneuron.harvest.bundled`):
``python -m mirrorneuron.harvest.bundle_make [MODEL]`` rewrites them (after retraining a tokenizer)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from mirrorneuron.harvest.bundled import bundle_path, inputs_key
from mirrorneuron.harvest.run import default_spec, tokenised_windows
from mirrorneuron.models.loader import zoo_adapter


def bundle_problem(model: str, path: Path | None = None) -> str | None:
    """Why the shipped windows of ``model`` (or the file ``path``) are not what the default harvest would
    tokenise today, or None when they are exactly that (the reproducibility check)."""
    adapter = zoo_adapter(model)
    spec = default_spec(adapter)
    windows, corpus = tokenised_windows(adapter, spec)
    path = path or bundle_path(model)
    with safe_open(str(path), framework="numpy") as f:
        meta, shipped = f.metadata(), f.get_tensor("inputs")
    if meta != inputs_key(adapter, corpus, spec.max_windows):
        return f"{path} was made from another tokenizer, corpus or window count; rerun `python -m {__name__} {model}`"
    if shipped.dtype != windows.dtype or not np.array_equal(shipped, windows):
        return f"{path} holds other windows than its key gives; rerun `python -m {__name__} {model}`"
    return None


def write_bundle(model: str) -> Path:
    """Tokenise the default harvest's corpus of ``model`` and write its windows next to the model."""
    adapter = zoo_adapter(model)
    spec = default_spec(adapter)
    windows, corpus = tokenised_windows(adapter, spec)
    path = bundle_path(model)
    save_file(
        {"inputs": np.ascontiguousarray(windows)}, str(path), metadata=inputs_key(adapter, corpus, spec.max_windows)
    )
    path.chmod(0o644)  # package data: readable by everyone
    return path


if __name__ == "__main__":
    print(write_bundle(sys.argv[1] if len(sys.argv) > 1 else "tiny-gelu"))
