"""A fake OpenAI-compatible server for explanation scoring (completions with echo + logprobs, chat-completions
with or without logprobs), answering as the rule-based simulator of ``tests/explain_fake.py``."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from explain_fake import HIT, MISS, filled_lines, fires

_TOKENS = re.compile(r"\t|\n|[^\t\n]+")


@dataclass
class ExplainServer:
    url: str = ""
    logprobs: bool = True  # False: a server that ignores logprobs/echo
    requests: list[dict[str, Any]] = field(default_factory=list)

    def prompts(self) -> list[str]:
        return [r["body"].get("prompt") or r["body"]["messages"][-1]["content"] for r in self.requests]


def _echo(prompt: str) -> dict[str, Any]:
    """Teacher-forced logprobs of the prompt itself: top logprobs at each "unknown" of neuron 2's block."""
    tokens = _TOKENS.findall(prompt)
    offsets = [0]
    for t in tokens[:-1]:
        offsets.append(offsets[-1] + len(t))
    flags = iter(fires(prompt))
    tops: list[dict[str, float] | None] = []
    for i, t in enumerate(tokens):
        tops.append(dict(HIT if next(flags) else MISS) if t == "unknown" and tokens[i - 1] == "\t" else None)
    return {"tokens": tokens, "text_offset": offsets, "top_logprobs": tops}


def _chat_logprobs(reply: str) -> dict[str, Any]:
    content = []
    prev = ""
    for t in _TOKENS.findall(reply):
        top = HIT if prev == "\t" and t == "10" else MISS if prev == "\t" else {t: 0.0}
        content.append(
            {"token": t, "logprob": 0.0, "top_logprobs": [{"token": k, "logprob": v} for k, v in top.items()]}
        )
        prev = t
    return {"content": content}


def answer(state: ExplainServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    if path.endswith("/chat/completions"):
        prompt = body["messages"][-1]["content"]
        reply = filled_lines(prompt) if "Explanation of neuron 2" in prompt else "the word cat."
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": reply}}
        if state.logprobs and body.get("logprobs"):
            choice["logprobs"] = _chat_logprobs(reply)
        return {"choices": [choice]}
    prompt = body["prompt"]
    if body.get("echo") and body.get("max_tokens") == 0:
        return {"choices": [{"index": 0, "text": prompt, "logprobs": _echo(prompt) if state.logprobs else None}]}
    reply = filled_lines(prompt) if "Explanation of neuron 2" in prompt else " the word cat.\n"
    return {"choices": [{"index": 0, "text": reply}]}


@pytest.fixture
def explain_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ExplainServer]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    state = ExplainServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "body": body})
            data = json.dumps(answer(state, self.path, body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    monkeypatch.setenv("MIRRORNEURON_LLM_BASE_URL", state.url)
    monkeypatch.setenv("MIRRORNEURON_LLM_MODEL", "fake-sim")
    monkeypatch.delenv("MIRRORNEURON_LLM_MODE", raising=False)
    yield state
    httpd.shutdown()
    httpd.server_close()


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
