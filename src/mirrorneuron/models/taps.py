"""Put named sites into ANY torch module (Hugging Face, TransformerLens or your own) without rebuilding it.

:func:`insert_site` registers a :class:`~mirrorneuron.models.sites.Site` under a TransformerLens-style name and
hooks an existing submodule so the site sees that submodule's output (or input) on every forward pass — and
can replace it (splicing). The model's own structure and weights stay as they are, so it is safe to call after
weights are loaded. Then the ordinary :class:`~mirrorneuron.models.adapter.TorchAdapter` reads and writes it::

    model = MyNet()                                                    # any nn.Module, weights loaded
    insert_site(model, "fc1", 128, name="hidden.pre")                  # fc1's output
    insert_site(model, "fc2", 128, where="input", name="hidden.post",  # fc2's input = relu(fc1(x))
                linear="fc1", act="relu")                              # level 3: weight × input terms
    adapter = TorchAdapter("mynet", model, "image")
    acts = adapter.run(x, ["hidden.post"])["hidden.post"]              # [batch, positions, 128]

``trim=(a, b)`` hides the first ``a`` and last ``b`` positions from the site (special tokens such as BERT's
``[CLS]``/``[SEP]`` that the model wrapper adds around every window): the site, its hooks and level-3 inputs
see only the window's own tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from mirrorneuron.models.sites import Site
from mirrorneuron.types import UserError

Trim = tuple[int, int]
Where = Literal["output", "input"]


class _Node(nn.Module):
    """A plain container that gives sites their dotted names (``blocks`` → ``3`` → ``mlp`` → ``post``)."""

    def forward(self, *args: Any) -> Any:  # never called: it only holds sites
        raise RuntimeError("a site container is not callable")


class SiteHost(nn.Module):
    """Wraps a model whose forward runs every child (``nn.Sequential``) so sites can hang beside it:
    ``host = SiteHost(seq); insert_site(host, "model.0", …)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)


