"""The results directory's life: only stitchtest's own files are moved aside; one session at a time."""
import subprocess
import sys
from types import SimpleNamespace

import pytest

from stitchtest.records import rundir, spool
from stitchtest.plugin import session
from stitchtest.records.folder import ResultsFolder
from stitchtest.records import CellRow
from stitchtest.records.results import ResultsWriter


def test_set_aside_moves_only_the_files_the_record_names(tmp_path):
    ours = {"results-gw0.jsonl": '{"kind": "cell", "key": "a"}\n{"kind": "cell", "key": "b", "readou',  # killed mid-line
            "results-controller.jsonl": '{"kind": "run", "key": "run"}\n',
            "progress-gw0.log": "09:01:02 cell tiny dm ...\n",
            "spool-gw1.jsonl": '{"kind": "cell", "key": "c"}\n',
            "progress-gw1.log": ""}  # recorded, and ours even if empty
    theirs = {"notes.txt": "mine", "progress-plan.log": "step 1: think\n", "results.csv": "a,b\n",
              "spool.jsonl": "[1]\n"}
    rundir.record(tmp_path, rundir.run_files(["controller", "gw0", "gw1"]))
    for name, text in {**ours, **theirs}.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "src").mkdir()
    target = rundir.set_aside(tmp_path)
    assert target.parent == ResultsFolder(tmp_path).previous
    assert {p.name: p.read_text() for p in target.iterdir()} == ours
    assert {p.name: p.read_text() for p in tmp_path.iterdir() if p.is_file() and p.name[0] != "."} == theirs
    assert rundir.set_aside(tmp_path) is None  # nothing of ours left


def test_user_files_named_and_shaped_like_ours_stay_where_they_are(tmp_path):
    """Issue 27, 1: an empty ``results-*.jsonl``, an empty ``progress-*.log`` and one of time-stamped
    lines look like ours, but no run recorded writing them: a new run leaves them, before and
    after a run of its own in the same folder."""
    theirs = {"notes.txt": "mine\n", "results-empty.jsonl": "", "progress-todo.log": "",
              "progress-backup.log": "12:00:01 backed up /home\n"}
    for name, text in theirs.items():
        (tmp_path / name).write_text(text)
    assert rundir.set_aside(tmp_path) is None
    rundir.record(tmp_path, rundir.run_files(["controller", "main"]), keep=False)  # a run here, as a session does
    (tmp_path / "results-main.jsonl").write_text('{"kind": "cell", "key": "a"}\n')
    (tmp_path / "progress-main.log").write_text("09:01:02 cell tiny dm ...\n")
    target = rundir.set_aside(tmp_path)
    assert sorted(p.name for p in target.iterdir()) == ["progress-main.log", "results-main.jsonl"]
    assert {p.name: p.read_text() for p in tmp_path.iterdir() if p.is_file() and p.name[0] != "."} == theirs


def test_a_folder_of_an_older_stitchtest_is_recognised_by_content_once(tmp_path):
    """A session file but no record: written before the record existed, so what looks ours is
    moved aside (as before), and the next run's record decides from then on."""
    folder = ResultsFolder(tmp_path)
    folder.session.write_text("0123\n")
    (tmp_path / "results-main.jsonl").write_text('{"kind": "cell", "key": "a"}\n')
    (tmp_path / "progress-main.log").write_text("09:01:02 cell tiny dm ...\n")
    (tmp_path / "progress-mine.log").write_text("not a progress log\n")
    target = rundir.set_aside(tmp_path)
    assert sorted(p.name for p in target.iterdir()) == ["progress-main.log", "results-main.jsonl"]
    assert [p.name for p in tmp_path.glob("progress-*")] == ["progress-mine.log"]


def test_a_results_file_we_did_not_write_stops_the_run(tmp_path):
    rundir.record(tmp_path, rundir.run_files(["main"]))
    (tmp_path / "results-x.jsonl").write_text('{"kind": "cell", "key": "a"}\n')  # rows, but no run wrote it here
    with pytest.raises(rundir.RunDirError, match="results-x.jsonl is not a stitchtest results file.*move it away"):
        rundir.set_aside(tmp_path)
    assert (tmp_path / "results-x.jsonl").exists()


def test_resume_takes_over_the_results_it_reads(tmp_path):
    """--stitch-resume reads every non-empty results file and spool as its own rows, and adopts a
    spool into its worker's results: all of them are recorded, so the next new run moves them."""
    rundir.record(tmp_path, rundir.run_files(["main"]))
    (tmp_path / "results-main.jsonl").write_text('{"kind": "cell", "key": "a"}\n')
    (tmp_path / "spool-gw1.jsonl").write_text('{"kind": "cell", "key": "b"}\n')
    (tmp_path / "results-empty.jsonl").write_text("")
    taken = rundir.resumed_files(tmp_path)
    assert {"results-main.jsonl", "spool-gw1.jsonl", "results-gw1.jsonl"} <= set(taken)
    assert "results-empty.jsonl" not in taken


def test_claim_refuses_a_directory_another_process_holds(tmp_path):
    lock = rundir.claim(tmp_path / "results")
    code = ("import sys; from stitchtest.records import rundir\n"
            "try:\n    rundir.claim(__import__('pathlib').Path(sys.argv[1]))\n"
            "except rundir.RunDirError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "results")], capture_output=True, text=True)
    assert "is in use by another stitchtest session" in out.stdout, out.stderr
    lock.release()
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "results")], capture_output=True, text=True)
    assert out.stdout == "" and out.returncode == 0, out.stderr
    (tmp_path / "file").write_text("x")
    with pytest.raises(rundir.RunDirError, match="is a file, not a directory"):
        rundir.claim(tmp_path / "file")


class _Config:
    """What an audit session reads of a pytest config: options and the stash."""

    def __init__(self, **options):
        self.stash, self._options = pytest.Stash(), options

    def getoption(self, name):
        return self._options[name]


def _cell(key):
    return CellRow(key=key, testbed="tb", method="dm", pair="a->b", seed=0, sender_cut="stem", receiver_cut="stem",
                   readouts={"score": 1.0})


def test_workers_of_a_resumed_run_are_told_the_cells_a_killed_run_spooled(tmp_path):
    """Issue 27, 2: under -n the workers learn what is done before the controller adopts the
    killed run's spools, so the spooled cells must be among them, or they are computed again."""
    ResultsWriter(tmp_path, "gw0").append(_cell("a"))
    spool.writer(ResultsFolder(tmp_path), "gw1").append(_cell("b"))
    config = _Config(stitch_resume=True, stitch_results_dir=str(tmp_path), stitch_baseline=None)
    spec = SimpleNamespace(id="gw0", ssh=None, socket=None)
    node = SimpleNamespace(config=config, nodemanager=SimpleNamespace(specs=[spec]), gateway=SimpleNamespace(id="gw0"))
    told = session.audit_session(config).worker_input(node)
    assert sorted(r["key"] for r in told["done"]) == ["a", "b"]
