"""One face for every similarity method: objective-trained stitches and representational measures.

A method maps a :class:`~stitchtest.engine.cells.Cell` (model A at cut i, model B at cut j, data) to a
dict of readouts. ``primary`` names the readout that is "the similarity" when a check does not
choose one; for every method it is oriented so that higher = more similar. Testbeds treat CKA
and FuLA alike.

Every registered objective is a method (``StitchingMethod``), and so is every registered
measure (``MeasureMethod``); a user's new objective or measure therefore becomes a method with
no other change.
"""
from __future__ import annotations

import math
import time
from enum import Enum
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..runtime import concurrency
from ..models.attacks import robust_accuracy
from .cells import Cell
from .context import CellContext, Context
from ..data.cue import conflict_classes
from ..measures.core import MEASURES, FunctionMeasure, Measure
from ..stitching.objectives import OBJECTIVES, Objective
from ..stitching.readouts import stitch_distance, stitch_readouts
from ..runtime.registry import RegistryError, import_path
from ..stitching.stitch import IncompatibleCuts, StitchedNetwork, form
from ..stitching.fit import FitResult, fit_stitches
from ..stitching.batchnorm_train import TrainModeFeed, activations

Readouts = Dict[str, Union[float, str]]


class Kind(str, Enum):
    """What a method is: a stitch trained with an objective, or a representational measure. Equal to
    its value (``Kind.MEASURE == "measure"``), which is what ``kind:measure`` expectations and a
    user's method that sets ``kind = "measure"`` name."""

    OBJECTIVE = "objective"
    MEASURE = "measure"

    __str__ = str.__str__
    __format__ = str.__format__


class Method:
    name: str = ""
    kind: str = ""  # a :class:`Kind`
    primary: str = ""

    def evaluate(self, ctx: CellContext, cell: Cell) -> Readouts:
        return self.evaluate_many(ctx, [cell])[0]

    def evaluate_many(self, ctx: CellContext, cells: Sequence[Cell]) -> List[Readouts]:
        """Readouts for several cells; a method that can share work between cells overrides this."""
        return [self.evaluate(ctx, c) for c in cells]

    def string_id(self) -> str:
        raise NotImplementedError


def group_key(cell: Cell, ctx: CellContext = Context) -> tuple:
    """Cells with equal keys stitch into the same receiver cut on the same data: they can train
    together (``ctx`` says which data a cell sees; the testbeds' :class:`Context` by default)."""
    return cell.receiver.key, cell.receiver_cut, ctx.data_key(cell)


def groups(cells: Sequence[Cell], size: int, ctx: CellContext = Context) -> List[List[int]]:
    """Indices of ``cells`` in groups of at most ``size`` with one :func:`group_key`, in first-seen order."""
    by_key: Dict[tuple, List[int]] = {}
    for n, cell in enumerate(cells):
        by_key.setdefault(group_key(cell, ctx), []).append(n)
    return [members[i:i + size] for members in by_key.values() for i in range(0, len(members), size)]


def each_group(ctx: CellContext, cells: Sequence[Cell],
               evaluate_group: Callable[[CellContext, List[Cell]], List[Readouts]]
               ) -> Iterator[Tuple[List[int], List[Readouts]]]:
    """``(indices into cells, their readouts)`` for each :func:`groups` group, as each finishes.

    Several groups are computed at once when the context allows it (``StitchConfig.concurrent_groups``,
    :mod:`~stitchtest.runtime.concurrency`, and ``ctx.thread_safe``); the caller consumes the
    results in its own thread. The audit (:meth:`~stitchtest.audit.core.Audit.cells`) and
    :func:`stitchtest.compare` both compute their cells through here.
    """
    chunks = groups(cells, ctx.stitch.group, ctx)
    # torch.compile's tracing is not thread-safe: compiled suffixes train one group at a time; nor
    # are models whose rest runs through hooks on the shared module (compare's replayed receivers)
    n = (1 if ctx.stitch.compile or not ctx.thread_safe
         else concurrency.workers(ctx.stitch.concurrent_groups, ctx.device, len(chunks)))
    for k, readouts in concurrency.completed(lambda members: evaluate_group(ctx, [cells[i] for i in members]), chunks, n):
        yield chunks[k], readouts


def by_group(ctx: CellContext, cells: Sequence[Cell],
             evaluate_group: Callable[[CellContext, List[Cell]], List[Readouts]]) -> List[Readouts]:
    """Readouts for ``cells`` in their order, computed group by group (:func:`each_group`)."""
    out: List[Readouts] = [{} for _ in cells]
    for members, readouts in each_group(ctx, cells, evaluate_group):
        for n, r in zip(members, readouts):
            out[n] = r
    return out


