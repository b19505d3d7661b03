"""Hernandez et al.'s sanity statistics (EV, ES, SV) and the input reconstructions."""
import numpy as np
import pytest

from stitchtest.cells import Cell
from stitchtest.context import Context
from stitchtest.data import DataSpec
from stitchtest.sanity import StitchSanity, reconstructions, sanity_table
from stitchtest.scales import SCALES
from stitchtest.stitching import StitchConfig
from stitchtest.zoo import ModelSpec, Zoo

DATA = DataSpec(n_train=300, n_test=100)
A = ModelSpec(width=4, epochs=2, data=DATA, seed=0)
B = A.replace(seed=1)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Context(Zoo(tmp_path_factory.mktemp("zoo")), StitchConfig(steps=30, batch_size=32))


def row(ev, es, sv, ds, dr):
    return {"readouts": {"ev": ev, "es": es, "sv": sv}, "sender_depth": ds, "receiver_depth": dr}


def test_sanity_table_summarises_the_diagonal_and_all_cells():
    rows = [row(1.0, 0.5, 0.2, 0.0, 0.0), row(3.0, 1.5, 0.4, 1.0, 1.0), row(5.0, 2.0, 0.9, 0.0, 1.0),
            {"readouts": {"failure": "x"}, "sender_depth": 0.0, "receiver_depth": 0.0}]
    table = {(r[0], r[1]): r[2:] for r in sanity_table(rows)}
    assert table["EV", "diagonal"] == ["2", "1.0000", "2.0000", "3.0000", "1.0000"]
    assert table["EV", "all cells"] == ["3", "1.0000", "3.0000", "5.0000", f"{np.std([1, 3, 5]):.4f}"]
    assert table["SV", "diagonal"][1:3] == ["0.2000", "0.3000"]


def test_the_least_squares_stitch_is_closest_to_the_receiver(ctx):
    cells = [Cell(A, i, B, "layer2.0") for i in ("stem", "layer2.0", "layer4.0")]
    for r in StitchSanity().evaluate_many(ctx, cells):
        assert 0 < r["es"] <= r["ev"] and r["sv"] > 0, r


def test_reconstructions_lose_the_image_with_depth(ctx):
    result = reconstructions(ctx, Cell(A, "stem", A, "stem"), n_images=4)
    images = np.asarray(result["images"])
    assert result["labels"][0] == "input" and len(result["labels"]) == len(images) == 6
    assert images.shape[1:] == (4, 16, 16)
    errors = ((images[1:] - images[0]) ** 2).mean(axis=(1, 2, 3))
    assert errors[0] < errors[-1] / 2  # measured 0.16 against 0.88 here


def test_paper_scale_covers_hernandez_pairs():
    pairs = SCALES["paper"].cross_pairs
    assert len(pairs) == 256 + 2 and ("resnet18", "resnet34") in pairs and ("resnet34", "resnet18") in pairs
    assert ("R1212", "R2121") in pairs and SCALES["smoke"].cross_pairs == (("R1111", "R1111"),)
