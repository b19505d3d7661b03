"""The plugin's options: declared, read, and resolved into the run's settings, each one checked.

Every option carries the ``--stitch-`` prefix (its ``dest`` drops the dashes: ``stitch_scale``), so
a user's own ``--device`` never collides with ours. Everything here is a function of the options
alone; what the plugin knows about a session is :class:`stitchtest.plugin.session.AuditSession`'s.
Nothing here imports torch at import time: the plugin is loaded in every pytest session.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List

import pytest

from ..records.folder import ResultsFolder

if TYPE_CHECKING:
    from ..records.rows import RunSettings

RESULTS = "results"
#: the prefix of every option (``--stitch-scale``); ``dest`` names drop the dashes (``stitch_scale``)
PREFIX = "stitch"


def option(config: pytest.Config, name: str) -> Any:
    """The value of ``--stitch-<name>`` (``name`` as its dest, ``results_dir``)."""
    return config.getoption(f"{PREFIX}_{name}")


def flag(name: str) -> str:
    """The command-line spelling of an option, for messages: ``results_dir`` -> ``--stitch-results-dir``."""
    return f"--{PREFIX}-{name.replace('_', '-')}"


def results_folder(config: pytest.Config) -> ResultsFolder:
    """``--stitch-results-dir``, as the folder whose file names it owns."""
    return ResultsFolder(option(config, "results_dir"))


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("stitchtest", "stitchtest: audit functional-similarity methods (active only when "
                                          "tests marked `testbed` are collected)")

    def add(name: str, **kwargs) -> None:
        group.addoption(flag(name), dest=f"{PREFIX}_{name}", **kwargs)

    add("scale", choices=("smoke", "small", "paper"), default="smoke",
        help="how many models, cuts and seeds the testbeds use (default: smoke, on digits)")
    add("data", default="digits", metavar="NAME_OR_DIR",
        help="data set: digits (default), a directory (MNIST IDX, CIFAR-10/100 python, torchvision's "
             "layouts, an ImageFolder) or module:function returning a torch Dataset; a directory's id "
             "follows its files' content, re-hashed when a file's size or mtime changes (a file edited "
             "in place keeping both keeps its old id)")
    add("methods", default=None, metavar="NAMES",
        help="comma-separated methods to audit (registered names or module:Name); default: all")
    add("seeds", type=int, default=None, metavar="N", help="models per group (default: the scale's, 3)")
    add("arch", default=None, metavar="NAME",
        help="the model family every testbed audits (default: the scale's, R1111): a built-in "
             "(vgg4, R2222, ...), a registered family (stitchtest.models entry points) or module:Name")
    add("device", default="auto", help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")
    add("precision", choices=("auto", "fp32", "bf16"), default="auto",
        help="what the stitches train in: auto (default: bf16 autocast where a measured probe finds it faster "
             "on this machine, else fp32), fp32 or bf16; part of every cell's key")
    add("report_dir", default="reports", metavar="DIR",
        help="where the markdown reports are written at session end (default: reports/)")
    add("results_dir", default=RESULTS, metavar="DIR",
        help="where computed cells are appended as JSON lines, one file per worker, by this process "
             "(under xdist, the controller) (default: results/)")
    add("resume", action="store_true",
        help="keep the results of an earlier, interrupted run and skip the cells already there")
    add("baseline", default=None, metavar="FILE",
        help=f"compare with a baseline (from {flag('save_baseline')}): fail the session when a check that "
             f"passed there fails now or has gone missing; checks that failed there too run as xfail")
    add("save_baseline", default=None, metavar="FILE",
        help="write this run's settings, cells and checks to FILE at session end, as a baseline")
    add("baseline_tol", type=float, default=None, metavar="X",
        help="list readouts that moved by more than X (absolute) from the baseline (default: 0.02)")
    add("executor", choices=("threads", "slurm"), default="threads",
        help="who computes the cells: threads (this process, or each xdist worker; default) or slurm (each "
             "test's missing groups as a Slurm job array through submitit: pip install stitchtest[slurm]; "
             "the results folder and STITCHTEST_CACHE must be on a filesystem the jobs see)")
    add("slurm_partition", default=None, metavar="NAME", help="slurm: the partition (default: the cluster's)")
    add("slurm_cpus", type=int, default=1, metavar="N", help="slurm: CPU cores per job (default: 1)")
    add("slurm_gpus", type=int, default=0, metavar="N", help="slurm: GPUs per job (default: 0)")
    add("slurm_time", type=int, default=60, metavar="MIN",
        help="slurm: time limit per job in minutes (default: 60); a job that reaches it is requeued and "
             "skips what it finished")
    add("slurm_jobs", type=int, default=32, metavar="N",
        help="slurm: at most N jobs per test's array; its groups are dealt out among them (default: 32)")
    add("slurm_logs", default=None, metavar="DIR",
        help="slurm: where submitit writes the jobs' scripts and logs (default: RESULTS_DIR/slurm-logs)")
    parser.addini("stitchtest_progress_every", default="30",
                  help="stitchtest: seconds between running counts of computed cells (without -v)")




def computes(config: pytest.Config) -> bool:
    """False for a session that runs no test: ``--collect-only``, ``--help``, ``--fixtures``,
    ``--setup-only``, ...: it neither moves the previous run aside nor writes a run row."""
    return not any(getattr(config.option, name, False) for name in (
        "collectonly", "help", "showfixtures", "show_fixtures_per_test", "markers", "setupplan", "setuponly"))


def _host(spec) -> str:
    """Which machine an xdist ``--tx`` spec runs on: its ssh or socket address, else this one."""
    return spec.ssh or spec.socket or "localhost"


def host_slots(specs) -> Dict[str, tuple]:
    """``{worker id: (index, count)}`` among the workers of the same host, in ``--tx`` order:
    ``--tx 2*ssh=a --tx ssh=b`` -> gw0 ``(0, 2)``, gw1 ``(1, 2)``, gw2 ``(0, 1)``."""
    hosts: Dict[str, List[str]] = {}
    for spec in specs:
        hosts.setdefault(_host(spec), []).append(spec.id)
    return {w: (ids.index(w), len(ids)) for ids in hosts.values() for w in ids}


# ---------------------------------------------------------------- the run's settings, checked


def run_settings(config: pytest.Config) -> RunSettings:
    """The settings that make two runs comparable (:class:`~stitchtest.records.RunSettings`),
    from the options; a bad data set, architecture, seed count or method is one usage error, now."""
    from ..data.dataset import check
    from ..data.errors import DataError
    from ..data.spec import DataSpec
    from ..records.rows import RunSettings
    from ..audit.scales import SCALES
    from ..models.zoo import versions

    try:  # read the files now: a data error is one usage error, not a failure in every test
        spec = SCALES[option(config, "scale")].data(DataSpec.parse(option(config, "data")))
        with warnings.catch_warnings(record=True) as degenerate:
            warnings.simplefilter("always")
            classes, image = check(spec)  # the class count, for the reports' chance level
        data = spec.string_id()
    except DataError as e:
        raise pytest.UsageError(f"{flag('data')}: {e}") from None
    for w in degenerate:
        config.issue_config_time_warning(w.message, stacklevel=2)
    arch = option(config, "arch")
    if arch:  # built once on this data: a family that cannot work here is one usage error, now
        from ..models.core import check_arch

        try:
            check_arch(arch, SCALES[option(config, "scale")].width, image, classes)
        except ValueError as e:
            raise pytest.UsageError(f"{flag('arch')}: {e}") from None
    seeds = option(config, "seeds")
    if seeds is not None and seeds < 1:
        raise pytest.UsageError(f"{flag('seeds')}: {seeds} is not a number of models; give 1 or more, or leave "
                                f"it out for the scale's {SCALES[option(config, 'scale')].seeds}")
    return RunSettings(scale=option(config, "scale"), data=data,
                       seeds=SCALES[option(config, "scale")].with_seeds(seeds).seeds,
                       methods=option(config, "methods") or "all", audited=tuple(audited(config)),
                       arch=option(config, "arch") or None, num_classes=classes or None, versions=versions(),
                       command="pytest " + " ".join(sys.argv[1:]))


def audited(config: pytest.Config) -> List[str]:
    """The names ``--stitch-methods`` resolves to; an unknown one, or none at all, is a usage error."""
    from ..audit.core import resolve_methods
    from ..runtime.registry import RegistryError

    try:
        chosen = resolve_methods(option(config, "methods"))
    except (RegistryError, ImportError, TypeError) as e:
        raise pytest.UsageError(f"{flag('methods')}: {e}") from None
    if not chosen:
        raise pytest.UsageError(f"{flag('methods')} {option(config, 'methods')!r} names no method; give names such "
                                f"as dm,linear_cka (`stitchtest methods` lists them), or leave it out to audit all")
    return sorted(m.name for m in chosen)


def device(config: pytest.Config):
    """``--stitch-device`` resolved; one this machine lacks is a usage error, said once before anything runs."""
    from ..runtime import devices

    try:
        return devices.resolve(None if option(config, "device") == "auto" else option(config, "device"))
    except (RuntimeError, ValueError) as e:
        raise pytest.UsageError(f"{flag('device')}: {e}") from None


def precision(config: pytest.Config) -> str:
    """What the stitches of this run train in, e.g. ``"bf16 (auto)"``: ``auto`` depends on the hardware."""
    from ..runtime import precision as precision_mod
    from ..audit.scales import SCALES

    stitch = SCALES[option(config, "scale")].with_precision(option(config, "precision")).stitch()
    dev = device(config)
    resolved = stitch.resolved_precision(dev)
    if stitch.precision != "auto":
        return resolved
    return f"{resolved} (auto; {precision_mod.explain(dev.type)})"


def check_paths(config: pytest.Config) -> None:
    """``--stitch-report-dir`` and ``--stitch-results-dir`` must be directories (or not exist yet) that
    this file system can hold, and so must the model cache."""
    from ..runtime.files import path_problem
    from ..runtime.paths import CacheError, check_root, default_root

    try:
        check_root(default_root())
    except CacheError as e:
        raise pytest.UsageError(str(e)) from None
    for name in ("report_dir", "results_dir"):
        path = Path(option(config, name))
        problem = path_problem(path)
        if problem:
            raise pytest.UsageError(f"{flag(name)}: {problem}; give a shorter path")
        if path.exists() and not path.is_dir():
            raise pytest.UsageError(f"{flag(name)}: {path} is a file, not a directory; give a directory")
