"""`finders run --sweep` resumes by skipping finders already scored; a stored NULL counts as scored (a dead
unit's imitability stays NULL) unless `--rescore-missing`, which reruns a finder whose scores include a NULL
(e.g. sae_alignment scored before the model's SAE was trained)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli_run import run_main
from mirrorneuron.cli import app
from mirrorneuron.finders import Finder, SiteData
from mirrorneuron.gameplay import finding
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.store.db import make_engine, migrate, session_factory
from mirrorneuron.store.scores import scores_frame

MODEL = "tiny-gelu"


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Harvest:
    return harvest(zoo_adapter(MODEL), HarvestSpec(max_windows=20), tmp_path_factory.mktemp("rescore") / "h")


@pytest.fixture
def s(tmp_path: Path) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    migrate(engine)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


class Pending(Finder):
    """NULL for every unit until ``ready`` (stands for sae_alignment before the SAE is trained)."""

    name, version, describe = "pending", "1", "NaN until ready"
    ready = False

    def score(self, data: SiteData) -> np.ndarray:
        return np.arange(data.n_units, dtype=np.float64) if self.ready else np.full(data.n_units, np.nan)


def _sweep(s: Session, f: Finder, rescore_missing: bool) -> int:
    """Units the finder scored in one sweep run over the model (0: skipped as done)."""
    runs = finding.run_sweep_finders(s, [MODEL], [f], 20, rescore_missing=rescore_missing)[MODEL]
    return sum(r.scores.size for r in runs)


def test_a_stored_null_is_rescored_only_with_rescore_missing(
    h: Harvest, s: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = zoo_adapter(MODEL)
    monkeypatch.setattr(finding, "sweep_harvest", lambda name, windows: (adapter, h))
    monkeypatch.setattr(finding, "ensure_harvest", lambda adapter, folder=None: h)
    f = Pending()
    n_units = sum(h.width(site) for site in finding._sites(adapter, h))
    assert _sweep(s, f, False) == n_units  # first run: every unit, all NULL
    f.ready = True
    assert _sweep(s, f, False) == 0  # NULL counts as done by default (resumable; dead units stay NULL)
    assert scores_frame(s, MODEL)["score"].isna().all()
    assert _sweep(s, f, True) == n_units  # --rescore-missing: the NULLs are scored again
    assert scores_frame(s, MODEL)["score"].notna().all()
    assert _sweep(s, f, True) == 0  # nothing missing any more: skipped


def test_rescore_missing_is_documented_and_needs_a_sweep(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    res = CliRunner().invoke(app, ["finders", "run", "--help"], terminal_width=200)
    assert "--rescore-missing" in res.output and "NULL" in res.output
    code, _, err = run_main(["finders", "run", "--rescore-missing", "-f", "random"], capsys, monkeypatch)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "--rescore-missing goes with --sweep" in lines[0], err
