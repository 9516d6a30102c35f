"""Studies on the web: create from YAML/JSON, share the link, play, watch progress, export."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import web_fixtures as fx
from fastapi import FastAPI
from fastapi.testclient import TestClient

web_home, isolated_home, db_url, app = fx.web_home, fx.isolated_home, fx.db_url, fx.app

UNITS = ["tiny-gelu/blocks.0.mlp.post/neuron/11", "tiny-gelu/blocks.1.mlp.post/neuron/12"]
YAML = f"""
name: web test study
units:
  - {UNITS[0]}
  - {UNITS[1]}
levels: [0, 2]
rounds_per_unit: 3
feedback: {{feedback}}
practice_rounds: 2
sampling: {{{{top: 0.2, bins: 0.5, random: 0.3}}}}
seed: 4
design: within
"""


class Player:
    def __init__(self, app: FastAPI) -> None:
        self.client = TestClient(app)
        self.seen: list[str] = []
        me = self.get("/api/players/me").json()
        self.id, self.csrf = me["player_id"], me["csrf_token"]

    def get(self, url: str, **kw: Any) -> Any:
        r = self.client.get(url, **kw)
        self.seen.append(r.text)
        return r

    def post(self, url: str, json: Any = None, **kw: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        r = self.client.post(url, json=json, headers=headers, **kw)
        self.seen.append(r.text)
        return r

    def play_game(self, game_id: str, value: float = 0.2) -> list[dict[str, Any]]:
        out = []
        while not (nxt := self.get(f"/api/games/{game_id}/round").json())["done"]:
            rnd = nxt["round"]
            r = self.post(f"/api/rounds/{rnd['round_id']}/guess", {"token": rnd["token"], "value": value})
            assert r.status_code == 200, r.text
            out.append(r.json())
        return out


@pytest.fixture(scope="module")
def owner(app: FastAPI) -> Player:
    return Player(app)


@pytest.fixture(scope="module")
def study(owner: Player) -> dict[str, Any]:
    r = owner.post("/api/studies", content=YAML.format(feedback="true"), headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_create_from_yaml_gives_links_and_empty_progress(study: dict[str, Any]) -> None:
    assert study["share_url"].endswith(f"/s/{study['study_id']}")
    assert study["config"]["units"] == UNITS and study["config"]["levels"] == [0, 2]
    assert study["progress"]["players"] == 0 and len(study["progress"]["cells"]) == 4
    assert study["progress"]["target_guesses_per_player"] == 12


def test_create_from_json_and_form(app: FastAPI, owner: Player) -> None:
    cfg = {"name": "json study", "units": UNITS[:1], "levels": [1], "rounds_per_unit": 2}
    r = owner.post("/api/studies", cfg)
    assert r.status_code == 201 and r.json()["config"]["feedback"] is True
    page = owner.get("/studies/new")
    assert page.status_code == 200 and "Create a study" in page.text
    form = owner.client.post(
        "/studies", data={"csrf_token": owner.csrf, "config": YAML.format(feedback="false")}, follow_redirects=False
    )
    assert form.status_code == 303 and form.headers["location"].startswith("/studies/")
    upload = owner.client.post(
        "/studies",
        data={"csrf_token": owner.csrf},
        files={"file": ("study.yaml", YAML.format(feedback="true").encode(), "application/yaml")},
        follow_redirects=False,
    )
    assert upload.status_code == 303
    progress = owner.get(form.headers["location"])
    assert progress.status_code == 200 and "Share this link" in progress.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nunits: [a]\nlevels: [1]\nrounds_per_unit: 2\ncolour: red", "colour"),
        ("name: x\nunits: [tiny-gelu/blocks.0.mlp.post/neuron/1]\nlevels: [7]\nrounds_per_unit: 2", "levels"),
        ("name: x\nunits: [tiny-gelu/blocks.0.mlp.post/neuron/999]\nlevels: [1]\nrounds_per_unit: 2", "out of range"),
        ("name: x\nunits: [nope/site/neuron/1]\nlevels: [1]\nrounds_per_unit: 2", "unknown model"),
        ("name: [unclosed", "YAML"),
    ],
)
def test_bad_configs_are_clear_422(owner: Player, text: str, message: str) -> None:
    r = owner.post("/api/studies", content=text, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 422 and message in r.json()["detail"], r.text
    form = owner.client.post("/studies", data={"csrf_token": owner.csrf, "config": text})
    assert form.status_code == 422 and message in form.text


def test_share_link_plays_practice_then_units_by_levels(app: FastAPI, owner: Player, study: dict[str, Any]) -> None:
    sid = study["study_id"]
    p = Player(app)
    page = p.get(f"/s/{sid}")
    assert page.status_code == 200 and "web test study" in page.text and "Start" in page.text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token and token.group(1) == p.csrf
    r = p.client.post(f"/s/{sid}", data={"csrf_token": p.csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/play/")
    invite = p.get(f"/api/s/{sid}").json()
    games = invite["games"]
    assert invite["joined"] and len(games) == 5
    assert games[0]["practice"] and games[0]["unit_id"] not in UNITS and games[0]["rounds"] == 2
    assert [(g["unit_id"], g["level"]) for g in games[1:]] == [(u, lv) for u in UNITS for lv in (0, 2)]
    assert r.headers["location"] == f"/play/{games[0]['game_id']}"
    assert p.post(f"/api/s/{sid}").json()["games"] == games  # joining again changes nothing
    order = []
    game_id = invite["next_game_id"]
    while game_id:
        order.append(game_id)
        p.play_game(game_id)
        game_id = p.get(f"/api/games/{game_id}").json()["next_game_id"]
    assert order == [g["game_id"] for g in games]
    done = p.get(f"/api/s/{sid}").json()
    assert done["next_game_id"] is None and all(g["answered"] == g["rounds"] for g in done["games"])
    assert "All done" in p.get(f"/s/{sid}").text
    # everyone gets the same rounds
    q = Player(app)
    q.post(f"/api/s/{sid}")
    mine = p.get(f"/api/games/{games[1]['game_id']}").json()
    theirs_id = q.get(f"/api/s/{sid}").json()["games"][1]["game_id"]
    theirs = q.get(f"/api/games/{theirs_id}/round").json()["round"]
    first = p.get(f"/api/rounds/{mine['results'][0]['round_id']}/reveal").json()
    assert first["window"]["tokens"] == theirs["example"]["tokens"]  # the same example, shaded after the reveal

    progress = owner.get(f"/api/studies/{sid}").json()["progress"]
    assert progress["players"] == 2 and progress["games_finished"] == 4 and progress["guesses"] == 12
    assert all(c["guesses"] == 3 and c["players"] == 1 for c in progress["cells"])
    # within a player, the levels of a unit ask disjoint examples (and windows)
    for unit in UNITS:
        level_games = [g["game_id"] for g in games[1:] if g["unit_id"] == unit]
        items = [{r["window"]["tokens"].__repr__() for r in reveals(p, gid)} for gid in level_games]
        assert len(items) == 2 and not items[0] & items[1]


def reveals(p: Player, game_id: str) -> list[dict[str, Any]]:
    view = p.get(f"/api/games/{game_id}").json()
    return [p.get(f"/api/rounds/{r['round_id']}/reveal").json() for r in view["results"]]


def test_between_players_design_rotates_levels_and_shares_items(app: FastAPI, owner: Player) -> None:
    text = YAML.format(feedback="true").replace("design: within", "design: between").replace("practice_rounds: 2", "practice_rounds: 0")
    sid = owner.post("/api/studies", content=text, headers={"Content-Type": "application/yaml"}).json()["study_id"]
    p, q = Player(app), Player(app)
    mine, theirs = p.post(f"/api/s/{sid}").json()["games"], q.post(f"/api/s/{sid}").json()["games"]
    assert [(g["unit_id"], g["level"]) for g in mine] == [(UNITS[0], 0), (UNITS[1], 2)]
    assert [(g["unit_id"], g["level"]) for g in theirs] == [(UNITS[0], 2), (UNITS[1], 0)]  # Latin square
    for g in mine + theirs:
        p_or_q = p if g in mine else q
        p_or_q.play_game(g["game_id"])
    for a, b in zip(mine, theirs, strict=True):  # same unit, other level, the same items in the same order
        ta = [r["window"]["tokens"] for r in reveals(p, a["game_id"])]
        tb = [r["window"]["tokens"] for r in reveals(q, b["game_id"])]
        assert ta == tb


def test_feedback_off_study_never_reveals(app: FastAPI, owner: Player) -> None:
    r = owner.post("/api/studies", content=YAML.format(feedback="false"), headers={"Content-Type": "application/yaml"})
    sid = r.json()["study_id"]
    p = Player(app)
    invite = p.post(f"/api/s/{sid}").json()
    games = invite["games"]
    real = [g for g in games if not g["practice"]]
    guesses = []
    for g in real:
        p.get(f"/play/{g['game_id']}")
        guesses += p.play_game(g["game_id"])
        view = p.get(f"/api/games/{g['game_id']}").json()
        assert not view["feedback"] and view["summary"]["you"] is None and view["summary"]["bots"] == []
        assert all(res["actual"] is None and res["score"] is None for res in view["results"])
        assert all(res["points"] is None and res["max_points"] is None for res in view["results"])
    assert all(x["actual"] is None and x["score"] is None and x["points"] is None for x in guesses)
    assert all(x["max_points"] is None for x in guesses)
    assert p.get(f"/api/rounds/{guesses[0]['round_id']}/reveal").status_code == 403
    practice = next(g for g in games if g["practice"])
    assert p.play_game(practice["game_id"])[0]["actual"] is not None  # the warm-up has feedback
    exported = owner.get(f"/api/studies/{sid}/export.csv").text
    rows = list(csv.DictReader(io.StringIO(exported)))
    secrets = {float(row["actual"]) for row in rows if row["practice"] == "false"}
    # a level-1 reference is another (training, never asked) example; its fp16 value may equal a truth by chance
    shown_refs = {float(v) for text in p.seen for v in re.findall(r'"kind":"(?:top|random)","value":(-?[0-9.e-]+)', text)}
    secrets -= shown_refs
    for text in p.seen:  # none of the study's true values reached the participant
        for value in secrets:
            if len(repr(value).strip("-0.")) >= 3:
                assert repr(value) not in text
    assert all(g["mean_score"] is None for g in p.get(f"/api/players/{p.id}").json()["games"] if not g["feedback"])


def test_progress_and_export_are_for_the_owner(app: FastAPI, owner: Player, study: dict[str, Any]) -> None:
    sid = study["study_id"]
    stranger = Player(app)
    assert stranger.get(f"/api/studies/{sid}").status_code == 403
    assert stranger.get(f"/studies/{sid}").status_code == 403
    assert stranger.get(f"/api/studies/{sid}/export.csv").status_code == 403
    assert owner.get("/api/studies/nope").status_code == 404


def test_export_parquet_and_csv(owner: Player, study: dict[str, Any], tmp_path: Path) -> None:
    sid = study["study_id"]
    pq_resp = owner.get(f"/api/studies/{sid}/export.parquet")
    assert pq_resp.status_code == 200 and pq_resp.headers["content-type"].startswith("application/vnd.apache.parquet")
    assert "attachment" in pq_resp.headers["content-disposition"]
    path = tmp_path / "export.parquet"
    path.write_bytes(pq_resp.content)
    table = pq.read_table(path)
    assert table.num_rows >= 12 and {"unit_id", "level", "actual", "guess", "score", "study_id"} <= set(
        table.column_names
    )
    assert set(table.column("study_id").to_pylist()) == {sid}
    humans = [r for r in table.to_pylist() if r["player_kind"] == "human" and not r["practice"]]
    assert humans and {(r["design"], r["seed"], r["client"]) for r in humans} == {("within", 4, "web")}
    assert all(r["points_version"] for r in humans) and all(r["points"] is not None for r in humans)
    bots = [r for r in table.to_pylist() if r["player_kind"] == "bot"]
    assert bots and all(r["bot_name"] in {"mean", "unigram", "knn", "ridge"} and r["bot_version"] for r in bots)
    csv_resp = owner.get(f"/api/studies/{sid}/export.csv")
    assert csv_resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_resp.text)))
    assert len(rows) == table.num_rows and rows[0]["study_id"] == sid
    assert owner.get(f"/api/studies/{sid}/export.xlsx").status_code == 422


def test_unknown_study_link_is_404(app: FastAPI) -> None:
    p = Player(app)
    assert p.get("/api/s/nope").status_code == 404
    page = p.get("/s/nope", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "Not found" in page.text
