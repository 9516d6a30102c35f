"""The harvest-crash script in small: 3 kill -9s at random points, each resumed to a cache identical to an
uninterrupted run's, the resumes skipping the shards their saved state covers (tests/stress/harvest_crash.py
runs 20). The checks it relies on are shown to catch planted faults."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from mirrorneuron.harvest.cache import atomic_save

_spec = importlib.util.spec_from_file_location(
    "harvest_crash", Path(__file__).parents[1] / "stress" / "harvest_crash.py"
)
assert _spec and _spec.loader
crash = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash)


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~1 min on an idle machine; ten harvest start-ups when the machine is busy
def test_three_kills_each_resume_to_the_uninterrupted_cache(small_lm: str, tmp_path: Path, isolated_home: Path) -> None:
    env = {**os.environ, "MIRRORNEURON_HOME": str(isolated_home)}
    figures = crash.crash_trials(3, seed=13, work=tmp_path, env=env)
    assert figures["problems"] == [] and figures["kills"] == 3
    assert figures["identical"] == figures["trials"] >= 2
    assert figures["shards_skipped"] + figures["shards_computed_on_resume"] == figures["trials"] * figures["n_shards"]


def _fake_cache(root: Path, n_shards: int = 3, next_shard: int = 2) -> None:
    (root / "shards").mkdir(parents=True)
    (root / "manifest.json").write_text('{"complete": true, "seconds": 1.0, "n_shards": 3}')
    for k in range(n_shards):
        atomic_save(
            {"blocks.0.mlp.post": np.full((2, 4, 3), k, dtype=np.float16)}, root / "shards" / f"{k:05d}.safetensors"
        )
    atomic_save({"next_shard": np.array([next_shard], dtype=np.int64)}, root / "state.safetensors")


def test_the_checks_catch_a_recomputed_shard_and_a_changed_tensor(tmp_path: Path) -> None:
    ref, out = tmp_path / "ref", tmp_path / "out"
    _fake_cache(ref)
    shutil.copytree(ref, out)
    point = crash.saved_point(out)
    assert point[0] == 2 and crash.skipped_problems(out, point) == [] and crash.cache_differences(ref, out) == []
    # planted: a resume that rewrites shard 1, which the saved state covers (same bytes, a new file)
    path = out / "shards" / "00001.safetensors"
    atomic_save(load_file(str(path)), path)
    assert crash.skipped_problems(out, point) == ["shard 1 was recomputed"]
    assert crash.cache_differences(ref, out) == []  # the bytes are the same: only the skip check sees it
    # planted: one activation off by one fp16 ulp, and a manifest field changed
    acts = load_file(str(path))["blocks.0.mlp.post"]
    acts[1, 2, 0] = np.nextafter(acts[1, 2, 0], np.float16(9))
    save_file({"blocks.0.mlp.post": acts}, str(path))
    (out / "manifest.json").write_text('{"complete": true, "seconds": 2.0, "n_shards": 4}')
    assert crash.cache_differences(ref, out) == ["manifest n_shards", "shards/00001.safetensors blocks.0.mlp.post"]
