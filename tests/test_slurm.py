"""The Slurm executor against a real Slurm: a one-node cluster on this host (.ci/slurm-up.sh: munge,
slurmctld and slurmd started as root, 2 CPUs, partition ``debug``). Skipped, saying why, where it
cannot start (not root, no slurm-wlm/munge, no submitit). Cells are tiny (DM and linear CKA, one
seed pair); each job still pays a Python and torch start-up, so these take minutes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMING = {"seconds", "time", "worker", "reused_from"}  # when and where a row was made, not what it holds


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running one-node Slurm cluster (started here if it is not up): the environment to reach it."""
    pytest.importorskip("submitit", reason="submitit is not installed (pip install stitchtest[slurm])")
    if os.geteuid() != 0:
        pytest.skip("slurmd must run as root to start a test cluster; this is not root")
    from filelock import FileLock

    with FileLock("/tmp/stitchtest-slurm-up.lock"):  # xdist workers: one starts it, the others reuse it
        done = subprocess.run([str(ROOT / ".ci/slurm-up.sh")], capture_output=True, text=True, timeout=120)
    if done.returncode == 3:
        pytest.skip(done.stderr.strip())
    if done.returncode != 0:
        pytest.skip(f"slurmctld/slurmd did not start: {done.stderr.strip()[-500:]}")
    conf = done.stdout.strip().splitlines()[-1].split("=", 1)[1]
    path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))  # slurm_slow_measure
    return {**os.environ, "SLURM_CONF": conf, "PATH": f"/usr/sbin:{os.environ['PATH']}", "PYTHONPATH": path}


def audit(env, cwd, *args, executor="slurm"):
    """``pytest`` over the repository's testbeds in ``cwd`` (results in res/, reports in rep/)."""
    return subprocess.run(_command(executor, *args), cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


def _command(executor, *args):
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--stitch-results-dir", "res",
            "--stitch-report-dir", "rep", "--stitch-executor", executor, "--stitch-slurm-jobs", "2",
            "--stitch-seeds", "1", *args]


