"""The fixed, held-out evaluation slice a splice is measured on, per kind of model.

- language models: the LAST ``n`` windows of the harvest's corpus (the bundled one of the model's modality)
  that are not among the harvest's inputs, so no window behind a unit's statistics, reference examples or
  bot training is scored; when every window was harvested, the last ``n`` windows, and the slice says so.
- ``textcls``: ``n`` windows spread evenly over the classifier's balanced validation windows (the last 5 % of
  each corpus, held out of training; see :mod:`mirrorneuron.models.textcls`).
- digits: ``n`` images spread evenly over the validation split (held out of training; the digits harvest
  holds every image, so these may be among a unit's references).
"""

from __future__ import annotations

import numpy as np

from mirrorneuron.buildout.splice import Task
from mirrorneuron.corpus import digits_split, load_corpus, load_digits
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.harvest.run import default_spec
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.tokenizer import encode_corpus, to_windows
from mirrorneuron.models.zoo import ZooConfig, zoo_config
from mirrorneuron.types import UserError


def _spread(n_total: int, n: int) -> np.ndarray:
    return np.linspace(0, n_total - 1, min(n, n_total)).round().astype(int)


def lm_slice(adapter: TorchAdapter, n: int, harvest: Harvest | None, corpus: str | None = None) -> Task:
    if adapter.tokenizer is None or adapter.n_ctx is None:
        raise UserError(f"model {adapter.name} is not a text model with a fixed window")
    name = corpus or default_spec(adapter).corpus
    windows = to_windows(encode_corpus(adapter.tokenizer, load_corpus(name)), adapter.n_ctx).astype(np.int64)
    seen = set()
    if harvest is not None and harvest.inputs.shape[1:] == windows.shape[1:]:
        seen = {row.tobytes() for row in np.asarray(harvest.inputs, dtype=np.int64)}
    fresh = np.flatnonzero([row.tobytes() not in seen for row in windows])
    if fresh.size:
        picked = fresh[-n:]
        note = f"the last {len(picked)} windows of corpus {name!r} not in the harvest ({fresh.size} such windows)"
    else:
        picked = np.arange(len(windows))[-n:]
        note = f"the last {len(picked)} windows of corpus {name!r} (every window was harvested: NOT held out)"
    return Task("lm", windows[picked], slice=note)


def digits_slice(n: int) -> Task:
    data = load_digits()
    val = digits_split(data)[1]
    picked = val[_spread(len(val), n)]
    note = f"{len(picked)} images spread over the digits validation split ({len(val)} images)"
    return Task("classifier", data.images[picked], data.labels[picked], note)


def textcls_slice(adapter: TorchAdapter, cfg: ZooConfig, n: int) -> Task:
    from mirrorneuron.models.textcls import _val_windows, class_streams

    assert adapter.tokenizer is not None
    windows, labels = _val_windows(cfg, class_streams(cfg, adapter.tokenizer))
    picked = _spread(len(windows), n)
    note = f"{len(picked)} windows spread over the balanced validation windows of {cfg.corpus} ({len(windows)})"
    return Task("classifier", windows[picked].numpy(), labels[picked].numpy(), note)


def model_task(adapter: TorchAdapter, n: int, harvest: Harvest | None = None) -> Task:
    """The held-out slice of ``n`` inputs for ``adapter`` (zoo task if it is a zoo model, else a text LM)."""
    if n < 1:
        raise UserError("--windows must be at least 1")
    try:
        cfg: ZooConfig | None = zoo_config(adapter.name)
    except UserError:  # a built-in real or registered model: a text LM
        cfg = None
    if cfg is not None and cfg.task == "digits":
        return digits_slice(n)
    if cfg is not None and cfg.task == "textcls":
        return textcls_slice(adapter, cfg, n)
    if adapter.modality != "text":
        raise UserError(f"model {adapter.name}: splicing knows zoo image models (digits) and text models only")
    return lm_slice(adapter, n, harvest)
