"""A worker's spool on the controller's disk (``stitchtest.records.spool``): what a killed worker computed is kept."""
import json

import pytest

from stitchtest.records import spool
from stitchtest.records.folder import ResultsFolder
from stitchtest.records import CellRow
from stitchtest.plugin.relay import Inbox, Outbox
from stitchtest.records.results import ResultsWriter, load_rows, read_rows


def cell(key, **readouts):
    return CellRow(key=key, testbed="tb", method="dm", pair="a->b", seed=0, sender_cut="stem", receiver_cut="stem",
                   readouts=readouts)


def test_an_outbox_with_a_spool_writes_each_row_there_at_once(tmp_path):
    folder = ResultsFolder(tmp_path)
    out = Outbox("gw1", spool.writer(folder, "gw1"))
    out.append(cell("a", score=0.5))
    (line,) = folder.spool("gw1").read_text().splitlines()  # on disk before any report took it
    assert json.loads(line)["key"] == "a" and json.loads(line)["worker"] == "gw1"
    rows, _ = out.take()
    assert rows == [json.loads(line)]  # the same row, with the same time, travels to the controller


def test_adopt_keeps_what_never_arrived_once_and_removes_the_spools(tmp_path):
    folder = ResultsFolder(tmp_path)
    out = Outbox("gw0", spool.writer(folder, "gw0"))
    for key in "abc":
        out.append(cell(key, score=1.0))
    rows, _ = out.take()
    Inbox(tmp_path).receive("gw0", rows[:1])  # "a" arrived; the worker died before "b" and "c" did
    with open(folder.spool("gw0"), "a") as f:
        f.write('{"kind": "cell", "key": "half')  # killed mid-write
    with pytest.warns(UserWarning, match="unfinished last line"):
        assert spool.adopt(tmp_path) == {"gw0": 2}
    kept = load_rows(tmp_path)
    assert [r.key for r in kept] == ["a", "b", "c"]
    assert [r.time for r in kept] == [r["time"] for r in rows] and {r.worker for r in kept} == {"gw0"}
    assert folder.spool_files() == [] and len(folder.results("gw0").read_text().splitlines()) == 3
    assert spool.adopt(tmp_path) == {}  # nothing left to do


def test_adopting_again_after_an_interruption_adds_nothing_twice(tmp_path):
    """Killed between appending the rows and removing the spool: the next adoption only removes it."""
    folder = ResultsFolder(tmp_path)
    spool.writer(folder, "gw2").append(cell("x"))
    ResultsWriter(tmp_path, "gw2").append(read_rows(folder.spool("gw2"))[0])  # as if adopted already
    assert spool.adopt(tmp_path) == {}
    assert [r.key for r in load_rows(tmp_path)] == ["x"] and not folder.spool("gw2").exists()
