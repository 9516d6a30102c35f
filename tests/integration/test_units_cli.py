"""`probes`, `sae`, `directions` and `units` commands through Typer's runner, and image-model units."""

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mirrorneuron.cli_units import units_app
from mirrorneuron.game import Level, make_rounds
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.types import UserError
from mirrorneuron.units import open_unit
from mirrorneuron.units.directions import add_direction
from mirrorneuron.units.poly import unit_polysemanticity
from mirrorneuron.units.probes import train_probe
from mirrorneuron.units.saved import kind_dir

runner = CliRunner()
SITE = "blocks.1.resid.post"


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Harvest:
    root = tmp_path_factory.mktemp("units-cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIRRORNEURON_HOME", str(root / "home"))
        return harvest(zoo_adapter("tiny-gelu"), HarvestSpec(sites=(SITE,), max_windows=200), root / "h")


@pytest.mark.parametrize(
    "cmd",
    [[], ["probes"], ["probes", "train"], ["probes", "list"], ["probes", "concepts"], ["sae"], ["sae", "train"],
     ["sae", "list"], ["sae", "import"], ["directions"], ["directions", "add"], ["directions", "list"], ["show"]],
)  # fmt: skip
def test_every_command_has_help(cmd: list[str]) -> None:
    res = runner.invoke(units_app, [*cmd, "--help"])
    assert res.exit_code == 0 and "Usage" in res.output


def _ok(args: list[str]) -> str:
    res = runner.invoke(units_app, args)
    assert res.exit_code == 0, (res.output, res.exception)
    return res.output


def test_train_list_show_through_the_cli(h: Harvest, tmp_path: Path) -> None:
    hv = ["--harvest", str(h.path)]
    out = _ok(["probes", "train", "tiny-gelu", SITE, "--concept", "capitalised", "--max-examples", "3000", *hv])
    assert "base_rate" in out and "accuracy" in out and "auc" in out and "probe/capitalised" in out
    out = _ok(["probes", "train", "tiny-gelu", SITE, "--concept", "position", "--max-examples", "2000", *hv])
    assert "r2" in out and "ridge regression" in out
    assert "capitalised" in _ok(["probes", "list", "tiny-gelu"])
    out = _ok(["sae", "train", "tiny-gelu", SITE, "--width", "32", "--l1", "0.1", "--steps", "100", *hv])
    assert "fve" in out and "l0" in out and "dead_fraction" in out and "sae_feature/sae32:J" in out
    assert "sae32" in _ok(["sae", "list", "tiny-gelu"])
    folder = kind_dir("tiny-gelu", SITE, "sae") / "sae32"
    assert "sae_feature/copied:J" in _ok(["sae", "import", "tiny-gelu", SITE, str(folder), "--name", "copied", *hv])
    out = _ok(["directions", "add", "tiny-gelu", SITE, "caps", "--concepts", "capitalised", "true", "false", *hv])
    assert "raw_norm" in out and "direction/caps" in out
    np.savetxt(tmp_path / "v.txt", np.ones(64))
    _ok(["directions", "add", "tiny-gelu", SITE, "ones", "--file", str(tmp_path / "v.txt"), "--normalise"])
    assert "ones" in _ok(["directions", "list", "tiny-gelu"])
    for unit in ("probe/capitalised", "sae_feature/sae32:0", "direction/ones"):
        out = _ok(["show", f"tiny-gelu/{SITE}/{unit}", *hv])
        assert "density" in out and "kurtosis" in out and "top_context_clusters" in out and "q50" in out
    assert "has_loop" in _ok(["probes", "concepts", "--modality", "image"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["probes", "train", "tiny-gelu", SITE, "--concept", "sparkly"], "unknown concept 'sparkly'"),
        (["probes", "train", "tiny-gelu", SITE, "--concept", "x", "--csv", "/no/such.csv"], "cannot read"),
        (["sae", "train", "tiny-gelu", SITE, "--width", "0"], "width ≥ 1"),
        (["sae", "import", "tiny-gelu", SITE, "/no/such/folder"], "not an SAE folder"),
        (["directions", "add", "tiny-gelu", SITE, "d", "--file", "/no/such.npy"], "not found"),
        (["show", "not-a-unit"], "bad unit id"),
        (["show", "tiny-gelu/blocks.1.resid.post/probe/ghost"], "no probe 'ghost'"),
        (["probes", "concepts", "--modality", "audio"], "text or image"),
    ],
)
def test_bad_input_raises_user_errors(h: Harvest, args: list[str], message: str) -> None:
    with_harvest = args[0] != "probes" or args[1] == "train"
    res = runner.invoke(units_app, [*args, "--harvest", str(h.path)] if with_harvest else args)
    assert isinstance(res.exception, UserError) and message in str(res.exception), (res.output, res.exception)


def test_wrong_width_direction_file(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.ones(10))
    res = runner.invoke(units_app, ["directions", "add", "tiny-gelu", SITE, "d", "--file", str(tmp_path / "v.npy")])
    assert isinstance(res.exception, UserError) and "the site has 64 units" in str(res.exception)


def test_digit_units_at_every_level(isolated_home: Path) -> None:
    r = train_probe("digits-mlp", "layers.1.post", "has_loop", max_examples=2000)
    assert r.metrics["accuracy"] > r.metrics["base_rate"] + 0.05
    assert train_probe("digits-mlp", "layers.1.post", "digit=3").metrics["auc"] > 0.9
    assert train_probe("digits-mlp", "layers.1.post", "thickness").metrics["r2"] > 0.3
    add_direction("digits-mlp", "layers.0.pre", "three-vs-eight", concepts=("digit", "3", "8"))
    assert (isolated_home / "harvests" / "digits-mlp@layers.0.pre" / "manifest.json").exists()  # its own harvest
    for unit in ("layers.1.post/probe/has_loop", "layers.0.pre/direction/three-vs-eight"):
        ctx = open_unit("digits-mlp", unit)
        for level in Level:
            for rnd in make_rounds(ctx, level, 4, seed=0).rounds:
                if level == Level.WEIGHTS:
                    assert rnd.hints.contributions is not None
                    assert rnd.hints.contributions.value() == pytest.approx(ctx.values[rnd.index], abs=1e-9)
        assert unit_polysemanticity(ctx)["top_distinct"] <= 10
    with pytest.raises(UserError, match="categorical: pick a value"):
        train_probe("digits-mlp", "layers.1.post", "digit")
