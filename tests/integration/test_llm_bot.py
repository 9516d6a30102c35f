"""The LLM bot against a local fake OpenAI-compatible server (stdlib http.server on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from mirrorneuron.game import ArrayContext, TextExample, make_rounds, run_session, truth_from
from mirrorneuron.players import BotData, LlmBot, LlmError, LlmNotConfigured, make_bot
from mirrorneuron.types import UserError


@dataclass
class FakeServer:
    url: str
    replies: list[str] = field(default_factory=list)  # served in order, then the default
    default: str = "I think 2.5"
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def user_prompts(self) -> list[str]:
        return [r["body"]["messages"][1]["content"] for r in self.requests]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # never route the fake server through a proxy
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    state = FakeServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            time.sleep(state.delay)
            reply = state.replies.pop(0) if state.replies else state.default
            out = {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}
            data = json.dumps(out).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield state
    httpd.shutdown()
    httpd.server_close()


def context(n: int = 60) -> ArrayContext:
    rng = np.random.default_rng(0)
    values = rng.uniform(-1.0, 1.0, n).round(5) + 0.0012345  # distinctive digits
    examples = [TextExample(("Once", " upon", f" tok{i}", " a"), 2) for i in range(n)]
    return ArrayContext("fake/blocks.0.mlp.post/neuron/4", values, examples)


def bot(server: FakeServer, ctx: ArrayContext, **options: Any) -> LlmBot:
    return LlmBot(server.url, "sk-test", "fake-model", data=BotData.from_context(ctx), **options)


def test_request_shows_the_round_not_its_answer(server: FakeServer) -> None:
    ctx = context()
    rounds = make_rounds(ctx, 0, 3, seed=1)
    res = run_session(bot(server, ctx), rounds, truth_from(ctx), feedback=False)
    assert [r.guess for r in res.results] == [2.5, 2.5, 2.5]
    assert len(server.requests) == 3
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == "Bearer sk-test"
    assert req["body"]["model"] == "fake-model" and req["body"]["temperature"] == 0.0
    for rnd, prompt in zip(rounds, server.user_prompts(), strict=True):
        assert f"Once upon[[ tok{rnd.index}]] a" in prompt
        assert f"{ctx.values[rnd.index]:.4g}" not in prompt
        assert "Earlier rounds" not in prompt  # no feedback, no history


def test_feedback_history_reaches_later_prompts(server: FakeServer) -> None:
    ctx = context()
    rounds = make_rounds(ctx, 1, 4, seed=2)
    run_session(bot(server, ctx, history=2), rounds, truth_from(ctx), feedback=True)
    prompts = server.user_prompts()
    assert "Earlier rounds" not in prompts[0]
    first = rounds.rounds[0]
    assert f"true activation {ctx.values[first.index]:.4g}" in prompts[1]
    assert f"[[ tok{first.index}]]" in prompts[1].split("Example to guess")[0]
    assert f"true activation {ctx.values[first.index]:.4g}" not in prompts[3]  # only the last 2 are kept
    for rnd, prompt in zip(rounds, prompts, strict=True):
        assert f"true activation {ctx.values[rnd.index]:.4g}" not in prompt


def test_non_numeric_reply_retries_once_then_falls_back(server: FakeServer) -> None:
    ctx = context()
    llm = bot(server, ctx)
    server.replies = ["no idea", "still no idea", "hmm", "-1.25 probably"]
    rounds = make_rounds(ctx, 0, 2, seed=3)
    res = run_session(llm, rounds, truth_from(ctx))
    assert res.results[0].guess == pytest.approx(BotData.from_context(ctx).mean)  # the held-out mean
    assert res.results[1].guess == -1.25
    assert llm.failures == 1 and llm.failed_rounds == [rounds.rounds[0].round_id]
    assert len(server.requests) == 4
    retry = server.requests[1]["body"]["messages"]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert retry[2]["content"] == "no idea" and "single number" in retry[3]["content"]


def test_timeout_is_a_clear_error(server: FakeServer) -> None:
    ctx = context()
    server.delay = 1.0
    with pytest.raises(LlmError, match=r"did not answer within 0\.2 s"):
        bot(server, ctx, timeout=0.2).guess(make_rounds(ctx, 0, 1).rounds[0])


def test_unreachable_server_is_a_clear_error() -> None:
    ctx = context()
    llm = LlmBot("http://127.0.0.1:9/v1", "", "m", timeout=2.0)
    with pytest.raises(LlmError, match=r"cannot reach the LLM server at http://127\.0\.0\.1:9/v1"):
        llm.guess(make_rounds(ctx, 0, 1).rounds[0])


def test_missing_config_names_the_env_vars(monkeypatch: pytest.MonkeyPatch, server: FakeServer) -> None:
    for var in ("MIRRORNEURON_LLM_BASE_URL", "MIRRORNEURON_LLM_API_KEY", "MIRRORNEURON_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    data = BotData.from_context(context())
    with pytest.raises(LlmNotConfigured, match=r"MIRRORNEURON_LLM_BASE_URL.*MIRRORNEURON_LLM_MODEL") as e:
        make_bot("llm", data)
    assert isinstance(e.value, UserError) and "MIRRORNEURON_LLM_API_KEY" in str(e.value)
    monkeypatch.setenv("MIRRORNEURON_LLM_BASE_URL", server.url)
    monkeypatch.setenv("MIRRORNEURON_LLM_API_KEY", "sk-env")
    monkeypatch.setenv("MIRRORNEURON_LLM_MODEL", "env-model")
    llm = make_bot("llm", data)
    assert isinstance(llm, LlmBot) and llm.model == "env-model"
    assert llm.guess(make_rounds(context(), 0, 1).rounds[0]) == 2.5
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer sk-env"
    other = make_bot("llm", data, model="other")
    assert isinstance(other, LlmBot) and other.model == "other"