def cells(res: Path) -> dict:
    """Cell rows of a results folder by key, without timing fields; fails on a key written twice."""
    out = {}
    for path in sorted(res.glob("results-*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row.get("kind") != "cell":
                continue
            assert row["key"] not in out, f"{row['key']} counted twice"
            row["readouts"] = {k: v for k, v in row["readouts"].items() if k not in TIMING}
            out[row["key"]] = {k: v for k, v in row.items() if k not in TIMING}
    return out


#: a measure that pauses 1.5 s per cell (tests/slurm_slow_measure.py): the tests that act on a running job
#: need its groups to take seconds on any CPU; DM's take a fraction of a second on an idle one
SLOW = "slurm_slow_measure:slow_cka"

SLICE = [str(ROOT / "testbeds/random_controls"), str(ROOT / "testbeds/cross_layer"), "--stitch-methods", "dm,linear_cka",
         "--stitch-seeds", "3",
         "-k", "random_controls or (diagonal_dominance and primary)"]


def test_slurm_rows_are_the_local_rows_cell_by_cell(slurm, tmp_path):
    """The random controls and a slice of cross-layer through Slurm jobs give the rows a local run
    gives, cell by cell, and the reports are written."""
    (tmp_path / "local").mkdir()
    (tmp_path / "slurm").mkdir()
    local = audit(slurm, tmp_path / "local", *SLICE, executor="threads")
    assert local.returncode in (0, 1), local.stdout[-3000:]  # 1: a check's verdict at one seed pair
    remote = audit(slurm, tmp_path / "slurm", *SLICE)
    assert "SlurmError" not in remote.stdout, remote.stdout[-3000:]
    # the same verdicts: "1 failed, 8 passed, 15 deselected, 1 xfailed" without the time
    assert _verdicts(remote.stdout) == _verdicts(local.stdout), (remote.stdout[-3000:], local.stdout[-1000:])
    expected, got = cells(tmp_path / "local/res"), cells(tmp_path / "slurm/res")
    assert expected and set(got) == set(expected)
    for key in expected:
        assert got[key] == expected[key], key
    log = (tmp_path / "slurm/res/progress-main.log").read_text()
    assert "slurm array" in log and "done" in log  # the jobs did the work, and said so
    assert list((tmp_path / "slurm/res").glob("progress-slurm-*.log"))
    assert (tmp_path / "slurm/rep/summary.md").is_file()
    assert not list((tmp_path / "slurm/res").glob("spool-*.jsonl"))  # every job's rows are in the results


def _verdicts(out: str) -> str:
    return out.strip().splitlines()[-1].split(" in ")[0].strip("= ")


def test_a_cancelled_job_loses_no_finished_cell_and_the_rerun_computes_only_the_rest(slurm, tmp_path):
    """Kill one running job of an array mid-run (its process, SIGKILL): the test fails naming its log, its finished
    cells and the other jobs' are kept, and ``--stitch-resume`` submits only the missing groups."""
    args = [str(ROOT / "testbeds/cross_layer"), "--stitch-methods", SLOW, "-k", "diagonal_dominance and primary"]
    # 25 cells (5 x 5 cuts of R1111, one seed pair) in 5 groups (one per receiver cut) dealt to 2 jobs: 3 and 2
    total, group = 25, 5
    proc = subprocess.Popen(_command("slurm", *args), cwd=tmp_path, env=slurm, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    res = tmp_path / "res"
    victim = None
    deadline = time.time() + 600
    while victim is None and time.time() < deadline and proc.poll() is None:
        for spool in res.glob("spool-slurm-*.jsonl") if res.exists() else ():
            if spool.read_text().count("\n") != group:  # wait for a job that finished one group and has more
                continue
            submitted = (res / "progress-main.log").read_text().split("array ")[1]
            array_id = submitted.split(",")[0]
            victim = f"{array_id}_{spool.name[:-len('.jsonl')].rsplit('-', 1)[1]}"
            running = subprocess.run(["squeue", "-h", "-r", "-t", "RUNNING", "-o", "%i", "-j", array_id],
                                     env=slurm, capture_output=True, text=True).stdout.split()
            if victim in running:
                # killed as the OOM killer would (scancel sends SIGTERM, which submitit's job ignores
                # while it waits for a preemption signal, and a tiny job finishes in KillWait's 30 s)
                started = (res / f"progress-{spool.name[len('spool-'):-len('.jsonl')]}.log").read_text()
                os.kill(int(started.split(" pid ")[1].split(",")[0]), signal.SIGKILL)
                break
            victim = None
        time.sleep(0.5)
    out, _ = proc.communicate(timeout=600)
    assert victim is not None, out[-3000:]
    assert proc.returncode == 1, out[-3000:]
    assert f"job {victim} ended without finishing" in out
    log = Path(out.split(f"job {victim} ended without finishing")[1].split("; log ")[1].split()[0].strip("'\";,"))
    assert log.parent.is_dir(), log  # the error names the job's log file, in its own folder
    kept = cells(res)
    assert group <= len(kept) < total and len(kept) % group == 0, len(kept)  # no finished group lost
    again = subprocess.run(_command("slurm", *args, "--stitch-resume"), cwd=tmp_path, env=slurm,
                           capture_output=True, text=True, timeout=1200)
    assert again.returncode == 0, again.stdout[-3000:]
    final = cells(res)  # fails on a key counted twice
    assert len(final) == total and all(final[k] == v for k, v in kept.items())
    submits = [line for line in (res / "progress-main.log").read_text().splitlines() if " groups (" in line]
    # the rerun submitted the missing groups only
    missing = total - len(kept)
    assert f": {missing // group} groups ({missing} cells) in " in submits[-1], submits


def _ctrl_c_heard() -> None:
    """In the child before it starts: SIGINT back to its default, so Python turns it into KeyboardInterrupt.
    A shell that runs a job in the background (``cmd &``, as a CI runner may) starts it with SIGINT
    ignored, and Python keeps an ignored SIGINT ignored: the Ctrl-C would never arrive."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_cancels_the_submitted_jobs(slurm, tmp_path):
    proc = subprocess.Popen(_command("slurm", str(ROOT / "testbeds/cross_layer"), "--stitch-methods", SLOW, "-k",
                                     "diagonal_dominance and primary"),
                            cwd=tmp_path, env=slurm, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_ctrl_c_heard)
    log = tmp_path / "res/progress-main.log"
    deadline = time.time() + 300
    while time.time() < deadline and not (log.exists() and "slurm array" in log.read_text()):
        time.sleep(0.3)
    array_id = log.read_text().split("slurm array ")[1].split(":")[0]
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=300)
    assert "cancelled" in log.read_text(), out[-3000:]
    for _ in range(30):
        left = subprocess.run(["squeue", "-h", "-j", array_id], env=slurm, capture_output=True, text=True).stdout
        if not left.strip():
            break
        time.sleep(1)
    assert not left.strip(), left


def test_the_slurm_executor_under_xdist_is_a_usage_error(tmp_path):
    """The jobs are the workers: ``-n`` with ``--stitch-executor slurm`` is refused before anything runs."""
    done = subprocess.run(_command("slurm", str(ROOT / "testbeds/random_controls"), "--stitch-methods", "dm",
                                   "-n", "2"), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert "--stitch-executor slurm: run without -n/--tx (the jobs are the workers)" in done.stdout + done.stderr
    assert not (tmp_path / "res").exists() or not list((tmp_path / "res").glob("results-*.jsonl"))
