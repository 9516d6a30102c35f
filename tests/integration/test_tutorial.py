"""The tutorial through the in-process client: offered to a new player, skippable (API and the home form),
remembered in the store, its rounds stored like every play and never showing a truth before the guess, and
its ending's points against the mean bot as ``game.scoring`` computes them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import web_fixtures as fx
from api_player import ApiPlayer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from mirrorneuron.game import Level
from mirrorneuron.game.scoring import insight_points
from mirrorneuron.store import repo
from mirrorneuron.store.history import bot_player_id
from mirrorneuron.store.models import Game, Guess
from mirrorneuron.store.tutorial import TUTORIAL_POLICY
from mirrorneuron.web import create_app
from mirrorneuron.web.services.tutorial import TUTORIAL_LEVEL, TUTORIAL_ROUNDS, unigram_r2
from mirrorneuron.web.settings import WebSettings

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app


class Player(ApiPlayer):
    def truth(self, round_id: str) -> float:
        with self.sessions() as s:
            return float(repo.get_round(s, round_id).actual)


# --- the truth scan (the leak walker's idea, on the tutorial's own routes) ---------------------------------
def truth_hits(body: Any, truths: list[float], where: str = "$") -> list[str]:
    """Where a JSON body holds a truth as a number (full precision) or writes one in a string."""
    if isinstance(body, bool) or body is None:
        return []
    if isinstance(body, int | float):
        return [where] if any(math.isclose(float(body), t, rel_tol=1e-9, abs_tol=1e-12) for t in truths) else []
    if isinstance(body, str):
        return [where] if any(s in body for t in truths for s in (repr(t), f"{t:.6f}")) else []
    if isinstance(body, dict):
        return [h for k, v in body.items() for h in truth_hits(v, truths, f"{where}.{k}")]
    if isinstance(body, list):
        return [h for i, v in enumerate(body) for h in truth_hits(v, truths, f"{where}[{i}]")]
    return []


def scan(p: Player, game_id: str, round_id: str, truths: list[float]) -> list[str]:
    """Every route the tutorial uses (and the player's pages), before the guess of ``round_id``."""
    hits = []
    for url in (
        "/tutorial",
        "/api/tutorial",
        f"/api/games/{game_id}",
        f"/api/games/{game_id}/round",
        f"/play/{game_id}",
        "/me",
        f"/players/{p.id}",
        "/api/players/me/progress",
        "/",
    ):
        r = p.client.get(url)
        assert r.status_code == 200, (url, r.text)
        body = r.json() if "json" in r.headers["content-type"] else r.text
        hits += [f"GET {url} {h}" for h in truth_hits(body, truths)]
    resumed = p.post("/api/tutorial")
    assert resumed.status_code == 201 and resumed.json()["game_id"] == game_id  # resumes, no second game
    hits += [f"POST /api/tutorial {h}" for h in truth_hits(resumed.json(), truths)]
    early = p.client.get(f"/api/rounds/{round_id}/reveal")
    assert early.status_code == 409 and "guess first" in early.json()["detail"]
    assert p.client.get(f"/api/games/{game_id}/summary").status_code == 409
    return hits


def test_scan_catches_a_planted_truth() -> None:
    truth = 0.123456789
    assert truth_hits({"round": {"hints": {"x": [1.0, truth]}}}, [truth]) == ["$.round.hints.x[1]"]
    assert truth_hits({"page": f"<td>{truth:.6f}</td>"}, [truth]) == ["$.page"]
    assert truth_hits(f"value {truth!r}", [truth]) == ["$"]
    assert truth_hits({"x": 0.1234, "n": 3}, [truth]) == []


# --- the unit rule -----------------------------------------------------------------------------------------
def test_unigram_r2_hand_computed() -> None:
    tokens = np.array([1, 1, 2, 2, 9])  # token 9 is seen once: pooled with nothing else, one group of its own
    acts = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0], [6.0, 1.0], [8.0, 1.0]])
    # column 0: mean 4; token means 1, 5, 8 → between = 2·9 + 2·1 + 1·16 = 36; total = 16+4+0+4+16 = 40
    r2 = unigram_r2(tokens, acts, min_count=1)
    assert r2[0] == pytest.approx(36 / 40) and r2[1] == 0.0  # a constant column explains nothing
    # with min_count 2 the singleton joins the pooled group (-1) alone: same groups, same answer
    assert unigram_r2(tokens, acts, min_count=2)[0] == pytest.approx(36 / 40)
    # min_count 3 pools every token: one group, nothing explained
    assert unigram_r2(tokens, acts, min_count=3)[0] == pytest.approx(0.0)


