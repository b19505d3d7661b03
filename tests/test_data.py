"""Tests for stitchtest.data: shapes, determinism, file formats, errors and the planted cue."""
from __future__ import annotations

import gzip
import json
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stitchtest.data import core as data
from stitchtest.data import dataset
from stitchtest.data import (
    DataError, DataSpec, Dataset, load, read_idx, stamp_cue, with_cue,
)
from stitchtest.data.cue import conflict_classes

REAL_MNIST = Path("/work/shared/data/mnist")


# ------------------------------------------------------------------ helpers: write tiny files
def write_idx(path: Path, array: np.ndarray, *, magic: int | None = None, gz: bool = False,
              chop: int = 0) -> Path:
    """Write ``array`` (uint8) as an IDX file; ``chop`` drops trailing bytes to truncate it."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    raw = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    raw = raw[: len(raw) - chop]
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def labelled_images(n: int, seed: int = 0, side: int = 28):
    """``n`` random images with balanced labels 0..9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, side, side), dtype=np.uint8), np.arange(n) % 10


def write_mnist(root: Path, *, train: int | None = 30, test: int | None = 20,
                gz: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", train), ("t10k", test)):
        if n is None:
            continue
        images, labels = labelled_images(n, seed=n)
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images, gz=gz)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz=gz)
    return root


def write_batch(path: Path, n: int = 20, *, seed: int = 0, keys=(b"data", b"labels"),
                n_labels: int | None = None) -> Path:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(i % 10) for i in range(n if n_labels is None else n_labels)]
    with open(path, "wb") as f:
        pickle.dump({keys[0]: data, keys[1]: labels, b"batch_label": b"test"}, f)
    return path


def write_cifar(root: Path, batches=(1, 2), n: int = 20) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in batches:
        write_batch(root / f"data_batch_{i}", n, seed=i)
    write_batch(root / "test_batch", n, seed=99)
    return root


def raises_naming(path: Path | str, extra: str = ""):
    """pytest.raises(DataError) whose message must contain ``path`` (and then ``extra``)."""
    return pytest.raises(DataError, match=re.escape(str(path)) + (".*" + extra if extra else ""))


# ------------------------------------------------------------------ digits
def test_digits_shapes_dtypes_and_normalisation():
    ds = load(DataSpec())
    assert isinstance(ds, Dataset)
    assert ds.x_train.shape == (1400, 1, 16, 16) and ds.x_test.shape == (397, 1, 16, 16)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.num_classes == 10 and ds.in_channels == 1 and ds.image_size == 16
    assert ds.mean.shape == ds.std.shape == (1,)
    assert 0.0 < ds.mean.item() < 1.0  # statistics of raw [0, 1] pixels
    assert abs(ds.x_train.mean().item()) < 1e-4
    assert abs(ds.x_train.std(unbiased=False).item() - 1.0) < 1e-4
    # the test set is normalised with the *train* statistics: close to, not exactly, 0/1
    assert abs(ds.x_test.mean().item()) < 0.1


def test_digits_deterministic_and_memoised():
    a = load(DataSpec(split_seed=3))
    assert load(DataSpec(split_seed=3)) is a  # lru-cached: loaded once
    assert load(DataSpec(split_seed=3, size=16)) is a  # size=None resolves to the default
    again = dataset._load_cached.__wrapped__(DataSpec(split_seed=3), "cpu")  # bypass the cache
    assert again is not a
    for field in ("x_train", "y_train", "x_test", "y_test", "mean", "std"):
        assert torch.equal(getattr(again, field), getattr(a, field))
    b = load(DataSpec(split_seed=4))
    assert not torch.equal(a.y_test, b.y_test)  # a different seed really re-splits


def test_digits_split_is_stratified_and_disjoint():
    ds = load(DataSpec())
    # Digits contain no duplicate images, so disjoint splits share no image.
    train = {row.numpy().tobytes() for row in ds.x_train.flatten(1)}
    assert not any(row.numpy().tobytes() in train for row in ds.x_test.flatten(1))
    total = torch.bincount(ds.y_train, minlength=10) + torch.bincount(ds.y_test, minlength=10)
    expected = total.double() * 397 / 1797
    assert (torch.bincount(ds.y_test, minlength=10) - expected).abs().max() <= 1.0


