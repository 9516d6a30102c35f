"""A harvested neuron as a game ``UnitContext``: its values, how each example looks, and level-2/3 hints.

Values come from the harvest cache; neighbours and contributions come from one forward pass of the
example's window (cached), so every level works for any example. Level 3 carries everything the value
needs (a gated MLP's up terms; SoLU's softmax normaliser and LayerNorm statistics, computed in float64 from
the whole layer's pre-activations) and the cache's precision, so the payload reproduces the cached value.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import cached_property, lru_cache
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from mirrorneuron.game import Contributions, NeighbourHint
from mirrorneuron.game.contributions import LayerNormStats, LinearPart, Precision, SoftmaxNorm
from mirrorneuron.harvest.cache import Harvest
from mirrorneuron.models.adapter import StopForward, TorchAdapter
from mirrorneuron.types import UnitRef, UserError
from mirrorneuron.units.base import CONTEXT_AFTER, CONTEXT_BEFORE, HarvestedUnit
from mirrorneuron.units.wiring import Link, Wiring, wiring

__all__ = ["CONTEXT_AFTER", "CONTEXT_BEFORE", "NeuronContext", "WindowCache"]

PREFETCH_BATCH = 64  # windows per batched forward pass


class NeuronContext(HarvestedUnit):
    """``game.UnitContext`` for one neuron of a harvested model."""

    def __init__(
        self,
        harvest: Harvest,
        adapter: TorchAdapter,
        site: str,
        index: int,
        shared: WindowCache | None = None,
        values: np.ndarray | None = None,
    ) -> None:
        """``values``: ``harvest.unit_values(site, index)`` if already read (a site's units read them as rows)."""
        super().__init__(harvest, adapter, site)
        self.index = index
        self.ref = UnitRef(adapter.name, site, "neuron", index)
        self.values = harvest.unit_values(site, index) if values is None else values
        self._forward = lru_cache(maxsize=16)(self._run_window) if shared is None else self._shared_forward
        self._shared = shared

    @cached_property
    def wiring(self) -> Wiring:
        """Made on first use (level 2 / 3 hints, a window's pass): a level 0 / 1 game does not wait for it."""
        return wiring(self.adapter, self.harvest, self.site, self.index)

    def _sites(self) -> list[str]:
        """The sites :meth:`_run_window` reads: this one and its neighbours'."""
        return sorted({lk.source for lk in self._links if not lk.source.startswith("@")} | {self.site})

    @cached_property
    def _links(self) -> list[Link]:
        return self.wiring.upstream + self.wiring.same_layer + self.wiring.downstream

    @cached_property
    def _hooked_key(self) -> tuple[str, ...]:
        """What a window's pass depends on besides the window: the sites read and the feeding module (the
        wiring is fixed once made: computed once per neuron)."""
        feed = self.wiring.feed if self.wiring.feed is not None else self.wiring.linear
        return (*self._sites(), f"@feed={id(feed)}")

    def _hooked(self) -> tuple[str, ...]:
        return self._hooked_key

    def _shared_forward(self, window: int) -> dict[str, np.ndarray]:
        """A window's forward pass from the cache shared with the site's other neurons: the pass depends only
        on the window and what is hooked, not on which neuron asks."""
        assert self._shared is not None
        return self._shared.get((self._hooked(), window), lambda: self._run_window(window))

    def prefetch(self, indices: Sequence[int], batch: int = PREFETCH_BATCH) -> int:
        """Run the passes of the windows of examples ``indices`` that the shared cache lacks, ``batch`` windows
        per forward pass, and cache each window's slice (the same values as its own pass: every op of the
        forward treats the windows of a batch independently). At most the cache's size of windows, in order of
        first appearance, so none is dropped before it is asked. Returns the number of passes run."""
        if self._shared is None:
            return 0
        hooked = self._hooked()
        windows = dict.fromkeys(self.harvest.example_location(int(i))[0] for i in indices)
        todo = [w for w in windows if not self._shared.has((hooked, w))][: self._shared.maxsize]
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            for w, acts in zip(chunk, self._run_windows(chunk), strict=True):
                self._shared.put((hooked, w), acts)
        return -(-len(todo) // batch)

    # --- level 2 and 3 -----------------------------------------------------------------------------
    def _run_window(self, window: int) -> dict[str, np.ndarray]:
        """Activations [P, ·] on one window: the needed sites, the feeding linear's input, the logits."""
        return self._run_windows([window])[0]

    def _run_windows(self, windows: Sequence[int]) -> list[dict[str, np.ndarray]]:
        """:meth:`_run_window` of each of ``windows``, from one forward pass of them as a batch."""
        sites = self._sites()
        captured: dict[str, torch.Tensor] = {}
        handles = []
        feed = self.wiring.feed if self.wiring.feed is not None else self.wiring.linear
        if feed is not None:
            handles.append(feed.register_forward_pre_hook(_capture(captured, "@input")))
        unembed = self._unembed
        if unembed is not None:  # its input, and the pass ends there: _read computes only the logits it needs
            handles.append(unembed.register_forward_pre_hook(_capture(captured, "@unembed_in", stop=True)))
        try:
            acts = self.adapter.run(
                self.adapter.to_tensor(self.harvest.inputs[np.asarray(windows, dtype=np.int64)]),
                sites,
                stop_early=unembed is None,
            )
        finally:
            for h in handles:
                h.remove()
        outs = []
        for b in range(len(windows)):
            out = {k: v[b].numpy() for k, v in acts.items()}  # [P, units]
            positions = out[self.site].shape[0]
            for k, v in captured.items():
                out[k] = v[b].detach().float().reshape(positions, -1).numpy()
            outs.append(out)
        return outs

    @cached_property
    def _unembed(self) -> nn.Linear | None:
        unembed = getattr(self.adapter.module, "unembed", None)
        return unembed if isinstance(unembed, nn.Linear) else None

    @cached_property
    def _logit_rows(self) -> dict[int, tuple[np.ndarray, float]]:
        """The unembedding's row and bias, in float64, of each logit this neuron's links read."""
        unembed, out = self._unembed, {}
        for t in sorted({lk.index for lk in self._links if lk.source == "@logits"}):
            assert unembed is not None
            bias = 0.0 if unembed.bias is None else float(unembed.bias[t].detach())
            out[t] = (unembed.weight[t].detach().double().numpy(), bias)
        return out

    def _read(self, acts: dict[str, np.ndarray], link: Link, p: int) -> float:
        if link.source == "@logits":  # one logit from the unembedding's input, not the whole vocabulary's
            row, bias = self._logit_rows[link.index]
            return float(row @ acts["@unembed_in"][p].astype(np.float64) + bias)
        return float(acts[link.source][p, link.index])

    def neighbours(self, index: int) -> Sequence[NeighbourHint]:
        w, p = self.harvest.example_location(index)
        acts = self._forward(w)
        groups: list[tuple[str, list[Link]]] = [
            ("upstream", self.wiring.upstream),
            ("same-layer", self.wiring.same_layer),
            ("downstream", self.wiring.downstream),
        ]
        hints = [NeighbourHint(lk.label, g, self._read(acts, lk, p)) for g, links in groups for lk in links]  # type: ignore[arg-type]
        return hints + self.simple_probes(index)

    @property
    def precision(self) -> Precision:
        """The precision of the cached (true) values: a float16 harvest rounds each one to float16."""
        dtype = str(self.harvest.activations(self.site).dtype)
        return "float16" if dtype == "float16" else "float32" if dtype == "float32" else "float64"

    def contributions(self, index: int) -> Contributions:
        wr = self.wiring
        if wr.linear is None or wr.act is None:
            raise UserError(f"level 3 needs a unit computed by a linear layer; {self.site} is not (try level 2)")
        w, p = self.harvest.example_location(index)
        x = self._forward(w)["@input"][p].astype(np.float64)
        i, labels, rows = self.index, wr.input_labels, self._rows
        terms = tuple(zip(labels, (rows.weight * x).tolist(), strict=True))
        up = softmax = layernorm = None
        if rows.up is not None:
            up = LinearPart(tuple(zip(labels, (rows.up * x).tolist(), strict=True)), rows.up_bias)
        if wr.act in ("solu", "solu_ln"):
            weight = _matrix(wr.linear.weight)
            pre = weight @ x + _vector(wr.linear.bias, weight.shape[0])  # [units]: over the whole layer
            log_z = float(np.logaddexp.reduce(pre))
            softmax = SoftmaxNorm(log_z, len(pre))
            if wr.act == "solu_ln" and wr.norm is not None:
                layernorm = _layernorm(wr.norm, pre * np.exp(pre - log_z), i)
        return Contributions(terms, rows.bias, wr.act, up, softmax, layernorm, rows.offset, self.precision)

    @cached_property
    def _rows(self) -> _Rows:
        """This unit's rows of the level-3 weights in float64, converted once (the same numbers as the rows of
        the whole converted matrices: the conversion is exact)."""
        wr = self.wiring
        assert wr.linear is not None
        i, n = self.index, wr.linear.weight.shape[0]
        up = None if wr.up is None else wr.up.weight[i].detach().double().numpy()
        up_bias = 0.0 if wr.up is None else float(_vector(wr.up.bias, wr.up.weight.shape[0])[i])
        weight = wr.linear.weight[i].detach().double().numpy()
        return _Rows(weight, float(_vector(wr.linear.bias, n)[i]), up, up_bias, float(_vector(wr.out_bias, n)[i]))


class _Rows(NamedTuple):
    weight: np.ndarray  # [in]
    bias: float
    up: np.ndarray | None  # [in]: a gated MLP's up projection
    up_bias: float
    offset: float


class WindowCache:
    """Forward passes per (hooked sites, window), shared by the neurons of one harvested site; the least
    recently used pass is dropped beyond ``maxsize`` (a tiny text model's window: ≈ 0.1 MB; its logits are not
    kept, only the unembedding's input)."""

    def __init__(self, maxsize: int = 1024) -> None:
        self.maxsize, self.runs = maxsize, 0
        self._passes: OrderedDict[tuple[tuple[str, ...], int], dict[str, np.ndarray]] = OrderedDict()

    def has(self, key: tuple[tuple[str, ...], int]) -> bool:
        return key in self._passes

    def get(self, key: tuple[tuple[str, ...], int], run: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        if key in self._passes:
            self._passes.move_to_end(key)
            return self._passes[key]
        return self.put(key, run())

    def put(self, key: tuple[tuple[str, ...], int], out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Cache one window's pass (made read-only: every neuron shares it)."""
        self._passes[key] = out
        self._passes.move_to_end(key)
        self.runs += 1
        for v in out.values():
            v.setflags(write=False)
        if len(self._passes) > self.maxsize:
            self._passes.popitem(last=False)
        return out


def _matrix(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _vector(t: torch.Tensor | None, n: int) -> np.ndarray:
    return np.zeros(n) if t is None else t.detach().double().numpy().reshape(-1)


def _layernorm(norm: nn.Module, mid: np.ndarray, i: int) -> LayerNormStats:
    """Unit ``i``'s view of a LayerNorm (torch's ``weight``/``bias`` or TransformerLens' ``w``/``b``) over ``mid``."""
    gain = getattr(norm, "weight", getattr(norm, "w", None))
    shift = getattr(norm, "bias", getattr(norm, "b", None))
    mean = float(mid.mean())
    std = float(np.sqrt(np.mean((mid - mean) ** 2) + float(getattr(norm, "eps", 1e-5))))
    g = float(_vector(gain, 1)[i]) if gain is not None else 1.0
    b = float(_vector(shift, 1)[i]) if shift is not None else 0.0
    return LayerNormStats(mean, std, g, b)


def _capture(store: dict[str, torch.Tensor], key: str, stop: bool = False) -> Callable[..., None]:
    """A forward pre-hook keeping the module's input under ``key``; ``stop``: the pass ends there."""

    def fn(_m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        store[key] = args[0]
        if stop:
            raise StopForward

    return fn
