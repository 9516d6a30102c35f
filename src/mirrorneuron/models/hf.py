"""Hugging Face ``transformers`` models as :class:`TorchAdapter` s, with TransformerLens-style site names.

``hf_adapter(path_or_name)`` loads ``AutoModelForCausalLM`` (causal LMs) or ``AutoModel`` (encoders) and its fast
tokenizer from a local folder (offline) or a hub name (downloaded where the hub is reachable), then inserts:

- ``blocks.{i}.mlp.post`` — the MLP neurons: the INPUT of the MLP's down projection. Llama family
  (Llama, Mistral, Qwen, Gemma, SmolLM): ``silu(gate_proj x) · up_proj x``; BERT family: the GELU output of
  ``intermediate``; GPT-2: ``act(c_fc x)``; GPT-NeoX: ``act(dense_h_to_4h x)``. Only a few layers get one
  (see :func:`default_layers`): the default harvest reads every ``mlp.post`` site.
- ``blocks.{i}.resid.post`` — every decoder/encoder layer's output hidden state.

Level 3 (weight × input contributions) uses the feeding projection: BERT/GPT-2/NeoX are a Linear + an
elementwise GELU; a gated MLP shows both parts, the GATE projection's terms and the UP projection's terms
(nonlinearity ``silu_times_up``: ``silu(gate) · up``), so the payload gives the value in every case.

Special tokens the tokenizer adds around a text (BERT's ``[CLS]``…``[SEP]``, a Llama ``<s>``) are added by the
model wrapper around every window and hidden from the sites, so a window's positions are its own tokens.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, decoders, processors
from torch import nn

from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.taps import insert_site, view_of
from mirrorneuron.types import UserError

N_CTX = 64  # harvest window (tokens); custom text is cut to this many tokens too
DEFAULT_WINDOWS = 300  # default harvest size for real models: 300 × 64 tokens
_LAYER_LISTS = ("model.layers", "layers", "encoder.layer", "transformer.h", "h", "gpt_neox.layers")
# (down projection: its input is the neurons; the projection feeding them; a gated MLP's up projection)
_ARCHS: tuple[tuple[str, str, str | None], ...] = (
    ("mlp.down_proj", "mlp.gate_proj", "mlp.up_proj"),  # Llama, Mistral, Qwen2/3, Gemma, OLMo, SmolLM
    ("output.dense", "intermediate.dense", None),  # BERT, RoBERTa, ELECTRA
    ("mlp.c_proj", "mlp.c_fc", None),  # GPT-2
    ("mlp.dense_4h_to_h", "mlp.dense_h_to_4h", None),  # GPT-NeoX, Pythia
)
_ACTS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}
_ACTS |= {"silu": "silu", "swish": "silu", "tanh": "tanh", "gelu_fast": "gelu_tanh"}
_ENCODERS = ("bert", "roberta", "xlm-roberta", "electra", "distilbert", "albert", "deberta", "deberta-v2", "mpnet")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")


def default_layers(n_layers: int) -> list[int]:
    """Layers that get an ``mlp.post`` site: all of ≤ 4; the middle and last of ≤ 12; else a quarter and the
    middle (a harvest stops after its last site, so deep models stay quick to harvest)."""
    if n_layers <= 4:
        return list(range(n_layers))
    if n_layers <= 12:
        return [n_layers // 2, n_layers - 1]
    return [n_layers // 4, n_layers // 2]


def act_name(hf_act: str, gated: bool) -> str:
    """The game's nonlinearity name for a transformers activation (unknown names pass through, flagged)."""
    base = _ACTS.get(hf_act, hf_act)
    return f"{base}_times_up" if gated else base


