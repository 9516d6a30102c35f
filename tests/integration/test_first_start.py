"""The default harvest's shipped token windows (harvest/bundled.py) and the first ``mirrorneuron play`` (issue 14)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from mirrorneuron.harvest import bundle_make, bundled, run
from mirrorneuron.harvest.run import default_spec, load_inputs, tokenised_windows
from mirrorneuron.models.loader import zoo_adapter

BENCH = Path(__file__).parents[2] / "benchmarks" / "first_start.py"


def _no_tokenising(*_: object) -> None:
    raise AssertionError("the corpus was tokenised")


def test_shipped_windows_equal_a_fresh_tokenisation_and_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    assert bundle_make.bundle_problem("tiny-gelu") is None  # same key, same windows as tokenising today
    adapter = zoo_adapter("tiny-gelu")
    spec = default_spec(adapter)
    fresh, _ = tokenised_windows(adapter, spec)
    monkeypatch.setattr(run, "tokenised_windows", _no_tokenising)
    windows, corpus_id, _ = load_inputs(adapter, spec)
    assert windows.dtype == fresh.dtype and np.array_equal(windows, fresh) and corpus_id == "austen"
    assert bundled.bundle_path("tiny-gelu").stat().st_size < 1_000_000


def test_reproducibility_check_catches_planted_windows(tmp_path: Path) -> None:
    shipped = bundled.bundle_path("tiny-gelu")
    with safe_open(str(shipped), framework="numpy") as f:
        meta = f.metadata()
    windows = load_file(str(shipped))["inputs"]
    wrong = windows.copy()
    wrong[5, 7] += 1  # one token off
    save_file({"inputs": wrong}, str(tmp_path / "off.safetensors"), metadata=meta)
    assert "other windows" in str(bundle_make.bundle_problem("tiny-gelu", tmp_path / "off.safetensors"))
    save_file({"inputs": windows}, str(tmp_path / "stale.safetensors"), metadata=meta | {"corpus_checksum": "x"})
    assert "another tokenizer" in str(bundle_make.bundle_problem("tiny-gelu", tmp_path / "stale.safetensors"))


def test_windows_with_another_key_are_not_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    adapter = zoo_adapter("tiny-gelu")
    calls: list[int] = []
    real = run.tokenised_windows

    def counting(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(run, "tokenised_windows", counting)
    windows, _, _ = load_inputs(adapter, default_spec(adapter, max_windows=300))  # another window count
    assert calls == [1] and windows.shape == (300, 64)
    stale = tmp_path / "tiny-gelu" / bundled.FILE  # a shipped file made with another tokenizer
    stale.parent.mkdir()
    with safe_open(str(bundled.bundle_path("tiny-gelu")), framework="numpy") as f:
        meta = f.metadata() | {"tokenizer_sha256": "0" * 64}
    save_file({"inputs": np.zeros((2000, 64), np.int32)}, str(stale), metadata=meta)
    monkeypatch.setattr(bundled, "BUILTIN_ZOO", tmp_path)
    windows, _, _ = load_inputs(adapter, default_spec(adapter))
    assert calls == [1, 1] and windows.any()
    stale.write_bytes(b"not a safetensors file")  # unreadable: tokenised as well
    assert load_inputs(adapter, default_spec(adapter))[0].any() and calls == [1, 1, 1]


@pytest.mark.slow
def test_first_play_reaches_the_first_round_with_the_shipped_windows(isolated_home: Path) -> None:
    spec = importlib.util.spec_from_file_location("first_start", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    seconds = bench.time_to_first_round(isolated_home, timeout=240)
    assert seconds < 240  # generous: ≈ 4–5 s on a quiet 2-core machine, far more when it is shared
    made = isolated_home / "harvests" / "tiny-gelu"
    shipped = load_file(str(bundled.bundle_path("tiny-gelu")))["inputs"]
    assert np.array_equal(load_file(str(made / "inputs.safetensors"))["inputs"], shipped)
    shutil.rmtree(made)


POLICY_AT_TORCH_IMPORT = """
import os, sys
seen = []
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.append(os.environ.get("OMP_WAIT_POLICY", "unset"))
sys.meta_path.insert(0, Spy())
{pre}
from mirrorneuron.cli import main
sys.argv = ["mirrorneuron", "zoo", "list"]
main()
print("policy at torch import:", seen[0] if seen else "torch never imported")
"""


def _policy_when_torch_loads(pre: str = "", **env: str) -> str:
    """What ``OMP_WAIT_POLICY`` was when ``mirrorneuron zoo list`` (a command that loads torch) imported torch."""
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = POLICY_AT_TORCH_IMPORT.format(pre=pre)
    out = subprocess.run([sys.executable, "-c", code], env=base | env, capture_output=True, text=True, check=True)
    return out.stdout.rsplit("policy at torch import:", 1)[1].strip()


def test_the_cli_makes_openmp_wait_passively_before_torch_loads(isolated_home: Path) -> None:
    assert _policy_when_torch_loads() == "PASSIVE"
    assert _policy_when_torch_loads(OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"  # a user's own setting wins
    # the guard sees a module that imports torch before main() runs (the setting would come too late)
    assert _policy_when_torch_loads(pre="import torch") == "unset"
