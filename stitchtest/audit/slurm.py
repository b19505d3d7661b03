"""Cells on a Slurm cluster: an :meth:`~stitchtest.audit.Audit.cells` call's missing groups as one
job array, through submitit (``pip install stitchtest[slurm]``).

Why Slurm, through submitit: most labs' clusters run Slurm, and submitit (Meta's, kept) writes the
sbatch script, pickles the work, and requeues a job on a time limit or preemption
(:class:`CellJob` is ``Checkpointable``); a Ray cluster is rarer in labs and needs its own daemons.

What holds, and what it rests on:

- **No finished cell is lost**: each job appends every row, the moment its group finishes, to its
  own ``spool-<job>.jsonl`` in the results folder on the shared filesystem, fsynced
  (:mod:`stitchtest.records.spool`); the submitting process records the rows of each finished job
  in its results, and at the session's end and on ``--stitch-resume`` it adopts any row left in a
  spool (a job killed mid-run).
- **Nothing is counted twice**: rows are keyed (testbed, method, cell, stitch); adopting a spool
  appends only keys the results lack, and the audit skips a key it has.
- **Only what is missing is computed**: the audit submits only the groups it has no rows for; a
  requeued job reads its own spool first and skips what it finished before.

The zoo is trained in the submitting process (:meth:`Audit.cells` warms it before it submits), into
the model cache, which the jobs must see (``STITCHTEST_CACHE`` on the shared filesystem; sbatch
passes the environment on). Job states come from ``squeue`` and submitit's result files, not from
``sacct``, so a cluster without accounting (slurmdbd) works too: a job that left the queue with
no result file ended without finishing (cancelled, killed, out of time or memory).
"""
from __future__ import annotations

import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import submitit

from ..engine import methods as methods_mod
from ..records import rundir, spool
from ..records.folder import ResultsFolder
from ..records.results import numbered_rows
from ..records.rows import CellRow
from .executor import Executor


class SlurmError(RuntimeError):
    """A job of the array failed; the message names each with its log."""


@dataclass
class JobTask:
    """What one job needs to rebuild the audit and compute its groups (pickled by submitit)."""

    scale: object
    data: object
    device: Optional[str]
    zoo_root: str
    testbed: str
    method: object
    planned: list
    results_dir: str
    worker: str  #: names its spool and progress log


class CellJob(submitit.helpers.Checkpointable):
    """One job: compute the planned cells' groups, each group's rows into this job's spool at once.
    ``Checkpointable``: on a time limit or preemption submitit requeues it with the same task,
    and it skips the cells its spool already holds."""

    def __call__(self, task: JobTask) -> int:
        import torch

        from .core import Audit
        from ..models.zoo import Zoo

        cpus = int(os.environ.get("SLURM_CPUS_PER_TASK") or 0)
        if cpus:
            torch.set_num_threads(cpus)
        folder = ResultsFolder(task.results_dir)
        mine = folder.spool(task.worker)
        done = {r.key: r for _, r in numbered_rows(mine, tolerate_unfinished_tail=True)
                if isinstance(r, CellRow)} if mine.exists() else {}
        log = folder.progress(task.worker)

        def progress(message: str) -> None:
            with open(log, "a") as f:
                f.write(f"{time.strftime('%H:%M:%S')} {message}\n")

        import socket

        job = os.environ.get("SLURM_ARRAY_JOB_ID", "?") + "_" + os.environ.get("SLURM_ARRAY_TASK_ID", "?")
        progress(f"job {job} on {socket.gethostname()}, pid {os.getpid()}, {torch.get_num_threads()} threads: "
                 f"{len(task.planned)} cells of {task.testbed} {task.method.name}")
        if done:
            progress(f"requeued: {len(done)} cells already in {mine.name}, not computed again")
        zoo = Zoo(root=task.zoo_root, device=task.device, log=progress)
        audit = Audit(task.scale, task.data, zoo, spool.writer(folder, task.worker), done, progress)
        audit.cells(task.testbed, task.method, task.planned)
        return audit.computed