class StitchingMethod(Method):
    """Train a stitch with ``objective``; read out the stitched network on test images.

    Cells that share a receiver cut and data view (:func:`group_key`) are trained together in
    one pass (:func:`~stitchtest.stitching.fit_stitches`); each still gets its own readouts. A cell
    no stitch can make (shapes of different kinds, or a receiver that cannot be cut there: a
    skip connection around the layer) is a failed cell with the reason; the rest of its group trains.
    """

    kind = Kind.OBJECTIVE
    primary = "accuracy"

    def __init__(self, objective: Objective):
        self.objective = objective
        self.name = objective.name

    def string_id(self) -> str:
        return self.objective.string_id()

    def evaluate_many(self, ctx: CellContext, cells: Sequence[Cell]) -> List[Readouts]:
        return by_group(ctx, cells, self._evaluate_group)

    def _evaluate_group(self, ctx: CellContext, cells: Sequence[Cell]) -> List[Readouts]:
        start = time.perf_counter()
        first = cells[0]
        ds = ctx.data(first)
        receiver = ctx.model(first.receiver)
        _, t_train = ctx.pair(first, "train")
        target = t_train[first.receiver_cut]
        names = [(f"{c.sender.string_id()}@{c.sender_cut}", f"{c.receiver.string_id()}@{c.receiver_cut}")
                 for c in cells]
        senders = [ctx.pair(c, "train")[0] for c in cells]
        out: List[Readouts] = [{} for _ in cells]
        ok = []
        for n, (a, name) in enumerate(zip(senders, names)):
            try:
                form(a.shape[1:], target.shape[1:], bn=ctx.stitch.bn, names=name)
                ok.append(n)
            except IncompatibleCuts as err:  # shapes no stitch connects: this cell fails, the others train
                out[n] = {"failure": str(err)}
        train_mode = self.objective.batchnorm == "train"
        if train_mode and not hasattr(ctx, "network"):
            return [r or {"failure": f"{self.name} runs the networks' BatchNorm in train mode, which needs "
                                     "their unfolded modules: the testbeds' context has them, compare's not"}
                    for r in out]
        try:
            feed = self._train_mode_feed(ctx, [cells[n] for n in ok], receiver) if train_mode and ok else None
            fits = fit_stitches(self.objective, receiver, first.receiver_cut, [senders[n] for n in ok],
                                ds.y_train, t_train, ctx.stitch, [names[n] for n in ok], feed) if ok else []
            fit_seconds = (time.perf_counter() - start) / len(cells)  # shared: split evenly
            for s, (n, fit) in enumerate(zip(ok, fits)):
                out[n] = self._readouts(ctx, cells[n], fit, fit_seconds, feed.trained(s) if feed else None)
        except IncompatibleCuts as err:  # the receiver cannot be cut there (no rest of the network from it)
            for n in ok:
                out[n] = {"failure": str(err)}
        seconds = (time.perf_counter() - start) / len(cells)
        return [r if "seconds" in r else {**r, "seconds": seconds} for r in out]

    def _train_mode_feed(self, ctx: CellContext, cells: Sequence[Cell], receiver) -> TrainModeFeed:
        """Each step of a ``batchnorm="train"`` objective computed on the unfolded networks."""
        hints = self.objective.hint_cuts(receiver, cells[0].receiver_cut)
        needed = (*hints, "logits") if self.objective.needs_receiver_logits else hints
        return TrainModeFeed([(ctx.network(c.sender), c.sender_cut) for c in cells], ctx.network(cells[0].receiver),
                             ctx.data(cells[0]).x_train, needed)

    def _readouts(self, ctx: CellContext, cell: Cell, fit: FitResult, seconds: float,
                  trained: Optional[Tuple[nn.Module, nn.Module]] = None) -> Readouts:
        """``trained``: the stitch's own sender and receiver (eval mode, the BatchNorm statistics its
        training left) where its objective trains them in train mode; the reference stays the
        receiver as it was (the FuLA authors' ``model_reference``)."""
        start = time.perf_counter()
        if fit.failure:
            return {"failure": fit.failure, "seconds": seconds}
        ds = ctx.data(cell)
        a_test, t_test = ctx.pair(cell, "test")
        sender, receiver = ctx.model(cell.sender), ctx.model(cell.receiver)
        if trained:
            sender, receiver = trained
            a_test = activations(sender, cell.sender_cut, ds.x_test)
        y_cue = conflict_classes(ds.y_test, ds.num_classes) if cell.cue_conflict else None
        r = fit_readouts(fit, receiver, cell.receiver_cut, a_test, ds.y_test, t_test, y_cue)
        if cell.robust:
            net = StitchedNetwork(sender, cell.sender_cut, fit.stitch, receiver, cell.receiver_cut)
            eps = ctx.robust_eps if ctx.robust_eps is not None else cell.receiver.eps
            r["robust_accuracy"] = robust_accuracy(net, ds.x_test, ds.y_test, eps=eps, steps=ctx.robust_steps)
            r["receiver_robust_accuracy"] = ctx.robust_accuracy(cell.receiver, cell, eps)
            r["robust_gap"] = abs(r["robust_accuracy"] - r["receiver_robust_accuracy"])
        r["seconds"] = seconds + time.perf_counter() - start
        return r


