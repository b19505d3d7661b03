"""Readout specs (stitchtest.records.readout_spec): every readout a method emits has one, and the
checks' direction, the heatmaps' colour range and chance line and the figure's label come from it."""
import numpy as np
import pytest
import torch

from stitchtest.engine import methods
from stitchtest.instruments.functional import functional_distance
from stitchtest.instruments.nulls import PermutationNull
from stitchtest.models.core import build
from stitchtest.records import readout_spec as rs
from stitchtest.records.readout_spec import READOUTS, ReadoutSpec, readout_spec
from stitchtest.stitching.fit import StitchConfig, new_stitch
from stitchtest.stitching.readouts import stitch_readouts


def emitted_readouts():
    """The readouts of a stitch on a random network, of a permutation null and of the functional change."""
    torch.manual_seed(0)
    model = build("R1111", 8, 1, 10).eval()
    x, y = torch.randn(40, 1, 16, 16), torch.randint(0, 10, (40,))
    with torch.no_grad():
        trace = model.trace(x)
    stitch = new_stitch(trace["layer1.0"], trace["layer2.0"], StitchConfig())
    out = set(stitch_readouts(stitch, model, "layer2.0", trace["layer1.0"], y, trace))
    out |= set(PermutationNull(permutations=5).readouts(0.5, np.linspace(0, 0.4, 5)))
    out |= set(functional_distance(trace["logits"], trace["logits"].flip(0), y))
    return out


def test_every_readout_a_method_emits_has_a_spec():
    emitted = emitted_readouts() | {methods.get(n).primary for n in methods.names()} | {"seconds", "robust_accuracy",
                                                                                         "robust_gap", "start_mse"}
    assert {"accuracy", "latent_error@layer2.0", "fit_r2", "p_value", "functional_change"} <= emitted
    missing = sorted(r for r in emitted if readout_spec(r) is None)
    assert not missing


def test_directions_are_the_specs():
    assert rs.direction("accuracy") == 1 and rs.direction("latent_error@layer1.0") == -1 and rs.direction("kl") == -1
    assert rs.direction("no_such_readout") == 1  # an unknown readout is read as higher = more similar
    for name, spec in READOUTS.items():
        assert rs.direction(name) == (-1 if spec.higher_is_better is False else 1), name


def test_chance_line_is_a_constant_or_a_function_of_the_class_count():
    assert readout_spec("accuracy").chance_level(10) == pytest.approx(0.1)
    assert readout_spec("accuracy").chance_level(None) is None  # a run that did not record its classes
    assert readout_spec("kl").chance_level(10) is None
    assert ReadoutSpec("x", "x", chance=0.5).chance_level(None) == 0.5


def test_the_heatmap_colour_range_is_the_specs(monkeypatch):
    from stitchtest.audit.report import colour_range

    values = np.array([[0.2, 0.3], [np.nan, 0.25]])
    for name, spec in READOUTS.items():
        lo, hi = spec.range
        if lo is not None and hi is not None:
            assert colour_range(name, values) == (lo, hi), name
    monkeypatch.setitem(READOUTS, "signed_thing", ReadoutSpec("signed_thing", "a plug-in's readout", True, (-1.0, 1.0)))
    assert colour_range("signed_thing", values) == (-1.0, 1.0)
    assert colour_range("signed_thing@layer1.0", values) == (-1.0, 1.0)


def test_the_heatmap_marks_the_specs_chance_line_and_label(tmp_path, monkeypatch):
    """The chance line is drawn for readouts whose spec has one, at the class count's level."""
    from matplotlib.figure import Figure

    from stitchtest.audit import report

    drawn = []
    real = Figure.colorbar

    def colorbar(self, *args, **kwargs):
        bar = real(self, *args, **kwargs)
        monkeypatch.setattr(bar.ax, "axhline", lambda y, **kw: drawn.append(y))
        monkeypatch.setattr(bar, "set_label", lambda text, **kw: drawn.append(text))
        return bar

    monkeypatch.setattr(Figure, "colorbar", colorbar)
    grid = np.array([[0.5, 0.6], [0.7, 0.8]])
    report.heatmap(["a", "b"], ["a", "b"], grid, "t", tmp_path / "acc.png", "accuracy", classes=4)
    assert drawn == [0.25, "accuracy (higher = more similar)\nred line: chance (0.25)"]
    drawn.clear()
    report.heatmap(["a", "b"], ["a", "b"], grid, "t", tmp_path / "kl.png", "kl", classes=4)
    assert drawn == ["kl (lower = more similar)"]
    drawn.clear()
    report.heatmap(["a", "b"], ["a", "b"], grid, "t", tmp_path / "r.png", "receiver_accuracy", chance=0.1)
    assert drawn == [0.1, f"receiver_accuracy: {readout_spec('receiver_accuracy').label}\nred line: chance (0.10)"]