def test_digits_size_and_caps():
    ds = load(DataSpec(size=8, n_train=100, n_test=50))
    assert ds.x_train.shape == (100, 1, 8, 8) and ds.x_test.shape == (50, 1, 8, 8)
    assert torch.bincount(ds.y_train, minlength=10).min() >= 9  # stratified: ~10 per class


def test_dataset_to_and_replace():
    ds = load(DataSpec())
    moved = ds.to("cpu")
    assert moved is not ds and torch.equal(moved.x_train, ds.x_train)
    assert ds.replace(name="other").name == "other" and ds.name == "digits"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_load_on_cuda_and_cue_there():
    ds = load(DataSpec(), device="cuda")
    assert ds.x_train.is_cuda and ds.mean.is_cuda and load(DataSpec(), "cuda") is ds
    cpu = with_cue(load(DataSpec()), 0.5, 0.5)
    assert torch.equal(with_cue(ds, 0.5, 0.5).x_train.cpu(), cpu.x_train)  # same images stamped


# ------------------------------------------------------------------ DataSpec
def test_string_id_omits_root_and_resolves_size():
    a, b = DataSpec("mnist", root="/a"), DataSpec("mnist", root="/b")  # no files: nothing to fingerprint
    assert a.string_id() == b.string_id()
    assert "root" not in a.string_id() and "size=32" in a.string_id()
    assert DataSpec("digits", size=16).string_id() == DataSpec().string_id()
    assert DataSpec(n_train=10).string_id() != DataSpec().string_id()


def test_invalid_spec_fields():
    with pytest.raises(DataError, match="imagenet"):
        DataSpec("imagenet")
    with pytest.raises(DataError, match="n_train"):
        DataSpec(n_train=0)
    with pytest.raises(DataError, match="split_seed"):
        DataSpec(split_seed=-1)
    with raises_naming("DataSpec(root=...)"):
        load(DataSpec("mnist"))  # a name alone does not say where the files are


def test_parse_names_and_directories(tmp_path):
    assert DataSpec.parse("digits") == DataSpec()
    assert DataSpec.parse(" CIFAR10 ").name == "cifar10"
    mnist_dir = write_mnist(tmp_path / "m", train=None, gz=True)
    assert DataSpec.parse(str(mnist_dir)) == DataSpec("mnist", root=str(mnist_dir.resolve()))
    assert DataSpec.parse(str(write_cifar(tmp_path / "c"))).name == "cifar10"
    write_cifar(tmp_path / "outer" / "cifar-10-batches-py")
    spec = DataSpec.parse(str(tmp_path / "outer"))
    assert spec.name == "cifar10" and spec.root == str((tmp_path / "outer").resolve())


def test_parse_unrecognised_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with raises_naming(tmp_path, "expected MNIST IDX files"):
        DataSpec.parse(str(tmp_path))
    with raises_naming(tmp_path / "absent"):
        DataSpec.parse(str(tmp_path / "absent"))


# ------------------------------------------------------------------ IDX / MNIST
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    images, _ = labelled_images(5)
    path = write_idx(tmp_path / "x", images, gz=gz)  # no .gz suffix: detected by magic bytes
    np.testing.assert_array_equal(read_idx(path), images)
    assert read_idx(path).flags.writeable


def test_read_idx_gz_suffix_but_plain_content(tmp_path):
    path = write_idx(tmp_path / "x.gz", np.arange(10), gz=False)
    np.testing.assert_array_equal(read_idx(path), np.arange(10))


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_train_and_t10k(tmp_path, gz):
    root = write_mnist(tmp_path, train=30, test=20, gz=gz)
    ds = load(DataSpec("mnist", root=str(root)))
    assert ds.x_train.shape == (30, 1, 32, 32) and ds.x_test.shape == (20, 1, 32, 32)
    _, labels = labelled_images(30, seed=30)
    assert ds.y_train.tolist() == labels.tolist()  # the files' own split and order are kept
    # zero padding 28 -> 32: the border is black, i.e. (0 - mean) / std after normalisation
    black = (-ds.mean / ds.std).item()
    assert torch.allclose(ds.x_train[:, :, :2, :], torch.tensor(black))


