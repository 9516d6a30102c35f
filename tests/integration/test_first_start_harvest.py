"""Issue 14's first start, harvest side: a harvest hands its activations to its reader in memory, shards are
read one site at a time, and two harvests of one folder at once take turns (the browser path's early harvest)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from test_harvest import SITES, _assert_same

from mirrorneuron.harvest import cache, run
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.models.loader import zoo_adapter

SPEC = HarvestSpec(sites=SITES, max_windows=24, batch_size=4, shard_windows=8, sample_size=300)


def _assert_kept_equal_read(kept: Harvest, path: Path) -> None:
    read = Harvest(path)
    for s in SITES:
        a, b = kept.activations(s), read.activations(s)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_a_small_harvest_hands_over_the_activations_it_wrote(
    small_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harvest(zoo_adapter(small_lm), SPEC, tmp_path / "h")
    reads: list[Path] = []
    monkeypatch.setattr(cache, "_load", lambda path, key=None: reads.append(path) or {})
    kept = {s: h.activations(s) for s in SITES}  # no shard read back: they came from the harvest
    assert not reads and all(a.size for a in kept.values())
    monkeypatch.undo()
    _assert_kept_equal_read(h, tmp_path / "h")


def test_hand_over_guard_catches_a_buffer_changed_after_its_shard_was_written(
    small_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plant the fault the guard is for: what the reader gets in memory differs from the shards on disk."""
    save = cache.atomic_save

    def save_then_scribble(tensors: dict[str, np.ndarray], path: Path) -> None:
        save(tensors, path)
        if path.parent.name == "shards":
            for v in tensors.values():
                v[0, 0, 0] += 1  # the kept array, changed after the shard file was written

    monkeypatch.setattr(run, "atomic_save", save_then_scribble)
    h = harvest(zoo_adapter(small_lm), SPEC, tmp_path / "h")
    with pytest.raises(AssertionError):
        _assert_kept_equal_read(h, tmp_path / "h")


def test_a_harvest_over_the_size_limit_or_resumed_reads_its_shards(
    small_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run, "KEEP_BYTES", 0)
    h = harvest(zoo_adapter(small_lm), SPEC, tmp_path / "h")
    assert not h._acts
    _assert_kept_equal_read(h, tmp_path / "h")


def test_concurrent_harvests_of_one_folder_take_turns(small_lm: str, tmp_path: Path) -> None:
    """While one harvest of a folder runs, another of the same folder waits, then finds it done."""
    adapter = zoo_adapter(small_lm)
    harvest(adapter, SPEC, tmp_path / "ref")
    out = tmp_path / "h"
    done: list[Harvest] = []
    with run.folder_lock(out):  # as if another harvest of `out` were running
        t = threading.Thread(target=lambda: done.append(harvest(adapter, SPEC, out)))
        t.start()
        t.join(1.0)
        assert t.is_alive() and not out.exists()  # waiting: nothing written
    t.join()
    assert done and done[0].manifest["complete"]
    _assert_same(tmp_path / "ref", out, exact=True)


def test_folder_lock_guard_catches_a_harvest_that_does_not_wait(
    small_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plant the fault: no lock taken. The harvest writes while the (test's) other harvest holds the folder."""
    from contextlib import nullcontext

    adapter = zoo_adapter(small_lm)
    out = tmp_path / "h"
    with run.folder_lock(out):
        monkeypatch.setattr(run, "folder_lock", lambda path: nullcontext())
        harvest(adapter, SPEC, out)
        assert out.exists()  # what test_concurrent_harvests_of_one_folder_take_turns asserts against


def test_shards_are_read_one_site_at_a_time(small_lm: str, tmp_path: Path) -> None:
    harvest(zoo_adapter(small_lm), HarvestSpec(sites=SITES, max_windows=12, shard_windows=8), tmp_path / "h")
    h = Harvest(tmp_path / "h")
    got = cache._load(cache.shard_path(h.path, 0), SITES[0])
    assert list(got) == [SITES[0]]
    with pytest.raises(Exception, match="corrupt"):
        cache._load(cache.shard_path(h.path, 0), "no.such.site")
    whole = cache._load(cache.shard_path(h.path, 0))[SITES[1]]
    assert h.activations(SITES[1])[:8].tobytes() == whole.tobytes()
