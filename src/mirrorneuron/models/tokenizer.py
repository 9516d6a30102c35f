"""Byte-level BPE tokenizers trained offline on a corpus (HF `tokenizers`), and the corpus → token windows step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from mirrorneuron.corpus import Corpus
from mirrorneuron.types import UserError

EOS = "<|endoftext|>"


def train_tokenizer(corpus: Corpus, vocab_size: int) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus.documents, trainer=trainer)
    return tok


def load_tokenizer(path: Path) -> Tokenizer:
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises plain Exception subclasses for bad files
        raise UserError(f"{path}: not a valid tokenizer.json ({e})") from None


def encode_corpus(tok: Tokenizer, corpus: Corpus) -> np.ndarray:
    """All documents as one int32 token stream, documents separated by EOS (when the tokenizer has one)."""
    eos = tok.token_to_id(EOS)
    parts: list[np.ndarray] = []
    for enc in tok.encode_batch(list(corpus.documents)):
        parts.append(np.asarray(enc.ids, dtype=np.int32))
        if eos is not None:
            parts.append(np.asarray([eos], dtype=np.int32))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


def to_windows(stream: np.ndarray, n_ctx: int) -> np.ndarray:
    """Non-overlapping windows [N, n_ctx]; the ragged tail is dropped."""
    n = len(stream) // n_ctx
    if n == 0:
        raise UserError(f"corpus too short: {len(stream)} tokens, fewer than one window of {n_ctx}")
    return stream[: n * n_ctx].reshape(n, n_ctx)


def token_strings(tok: Tokenizer, ids: np.ndarray | list[int]) -> list[str]:
    """Each token as the text it stands for (spaces shown as spaces)."""
    return [tok.decode([int(i)], skip_special_tokens=False) for i in ids]
