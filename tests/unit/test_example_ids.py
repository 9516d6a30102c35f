"""Example ids: unique over the whole input window (encoders see past the target), stable for the same input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from mirrorneuron.harvest.cache import Harvest


def fake_harvest(folder: Path, inputs: np.ndarray, model: str = "enc", modality: str = "text") -> Harvest:
    """Just enough of a finished harvest for example ids: the manifest and the inputs."""
    folder.mkdir(parents=True)
    positions = inputs.shape[1] if modality == "text" else 1
    manifest = {"complete": True, "model": {"name": model}, "modality": modality, "sites": {}}
    (folder / "manifest.json").write_text(json.dumps({**manifest, "n_windows": len(inputs), "positions": positions}))
    save_file({"inputs": inputs}, str(folder / "inputs.safetensors"))
    return Harvest(folder)


WINDOWS = np.array([[5, 6, 7, 8], [5, 6, 7, 9], [5, 6, 7, 8]], dtype=np.int32)  # 0 and 1 differ after position 2


def test_examples_sharing_the_window_up_to_the_target_differ(tmp_path: Path) -> None:
    h = fake_harvest(tmp_path / "h", WINDOWS)
    for p in range(3):  # targets at or before the first differing token: same prefix, different windows
        assert h.example_id(p) != h.example_id(4 + p)
    assert len({h.example_id(e) for e in range(8)}) == 8  # every (window, target) of distinct windows


def test_ids_are_stable_for_the_same_input(tmp_path: Path) -> None:
    h = fake_harvest(tmp_path / "h", WINDOWS)
    again = fake_harvest(tmp_path / "copy", WINDOWS.copy())
    assert [h.example_id(e) for e in range(12)] == [again.example_id(e) for e in range(12)]
    assert h.example_id(1) == h.example_id(9)  # windows 0 and 2 are equal, so are their examples
    # pinned: stored games refer to these ids, so the scheme must not drift between versions
    assert h.example_id(2) == PINNED


def test_the_same_window_of_another_model_is_another_example(tmp_path: Path) -> None:
    # token ids mean different text under another tokenizer; the store keys examples by id alone
    a, b = fake_harvest(tmp_path / "a", WINDOWS), fake_harvest(tmp_path / "b", WINDOWS, model="other")
    assert a.example_id(2) != b.example_id(2)


def test_image_ids_cover_the_whole_image(tmp_path: Path) -> None:
    images = np.zeros((2, 8, 8), dtype=np.float32)
    images[1, 7, 7] = 1.0
    h = fake_harvest(tmp_path / "img", images, model="digits", modality="image")
    assert h.example_id(0) != h.example_id(1)


PINNED = "cbb88261c5e2013e"  # sha1(b"enc\0" + int32 LE [5, 6, 7, 8] + int32 LE 2), first 16 hex
