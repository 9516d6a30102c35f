"""``mirrorneuron buildout splice``: every baseline beside the given replacements; bad input is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_run import run_main
from mirrorneuron.harvest.run import default_spec, harvest
from mirrorneuron.models.loader import zoo_adapter

MODEL = "digits-mlp"


@pytest.fixture(scope="module")
def harvest_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One harvest of the model for every test here (passed with --harvest)."""
    adapter = zoo_adapter(MODEL)
    out = tmp_path_factory.mktemp("splice-cli") / "h"
    harvest(adapter, default_spec(adapter), out)
    return str(out)


def test_json_table_has_the_given_row_and_every_baseline(
    harvest_dir: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    units = ["-u", "layers.0.post/3=mean", "-u", "layers.0.post/5=ridge", "-u", "layers.1.post/7=zero"]
    args = ["buildout", "splice", MODEL, *units, "--windows", "60", "--json", "--harvest", harvest_dir]
    code, out, err = run_main(args, capsys, monkeypatch)
    assert code == 0, err
    got = json.loads(out)
    assert got["kind"] == "classifier" and got["ablation"] == "zero" and "validation split" in got["slice"]
    assert got["units"] == {
        f"{MODEL}/layers.0.post/neuron/3": "mean",
        f"{MODEL}/layers.0.post/neuron/5": "ridge",
        f"{MODEL}/layers.1.post/neuron/7": "zero",
    }
    rows = {r["candidate"]: r for r in got["rows"]}
    assert list(rows) == ["given", "zero", "mean", "ridge"] and "sae" in got["skipped"]
    assert all(r["units"] == ["layers.0.post/3", "layers.0.post/5", "layers.1.post/7"] for r in rows.values())
    zero = rows["zero"]
    assert zero["spliced"] == zero["ablated"]  # zero under zero ablation: exactly the ablated model
    assert zero["loss_recovered"] == 0.0 or zero["loss_recovered"] is None


def test_mean_ablation_and_the_printed_table(
    harvest_dir: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["buildout", "splice", MODEL, "-u", "layers.0.post/3=mean", "--windows", "40", "--ablate", "mean"]
    args += ["--harvest", harvest_dir]
    code, out, err = run_main(args, capsys, monkeypatch)
    assert code == 0, err
    assert "ablation: mean" in out and "recovered" in out and "kept" in out  # headers may wrap at 80 columns
    assert "sae: left out" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-u", "layers.0.post/3"], "UNIT_ID=SPEC"),
        (["-u", "nonsense=zero"], "bad unit id"),
        (["-u", "layers.0.post/3=nope.txt"], "bad replacement"),
        (["-u", "layers.0.post/999=zero"], "out of range"),
        (["-u", "no.such.site/1=zero"], "unknown site"),
        (["-u", "layers.0.post/3=zero", "--ablate", "half"], "--ablate"),
        (["-u", "layers.0.post/3=zero", "--windows", "0"], "--windows"),
        (["-u", "layers.0.post/3=zero", "-u", "layers.0.post/3=mean"], "twice"),
        ([], "choose units"),
        (["-u", "layers.0.post/direction/up=zero"], "only neurons"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_main(["buildout", "splice", MODEL, *args], capsys, monkeypatch)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_an_unreadable_rule_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = tmp_path / "rule.txt"
    rule.write_bytes(b"\xff\xfe not text")
    code, _, err = run_main(["buildout", "splice", MODEL, "-u", f"layers.0.post/3={rule}"], capsys, monkeypatch)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_a_rule_file_is_spliced_through_the_rule_language(
    harvest_dir: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rule = tmp_path / "rule.txt"
    rule.write_text("pixels[2:6, 2:6] * 0.5\n")
    args = ["buildout", "splice", MODEL, "-u", f"layers.0.post/3={rule}", "--windows", "60", "--json"]
    code, out, err = run_main([*args, "--harvest", harvest_dir], capsys, monkeypatch)
    assert code == 0, err
    given = json.loads(out)["rows"][0]
    assert given["candidate"] == "given" and isinstance(given["loss_recovered"], float)
    rule.write_text("pixels[2:6, 2:6] *\n")
    code, _, err = run_main([*args, "--harvest", harvest_dir], capsys, monkeypatch)
    assert code == 2 and f"{rule}: line 1, col" in err and len(err.strip().splitlines()) == 1