class MeasureMethod(Method):
    """Score the two activation sets on the test images with a representational measure."""

    kind = Kind.MEASURE
    primary = "score"

    def __init__(self, measure: Measure):
        self.measure = measure
        self.name = measure.name

    def string_id(self) -> str:
        return self.measure.string_id()

    def evaluate(self, ctx: CellContext, cell: Cell) -> Readouts:
        """A score that raises or is not finite is this cell's failure, with its reason (as a
        non-finite stitch loss is): a NaN must never read as a similarity, nor a fault as a pass."""
        start = time.perf_counter()
        a, trace = ctx.pair(cell, "test")
        r = measure_readouts(self.measure, a, trace[cell.receiver_cut])
        r["seconds"] = time.perf_counter() - start
        return r


def measure_readouts(measure: Measure, a: torch.Tensor, b: torch.Tensor) -> Readouts:
    """``{"score": ...}``, or the cell's ``failure`` when the score raises or is not finite (as a
    non-finite stitch loss is): a NaN must never read as a similarity, nor a fault as a pass
    (:meth:`MeasureMethod.evaluate`, for the testbeds and :func:`stitchtest.compare` alike)."""
    try:
        score = float(measure.score(a.float(), b.float()))
    except (MemoryError, torch.OutOfMemoryError):
        raise  # the machine's fault, not the measure's: not recorded, so --resume retries it
    except Exception as e:  # a user's measure may raise anything; the cell records what
        return {"failure": f"{measure.string_id()} raised {type(e).__name__}: {e}"}
    if not math.isfinite(score):
        return {"failure": f"non-finite score ({score})"}
    return {"score": score}


def fit_readouts(fit: FitResult, receiver, cut: str, a_test: torch.Tensor, y_test: torch.Tensor,
                 t_test: Dict[str, torch.Tensor], y_cue: Optional[torch.Tensor] = None) -> Readouts:
    """A fitted stitch's readouts on held-out data (or its ``failure``), as
    :meth:`StitchingMethod._readouts` records them for the testbeds and :func:`stitchtest.compare`
    (``y_cue``: the cue's classes on cue-conflict test images, :func:`stitch_readouts`)."""
    if fit.failure:
        return {"failure": fit.failure}
    r: Readouts = stitch_readouts(fit.stitch, receiver, cut, a_test, y_test, t_test, y_cue)
    if fit.start is not None:
        r["start_mse"] = stitch_distance(fit.stitch, fit.start, a_test)
    if fit.least_squares is not None:
        r["ls_mse"] = stitch_distance(fit.stitch, fit.least_squares, a_test)
    r["steps"] = len(fit.losses)
    r.update(fit.diagnostics)
    if fit.losses:
        r["final_loss"] = fit.losses[-1]
    return r


def wrap(obj) -> Method:
    """A method from an objective or measure (class or instance), or from a plain function
    ``f(x, y) -> float``, which becomes a measure named after it claiming no invariances."""
    if isinstance(obj, type):
        obj = obj()
    if isinstance(obj, Method):
        return obj
    if isinstance(obj, Objective):
        return StitchingMethod(obj)
    if isinstance(obj, Measure):
        return MeasureMethod(obj)
    if callable(obj):
        return MeasureMethod(FunctionMeasure(obj))
    raise TypeError(f"{obj!r} is neither an Objective, a Measure, a Method nor a function f(x, y) -> float")


def get(name: str) -> Method:
    """A method by registered objective or measure name, or ``module:Name``."""
    if ":" in name:
        return wrap(import_path(name))
    if name in OBJECTIVES.names():
        return wrap(OBJECTIVES.get(name))
    if name in MEASURES.names():
        return wrap(MEASURES.get(name))
    known = ", ".join(names())
    raise RegistryError(f"unknown method {name!r}; known: {known}; or give 'module:Name'")


def names() -> List[str]:
    return list(OBJECTIVES.names()) + [n for n in MEASURES.names() if n not in OBJECTIVES.names()]


def default_names() -> List[str]:
    """The methods an audit runs when none are named: :func:`names` less those registered by name only."""
    return [n for n in names() if OBJECTIVES.by_default(n) and MEASURES.by_default(n)]
