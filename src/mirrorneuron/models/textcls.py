"""The ``textcls`` task's data and validation: which corpus of a mixture (``austen+kjv+wordnet``) a text window
comes from, predicted at every position of the window from its prefix.

Each corpus is a class; the last ``VAL_FRACTION`` of each one's token stream is held out. The baseline that
``unigram_val_loss`` reports is a naive-Bayes classifier on the prefix's tokens (add-one unigram counts per
class, uniform prior), scored with the same per-position cross-entropy, so the model's ``val_loss`` is judged
against what token counts alone achieve.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from mirrorneuron.corpus import load_corpus
from mirrorneuron.models.tokenizer import encode_corpus
from mirrorneuron.models.transformer import TextClassifier

if TYPE_CHECKING:
    from mirrorneuron.models.zoo import ZooConfig

VAL_FRACTION = 0.05
MAX_VAL_WINDOWS = 256  # per class: the validation set is balanced


def class_streams(cfg: ZooConfig, tok: Tokenizer) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(train, validation) token streams of each class (corpus of the mixture), in class order."""
    out = []
    for name in cfg.classes:
        stream = torch.from_numpy(encode_corpus(tok, load_corpus(name)).astype(np.int64))
        n_val = int(len(stream) * VAL_FRACTION)
        out.append((stream[:-n_val], stream[-n_val:]))
    return out


def _val_windows(cfg: ZooConfig, streams: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    assert cfg.transformer is not None
    n_ctx = cfg.transformer.n_ctx
    per_class = min(MAX_VAL_WINDOWS, *(len(val) // n_ctx for _, val in streams))
    if per_class < 1:
        raise ValueError(f"a corpus of {cfg.corpus!r} is too short for one validation window of {n_ctx} tokens")
    windows = torch.cat([val[: per_class * n_ctx].view(per_class, n_ctx) for _, val in streams])
    return windows, torch.arange(len(streams)).repeat_interleave(per_class)


def naive_bayes_logits(trains: list[torch.Tensor], windows: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Per-position class log-likelihoods of each window's prefix under add-one unigram models [N, P, C]."""
    logp = torch.stack(
        [torch.log((c := torch.bincount(t, minlength=vocab_size).double() + 1.0) / c.sum()) for t in trains], dim=-1
    )  # [vocab, C]
    return logp[windows].cumsum(dim=1)


def textcls_metrics(
    cfg: ZooConfig,
    model: TextClassifier,
    tok: Tokenizer,
    streams: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict[str, float]:
    """``val_loss`` (mean per-position cross-entropy), ``val_accuracy`` (at the last position) and
    ``unigram_val_loss`` (the naive-Bayes baseline's per-position cross-entropy) on the balanced held-out windows.
    ``streams``: ``class_streams(cfg, tok)`` if already made."""
    assert cfg.transformer is not None
    streams = class_streams(cfg, tok) if streams is None else streams
    windows, labels = _val_windows(cfg, streams)
    logits = torch.cat([model(w) for w in windows.split(64)])  # [N, P, C]
    per_pos = labels.repeat_interleave(windows.shape[1])
    nb = naive_bayes_logits([t for t, _ in streams], windows, cfg.transformer.vocab_size)
    return {
        "val_loss": float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), per_pos)),
        "val_accuracy": float((logits[:, -1].argmax(-1) == labels).float().mean()),
        "unigram_val_loss": float(F.cross_entropy(nb.reshape(-1, nb.shape[-1]).float(), per_pos)),
        "chance_loss": math.log(len(streams)),
    }
