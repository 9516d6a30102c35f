"""Across models: a planted attribute effect on difficulty gives a significant Kruskal–Wallis test with the
right direction; a null attribute does not, and over several seeds its false-positive rate stays near α;
capability columns always sit next to the difficulty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mirrorneuron.analysis import across
from mirrorneuron.analysis.fit import fit_skill_difficulty
from mirrorneuron.analysis.sections import AnalysisData
from mirrorneuron.analysis.simulate import SimConfig, gameplay_frame, simulate

N_MODELS, N_UNITS = 8, 64
MODELS = [f"m{i}" for i in range(N_MODELS)]


def _models(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "model_id": MODELS,
            "activation": ["gelu"] * 4 + ["relu"] * 4,
            "width": rng.permutation([64, 128] * 4),  # unrelated to difficulty
            "task": ["text"] * N_MODELS,  # one value: not an attribute to compare
            "val_loss": np.linspace(2.0, 2.7, N_MODELS),
            "val_accuracy": np.nan,
        }
    )


def _data(effect: float, seed: int) -> AnalysisData:
    """Unit j belongs to model j % 8; relu models' units are harder by ``effect``."""
    rng = np.random.default_rng(seed + 100)
    relu = np.array([(j % N_MODELS) >= 4 for j in range(N_UNITS)])
    planted = tuple(rng.normal(0.0, 0.03, N_UNITS) + effect * relu)
    cfg = SimConfig(n_players=200, n_units=N_UNITS, popularity=0.0, planted_difficulty=planted, seed=seed)
    df = gameplay_frame(simulate(cfg), models=MODELS)
    return AnalysisData(df, fit_skill_difficulty(df), models=_models(seed))


def test_attribute_columns_skip_ids_capability_and_constants() -> None:
    assert across.attribute_columns(_models()) == ["activation", "width"]


def test_a_planted_attribute_effect_is_significant_and_a_null_one_is_not() -> None:
    data = _data(effect=0.05, seed=1)
    units = across.unit_difficulties(data)
    assert len(units) == N_UNITS and set(units["model_id"]) == set(MODELS)
    groups, test = across.compare(units, data.models, "activation")
    assert test["p_value"] < 0.01 and test["groups"] == 2 and test["models_per_group"] == 4
    g = groups.set_index("value")
    assert g.loc["relu", "difficulty"] > g.loc["gelu", "difficulty"]
    assert g.loc["relu", "lo"] > g.loc["gelu", "hi"] - 0.05  # the planted 0.05 is resolved
    assert g.loc["gelu", "val_loss"] == pytest.approx(np.mean(np.linspace(2.0, 2.7, 8)[:4]))
    _, null = across.compare(units, data.models, "width")
    assert null["p_value"] > 0.05


def test_the_null_false_positive_rate_is_sane() -> None:
    p = [across.compare(across.unit_difficulties(d), d.models, "activation")[1]["p_value"]
         for d in (_data(effect=0.0, seed=s) for s in range(12))]  # fmt: skip
    assert np.mean(np.array(p) < 0.05) <= 3 / 12  # nominal 5 %: 0–2 expected, 3 tolerated
    assert np.mean(np.array(p) > 0.5) >= 0.25  # p-values spread over [0, 1], not piled near 0


def test_the_section_shows_capability_next_to_difficulty() -> None:
    data = _data(effect=0.05, seed=1)
    s = across.section(data)
    assert s.enough_data and s.figure is not None and set(s.tables) == {"groups", "tests", "models"}
    assert {"val_loss", "val_accuracy"} <= set(s.tables["groups"].columns)
    assert {"val_loss", "val_accuracy", "activation", "n_units"} <= set(s.tables["models"].columns)
    assert s.facts["p_activation"] < 0.01 and "activation" in s.note
    bare = AnalysisData(data.rounds, data.fit)  # no model attributes
    assert not across.section(bare).enough_data
    strangers = data.models.assign(model_id=[f"other-{i}" for i in range(N_MODELS)])  # none has ranked units
    assert not across.section(AnalysisData(data.rounds, data.fit, models=strangers)).enough_data
    listed = data.models.assign(data=[["austen"], ["austen", "digits"]] * 4)  # JSON lists group by their text
    assert "data" in across.attribute_columns(listed)
    assert across.compare(across.unit_difficulties(data), listed, "data")[1]["groups"] == 2
    with pytest.raises(ValueError, match="no column"):
        across.compare(across.unit_difficulties(data), data.models, "depth")
