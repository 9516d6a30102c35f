"""Finders on a harvested model: scores stored once per unit and finder (a re-run replaces them), the CLI's
exit codes, bot imitability fitted on the training half only, and finder scores on the unit page (only where
the page shows level-1 facts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import store_fixtures as sf
import web_fixtures as fx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cli_run import run_main
from mirrorneuron.cli import app as cli_app
from mirrorneuron.finders import BotImitability, Finder, HeldOutViolation, SiteData, get, site_data
from mirrorneuron.game import RoundSet, UnitContext, draw_examples, training_mask
from mirrorneuron.gameplay.finding import run_finders
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.store import repo
from mirrorneuron.store.db import make_engine, migrate, session_factory
from mirrorneuron.store.models import UnitScore
from mirrorneuron.store.scores import save_scores, scores_frame, unit_scores

web_home, db_url, app = fx.web_home, fx.db_url, fx.app
pg_server, store_engine, sessions = sf.pg_server, sf.store_engine, sf.sessions
SITE = "blocks.0.mlp.post"
runner = CliRunner()


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Harvest:
    root = tmp_path_factory.mktemp("finders")
    return harvest(zoo_adapter("tiny-gelu"), HarvestSpec(max_windows=40), root / "h")


@pytest.fixture
def s(tmp_path: Path) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    migrate(engine)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


def n_rows(s: Session, finder: str | None = None) -> int:
    q = select(func.count()).select_from(UnitScore)
    return int(s.scalar(q if finder is None else q.where(UnitScore.finder == finder)) or 0)


class Shifted(Finder):
    """The density finder at a new version whose scores differ (stands for a finder whose code changed)."""

    name, version = "density", "2"

    def score(self, data: SiteData) -> np.ndarray:
        return get("density")(data) + 1.0


def test_scores_are_stored_once_per_unit_and_finder_and_a_rerun_replaces_them(h: Harvest, s: Session) -> None:
    finders = [get("density"), get("max_z"), get("unigram_r2")]
    runs = run_finders(s, "tiny-gelu", finders, h.path, sites=[SITE])
    width = h.width(SITE)
    assert [r.finder for r in runs] == ["density", "max_z", "unigram_r2"] and n_rows(s) == 3 * width
    first = scores_frame(s, "tiny-gelu")
    dens = first[first.finder == "density"].sort_values("index")
    np.testing.assert_allclose(dens.score.to_numpy(), runs[0].scores)
    run_finders(s, "tiny-gelu", [Shifted()], h.path, sites=[SITE])
    assert n_rows(s) == 3 * width and n_rows(s, "density") == width
    again = scores_frame(s, "tiny-gelu")
    dens = again[again.finder == "density"].sort_values("index")
    assert set(dens.finder_version) == {"2"}
    np.testing.assert_allclose(dens.score.to_numpy(), runs[0].scores + 1.0)
    assert scores_frame(s, "other-model").empty


def test_unit_scores_give_the_percentile_among_the_models_units(sessions: sessionmaker[Session]) -> None:
    """On SQLite and Postgres: percentiles within one model, NULL for NaN, a re-save replaces."""
    m, other = f"pm-{sf.uid()}", f"po-{sf.uid()}"
    values = [0.5, 0.1, None, 0.9, 0.1]
    with sessions() as s:
        for model in (m, other):
            repo.ensure_model(s, model, "text", "x")
            for j in range(len(values)):
                repo.ensure_unit(s, f"{model}/site/neuron/{j}", model, "site", "neuron", j, {})
        save_scores(s, "kurtosis", "1", {f"{other}/site/neuron/{j}": 100.0 for j in range(5)})  # another model
        save_scores(s, "kurtosis", "0", {f"{m}/site/neuron/{j}": -1.0 for j in range(5)})  # replaced below
        save_scores(s, "kurtosis", "1", {f"{m}/site/neuron/{j}": v for j, v in enumerate(values)})
        save_scores(s, "density", "1", {f"{m}/site/neuron/3": float("nan")})
        s.commit()
        _check_percentiles(s, m)


def _check_percentiles(s: Session, m: str) -> None:
    assert n_rows(s, "kurtosis") >= 10 and len(scores_frame(s, m)) == 6
    top = {r["finder"]: r for r in unit_scores(s, f"{m}/site/neuron/3")}
    assert top["kurtosis"]["score"] == 0.9 and top["kurtosis"]["n_units"] == 4
    assert top["kurtosis"]["percentile"] == pytest.approx(100 * 3.5 / 4)  # 3 below, itself half
    assert top["density"]["score"] is None and top["density"]["percentile"] is None
    assert top["kurtosis"]["version"] == "1"
    low = {r["finder"]: r for r in unit_scores(s, f"{m}/site/neuron/1")}
    assert low["kurtosis"]["percentile"] == pytest.approx(100 * 1.0 / 4)  # a tie with unit 4: two halves
    assert unit_scores(s, f"{m}/site/neuron/2")[0]["percentile"] is None and unit_scores(s, "nope/x/neuron/1") == []


class TrainsOnHeldOut(BotImitability):
    """Planted fault: fits the bot on the held-out windows, where its rounds are asked."""

    def fitted_mask(self, ctx: UnitContext, rs: RoundSet) -> np.ndarray:
        return ~rs.training


def test_bot_imitability_learns_from_training_windows_only(h: Harvest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compares the example ids a bot was fitted on with those its rounds asked; the planted variant that
    trains on the held-out half is caught."""
    data = site_data(h, zoo_adapter("tiny-gelu"), SITE)
    small = SiteData(data.model, data.site, data.acts[:, :3], data.groups, tokens=data.tokens, vocab=data.vocab)
    small.open_unit = data.open_unit
    seen: list[tuple[set[str], set[str]]] = []
    real_play = BotImitability.play

    def spy(
        self: BotImitability, ctx: UnitContext, plan: Any, draws: Any = None, fit_on: Any = None, rs: Any = None
    ) -> float:
        draws = draws or draw_examples(ctx, self.rounds, plan)
        fitted = np.flatnonzero(training_mask(ctx.groups) if fit_on is None else fit_on[0])
        seen.append(({h.example_id(int(i)) for i in fitted}, {h.example_id(d.index) for d in draws.draws}))
        return float(real_play(self, ctx, plan, draws, fit_on, rs))

    monkeypatch.setattr(BotImitability, "play", spy)
    scores = BotImitability("ridge", 1, rounds=12)(small)
    assert np.isfinite(scores).any() and len(seen) == 3
    train_ids = {h.example_id(int(i)) for i in np.flatnonzero(training_mask(data.groups))}
    for fitted_ids, asked_ids in seen:
        assert fitted_ids <= train_ids and not asked_ids & fitted_ids
    monkeypatch.undo()
    with pytest.raises(HeldOutViolation):
        TrainsOnHeldOut("ridge", 1, rounds=12)(small)


