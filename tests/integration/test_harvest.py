import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from mirrorneuron.harvest import run
from mirrorneuron.harvest.cache import Harvest, shard_path
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.loader import zoo_adapter
from mirrorneuron.types import UserError

SITES = ("blocks.0.mlp.post", "blocks.1.resid.post")


def _files(path: Path) -> dict[str, dict[str, np.ndarray]]:
    return {str(p.relative_to(path)): load_file(str(p)) for p in sorted(path.rglob("*.safetensors"))}


def _assert_same(a: Path, b: Path, exact: bool = True) -> None:
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys()
    for name in fa:
        for key in fa[name]:
            x, y = fa[name][key], fb[name][key]
            if exact or x.dtype.kind in "iu":
                assert np.array_equal(x, y), (name, key)
            else:
                np.testing.assert_allclose(
                    x.astype(np.float64), y.astype(np.float64), rtol=2e-3, atol=2e-3, err_msg=f"{name} {key}"
                )


def test_harvest_writes_a_readable_cache(small_lm: str, tmp_path: Path) -> None:
    adapter = zoo_adapter(small_lm)
    spec = HarvestSpec(sites=SITES, max_windows=40, shard_windows=16, sample_size=500)
    h = harvest(adapter, spec, tmp_path / "h")
    assert h.n_windows == 40 and h.positions == 64 and h.manifest["n_shards"] == 3
    assert h.manifest["model"]["checksum"] == adapter.checksum and h.manifest["corpus"]["id"] == "austen"
    acts = h.activations("blocks.0.mlp.post").astype(np.float64).reshape(-1, 256)
    st = h.stats("blocks.0.mlp.post")
    np.testing.assert_allclose(st["mean"], acts.mean(0), rtol=2e-3, atol=2e-3)  # cache is fp16, stats fp32
    assert st["quantiles"].shape[0] == 256 and st["top_values"].shape == (256, 20)
    # the format harvests had before issue 14 (old caches load unchanged): same version, keys and quantiles
    assert h.manifest["format_version"] == 1
    assert set(st) == {"count", "mean", "var", "min", "max", "frac_pos", "quantiles", "levels", "top_values",
                       "top_indices", "sample_indices", "sample_values"}  # fmt: skip
    old_q = np.quantile(st["sample_values"].astype(np.float64), st["levels"], axis=0).T
    np.testing.assert_array_equal(st["quantiles"], old_q)
    # the cached activations equal a fresh forward pass on the same window
    w = 7
    fresh = adapter.activations(h.inputs[w : w + 1], "blocks.0.mlp.post")[0]
    np.testing.assert_allclose(h.activations("blocks.0.mlp.post")[w], fresh, rtol=1e-2, atol=1e-3)
    values = h.unit_values("blocks.0.mlp.post", 3)
    assert values.shape == (40 * 64,)
    top_e = int(st["top_indices"][3, 0])
    assert values[top_e] == pytest.approx(values.max(), abs=1e-2)
    assert len(h.example_id(top_e)) == 16 and h.example_id(0) != h.example_id(1)
    # asking again with the same spec reuses the finished harvest
    assert harvest(adapter, spec, tmp_path / "h").path == h.path


def test_batch_size_invariance(small_lm: str, tmp_path: Path) -> None:
    adapter = zoo_adapter(small_lm)
    base = HarvestSpec(sites=SITES, max_windows=24, shard_windows=8, sample_size=300)
    harvest(adapter, base.__class__(**{**base.__dict__, "batch_size": 1}), tmp_path / "b1")
    harvest(adapter, base.__class__(**{**base.__dict__, "batch_size": 64}), tmp_path / "b64")
    _assert_same(tmp_path / "b1", tmp_path / "b64", exact=False)


KILLER = """
import os, signal, sys
from pathlib import Path
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.loader import zoo_adapter

def progress(done, total):
    if done >= 20:  # mid-way through the third shard: kill -9 ourselves, no clean-up of any kind
        os.kill(os.getpid(), signal.SIGKILL)

spec = HarvestSpec(sites=tuple(sys.argv[2].split(",")), max_windows=48, batch_size=1, shard_windows=8)
harvest(zoo_adapter("tiny-gelu"), spec, Path(sys.argv[1]), progress)
"""


N_SHARDS = 6  # 48 windows in shards of 8, as in KILLER and the resume command


def _saved_point(out: Path) -> tuple[int, dict[int, tuple[int, int]]]:
    """(the next shard the saved state says to do, (inode, mtime) of each shard file written so far)."""
    next_shard = int(load_file(str(out / "state.safetensors"))["next_shard"][0])
    files = {int(p.stem): p.stat() for p in (out / "shards").glob("*.safetensors")}
    return next_shard, {k: (st.st_ino, st.st_mtime_ns) for k, st in files.items()}