class HFText(nn.Module):
    """``forward(ids)`` for a transformers model: adds the special tokens and the masks it expects."""

    prefix: torch.Tensor
    suffix: torch.Tensor

    def __init__(self, hf: nn.Module, prefix: list[int], suffix: list[int], token_types: bool, causal: bool) -> None:
        super().__init__()
        self.hf = hf
        self.register_buffer("prefix", torch.tensor(prefix, dtype=torch.long), persistent=False)
        self.register_buffer("suffix", torch.tensor(suffix, dtype=torch.long), persistent=False)
        self.token_types, self.causal = token_types, causal

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        b = ids.shape[0]
        full = torch.cat([self.prefix.expand(b, -1), ids.long(), self.suffix.expand(b, -1)], dim=1)
        kw: dict[str, Any] = {"attention_mask": torch.ones_like(full)}
        if self.token_types:
            kw["token_type_ids"] = torch.zeros_like(full)
        if self.causal:
            kw["use_cache"] = False
        return self.hf(input_ids=full, **kw)[0]  # logits (causal LM) or the last hidden state (encoder)


def text_tokenizer(hf_tok: Any) -> tuple[Tokenizer, list[int], list[int]]:
    """The fast tokenizer without its special-token template, plus the ids it would add before/after a text."""
    backend = getattr(hf_tok, "backend_tokenizer", None)
    if not isinstance(backend, Tokenizer):
        raise UserError("this model has no fast tokenizer (tokenizer.json); mirrorneuron needs one")
    probe = "Hello world"
    plain = list(hf_tok(probe, add_special_tokens=False)["input_ids"])
    full = list(hf_tok(probe, add_special_tokens=True)["input_ids"])
    start = next((i for i in range(len(full) - len(plain) + 1) if full[i : i + len(plain)] == plain), 0)
    prefix, suffix = full[:start], full[start + len(plain) :]
    tok = Tokenizer.from_str(backend.to_str())
    tok.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B:1", special_tokens=[])
    tok.no_truncation()
    tok.no_padding()
    if isinstance(tok.decoder, decoders.WordPiece):  # show "##ing" as "ing" and a word start as " word"
        tok.decoder = decoders.Sequence([decoders.Replace(Regex(r"^(?!##)(?=\w)"), " "), decoders.Replace("##", "")])
    return tok, prefix, suffix


@lru_cache(maxsize=32)
def _hash_files(files: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for path, _size, _mtime in files:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
    return h.hexdigest()[:16]


def weights_checksum(folder: Path) -> str:
    """sha256 (16 hex) of a folder's weight files, memoised by path, size and mtime."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))
    if not files:
        raise UserError(f"{folder}: no weight files ({', '.join(_WEIGHT_SUFFIXES)})")
    return _hash_files(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))


def resolve(path_or_name: str) -> Path:
    """A local model folder, or a hub name downloaded (or found in the local hub cache) as a folder."""
    path = Path(path_or_name).expanduser()
    if path.exists():
        if not path.is_dir() or (not (path / "config.json").exists() and not any(path.glob("*.gguf"))):
            raise UserError(f"{path}: not a model folder (no config.json)")
        return path.resolve()
    if path_or_name.count("/") != 1 or path_or_name.startswith((".", "/", "~")):
        raise UserError(f"{path_or_name}: no such folder, and not a hub name like ORG/NAME")
    try:
        from huggingface_hub import snapshot_download

        patterns = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"]
        return Path(snapshot_download(path_or_name, allow_patterns=patterns))
    except Exception as e:  # offline, unknown repository, gated model, …
        raise UserError(f"cannot get {path_or_name} from the Hugging Face hub: {str(e).splitlines()[0]}") from None


def _is_causal(config: Any) -> bool:
    """Causal LM (load with its LM head) or encoder: from the saved architecture, else from the model type."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    archs = list(getattr(config, "architectures", None) or [])
    if archs:
        return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)
    model_type = str(getattr(config, "model_type", ""))
    return model_type not in _ENCODERS and model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES


