"""insert_site on a plain nn.Module: read, write, level-3 views, trimming, and clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mirrorneuron.models.adapter import TorchAdapter
from mirrorneuron.models.taps import LinearView, SiteHost, insert_site
from mirrorneuron.types import UserError


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def _net() -> Net:
    torch.manual_seed(0)
    return Net().eval()


def test_read_output_and_input_sites() -> None:
    net = _net()
    insert_site(net, "fc1", 8, name="hidden.pre", positional=False)
    insert_site(net, "fc2", 8, "input", "hidden.post", positional=False, linear="fc1", act="relu")
    adapter = TorchAdapter("net", net, "image")
    assert adapter.site_names() == ["hidden.pre", "hidden.post"]
    x = torch.randn(5, 6)
    acts = adapter.run(x, ["hidden.pre", "hidden.post"])
    torch.testing.assert_close(acts["hidden.pre"][:, 0], net.fc1(x))
    torch.testing.assert_close(acts["hidden.post"][:, 0], torch.relu(net.fc1(x)))
    assert set(dict(net.named_parameters())) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}


def test_write_changes_the_output_and_is_undone() -> None:
    net = _net()
    insert_site(net, "fc2", 8, "input", "hidden.post", positional=False)
    adapter = TorchAdapter("net", net, "image")
    x = torch.randn(4, 6)
    with torch.no_grad():
        before = net(x)
        with adapter.patched({"hidden.post": lambda a: torch.zeros_like(a)}):
            torch.testing.assert_close(net(x), net.fc2.bias.expand(4, 3))
        torch.testing.assert_close(net(x), before)


def test_level3_view_sees_the_feeding_input() -> None:
    net = _net()
    site = insert_site(net, "fc2", 8, "input", "h.post", positional=False, linear=net.fc1, act="relu")
    view = getattr(net.h, site.linear)
    assert isinstance(view, LinearView) and view.weight is net.fc1.weight and view.in_features == 6
    seen: list[torch.Tensor] = []
    view.register_forward_pre_hook(lambda _m, a: seen.append(a[0]))
    x = torch.randn(2, 6)
    net(x)
    torch.testing.assert_close(seen[0], x)


def test_trim_hides_edge_positions() -> None:
    lin = nn.Linear(4, 4)
    with pytest.raises(UserError, match="SiteHost"):
        insert_site(nn.Sequential(lin), "0", 4, name="out")
    model = SiteHost(nn.Sequential(lin))
    insert_site(model, "model.0", 4, name="out", trim=(1, 2))
    adapter = TorchAdapter("seq", model, "text")
    x = torch.randn(2, 7, 4)
    got = adapter.run(x, ["out"])["out"]
    torch.testing.assert_close(got, lin(x)[:, 1:5])
    with torch.no_grad(), adapter.patched({"out": lambda a: a * 0}):
        y = model(x)
    assert float(y[:, 1:5].abs().max()) == 0.0 and float(y[:, 0].abs().max()) > 0


def test_errors() -> None:
    net = _net()
    with pytest.raises(UserError, match="no submodule"):
        insert_site(net, "fc9", 8)
    insert_site(net, "fc1", 8, name="a.b")
    with pytest.raises(UserError, match="already exists"):
        insert_site(net, "fc1", 8, name="a.b")
    with pytest.raises(UserError, match="where must be"):
        insert_site(net, "fc1", 8, where="middle")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="not a linear layer"):
        insert_site(net, "fc1", 8, name="c", linear=nn.ReLU())
