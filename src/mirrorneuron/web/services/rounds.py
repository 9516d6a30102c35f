"""The round endpoint's response, built from the stored payload's JSON text without decoding it into dicts.

Measured in-process (docs/benchmarks.md "Web, round 3"): decoding the stored payload, validating the dicts
into ``NextRoundOut`` and dumping it cost ≈ 150 µs per fetch; validating the stored text directly (pydantic's
JSON parser) and dumping the validated payload ≈ 90 µs.
"""

from __future__ import annotations

import orjson

from mirrorneuron.store.play import ServedRound
from mirrorneuron.web.schemas.games import StoredRoundPayload

_GAME_COPIES = {"round_id", "seq"}  # the payload's own copies; the response has the stored round's


def round_response(game_id: str, n_rounds: int, rnd: ServedRound) -> bytes:
    """The ``NextRoundOut`` JSON of ``rnd`` (not done).

    The guard that no answer rides along: the stored text must validate as :class:`StoredRoundPayload`
    (``extra="forbid"`` at every level) or this raises and nothing is served; only the validated model's
    fields are sent."""
    payload = StoredRoundPayload.model_validate_json(rnd.payload_json)
    body = payload.model_dump_json(exclude=_GAME_COPIES).encode()
    head = orjson.dumps({"game_id": game_id, "done": False, "n_answered": rnd.seq, "n_rounds": n_rounds})
    ids = orjson.dumps({"round_id": rnd.id, "game_id": game_id, "token": rnd.token, "seq": rnd.seq, "n_rounds": n_rounds})
    # body is the payload's JSON object ("{…}", never empty): its fields join the ids' object
    return head[:-1] + b',"round":' + ids[:-1] + b"," + body[1:] + b"}"
