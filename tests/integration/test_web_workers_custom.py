"""Live custom text past the model's context: every token gets its activation, computed in a window of
``n_ctx`` tokens that has at least ``n_ctx / 2`` tokens before it (``web.routers.custom.window_activations``)."""

from __future__ import annotations

import numpy as np
import pytest

from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.web.routers.custom import window_activations

SITE = "blocks.0.mlp.post"


@pytest.mark.parametrize("n_tokens", [10, 64, 65, 150])
def test_every_token_is_computed_with_enough_context(small_lm: str, n_tokens: int) -> None:
    adapter = zoo_adapter(small_lm)
    n = adapter.n_ctx
    assert n == 64
    ids = np.random.default_rng(n_tokens).integers(0, 2048, size=n_tokens)
    got = window_activations(adapter, ids, SITE)
    assert got.shape == (n_tokens, adapter.width(SITE))
    if n_tokens <= n:  # one forward, exactly as before
        np.testing.assert_allclose(got, adapter.activations(ids[None], SITE)[0], rtol=1e-5, atol=1e-6)
        return
    starts = np.arange(n_tokens - n + 1)
    every = adapter.activations(np.stack([ids[a : a + n] for a in starts]), SITE)  # every window
    for t in range(n_tokens):
        ok = [a for a in starts if a <= t < a + n and (t - a >= n // 2 or a == 0)]
        assert any(np.allclose(got[t], every[a][t - a], rtol=1e-5, atol=1e-6) for a in ok), f"token {t}"
