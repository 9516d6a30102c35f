"""Sweeps end to end on micro models: train + register with attributes, skip what is done, resume after
SIGKILL with the same result as an uninterrupted run, and the bot-only imitability run."""

from __future__ import annotations

import csv
import gzip
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from sqlalchemy import func, select
from typer.testing import CliRunner

from mirrorneuron.cli import app
from mirrorneuron.config import BUILTIN_CORPORA
from mirrorneuron.gameplay.local import local_store
from mirrorneuron.gameplay.sweep_bots import register_models
from mirrorneuron.models.sweep import expand, load_spec, read_manifest, run_sweep
from mirrorneuron.store.models import Game, Model

runner = CliRunner()


@pytest.fixture(scope="module")
def micro_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~80 kB of Austen: enough text for a 300-token BPE and a few training windows, trained in a blink."""
    text = gzip.decompress((BUILTIN_CORPORA / "austen.txt.gz").read_bytes()).decode()[:80_000]
    path = tmp_path_factory.mktemp("corpus") / "micro.txt"
    path.write_text(text)
    return path


def _spec_file(folder: Path, corpus: Path, seeds: list[int], name: str = "micro") -> Path:
    spec = {
        "name": name,
        "base": {
            "task": "lm",
            "corpus": str(corpus),
            "transformer": {"vocab_size": 300, "d_model": 16, "n_heads": 2, "n_layers": 1, "d_mlp": 32, "n_ctx": 16},
            "steps": 12,
            "batch_size": 8,
        },
        "grid": {"transformer.act_fn": ["relu", "solu_ln"]},
        "seeds": seeds,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _mtimes(zoo: Path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime_ns for p in zoo.glob("*/model.safetensors")}


def test_sweep_trains_registers_and_a_second_run_skips_all(
    micro_corpus: Path, tmp_path: Path, isolated_home: Path
) -> None:
    spec = load_spec(_spec_file(tmp_path, micro_corpus, [0, 1]))
    rows = run_sweep(spec)
    assert [r["status"] for r in rows] == ["trained"] * 4
    zoo = isolated_home / "zoo"
    assert len(_mtimes(zoo)) == 4
    assert read_manifest("micro")["models"] == rows
    with local_store() as s:
        register_models(s, [r["name"] for r in rows])
        stored = {m.id: m.attributes for m in s.scalars(select(Model))}
    for m in expand(spec):
        assert stored[m.name] == rows[[r["name"] for r in rows].index(m.name)]["attributes"]
        assert stored[m.name]["activation"] == m.config.activation and stored[m.name]["seed"] == m.config.seed
        assert stored[m.name]["val_loss"] > 0 and stored[m.name]["unigram_val_loss"] > 0
    before = _mtimes(zoo)
    again = run_sweep(spec)
    assert [r["status"] for r in again] == ["skipped"] * 4
    assert _mtimes(zoo) == before
    # a game stored later (ensure_model without attributes) keeps the registered attributes
    with local_store() as s:
        from mirrorneuron.store import repo

        repo.ensure_model(s, rows[0]["name"], "text", "other")
        s.commit()
        assert s.get(Model, rows[0]["name"]).attributes == rows[0]["attributes"]


def test_a_half_written_checkpoint_does_not_count_as_done(
    micro_corpus: Path, tmp_path: Path, isolated_home: Path
) -> None:
    spec = load_spec(_spec_file(tmp_path, micro_corpus, [0]))
    first = expand(spec)[0]
    # planted: what a non-atomic writer killed mid-save would leave (weights + config, no metrics)
    half = isolated_home / "zoo" / first.name
    half.mkdir(parents=True)
    (half / "config.json").write_text(first.config.model_dump_json())
    (half / "model.safetensors").write_bytes(b"\x00" * 10)
    rows = run_sweep(spec)
    assert rows[0]["status"] == "trained" and rows[0]["attributes"]["val_loss"] is not None
    assert load_file(str(half / "model.safetensors"))  # the real weights replaced the half file
    # a changed config is not "done" either
    changed = load_spec(_spec_file(tmp_path, micro_corpus, [0])).model_copy(update={"base": spec.base | {"steps": 13}})
    assert [r["status"] for r in run_sweep(changed)] == ["trained", "trained"]


CHILD = """
import os, signal, sys
from mirrorneuron.models.sweep import load_spec, run_sweep

def progress(e):
    if e.index == 2 and e.status == "training" and e.step == 5:
        os.kill(os.getpid(), signal.SIGKILL)  # mid-training of the third model, two finished

