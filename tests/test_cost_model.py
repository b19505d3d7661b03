"""benchmarks/cost_model.py: multiply-adds counted from the model, and rates recovered by its fit."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("cost_model", ROOT / "benchmarks" / "cost_model.py")
cost_model = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cost_model)


def conv(pixels, k, c_in, c_out):
    return pixels * k * k * c_in * c_out


def test_multiply_adds_by_hand():
    # R1111 width 8 on 16x16 digits: stem 1->8, then one block per stage, widths 8, 16, 32, 64, stride 2 from layer2
    cuts, macs = cost_model.stage_macs("R1111", 8, 16)
    assert cuts[:5] == ("stem", "layer1.0", "layer2.0", "layer3.0", "layer4.0")
    assert macs[0] == conv(256, 3, 1, 8)
    assert macs[1] == 2 * conv(256, 3, 8, 8)
    assert macs[-1] == 64 * 10  # the linear head
    # native 8x8 has a quarter of the pixels at every convolution
    assert cost_model.full_macs("R1111", 8, 8) - 640 == pytest.approx((cost_model.full_macs("R1111", 8, 16) - 640) / 4)
    assert cost_model.suffix_macs("R1111", 8, 16, "layer4.0") == 640


def test_fit_recovers_known_rates(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    rows = []
    for n in range(60):
        cut = ["stem", "layer1.0", "layer2.0", "layer3.0", "layer4.0"][n % 5]
        steps = [50, 100, 200][n % 3]
        model = "model(arch=R1111,width=8,data=digits(size=16),seed=1)"
        row = {"kind": "cell", "method": "tlm", "testbed": "cross_layer", "receiver_cut": cut,
               "cell": f"cell(sender={model},receiver={model},robust={n % 4 == 0})",
               "key": f"x|tlm()|c|stitch(steps={steps},batch_size=64)", "readouts": {"steps": steps}}
        train, attack, step, one = cost_model.features(row, 10, 397)
        row["readouts"]["seconds"] = train / 10e9 + attack / 5e9 + step * 2e-3 + 0.1 + rng.normal(0, 1e-4)
        rows.append(row)
    (tmp_path / "results-gw0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr("sys.argv", ["cost_model", str(tmp_path)])
    cost_model.main()
    out = capsys.readouterr().out
    assert "training 10.00 GMAC/s" in out and "attack 5.00 GMAC/s" in out and "2.00 ms per step" in out
