"""Sweep files: grid expansion, stable names, every knob of the zoo config reachable, bad knobs rejected."""

from pathlib import Path

import pytest

from mirrorneuron.config import PACKAGE_DATA
from mirrorneuron.models.sweep import SweepSpec, attributes, expand, load_spec
from mirrorneuron.models.zoo import ZooConfig
from mirrorneuron.types import UserError

BASE = {"task": "lm", "corpus": "austen", "transformer": {"vocab_size": 300, "d_model": 32}, "steps": 5}


def _spec(**kw: object) -> SweepSpec:
    return SweepSpec.model_validate({"name": "t", "base": BASE, **kw})


def test_grid_expands_to_every_cell_and_seed_with_stable_names() -> None:
    spec = _spec(grid={"transformer.act_fn": ["relu", "solu_ln"], "l1": [0.0, 3e-4]}, seeds=[0, 1])
    models = expand(spec)
    assert [m.name for m in models] == [
        "t-act_fn_relu-l1_0.0-s0",
        "t-act_fn_relu-l1_0.0-s1",
        "t-act_fn_relu-l1_0.0003-s0",
        "t-act_fn_relu-l1_0.0003-s1",
        "t-act_fn_solu_ln-l1_0.0-s0",
        "t-act_fn_solu_ln-l1_0.0-s1",
        "t-act_fn_solu_ln-l1_0.0003-s0",
        "t-act_fn_solu_ln-l1_0.0003-s1",
    ]
    assert [m.name for m in expand(spec)] == [m.name for m in models]  # stable
    last = models[-1].config
    assert (last.transformer and last.transformer.act_fn, last.l1, last.seed) == ("solu_ln", 3e-4, 1)
    assert last.transformer.d_model == 32 and last.steps == 5  # the base is kept
    assert models[0].knobs == {"transformer.act_fn": "relu", "l1": 0.0}
    assert models[0].config.transformer.act_fn == "relu"
    assert BASE["transformer"] == {"vocab_size": 300, "d_model": 32}  # expansion does not mutate the base


def test_nested_knobs_of_every_kind_reach_the_config() -> None:
    grid = {
        "transformer.d_mlp": [64],
        "transformer.n_layers": [3],
        "transformer.dropout": [0.1],
        "weight_decay": [0.2],
        "optimizer": ["sgd"],
        "corpus": ["kjv"],
        "task": ["textcls"],
    }
    (m,) = expand(_spec(grid=grid | {"corpus": ["austen+kjv"]}))
    c = m.config
    assert c.transformer is not None
    assert (c.transformer.d_mlp, c.transformer.n_layers, c.transformer.dropout) == (64, 3, 0.1)
    assert (c.weight_decay, c.optimizer, c.task, c.classes) == (0.2, "sgd", "textcls", ["austen", "kjv"])
    assert "austen_kjv" in m.name and "/" not in m.name


def test_same_leaf_in_two_nested_configs_gets_the_full_path() -> None:
    spec = _spec(grid={"transformer.n_layers": [1], "vision.n_layers": [2]}, base=BASE | {"vision": {}})
    (m,) = expand(spec)
    assert m.name == "t-transformer.n_layers_1-vision.n_layers_2-s0"


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"transformer.act_fun": ["relu"]}, "unknown knob 'transformer.act_fun'"),
        ({"lr_schedule": [1]}, "unknown knob 'lr_schedule'"),
        ({"seed": [1, 2]}, "use `seeds:`"),
        ({"name": ["x"]}, "not a knob"),
        ({"l1": []}, "no values"),
        ({"l1": [0.1, 0.1]}, "repeats a value"),
        ({"transformer.d_mlp.x": [1]}, "unknown knob"),
    ],
)
def test_bad_knobs_are_rejected(grid: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _spec(grid=grid)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"transformer.act_fn": ["swish"]}, "unknown act_fn 'swish'"),
        ({"task": ["textcls"]}, "needs a corpus mixture"),
        ({"transformer.dropout": [1.5]}, "dropout"),
        ({"optimizer": ["lion"]}, "optimizer"),
        ({"transformer.vocab_size": [128]}, "vocab_size must be at least 257"),
    ],
)
def test_bad_values_fail_at_expansion_naming_the_model(grid: dict, message: str) -> None:
    with pytest.raises(UserError, match=f"sweep t, model t-.*{message}"):
        expand(_spec(grid=grid))


def test_load_spec_errors_are_one_line(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    for text, message in [
        ("name: [unclosed", "not valid YAML at line 1"),
        ("- a list", "a mapping"),
        ("name: t\nbase: {task: lm}\ngrid: {l1: [0.1]}\nextra: 1", "extra: Extra inputs"),
        ("name: t\nbase: {task: lm, transformer: {vocab_size: 300}}\ngrid: {width: [1]}", "unknown knob 'width'"),
        ("name: t\nbase: {task: lm, seed: 3, transformer: {vocab_size: 300}}", "must not set 'seed'"),
        ("name: a/b\nbase: {}", "bad sweep name"),
    ]:
        f.write_text(text)
        with pytest.raises(UserError, match=message) as e:
            load_spec(f)
        assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="not found"):
        load_spec(tmp_path / "missing.yaml")


def test_the_shipped_default_sweep_meets_the_issue() -> None:
    spec = load_spec(PACKAGE_DATA / "sweeps" / "default.yaml")
    models = expand(spec)
    assert len(models) >= 12 and len(spec.seeds) >= 2
    assert set(spec.grid["transformer.act_fn"]) >= {"relu", "gelu", "solu_ln"}
    widths = {m.config.transformer.d_mlp for m in models if m.config.transformer}
    assert len(widths) == 1  # activations compared at matched width


def test_attributes_carry_knobs_and_capability() -> None:
    (m,) = expand(_spec(grid={"transformer.act_fn": ["solu_ln"]}))
    metrics = {"val_loss": 3.2, "unigram_val_loss": 5.0, "params": 100, "train_seconds": 1.5}
    a = attributes(m.config, metrics)
    assert a["activation"] == "solu_ln" and a["d_model"] == 32 and a["data"] == "austen" and a["task"] == "lm"
    assert a["val_loss"] == 3.2 and a["val_accuracy"] is None and a["dropout"] == 0.0 and a["seed"] == 0
    digits = ZooConfig(name="d", task="digits", vision={"arch": "cnn", "width": 48})
    d = attributes(digits, {"val_accuracy": 0.9})
    assert (d["arch"], d["d_mlp"], d["data"], d["val_accuracy"]) == ("cnn", 48, "digits", 0.9)
