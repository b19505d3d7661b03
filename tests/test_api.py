"""stitchtest.compare: any two nn.Modules by layer name, frozen and left as they were found."""
import csv
import doctest
import math

import numpy as np
import pytest
import torch
from torch import nn

import stitchtest
from stitchtest import api
from stitchtest.stitching.layers import LayerModel
from stitchtest.measures import LinearCKA
from stitchtest.stitching import StitchConfig

FAST = StitchConfig(steps=5, batch_size=32, precision="fp32")


@pytest.fixture(autouse=True)
def one_thread():
    """Small models: one torch thread is fastest, and much faster on a loaded shared CPU."""
    from stitchtest.runtime import devices

    with devices.threads(1):
        yield


def cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


def data(n: int = 120, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_docstring_example():
    assert doctest.testmod(api, raise_on_error=False).failed == 0


def test_exported_from_the_package():
    assert stitchtest.compare is api.compare and stitchtest.Comparison is api.Comparison


def test_both_models_frozen_while_it_runs_and_restored_after():
    a, b = cnn(0), cnn(1)
    b.train()
    b[0].weight.requires_grad_(False)  # a mixed state must come back exactly
    for p in b.parameters():
        p.grad = torch.full_like(p, 7.0)
    before = {k: v.clone() for k, v in b.state_dict().items()}  # BatchNorm statistics included
    grads = [p.grad.clone() for p in b.parameters()]
    seen = []
    original = LayerModel.trace

    def spy(self, h, start="input"):
        seen.append((self.model.training, any(p.requires_grad for p in self.model.parameters())))
        return original(self, h, start)

    LayerModel.trace = spy
    try:
        result = api.compare(a, b, data(), layers_a=["2", "4"], layers_b=["2", "4"], methods=["tlm"], stitch=FAST)
    finally:
        LayerModel.trace = original
    assert seen and set(seen) == {(False, False)}, "models must be in eval mode with no gradients throughout"
    assert b.training and a.training and all(m.training for m in b.modules())
    assert [p.requires_grad for p in b.parameters()] == [False] + [True] * (len(grads) - 1)
    for k, v in b.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    for p, g in zip(b.parameters(), grads):
        torch.testing.assert_close(p.grad, g, rtol=0, atol=0)
    assert result.matrix("tlm").shape == (2, 2) and np.isfinite(result.matrix("tlm")).all()


def test_self_stitch_by_least_squares_is_the_receiver():
    """A's layer into the same layer of A, closed-form: the identity map, so the receiver's own accuracy."""
    a = cnn(0)
    result = api.compare(a, a, data(200), layers_a=["2"], layers_b=["2"], methods=["dm"])
    rows = {r["readout"]: r["value"] for r in result.rows}
    assert rows["accuracy"] == pytest.approx(rows["receiver_accuracy"]) and rows["agreement"] == pytest.approx(1.0)
    assert rows["latent_error"] < 1e-6


def test_tensors_dataset_and_dataloader_give_the_same_result():
    x, y = data()
    test = data(40, seed=1)
    ds = torch.utils.data.TensorDataset(x, y)
    results = [api.compare(cnn(0), cnn(1), d, test_data=test, layers_a=["2", "4"], layers_b=["4"],
                           methods=["dm", LinearCKA()]).rows
               for d in ((x, y), ds, torch.utils.data.DataLoader(ds, batch_size=17))]
    assert results[0] == results[1] == results[2]


def test_rows_csv_pandas_and_heatmap(tmp_path):
    result = api.compare(cnn(0), cnn(1), data(), layers_a=["2", "4"], layers_b=["2", "4"],
                         methods=["dm", "linear_cka"])
    assert {r["method"] for r in result.rows} == {"dm", "linear_cka"}
    assert len([r for r in result.rows if r["method"] == "linear_cka"]) == 4  # one per cell and readout
    result.to_csv(tmp_path / "r.csv")
    with open(tmp_path / "r.csv", newline="") as f:
        back = list(csv.DictReader(f))
    assert len(back) == len(result.rows) and list(back[0]) == list(api.COLUMNS)
    assert all(math.isclose(float(b["value"]), r["value"], rel_tol=1e-12) for b, r in zip(back, result.rows))
    assert "A \\ B" in result.table("linear_cka") and "4" in result.table("dm", "latent_error")
    result.heatmap(tmp_path / "cka.png", "linear_cka")
    assert (tmp_path / "cka.png").stat().st_size > 1000
    with pytest.raises(KeyError, match="no method"):
        result.matrix("tlm")


def test_to_pandas():
    pd = pytest.importorskip("pandas")
    result = api.compare(cnn(0), cnn(1), data(), layers_a=["4"], layers_b=["4"], methods=["linear_cka"])
    frame = result.to_pandas()
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(api.COLUMNS) and len(frame) == 1


def test_unknown_layer_names_near_ones():
    with pytest.raises(KeyError, match="has no layer .layer.*top-level layers: 0, 1"):
        api.compare(cnn(0), cnn(1), data(), layers_a=["layer"], layers_b=["2"])


def test_a_layer_with_a_skip_around_it_fails_its_cells_with_the_reason():
    torchvision = pytest.importorskip("torchvision")
    b = torchvision.models.resnet18(weights=None, num_classes=10)
    x = torch.randn(40, 3, 16, 16)
    y = torch.randint(0, 10, (40,))
    with pytest.warns(RuntimeWarning, match="does not cut"):
        result = api.compare(b, b, (x, y), layers_a=["layer1"], layers_b=["layer1.0.conv1", "layer1"],
                             methods=["dm"])
    by = {(r["layer_b"], r["readout"]): r["value"] for r in result.rows}
    assert "skip connection" in by["layer1.0.conv1", "failure"]
    assert by["layer1", "accuracy"] == pytest.approx(by["layer1", "receiver_accuracy"])


class TokenNet(nn.Module):
    """A tiny token model: each image row is a token, then a token-wise MLP block and a mean over tokens."""

    def __init__(self, width: int):
        super().__init__()
        self.embed = nn.Linear(8, width)
        self.block = nn.Sequential(nn.Linear(width, width), nn.GELU())
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        tokens = self.embed(x.flatten(1, 2))  # (N, 1, 8, 8) -> (N, 8 tokens, 8) -> (N, 8, width)
        return self.head(self.block(tokens).mean(dim=1))


def test_token_cuts_are_stitched_and_measured():
    torch.manual_seed(0)
    a, b = TokenNet(12), TokenNet(16)
    result = api.compare(a, b, data(160), layers_a=["embed", "block"], layers_b=["embed", "block"],
                         methods=["tlm", "dm", LinearCKA(vectors="mean"), LinearCKA()], stitch=FAST)
    for method in ("tlm", "dm"):
        acc = result.matrix(method, "accuracy")
        assert np.isfinite(acc).all() and ((0 <= acc) & (acc <= 1)).all()
    assert not [r for r in result.rows if r["readout"] == "failure"]
    mean = result.matrix("linear_cka(debiased=False,vectors=mean)")
    flat = result.matrix("linear_cka(debiased=False)")
    assert np.isfinite(mean).all() and not np.allclose(mean, flat)
    # the self-stitch of a token cut by least squares is exact
    same = api.compare(a, a, data(160), layers_a=["block"], layers_b=["block"], methods=["dm"])
    assert {r["readout"]: r["value"] for r in same.rows}["latent_error"] < 1e-6


def test_a_module_called_twice_is_refused_as_a_cut():
    torchvision = pytest.importorskip("torchvision")
    net = torchvision.models.resnet18(weights=None, num_classes=10)  # BasicBlock calls self.relu twice
    with pytest.raises(ValueError, match="more than once"):
        LayerModel(net, ["layer1.0.relu"], torch.randn(1, 3, 16, 16))
    assert LayerModel(net, ["layer1.0", "layer1"], torch.randn(1, 3, 16, 16)).cuts == ("layer1.0", "layer1", "logits")


def test_groups_side_by_side_in_threads_give_the_same_cells():
    """Receiver layers' groups run in threads where there are threads for them (as in the testbeds)."""
    from stitchtest.runtime import devices

    args = dict(layers_a=["2", "4"], layers_b=["2", "4"], methods=["tlm"], stitch=FAST)
    alone = api.compare(cnn(0), cnn(1), data(), **args)
    with devices.threads(2):
        side_by_side = api.compare(cnn(0), cnn(1), data(), **args)
    for readout in ("accuracy", "latent_error"):
        np.testing.assert_allclose(side_by_side.matrix("tlm", readout), alone.matrix("tlm", readout), atol=1e-4)
