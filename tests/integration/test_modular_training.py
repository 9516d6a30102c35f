"""Modules on trained nets: a modular-trained digits MLP (connection_cost > 0) scores a higher modularity than
its ordinary twin (same config and seed, connection_cost 0); the CLI finds modules on the shipped digits model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from cli_run import run_main
from mirrorneuron.buildout.graph import model_graph
from mirrorneuron.buildout.modules import find_modules
from mirrorneuron.models.train import train
from mirrorneuron.models.zoo import REGISTRY

STEPS, COST = 300, 0.003


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Two cores shared by many processes: one torch thread trains these tiny nets fastest."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _twin(home: Path, cost: float) -> str:
    name = f"twin-cc{cost}"
    cfg = REGISTRY["digits-mlp"].model_copy(update={"name": name, "steps": STEPS, "connection_cost": cost})
    metrics = train(cfg, home / "zoo" / name)
    assert metrics["val_accuracy"] > 0.85  # still a working classifier
    return name


def test_modular_training_raises_modularity_over_the_ordinary_twin(isolated_home: Path, one_thread: None) -> None:
    ordinary, modular = _twin(isolated_home, 0.0), _twin(isolated_home, COST)
    q = {}
    for name in (ordinary, modular):
        both = find_modules(model_graph(name))  # weights and co-activation (the default mix)
        weights = find_modules(model_graph(name, mix=1.0))
        assert both.modularity > both.baseline_modularity + 0.1
        q[name] = (both.modularity, weights.modularity)
    assert q[modular][0] > q[ordinary][0] + 0.03
    assert q[modular][1] > q[ordinary][1] + 0.03
    assert json.loads((isolated_home / "zoo" / modular / "config.json").read_text())["connection_cost"] == COST


def test_cli_finds_modules_on_the_digits_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    png = tmp_path / "digits.png"
    code, out, _ = run_main(["buildout", "modules", "digits-mlp", "--json", "--plot", str(png)], capsys, monkeypatch)
    assert code == 0
    d = json.loads(out)
    assert d["sites"] == ["layers.0.post", "layers.1.post"] and len(d["graph"]["nodes"]) == 128
    assert 2 <= d["k"] <= 8 and d["modularity"] > d["baseline_modularity"] + 0.1
    assert png.read_bytes()[:4] == b"\x89PNG"

    code, out, _ = run_main(["buildout", "modules", "digits-mlp", "--k", "3"], capsys, monkeypatch)
    assert code == 0 and "modularity Q" in out and "random grouping" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "nope"], "nope"),
        (["--k", "1"], "number of modules"),
        (["--mix", "2"], "mix must be between 0 and 1"),
    ],
)
def test_cli_bad_input_is_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_main(["buildout", "modules", "digits-mlp", *args], capsys, monkeypatch)
    assert code == 2 and message in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1
