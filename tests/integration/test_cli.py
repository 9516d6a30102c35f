"""The command line as a user meets it: help everywhere, one-line errors with exit code 2."""

import dataclasses
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_run import run_main
from mirrorneuron.cli import app
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.units import ensure_harvest, open_unit

runner = CliRunner()
COMMANDS = [
    [],
    ["zoo"],
    ["zoo", "list"],
    ["zoo", "show"],
    ["zoo", "train"],
    ["harvest"],
    ["activations"],
    ["play"],
    ["bots"],
    ["bots", "run"],
]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help(cmd: list[str]) -> None:
    res = runner.invoke(app, [*cmd, "--help"])
    assert res.exit_code == 0 and "Usage" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["harvest"], "Missing argument"),
        (["harvest", "tiny-gelu", "--bogus"], "No such option"),
        (["zoo", "train", "tiny-gelu", "--bogus", "1"], "No such option"),
        (["harvest", "tiny-gelu", "--max-windows", "many"], "Invalid value"),
        (["harvest", "tiny-gelu", "--batch-size", "0"], "Invalid value"),
        (["play", "--rounds", "ten"], "Invalid value"),
        (["zoo", "nope"], "No such command"),
        (["zoo", "show", "nope"], "unknown model"),
        (["zoo", "train", "tiny-gelu", "--steps", "0"], "--steps must be at least 1"),
        (["harvest", "tiny-relu"], "not trained yet"),
        (["harvest", "tiny-gelu", "--sites", "blocks.9.mlp.post"], "unknown site"),
        (["harvest", "tiny-gelu", "--corpus", "/no/such/file.txt"], "not found"),
        (["activations", "tiny-gelu", "blocks.0.mlp.post", "999", "--text", "hello"], "out of range"),
        (["activations", "tiny-gelu", "blocks.0.mlp.post", "1", "--text", "  "], "empty"),
        (["play", "--level", "9"], "unknown level"),
        (["play", "--rounds", "0"], "--rounds must be at least 1"),
        (["bots", "run", "tiny-gelu", "not-a-unit"], "bad unit id"),
        (["bots", "run", "tiny-gelu", "random", "--bot", "llm", "--rounds", "2"], "MIRRORNEURON_LLM"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MIRRORNEURON_LLM_BASE_URL", raising=False)
    code, _, err = run_main(args, capsys, monkeypatch)
    lines = [ln for ln in err.splitlines() if ln.strip() and "━" not in ln]
    assert code == 2, err
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


def test_corrupt_checkpoint_via_cli(
    isolated_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mirrorneuron.config import BUILTIN_ZOO

    target = isolated_home / "zoo" / "digits-mlp"
    shutil.copytree(BUILTIN_ZOO / "digits-mlp", target)
    (target / "model.safetensors").write_bytes(b"\x00" * 100)
    code, _, err = run_main(["harvest", "digits-mlp"], capsys, monkeypatch)
    assert code == 2 and "corrupt checkpoint" in err


def test_zoo_list_show_and_activations(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run_main(["zoo", "list"], capsys, monkeypatch)
    assert code == 0 and "tiny-gelu" in out and "shipped" in out and "digits-cnn" in out
    code, out, _ = run_main(["zoo", "show", "tiny-gelu"], capsys, monkeypatch)
    assert code == 0 and "blocks.0.mlp.post (256)" in out and "unigram_val_loss" in out
    code, out, _ = run_main(
        ["activations", "tiny-gelu", "blocks.0.mlp.post", "3", "--text", "Mr. Darcy"], capsys, monkeypatch
    )
    assert code == 0 and "Darcy" in out


def test_zoo_train_and_bots_run(
    isolated_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_main(["zoo", "train", "digits-mlp-gelu", "--steps", "40"], capsys, monkeypatch)
    assert code == 0 and (isolated_home / "zoo" / "digits-mlp-gelu" / "model.safetensors").exists()
    assert "val_accuracy" in out
    code, out, _ = run_main(
        ["bots", "run", "digits-mlp-gelu", "random", "--level", "2", "--rounds", "15"], capsys, monkeypatch
    )
    assert code == 0 and "ridge" in out and "knn" in out


@pytest.mark.parametrize("args", [[], ["zoo"], ["bots"], ["units", "probes"]])
def test_no_arguments_prints_the_help(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run_main(args, capsys, monkeypatch)
    assert code == 0 and "Usage" in out and "Commands" in out and "error" not in err


def test_ctrl_c_is_one_line_and_exit_130(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("mirrorneuron.models.zoo.checkpoint_dir", interrupted)
    code, _, err = run_main(["zoo", "list"], capsys, monkeypatch)
    assert code == 130 and err.strip() == "interrupted"


def _harvest_cli(model: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    code, out, err = run_main(["harvest", model, *args], capsys, monkeypatch)
    assert code == 0, err
    assert "harvest ready" in out
    return out


def test_cli_harvest_finds_the_harvest_a_game_made(
    isolated_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Playing digits harvests on first use; `mirrorneuron harvest digits-mlp` then finds that very harvest."""
    h = open_unit("digits-mlp", seed=0).harvest
    manifest = (h.path / "manifest.json").read_text()
    out = _harvest_cli("digits-mlp", capsys, monkeypatch)
    assert "1,797 examples" in out and (h.path / "manifest.json").read_text() == manifest  # found, not redone


def test_text_model_harvest_defaults_agree(
    isolated_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same with the text model. It gets a small window count of its own, as real models have (and so the
    test takes seconds): the game's harvest and the command's must both follow it."""
    from mirrorneuron.models import loader

    small = dataclasses.replace(zoo_adapter("tiny-gelu"), default_windows=150)
    monkeypatch.setattr(loader, "zoo_adapter", lambda name: small)  # what the harvest command loads
    h = ensure_harvest(small)  # as a game does on first use
    manifest = (h.path / "manifest.json").read_text()
    assert h.path == isolated_home / "harvests" / "tiny-gelu" and h.n_windows == 150
    _harvest_cli("tiny-gelu", capsys, monkeypatch)
    _harvest_cli("tiny-gelu", capsys, monkeypatch, "--sites", "blocks.0.mlp.post,blocks.1.mlp.post")  # = default
    assert (h.path / "manifest.json").read_text() == manifest  # found each time, never redone