def _assert_resumed(out: Path, next_shard: int, before: dict[int, tuple[int, int]]) -> None:
    """The run that completed ``out`` computed only the shards from the saved state on, and left the shard
    files before it untouched (atomic writes replace a file, so a recomputed shard has a new inode)."""
    assert 0 < next_shard < N_SHARDS
    last = json.loads((out / "manifest.json").read_text())["last_run"]
    assert last == {"first_shard": next_shard, "computed_shards": list(range(next_shard, N_SHARDS))}
    for shard in range(next_shard):
        st = shard_path(out, shard).stat()
        assert (st.st_ino, st.st_mtime_ns) == before[shard], f"shard {shard} was recomputed"


def test_kill_minus_nine_then_resume_is_identical(small_lm: str, tmp_path: Path, isolated_home: Path) -> None:
    env = {**os.environ, "MIRRORNEURON_HOME": str(isolated_home)}
    out = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", KILLER, str(out), ",".join(SITES)], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert (out / "state.safetensors").exists() and not (out / "stats.safetensors").exists()
    assert len(list((out / "shards").glob("*.safetensors"))) == 2
    with pytest.raises(UserError, match="incomplete"):
        Harvest(out)
    next_shard, before = _saved_point(out)
    cmd = [
        sys.executable,
        "-m",
        "mirrorneuron",
        "harvest",
        small_lm,
        "--max-windows",
        "48",
        "--batch-size",
        "1",
        "--shard-windows",
        "8",
        "--sites",
        ",".join(SITES),
    ]
    subprocess.run([*cmd, "--out", str(out)], env=env, check=True, capture_output=True)
    _assert_resumed(out, next_shard, before)
    subprocess.run([*cmd, "--out", str(tmp_path / "clean")], env=env, check=True, capture_output=True)
    assert json.loads((tmp_path / "clean" / "manifest.json").read_text())["last_run"]["first_shard"] == 0
    _assert_same(out, tmp_path / "clean", exact=True)


class _Crash(Exception):
    pass


def test_resume_guard_catches_a_run_that_redoes_every_shard(
    small_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plant the fault the resume check guards against: a resume that ignores the saved state and redoes
    every shard (which still ends bit-identical, so only the skip check can see it)."""
    adapter = zoo_adapter(small_lm)
    spec = HarvestSpec(sites=SITES[:1], max_windows=48, batch_size=4, shard_windows=8, sample_size=300)

    def crash(done: int, total: int) -> None:
        if done >= 20:
            raise _Crash

    with pytest.raises(_Crash):
        harvest(adapter, spec, tmp_path / "h", crash)
    shutil.copytree(tmp_path / "h", tmp_path / "broken")
    next_shard, before = _saved_point(tmp_path / "h")
    harvest(adapter, spec, tmp_path / "h")
    _assert_resumed(tmp_path / "h", next_shard, before)  # the real resume passes
    _, before = _saved_point(tmp_path / "broken")
    monkeypatch.setattr(run, "_resume_state", lambda *a: (0, None))
    harvest(adapter, spec, tmp_path / "broken")
    _assert_same(tmp_path / "h", tmp_path / "broken", exact=True)
    with pytest.raises(AssertionError):
        _assert_resumed(tmp_path / "broken", next_shard, before)


def test_bad_input(small_lm: str, tmp_path: Path) -> None:
    adapter = zoo_adapter(small_lm)
    with pytest.raises(UserError, match="unknown site"):
        harvest(adapter, HarvestSpec(sites=("blocks.7.mlp.post",)), tmp_path / "x")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(UserError, match="empty"):
        harvest(adapter, HarvestSpec(corpus=str(empty)), tmp_path / "y")
    short = tmp_path / "short.txt"
    short.write_text("Too short.")
    with pytest.raises(UserError, match="too short"):
        harvest(adapter, HarvestSpec(corpus=str(short)), tmp_path / "z")
    harvest(adapter, HarvestSpec(sites=SITES[:1], max_windows=4), tmp_path / "h")
    with pytest.raises(UserError, match="different harvest"):
        harvest(adapter, HarvestSpec(sites=SITES, max_windows=4), tmp_path / "h")


def test_digits_harvest(tmp_path: Path) -> None:
    adapter = zoo_adapter("digits-cnn")
    h = harvest(adapter, HarvestSpec(corpus="digits", max_windows=None, shard_windows=512), tmp_path / "d")
    assert h.positions == 1 and h.n_windows == 1797
    assert set(h.sites) == {"conv.0.post", "conv.1.post", "fc.post"}
    assert h.width("conv.0.post") == 8 * 8 * 8 and h.inputs.shape == (1797, 8, 8)
    assert (h.unit_values("fc.post", 0) >= 0).all()  # ReLU


def test_statistics_run_on_one_torch_thread_and_the_count_is_restored(
    small_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mirrorneuron.harvest.stats import SiteAccumulator

    seen: list[int] = []
    update = SiteAccumulator.update

    def spy(self: SiteAccumulator, acts: torch.Tensor, first: int) -> None:
        seen.append(torch.get_num_threads())
        update(self, acts, first)

    monkeypatch.setattr(SiteAccumulator, "update", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        harvest(zoo_adapter(small_lm), HarvestSpec(sites=SITES, max_windows=8, batch_size=4), tmp_path / "h")
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
