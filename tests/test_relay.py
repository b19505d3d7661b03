"""Rows from workers to the controller (``stitchtest.plugin.relay``), and the per-host shares workers get."""
import json
import math

import numpy as np

from stitchtest.records import CellRow
from stitchtest.plugin.relay import Inbox, Outbox
from stitchtest.records.results import ResultsWriter, load_rows


def cell(key, **readouts):
    return CellRow(key=key, testbed="tb", method="dm", pair="a->b", seed=0, sender_cut="stem", receiver_cut="stem",
                   readouts=readouts)


def test_what_travels_is_plain_json_and_the_controller_writes_it_as_one_process_would(tmp_path):
    out = Outbox("gw3")
    row = cell("k", score=np.float32(0.5), bad=math.nan)
    out.append(row)
    out.log("12:00:00 cell tiny dm ...")
    rows, lines = out.take()
    assert json.loads(json.dumps(rows)) == rows  # plain data: nothing numpy, no NaN
    assert rows[0]["readouts"] == {"score": 0.5, "bad": None} and rows[0]["worker"] == "gw3"
    assert out.take() == ([], []) and out.sent == 1

    inbox = Inbox(tmp_path / "controller")
    inbox.receive("gw3", rows, lines)
    ResultsWriter(tmp_path / "single", "gw3").append(row)
    (written,) = load_rows(tmp_path / "controller")
    (single,) = load_rows(tmp_path / "single")
    assert written.to_json() == {**single.to_json(), "time": written.time}
    assert written.time == rows[0]["time"]  # the time the worker recorded it, not when it arrived
    assert (tmp_path / "controller" / "progress-gw3.log").read_text() == "12:00:00 cell tiny dm ...\n"


def test_the_inbox_counts_what_each_worker_sent(tmp_path):
    inbox = Inbox(tmp_path)
    inbox.receive("gw0", [cell("a").to_json(), cell("b").to_json()])
    assert inbox.shortfall("gw0", 2) == 0
    assert inbox.shortfall("gw0", 5) == 3 and inbox.shortfall("gw1", 1) == 1


def test_shares_are_counted_per_host():
    """Two workers on host a and one on b: a's split a's machine in two, b's worker has all of b."""
    import execnet

    from stitchtest.plugin.options import host_slots

    specs = [execnet.XSpec("ssh=me@a"), execnet.XSpec("ssh=me@a"), execnet.XSpec("ssh=me@b"), execnet.XSpec("popen"),
             execnet.XSpec("popen//chdir=/elsewhere")]
    for n, spec in enumerate(specs):
        spec.id = f"gw{n}"
    assert host_slots(specs) == {"gw0": (0, 2), "gw1": (1, 2), "gw2": (0, 1), "gw3": (0, 2), "gw4": (1, 2)}