class Slurm(Executor):
    """Each call's missing groups as one job array of at most ``jobs`` jobs (groups dealt out in
    turn), ``cpus`` cores and ``gpus`` GPUs per job, ``time`` minutes each; waits, saying how many
    jobs are queued, running, done and failed, and yields each finished job's groups. A failed job
    raises :class:`SlurmError` with its log once the others have ended; Ctrl-C cancels the jobs."""

    def __init__(self, results_dir: str, partition: Optional[str] = None, cpus: int = 1, gpus: int = 0,
                 time_min: int = 60, jobs: int = 32, logs: Optional[str] = None, device: Optional[str] = None,
                 poll: float = 2.0):
        self.folder = ResultsFolder(results_dir)
        self.partition, self.cpus, self.gpus, self.time_min, self.jobs = partition, cpus, gpus, time_min, jobs
        self.logs = Path(logs) if logs else self.folder.root / "slurm-logs"
        self.device, self.poll = device, poll
        self.submitted: List[submitit.Job] = []  #: every job this executor submitted

    def executor(self) -> submitit.AutoExecutor:
        ex = submitit.AutoExecutor(folder=self.logs.resolve() / "%j", cluster="slurm")
        params = dict(timeout_min=self.time_min, cpus_per_task=self.cpus, nodes=1, tasks_per_node=1,
                      slurm_array_parallelism=self.jobs, name="stitchtest",
                      slurm_additional_parameters={"requeue": True})
        if self.gpus:
            params["gpus_per_node"] = self.gpus
        if self.partition:
            params["slurm_partition"] = self.partition
        ex.update_parameters(**params)
        return ex

    def run(self, audit, testbed, method, todo):
        chunks = methods_mod.groups([p.cell for p in todo], audit.context.stitch.group)
        n = min(self.jobs, len(chunks))
        dealt = [chunks[k::n] for k in range(n)]
        token = uuid.uuid4().hex[:8]
        names = [f"slurm-{token}-{k}" for k in range(n)]
        root = self.folder.root.resolve()
        rundir.record(root, rundir.run_files(names))  # a new run moves these aside too
        tasks = [JobTask(audit.scale, audit.data, self.device, str(audit.zoo.root.resolve()), testbed, method,
                         [todo[i] for group in job for i in group], str(root), name)
                 for job, name in zip(dealt, names)]
        jobs = self.executor().map_array(CellJob(), tasks)
        self.submitted += jobs
        say = audit.progress
        say(f"slurm: {testbed} {method.name}: {len(chunks)} groups ({len(todo)} cells) in {n} jobs, array {jobs[0].job_id.split('_')[0]}, "
            f"logs {self.logs}/")
        keys = [audit.key(testbed, method, p.cell) for p in todo]
        ended: Dict[int, str] = {}  # job index -> done | failed
        gone: Dict[int, int] = {}  # polls a job was neither queued nor had a result
        failures: List[str] = []
        last = None
        try:
            while len(ended) < n:
                queue = _squeue([j.job_id for k, j in enumerate(jobs) if k not in ended])
                counts = {"queued": 0, "running": 0}
                for k, job in enumerate(jobs):
                    if k in ended:
                        continue
                    if job.paths.result_pickle.exists():
                        error = job.exception()
                        rows = _rows(self.folder.spool(names[k]))
                        missing = [i for group in dealt[k] for i in group if keys[i] not in rows]
                        for group in dealt[k]:
                            if all(keys[i] in rows for i in group):
                                yield group, [rows[keys[i]].readouts for i in group]
                        if error is not None or missing:
                            why = str(error).strip().splitlines()[-1] if error is not None \
                                else f"it ended without rows for {len(missing)} of its cells"
                            failures.append(f"job {job.job_id} failed: {why}; log {job.paths.stderr}")
                        ended[k] = "failed" if error is not None or missing else "done"
                    elif queue.get(job.job_id) in ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD"):
                        counts["queued"] += 1
                    elif queue is None or job.job_id in queue:  # squeue did not answer: no news
                        counts["running"] += 1
                    else:
                        gone[k] = gone.get(k, 0) + 1
                        if gone[k] >= 3:  # left the queue without a result file (cancelled, killed, timed out)
                            rows = _rows(self.folder.spool(names[k]))
                            for group in dealt[k]:
                                if all(keys[i] in rows for i in group):
                                    yield group, [rows[keys[i]].readouts for i in group]
                            failures.append(f"job {job.job_id} ended without finishing (cancelled, killed, out of "
                                            f"time or memory; its finished cells are kept); log {job.paths.stderr}")
                            ended[k] = "failed"
                        else:
                            counts["running"] += 1
                state = (f"slurm array {jobs[0].job_id.split('_')[0]}: queued {counts['queued']}, running "
                         f"{counts['running']}, done {sum(v == 'done' for v in ended.values())}, failed "
                         f"{sum(v == 'failed' for v in ended.values())}")
                if state != last:
                    say(state)
                    last = state
                if len(ended) < n:
                    time.sleep(self.poll)
        except BaseException:  # Ctrl-C, or the caller stopped: cancel what is still queued or running
            left = [j for k, j in enumerate(jobs) if k not in ended]
            for job in left:
                job.cancel(check=False)
            if left:
                say(f"slurm: cancelled {len(left)} jobs (scancel {' '.join(j.job_id for j in left)})")
            raise
        if failures:
            for line in failures:
                say(line)
            raise SlurmError("; ".join(failures))


def _rows(path: Path) -> Dict[str, CellRow]:
    """A job's spooled cell rows by key (an unfinished last line of a killed write dropped)."""
    if not path.exists():
        return {}
    return {r.key: r for _, r in numbered_rows(path, tolerate_unfinished_tail=True) if isinstance(r, CellRow)}


def _squeue(job_ids: Sequence[str]) -> Optional[Dict[str, str]]:
    """``{job id: state}`` of the given jobs (array tasks one by one) still in Slurm's queue; None
    when squeue fails (a busy controller): no job is taken for gone on that."""
    if not job_ids:
        return {}
    arrays = sorted({j.split("_")[0] for j in job_ids})
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T", "-j", ",".join(arrays)],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    states = {}
    for line in out.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        states[job] = state
    return states