def test_tutorial_unit_is_the_most_token_lookup_like_lively_neuron(app: FastAPI) -> None:
    """The documented rule, restated: over the training half, no lively neuron of the default model's neuron
    sites has a higher unigram R² than the tutorial unit."""
    from mirrorneuron.game import training_mask
    from mirrorneuron.web.unitcache import UnitCache

    cache = UnitCache()
    unit = TestClient(app).get("/api/tutorial").json()["unit_id"]
    model, site, _, index = unit.split("/")
    h = cache.harvest(model)
    train = training_mask(np.repeat(np.arange(h.n_windows), h.positions))
    tokens = np.asarray(h.inputs).reshape(-1)[train]
    best = {}
    for s in h.sites:
        acts = np.asarray(h.activations(s), dtype=np.float64).reshape(-1, h.width(s))[train]
        spread = np.ptp(np.quantile(acts, [0.01, 0.99], axis=0), axis=0)
        r2 = unigram_r2(tokens, acts)
        best[s] = float(r2[spread > np.quantile(spread, 0.25)].max())
        if s == site:
            chosen = float(r2[int(index)])
    assert chosen == pytest.approx(max(best.values()))
    assert chosen > 0.5  # most of its variance is the target token's identity


# --- the flow ----------------------------------------------------------------------------------------------
def test_new_player_is_offered_the_tutorial(app: FastAPI, db_url: str) -> None:
    p = Player(app, db_url)
    home = p.client.get("/")
    assert 'id="tutorial-offer"' in home.text and 'href="/tutorial"' in home.text
    t = p.client.get("/api/tutorial").json()
    assert t["offered"] and t["done_at"] is None and t["game_id"] is None
    assert t["unit_id"].startswith("tiny-gelu/") and "/neuron/" in t["unit_id"]
    assert t["level"] == TUTORIAL_LEVEL and t["rounds"] == TUTORIAL_ROUNDS
    assert [lv["level"] for lv in t["levels"]] == [0, 1, 2, 3]
    page = p.client.get("/tutorial").text
    assert 'id="skip"' in page and "Skip tutorial" in page
    assert '<label for="tut-guess">' in page and 'id="tut-guess"' in page
    for lv in t["levels"]:
        assert f"<strong>{lv['level']} · {lv['name']}</strong>" in page  # one line per level


def test_skip_is_remembered_in_the_store(app: FastAPI, db_url: str) -> None:
    p = Player(app, db_url)
    assert p.client.post("/api/tutorial/skip").status_code == 403  # CSRF like every POST
    r = p.post("/api/tutorial/skip")
    assert r.status_code == 200 and not r.json()["offered"] and r.json()["done_at"]
    assert 'id="tutorial-offer"' not in p.client.get("/").text
    fresh = create_app(WebSettings(database_url=db_url, secret_key="test-secret"))  # a new process: no memory
    again = TestClient(fresh, cookies=dict(p.client.cookies))
    assert again.get("/api/tutorial").json()["done_at"] == r.json()["done_at"]
    q = Player(app, db_url)  # the home banner's form
    form = q.client.post("/tutorial/skip", data={"csrf_token": q.csrf}, follow_redirects=False)
    assert form.status_code == 303 and form.headers["location"] == "/"
    assert not q.client.get("/api/tutorial").json()["offered"]


def shown_values(rnd: dict[str, Any], played: list[tuple[str, float, float]]) -> list[float]:
    """Values the player was shown legitimately: the answered truths, the references and the level-0 stats.
    Activations are stored in float16, so an unanswered truth often equals one of them exactly; such a truth
    cannot be told apart from its legitimate twin and is not scanned for."""
    hints = rnd["hints"]
    return [t for _, _, t in played] + [r["value"] for r in hints["references"]] + list(hints["stats"].values())