def test_level_2_and_3_imitability_run_the_model(h: Harvest) -> None:
    data = site_data(h, zoo_adapter("tiny-gelu"), SITE)
    small = SiteData(data.model, data.site, data.acts[:, :2], data.groups, tokens=data.tokens, vocab=data.vocab)
    small.open_unit = data.open_unit
    l3 = get("imitability_ridge_l3")
    assert l3.slow and np.isfinite(BotImitability("ridge", 3, rounds=8)(small)).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["finders", "run", "no-such-model"], "unknown model"),
        (["finders", "run", "tiny-gelu", "--finder", "nope"], "unknown finder 'nope'"),
        (["finders", "run", "tiny-gelu", "--finder", "no_such_pkg_q:F"], "cannot import"),
        (["finders", "run", "tiny-gelu", "--finder", "density", "--site", "blocks.9.mlp.post"], "site"),
    ],
)
def test_bad_finder_runs_are_one_line_and_exit_2(
    args: list[str], message: str, h: Harvest, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_main([*args, "--harvest", str(h.path)], capsys, monkeypatch)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], err


def test_cli_lists_and_runs_finders_into_the_local_store(h: Harvest, isolated_home: Path) -> None:
    listed = runner.invoke(cli_app, ["finders", "list"])
    assert listed.exit_code == 0 and "imitability_ridge_l1" in listed.output and "sae_alignment" in listed.output
    res = runner.invoke(
        cli_app,
        ["finders", "run", "tiny-gelu", "-f", "density", "-f", "kurtosis", "--site", SITE, "--harvest", str(h.path)],
    )
    assert res.exit_code == 0, (res.output, res.exception)
    assert "kurtosis" in res.output and f"stored {2 * h.width(SITE)} scores" in res.output
    engine = make_engine(f"sqlite:///{isolated_home / 'mirrorneuron.db'}")
    with session_factory(engine)() as s:
        assert n_rows(s) == 2 * h.width(SITE)
    engine.dispose()


