"""The LLM bot: an OpenAI-compatible chat-completions client shown exactly what a human would see.

Off by default: it needs ``MIRRORNEURON_LLM_BASE_URL`` and ``MIRRORNEURON_LLM_MODEL`` (and
``MIRRORNEURON_LLM_API_KEY`` where the server wants a key). Each guess POSTs ``{base_url}/chat/completions``
with the prompt of :func:`mirrorneuron.players.prompt.render_prompt` (the round plus, when feedback is on,
the last ``history`` reveals on the unit). The first number in the reply is the guess; a reply without one
gets one short correction, then the bot falls back to the unit mean and counts a failure.
"""

from __future__ import annotations

import json
import math
import os
import re
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping
from typing import Any

from mirrorneuron.game import Reveal, Round
from mirrorneuron.players.data import BotData, unit_mean
from mirrorneuron.players.prompt import render_prompt
from mirrorneuron.types import UserError

ENV_BASE_URL = "MIRRORNEURON_LLM_BASE_URL"
ENV_API_KEY = "MIRRORNEURON_LLM_API_KEY"
ENV_MODEL = "MIRRORNEURON_LLM_MODEL"
CORRECTION = "Please reply with a single number only: your guess of the activation."

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


class LlmError(UserError):
    """The LLM server could not be used (not configured, unreachable, timed out, bad answer)."""


class LlmNotConfigured(LlmError):
    pass


def parse_number(text: str) -> float | None:
    """The first finite number in ``text`` (unicode minus accepted), or ``None``."""
    for match in _NUMBER.finditer(text.replace("−", "-")):
        value = float(match.group())
        if math.isfinite(value):
            return value
    return None


def post_json(url: str, body: dict[str, Any], api_key: str, timeout: float) -> Any:
    """POST ``body`` as JSON to an OpenAI-compatible ``url``; the decoded JSON answer. Every failure is an
    :class:`LlmError` with one line saying what went wrong (shared by the bot and the explanation simulator)."""
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    timed_out = LlmError(
        f"the LLM server at {url} did not answer within {timeout:g} s; check the server or pass a larger timeout"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        detail = e.read()[:300].decode("utf-8", "replace")
        raise LlmError(f"the LLM server at {url} answered HTTP {e.code}: {detail}") from None
    except TimeoutError:
        raise timed_out from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            raise timed_out from None
        raise LlmError(f"cannot reach the LLM server at {url}: {e.reason}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise LlmError(f"the LLM server at {url} did not answer JSON") from None


class LlmBot:
    """A chat model playing the game. ``failures`` counts rounds where no number came back (guessed the
    mean); ``failed_rounds`` lists their round ids."""

    name = "llm"
    version = "1"  # stored with every play; bump when its guesses change

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        data: BotData | None = None,
        history: int = 10,
        timeout: float = 60.0,
        temperature: float = 0.0,
        max_tokens: int | None = None,
    ) -> None:
        if not base_url or not model:
            raise LlmNotConfigured(
                f"the llm bot needs a base URL and a model: set {ENV_BASE_URL} (e.g. https://api.openai.com/v1)"
                f" and {ENV_MODEL}, plus {ENV_API_KEY} if the server wants a key"
            )
        if history < 0 or timeout <= 0:
            raise ValueError("history must be >= 0 and timeout > 0")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key, self.model, self.data = api_key, model, data
        self.history, self.timeout, self.temperature, self.max_tokens = (
            history,
            timeout,
            temperature,
            max_tokens,
        )
        self.failures = 0
        self.failed_rounds: list[str] = []
        self.seen: dict[str, deque[tuple[Round, Reveal]]] = {}

    @classmethod
    def from_env(cls, data: BotData | None = None, env: Mapping[str, str] | None = None, **options: Any) -> LlmBot:
        """Configured from the ``MIRRORNEURON_LLM_*`` variables; ``base_url``/``api_key``/``model`` options
        override them. Raises :class:`LlmNotConfigured` naming the variables when something is missing."""
        env = os.environ if env is None else env
        base_url = options.pop("base_url", None) or env.get(ENV_BASE_URL, "")
        api_key = options.pop("api_key", None) or env.get(ENV_API_KEY, "")
        model = options.pop("model", None) or env.get(ENV_MODEL, "")
        return cls(base_url, api_key, model, data=data, **options)

    def complete(self, messages: list[dict[str, str]]) -> str:
        """One chat-completions call; the reply text."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        payload = post_json(self.url, body, self.api_key, self.timeout)
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LlmError(f"unexpected chat-completions answer from {self.url}: {str(payload)[:300]}") from None
        return "" if content is None else str(content)

    def prompt(self, round: Round) -> list[dict[str, str]]:
        """The messages this bot sends for ``round`` (its history on the unit included)."""
        return render_prompt(round, list(self.seen.get(round.unit_id, ())))

    def guess(self, round: Round) -> float:
        messages = self.prompt(round)
        reply = self.complete(messages)
        value = parse_number(reply)
        if value is None:
            retry = [
                *messages,
                {"role": "assistant", "content": reply},
                {"role": "user", "content": CORRECTION},
            ]
            value = parse_number(self.complete(retry))
        if value is None:
            self.failures += 1
            self.failed_rounds.append(round.round_id)
            return unit_mean(self.data, round)
        return value

    def observe(self, round: Round, reveal: Reveal) -> None:
        if self.history:
            self.seen.setdefault(round.unit_id, deque(maxlen=self.history)).append((round, reveal))
