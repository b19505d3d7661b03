"""A measure slow on purpose, for the Slurm tests that must act while a job is still running.

On an idle machine a job computes DM's or linear CKA's cells of one receiver cut in a fraction of a
second, faster than a test can see a job mid-run (a job killed after its first group, Ctrl-C while jobs
run). ``slow_cka`` is linear CKA after a fixed pause per cell, so a job's groups take seconds whatever
the CPU. The jobs import it as ``slurm_slow_measure:slow_cka`` (the tests put tests/ on PYTHONPATH).
"""
import time

from stitchtest.measures.core import LinearCKA

PAUSE = 1.5  # seconds per cell: 5 cells a group, about 7.5 s a group
_CKA = LinearCKA()


def slow_cka(x, y) -> float:
    time.sleep(PAUSE)
    return _CKA._score(x, y)
