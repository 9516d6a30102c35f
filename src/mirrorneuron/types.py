"""Small shared types. No heavy imports here: every layer may import this module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Modality = Literal["text", "image"]

UNIT_KINDS: tuple[str, ...] = ("neuron", "probe", "sae_feature", "direction")


class UserError(Exception):
    """Bad input from a user (file, argument, model). The CLI prints it as one line and exits 2."""


@dataclass(frozen=True, init=False)
class UnitRef:
    """A scalar read-out at a site: ``neuron``, ``probe``, ``sae_feature`` or ``direction``.

    The string form is ``MODEL/SITE/KIND/KEY``:

    - ``tiny-gelu/blocks.0.mlp.post/neuron/17`` (key = the unit index),
    - ``tiny-gelu/blocks.1.resid.post/probe/capitalised`` (key = the probe's name),
    - ``tiny-gelu/blocks.1.resid.post/sae_feature/sae128:12`` (key = ``SAE_NAME:FEATURE``),
    - ``tiny-gelu/blocks.1.resid.post/direction/cap-minus-lower`` (key = the direction's name).

    :meth:`parse` is the one parser of unit ids (CLI, web, library); given the model it also takes the short
    forms ``SITE/INDEX`` (a neuron) and ``SITE/KIND/KEY``.
    """

    model: str
    site: str
    kind: str
    key: str

    def __init__(self, model: str, site: str, kind: str, key: str | int) -> None:
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "site", site)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "key", str(key))

    @property
    def index(self) -> int:
        """The integer index of a neuron (or the feature number of an SAE feature)."""
        if self.stored_index < 0:
            raise UserError(f"unit {self.id} has no integer index")
        return self.stored_index

    @property
    def stored_index(self) -> int:
        """The integer index the gameplay store keeps: :attr:`index`, or -1 for named probes and directions."""
        tail = self.key.rsplit(":", 1)[-1]
        return int(tail) if tail.isdigit() else -1

    @property
    def id(self) -> str:
        return f"{self.model}/{self.site}/{self.kind}/{self.key}"

    @classmethod
    def parse(cls, text: str, model: str | None = None) -> UnitRef:
        """The unit a full id ``MODEL/SITE/KIND/KEY`` names; with ``model`` also the short forms ``SITE/INDEX``
        (a neuron) and ``SITE/KIND/KEY`` of that model (a full id must then be of ``model``)."""
        parts = text.strip().strip("/").split("/")
        if model is not None and len(parts) == 2:
            parts = [model, parts[0], "neuron", parts[1]]
        elif model is not None and len(parts) == 3:
            parts = [model, *parts]
        ok = len(parts) == 4 and all(parts) and parts[2] in UNIT_KINDS
        if ok and parts[2] == "neuron":
            ok = parts[3].isdigit()
        if ok and parts[2] == "sae_feature":
            name, _, feature = parts[3].rpartition(":")
            ok = bool(name) and feature.isdigit()
        if not ok:
            short = " (or SITE/INDEX, SITE/KIND/KEY)" if model is not None else ""
            raise UserError(
                f"bad unit id {text!r}: expected MODEL/SITE/KIND/KEY{short} with KIND one of {', '.join(UNIT_KINDS)}, "
                "e.g. tiny-gelu/blocks.0.mlp.post/neuron/17 or tiny-gelu/blocks.1.resid.post/sae_feature/sae128:12"
            )
        if model is not None and parts[0] != model:
            raise UserError(f"unit {text.strip()} belongs to model {parts[0]}, not {model}")
        return cls(parts[0], parts[1], parts[2], parts[3])

    def __str__(self) -> str:
        return self.id
