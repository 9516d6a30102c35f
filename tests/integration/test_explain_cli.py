"""``mirrorneuron buildout explain`` end to end against the fake OpenAI-compatible simulator server."""

from __future__ import annotations

from typing import Any

import explain_server as es
import numpy as np
import pytest
from explain_server import ExplainServer
from sqlalchemy import select

from cli_run import run_main
from explain_seed import seed_explained_unit
from mirrorneuron.game.scoring import summarize
from mirrorneuron.gameplay.local import local_store
from mirrorneuron.store.models import Explanation

explain_server = es.explain_server  # the fixture


def _seed(**kw: Any) -> tuple[str, dict[str, Any]]:
    with local_store() as s:
        from mirrorneuron.store import repo

        player = repo.ensure_player(s, None).id
        return player, seed_explained_unit(s, player, **kw)


def _rows() -> list[Explanation]:
    with local_store() as s:
        rows = list(s.scalars(select(Explanation).order_by(Explanation.id)))
        s.expunge_all()
        return rows


@pytest.mark.parametrize(
    ("mode", "logprobs"), [("completions", True), ("completions", False), ("chat", True), ("chat", False)]
)
def test_explain_prints_three_scores_on_the_same_examples(
    mode: str,
    logprobs: bool,
    explain_server: ExplainServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MIRRORNEURON_LLM_MODE", mode)
    explain_server.logprobs = logprobs
    player, unit = _seed()
    args = ["buildout", "explain", unit["unit_id"], "the word cat", "--player", player, "--llm-explanation"]
    code, out, err = run_main(args, capsys, monkeypatch)
    assert code == 0, err
    assert "player's guesses" in out and "player's explanation" in out and "LLM explanation" in out
    player_row, llm_row = sorted(_rows(), key=lambda r: r.author.startswith("llm:"))
    assert player_row.author == player and llm_row.author == "llm:openai:fake-sim" and llm_row.text == "the word cat"
    sc = player_row.scores
    assert sc is not None and sc["n"] == 12 and len(sc["round_ids"]) == 12
    assert sc["player"]["correlation"] == pytest.approx(summarize(unit["actual"], unit["guesses"]).correlation)
    # the fake simulates 8.8 (logprobs) or 10 (text) on "cat" tokens and 0.2 / 0 elsewhere
    hit, miss = (8.8, 0.2) if logprobs else (10.0, 0.0)
    assert set(sc["simulation"]["by"]) == {"logprobs" if logprobs else "text"}
    expected = [hit if "cat" in w else miss for w in (" cat", " dog", " the", " sun", " cats", " tree") * 2]
    assert sc["simulation"]["simulated"] == pytest.approx(expected)
    assert sc["simulation"]["correlation"] == pytest.approx(float(np.corrcoef(unit["actual"], expected)[0, 1]))
    assert sc["llm"]["correlation"] == pytest.approx(sc["simulation"]["correlation"])
    assert f"{sc['simulation']['correlation']:.3f}" in out
    explainer = [p for p in explain_server.prompts() if "Explanation of neuron 2" not in p]
    assert len(explainer) == 1 and " ref0" in explainer[0] and " ot0" in explainer[0]
    assert " pl" not in explainer[0]  # the scored examples never reach the explainer


def test_a_wrong_explanation_scores_worse_through_the_cli(
    explain_server: ExplainServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    player, unit = _seed()
    for sentence in ("the word cat", "the word dog"):
        code, _, err = run_main(
            ["buildout", "explain", unit["unit_id"], sentence, "--player", player], capsys, monkeypatch
        )
        assert code == 0, err
    good, wrong = (r.scores["simulation"]["correlation"] for r in _rows() if r.scores)
    assert wrong < good - 0.5


def test_explain_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("MIRRORNEURON_LLM_BASE_URL", "MIRRORNEURON_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    player, unit = _seed()
    code, _, err = run_main(["buildout", "explain", unit["unit_id"], "cats", "--player", player], capsys, monkeypatch)
    assert (
        code == 2
        and "MIRRORNEURON_LLM_BASE_URL" in err
        and "--backend local" in err
        and len(err.strip().splitlines()) == 1
    )
    monkeypatch.setenv("MIRRORNEURON_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("MIRRORNEURON_LLM_MODEL", "m")
    for args, message in [
        (["nope/unit", "cats", "--player", player], "no unit"),
        ([unit["unit_id"], "cats", "--player", "someone-else"], "play at least 2"),
        ([unit["unit_id"], "  ", "--player", player], "1 to 500 characters"),
        ([unit["unit_id"], "cats", "--backend", "gpt"], "unknown simulator backend"),
        ([unit["unit_id"], "cats", "--player", player], "cannot reach the LLM server"),
    ]:
        code, _, err = run_main(["buildout", "explain", *args], capsys, monkeypatch)
        assert code == 2 and message in err and "Traceback" not in err, (args, err)


def test_rounds_without_feedback_are_not_scored(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIRRORNEURON_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("MIRRORNEURON_LLM_MODEL", "m")
    player, unit = _seed(feedback=False)  # their answers were never shown: scoring them would reveal them
    code, _, err = run_main(["buildout", "explain", unit["unit_id"], "cats", "--player", player], capsys, monkeypatch)
    assert code == 2 and "guessed on 0 text round(s)" in err


def test_echo_logprobs_survive_a_tokenizer_that_merges_the_tab(explain_server: ExplainServer) -> None:
    from mirrorneuron.buildout.simulate import expected_value, simulation_prompt
    from mirrorneuron.game.context import TextExample
    from mirrorneuron.players.simulator_backends import OpenAiBackend

    p = simulation_prompt("the word cat", TextExample(("A", " cat", " b"), 1))
    backend = OpenAiBackend.from_env()
    plain = backend.logprobs(p.text, p.slots)
    explain_server.merge_tab = True
    merged = backend.logprobs(p.text, p.slots)
    assert plain is not None and merged is not None
    evs = [expected_value(t) for t in merged]
    assert evs == [expected_value(t) for t in plain] and evs[1] == pytest.approx(8.8) and evs[0] == pytest.approx(0.2)
