"""Models outside the zoo in the browser game: registered Hugging Face models (a causal Llama and a BERT
encoder) are listed on the home page and play a full game over the API; a missing built-in shows its hint."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import web_fixtures as fx
from fastapi import FastAPI
from test_web_game import Player
from tiny_models import save_tiny_bert, save_tiny_llama, tiny_tokenizer

from mirrorneuron.models import real
from mirrorneuron.models.registry import add_model

pytest.importorskip("transformers")

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app
MODELS = ("web-llama", "web-bert")  # names of this module's own (so its harvests are its own too)


@pytest.fixture(scope="module")
def registered(web_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    root, tok = tmp_path_factory.mktemp("hf"), tiny_tokenizer()
    add_model(f"hf:{save_tiny_llama(root / 'llama', tok)}", name=MODELS[0])
    add_model(f"hf:{save_tiny_bert(root / 'bert', tok)}", name=MODELS[1])
    return MODELS


@pytest.fixture
def minilm_missing(monkeypatch: pytest.MonkeyPatch) -> str:
    """minilm-l6 as on a machine without the ``real`` extra (its wheel's package is not found)."""
    b = real.BUILTINS[real.MINILM]
    monkeypatch.setitem(real.BUILTINS, b.name, dataclasses.replace(b, module="mirrorneuron_no_such_wheel"))
    return b.name


@pytest.fixture(scope="module")
def player(app: FastAPI) -> Player:
    return Player(app)


def test_home_lists_registered_models_and_a_missing_builtin(
    player: Player, registered: tuple[str, ...], minilm_missing: str
) -> None:
    models = {m["name"]: m for m in player.get("/api/home").json()["models"]}
    for name in registered:
        m = models[name]
        assert m["kind"] == "registered" and m["modality"] == "text" and m["ready"] and m["install_hint"] is None
    missing = models[minilm_missing]
    assert missing["kind"] == "built-in" and not missing["ready"]
    assert missing["install_hint"] == real.INSTALL_HINT
    assert models["tiny-gelu"]["ready"] and models["tiny-gelu"]["sites"]  # the zoo is still there
    page = player.get("/").text
    assert f'value="{registered[0]}"' in page and real.INSTALL_HINT.replace("'", "&#39;") in page
    assert f'value="{minilm_missing}" disabled' in page  # not selectable until installed
    everything = {m["name"]: m for m in player.get("/api/models").json()}
    assert set(registered) <= set(everything) and not everything[minilm_missing]["ready"]
    ready = {m["name"] for m in player.get("/api/models", params={"ready": True}).json()}
    assert set(registered) <= ready and minilm_missing not in ready
    custom = player.get("/custom").text.split("text models:")[1].split("·")[0]  # custom text offers them too
    assert all(name in custom for name in registered) and minilm_missing not in custom


@pytest.mark.parametrize("model", MODELS)
def test_full_game_on_a_registered_model(player: Player, registered: tuple[str, ...], model: str) -> None:
    game = player.new_game(model=model, level=2, seed=3)
    gid = game["game_id"]
    assert game["model"] == model and game["modality"] == "text" and game["unit_id"].startswith(f"{model}/")
    assert player.get(f"/api/games/{gid}").status_code == 200
    page = player.get(f"/play/{gid}")
    assert page.status_code == 200 and game["unit_id"] in page.text
    rnd = player.get(f"/api/games/{gid}/round").json()["round"]
    assert rnd["example"]["kind"] == "text" and rnd["hints"]["neighbours"] is not None
    reveals = player.play(gid, 0.0)
    assert len(reveals) == 4 and reveals[-1]["done"]
    view = player.get(f"/api/games/{gid}").json()
    assert view["done"] and view["summary"]["you"]["n"] == 4
    assert player.get(f"/api/games/{gid}/summary").json() == view["summary"]
    reveal = player.get(f"/api/rounds/{reveals[0]['round_id']}/reveal").json()
    assert reveal["window"]["activations"][reveal["window"]["target"]] == pytest.approx(reveal["actual"], abs=1e-3)


def test_home_form_starts_a_game_on_a_registered_model(player: Player, registered: tuple[str, ...]) -> None:
    form = {"csrf_token": player.csrf, "model": registered[1], "unit": "", "level": "1", "rounds": "2"}
    r = player.client.post("/play", data=form, follow_redirects=False)
    assert r.status_code == 303
    page = player.get(r.headers["location"])
    assert page.status_code == 200 and f"{registered[1]}/" in page.text
