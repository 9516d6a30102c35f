"""Explanation scoring glue: a player's explanation of a unit, simulated and scored next to their own guesses.

Three numbers on the SAME examples (the rounds of the unit the player guessed on): the player's own predictions,
the simulation of the player's explanation, and (optionally) the simulation of an LLM-written explanation, the
latter written from the unit's other known examples (:func:`mirrorneuron.store.explanations.reference_pool`),
never from the scored ones. Loading (:func:`load_inputs`) and storing (:func:`store_comparison`) need a session;
:func:`compare` runs the (slow) LLM calls and needs none, so a caller can run it outside a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from mirrorneuron.buildout.explain import write_explanation
from mirrorneuron.buildout.simulate import SimulationScore, score_simulation
from mirrorneuron.game.context import TextExample
from mirrorneuron.game.scoring import ScoreSummary, summarize
from mirrorneuron.players.simulator_backends import SimulatorBackend
from mirrorneuron.store import explanations as store
from mirrorneuron.types import UserError

MAX_TEXT = 500
MIN_ROUNDS = 2  # a correlation needs two examples


def check_text(text: str) -> str:
    text = " ".join(text.split())
    if not text or len(text) > MAX_TEXT:
        raise UserError(f"an explanation is one sentence of 1 to {MAX_TEXT} characters")
    return text


def _example(d: dict[str, Any]) -> TextExample:
    return TextExample(tuple(d["tokens"]), int(d["target"]))


@dataclass(frozen=True)
class Inputs:
    unit_id: str
    player_id: str
    round_ids: tuple[str, ...]
    examples: tuple[TextExample, ...]
    actual: tuple[float, ...]
    guesses: tuple[float, ...]
    scales: tuple[float, ...]
    references: tuple[tuple[TextExample, float], ...]
    max_activation: float


def load_inputs(s: Session, unit_id: str, player_id: str) -> Inputs:
    stats = store.unit_stats(s, unit_id)
    rounds = store.guessed_rounds(s, unit_id, player_id)
    if len(rounds) < MIN_ROUNDS:
        raise UserError(
            f"player {player_id} has guessed on {len(rounds)} text round(s) of {unit_id}; an explanation is scored on "
            f"the player's own rounds, so play at least {MIN_ROUNDS} first"
        )
    refs = [(_example(e), v) for e, v in store.reference_pool(s, unit_id, {r.example_index for r in rounds})]
    known = [r.actual for r in rounds] + [v for _, v in refs]
    max_activation = float(stats.get("max", max(known)))
    return Inputs(
        unit_id,
        player_id,
        tuple(r.round_id for r in rounds),
        tuple(_example(r.example) for r in rounds),
        tuple(r.actual for r in rounds),
        tuple(r.guess for r in rounds),
        tuple(r.scale for r in rounds),
        tuple(refs),
        max_activation,
    )


@dataclass(frozen=True)
class Comparison:
    inputs: Inputs
    backend: str
    text: str
    player: ScoreSummary  # the player's own guesses
    simulation: SimulationScore  # the player's explanation, simulated
    llm_text: str | None = None
    llm: SimulationScore | None = None  # the LLM-written explanation, simulated

    def scores(self) -> dict[str, Any]:
        """The JSON stored on the player's explanation row."""
        return {
            "backend": self.backend,
            "n": len(self.inputs.round_ids),
            "round_ids": list(self.inputs.round_ids),
            "max_activation": self.inputs.max_activation,
            "player": self.player.to_dict(),
            "simulation": self.simulation.to_dict(),
            "llm": None if self.llm is None else {"text": self.llm_text, **self.llm.to_dict()},
        }


def compare(inputs: Inputs, text: str, backend: SimulatorBackend, llm_explanation: bool = False) -> Comparison:
    def simulate(explanation: str) -> SimulationScore:
        return score_simulation(
            backend, explanation, inputs.examples, inputs.actual, inputs.max_activation, inputs.scales
        )

    player = summarize(inputs.actual, inputs.guesses, scale=inputs.scales)
    llm_text = llm = None
    if llm_explanation:
        refs = inputs.references
        llm_text = write_explanation(backend, [e for e, _ in refs], [v for _, v in refs], inputs.max_activation)
        llm = simulate(llm_text)
    return Comparison(inputs, backend.name, text, player, simulate(check_text(text)), llm_text, llm)


def store_comparison(s: Session, c: Comparison, explanation_id: int | None = None) -> dict[str, int]:
    """Save (or fill in the scores of ``explanation_id``) the player's explanation and the LLM's; the caller
    commits. Returns the row ids."""
    scores = c.scores()
    ids: dict[str, int] = {}
    if c.llm is not None and c.llm_text is not None:
        llm_scores = {k: v for k, v in scores.items() if k not in ("player", "simulation", "llm")}
        llm_scores["simulation"] = c.llm.to_dict()
        row = store.save_explanation(s, c.inputs.unit_id, None, f"llm:{c.backend}"[:128], c.llm_text, llm_scores)
        ids["llm"] = row.id
        scores["llm"]["explanation_id"] = row.id
    if explanation_id is None:
        ids["player"] = store.save_explanation(
            s, c.inputs.unit_id, c.inputs.player_id, c.inputs.player_id, c.text, scores
        ).id
    else:
        store.set_scores(s, explanation_id, scores)
        ids["player"] = explanation_id
    return ids


def table_rows(c: Comparison) -> list[tuple[str, str, ScoreSummary]]:
    """(what, text, scores) rows of the side-by-side table, all on the same examples."""
    rows = [("player's guesses", "", c.player), ("player's explanation", c.text, c.simulation.summary)]
    if c.llm is not None:
        rows.append(("LLM explanation", c.llm_text or "", c.llm.summary))
    return rows
