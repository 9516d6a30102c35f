"""A planted model: units that are known functions of the input, so bots and players have analytic targets.

Words are one-hot embedded (one position per word). ``layers.0.post`` (ReLU) holds token detectors: unit i
fires ``PLANTED[i][1]`` on word ``PLANTED[i][0]`` and is 0 elsewhere. ``layers.1.post`` (identity) holds sums:
unit 0 = detector 0 + detector 1, unit 1 = detector 1 − detector 2. Useful in tests and for teaching.
"""

from __future__ import annotations

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from torch import nn

from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.sites import Site

PLANTED = (("cat", 3.0), ("dog", 2.0), ("fish", 1.5))
FILLER = ("the", "a", "runs", "sees", "big", "small", "and", "then", "slowly", "home")
VOCAB = ("<unk>", *FILLER, *(w for w, _ in PLANTED))


class PlantedLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        v, d = len(VOCAB), len(PLANTED)
        self.embed = nn.Embedding(v, v)
        self.layers = nn.ModuleList(
            [
                nn.ModuleDict({"linear": nn.Linear(v, d), "post": Site(d, linear="linear", act="relu")}),
                nn.ModuleDict({"linear": nn.Linear(d, 2), "post": Site(2, linear="linear", act="identity")}),
            ]
        )
        with torch.no_grad():
            self.embed.weight.copy_(torch.eye(v))
            det = self.layers[0]["linear"]
            det.weight.zero_()
            det.bias.zero_()
            for i, (word, value) in enumerate(PLANTED):
                det.weight[i, VOCAB.index(word)] = value
            mix = self.layers[1]["linear"]
            mix.weight.copy_(torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, -1.0]]))
            mix.bias.zero_()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        x = self.layers[0]["post"](torch.relu(self.layers[0]["linear"](x)))
        return self.layers[1]["post"](self.layers[1]["linear"](x))


def planted_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok


def planted_adapter(n_ctx: int = 16) -> TorchAdapter:
    return TorchAdapter("planted", PlantedLM(), "text", planted_tokenizer(), checksum="planted-v1", n_ctx=n_ctx)


def planted_text(n_words: int = 20_000, seed: int = 0) -> str:
    """Random sentences over the planted vocabulary (the planted words appear ~20 % of the time)."""
    rng = np.random.default_rng(seed)
    words = list(FILLER) + [w for w, _ in PLANTED] * 2
    return " ".join(rng.choice(words, size=n_words))
