"""Pieces of ``benchmarks/web.py``: a throwaway Postgres, texts of N tokens for the live custom-text phase,
custom text on a real model timed in-process, and the JSON encoder lever timed in-process."""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

SAMPLE = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want "
    "of a wife. However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered "
    "the rightful property of some one or other of their daughters. "
)


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server (the pgserver wheel of the dev extra); yields a psycopg URL."""
    try:
        import pgserver
    except ImportError:
        raise SystemExit("--database postgres needs pgserver: pip install pgserver psycopg[binary]") from None
    root = tempfile.mkdtemp(prefix="mnpgb")  # short: the unix socket lives in it
    srv = pgserver.get_server(f"{root}/data", cleanup_mode="delete")
    try:
        yield srv.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        srv.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def text_of_tokens(model: str, n: int) -> tuple[str, int]:
    """A text of about ``n`` tokens of ``model`` (whole words; at least ``n``) and its exact token count."""
    from mirrorneuron.models.loader import zoo_adapter

    tok = zoo_adapter(model).tokenizer
    assert tok is not None
    words, text = (SAMPLE * (1 + n // 20)).split(), ""
    for k in range(1, len(words) + 1):
        text = " ".join(words[:k])
        if len(tok.encode(text).ids) >= n:
            break
    return text, len(tok.encode(text).ids)


def custom_in_process(unit: str, n_tokens: int, clients: int = 8, seconds: float = 8.0) -> dict[str, Any]:
    """The custom-text computation (``web.routers.custom.activations``) of ``unit`` on a text of ``n_tokens``,
    called by ``clients`` threads at once for ``seconds``, as the server's threadpool would: latency per call."""
    from mirrorneuron.web.routers.custom import activations
    from mirrorneuron.web.unitcache import UnitCache

    model = unit.split("/")[0]
    text, n = text_of_tokens(model, n_tokens)
    cache = UnitCache()
    t0 = time.perf_counter()
    activations(cache, unit, text)  # loads the model
    load_s = time.perf_counter() - t0
    times: list[float] = []

    def client() -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = time.perf_counter()
            activations(cache, unit, text)
            times.append(time.perf_counter() - t)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: client(), range(clients)))
    qs = statistics.quantiles(times, n=100)
    return {"tokens": n, "calls": len(times), "p50_ms": qs[49] * 1e3, "p99_ms": qs[98] * 1e3, "load_s": load_s}


def json_encoders(repeat: int = 2000) -> dict[str, float]:
    """µs per level-1 round response built from its stored payload: the stored JSON text decoded, validated into
    the response models and sent with pydantic's ``model_dump_json`` (the route before issue 14's round 3);
    the stored text validated by pydantic's JSON parser and the validated payload dumped (``round_response``,
    the route now); ``orjson.dumps`` of the plain dict (no validation, no guard: the floor). Same JSON
    (checked)."""
    import orjson

    from mirrorneuron.store.play import ServedRound
    from mirrorneuron.web.schemas.games import NextRoundOut, RoundOut
    from mirrorneuron.web.services.rounds import round_response

    tokens = [f" token{j}" for j in range(64)]
    stats = dict.fromkeys(("min", "max", "mean", "q01", "q10", "q50", "q90", "q99", "scale"), 0.5)
    refs = [{"index": k, "kind": "top", "value": 0.5, "example": {"kind": "text", "tokens": tokens, "target": 6}} for k in range(8)]
    rnd = {
        "round_id": "r" * 12, "game_id": "g" * 12, "token": "t" * 22, "seq": 3, "n_rounds": 100,
        "unit_id": "tiny-gelu/blocks.0.mlp.post/neuron/5", "level": 1, "multiplier": 1.5, "scale": 2.0,
        "example": {"kind": "text", "tokens": tokens, "target": 24},
        "hints": {"level": 1, "unit_id": "u", "stats": stats, "references": refs, "neighbours": None, "contributions": None},
    }  # fmt: skip

    ids = ("round_id", "game_id", "token", "seq", "n_rounds")
    stored = json.dumps({k: v for k, v in rnd.items() if k not in ids})  # as the store holds it
    game = str(rnd["game_id"])
    served = ServedRound(str(rnd["round_id"]), 3, str(rnd["token"]), stored)

    def validated() -> bytes:
        p = json.loads(stored)
        out = NextRoundOut(game_id=game, done=False, n_answered=3, n_rounds=100, round=RoundOut(**p, **{k: rnd[k] for k in ids}))
        return out.model_dump_json().encode()

    def stored_text() -> bytes:
        return round_response(game, 100, served)

    def plain() -> bytes:
        return orjson.dumps({"game_id": rnd["game_id"], "done": False, "n_answered": 3, "n_rounds": 100, "round": rnd})

    def per_call(fn: Any) -> float:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(repeat):
                fn()
            best = min(best, (time.perf_counter() - t0) / repeat)
        return best * 1e6

    assert orjson.loads(validated()) == orjson.loads(plain()) == orjson.loads(stored_text())
    return {
        "validate_and_pydantic_json_us": per_call(validated),
        "stored_text_validated_us": per_call(stored_text),
        "orjson_plain_dict_us": per_call(plain),
    }
