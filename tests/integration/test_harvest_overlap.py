"""The harvest's statistics overlapped with the next forward (harvest/overlap.py, issue 14)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch
from test_harvest import SITES, _assert_same

from mirrorneuron.harvest import overlap
from mirrorneuron.harvest.run import HarvestSpec, harvest
from mirrorneuron.harvest.stats import SiteAccumulator
from mirrorneuron.models.loader import zoo_adapter

SPEC = HarvestSpec(sites=SITES, max_windows=24, batch_size=4, shard_windows=8, sample_size=300)


def _spy_threads(monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> list[int]:
    """Record the thread of every ``SiteAccumulator.update`` (optionally slowed down by ``delay`` s)."""
    seen: list[int] = []
    update = SiteAccumulator.update

    def spy(self: SiteAccumulator, acts: torch.Tensor, first: int) -> None:
        seen.append(threading.get_ident())
        time.sleep(delay)
        update(self, acts, first)

    monkeypatch.setattr(SiteAccumulator, "update", spy)
    return seen


def test_overlapped_statistics_equal_in_line_ones_and_run_beside_the_forward(
    small_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = zoo_adapter(small_lm)
    seen = _spy_threads(monkeypatch)
    harvest(adapter, SPEC, tmp_path / "inline", overlap=False)
    main = threading.get_ident()
    assert seen and set(seen) == {main}
    seen.clear()
    harvest(adapter, SPEC, tmp_path / "overlap")
    assert seen and main not in seen  # the default overlaps: every update ran on the worker thread
    _assert_same(tmp_path / "inline", tmp_path / "overlap", exact=True)


def test_overlap_guard_catches_shards_written_before_their_statistics(
    small_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plant the fault the per-shard drain prevents: a shard saved while its last batch is still pending."""
    adapter = zoo_adapter(small_lm)
    harvest(adapter, SPEC, tmp_path / "ref", overlap=False)
    _spy_threads(monkeypatch, delay=0.2)  # the first site's update is slow: the second's copy comes late
    monkeypatch.setattr(overlap.StatsPipeline, "drain", lambda self: None)
    harvest(adapter, SPEC, tmp_path / "racy")
    with pytest.raises(AssertionError):
        _assert_same(tmp_path / "ref", tmp_path / "racy", exact=True)


def test_an_error_in_the_statistics_thread_stops_the_harvest(
    small_lm: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nan(self: SiteAccumulator, acts: torch.Tensor, first: int) -> None:
        raise ValueError("activations contain NaN")

    monkeypatch.setattr(SiteAccumulator, "update", nan)
    with pytest.raises(ValueError, match="NaN"):
        harvest(zoo_adapter(small_lm), SPEC, tmp_path / "h")
    assert not (tmp_path / "h" / "stats.safetensors").exists()
    assert not list((tmp_path / "h" / "shards").glob("*.safetensors"))  # not even the first shard


def test_worker_runs_on_one_torch_thread_and_the_callers_count_is_kept() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    counts: list[int] = []
    try:
        with overlap.StatsPipeline() as p:
            p.submit(lambda: counts.append(torch.get_num_threads()))
            p.drain()
            counts.append(torch.get_num_threads())  # the caller's own count, while the worker lives
        assert counts == [1, 2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
