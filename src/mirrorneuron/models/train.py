"""Train a zoo config into a checkpoint folder. Deterministic for a given config and seed (CPU)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tokenizers import Tokenizer
from torch import nn

from mirrorneuron.corpus import digits_split, load_corpus, load_digits
from mirrorneuron.models.sites import find_sites
from mirrorneuron.models.textcls import class_streams, textcls_metrics
from mirrorneuron.models.tokenizer import encode_corpus, train_tokenizer
from mirrorneuron.models.transformer import MLP, TextClassifier, TinyTransformer, n_params, unigram_loss
from mirrorneuron.models.vision import DigitsMLP
from mirrorneuron.models.zoo import ZooConfig

Progress = Callable[[int, int, float], None]  # (step, total, loss)
VAL_FRACTION = 0.05


def _optimizer(cfg: ZooConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _lr_at(cfg: ZooConfig, step: int) -> float:
    """Linear warm-up over 5 % of steps, then cosine decay to 10 %."""
    warm = max(1, cfg.steps // 20)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    frac = (step - warm) / max(1, cfg.steps - warm)
    return cfg.lr * (0.1 + 0.45 * (1 + np.cos(np.pi * frac)))


class _L1:
    """Collects the L1 norm of neuron activations (``*.mlp.post`` / ``*.post`` sites) during a forward pass."""

    def __init__(self, model: nn.Module) -> None:
        self.total: torch.Tensor | float = 0.0
        sites = {
            n: s for n, s in find_sites(model).items() if n.endswith("mlp.post") or n.startswith(("layers.", "fc."))
        }
        self.handles = [s.register_forward_hook(self._hook) for n, s in sites.items() if n.endswith("post")]

    def _hook(self, _m: nn.Module, _i: Any, out: torch.Tensor) -> None:
        self.total = self.total + out.abs().mean()

    def pop(self) -> torch.Tensor | float:
        t, self.total = self.total, 0.0
        return t


class _ConnectionCost:
    """Brain-inspired modular training (Liu, Gan & Tegmark 2023), simplified: the neurons of each layer sit at
    fixed, evenly spaced 1-D positions on [0, 1] and every MLP weight costs ``|W_ij| · (|pos_i − pos_j| + BIAS)``,
    so long connections are dearer than short ones. No neuron swaps (BIMT's swap step is left out)."""

    BIAS = 0.1  # a connection's length floor (BIMT's layer-to-layer distance), so short weights still cost

    def __init__(self, model: nn.Module) -> None:
        weights: list[torch.Tensor]
        if isinstance(model, TinyTransformer):
            weights = [w for m in model.modules() if isinstance(m, MLP) for w in (m.W_in.weight, m.W_out.weight)]
        elif isinstance(model, DigitsMLP):  # its linear layers in order: the hidden layers, then the head
            weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
        else:
            raise ValueError(f"connection_cost needs MLP layers; {type(model).__name__} has none")
        self.terms = [(w, self.distances(w.shape[0], w.shape[1])) for w in weights]

    @classmethod
    def distances(cls, n_out: int, n_in: int) -> torch.Tensor:
        """[n_out, n_in] length of each connection of a layer."""
        return (torch.linspace(0, 1, n_out)[:, None] - torch.linspace(0, 1, n_in)[None, :]).abs() + cls.BIAS

    def __call__(self) -> torch.Tensor:
        return torch.stack([(w.abs() * d).sum() for w, d in self.terms]).sum()


def _fit(
    cfg: ZooConfig,
    model: nn.Module,
    batch_loss: Callable[[torch.Generator], torch.Tensor],
    progress: Progress | None,
) -> float:
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = _optimizer(cfg, model)
    l1 = _L1(model) if cfg.l1 > 0 else None
    wiring_cost = _ConnectionCost(model) if cfg.connection_cost > 0 else None
    model.train()
    loss_ema = float("nan")
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = _lr_at(cfg, step)
        loss = batch_loss(gen)
        total = loss + cfg.l1 * l1.pop() if l1 else loss
        if wiring_cost:
            total = total + cfg.connection_cost * wiring_cost()
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        value = loss.item()
        loss_ema = value if step == 0 else 0.95 * loss_ema + 0.05 * value
        if progress:
            progress(step + 1, cfg.steps, loss_ema)
    model.eval()
    return loss_ema


def lm_streams(cfg: ZooConfig, tok: Tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) token streams of the config's corpus: the last VAL_FRACTION is held out."""
    stream = torch.from_numpy(encode_corpus(tok, load_corpus(cfg.corpus)).astype(np.int64))
    n_val = int(len(stream) * VAL_FRACTION)
    return stream[:-n_val], stream[-n_val:]


def validation_metrics(
    cfg: ZooConfig,
    model: nn.Module,
    tok: Tokenizer | None = None,
    streams: Any = None,
) -> dict[str, float]:
    """The validation figures ``metrics.json`` records (unrounded), computed on the config's validation split:
    ``val_loss`` and ``unigram_val_loss`` (language models, with ``tok``), ``val_loss`` and ``val_accuracy``
    (digits), ``val_loss``, ``val_accuracy`` and ``unigram_val_loss`` (textcls, see :mod:`.textcls`). The trainer
    records exactly these; ``model`` must be in eval mode. ``streams``: the token streams they read
    (``lm_streams(cfg, tok)``, or ``textcls.class_streams`` for textcls) if already made: the trainer has them,
    and encoding the corpus again costs seconds."""
    with torch.no_grad():
        if cfg.task == "textcls":
            assert tok is not None and isinstance(model, TextClassifier)
            return textcls_metrics(cfg, model, tok, streams)
        if cfg.task == "lm":
            assert cfg.transformer is not None and tok is not None and isinstance(model, TinyTransformer)
            train, val = lm_streams(cfg, tok) if streams is None else streams
            span = cfg.transformer.n_ctx + 1
            windows = val[: (len(val) // span) * span].view(-1, span)
            return {
                "val_loss": float(torch.stack([model.loss(w) for w in windows.split(64)]).mean()),
                "unigram_val_loss": unigram_loss(train, val, cfg.transformer.vocab_size),
            }
        data = load_digits()
        va = digits_split(data)[1]
        logits = model(torch.from_numpy(data.images[va]))
        y = torch.from_numpy(data.labels[va])
        return {
            "val_loss": float(F.cross_entropy(logits, y)),
            "val_accuracy": float((logits.argmax(-1) == y).float().mean()),
        }


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in metrics.items()}


def _train_lm(cfg: ZooConfig, progress: Progress | None) -> tuple[nn.Module, dict[str, Any], dict[str, str]]:
    assert cfg.transformer is not None
    corpus = load_corpus(cfg.corpus)
    tok = train_tokenizer(corpus, cfg.transformer.vocab_size)
    train, val = lm_streams(cfg, tok)
    torch.manual_seed(cfg.seed)
    model = TinyTransformer(cfg.transformer)
    span = cfg.transformer.n_ctx + 1

    def batch_loss(gen: torch.Generator) -> torch.Tensor:
        starts = torch.randint(0, len(train) - span, (cfg.batch_size,), generator=gen)
        return model.loss(train[starts[:, None] + torch.arange(span)])

    train_loss = _fit(cfg, model, batch_loss, progress)
    metrics = _rounded(validation_metrics(cfg, model, tok, (train, val))) | {
        "train_loss": round(train_loss, 4),
        "corpus": corpus.id,
        "corpus_checksum": corpus.checksum,
        "tokens": len(train) + len(val),
    }
    return model, metrics, {"tokenizer.json": tok.to_str()}


def _train_textcls(cfg: ZooConfig, progress: Progress | None) -> tuple[nn.Module, dict[str, Any], dict[str, str]]:
    assert cfg.transformer is not None
    corpus = load_corpus(cfg.corpus)
    tok = train_tokenizer(corpus, cfg.transformer.vocab_size)
    streams = class_streams(cfg, tok)
    trains = [train for train, _ in streams]
    torch.manual_seed(cfg.seed)
    model = TextClassifier(cfg.transformer, cfg.classes)
    n_ctx = cfg.transformer.n_ctx

    def batch_loss(gen: torch.Generator) -> torch.Tensor:
        labels = torch.randint(0, len(trains), (cfg.batch_size,), generator=gen)
        rows = []
        for c in labels.tolist():  # a random window of the class's training stream
            start = int(torch.randint(0, len(trains[c]) - n_ctx, (1,), generator=gen))
            rows.append(trains[c][start : start + n_ctx])
        return model.class_loss(torch.stack(rows), labels)

    train_loss = _fit(cfg, model, batch_loss, progress)
    metrics = _rounded(validation_metrics(cfg, model, tok, streams)) | {
        "train_loss": round(train_loss, 4),
        "chance_accuracy": round(1 / len(trains), 4),
        "corpus": corpus.id,
        "corpus_checksum": corpus.checksum,
        "tokens": sum(len(t) for t in trains),
    }
    return model, metrics, {"tokenizer.json": tok.to_str()}


def _train_digits(cfg: ZooConfig, progress: Progress | None) -> tuple[nn.Module, dict[str, Any], dict[str, str]]:
    assert cfg.vision is not None
    data = load_digits()
    tr = digits_split(data)[0]
    x, y = torch.from_numpy(data.images), torch.from_numpy(data.labels)
    torch.manual_seed(cfg.seed)
    model = cfg.build()

    def batch_loss(gen: torch.Generator) -> torch.Tensor:
        idx = torch.from_numpy(tr)[torch.randint(0, len(tr), (cfg.batch_size,), generator=gen)]
        return F.cross_entropy(model(x[idx]), y[idx])

    train_loss = _fit(cfg, model, batch_loss, progress)
    metrics = _rounded(validation_metrics(cfg, model)) | {"train_loss": round(train_loss, 4), "chance_accuracy": 0.1}
    return model, metrics, {}


def train(cfg: ZooConfig, out_dir: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Train ``cfg`` and write the checkpoint atomically to ``out_dir`` (a failure leaves any old one intact)."""
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    t0 = time.perf_counter()
    trainer = {"lm": _train_lm, "textcls": _train_textcls, "digits": _train_digits}[cfg.task]
    model, metrics, extra = trainer(cfg, progress)
    metrics |= {
        "params": n_params(model),
        "steps": cfg.steps,
        "train_seconds": round(time.perf_counter() - t0, 1),
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-"))
    tmp.chmod(0o755)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    (tmp / "config.json").write_text(cfg.model_dump_json(indent=2))
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
    for name, text in extra.items():
        (tmp / name).write_text(text)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return metrics
