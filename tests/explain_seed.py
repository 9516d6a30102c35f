"""A stored unit with a player's guessed rounds for the explanation tests (CLI, API, real SmolLM2)."""

from __future__ import annotations

import uuid
from typing import Any

WORDS = (" cat", " dog", " the", " sun", " cats", " tree")


def _round(
    seq: int, example_id: str, index: int, tokens: list[str], actual: float, hints: dict[str, Any]
) -> dict[str, Any]:
    payload = {"example": {"kind": "text", "tokens": tokens, "target": 1}, "hints": hints}
    return {
        "seq": seq,
        "example_id": example_id,
        "example_index": index,
        "source": "random",
        "weight": 1.0,
        "scale": 4.0,
        "payload": payload,
        "actual": actual,
    }


def seed_explained_unit(s: Any, player_id: str, n: int = 12, feedback: bool = True) -> dict[str, Any]:
    """A unit that fires on "cat" tokens: ``player_id`` guessed ``n`` rounds (examples ``P0``…, marked by their
    tokens ``pl<i>``); another player's level-1 game on it shows references (``ref<i>``) and has rounds of its own."""
    from mirrorneuron.store import repo
    from mirrorneuron.store.history import record_guesses

    model = f"m-{uuid.uuid4().hex[:8]}"
    unit_id = f"{model}/blocks.0.mlp.post/neuron/3"
    repo.ensure_model(s, model, "text", "abc")
    repo.ensure_unit(s, unit_id, model, "blocks.0.mlp.post", "neuron", 3, {"max": 5.0, "scale": 4.0, "mean": 1.0})
    value = lambda w, i: (4.0 if "cat" in w else 0.3) + 0.1 * (i % 3)  # noqa: E731
    mine = [(f"{model}-P{i}", i, ["Once", WORDS[i % 6], f" pl{i}"], value(WORDS[i % 6], i)) for i in range(n)]
    refs = [
        {
            "index": 100 + i,
            "kind": "top",
            "value": value(WORDS[i % 6], i),
            "example": {"kind": "text", "tokens": ["Ref", WORDS[i % 6], f" ref{i}"], "target": 1},
        }
        for i in range(6)
    ]
    others = [(f"{model}-O{i}", 200 + i, ["Other", WORDS[i % 6], f" ot{i}"], value(WORDS[i % 6], i)) for i in range(4)]
    examples = [(e, i) for e, i, _, _ in mine + others] + [(f"{model}-R{r['index']}", r["index"]) for r in refs]
    repo.ensure_examples(s, model, [{"id": e, "harvest_index": i, "payload": {}} for e, i in examples])
    game = repo.create_game(
        s,
        player_id,
        unit_id,
        level=0,
        feedback=feedback,
        seed=0,
        rounds=[_round(k, *m, {}) for k, m in enumerate(mine)],
    )
    other = repo.ensure_player(s, None)
    repo.create_game(
        s,
        other.id,
        unit_id,
        level=1,
        feedback=True,
        seed=0,
        rounds=[_round(k, *o, {"references": refs}) for k, o in enumerate(others)],
    )
    guesses = [(r.id, r.actual + (0.5 if r.seq % 2 else -0.5), 1.0) for r in game.rounds]
    record_guesses(s, player_id, guesses)
    s.commit()
    return {"unit_id": unit_id, "actual": [m[3] for m in mine], "guesses": [g for _, g, _ in guesses]}