def test_mnist_t10k_only_is_carved(tmp_path):
    root = write_mnist(tmp_path, train=None, test=50, gz=True)
    ds = load(DataSpec("mnist", root=str(root)))
    assert len(ds.y_train) == 40 and len(ds.y_test) == 10
    assert torch.bincount(ds.y_test, minlength=10).tolist() == [1] * 10


@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"real MNIST copy not found at {REAL_MNIST}")
def test_real_mnist():
    ds = load(DataSpec.parse(str(REAL_MNIST)))
    assert ds.name == "mnist"
    assert ds.x_train.shape == (8000, 1, 32, 32) and ds.x_test.shape == (2000, 1, 32, 32)
    assert abs(ds.x_train.mean().item()) < 1e-4
    small = load(DataSpec("mnist", root=str(REAL_MNIST), n_train=500, n_test=100))
    assert small.x_train.shape == (500, 1, 32, 32) and small.x_test.shape == (100, 1, 32, 32)
    counts = torch.bincount(small.y_test, minlength=10)
    assert counts.min() >= 8 and counts.max() <= 12  # stratified: ~10 per class


def test_mnist_missing_directory(tmp_path):
    with raises_naming(tmp_path / "nope", "does not exist"):
        load(DataSpec("mnist", root=str(tmp_path / "nope")))


def test_mnist_no_files_lists_expected(tmp_path):
    with raises_naming(tmp_path, "t10k-images-idx3-ubyte"):
        load(DataSpec("mnist", root=str(tmp_path)))


def test_mnist_missing_labels_file(tmp_path):
    root = write_mnist(tmp_path, train=None, test=20)
    (root / "t10k-labels-idx1-ubyte").unlink()
    with raises_naming(root / "t10k-labels-idx1-ubyte", "missing"):
        load(DataSpec("mnist", root=str(root)))


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_truncated_file(tmp_path, gz):
    root = write_mnist(tmp_path, train=None, test=20)
    images, _ = labelled_images(20)
    name = "t10k-images-idx3-ubyte"
    (root / name).unlink()
    bad = write_idx(root / (name + (".gz" if gz else "")), images, gz=gz, chop=100)
    with raises_naming(bad, "truncated"):
        load(DataSpec("mnist", root=str(root)))


def test_truncated_gzip_stream(tmp_path):
    path = write_idx(tmp_path / "x.gz", np.arange(100), gz=True)
    path.write_bytes(path.read_bytes()[:-12])
    with raises_naming(path):
        read_idx(path)


def test_mnist_wrong_magic(tmp_path):
    root = write_mnist(tmp_path, train=None, test=20)
    labels = root / "t10k-labels-idx1-ubyte"
    write_idx(labels, np.zeros((20, 1, 1)))  # an images-style (3-D) file where labels belong
    with raises_naming(labels, "expected 0x00000801"):
        load(DataSpec("mnist", root=str(root)))


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"hello world, not IDX")
    with raises_naming(path, "not an IDX file"):
        read_idx(path)


def test_mnist_count_mismatch(tmp_path):
    root = write_mnist(tmp_path, train=None, test=20)
    write_idx(root / "t10k-labels-idx1-ubyte", np.arange(19) % 10)
    with raises_naming(root / "t10k-images-idx3-ubyte", "19 labels"):
        load(DataSpec("mnist", root=str(root)))


def test_read_idx_missing_file(tmp_path):
    with raises_naming(tmp_path / "absent"):
        read_idx(tmp_path / "absent")


# ------------------------------------------------------------------ CIFAR-10
def test_cifar_direct(tmp_path):
    ds = load(DataSpec("cifar10", root=str(write_cifar(tmp_path, batches=(1, 3)))))
    assert ds.x_train.shape == (40, 3, 32, 32) and ds.x_test.shape == (20, 3, 32, 32)
    assert ds.mean.shape == (3,) and ds.in_channels == 3
    flat = ds.x_train.transpose(0, 1).flatten(1)
    assert flat.mean(1).abs().max() < 1e-4 and (flat.std(1, unbiased=False) - 1).abs().max() < 1e-4


