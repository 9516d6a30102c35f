"""A fake OpenAI-compatible server for explanation scoring (completions with echo + logprobs, chat-completions
with or without logprobs), answering as the rule-based simulator of ``tests/explain_fake.py``."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from explain_fake import HIT, MISS, filled_lines, fires

_TOKENS = re.compile(r"\t|\n|[^\t\n]+")
_MERGED = re.compile(r"\tunknown|\t|\n|[^\t\n]+")


@dataclass
class ExplainServer:
    url: str = ""
    logprobs: bool = True  # False: a server that ignores logprobs/echo
    merge_tab: bool = False  # True: the tokenizer makes one token of "\tunknown" (as cl100k-style ones do)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def prompts(self) -> list[str]:
        return [r["body"].get("prompt") or r["body"]["messages"][-1]["content"] for r in self.requests]


def _echo(prompt: str, merge_tab: bool) -> dict[str, Any]:
    """Teacher-forced logprobs of the prompt itself: top logprobs at each "unknown" of neuron 2's block."""
    tokens = (_MERGED if merge_tab else _TOKENS).findall(prompt)
    offsets = [0]
    for t in tokens[:-1]:
        offsets.append(offsets[-1] + len(t))
    flags = iter(fires(prompt))
    tops: list[dict[str, float] | None] = []
    for i, t in enumerate(tokens):
        if t == "\tunknown":  # the candidates there carry the tab too
            tops.append({"\t" + k: v for k, v in (HIT if next(flags) else MISS).items()})
        else:
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
        return {
            "choices": [
                {"index": 0, "text": prompt, "logprobs": _echo(prompt, state.merge_tab) if state.logprobs else None}
            ]
        }
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
