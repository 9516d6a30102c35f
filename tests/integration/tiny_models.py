"""Tiny random-config Hugging Face and TransformerLens models (built in seconds, saved to temp folders)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from mirrorneuron.corpus import load_corpus

VOCAB = 300
SPECIALS = ["<|endoftext|>", "[UNK]", "[CLS]", "[SEP]", "[PAD]"]


def tiny_tokenizer() -> Tokenizer:
    """A byte-level BPE of 300 tokens trained on a slice of the shipped corpus."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(load_corpus("austen").documents)[:400], trainer=trainer)
    return tok


def save_tiny_llama(folder: Path, tok: Tokenizer) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    cfg = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>").save_pretrained(folder)
    return folder


def save_tiny_bert(folder: Path, tok: Tokenizer) -> Path:
    """A BERT encoder whose tokenizer adds [CLS] … [SEP] (as real BERT tokenizers do)."""
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    btok = Tokenizer.from_str(tok.to_str())
    cls, sep = btok.token_to_id("[CLS]"), btok.token_to_id("[SEP]")
    btok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    cfg = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=128,
    )
    torch.manual_seed(1)
    BertModel(cfg).save_pretrained(folder)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=btok, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]"
    )
    fast.save_pretrained(folder)
    return folder


def tiny_tl(act_fn: str = "gelu") -> Any:
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        n_layers=2, d_model=32, d_head=8, n_heads=4, d_mlp=64, d_vocab=VOCAB, n_ctx=64, act_fn=act_fn, seed=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return HookedTransformer(cfg).eval()
