"""Study power: ≈ α when the two units are equally difficult (and far above it with intervals planted too
narrow), rising with players and with the difference; `mirrorneuron analyze power` prints a table and a last
JSON line, and bad arguments are one line with exit code 2."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cli_run import run_main
from mirrorneuron.analysis import power as power_mod
from mirrorneuron.analysis.fit import ArrayFit
from mirrorneuron.analysis.power import power, wilson

SMALL = {"rounds_per_player": 20, "units": 6}


def test_with_no_difference_power_is_alpha() -> None:
    r = power(40, difference=0.0, n_sims=120, **SMALL)
    assert r.lo <= 0.05 <= r.hi and r.power < 0.12


def test_a_planted_too_narrow_interval_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = power_mod.fit_arrays

    def overconfident(*args: object, **kwargs: object) -> ArrayFit:
        fit = real(*args, **kwargs)  # type: ignore[arg-type]
        return dataclasses.replace(fit, difficulty_se=fit.difficulty_se * 0.5)

    monkeypatch.setattr(power_mod, "fit_arrays", overconfident)
    r = power(40, difference=0.0, n_sims=60, **SMALL)
    assert r.lo > 0.05  # the α check above would fail


def test_power_rises_with_players_and_difference() -> None:
    few, many = (power(p, difference=0.05, n_sims=30, **SMALL) for p in (15, 120))
    assert many.power > few.power + 0.3 and many.power > 0.9
    assert many.mean_se_difference < few.mean_se_difference
    bigger = power(15, difference=0.15, n_sims=30, **SMALL)
    assert bigger.power > few.power


def test_progress_and_the_result() -> None:
    seen: list[tuple[int, int]] = []
    r = power(10, 10, 3, 0.1, n_sims=4, progress=lambda d, n: seen.append((d, n)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert r.to_dict()["n_sims"] == 4 and r.rounds_per_player == 10
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)  # the textbook Wilson interval


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"players": 1}, "players"), ({"units": 1}, "units"), ({"difference": -0.1}, "difference"),
     ({"alpha": 1.5}, "alpha"), ({"n_sims": 0}, "n_sims"), ({"rounds_per_player": 1}, "rounds")],
)  # fmt: skip
def test_bad_designs_are_refused(kwargs: dict[str, float], message: str) -> None:
    args = {"players": 10, "rounds_per_player": 10, "units": 4, "difference": 0.1} | kwargs
    with pytest.raises(ValueError, match=message):
        power(**args)  # type: ignore[arg-type]


def _cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    return run_main(["analyze", *args], capsys, monkeypatch)


def test_the_cli_prints_a_table_and_a_last_json_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = _cli(["power", "--players", "20", "--rounds", "20", "--difference", "0.05", "--units", "4",
                         "--sims", "5", "--seed", "3"], capsys, monkeypatch)  # fmt: skip
    assert code == 0 and "power" in out
    last = json.loads(out.strip().splitlines()[-1])
    expected = power(20, 20, 4, 0.05, n_sims=5, seed=3).to_dict()
    assert last == {"command": "analyze power", **expected}


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--players", "1", "--rounds", "10", "--difference", "0.1"], "players must be at least 2"),
     (["--players", "10", "--rounds", "10", "--difference", "-1"], "difference"),
     (["--players", "10", "--rounds", "10", "--difference", "0.1", "--alpha", "0"], "alpha"),
     (["--players", "10", "--rounds", "10", "--difference", "0.1", "--noise", "0"], "--noise"),
     (["--players", "ten", "--rounds", "10", "--difference", "0.1"], "Invalid value"),
     (["--rounds", "10", "--difference", "0.1"], "Missing option")],
)  # fmt: skip
def test_bad_cli_arguments_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = _cli(["power", *args], capsys, monkeypatch)
    assert code == 2 and message in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_analyze_help_lists_its_subcommands(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``analyze`` alone writes the report (tests/integration/test_analyze_cli.py); its help names power and demo."""
    code, out, err = _cli(["--help"], capsys, monkeypatch)
    assert code == 0 and "power" in out and "demo" in out and "Usage" in out and not err
    code, out, _ = _cli(["power", "--help"], capsys, monkeypatch)
    assert code == 0 and "--difference" in out


def test_the_simulator_plants_the_two_difficulties_and_exact_games() -> None:
    from mirrorneuron.analysis.simulate import SimConfig, simulate

    sim = simulate(SimConfig(n_players=30, n_units=5, games_per_player=3, exact_games=True,
                             planted_difficulty=(-0.05, 0.05)))  # fmt: skip
    assert sim.difficulty[1] - sim.difficulty[0] == pytest.approx(0.1) and abs(sim.difficulty.sum()) < 1e-12
    assert (sim.game.reshape(-1, 10)[:, 0].size == 90) and set(map(int, sim.player)) == set(range(30))
    with pytest.raises(ValueError, match="planted_difficulty"):
        simulate(SimConfig(n_units=1, planted_difficulty=(0.0, 0.1)))
