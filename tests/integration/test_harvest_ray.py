"""The Ray engine writes the same cache as the local engine (manifest and every byte of every tensor file), resumes
like it, and without Ray ``--engine ray`` says in one line how to install it."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from cli_run import run_main
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.loader import zoo_adapter

SPEC = HarvestSpec(max_windows=64, shard_windows=16, batch_size=8, sample_size=2000)  # 4 shards, both MLP sites


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def cache_files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*.safetensors"))}


def assert_same_cache(a: Path, b: Path) -> None:
    """Same manifest (but its run time and which shards the last run computed) and byte-identical safetensors
    files, the same set of them."""
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    drop = ("seconds", "last_run")
    assert {k: v for k, v in ma.items() if k not in drop} == {k: v for k, v in mb.items() if k not in drop}
    fa, fb = cache_files(a), cache_files(b)
    assert fa.keys() == fb.keys()
    for name in fa:
        assert fa[name] == fb[name], name


class _Crash(Exception):
    pass


@pytest.mark.timeout(900)  # ~40 s on an idle machine (Ray's start included); minutes when the machine is busy
def test_ray_engine_writes_the_local_engines_cache_and_resumes(
    ray_session: None, small_lm: str, tmp_path: Path
) -> None:
    adapter = zoo_adapter(small_lm)
    local = harvest(adapter, SPEC, tmp_path / "local")
    on_ray = harvest(adapter, SPEC, tmp_path / "ray", engine="ray")
    assert on_ray.manifest["last_run"] == {"first_shard": 0, "computed_shards": [0, 1, 2, 3]}
    assert_same_cache(local.path, on_ray.path)
    assert len(local.sites) == 2 and len(cache_files(local.path)) == 2 + 4  # inputs, stats, 4 shards

    # killed half-way on the local engine, finished on Ray: only the shards after the saved state run there
    def crash(done: int, total: int) -> None:
        if done > 40:
            raise _Crash

    with pytest.raises(_Crash):
        harvest(adapter, SPEC, tmp_path / "resumed", crash)
    resumed = harvest(adapter, SPEC, tmp_path / "resumed", engine="ray")
    first = resumed.manifest["last_run"]["first_shard"]
    assert first > 0 and resumed.manifest["last_run"]["computed_shards"] == list(range(first, 4))
    assert_same_cache(local.path, resumed.path)


def test_the_cache_comparison_sees_one_changed_value_or_manifest_field(tmp_path: Path) -> None:
    """Plant the faults the identity check guards against: one fp16 activation off by one ulp; one manifest
    field different."""
    ref = tmp_path / "ref"
    (ref / "shards").mkdir(parents=True)
    acts = np.linspace(-1, 1, 24, dtype=np.float16).reshape(2, 3, 4)
    save_file({"blocks.0.mlp.post": acts}, str(ref / "shards" / "00000.safetensors"))
    (ref / "manifest.json").write_text(json.dumps({"complete": True, "seconds": 1.0, "n_windows": 2}))
    same = tmp_path / "same"
    shutil.copytree(ref, same)
    (same / "manifest.json").write_text(json.dumps({"complete": True, "seconds": 9.0, "n_windows": 2}))
    assert_same_cache(ref, same)  # the run time may differ
    off = tmp_path / "off"
    shutil.copytree(ref, off)
    bumped = acts.copy()
    bumped[1, 2, 3] = np.nextafter(bumped[1, 2, 3], np.float16(2))
    save_file({"blocks.0.mlp.post": bumped}, str(off / "shards" / "00000.safetensors"))
    with pytest.raises(AssertionError):
        assert_same_cache(ref, off)
    field = tmp_path / "field"
    shutil.copytree(ref, field)
    (field / "manifest.json").write_text(json.dumps({"complete": True, "seconds": 1.0, "n_windows": 3}))
    with pytest.raises(AssertionError):
        assert_same_cache(ref, field)
    assert load_file(str(off / "shards" / "00000.safetensors"))["blocks.0.mlp.post"][1, 2, 3] != acts[1, 2, 3]


def test_without_ray_the_engine_says_how_to_install_it(
    small_lm: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    monkeypatch.delitem(sys.modules, "mirrorneuron.harvest.ray_engine", raising=False)
    code, out, err = run_main(
        ["harvest", small_lm, "--engine", "ray", "--max-windows", "8", "--out", str(tmp_path / "h")],
        capsys,
        monkeypatch,
    )
    errors = [line for line in (out + err).splitlines() if "error" in line.lower()]
    assert code == 2 and len(errors) == 1 and "pip install 'mirrorneuron[ray]'" in errors[0], out + err
    assert "Traceback" not in out + err and not (tmp_path / "h").exists()
    code, out, err = run_main(
        ["harvest", small_lm, "--engine", "spark", "--out", str(tmp_path / "h")], capsys, monkeypatch
    )
    assert code == 2 and "unknown engine 'spark'" in out + err and not (tmp_path / "h").exists()
    code, out, err = run_main(
        ["harvest", small_lm, "--address", "x:1", "--out", str(tmp_path / "h")], capsys, monkeypatch
    )
    assert code == 2 and "--engine ray" in out + err
