"""A tiny readable causal transformer LM (nanoGPT-style) with TransformerLens-style site names.

Sites per block i: ``blocks.i.resid.pre``, ``blocks.i.attn.out``, ``blocks.i.resid.mid``, ``blocks.i.mlp.pre``,
``blocks.i.mlp.post`` (the neurons), ``blocks.i.resid.post``; SoLU models also have ``blocks.i.mlp.mid``
(x·softmax(x) before the LayerNorm, like TransformerLens' ``hook_mid``). Each MLP site names ``W_in`` and its
nonlinearity (``solu`` for ``mid``, ``solu_ln`` = LayerNorm(solu) for a SoLU ``post``) for level 3.
:class:`TextClassifier` is the same network with a class head in place of the unembedding (task ``textcls``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field, field_validator
from torch import nn

from mirrorneuron.models.sites import Site

ACT_FNS = ("relu", "gelu", "solu_ln")


class TransformerConfig(BaseModel):
    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_mlp: int = 256
    n_ctx: int = 64
    act_fn: str = "gelu"
    # residual dropout after attention and MLP (training only; adds no weights, so old checkpoints load)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)

    @field_validator("act_fn")
    @classmethod
    def _known_act(cls, v: str) -> str:
        if v not in ACT_FNS:
            raise ValueError(f"unknown act_fn {v!r}; choose one of {', '.join(ACT_FNS)}")
        return v


class Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.out = Site(cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(self.proj(y.transpose(1, 2).reshape(b, t, d)))


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        if cfg.act_fn not in ACT_FNS:
            raise ValueError(f"unknown act_fn {cfg.act_fn!r}; choose one of {ACT_FNS}")
        self.act_fn = cfg.act_fn
        self.W_in = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.W_out = nn.Linear(cfg.d_mlp, cfg.d_model)
        self.pre = Site(cfg.d_mlp, linear="W_in", act="identity")
        self.post = Site(cfg.d_mlp, linear="W_in", act=cfg.act_fn)
        if cfg.act_fn == "solu_ln":
            self.mid = Site(cfg.d_mlp, linear="W_in", act="solu")
            self.ln = nn.LayerNorm(cfg.d_mlp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pre(self.W_in(x))
        if self.act_fn == "relu":
            h = F.relu(h)
        elif self.act_fn == "gelu":
            h = F.gelu(h)
        else:
            h = self.ln(self.mid(h * torch.softmax(h, dim=-1)))
        return self.W_out(self.post(h))


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)
        self.resid = nn.ModuleDict({"pre": Site(cfg.d_model), "mid": Site(cfg.d_model), "post": Site(cfg.d_model)})
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.resid["pre"](x)
        x = self.resid["mid"](x + self.drop(self.attn(self.ln1(x))))
        return self.resid["post"](x + self.drop(self.mlp(self.ln2(x))))


class TinyTransformer(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_embed = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = nn.LayerNorm(cfg.d_model)
        self.unembed = nn.Linear(cfg.d_model, cfg.vocab_size)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        if t > self.cfg.n_ctx:
            raise ValueError(f"sequence of {t} tokens is longer than the model's context ({self.cfg.n_ctx})")
        x = self.embed(tokens) + self.pos_embed(torch.arange(t, device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return self.unembed(self.ln_final(x))

    def loss(self, tokens: torch.Tensor) -> torch.Tensor:
        logits = self(tokens[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))


class TextClassifier(TinyTransformer):
    """Which of ``n_classes`` sources a text comes from, predicted at every position from the prefix so far
    (causal, like the LM): the unembedding maps to class logits [batch, pos, n_classes]."""

    def __init__(self, cfg: TransformerConfig, class_names: list[str]) -> None:
        super().__init__(cfg)
        self.class_names = list(class_names)
        self.n_classes = n_classes = len(class_names)
        self.unembed = nn.Linear(cfg.d_model, n_classes)
        self._init(self.unembed)

    def class_loss(self, tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over every position of ``tokens`` [batch, pos] with one label per row [batch]."""
        logits = self(tokens)
        return F.cross_entropy(logits.reshape(-1, self.n_classes), labels.repeat_interleave(tokens.shape[1]))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def unigram_loss(train: torch.Tensor, val: torch.Tensor, vocab_size: int) -> float:
    """Cross-entropy (nats/token) of the add-one-smoothed unigram distribution of ``train`` on ``val``."""
    counts = torch.bincount(train.flatten(), minlength=vocab_size).double() + 1.0
    logp = torch.log(counts / counts.sum())
    return float(-logp[val.flatten()].mean()) if val.numel() else math.nan
