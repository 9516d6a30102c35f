"""Finders on a sweep end to end on micro models: `finders run --sweep` scores every neuron of every model and
skips what is scored, the sweep-bots rounds never share a window with the finders' rounds, and `finders eval
--sweep` ranks the finders (CSV + PNG)."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from mirrorneuron.cli import app
from mirrorneuron.config import BUILTIN_CORPORA
from mirrorneuron.finders import site_data
from mirrorneuron.finders.imitability import N_ROUNDS
from mirrorneuron.game import SamplingPlan, draw_examples
from mirrorneuron.gameplay.local import local_store
from mirrorneuron.gameplay.sweep_bots import finder_windows, sweep_harvest
from mirrorneuron.store.models import UnitScore
from mirrorneuron.types import UnitRef
from mirrorneuron.units import unit_context
from mirrorneuron.units.open import neuron_sites

runner = CliRunner()
WINDOWS = 200  # 100 held-out windows: the finders' 40 rounds and the bots' 8 more


@pytest.fixture
def micro_sweep(tmp_path: Path, isolated_home: Path) -> Path:
    text = gzip.decompress((BUILTIN_CORPORA / "austen.txt.gz").read_bytes()).decode()[:80_000]
    corpus = tmp_path / "micro.txt"
    corpus.write_text(text)
    spec = {
        "name": "micro",
        "base": {
            "task": "lm",
            "corpus": str(corpus),
            "transformer": {"vocab_size": 300, "d_model": 16, "n_heads": 2, "n_layers": 1, "d_mlp": 32, "n_ctx": 16},
            "steps": 12,
            "batch_size": 8,
        },
        "grid": {"transformer.act_fn": ["relu", "gelu"]},
        "seeds": [0],
    }
    path = tmp_path / "micro.yaml"
    path.write_text(yaml.safe_dump(spec))
    res = runner.invoke(app, ["zoo", "sweep", str(path)])
    assert res.exit_code == 0, res.output
    return path


def test_finders_on_a_sweep_then_their_ranking(micro_sweep: Path, isolated_home: Path) -> None:
    early = runner.invoke(app, ["finders", "eval", "--sweep", str(micro_sweep)])
    assert early.exit_code != 0 and "sweep-bots" in str(early.exception)
    res = runner.invoke(
        app, ["zoo", "sweep-bots", str(micro_sweep), "--units", "2", "--rounds", "8", "--windows", str(WINDOWS)]
    )
    assert res.exit_code == 0, res.output
    some = ["-f", "kurtosis", "-f", "random", "-f", "imitability_knn_l1", "--windows", str(WINDOWS)]
    res = runner.invoke(app, ["finders", "run", "--sweep", str(micro_sweep), *some])
    assert res.exit_code == 0, res.output
    with local_store() as s:
        rows = s.scalars(select(UnitScore)).all()
        first = {(r.unit_id, r.finder): r.created_at for r in rows}
    models = {u.split("/")[0] for u, _ in first}
    assert models == {"micro-act_fn_relu-s0", "micro-act_fn_gelu-s0"}
    finders = {f for _, f in first}
    assert finders == {"kurtosis", "random", "imitability_knn_l1"}
    assert len(first) == len(finders) * 2 * 32  # every finder × every neuron (d_mlp 32) of both models
    again = runner.invoke(app, ["finders", "run", "--sweep", str(micro_sweep), *some])
    assert again.exit_code == 0, again.output
    with local_store() as s:
        assert {(r.unit_id, r.finder): r.created_at for r in s.scalars(select(UnitScore))} == first  # skipped
    played = {(r["model"], r["unit"]) for r in _plays(isolated_home)}
    slow = ["-f", "imitability_ridge_l2", "--played-only", "--bot-units", "2", "--windows", str(WINDOWS)]
    res = runner.invoke(app, ["finders", "run", "--sweep", str(micro_sweep), *slow])
    assert res.exit_code == 0, res.output
    with local_store() as s:
        ridge2 = s.scalars(select(UnitScore).where(UnitScore.finder == "imitability_ridge_l2")).all()
    assert {(r.unit_id.split("/")[0], r.unit_id) for r in ridge2} == played and len(played) == 4
    finders.add("imitability_ridge_l2")
    res = runner.invoke(app, ["finders", "eval", "--sweep", str(micro_sweep), "--boot", "20"])
    assert res.exit_code == 0, res.output
    out = isolated_home / "sweeps" / "micro"
    with (out / "finders.csv").open() as f:
        ranked = list(csv.DictReader(f))
    assert {r["finder"] for r in ranked} == finders and [r["rank"] for r in ranked] == [
        str(i) for i in range(1, len(finders) + 1)
    ]
    assert all(r["n"] == "4" for r in ranked)  # the 2 played units of each model
    assert ranked[0]["spearman"] and "spearman_other_bots" in ranked[0]
    assert (out / "finders.png").read_bytes()[:4] == b"\x89PNG"
    with (out / "finders_by_model.csv").open() as f:
        assert {r["scope"] for r in csv.DictReader(f)} == {*models, "pooled"}


def test_the_bots_rounds_share_no_window_with_the_finders_rounds(micro_sweep: Path) -> None:
    name = "micro-act_fn_gelu-s0"
    adapter, h = sweep_harvest(name, WINDOWS)
    site = neuron_sites(adapter, h)[0]
    data = site_data(h, adapter, site)
    plan = SamplingPlan(seed=data.seed)
    overlaps_without = 0
    for j in range(0, data.n_units, 8):
        ctx = unit_context(adapter, h, UnitRef(name, site, "neuron", j))
        finders = draw_examples(data.unit(j), N_ROUNDS, plan, training=data.training)  # what the finders ask
        asked = finder_windows(ctx)
        assert np.array_equal(np.flatnonzero(asked), np.sort([d.index for d in finders.draws]))
        bots = draw_examples(ctx, 8, SamplingPlan(seed=0), exclude=asked)
        finder_groups = {int(data.groups[d.index]) for d in finders.draws}
        assert not finder_groups & {int(data.groups[d.index]) for d in bots.draws}
        unguarded = draw_examples(ctx, 8, SamplingPlan(seed=0))  # the planted fault: no exclusion
        overlaps_without += bool(finder_groups & {int(data.groups[d.index]) for d in unguarded.draws})
    assert overlaps_without > 0  # without the exclusion the bots would replay the finders' items



def _plays(home: Path) -> list[dict[str, str]]:
    with (home / "sweeps" / "micro" / "bot_plays.csv").open() as f:
        return list(csv.DictReader(f))
