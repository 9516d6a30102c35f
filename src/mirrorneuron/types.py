"""Small shared types. No heavy imports here: every layer may import this module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Modality = Literal["text", "image"]


class UserError(Exception):
    """Bad input from a user (file, argument, model). The CLI prints it as one line and exits 2."""


@dataclass(frozen=True)
class UnitRef:
    """A scalar read-out at a site. ``kind`` is ``neuron`` for now; probes/SAE features/directions come later.

    The string form is ``model/site/kind/index``, e.g. ``tiny-gelu/blocks.0.mlp.post/neuron/17``.
    """

    model: str
    site: str
    kind: str
    index: int

    @property
    def id(self) -> str:
        return f"{self.model}/{self.site}/{self.kind}/{self.index}"

    @classmethod
    def parse(cls, text: str) -> UnitRef:
        parts = text.strip().split("/")
        if len(parts) != 4 or not parts[3].isdigit():
            raise UserError(
                f"bad unit id {text!r}: expected MODEL/SITE/KIND/INDEX, e.g. tiny-gelu/blocks.0.mlp.post/neuron/17"
            )
        return cls(parts[0], parts[1], parts[2], int(parts[3]))

    def __str__(self) -> str:
        return self.id
