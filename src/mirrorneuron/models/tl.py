"""TransformerLens ``HookedTransformer`` s as :class:`TorchAdapter` s (needs the ``tl`` or ``real`` extra).

Sites use TL's own hook points, read by plain forward hooks (no ``run_with_cache`` in the hot path; a harvest
stops right after the last site it needs): ``blocks.{i}.mlp.post`` = ``blocks.{i}.mlp.hook_post``,
``blocks.{i}.resid.post`` = ``blocks.{i}.hook_resid_post``. Level 3 uses ``W_in``/``b_in`` (plain MLPs: GELU,
ReLU, SiLU; SoLU with the MLP's LayerNorm) or, for gated MLPs, ``W_gate`` and ``W_in`` (nonlinearity
``silu_times_up``: TL computes ``act(x W_gate) · (x W_in) + b_in``).

:func:`tl_from_hf_llama` builds a ``HookedTransformer`` from a transformers Llama-architecture model (such as
SmolLM2) with TL's own weight conversion, offline and without weight processing, so ``mlp.post`` equals the
transformers model's down-projection input.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import nn

from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.hf import DEFAULT_WINDOWS, N_CTX, act_name, default_layers, text_tokenizer
from mirrorneuron.models.taps import LinearView, fire_on, insert_site
from mirrorneuron.types import UserError


class TLText(nn.Module):
    """``forward(ids)`` for a HookedTransformer: token ids in (a BOS prepended when the model wants one), logits out."""

    prefix: torch.Tensor

    def __init__(self, tl: nn.Module, prefix: list[int]) -> None:
        super().__init__()
        self.tl = tl
        self.register_buffer("prefix", torch.tensor(prefix, dtype=torch.long), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        full = torch.cat([self.prefix.expand(ids.shape[0], -1), ids.long()], dim=1)
        logits: torch.Tensor = self.tl(full, return_type="logits")
        return logits


def _mlp_view(mlp: Any) -> tuple[LinearView | None, str]:
    """The level-3 view of a TL MLP (fired with the MLP's input) and its nonlinearity name."""
    cfg = mlp.cfg
    act = str(getattr(cfg, "act_fn", "?"))
    norm = getattr(mlp, "ln", None) if act == "solu_ln" else None
    if hasattr(mlp, "W_gate"):
        if norm is not None:  # a gated SoLU: ln(solu(x W_gate)), no up projection
            return LinearView(lambda: mlp.W_gate.T, lambda: None, norm=norm), act
        up = LinearView(lambda: mlp.W_in.T, lambda: None)
        return LinearView(lambda: mlp.W_gate.T, lambda: None, up=up, out_bias=lambda: mlp.b_in), act_name(act, True)
    if hasattr(mlp, "W_in") and hasattr(mlp, "b_in"):
        view = LinearView(lambda: mlp.W_in.T, lambda: mlp.b_in, norm=norm)
        return view, act_name(act, gated=False)
    return None, act


def _param_checksum(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def tl_adapter(
    model: Any,
    name: str,
    tokenizer: Tokenizer | None = None,
    *,
    layers: list[int] | None = None,
    n_ctx: int = N_CTX,
    checksum: str = "",
) -> TorchAdapter:
    """A HookedTransformer with ``blocks.{i}.mlp.post`` (chosen layers) and ``blocks.{i}.resid.post`` sites.

    ``tokenizer``: a ``tokenizers.Tokenizer`` (default: the model's own fast tokenizer, if it has one).
    """
    cfg = getattr(model, "cfg", None)
    blocks: Any = getattr(model, "blocks", None)
    if cfg is None or not isinstance(blocks, nn.ModuleList):
        raise UserError(f"{type(model).__name__} is not a TransformerLens HookedTransformer")
    prefix: list[int] = []
    hf_tok = getattr(model, "tokenizer", None)
    if tokenizer is None and hf_tok is not None:
        tokenizer = text_tokenizer(hf_tok)[0]
        bos = getattr(hf_tok, "bos_token_id", None)
        if getattr(cfg, "default_prepend_bos", False) and bos is not None:
            prefix = [int(bos)]
    wrapper = TLText(model, prefix)
    trim = (len(prefix), 0)
    chosen = default_layers(len(blocks)) if layers is None else layers
    for i in chosen:
        if not 0 <= i < len(blocks):
            raise UserError(f"layer {i} out of range: the model has layers 0..{len(blocks) - 1}")
        mlp: Any = blocks[i].mlp
        view, act = _mlp_view(mlp)
        if view is not None:
            fire_on(mlp, view, trim)
        site = f"blocks.{i}.mlp.post"
        insert_site(wrapper, f"tl.blocks.{i}.mlp.hook_post", cfg.d_mlp, name=site, linear=view, act=act, trim=trim)
    for i in range(len(blocks)):
        insert_site(wrapper, f"tl.blocks.{i}.hook_resid_post", cfg.d_model, name=f"blocks.{i}.resid.post", trim=trim)
    return TorchAdapter(name, wrapper, "text", tokenizer, checksum or _param_checksum(model), n_ctx, DEFAULT_WINDOWS)


def _rope_theta(config: Any) -> float:
    theta = getattr(config, "rope_theta", None)
    if theta is None:
        theta = (getattr(config, "rope_parameters", None) or {}).get("rope_theta", 10000.0)
    return float(theta)


def tl_from_hf_llama(hf_model: Any, n_ctx: int = 512) -> Any:
    """A HookedTransformer with the weights of a transformers Llama-architecture causal LM (no processing)."""
    try:
        from transformer_lens import HookedTransformer, HookedTransformerConfig
        from transformer_lens.pretrained.weight_conversions.llama import convert_llama_weights
    except ImportError:
        raise UserError("the TransformerLens adapter needs transformer-lens: pip install 'mirrorneuron[tl]'") from None
    c = hf_model.config
    if getattr(c, "model_type", "") not in ("llama", "mistral"):
        raise UserError(f"TL conversion here supports Llama-architecture models, not {getattr(c, 'model_type', '?')!r}")
    kv = c.num_key_value_heads if c.num_key_value_heads != c.num_attention_heads else None
    cfg = HookedTransformerConfig(
        d_model=c.hidden_size,
        d_head=getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads,
        n_heads=c.num_attention_heads,
        d_mlp=c.intermediate_size,
        n_layers=c.num_hidden_layers,
        n_ctx=min(n_ctx, c.max_position_embeddings),
        eps=c.rms_norm_eps,
        d_vocab=c.vocab_size,
        act_fn=c.hidden_act,
        n_key_value_heads=kv,
        normalization_type="RMS",
        positional_embedding_type="rotary",
        rotary_adjacent_pairs=False,
        rotary_dim=getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads,
        rotary_base=_rope_theta(c),
        final_rms=True,
        gated_mlp=True,
        original_architecture="LlamaForCausalLM",
        default_prepend_bos=False,
        init_weights=False,
        dtype=torch.float32,
        device="cpu",
    )
    with warnings.catch_warnings():  # TL 3.x marks HookedTransformer deprecated in favour of its 4.x bridge
        warnings.simplefilter("ignore", DeprecationWarning)
        tl = HookedTransformer(cfg)
    with torch.no_grad():
        state = convert_llama_weights(hf_model, cfg)
        tl.load_and_process_state_dict(
            state, fold_ln=False, center_writing_weights=False, center_unembed=False, fold_value_biases=False
        )
    return tl.eval()
