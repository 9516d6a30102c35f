"""``mirrorneuron buildout explain UNIT_ID "sentence"``: score an explanation by LLM simulation, side by side
with the player's own guesses (and an LLM-written explanation) on the same examples."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mirrorneuron.cli_buildout.app import buildout_app
from mirrorneuron.types import UserError


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


@buildout_app.command("explain")
def explain(
    unit_id: Annotated[str, typer.Argument(help="the unit, e.g. tiny-gelu/blocks.0.mlp.post/neuron/17")],
    sentence: Annotated[str, typer.Argument(help="your one-sentence explanation of what the unit fires on")],
    player: Annotated[
        str | None, typer.Option(help="whose rounds to score on (default: this machine's terminal player)")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="openai (the MIRRORNEURON_LLM_* server) or local (offline SmolLM2)")
    ] = "openai",
    llm_explanation: Annotated[
        bool, typer.Option("--llm-explanation", help="also have the LLM write an explanation and score it")
    ] = False,
) -> None:
    """Simulate the unit from SENTENCE alone on the rounds the player guessed, and print the three scores."""
    from mirrorneuron.gameplay.explanations import check_text, compare, load_inputs, store_comparison, table_rows
    from mirrorneuron.gameplay.local import local_store, terminal_player
    from mirrorneuron.players.simulator_backends import make_backend
    from mirrorneuron.store.errors import StoreError

    text = check_text(sentence)
    sim = make_backend(backend)  # fails first, with how to configure it, before any store work
    with local_store() as s:
        try:
            inputs = load_inputs(s, unit_id, player or terminal_player(s))
        except StoreError as e:
            raise UserError(str(e)) from None
        result = compare(inputs, text, sim, llm_explanation)
        store_comparison(s, result)
        s.commit()
    table = Table(title=f"{unit_id}: {len(inputs.round_ids)} examples, simulator {sim.name}")
    for col in ("", "explanation", "correlation", "r2", "abs dev expl.", "mean round score"):
        table.add_column(col)
    for what, said, sc in table_rows(result):
        table.add_row(
            what, said, _fmt(sc.correlation), _fmt(sc.r2), _fmt(sc.abs_dev_explained), _fmt(sc.mean_round_score)
        )
    Console(width=160).print(table)