def play_tutorial(p: Player, strategy: str) -> tuple[str, list[tuple[str, float, float]]]:
    """Play the tutorial game to the end; before every guess, scan for the unanswered truths. Returns the game
    id and (round id, guess, truth) per round."""
    game = p.post("/api/tutorial")
    assert game.status_code == 201, game.text
    game_id = game.json()["game_id"]
    with p.sessions() as s:
        stored = s.get(Game, game_id)
        assert stored is not None and stored.policy == TUTORIAL_POLICY and stored.level == TUTORIAL_LEVEL
        truths = {r.id: r.actual for r in stored.rounds}
    assert len(truths) == TUTORIAL_ROUNDS
    played = []
    for _ in range(TUTORIAL_ROUNDS):
        rnd = p.client.get(f"/api/games/{game_id}/round").json()["round"]
        unanswered = [v for k, v in truths.items() if k not in {r for r, _, _ in played}]
        secrets = [v for v in unanswered if not truth_hits(shown_values(rnd, played), [v])]
        assert secrets or played, "nothing left to scan for"
        assert scan(p, game_id, rnd["round_id"], secrets) == []
        if strategy == "finish-early" and played:
            assert p.post("/api/tutorial/finish", {"game_id": game_id}).status_code == 409
        value = truths[rnd["round_id"]] if strategy == "perfect" else rnd["hints"]["stats"]["mean"]
        g = p.post(f"/api/rounds/{rnd['round_id']}/guess", {"token": rnd["token"], "value": value})
        assert g.status_code == 200 and g.json()["actual"] == truths[rnd["round_id"]]
        played.append((rnd["round_id"], value, truths[rnd["round_id"]]))
    return game_id, played


def expected_points(p: Player, player_id: str, game_id: str) -> float:
    """The player's (or a bot's) insight points on the game's rounds, from their stored guesses, by game.scoring."""
    with p.sessions() as s:
        game = s.get(Game, game_id)
        assert game is not None
        rounds = {r.id: r for r in game.rounds}
        guesses = s.scalars(select(Guess).where(Guess.player_id == player_id, Guess.round_id.in_(rounds))).all()
        assert len(guesses) == len(rounds)
        return sum(
            insight_points(
                g.value,
                rounds[g.round_id].actual,
                rounds[g.round_id].payload["hints"]["stats"]["mean"],
                rounds[g.round_id].scale,
                Level(game.level).multiplier,
            )
            for g in guesses
        )


def test_tutorial_to_the_end_beats_the_mean_bot(app: FastAPI, db_url: str) -> None:
    p = Player(app, db_url)
    game_id, played = play_tutorial(p, "finish-early")
    # stored like every play: the player's guesses with the closeness score and insight points
    with p.sessions() as s:
        rows = s.scalars(select(Guess).where(Guess.player_id == p.id)).all()
        assert sorted(g.round_id for g in rows) == sorted(r for r, _, _ in played)
    r = p.post("/api/tutorial/finish", {"game_id": game_id})
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["points"] == 0.0  # guessing the unit mean earns nothing
    mean_bot = expected_points(p, bot_player_id("mean", "1"), game_id)  # the bot's stored plays on these rounds
    assert res["mean_bot_points"] == pytest.approx(mean_bot) and res["beat_mean_bot"] is False
    assert not p.client.get("/api/tutorial").json()["offered"]  # finishing counts as done

    q = Player(app, db_url)
    game_id, played = play_tutorial(q, "perfect")
    res = q.post("/api/tutorial/finish", {"game_id": game_id}).json()
    assert res["points"] == pytest.approx(expected_points(q, q.id, game_id)) and res["points"] > 0
    assert res["mean_bot_points"] == pytest.approx(expected_points(q, bot_player_id("mean", "1"), game_id))
    assert res["beat_mean_bot"] is True and res["points"] == pytest.approx(res["max_points"])
    assert 'id="tutorial-offer"' not in q.client.get("/").text


def test_finish_only_your_own_tutorial_game(app: FastAPI, db_url: str) -> None:
    p, other = Player(app, db_url), Player(app, db_url)
    game_id = p.post("/api/tutorial").json()["game_id"]
    assert other.post("/api/tutorial/finish", {"game_id": game_id}).status_code == 404
    plain = p.post("/api/games", {"unit": "tiny-gelu/blocks.0.mlp.post/neuron/3", "level": 1, "rounds": 1}).json()
    assert p.post("/api/tutorial/finish", {"game_id": plain["game_id"]}).status_code == 404  # not a tutorial game
    assert p.post("/api/tutorial/finish", {"game_id": game_id}).status_code == 409  # not finished
