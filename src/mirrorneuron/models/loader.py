"""Loading any model by name: the zoo, the built-in real models and those registered with ``models add``.

This module sits above :mod:`~mirrorneuron.models.adapter` (the generic adapter) and the modules that build
adapters (zoo, registry, hf, tl, real), so none of them needs to import it back.
"""

from __future__ import annotations

from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.registry import registered_adapter
from mirrorneuron.models.zoo import load_model


def zoo_adapter(name: str) -> TorchAdapter:
    """The adapter of a zoo model, a built-in real model (``smollm2-135m``, ``minilm-l6``, …) or one registered
    with ``mirrorneuron models add``."""
    registered = registered_adapter(name)
    if registered is not None:
        return registered

    zm = load_model(name)
    n_ctx = zm.config.transformer.n_ctx if zm.config.transformer else None
    return TorchAdapter(name, zm.module, zm.config.modality, zm.tokenizer, zm.checksum, n_ctx)
