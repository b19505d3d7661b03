"""Hernandez et al.'s sanity statistics (EV, ES, SV) and the input reconstructions."""
import numpy as np
import pytest

from stitchtest.engine.cells import Cell
from stitchtest.engine.context import Context
from stitchtest.data import DataSpec
from stitchtest.engine import methods
from stitchtest.stitching.objectives import TLM, TLMRandomStart
from stitchtest.stitching.readouts import stitch_distance
from stitchtest.records import CellRow
from stitchtest.instruments.sanity import reconstructions, sanity_rows, sanity_table
from stitchtest.audit.scales import SCALES
from stitchtest.stitching import StitchConfig, fit_stitch, new_stitch
from stitchtest.models.zoo import ModelSpec, Zoo

DATA = DataSpec(n_train=300, n_test=100)
A = ModelSpec(width=4, epochs=2, data=DATA, seed=0)
B = A.replace(seed=1)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Context(Zoo(tmp_path_factory.mktemp("zoo")), StitchConfig(steps=30, batch_size=32))


def cell_row(readouts, cell=None, ds=0.0, dr=0.0):
    return CellRow(key=f"cross_layer|m|{cell}|s", testbed="cross_layer", method="m", pair="a->b", seed=0,
                   sender_cut="x", receiver_cut="y", readouts=readouts, cell=cell, sender_depth=ds, receiver_depth=dr)


def row(ev, es, sv, ds, dr):
    return cell_row({"ev": ev, "es": es, "sv": sv}, ds=ds, dr=dr)


def test_sanity_table_summarises_the_diagonal_and_all_cells():
    rows = [row(1.0, 0.5, 0.2, 0.0, 0.0), row(3.0, 1.5, 0.4, 1.0, 1.0), row(5.0, 2.0, 0.9, 0.0, 1.0),
            cell_row({"failure": "x"})]
    table = {(r[0], r[1]): r[2:] for r in sanity_table(rows)}
    assert table["EV", "diagonal"] == ["2", "1.0000", "2.0000", "3.0000", "1.0000"]
    assert table["EV", "all cells"] == ["3", "1.0000", "3.0000", "5.0000", f"{np.std([1, 3, 5]):.4f}"]
    assert table["SV", "diagonal"][1:3] == ["0.2000", "0.3000"]


def test_sanity_rows_read_tlm_and_dm_cells_and_tlm_starts_from_dms_stitch(ctx):
    """EV / ES / SV come from the TLM and DM cells' own readouts, and SV (TLM's ``start_mse``) is
    the distance to DM's stitch exactly, since TLM starts from the same least-squares solution."""
    cells = [Cell(A, i, B, "layer2.0") for i in ("stem", "layer2.0", "layer4.0")]
    as_rows = lambda name: [cell_row(r, cell=c.string_id())  # noqa: E731
                            for c, r in zip(cells, methods.get(name).evaluate_many(ctx, cells))]
    rows = sanity_rows(as_rows("tlm"), as_rows("dm")[::-1])  # paired by cell, not by position
    assert len(rows) == 3
    for r in rows:
        assert 0 < r.readouts["es"] <= r.readouts["ev"] and r.readouts["sv"] > 0 and r.method == "tlm_vs_dm", r
    a, target = ctx.pair(cells[0], "train")
    fit = fit_stitch(TLM(), ctx.model(B), "layer2.0", a, ctx.data(cells[0]).y_train, target, ctx.stitch)
    dm = new_stitch(a, target["layer2.0"], ctx.stitch)
    a_test = ctx.pair(cells[0], "test")[0]
    assert stitch_distance(fit.stitch, fit.start, a_test) == pytest.approx(stitch_distance(fit.stitch, dm, a_test),
                                                                           rel=1e-6)
    assert stitch_distance(fit.start, dm, a_test) == pytest.approx(0.0, abs=1e-10)


def test_rows_without_the_readouts_are_left_out_and_failures_kept():
    ok = cell_row({"cut_mse": 2.0, "start_mse": 1.0}, "c1")
    old = cell_row({"accuracy": 0.9}, "c2")  # resumed from before the readouts existed
    failed = cell_row({"failure": "non-finite loss"}, "c3")
    dm = [cell_row({"cut_mse": 1.0}, c) for c in ("c1", "c2", "c3")]
    rows = sanity_rows([ok, old, failed], dm)
    assert [r.cell for r in rows] == ["c1", "c3"]
    assert rows[0].readouts == {"ev": 2.0, "es": 1.0, "sv": 1.0} and rows[1].failed


def test_reconstructions_lose_the_image_with_depth(ctx):
    result = reconstructions(ctx, A, n_images=4)
    images = np.asarray(result["images"])
    assert result["labels"][0] == "input" and len(result["labels"]) == len(images) == 6
    assert images.shape[1:] == (4, 16, 16)
    errors = ((images[1:] - images[0]) ** 2).mean(axis=(1, 2, 3))
    assert errors[0] < errors[-1] / 2  # measured 0.16 against 0.88 here


def test_paper_scale_covers_hernandez_pairs():
    pairs = SCALES["paper"].cross_pairs
    assert len(pairs) == 256 + 2 and ("resnet18", "resnet34") in pairs and ("resnet34", "resnet18") in pairs
    assert ("R1212", "R2121") in pairs and SCALES["smoke"].cross_pairs == (("R1111", "R1111"),)


def test_random_start_tlm_does_not_start_at_the_least_squares_map_and_reads_sv_from_it(ctx):
    """Hernandez et al.'s TLM starts at random: its start is far from DM's stitch (the least-squares
    one starts there exactly), its row's SV is ``ls_mse`` (against DM's stitch), not ``start_mse``,
    and its method id, hence its cell keys, differ from TLM's."""
    cell = Cell(A, "layer1.0", B, "layer2.0")
    a, target = ctx.pair(cell, "train")
    y = ctx.data(cell).y_train
    dm = new_stitch(a, target["layer2.0"], ctx.stitch)
    a_test = ctx.pair(cell, "test")[0]
    ls_start = fit_stitch(TLM(), ctx.model(B), "layer2.0", a, y, target, ctx.stitch)
    random_start = fit_stitch(TLMRandomStart(), ctx.model(B), "layer2.0", a, y, target, ctx.stitch)
    assert stitch_distance(ls_start.start, dm, a_test) < 1e-10
    assert stitch_distance(random_start.start, dm, a_test) > 100 * stitch_distance(ls_start.stitch, dm, a_test)
    assert ls_start.least_squares is None and stitch_distance(random_start.least_squares, dm, a_test) < 1e-10
    (readouts,) = methods.wrap(TLMRandomStart()).evaluate_many(ctx, [cell])
    assert readouts["ls_mse"] != pytest.approx(readouts["start_mse"])
    (dm_readouts,) = methods.get("dm").evaluate_many(ctx, [cell])
    (sv_row,) = sanity_rows([cell_row(readouts, cell=cell.string_id())], [cell_row(dm_readouts, cell=cell.string_id())])
    assert sv_row.readouts["sv"] == readouts["ls_mse"]
    assert methods.wrap(TLMRandomStart()).string_id() != methods.get("tlm").string_id()
    assert "tlm_random_start" not in methods.names()  # not run by every testbed unasked
