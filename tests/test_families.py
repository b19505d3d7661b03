"""A model family other than the ResNets through the real testbeds, end to end: the built-in
``vgg4``, and a third party's family found by its ``stitchtest.models`` entry point (``--stitch-arch``)."""
import json
import os
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]

CONFTEST = '''
import stitchtest.audit.scales as scales
scales.SCALES["smoke"] = scales.Scale("smoke", epochs=2, seeds=1, steps=10)
'''

FAMILY = '''
from torch import nn
from stitchtest.models import CutModel, Head


def build(width, in_channels, num_classes):
    """A third party's family: three plain conv blocks named block1..block3, no skip connections."""
    stages, c = [], in_channels
    for s in range(3):
        out = width * 2**s
        stages.append((f"block{s + 1}", nn.Sequential(nn.Conv2d(c, out, 3, 1 if s == 0 else 2, 1),
                                                      nn.BatchNorm2d(out), nn.ReLU())))
        c = out
    return CutModel(stages + [("pool", Head()), ("logits", nn.Linear(c, num_classes))])
'''


@pytest.fixture
def project(pytester, tmp_path, monkeypatch):
    """The real testbeds at a tiny smoke scale, and an 'installed' package advertising the family
    ``tiny`` under ``stitchtest.models`` (a dist-info directory on the path, as pip leaves one)."""
    monkeypatch.setenv("STITCHTEST_CACHE", str(tmp_path / "cache"))
    pytester.makeconftest(CONFTEST)
    shutil.copytree(ROOT / "testbeds", pytester.path / "testbeds", ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    info = site / "tiny_family-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "tiny_family.py").write_text(FAMILY)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-family\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[stitchtest.models]\ntiny = tiny_family:build\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return pytester


@pytest.mark.slow
@pytest.mark.parametrize("arch, cuts", [("vgg4", {"conv1", "conv2", "conv3", "conv4"}),
                                        ("tiny", {"block1", "block2", "block3"})])
def test_a_family_goes_through_random_controls_and_cross_layer(project, arch, cuts):
    result = project.runpytest_subprocess(
        "testbeds/random_controls/test_random_controls.py", "testbeds/cross_layer/test_cross_layer.py", "--stitch-arch", arch, "--stitch-methods", "dm",
        "--stitch-seeds", "3",  # the family is the question, not the 9 seed pairs of the default random controls
        "-p", "no:cacheprovider", "-p", "no:xdist", "-k", "not hernandez")
    outcomes = result.parseoutcomes()
    assert "errors" not in outcomes and outcomes.get("passed", 0) >= 4, result.stdout.str()
    rows = [json.loads(line) for f in sorted((project.path / "results").glob("results-*.jsonl"))
            for line in f.read_text().splitlines()]
    cells = [r for r in rows if r["kind"] == "cell"]
    assert {r["testbed"] for r in cells} == {"random_controls", "cross_layer"}
    assert all(f"arch={arch}," in r["key"] for r in cells) and {r["sender_cut"] for r in cells} == cuts
    assert not [r for r in cells if "failure" in r["readouts"]]
    outcome = {(r["testbed"], r["check"]): r["outcome"] for r in rows if r["kind"] == "check"}
    assert outcome["random_controls", "self_stitch_matches_receiver"] == "pass"  # the harness is right
    assert ("cross_layer", "diagonal_dominance") in outcome
    assert next(r for r in rows if r["kind"] == "run")["arch"] == arch
