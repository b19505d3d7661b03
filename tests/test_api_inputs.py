"""stitchtest.compare with inputs as researchers have them: checked before any work, dict and
integer inputs, output objects, one compute engine with the testbeds, and feedback."""
import logging
import math

import numpy as np
import pytest
import torch
from torch import nn

from stitchtest import api
from stitchtest.engine import methods
from stitchtest.records.rows import CellRow, Record
from stitchtest.stitching import StitchConfig

FAST = StitchConfig(steps=5, batch_size=32, precision="fp32")


@pytest.fixture(autouse=True)
def one_thread():
    from stitchtest.runtime import devices

    with devices.threads(1):
        yield


def mlp(seed: int, classes: int = 10) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, classes))


def data(n: int = 80, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def run(data_, model_b=None, **kw):
    kw = {"layers_a": ["2"], "layers_b": ["2"], "methods": ["linear_cka"], **kw}
    return api.compare(mlp(0), model_b or mlp(1), data_, **kw)


# ---------------------------------------------------------------- bad inputs: one clear error, before any work

def test_x_and_y_of_different_lengths():
    x, y = data()
    with pytest.raises(ValueError, match=r"data: inputs 'x' have 80 samples but the labels have 70"):
        run((x, y[:70]))


def test_one_hot_labels():
    x, y = data()
    with pytest.raises(ValueError, match=r"data: labels must be class indices .*\(80, 10\).*one-hot"):
        run((x, nn.functional.one_hot(y, 10)))


def test_labels_out_of_the_receivers_range():
    x, y = data()
    with pytest.raises(ValueError, match=r"labels range over 0\.\.9 but model_b .* outputs 5 class scores"):
        run((x, y), model_b=mlp(1, classes=5))


def test_nan_or_inf_images():
    x, y = data()
    x[3, 0, 1, 1] = math.inf
    x[7, 0, 0, 0] = math.nan
    with pytest.raises(ValueError, match=r"data: inputs 'x' hold NaN or inf in 2 samples \(first: sample 3\)"):
        run((x, y))
    with pytest.raises(ValueError, match=r"test_data: inputs 'x' hold NaN"):
        run(data(), test_data=(x, y))


def test_a_shuffling_dataloader_is_refused():
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*data()), batch_size=16, shuffle=True)
    with pytest.raises(ValueError, match="data: this DataLoader shuffles"):
        run(loader)


def test_a_misspelled_readout_is_named_with_near_ones(tmp_path):
    result = run(data(), methods=["dm"])
    for call in (lambda: result.matrix("dm", "acuracy"), lambda: result.table("dm", "acuracy"),
                 lambda: result.heatmap("dm", "acuracy")):
        with pytest.raises(KeyError, match=r"dm\(sgd=False\) has no readout 'acuracy'; did you mean accuracy"):
            call()


# ---------------------------------------------------------------- one compute engine with the testbeds

def test_a_failing_or_nan_measure_is_a_failed_cell_with_a_warning_and_its_reason():
    def broken(a, b):
        raise RuntimeError("boom")

    def nan(a, b):
        return float("nan")

    with pytest.warns(RuntimeWarning) as caught:
        result = run(data(), layers_a=["2", "4"], methods=[broken, nan])
    messages = [str(w.message) for w in caught]
    assert any("broken" in m and "2 cell(s) NaN" in m and "RuntimeError: boom" in m for m in messages)
    assert any("non-finite score (nan)" in m for m in messages)
    assert np.isnan(result.matrix("nan")).all()
    table = result.table("broken")
    assert "n/a [1]" in table and "[1] broken() raised RuntimeError: boom" in table
    # the very function the testbeds' MeasureMethod uses
    cell = [r for r in result.records if r.method == "nan"][0]
    assert cell.readouts == methods.measure_readouts(methods.wrap(nan).measure, torch.zeros(3, 2), torch.zeros(3, 2))


def test_rows_are_typed_cell_records_and_stitches_read_out_as_in_the_testbeds():
    result = run(data(), layers_a=["2", "4"], methods=["tlm", "linear_cka"], stitch=FAST)
    assert all(isinstance(r, CellRow) for r in result.records) and len(result.records) == 4
    for r in result.records:
        assert Record.from_json(r.to_json()) == r
        assert (r.testbed, r.pair, r.sender, r.receiver) == ("compare", "Sequential (A)->Sequential (B)",
                                                              "Sequential (A)", "Sequential (B)")
    tlm = [r for r in result.records if r.method == "tlm"][0]
    # fit_readouts adds what compare's own copy left out: the distance from the least-squares start
    assert {"accuracy", "receiver_accuracy", "start_mse", "steps", "final_loss"} <= set(tlm.readouts)
    rows = [row for row in result.rows if row["method"] == "tlm" and row["layer_a"] == tlm.sender_cut]
    assert {row["readout"]: row["value"] for row in rows} == pytest.approx(tlm.readouts)