# --- the unit page ------------------------------------------------------------------------------------------
UNIT = "tiny-gelu/blocks.0.mlp.post/neuron/11"


@pytest.fixture(scope="module")
def scored(app: FastAPI, db_url: str) -> dict[str, float]:
    """Planted kurtosis scores for units 10–14 of tiny-gelu's first MLP in the web app's store."""
    TestClient(app).get("/api/health")
    values = {f"tiny-gelu/blocks.0.mlp.post/neuron/{j}": float(j) for j in range(10, 15)}
    engine = make_engine(db_url)
    migrate(engine)
    with session_factory(engine)() as s:
        repo.ensure_model(s, "tiny-gelu", "text", "planted")
        for uid in values:
            repo.ensure_unit(s, uid, "tiny-gelu", SITE, "neuron", int(uid.rsplit("/", 1)[1]), {})
        save_scores(s, "kurtosis", "1", values)
        s.commit()
    engine.dispose()
    return values


class Browser:
    def __init__(self, app: FastAPI) -> None:
        self.client = TestClient(app)
        me = self.client.get("/api/players/me").json()
        self.csrf = me["csrf_token"]

    def post(self, url: str, body: dict[str, Any]) -> Any:
        return self.client.post(url, json=body, headers={"X-CSRF-Token": self.csrf})


def shows_scores(b: Browser, unit: str = UNIT) -> bool:
    """Whether the unit's JSON or HTML page carries its finder scores (a 403 shows nothing)."""
    api, page = b.client.get(f"/api/units/{unit}"), b.client.get(f"/units/{unit}")
    if api.status_code == 403:
        assert page.status_code == 403 and "kurtosis" not in api.text
        return False
    assert api.status_code == 200 and page.status_code == 200, api.text
    return bool(api.json()["finders"]) or "Finder scores" in page.text


def test_unit_page_shows_scores_with_percentiles(app: FastAPI, scored: dict[str, float]) -> None:
    b = Browser(app)
    out = b.client.get(f"/api/units/{UNIT}").json()["finders"]
    assert out == [{"finder": "kurtosis", "version": "1", "score": 11.0, "percentile": 30.0, "n_units": 5}]
    page = b.client.get(f"/units/{UNIT}").text
    assert "Finder scores" in page and "kurtosis" in page and "+11.000" in page


def test_scores_are_withheld_with_the_level_1_facts(
    app: FastAPI, scored: dict[str, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A viewer with an open game on the unit sees no top examples and no finder scores; an open study
    locks the page (403) for everyone. Planted fault: the open-game check answers "no game" → caught."""
    b = Browser(app)
    assert shows_scores(b)
    assert b.post("/api/games", {"unit": UNIT, "level": 1, "rounds": 3}).status_code == 201
    assert not shows_scores(b) and b.client.get(f"/api/units/{UNIT}").json()["withheld"]
    import mirrorneuron.web.routers.units as units_router

    with monkeypatch.context() as mp:
        mp.setattr(units_router, "has_open_game", lambda s, player, unit_id: False)
        assert shows_scores(b)  # the check above would have caught this leak
    other = "tiny-gelu/blocks.0.mlp.post/neuron/12"
    owner = Browser(app)
    study = owner.post(
        "/api/studies",
        {"name": "lock", "units": [other], "levels": [1], "rounds_per_unit": 2, "practice_rounds": 0},
    )
    assert study.status_code == 201, study.text
    try:
        assert not shows_scores(Browser(app), other) and not shows_scores(owner, other)
    finally:
        owner.post(f"/api/studies/{study.json()['study_id']}/close", {})
    assert shows_scores(Browser(app), other)
