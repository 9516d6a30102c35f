"""One streaming, resumable pass of a corpus through a model: per-unit stats, top-k, sample, activation cache.

Resumable: the inputs are fixed up front and cut into shards of ``shard_windows`` windows; after each shard
its activations are written atomically, and after it the accumulator state is too -- always after the first
shard, then whenever enough time has passed for its write to cost under 10 % of the run (it holds the sample,
larger than a shard), never after the last shard (the final stats follow). A killed harvest restarts after
the last saved state, redoes the shards after it, and ends bit-identical to an uninterrupted run; the
manifest's ``last_run`` says which shards the run that completed it computed (``first_shard``, ``computed_shards``).
Batches never cross shards, and the stats do not depend on batch size (see ``stats.SiteAccumulator``).
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file

import mirrorneuron
from mirrorneuron.corpus import Corpus, load_corpus, load_digits
from mirrorneuron.harvest.bundled import bundled_inputs
from mirrorneuron.harvest.cache import FORMAT_VERSION, Harvest, atomic_save, atomic_write_json, shard_path
from mirrorneuron.harvest.overlap import StatsPipeline
from mirrorneuron.harvest.shards import ShardActs, shard_batches, shard_bounds
from mirrorneuron.harvest.stats import SiteAccumulator
from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.tokenizer import encode_corpus, to_windows
from mirrorneuron.types import UserError

Progress = Callable[[int, int], None]  # (windows done, windows total)
ENGINES = ("local", "ray")
KEEP_BYTES = 256 * 2**20  # a harvest up to this size hands its activations to its reader in memory (see harvest)
STATE_EVERY = 10  # resumable state is written at most once per this many times its write time (see harvest)


@dataclass(frozen=True)
class HarvestSpec:
    corpus: str = "austen"
    sites: tuple[str, ...] = ()
    max_windows: int | None = 2000  # windows spread evenly over the corpus; None = all
    batch_size: int = 32
    shard_windows: int = 256
    top_k: int = 20
    sample_size: int = 16384
    dtype: str = "float16"
    seed: int = 0


def default_sites(adapter: TorchAdapter) -> list[str]:
    """Neuron sites: every MLP output (text) or hidden layer / conv / fc output (images)."""
    names = adapter.site_names()
    picked = [s for s in names if s.endswith("mlp.post")] or [s for s in names if s.endswith(".post")]
    return picked or names


def default_spec(adapter: TorchAdapter, **overrides: Any) -> HarvestSpec:
    """The harvest of ``adapter`` that every command makes unless told otherwise: the bundled corpus of its
    modality (austen / all the digits), the neuron sites, the adapter's window count; ``overrides`` replace
    fields (``sites=("resid.1",)``, ``max_windows=None``, …)."""
    image = adapter.modality == "image"
    base = HarvestSpec(
        corpus="digits" if image else "austen", max_windows=None if image else (adapter.default_windows or 2000)
    )
    return HarvestSpec(**(asdict(base) | overrides))


def tokenised_windows(adapter: TorchAdapter, spec: HarvestSpec) -> tuple[np.ndarray, Corpus]:
    """Tokenise the spec's corpus and pick its windows (``max_windows`` spread evenly over the corpus)."""
    if adapter.tokenizer is None or adapter.n_ctx is None:
        raise UserError(f"model {adapter.name} has no tokenizer")
    corpus = load_corpus(spec.corpus)
    windows = to_windows(encode_corpus(adapter.tokenizer, corpus), adapter.n_ctx)
    if spec.max_windows and len(windows) > spec.max_windows:
        windows = windows[np.linspace(0, len(windows) - 1, spec.max_windows).round().astype(int)]
    return windows, corpus


def load_inputs(adapter: TorchAdapter, spec: HarvestSpec) -> tuple[np.ndarray, str, str]:
    """The fixed input array for a harvest, plus the corpus id and checksum (text: the windows shipped with the
    model when they were made from the same tokenizer, corpus and window count, see ``bundled``)."""
    if adapter.modality == "image":
        if spec.corpus != "digits":
            raise UserError(f"model {adapter.name} takes images; the only image corpus is 'digits'")
        data = load_digits()
        return data.images, data.id, data.checksum
    if adapter.tokenizer is None or adapter.n_ctx is None:
        raise UserError(f"model {adapter.name} has no tokenizer")
    corpus = load_corpus(spec.corpus)
    shipped = bundled_inputs(adapter, corpus, spec.max_windows)
    windows = shipped if shipped is not None else tokenised_windows(adapter, spec)[0]
    return windows, corpus.id, corpus.checksum


