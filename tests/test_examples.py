"""The README's opening example and examples/compare_torchvision.py run as written."""
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    """Small models: one torch thread is fastest, and much faster on a loaded shared CPU."""
    from stitchtest.runtime import devices

    with devices.threads(1):
        yield


def readme_example() -> str:
    """The first python block of README.md: the example right after its first paragraph."""
    return re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)


def test_readme_example_runs_exactly_as_written(tmp_path, monkeypatch, capsys):
    code = readme_example()
    assert "stitchtest.compare(" in code and len(code.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "layer1" in out and "layer2" in out and "A \\ B" in out
    assert (tmp_path / "similarity.csv").read_text().startswith("method,method_id,layer_a,layer_b,readout,value")


def test_compare_torchvision_example(tmp_path, capsys):
    pytest.importorskip("torchvision")
    main = runpy.run_path(str(ROOT / "examples" / "compare_torchvision.py"))["main"]
    result = main(["resnet18", "resnet18", "--epochs", "0", "--steps", "3", "--images", "200",
                   "--layers", "layer3,layer4", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "tlm(): accuracy; rows: A = resnet18 (A), columns: B = resnet18 (B)" in out
    # the receiver's own accuracy stands under every accuracy table, and under no score table
    assert out.count(f"receiver alone (resnet18 (B)): {result.receiver_accuracy:.3f}; chance 0.100") == 2
    assert result.matrix("linear_cka").shape == (2, 2)
    assert {p.name for p in tmp_path.iterdir()} == {"rows.csv", "tlm.png", "dm.png", "linear_cka.png"}