run_sweep(load_spec(sys.argv[1]), progress)
"""


def test_sigkill_mid_sweep_resumes_without_retraining_and_matches_an_uninterrupted_run(
    micro_corpus: Path, tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec_file = _spec_file(tmp_path, micro_corpus, [0, 1])
    env = os.environ | {"MIRRORNEURON_HOME": str(isolated_home), "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(spec_file)], env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    zoo = isolated_home / "zoo"
    names = [m.name for m in expand(load_spec(spec_file))]
    finished = _mtimes(zoo)
    assert sorted(finished) == sorted(names[:2])
    assert [m["name"] for m in read_manifest("micro")["models"]] == names[:2]

    rows = run_sweep(load_spec(spec_file))
    assert [r["status"] for r in rows] == ["skipped", "skipped", "trained", "trained"]
    assert {n: t for n, t in _mtimes(zoo).items() if n in finished} == finished  # not retrained
    assert not list(zoo.glob(".*"))  # no temporary folder left behind

    clean_home = tmp_path / "clean"
    monkeypatch.setenv("MIRRORNEURON_HOME", str(clean_home))
    clean = run_sweep(load_spec(spec_file))
    assert [r["attributes"] | {"train_seconds": 0} for r in clean] == [
        r["attributes"] | {"train_seconds": 0} for r in rows
    ]
    for n in names:
        a, b = (
            load_file(str(zoo / n / "model.safetensors")),
            load_file(str(clean_home / "zoo" / n / "model.safetensors")),
        )
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), n


def test_cli_sweep_then_sweep_bots_writes_the_imitability_table(
    micro_corpus: Path, tmp_path: Path, isolated_home: Path
) -> None:
    spec_file = _spec_file(tmp_path, micro_corpus, [0])
    dry = runner.invoke(app, ["zoo", "sweep", str(spec_file), "--dry-run"])
    assert dry.exit_code == 0 and "2 models" in dry.output and not (isolated_home / "zoo").exists()
    early = runner.invoke(app, ["zoo", "sweep-bots", str(spec_file)])
    assert early.exit_code != 0 and "has not run yet" in str(early.exception)
    res = runner.invoke(app, ["zoo", "sweep", str(spec_file)])
    assert res.exit_code == 0, res.output
    assert "2 models registered with their attributes" in res.output
    res = runner.invoke(app, ["zoo", "sweep-bots", str(spec_file), "--units", "1", "--rounds", "8", "--windows", "64"])
    assert res.exit_code == 0, res.output
    out = isolated_home / "sweeps" / "micro"
    with (out / "imitability.csv").open() as f:
        rows = list(csv.DictReader(f))
    bots = {"mean", "unigram", "knn", "ridge"}
    assert {r["bot"] for r in rows} == bots
    assert {(r["knob"], r["value"]) for r in rows} == {
        ("transformer.act_fn", "relu"),
        ("transformer.act_fn", "solu_ln"),
        ("seed", "0"),
    }
    assert {r["level"] for r in rows} == {"0", "1", "2", "3", "all"}
    relu = [r for r in rows if r["value"] == "relu" and r["level"] == "all"]
    assert all(r["models"] == "1" and r["units"] == "4" and float(r["val_loss"]) > 0 for r in relu)
    assert -1 <= min(float(r["correlation"]) for r in rows) <= max(float(r["correlation"]) for r in rows) <= 1
    assert (out / "imitability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (out / "bot_plays.csv").open() as f:
        plays = list(csv.DictReader(f))
    assert len(plays) == 2 * 1 * 4 * 4  # models × units × levels × bots
    with local_store() as s:
        n_games = s.scalar(select(func.count()).select_from(Game).where(Game.client == "sweep-bots"))
        assert n_games == len(plays)
        assert all(m.attributes.get("activation") for m in s.scalars(select(Model)))
    assert "ridge" in res.output and "imitability.png" in res.output


@pytest.mark.parametrize(
    ("text", "message"),
    [("name: x\nbase: {task: lm}\ngrid: {widht: [1]}\n", "unknown knob 'widht'"), ("name: [", "not valid YAML")],
)
def test_cli_bad_sweep_file_is_one_line_exit_2(
    text: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mirrorneuron.cli import main

    f = tmp_path / "bad.yaml"
    f.write_text(text)
    monkeypatch.setattr("sys.argv", ["mirrorneuron", "zoo", "sweep", str(f)])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and len(err.strip().splitlines()) == 1