class LinearView(nn.Module):
    """The weights that feed a site, as level 3 reads them: ``weight`` [units, inputs] and ``bias`` [units].

    Its forward is the identity; whoever creates it calls it with the feeding layer's (trimmed) input on every
    pass, so a forward pre-hook on the view sees exactly the input the weights multiply. What else the site's
    value needs hangs on the view: ``up`` (a gated MLP's up projection of the SAME input: ``act(gate) · up``),
    ``out_bias`` (a bias added after the nonlinearity, as TransformerLens' gated MLP adds ``b_in``) and
    ``norm`` (SoLU's LayerNorm over the layer).
    """

    up: LinearView | None
    norm: nn.Module | None

    def __init__(
        self,
        weight: Callable[[], torch.Tensor],
        bias: Callable[[], torch.Tensor | None],
        *,
        up: LinearView | None = None,
        out_bias: Callable[[], torch.Tensor | None] | None = None,
        norm: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self._weight_fn, self._bias_fn = weight, bias
        self._out_bias_fn = out_bias or (lambda: None)
        object.__setattr__(self, "up", up)  # plain attributes, not submodules: the view owns no weights
        object.__setattr__(self, "norm", norm)

    @property
    def weight(self) -> torch.Tensor:
        return self._weight_fn()

    @property
    def bias(self) -> torch.Tensor | None:
        return self._bias_fn()

    @property
    def out_bias(self) -> torch.Tensor | None:
        return self._out_bias_fn()

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _trimmed(x: torch.Tensor, trim: Trim) -> torch.Tensor:
    a, b = trim
    return x[:, a : x.shape[1] - b] if (a or b) else x


def _through(site: nn.Module, x: torch.Tensor, trim: Trim) -> torch.Tensor:
    """``x`` after the site (which may patch it); only the untrimmed positions pass through the site."""
    mid = _trimmed(x, trim)
    y = site(mid)
    if y is mid:
        return x
    if not (trim[0] or trim[1]):
        return y
    a, b = trim
    return torch.cat([x[:, :a], y.to(x.dtype), x[:, x.shape[1] - b :]], dim=1)


def _first_tensor(module_path: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[torch.Tensor, str | None]:
    """The tensor a module is called with: its first positional argument, else a ``hidden_states``-like kwarg."""
    if args and isinstance(args[0], torch.Tensor):
        return args[0], None
    for key in ("hidden_states", "x", "input"):
        if isinstance(kwargs.get(key), torch.Tensor):
            return kwargs[key], key
    raise TypeError(f"site at {module_path}: the module was not called with a tensor input")


def _output_hook(path: str, site: Site, trim: Trim) -> Callable[..., Any]:
    def fn(_m: nn.Module, _args: Any, out: Any) -> Any:
        x = out[0] if isinstance(out, tuple) else out
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"site at {path}: the module's output is not a tensor ({type(x).__name__})")
        y = _through(site, x, trim)
        if y is x:
            return None
        return (y, *out[1:]) if isinstance(out, tuple) else y

    return fn


def _input_hook(path: str, site: Site, trim: Trim) -> Callable[..., Any]:
    def fn(_m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        x, key = _first_tensor(path, args, kwargs)
        y = _through(site, x, trim)
        if y is x:
            return None
        if key is None:
            return (y, *args[1:]), kwargs
        return args, {**kwargs, key: y}

    return fn


def fire_on(module: nn.Module, view: LinearView, trim: Trim = (0, 0)) -> LinearView:
    """Call ``view`` with ``module``'s (trimmed) input on every forward of ``module``; returns the view."""

    def fn(_m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        x, _ = _first_tensor(type(module).__name__, args, kwargs)
        view(_trimmed(x, trim))

    module.register_forward_pre_hook(fn, with_kwargs=True)
    return view


def weights_of(layer: nn.Module, up: LinearView | None = None) -> LinearView:
    """A :class:`LinearView` of an ``nn.Linear`` (or a GPT-2 style ``Conv1D``, weight [in, out]), not fired."""
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        raise UserError(f"{type(layer).__name__} is not a linear layer: level 3 needs a 2-D weight")
    transposed = type(layer).__name__ == "Conv1D"  # transformers' Conv1D keeps weight as [in, out]
    src: Any = layer
    return LinearView(
        (lambda: src.weight.T) if transposed else (lambda: src.weight),
        lambda: getattr(src, "bias", None),
        up=up,
    )


def view_of(layer: nn.Module, trim: Trim = (0, 0), up: nn.Module | None = None) -> LinearView:
    """:func:`weights_of` ``layer``, fired by it; ``up``: a gated MLP's up projection (same input as ``layer``)."""
    return fire_on(layer, weights_of(layer, weights_of(up) if up is not None else None), trim)


def conv_view(conv: nn.Conv2d, height: int, width: int) -> LinearView:
    """A 2-D convolution over a ``[in_channels, height, width]`` input as the dense linear map it is: ``weight``
    [out units, in units] with units flattened channel-major (as a non-positional site flattens them).
    Not fired: hook ``conv`` itself for its input."""
    n_in = conv.in_channels * height * width

    def dense() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            basis = torch.eye(n_in, dtype=conv.weight.dtype).reshape(n_in, conv.in_channels, height, width)
            out = F.conv2d(basis, conv.weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)
        bias = conv.bias if conv.bias is not None else torch.zeros(out.shape[1])
        return out.reshape(n_in, -1).T, bias.detach().repeat_interleave(out.shape[2] * out.shape[3])

    return LinearView(lambda: dense()[0], lambda: dense()[1])


def _container(model: nn.Module, dotted: str) -> nn.Module:
    """The module at ``dotted`` under ``model``, creating empty containers where nothing exists yet."""
    node = model
    for part in [*(dotted.split(".") if dotted else []), None]:
        if isinstance(node, nn.Sequential | nn.ModuleList):
            raise UserError(
                f"cannot hang a site on a {type(node).__name__} (it would run as a layer); "
                "wrap the model first: model = SiteHost(model), then use paths like 'model.0'"
            )
        if part is None:
            break
        child = node._modules.get(part)
        if child is None:
            if hasattr(node, part):
                raise UserError(
                    f"cannot name a site through {part!r}: {type(node).__name__} already has that attribute"
                )
            child = _Node()
            node.add_module(part, child)
        node = child
    return node


def insert_site(
    model: nn.Module,
    module_path: str,
    width: int,
    where: Where = "output",
    name: str | None = None,
    *,
    positional: bool = True,
    linear: str | nn.Module | None = None,
    act: str | None = None,
    trim: Trim = (0, 0),
) -> Site:
    """Expose ``module_path``'s output (or input) as a site called ``name`` (default ``MODULE_PATH.out``/``.in``).

    ``linear`` (a submodule path, an ``nn.Linear``/``Conv1D``, or a :class:`LinearView`) and the elementwise
    ``act`` say how the site is computed — ``act(linear(x))`` — which level 3 splits into weight × input terms.
    """
    if where not in ("output", "input"):
        raise UserError(f"where must be 'output' or 'input', not {where!r}")
    try:
        target = model.get_submodule(module_path)
    except AttributeError:
        raise UserError(f"{type(model).__name__} has no submodule {module_path!r}") from None
    name = name or f"{module_path}.{'out' if where == 'output' else 'in'}"
    parent_path, _, leaf = name.rpartition(".")
    parent = _container(model, parent_path)
    if leaf in parent._modules or hasattr(parent, leaf):
        raise UserError(f"a site or attribute called {name!r} already exists")
    site = Site(width, positional)
    parent.add_module(leaf, site)
    if where == "output":
        target.register_forward_hook(_output_hook(module_path, site, trim))
    else:
        target.register_forward_pre_hook(_input_hook(module_path, site, trim), with_kwargs=True)
    if linear is not None:
        source = model.get_submodule(linear) if isinstance(linear, str) else linear
        view = source if isinstance(source, LinearView) else view_of(source, trim)
        attr = f"{leaf}_linear"
        if isinstance(parent, nn.ModuleDict):
            parent.add_module(attr, view)
        else:
            object.__setattr__(parent, attr, view)  # not registered: it owns no weights of its own
        site.linear, site.act = attr, act
    return site