def load_hf(folder: Path, gguf_file: str | None = None) -> tuple[nn.Module, Any, bool]:
    """(model in eval mode, float32; its transformers tokenizer; causal LM?) from a local folder, offline."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    kw: dict[str, Any] = {"local_files_only": True} | ({"gguf_file": gguf_file} if gguf_file else {})
    with _offline():
        return _load_local(folder, kw)


def _load_local(folder: Path, kw: dict[str, Any]) -> tuple[nn.Module, Any, bool]:
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(folder, **kw)
        causal = _is_causal(config)
        auto = AutoModelForCausalLM if causal else AutoModel
        model = auto.from_pretrained(folder, dtype=torch.float32, **kw)
        tok = AutoTokenizer.from_pretrained(folder, **kw)
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"{folder}: cannot load it with transformers ({str(e).splitlines()[0]})") from None
    return model.eval(), tok, causal


@contextmanager
def _offline() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 while loading a local folder (restored afterwards: hub names may still download)."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["HF_HUB_OFFLINE"]
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def _layers(model: nn.Module) -> tuple[str, nn.ModuleList, tuple[str, str, str | None]]:
    for path in _LAYER_LISTS:
        try:
            layers = model.get_submodule(path)
        except AttributeError:
            continue
        if isinstance(layers, nn.ModuleList) and len(layers):
            for arch in _ARCHS:
                try:
                    layers[0].get_submodule(arch[0])
                except AttributeError:
                    continue
                return path, layers, arch
    raise UserError(
        f"{type(model).__name__}: unknown architecture; supported: Llama/Mistral/Qwen/Gemma (mlp.down_proj), "
        "BERT/RoBERTa (intermediate), GPT-2 (mlp.c_proj), GPT-NeoX (mlp.dense_4h_to_h)"
    )


def add_sites(wrapper: HFText, layers_to_read: list[int] | None = None) -> None:
    """Insert ``blocks.{i}.mlp.post`` (chosen layers) and ``blocks.{i}.resid.post`` (all layers) sites."""
    hf: Any = wrapper.hf
    path, layers, (down, feed, up) = _layers(hf)
    trim = (len(wrapper.prefix), len(wrapper.suffix))
    config = getattr(hf, "config", None)
    hf_act = str(getattr(config, "hidden_act", None) or getattr(config, "activation_function", "") or "?")
    chosen = default_layers(len(layers)) if layers_to_read is None else layers_to_read
    for i in chosen:
        if not 0 <= i < len(layers):
            raise UserError(f"layer {i} out of range: the model has layers 0..{len(layers) - 1}")
        prefix = f"hf.{path}.{i}"
        down_mod: Any = hf.get_submodule(f"{path}.{i}.{down}")
        width = int(getattr(down_mod, "in_features", 0) or down_mod.weight.shape[0])  # Conv1D: weight [in, out]
        up_mod = hf.get_submodule(f"{path}.{i}.{up}") if up else None
        view = view_of(hf.get_submodule(f"{path}.{i}.{feed}"), trim, up=up_mod)
        act = act_name(hf_act, gated=up is not None)
        insert_site(
            wrapper, f"{prefix}.{down}", width, "input", f"blocks.{i}.mlp.post", linear=view, act=act, trim=trim
        )
    width = int(getattr(config, "hidden_size", 0) or getattr(config, "n_embd", 0))
    for i in range(len(layers)):
        insert_site(wrapper, f"hf.{path}.{i}", width, "output", f"blocks.{i}.resid.post", trim=trim)


def hf_adapter(
    path_or_name: str | Path,
    name: str | None = None,
    *,
    layers: list[int] | None = None,
    n_ctx: int = N_CTX,
    gguf_file: str | None = None,
    checksum: str | None = None,
) -> TorchAdapter:
    """A transformers model from a local folder or a hub name, with ``blocks.{i}.mlp.post`` /
    ``blocks.{i}.resid.post`` sites (``layers``: which layers get ``mlp.post``; default :func:`default_layers`)."""
    folder = resolve(str(path_or_name))
    model, hf_tok, causal = load_hf(folder, gguf_file)
    tokenizer, prefix, suffix = text_tokenizer(hf_tok)
    token_types = int(getattr(model.config, "type_vocab_size", 0) or 0) > 0  # BERT-style segment ids
    wrapper = HFText(model, prefix, suffix, token_types, causal)
    add_sites(wrapper, layers)
    checksum = checksum or weights_checksum(folder)
    return TorchAdapter(name or folder.name.lower(), wrapper, "text", tokenizer, checksum, n_ctx, DEFAULT_WINDOWS)
