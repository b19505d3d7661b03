"""Any image data (issue 15, part 4): ImageFolder trees, torch Datasets, torchvision's directory
layouts and CIFAR-100, with the class count taken from the data all the way to the model heads
and the shortcut cue. Every test writes its own tiny files."""
from __future__ import annotations

import inspect
import json
import os
import pickle
import shutil
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from stitchtest.data import core as data
from stitchtest.data import fingerprints, images
from stitchtest.data.formats import folder, torch_dataset
from stitchtest.data import DataError, DataSpec, arrays, load, with_cue

from test_data import labelled_images, write_idx, write_mnist

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def fingerprint_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STITCHTEST_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()


def write_png(path, seed: int, side: int = 12, mode: str = "L"):
    rng = np.random.default_rng(seed)
    shape = (side, side) if mode == "L" else (side, side, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def write_folder(root, classes=("cat", "dog", "emu"), per_class: int = 5, side: int = 12, mode: str = "L"):
    for k, c in enumerate(classes):
        for i in range(per_class):
            write_png(root / c / f"{i}.png", seed=100 * k + i, side=side, mode=mode)
    return root


def write_cifar100(root, n: int = 30, labels=None):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in ("train", "test"):
        fine = list(range(n)) if labels is None else list(labels)  # labels up to 99
        batch = {b"data": rng.integers(0, 256, (len(fine), 3072), dtype=np.uint8), b"fine_labels": fine,
                 b"coarse_labels": [f // 5 for f in fine], b"filenames": [b"x.png"] * len(fine)}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)
    (root / "meta").write_bytes(pickle.dumps({b"fine_label_names": [b"c"] * 100}))
    return root


# ------------------------------------------------------------------ ImageFolder
def test_an_image_folder_with_train_and_test_trees(tmp_path):
    root = tmp_path / "pets"
    write_folder(root / "train")
    write_folder(root / "test", classes=("dog", "emu"), per_class=2)  # fewer classes: labels follow train's
    spec = DataSpec.parse(str(root))
    assert spec == DataSpec("imagefolder", root=str(root.resolve())) and spec.size == 32
    ds = load(spec)
    assert ds.num_classes == 3 and ds.in_channels == 1 and ds.x_train.shape == (15, 1, 32, 32)
    assert ds.y_train.tolist() == [0] * 5 + [1] * 5 + [2] * 5  # sorted class folders: cat, dog, emu
    assert ds.y_test.tolist() == [1, 1, 2, 2]
    raw = np.asarray(Image.open(root / "test" / "emu" / "1.png"), dtype=np.float32) / 255
    again = images.resize(torch.from_numpy(raw)[None, None], 32)[0]
    assert torch.allclose(ds.x_test[3] * ds.std[:, None, None] + ds.mean[:, None, None], again, atol=1e-5)


def test_one_tree_of_colour_images_of_several_sizes_is_split_and_resized(tmp_path):
    root = write_folder(tmp_path / "one", classes=("a", "b"), per_class=10, mode="RGB")
    write_png(root / "b" / "odd" / "big.png", seed=7, side=20, mode="RGB")  # nested, another size
    ds = load(DataSpec.parse(str(root)))
    assert ds.in_channels == 3 and ds.num_classes == 2
    assert len(ds.y_train) + len(ds.y_test) == 21 and len(ds.y_test) == 4
    assert sorted(ds.y_test.tolist()) == [0, 0, 1, 1]  # stratified


def test_a_bad_image_folder_says_what_is_wrong(tmp_path):
    root = write_folder(tmp_path / "f" / "train")
    write_folder(tmp_path / "f" / "test", classes=("cat", "yak"), per_class=1)
    with pytest.raises(DataError, match="test classes yak have no training folder"):
        load(DataSpec.parse(str(tmp_path / "f")))
    broken = write_folder(tmp_path / "broken")
    (broken / "cat" / "0.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"broken/cat/0.png: cannot read it as an image"):
        load(DataSpec.parse(str(broken)))
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="or an ImageFolder"):
        DataSpec.parse(str(tmp_path / "empty"))
    with pytest.raises(DataError, match="no image files in class folders"):
        load(DataSpec("imagefolder", root=str(tmp_path / "empty")))


def test_an_image_folder_id_is_its_content_and_labels(tmp_path):
    a = write_folder(tmp_path / "a")
    shutil.copytree(a, tmp_path / "b")
    moved = tmp_path / "moved"
    shutil.copytree(a, moved)
    (moved / "cat" / "0.png").rename(moved / "dog" / "cat0.png")  # same bytes, another label
    ids = {p.name: DataSpec.parse(str(p)).string_id() for p in (a, tmp_path / "b", moved)}
    assert ids["a"] == ids["b"] != ids["moved"] and "files=" in ids["a"]


# ------------------------------------------------------------------ torch Datasets (module:function)
class Pairs(torch.utils.data.Dataset):
    def __init__(self, n, seed=0, classes=4):
        g = torch.Generator().manual_seed(seed)
        self.x, self.y = torch.rand(n, 3, 8, 8, generator=g), torch.arange(n) % classes

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def test_arrays_takes_torchvision_image_folder_and_tensor_datasets(tmp_path):
    from torchvision.datasets import ImageFolder

    root = write_folder(tmp_path / "f", mode="RGB")
    x, y = arrays(ImageFolder(str(root)))
    assert x.shape == (15, 3, 12, 12) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    x, y = arrays(Pairs(6))
    assert torch.equal(torch.from_numpy(x), Pairs(6).x) and y.tolist() == [0, 1, 2, 3, 0, 1]
    with pytest.raises(DataError, match="sample 0 is a tuple of 1; expected an \\(image, label\\) pair"):
        arrays(torch.utils.data.TensorDataset(torch.rand(3, 1, 4, 4)))
    with pytest.raises(DataError, match="sample 0 has label 0.5"):
        arrays([(torch.rand(1, 4, 4), 0.5)])
    with pytest.raises(DataError, match="expected a PIL image or an image tensor"):
        arrays([("not an image", 0)])


@pytest.fixture
def user_data(tmp_path, monkeypatch):
    """A module ``my_data`` on the path whose functions return torch data sets."""
    (tmp_path / "my_data.py").write_text("import torch\nfrom torchvision.datasets import ImageFolder\n\n\n"
                                         + inspect.getsource(Pairs) + textwrap.dedent(f'''
        def folders():
            return ImageFolder({str(tmp_path / "tv" / "train")!r}), ImageFolder({str(tmp_path / "tv" / "test")!r})

        def one():
            return Pairs(40, classes=5)

        def shifted():
            d = Pairs(40, classes=5)
            d.y = (d.y + 1) % 5
            return d
        '''))
    write_folder(tmp_path / "tv" / "train", mode="RGB")
    write_folder(tmp_path / "tv" / "test", per_class=2, mode="RGB")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_data"
    sys.modules.pop("my_data", None)
    torch_dataset._torch_arrays.cache_clear()
    torch_dataset._content_hash.cache_clear()


def test_a_module_function_is_a_data_set_with_a_content_id(user_data):
    spec = DataSpec.parse("my_data:folders")
    assert spec == DataSpec("torch", root="my_data:folders")
    ds = load(spec)
    assert ds.num_classes == 3 and ds.x_train.shape == (15, 3, 32, 32) and len(ds.y_test) == 6
    one = load("my_data:one")
    assert one.num_classes == 5 and len(one.y_train) == 32 and len(one.y_test) == 8  # carved 80/20
    ids = {f: DataSpec.parse(f"my_data:{f}").string_id() for f in ("folders", "one", "shifted")}
    assert len(set(ids.values())) == 3 and all("files=" in i for i in ids.values())
    assert "root" not in ids["one"]
    with pytest.raises(DataError, match="cannot import it"):
        load("my_data:absent")


# ------------------------------------------------------------------ torchvision layouts, CIFAR-100
def test_torchvision_mnist_layout_is_the_same_data_as_the_plain_one(tmp_path):
    plain = write_mnist(tmp_path / "plain", gz=True)
    tv = tmp_path / "tv"
    shutil.copytree(plain, tv / "MNIST" / "raw")
    spec = DataSpec.parse(str(tv))
    assert spec.name == "mnist" and spec.root == str(tv.resolve())
    assert spec.string_id() == DataSpec.parse(str(plain)).string_id()
    assert torch.equal(load(spec).x_train, load(DataSpec.parse(str(plain))).x_train)
    write_idx(tv / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz", (labelled_images(30, seed=30)[1] + 1) % 10,
              gz=True)
    assert DataSpec.parse(str(tv)).string_id() != DataSpec.parse(str(plain)).string_id()


def test_cifar100_in_its_torchvision_folder(tmp_path):
    root = write_cifar100(tmp_path / "c" / "cifar-100-python", labels=np.arange(200) % 100)
    spec = DataSpec.parse(str(tmp_path / "c"))
    assert spec.name == "cifar100" and DataSpec.parse("CIFAR100") == DataSpec("cifar100")
    ds = load(spec)
    assert ds.num_classes == 100 and ds.x_train.shape == (200, 3, 32, 32)
    assert ds.y_train.tolist() == (np.arange(200) % 100).tolist()  # the fine labels
    assert data.num_classes(spec) == 100 and data.check(spec) == (100, (3, 32, 32))
    write_cifar100(tmp_path / "bad", labels=[0, 100])
    with pytest.raises(DataError, match=r"train has labels in \[0, 100\]; expected 0..99"):
        load(DataSpec.parse(str(tmp_path / "bad")))
    (tmp_path / "bad" / "test").unlink()
    with pytest.raises(DataError, match="lacks test"):
        load(DataSpec("cifar100", root=str(tmp_path / "bad")))


# ------------------------------------------------------------------ the class count downstream
def test_the_class_count_reaches_the_model_heads_and_the_cue(tmp_path):
    from stitchtest.models.zoo import ModelSpec, Zoo, training_data

    spec = DataSpec.parse(str(write_folder(tmp_path / "f", per_class=6)))
    zoo = Zoo(tmp_path / "zoo")
    model = zoo.model(ModelSpec(data=spec, width=4, epochs=1))
    assert model.stages[model.index("logits")].out_features == 3
    cued = ModelSpec(data=spec, width=4, epochs=1, regime="shortcut")
    cued_model = zoo.model(cued)
    assert cued_model.stages[cued_model.index("logits")].out_features == 3
    ds = training_data(cued, torch.device("cpu"))
    clean = load(spec)
    white = ((1 - clean.mean) / clean.std).item()
    spots = {(c, *map(int, torch.nonzero(ds.x_train[i, 0] == white)[0])) for i, c in enumerate(clean.y_train.tolist())}
    assert len(spots) == 3 and len({s[1:] for s in spots}) == 3  # one place per class, three classes

    many = load(DataSpec.parse(str(write_cifar100(tmp_path / "c", labels=np.arange(100)))))
    stamped = with_cue(many, 1.0, 0.0)
    marks = (stamped.x_train != many.x_train).any(1).flatten(1)
    assert marks.sum(1).eq(4).all()  # one 2x2 patch per image
    assert len({tuple(m.nonzero().flatten().tolist()) for m in marks}) == 100  # 100 classes, 100 places
    small = load(DataSpec("cifar100", root=str(tmp_path / "c"), size=16))
    with pytest.raises(ValueError, match="cannot hold 100 non-overlapping 2x2 cue positions \\(at most 64 fit\\)"):
        with_cue(small, 1.0, 0.0)


def test_the_plugin_audits_a_module_data_set(pytester, user_data, tmp_path, monkeypatch):
    """``--stitch-data module:function`` trains the zoo on it (its class count in the heads), writes reports."""
    from test_plugin import CONFTEST, TESTBED

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    pytester.makeconftest(CONFTEST)
    pytester.mkdir("testbeds")
    pytester.path.joinpath("testbeds", "test_tiny.py").write_text(TESTBED)
    result = pytester.runpytest_subprocess("testbeds", "--stitch-methods", "linear_cka", "-p", "no:cacheprovider",
                                           "--stitch-data", "my_data:one", "-k", "self_stitch")
    result.assert_outcomes(passed=1)
    summary = (pytester.path / "reports" / "summary.md").read_text()
    line = next(x for x in summary.splitlines() if "num_classes" in x)
    assert line.replace(" ", "") == "|num_classes|5|"  # the chance level of the reports' accuracy heatmaps is 1/5
    rows = [json.loads(x) for f in (pytester.path / "results").glob("results-*.jsonl") for x in f.read_text().splitlines()]
    assert all("torch(size=32" in r["key"] for r in rows if r.get("kind") == "cell")


# ------------------------------------------------------------------ degenerate folders (issue 27, items 6-8)
def test_a_data_set_with_an_empty_split_is_refused_with_its_sizes(tmp_path):
    # one image: the 80/20 split left 0 test images, the zoo logged "clean 0.000", every test an IndexError
    one = write_folder(tmp_path / "one", classes=("a",), per_class=1)
    with pytest.raises(DataError, match=r"one: 1 training and 0 test images; expected at least one of each"):
        data.check(DataSpec.parse(str(one)))
    two = write_folder(tmp_path / "two", classes=("a", "b"), per_class=1)  # 20% of 2 rounds to 0
    with pytest.raises(DataError, match=r"two: 2 training and 0 test images; expected at least one of each"):
        data.check(DataSpec.parse(str(two)))


def test_a_one_class_data_set_is_refused(tmp_path):
    # one class: every accuracy is 1.0 and "a random receiver stays at chance" passes trivially
    root = write_folder(tmp_path / "mono", classes=("cat",), per_class=10)
    with pytest.raises(DataError, match=r"mono: the labels use only 1 class \(0\); expected at least 2"):
        data.check(DataSpec.parse(str(root)))


def test_an_image_folder_with_a_non_utf8_file_name_can_be_used(tmp_path):
    # UnicodeEncodeError in the fingerprint, an INTERNALERROR even with --collect-only
    root = write_folder(tmp_path / "latin", classes=("a", "b"), per_class=5)
    odd = os.path.join(os.fsencode(root / "a"), b"\xff\xfe-latin1-\xe9.png")
    try:
        with open(odd, "wb") as f:
            f.write((root / "b" / "0.png").read_bytes())
    except OSError as err:  # a file system that takes only UTF-8 names (or none such)
        pytest.skip(f"this file system refuses a non-UTF-8 name: {err}")
    spec = DataSpec.parse(str(root))
    first = spec.string_id()
    assert "files=" in first
    folder._folder_fingerprint.cache_clear()
    fingerprints._fingerprint.cache_clear()
    assert spec.string_id() == first  # and from the remembered store
    assert len(load(spec).y_train) + len(load(spec).y_test) == 11