def _manifest(
    adapter: TorchAdapter,
    spec: HarvestSpec,
    sites: Sequence[str],
    inputs: np.ndarray,
    corpus: tuple[str, str],
) -> dict[str, Any]:
    positions = inputs.shape[1] if adapter.modality == "text" else 1
    n_shards = -(-len(inputs) // spec.shard_windows)
    return {
        "format_version": FORMAT_VERSION,
        "mirrorneuron_version": mirrorneuron.__version__,
        "torch_version": torch.__version__,
        "model": {"name": adapter.name, "checksum": adapter.checksum},
        "modality": adapter.modality,
        "corpus": {"id": corpus[0], "checksum": corpus[1]},
        "spec": {**asdict(spec), "sites": list(sites)},
        "sites": {s: adapter.width(s) for s in sites},
        "n_windows": len(inputs),
        "positions": positions,
        "n_shards": n_shards,
        "complete": False,
    }


def _identity(manifest: dict[str, Any]) -> dict[str, Any]:
    """The parts of a manifest that define the harvest (not its progress or timing)."""
    return {k: v for k, v in manifest.items() if k not in ("complete", "seconds", "last_run")}


def _resume_state(
    out: Path, manifest: dict[str, Any], sites: Sequence[str]
) -> tuple[int, dict[str, SiteAccumulator] | None]:
    """(first shard to do, accumulators) from a previous run of the same harvest, else (0, None)."""
    old_path = out / "manifest.json"
    if not old_path.exists():
        return 0, None
    old = json.loads(old_path.read_text())
    if _identity(old) != _identity(manifest):
        raise UserError(f"{out} holds a different harvest; choose another --out or pass --force to overwrite it")
    state_file = out / "state.safetensors"
    if not state_file.exists():
        return 0, None
    flat = {k: torch.from_numpy(v) for k, v in load_file(str(state_file)).items()}
    accs = {
        s: SiteAccumulator.from_state_dict({k[len(s) + 1 :]: v for k, v in flat.items() if k.startswith(s + "/")})
        for s in sites
    }
    return int(flat["next_shard"].item()), accs


@contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Exclusive use of harvest folder ``out`` across threads and processes (``play`` starts the browser game's
    harvest before its server, whose first game asks for the same one): a second harvest waits, then finds
    the first one's result. The lock file sits beside the folder, which ``force`` may delete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        yield


def _finalize(accs: dict[str, SiteAccumulator]) -> dict[str, np.ndarray]:
    """Every site's results, flattened to ``site/name``; sites are finalised in parallel (numpy's quantiles
    release the GIL, and they are most of the cost)."""
    with ThreadPoolExecutor(max_workers=max(1, min(len(accs), torch.get_num_threads()))) as pool:
        results = dict(zip(accs, pool.map(SiteAccumulator.finalize, accs.values()), strict=True))
    return {f"{s}/{k}": np.asarray(v) for s, r in results.items() for k, v in r.items()}


# (Ray address, adapter, inputs, sites, spec, shards) -> per shard of `shards`, in order, its batches
Forward = Callable[
    [str | None, TorchAdapter, np.ndarray, Sequence[str], HarvestSpec, range], Generator[ShardActs, None, None]
]


def _local_forward(
    address: str | None,
    adapter: TorchAdapter,
    inputs: np.ndarray,
    sites: Sequence[str],
    spec: HarvestSpec,
    shards: range,
) -> Generator[ShardActs, None, None]:
    for shard in shards:
        lo, hi = shard_bounds(shard, spec.shard_windows, len(inputs))
        yield ((lo + b, lo + e, acts) for b, e, acts in shard_batches(adapter, inputs[lo:hi], sites, spec.batch_size))


def engine_forward(engine: str) -> Forward:
    """The engine dispatch: the function giving, per shard in order, its batches (window lo, hi, activations)."""
    if engine == "local":
        return _local_forward
    if engine != "ray":
        raise UserError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    try:
        from mirrorneuron.harvest.ray_engine import ray_forward
    except ImportError as e:
        if (e.name or "").split(".")[0] != "ray":
            raise
        raise UserError("--engine ray needs Ray: pip install 'mirrorneuron[ray]'") from None
    return ray_forward


def harvest(
    adapter: TorchAdapter,
    spec: HarvestSpec,
    out: Path,
    progress: Progress | None = None,
    force: bool = False,
    prepared: tuple[np.ndarray, str, str] | None = None,
    overlap: bool = True,
    engine: str = "local",
    address: str | None = None,
) -> Harvest:
    """Run (or resume) a harvest into ``out`` and return the reader for it.

    ``prepared`` is what ``load_inputs(adapter, spec)`` returns, for callers that already hold it (tokenising
    the whole corpus takes about a second); by default the harvest loads the inputs itself. ``overlap``: each
    batch's statistics run on a second thread during the next batch's forward (``overlap.StatsPipeline``; the
    results are the same either way). ``engine`` runs the forward passes here (``"local"``) or on a Ray cluster
    (``"ray"``, at ``address``; see ``ray_engine``): either way the cache is the same, byte for byte.
    """
    sites = list(spec.sites) or default_sites(adapter)
    for s in sites:
        adapter.width(s)  # unknown site → UserError before any work
    run_forward = engine_forward(engine)
    if address is not None and engine != "ray":
        raise UserError("--address is the Ray cluster to run on: use it with --engine ray")
    if spec.batch_size < 1 or spec.shard_windows < 1:
        raise UserError("batch size and shard size must be at least 1")
    inputs, corpus_id, corpus_sum = prepared or load_inputs(adapter, spec)
    with folder_lock(out):  # another harvest of `out` (thread or process) finishes first
        manifest = _manifest(adapter, spec, sites, inputs, (corpus_id, corpus_sum))
        if force and out.exists():
            shutil.rmtree(out)
        if (
            (out / "manifest.json").exists()
            and json.loads((out / "manifest.json").read_text()).get("complete")
            and not force
        ):
            old = Harvest(out)
            if _identity(old.manifest) == _identity(manifest):
                return old
        first, accs = _resume_state(out, manifest, sites)
        if accs is None:
            accs = {s: SiteAccumulator(adapter.width(s), spec.top_k, spec.sample_size, spec.seed) for s in sites}
            (out / "shards").mkdir(parents=True, exist_ok=True)
            atomic_save({"inputs": inputs}, out / "inputs.safetensors")
            atomic_write_json(manifest, out / "manifest.json")
        dtype = torch.float16 if spec.dtype == "float16" else torch.float32
        positions, total, n_shards = manifest["positions"], len(inputs), manifest["n_shards"]
        # A small harvest done in one run keeps every shard in one array per site and hands them to its reader,
        # which would otherwise read them straight back (the first game's unit values; issue 14's first start).
        itemsize = torch.finfo(dtype).bits // 8
        kept: dict[str, torch.Tensor] | None = None
        if first == 0 and total * positions * sum(adapter.width(s) for s in sites) * itemsize <= KEEP_BYTES:
            kept = {s: torch.empty((total, positions, adapter.width(s)), dtype=dtype) for s in sites}
        t0 = state_saved = time.perf_counter()
        state_cost = 0.0  # seconds the last state write took
        computed: list[int] = []

        def batch_stats(acts: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], b: int, lo: int) -> None:
            for s in sites:
                a = acts[s]
                buffers[s][b - lo : b - lo + a.shape[0]].copy_(a)
                accs[s].update(a.reshape(-1, a.shape[-1]), b * positions)

        forward = run_forward(address, adapter, inputs, sites, spec, range(first, n_shards))
        with StatsPipeline(threaded=overlap) as pipeline:
            for shard in range(first, n_shards):
                lo, hi = shard_bounds(shard, spec.shard_windows, total)
                buffers = {
                    s: kept[s][lo:hi] if kept else torch.empty((hi - lo, positions, adapter.width(s)), dtype=dtype)
                    for s in sites
                }
                for b, e, acts in next(forward):
                    pipeline.submit(partial(batch_stats, acts, buffers, b, lo))
                    if progress:
                        progress(e, total)
                pipeline.drain()  # this shard's statistics are complete before its files are written
                atomic_save({s: buf.numpy() for s, buf in buffers.items()}, shard_path(out, shard))
                computed.append(shard)
                # The state (mostly the sample) is larger than a shard; it is saved after the first shard, then once at
                # least STATE_EVERY times its last write time has passed: its writes stay under ~1/STATE_EVERY of the
                # run, and a kill loses little work. None after the last shard: the stats file comes next.
                if shard + 1 < n_shards and time.perf_counter() - state_saved >= STATE_EVERY * state_cost:
                    t_state = time.perf_counter()
                    state = {f"{s}/{k}": v.numpy() for s, acc in accs.items() for k, v in acc.state_dict().items()}
                    atomic_save(state | {"next_shard": np.asarray([shard + 1], dtype=np.int64)}, out / "state.safetensors")
                    state_saved = time.perf_counter()
                    state_cost = state_saved - t_state
        forward.close()
        stats = _finalize(accs)
        atomic_save(stats, out / "stats.safetensors")
        manifest |= {
            "complete": True,
            "seconds": round(time.perf_counter() - t0, 2),
            "last_run": {"first_shard": first, "computed_shards": computed},
        }
        atomic_write_json(manifest, out / "manifest.json")
        (out / "state.safetensors").unlink(missing_ok=True)
        return Harvest(out, {s: a.numpy() for s, a in kept.items()} if kept else None)
