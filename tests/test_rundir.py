"""The results directory's life: only stitchtest's own files are moved aside; one session at a time."""
import subprocess
import sys

import pytest

from stitchtest import rundir
from stitchtest.folder import ResultsFolder


def test_set_aside_moves_only_our_files(tmp_path):
    ours = {"results-gw0.jsonl": '{"kind": "cell", "key": "a"}\n{"kind": "cell", "key": "b", "readou',  # killed mid-line
            "results-controller.jsonl": '{"kind": "run", "key": "run"}\n',
            "progress-gw0.log": "09:01:02 cell tiny dm ...\n",
            "spool-gw1.jsonl": '{"kind": "cell", "key": "c"}\n'}
    theirs = {"notes.txt": "mine", "progress-plan.log": "step 1: think\n", "results.csv": "a,b\n",
              "spool.jsonl": "[1]\n"}
    for name, text in {**ours, **theirs}.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "src").mkdir()
    target = rundir.set_aside(tmp_path)
    assert target.parent == ResultsFolder(tmp_path).previous
    assert {p.name: p.read_text() for p in target.iterdir()} == ours
    assert {p.name: p.read_text() for p in tmp_path.iterdir() if p.is_file()} == theirs
    assert rundir.set_aside(tmp_path) is None  # nothing of ours left


def test_a_results_file_we_did_not_write_stops_the_run(tmp_path):
    (tmp_path / "results-x.jsonl").write_text('{"kind": "cell", "key": "a"}\n[1, 2]\n')
    with pytest.raises(rundir.RunDirError, match="results-x.jsonl is not a stitchtest results file"):
        rundir.set_aside(tmp_path)
    assert (tmp_path / "results-x.jsonl").exists()


def test_claim_refuses_a_directory_another_process_holds(tmp_path):
    lock = rundir.claim(tmp_path / "results")
    code = ("import sys; from stitchtest import rundir\n"
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