# ---------------------------------------------------------------- models as researchers have them

class TokenOut:
    def __init__(self, logits):
        self.logits = logits


class TokenModel(nn.Module):
    """Token ids and an attention mask in, an output object (``.logits``) or dict out."""

    def __init__(self, as_dict: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(50, 16)
        self.block = nn.Sequential(nn.Linear(16, 16), nn.GELU())
        self.head = nn.Linear(16, 4)
        self.as_dict = as_dict

    def forward(self, input_ids, attention_mask):
        assert input_ids.dtype == torch.long and attention_mask.dtype == torch.long, "integer inputs must stay integer"
        h = self.block(self.embed(input_ids)) * attention_mask[..., None]
        logits = self.head(h.sum(1) / attention_mask.sum(1, keepdim=True))
        return {"scores": logits} if self.as_dict else TokenOut(logits)


def tokens(n: int = 80):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 50, (n, 6), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.randint(0, 4, (n,), generator=g)}


def test_dict_batches_integer_inputs_and_output_objects():
    model = TokenModel()
    result = api.compare(model, model, tokens(), layers_a=["block"], layers_b=["block"], methods=["dm", "linear_cka"])
    by = {r.method: r.readouts for r in result.records}
    assert by["dm"]["latent_error"] < 1e-6 and by["dm"]["accuracy"] == pytest.approx(by["dm"]["receiver_accuracy"])
    assert by["linear_cka"]["score"] == pytest.approx(1.0)
    # a dict output names its scores by output=; a DataLoader of dict batches gives the same cells
    named = TokenModel(as_dict=True)
    ds = [{k: v[i] for k, v in tokens().items()} for i in range(80)]
    loader = torch.utils.data.DataLoader(ds, batch_size=16)
    same = api.compare(named, named, loader, layers_a=["block"], layers_b=["block"], methods=["dm", "linear_cka"],
                       output="scores")
    assert [r.readouts for r in same.records] == [r.readouts for r in result.records]
    with pytest.raises(TypeError, match="output="):
        api.compare(named, named, tokens(), layers_a=["block"], layers_b=["block"])


# ---------------------------------------------------------------- feedback

def test_receiver_accuracy_beside_accuracies_in_tables_and_heatmaps(tmp_path):
    x, y = data()
    test = data(40, seed=1)
    b = mlp(1)
    result = api.compare(mlp(0), b, (x, y), test_data=test, layers_a=["2"], layers_b=["2", "4"],
                         methods=["dm", "linear_cka"], names=["mine", "theirs"])
    with torch.no_grad():
        alone = float((b(test[0]).argmax(1) == test[1]).float().mean())
    assert result.receiver_accuracy == pytest.approx(alone)
    assert f"receiver alone (theirs): {alone:.3f}; chance 0.100" in result.table("dm")
    assert "receiver alone" not in result.table("linear_cka")
    fig, ax = result.heatmap("dm")
    assert "mine -> theirs" in ax.get_title() and f"receiver alone (theirs): {alone:.3f}" in ax.get_title()
    result.heatmap("dm", path=tmp_path / "dm.png")
    result.heatmap(tmp_path / "old.png", "dm")  # the older (path, method) form
    assert (tmp_path / "dm.png").stat().st_size > 1000 and (tmp_path / "old.png").stat().st_size > 1000


def test_short_repr_progress_and_logging(capsys, caplog):
    with caplog.at_level(logging.INFO, logger="stitchtest"):
        result = run(data(), layers_a=["2", "4"], layers_b=["2", "4"], methods=["dm", "linear_cka"], progress=True)
    text = repr(result)
    assert len(text.splitlines()) == 1 and len(text) < 200
    assert "Sequential (A) -> Sequential (B)" in text and "8 cells, 0 NaN" in text
    err = capsys.readouterr().err
    assert "stitchtest.compare: 8/8 cells" in err and err.count("\n") >= 2
    assert any(r.name == "stitchtest.api" and "comparing" in r.getMessage() for r in caplog.records)
    run(data(), progress=False)
    assert capsys.readouterr().err == ""
