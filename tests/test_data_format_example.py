"""docs/extending/data-format.md's worked example runs as written: adding a data format is one
module (registered in-process, or through an entry point), chosen by detection, with an id that
follows the files' content and not their place."""
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from stitchtest.data import DataError, DataSpec, load
from stitchtest.data import formats

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending" / "data-format.md"


def example() -> str:
    """The doc's python block that defines the format."""
    return next(b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if "class Npz" in b)


@pytest.fixture
def npz_module(tmp_path, monkeypatch):
    """The doc's module as ``npz_format`` on the path; the registry and the fingerprint store are
    this test's own, so nothing registered here outlives it."""
    for attr in ("_classes", "_origins", "_broken"):
        monkeypatch.setattr(formats.FORMATS, attr, dict(getattr(formats.FORMATS, attr)))
    monkeypatch.setattr(formats, "_discovered", False)
    monkeypatch.setenv("STITCHTEST_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "npz_format.py").write_text(example())
    monkeypatch.syspath_prepend(str(tmp_path / "mod"))
    yield "npz_format"
    sys.modules.pop("npz_format", None)


def write_archives(root: Path, seed: int = 0, shift: int = 0) -> Path:
    """28x28 greyscale images of three classes, 30 to train on and 12 to test."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for name, n in (("train", 30), ("test", 12)):
        y = (np.arange(n) + shift) % 3
        np.savez(root / f"{name}.npz", x=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), y=y)
    return root


def test_the_docs_format_is_one_module_chosen_by_detection(npz_module, tmp_path):
    a = write_archives(tmp_path / "a")
    with pytest.raises(DataError, match="cannot tell which data set"):
        DataSpec.parse(str(a))  # not yet a known format
    __import__(npz_module)  # registers "npz"
    spec = DataSpec.parse(str(a))
    assert spec == DataSpec("npz", root=str(a.resolve())) and spec.size == 32
    ds = load(spec)
    assert ds.num_classes == 3 and ds.x_train.shape == (30, 1, 32, 32) and ds.x_test.shape == (12, 1, 32, 32)
    assert ds.y_train.tolist() == [i % 3 for i in range(30)]
    # the id: the files' content, not their place, and the same every time
    first = spec.string_id()
    assert re.fullmatch(r"npz\(size=32,n_train=None,n_test=None,split_seed=0,files=[0-9a-f]{12}\)", first)
    assert DataSpec.parse(str(shutil.copytree(a, tmp_path / "copy"))).string_id() == first == spec.string_id()
    assert DataSpec.parse(str(write_archives(tmp_path / "shifted", shift=1))).string_id() != first
    assert formats.detect(a) == "npz" and DataSpec.parse("digits").name == "digits"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"CIFAR-100 \(.*\), NumPy archives \(train.npz.*\) or an ImageFolder \("):
        DataSpec.parse(str(tmp_path / "empty"))  # named in "cannot tell" errors, in detection order


def test_the_docs_format_comes_in_through_an_entry_point(npz_module, tmp_path, monkeypatch):
    ep = metadata.EntryPoint(name="npz", value="npz_format:Npz", group="stitchtest.data_formats")
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points", lambda **kw: metadata.EntryPoints(
        [*real(**kw).select(group="stitchtest.data_formats"), ep]))
    assert "npz" not in formats.FORMATS.registered()
    spec = DataSpec.parse(str(write_archives(tmp_path / "a")))
    assert spec.name == "npz" and load(spec).num_classes == 3
    assert formats.FORMATS.origins()["npz"] == "entry point npz_format:Npz"
    assert [f.name for f in formats.ordered()][-3:] == ["npz", "imagefolder", "torch"]  # priority 40: before 90