def test_cifar_subfolder_and_resize(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py", batches=(2,))
    ds = load(DataSpec("cifar10", root=str(tmp_path), size=16))
    assert ds.x_train.shape == (20, 3, 16, 16)


def test_cifar_pixel_layout(tmp_path):
    """Rows are 1024 red, 1024 green, 1024 blue values; the loader must keep them apart."""
    root = write_cifar(tmp_path)
    data = np.zeros((20, 3072), np.uint8)
    data[:, 1024:2048] = 255  # pure green
    with open(root / "test_batch", "wb") as f:
        pickle.dump({b"data": data, b"labels": list(range(10)) * 2}, f)
    ds = load(DataSpec("cifar10", root=str(root)))
    raw = ds.x_test * ds.std[:, None, None] + ds.mean[:, None, None]
    assert torch.allclose(raw[:, 1], torch.ones(1), atol=1e-5)
    assert torch.allclose(raw[:, [0, 2]], torch.zeros(1), atol=1e-5)


def test_cifar_missing_directory(tmp_path):
    with raises_naming(tmp_path / "nope", "data_batch_1..5"):
        load(DataSpec("cifar10", root=str(tmp_path / "nope")))


def test_cifar_missing_test_batch(tmp_path):
    root = write_cifar(tmp_path)
    (root / "test_batch").unlink()
    with raises_naming(root / "test_batch"):
        load(DataSpec("cifar10", root=str(root)))


def test_cifar_wrong_keys(tmp_path):
    root = write_cifar(tmp_path)
    bad = write_batch(root / "data_batch_2", keys=(b"images", b"targets"))
    with raises_naming(bad, r"b'images'.*expected keys b'data' and b'labels'"):
        load(DataSpec("cifar10", root=str(root)))


def test_cifar_count_mismatch(tmp_path):
    root = write_cifar(tmp_path)
    bad = write_batch(root / "test_batch", 20, n_labels=19)
    with raises_naming(bad, "19 labels"):
        load(DataSpec("cifar10", root=str(root)))


def test_cifar_wrong_data_shape(tmp_path):
    root = write_cifar(tmp_path)
    bad = root / "test_batch"
    with open(bad, "wb") as f:
        pickle.dump({b"data": np.zeros((20, 1024), np.uint8), b"labels": [0] * 20}, f)
    with raises_naming(bad, r"\(N, 3072\)"):
        load(DataSpec("cifar10", root=str(root)))


@pytest.mark.parametrize("content", [b"not a pickle at all", b"", b"\x80\x04\x95"])
def test_cifar_not_a_pickle(tmp_path, content):
    root = write_cifar(tmp_path)
    (root / "data_batch_1").write_bytes(content)
    with raises_naming(root / "data_batch_1", "cannot unpickle"):
        load(DataSpec("cifar10", root=str(root)))


class _Sneaky:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_cifar_pickle_cannot_run_code(tmp_path, capsys):
    root = write_cifar(tmp_path)
    with open(root / "test_batch", "wb") as f:
        pickle.dump({b"data": _Sneaky(), b"labels": []}, f)
    with raises_naming(root / "test_batch", "refusing"):
        load(DataSpec("cifar10", root=str(root)))
    assert "must never run" not in capsys.readouterr().out


def test_cifar_reads_other_picklers(tmp_path):
    """Protocol 2 naming numpy.core (as numpy 1 and the official files do) and protocol 5."""
    root = write_cifar(tmp_path)
    batch = {b"data": (np.arange(20 * 3072) % 251).astype(np.uint8).reshape(20, 3072),  # not blank
             b"labels": list(np.arange(20) % 10)}
    old_style = pickle.dumps(batch, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    (root / "data_batch_1").write_bytes(old_style)
    (root / "test_batch").write_bytes(pickle.dumps(batch, protocol=5))
    ds = load(DataSpec("cifar10", root=str(root)))
    assert ds.x_test.shape == (20, 3, 32, 32) and ds.y_train[:20].tolist() == batch[b"labels"]


# ------------------------------------------------------------------ stamp_cue / with_cue
def _stamped(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    return (before != after).flatten(1).any(1)


def test_stamp_cue_p0_identity_and_p1_all():
    x, y = torch.zeros(30, 1, 16, 16), torch.arange(30) % 10
    same = stamp_cue(x, y, 0.0, num_classes=10)
    assert torch.equal(same, x) and same is not x
    assert _stamped(x, stamp_cue(x, y, 1.0, num_classes=10)).all()


def test_stamp_cue_positions_distinct_per_class():
    x, y = torch.zeros(10, 1, 16, 16), torch.arange(10)
    masks = stamp_cue(x, y, 1.0, num_classes=10) != 0
    assert all(m.sum() == 4 for m in masks)  # one 2x2 patch each
    overlap = masks.flatten(1).float() @ masks.flatten(1).float().T
    assert torch.equal(overlap, torch.diag(overlap.diagonal()))  # no two classes share a pixel


def test_stamp_cue_intensity_encodes_class():
    x, y = torch.zeros(10, 3, 8, 8), torch.arange(10)
    out = stamp_cue(x, y, 1.0, num_classes=10, kind="intensity", white=2.0)
    values = out[:, :, 0, 0]
    assert torch.allclose(values[:, 0], 2.0 * (torch.arange(10) + 1) / 10)
    assert torch.equal(values[:, 0], values[:, 2])  # all channels


def test_stamp_cue_fraction_determinism_and_no_mutation():
    x, y = torch.randn(50, 3, 16, 16, generator=torch.Generator().manual_seed(0)), torch.arange(50) % 10
    copy = x.clone()
    a = stamp_cue(x, y, 0.3, num_classes=10, seed=5, white=torch.tensor([3.0, 4.0, 5.0]))
    assert torch.equal(x, copy)  # input untouched
    assert int(_stamped(x, a).sum()) == 15
    b = stamp_cue(x, y, 0.3, num_classes=10, seed=5, white=torch.tensor([3.0, 4.0, 5.0]))
    assert torch.equal(a, b)
    c = stamp_cue(x, y, 0.3, num_classes=10, seed=6, white=torch.tensor([3.0, 4.0, 5.0]))
    assert not torch.equal(_stamped(x, a), _stamped(x, c))
    assert torch.all(a[_stamped(x, a)][:, 1].amax((1, 2)) == 4.0)  # per-channel white


def test_stamp_cue_rejects_bad_arguments():
    x, y = torch.zeros(4, 1, 4, 4), torch.arange(4)
    with pytest.raises(ValueError, match="cannot hold"):
        stamp_cue(x, y, 1.0, num_classes=10)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stamp_cue(x, y, 1.5, num_classes=10)
    with pytest.raises(ValueError, match="kind"):
        stamp_cue(x, y, 1.0, num_classes=4, kind="colour")


@settings(max_examples=60, deadline=None)
@given(p=st.floats(0.0, 1.0), n=st.integers(0, 40), seed=st.integers(0, 2**31),
       kind=st.sampled_from(["position", "intensity"]))
def test_stamp_cue_property(p, n, seed, kind):
    x, y = torch.zeros(n, 1, 8, 8), torch.arange(n) % 4
    out = stamp_cue(x, y, p, num_classes=4, kind=kind, seed=seed)
    assert int(_stamped(x, out).sum()) == round(p * n)
    if round(p * n) == 0:
        assert torch.equal(out, x)


def test_with_cue_train_and_test_independent():
    ds = load(DataSpec())
    before = ds.x_train.clone()
    cued = with_cue(ds, 1.0, 0.0)
    assert cued.name == "digits+cue(1.0,0.0)"
    assert _stamped(ds.x_train, cued.x_train).all()
    assert torch.equal(cued.x_test, ds.x_test)
    white = ((1 - ds.mean) / ds.std).item()
    assert torch.isclose(cued.x_train.max(), torch.tensor(white))
    flipped = with_cue(ds, 0.0, 0.5, seed=1)
    assert torch.equal(flipped.x_train, ds.x_train)
    assert int(_stamped(ds.x_test, flipped.x_test).sum()) == round(0.5 * 397)
    assert torch.equal(load(DataSpec()).x_train, before)  # the cached data set is untouched


# ------------------------------------------------------------------ content fingerprint, degenerate data (issue 16)
@pytest.fixture
def fingerprint_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STITCHTEST_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    return tmp_path / "cache" / data.FINGERPRINTS


def test_the_data_id_is_the_files_content_not_their_place(tmp_path, fingerprint_cache):
    """A copy elsewhere is the same data; a copy with its labels shifted is other data, so it
    gets other model keys (and cell keys, baselines, resume, which all carry the data id)."""
    from stitchtest.models.zoo import ModelSpec

    a = write_mnist(tmp_path / "a")
    b = write_mnist(tmp_path / "b")
    shifted = write_mnist(tmp_path / "shifted")
    _, labels = labelled_images(30, seed=30)
    write_idx(shifted / "train-labels-idx1-ubyte", (labels + 1) % 10)
    ids = {k: DataSpec.parse(str(p)).string_id() for k, p in (("a", a), ("b", b), ("shifted", shifted))}
    assert ids["a"] == ids["b"] != ids["shifted"] and "files=" in ids["a"]
    assert ModelSpec(data=DataSpec.parse(str(a))).key != ModelSpec(data=DataSpec.parse(str(shifted))).key
    assert DataSpec().string_id() == "digits(size=16,n_train=None,n_test=None,split_seed=0)"  # the zoo stays valid
    assert len(json.loads(fingerprint_cache.read_text())) == 3  # hashed once per file version, remembered


def test_the_fingerprint_follows_an_edit(tmp_path, fingerprint_cache):
    root = write_mnist(tmp_path / "a")
    before = DataSpec.parse(str(root)).string_id()
    images, _ = labelled_images(30, seed=31)
    write_idx(root / "train-images-idx3-ubyte", images)
    assert DataSpec.parse(str(root)).string_id() != before


def test_labels_using_few_classes_warn_and_blank_images_are_refused(tmp_path, fingerprint_cache):
    root = write_mnist(tmp_path / "few")
    images, labels = labelled_images(30, seed=30)
    write_idx(root / "train-labels-idx1-ubyte", labels % 2)
    write_idx(root / "t10k-labels-idx1-ubyte", np.arange(20) % 2)
    with pytest.warns(UserWarning, match=r"the labels use only 2 of 10 classes \(0, 1\)"):
        data.check(DataSpec.parse(str(root)))
    blank = write_mnist(tmp_path / "blank")
    write_idx(blank / "train-images-idx3-ubyte", np.zeros_like(images))
    with raises_naming(blank, "every training image has the same value everywhere"):
        load(DataSpec.parse(str(blank)))


def test_conflict_images_carry_another_class_cue_than_their_label():
    """Cue-conflict test images: every stamped one carries the cue of (y + 1) mod k, never its own
    label's; the training images are stamped as without the conflict."""
    ds = load(DataSpec(n_train=200, n_test=100))
    k = ds.num_classes
    plain, conflict = with_cue(ds, 1.0, 1.0), with_cue(ds, 1.0, 1.0, conflict=True)
    assert torch.equal(plain.x_train, conflict.x_train)
    assert conflict.name != plain.name and "conflict" in conflict.name
    cue_class = conflict_classes(ds.y_test, k)
    assert not (cue_class == ds.y_test).any()
    assert torch.equal(cue_class, (ds.y_test + 1) % k)
    white = (1.0 - ds.mean) / ds.std
    relabelled = stamp_cue(ds.x_test, cue_class, 1.0, num_classes=k, seed=1, white=white)
    assert torch.equal(conflict.x_test, relabelled)  # the cue the other class's images carry
    assert not torch.equal(conflict.x_test, plain.x_test)
    own = stamp_cue(ds.x_test, ds.y_test, 1.0, num_classes=k, seed=1, white=white)
    assert torch.equal(plain.x_test, own)
