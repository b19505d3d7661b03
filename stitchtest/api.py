"""One call for a researcher's own question: how similar are layer i of my model and layer j of yours?

:func:`compare` takes any two ``nn.Module`` classifiers and layer names as in ``named_modules()``
(no rewriting of ``forward``; :mod:`~stitchtest.stitching.layers`), builds a cell for every
(layer of A, layer of B) and computes it with the testbeds' own engine: the same
:meth:`~stitchtest.engine.methods.Method.evaluate_many` over the same groups
(:func:`~stitchtest.engine.methods.each_group`), on a context of the user's two models
(:class:`~stitchtest.engine.own_models.OwnContext`) -- each model's activations computed once,
stitches into one layer of B trained together, the same readouts and the same handling of NaN
and errors. It returns a tidy :class:`Comparison`: one row per cell and readout. What stays
here: checking the inputs, wrapping the models, and the result.

Example (two small CNNs of one's own, compared by closed-form direct matching and linear CKA)::

    >>> import torch
    >>> from torch import nn
    >>> import stitchtest
    >>> def cnn():
    ...     return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
    ...                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    >>> _ = torch.manual_seed(0)
    >>> x, y = torch.randn(200, 1, 8, 8), torch.randint(0, 10, (200,))
    >>> result = stitchtest.compare(cnn(), cnn(), (x, y), layers_a=["1", "3"], layers_b=["1", "3"],
    ...                             methods=["dm", "linear_cka"])
    >>> result.matrix("linear_cka").shape
    (2, 2)
    >>> sorted({r["readout"] for r in result.rows if r["method"] == "dm"})[:3]
    ['accuracy', 'agreement', 'agreement_prob']

Models as researchers have them work unchanged: inputs may be a dict of tensors (``model(**x)``,
e.g. a Hugging Face batch with ``input_ids`` and ``attention_mask``; its ``labels`` are the
labels), integer inputs are passed through untouched, and an output object or dict gives its
``logits`` (or the part named by ``output=``). Bad inputs are refused before any work, naming the
argument; a cell that fails is NaN with a warning and its reason (:meth:`Comparison.table`).

Model A is the sender, B the receiver: a stitch maps A's layer into B's and is trained and read
out on B's task (the labels ``y``); measures compare the two layers' activations. Both models
are frozen while it runs (eval mode, no parameter gradients) and left as they were found.
"""
from __future__ import annotations

import csv
import difflib
import logging
import os
import sys
import time
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from .engine import methods as methods_
from .engine.own_models import B, OwnContext
from .records.rows import CellRow
from .stitching.layers import Inputs, LayerModel, n_samples, take, to_device
from .models.core import eval_mode
from .stitching.fit import StitchConfig

log = logging.getLogger(__name__)
Row = Dict[str, Any]
COLUMNS = ("method", "method_id", "layer_a", "layer_b", "readout", "value")
#: readouts that are accuracies on the receiver's task: shown beside the receiver's own accuracy
ACCURACIES = ("accuracy", "robust_accuracy", "receiver_accuracy")
#: keys of a dict batch that hold the labels (the rest are the model's keyword inputs)
LABEL_KEYS = ("labels", "label")
_IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
_SHUFFLING = (torch.utils.data.RandomSampler, torch.utils.data.SubsetRandomSampler,
              torch.utils.data.WeightedRandomSampler)


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode with no parameter gradients; every module's mode and every
    parameter's ``requires_grad`` restored afterwards (its ``.grad`` is never touched)."""
    params = [(p, p.requires_grad) for p in model.parameters()]
    with eval_mode(model):
        for p, _ in params:
            p.requires_grad_(False)
        try:
            yield model
        finally:
            for p, wanted in params:
                p.requires_grad_(wanted)


# ---------------------------------------------------------------- inputs, checked before any work

def _as_inputs(x) -> Inputs:
    """A tensor or a dict of tensors; floating point as float32, integers (token ids, masks) untouched."""
    if isinstance(x, Mapping):
        return {k: _as_inputs(v) for k, v in x.items()}
    x = torch.as_tensor(x)
    return x.float() if x.is_floating_point() else x


def _pair(batch, where: str):
    """``(inputs, labels)`` of one batch: a pair, or a dict whose ``labels`` key holds the labels."""
    if isinstance(batch, Mapping):
        key = next((k for k in LABEL_KEYS if k in batch), None)
        if key is None:
            raise ValueError(f"{where}: a dict batch needs its labels under 'labels' (or 'label'); "
                             f"it has {', '.join(map(repr, batch))}")
        return {k: v for k, v in batch.items() if k != key}, batch[key]
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(f"{where}: expected (inputs, labels) pairs or dicts with 'labels', got {type(batch).__name__}"
                    + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))


def _tensors(data, where: str = "data") -> Tuple[Inputs, torch.Tensor]:
    """``(x, y)`` in memory from a pair, a dict with ``labels``, a ``Dataset`` or a ``DataLoader``."""
    if isinstance(data, Mapping) or (isinstance(data, (tuple, list)) and len(data) == 2):
        x, y = _pair(data, where)
        return _as_inputs(x), torch.as_tensor(y)
    if isinstance(data, torch.utils.data.DataLoader):
        if isinstance(data.sampler, _SHUFFLING):
            raise ValueError(f"{where}: this DataLoader shuffles ({type(data.sampler).__name__}), so every call "
                             "would see another order and another result despite seed=; pass shuffle=False "
                             "(compare draws its own seeded train/test split)")
        loader = data
    else:
        loader = torch.utils.data.DataLoader(data, batch_size=256)
    xs, ys = [], []
    for batch in loader:
        x, y = _pair(batch, where)
        xs.append(_as_inputs(x))
        ys.append(torch.as_tensor(y))
    if not xs:
        raise ValueError(f"{where} is empty")
    x = {k: torch.cat([b[k] for b in xs]) for k in xs[0]} if isinstance(xs[0], Mapping) else torch.cat(xs)
    return x, torch.cat(ys)


def _checked(x: Inputs, y: torch.Tensor, where: str) -> Tuple[Inputs, torch.Tensor]:
    """``(x, y)`` refused with one clear error naming ``where`` if the labels or inputs are unusable."""
    y = torch.as_tensor(y)
    if y.dim() == 2 and y.shape[1] > 1:
        raise ValueError(f"{where}: labels must be class indices of shape (N,), got shape {tuple(y.shape)} "
                         "(one-hot? pass y.argmax(1))")
    if y.dim() != 1:
        raise ValueError(f"{where}: labels must be class indices of shape (N,), got shape {tuple(y.shape)}")
    if y.is_floating_point() and not torch.equal(y, y.round()):
        raise ValueError(f"{where}: labels must be integer class indices, got non-integer {y.dtype} values")
    lengths = {k: len(v) for k, v in x.items()} if isinstance(x, Mapping) else {"x": len(x)}
    for name, n in lengths.items():
        if n != len(y):
            raise ValueError(f"{where}: inputs {name!r} have {n} samples but the labels have {len(y)}; "
                             "they must be the same samples")
    for name, v in (x.items() if isinstance(x, Mapping) else [("x", x)]):
        if v.is_floating_point():
            bad = ~torch.isfinite(v).flatten(1).all(1) if v.dim() > 1 else ~torch.isfinite(v)
            if bad.any():
                raise ValueError(f"{where}: inputs {name!r} hold NaN or inf in {int(bad.sum())} samples "
                                 f"(first: sample {int(bad.nonzero()[0])}); clean or drop them")
    return x, y.long()


def _splits(data, test_data, test_fraction: float, seed: int):
    """Train and test ``(x, y)``, checked: ``test_data``, or a seeded random ``test_fraction`` of ``data``.
    A stitchtest :class:`~stitchtest.data.Dataset` brings its own split."""
    if hasattr(data, "x_train") and test_data is None:
        return _checked(data.x_train, data.y_train, "data"), _checked(data.x_test, data.y_test, "data (test split)")
    x, y = _checked(*_tensors(data), "data")
    if test_data is not None:
        return (x, y), _checked(*_tensors(test_data, "test_data"), "test_data")
    n_test = int(round(len(y) * test_fraction))
    if not 2 <= n_test <= len(y) - 2:
        raise ValueError(f"{len(y)} samples with test_fraction={test_fraction} leave no usable split; pass test_data")
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    test, train = order[:n_test], order[n_test:]
    return (take(x, train), y[train]), (take(x, test), y[test])


def _check_range(y: torch.Tensor, outputs: int, where: str) -> None:
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= outputs):
        raise ValueError(f"{where}: labels range over {int(y.min())}..{int(y.max())} but model_b (the receiver, "
                         f"whose task the stitches are read out on) outputs {outputs} class scores: labels must "
                         f"be in 0..{outputs - 1}")


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _names(model_a: nn.Module, model_b: nn.Module, names: Optional[Sequence[str]]) -> Tuple[str, str]:
    if names is not None:
        if len(names) != 2:
            raise ValueError(f"names: expected two names (model A's, model B's), got {names!r}")
        return str(names[0]), str(names[1])
    a, b = type(model_a).__name__, type(model_b).__name__
    return (a, b) if a != b or model_a is model_b else (f"{a} (A)", f"{b} (B)")


# ---------------------------------------------------------------- the result

@dataclass(repr=False)
class Comparison:
    """The result of :func:`compare`: one typed :class:`~stitchtest.records.rows.CellRow` per
    (method, layer of A, layer of B) in ``records`` -- the record the testbeds write -- and
    ``rows``, their tidy projection: one dict per cell and readout (:data:`COLUMNS`), ``value`` a
    float except for the ``failure`` readout (why a cell has no other readouts).
    """

    records: List[CellRow]
    layers_a: Tuple[str, ...]
    layers_b: Tuple[str, ...]
    primary: Dict[str, str] = field(default_factory=dict)  # method id -> its "the similarity" readout
    chance: Optional[float] = None  # 1 / the receiver's number of outputs: accuracy by guessing
    receiver_accuracy: Optional[float] = None  # model B alone on the test data: what stitched accuracy is read against
    names: Tuple[str, str] = ("A", "B")

    @property
    def rows(self) -> List[Row]:
        return [dict(method=r.method, method_id=r.method_id, layer_a=r.sender_cut, layer_b=r.receiver_cut,
                     readout=k, value=v if isinstance(v, str) else float(v))
                for r in self.records for k, v in r.readouts.items()]

    def __repr__(self) -> str:
        nan = sum("failure" in r.readouts for r in self.records)
        return (f"Comparison({self.names[0]} -> {self.names[1]}: {len(self.layers_a)} x {len(self.layers_b)} layers, "
                f"methods {', '.join(self.primary)}; {len(self.records)} cells, {nan} NaN)")

    def _method_id(self, method: str) -> str:
        ids = sorted({r.method_id for r in self.records if method in (r.method, r.method_id)})
        if len(ids) != 1:
            known = ", ".join(sorted({r.method_id for r in self.records}))
            raise KeyError(f"{'no' if not ids else 'more than one'} method {method!r} in this comparison "
                           f"({', '.join(ids) or 'known: ' + known}); give its id")
        return ids[0]

    def _readout(self, mid: str, readout: Optional[str]) -> str:
        """``readout`` (default: the method's primary one), refused with near names if no cell has it."""
        readout = readout or self.primary[mid]
        known = sorted({k for r in self.records if r.method_id == mid for k in r.readouts} - {"failure"})
        if readout not in known and readout != self.primary[mid]:
            near = difflib.get_close_matches(readout, known, n=3)
            raise KeyError(f"readout: {mid} has no readout {readout!r}"
                           + (f"; did you mean {', '.join(near)}?" if near else "") + f" (known: {', '.join(known)})")
        return readout

    def matrix(self, method: str, readout: Optional[str] = None) -> np.ndarray:
        """Layers of A x layers of B -> ``readout`` (default: the method's primary one); NaN where a cell failed."""
        mid = self._method_id(method)
        readout = self._readout(mid, readout)
        out = np.full((len(self.layers_a), len(self.layers_b)), np.nan)
        for r in self.records:
            value = r.readouts.get(readout)
            if r.method_id == mid and isinstance(value, (int, float)):
                out[self.layers_a.index(r.sender_cut), self.layers_b.index(r.receiver_cut)] = value
        return out

    def failures(self, method: str) -> Dict[Tuple[str, str], str]:
        """``(layer of A, layer of B) -> why`` for each failed cell of ``method``."""
        mid = self._method_id(method)
        return {(r.sender_cut, r.receiver_cut): str(r.readouts["failure"])
                for r in self.records if r.method_id == mid and "failure" in r.readouts}

    def _baseline(self, readout: str) -> Optional[str]:
        """The line that stands beside an accuracy: model B alone, and chance."""
        if readout.split("@")[0] not in ACCURACIES or self.receiver_accuracy is None:
            return None
        return (f"receiver alone ({self.names[1]}): {self.receiver_accuracy:.3f}"
                + (f"; chance {self.chance:.3f}" if self.chance is not None else ""))

    def table(self, method: str, readout: Optional[str] = None) -> str:
        """:meth:`matrix` as a text table, rows labelled by A's layers and columns by B's; a failed
        cell reads ``n/a [k]`` with its reason below, and an accuracy has the receiver's own beside it."""
        from tabulate import tabulate

        mid = self._method_id(method)
        readout = self._readout(mid, readout)
        values = self.matrix(mid, readout)
        reasons: List[str] = []
        failures = self.failures(mid)
        cells = []
        for i, a in enumerate(self.layers_a):
            line: List[Any] = [a]
            for j, b in enumerate(self.layers_b):
                if (a, b) in failures:
                    if failures[a, b] not in reasons:
                        reasons.append(failures[a, b])
                    line.append(f"n/a [{reasons.index(failures[a, b]) + 1}]")
                else:
                    line.append(values[i, j])
            cells.append(line)
        text = tabulate(cells, headers=["A \\ B", *self.layers_b], floatfmt=".3f")
        text = f"{mid}: {readout}; rows: A = {self.names[0]}, columns: B = {self.names[1]}\n" + text
        baseline = self._baseline(readout)
        if baseline:
            text += "\n" + baseline
        return text + "".join(f"\n[{k}] {why}" for k, why in enumerate(reasons, 1))

    def heatmap(self, method: str, readout: Optional[str] = None, *, path: Union[str, os.PathLike, None] = None):
        """:meth:`matrix` as an annotated heatmap (rows = A's layers, columns = B's), titled with
        the models' names and, for an accuracy, the receiver's own; returns ``(fig, ax)`` and saves
        to ``path`` when given. The older form ``heatmap(path, method, readout)`` still works."""
        from .audit.report import heatmap

        if isinstance(method, os.PathLike) or (isinstance(method, str) and os.path.splitext(method)[1].lower() in _IMAGE_SUFFIXES):
            method, readout, path = readout, None, method  # heatmap(path, method[, readout])
        if isinstance(readout, (os.PathLike,)):
            raise TypeError("heatmap(method, readout, path=...): give the path by keyword")
        mid = self._method_id(method)
        readout = self._readout(mid, readout)
        title = f"{self.names[0]} -> {self.names[1]}: {mid}, {readout}"
        baseline = self._baseline(readout)
        if baseline:
            title += "\n" + baseline
        return heatmap(list(self.layers_a), list(self.layers_b), self.matrix(mid, readout), title, path,
                       readout, self.chance)

    def to_csv(self, path: Union[str, os.PathLike]) -> None:
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)

    def to_pandas(self):
        """The rows as a ``pandas.DataFrame`` (pandas is not a dependency: install it for this)."""
        try:
            import pandas
        except ImportError as err:
            raise ImportError("Comparison.to_pandas needs pandas (pip install pandas); "
                              "Comparison.to_csv and .rows need nothing") from err
        return pandas.DataFrame(self.rows, columns=list(COLUMNS))


# ---------------------------------------------------------------- feedback

class _Progress:
    """One line per finished piece of work on stderr when it is a terminal (or ``progress=True``);
    the same at DEBUG on the ``stitchtest.api`` logger."""

    def __init__(self, total: int, show: Optional[bool]):
        self.total, self.done, self.start = total, 0, time.perf_counter()
        self.show = sys.stderr.isatty() if show is None else show

    def __call__(self, cells: int, what: str) -> None:
        self.done += cells
        line = f"stitchtest.compare: {self.done}/{self.total} cells ({what}, {time.perf_counter() - self.start:.0f} s)"
        log.debug(line)
        if self.show:
            print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the comparison

def _method(m) -> methods_.Method:
    method = methods_.get(m) if isinstance(m, str) else methods_.wrap(m)
    if not isinstance(method, (methods_.StitchingMethod, methods_.MeasureMethod)):
        raise TypeError(f"methods: compare runs objectives and measures; {method!r} is neither")
    return method


def compare(model_a: nn.Module, model_b: nn.Module, data, *, layers_a: Sequence[str], layers_b: Sequence[str],
            methods: Sequence[Any] = ("dm", "linear_cka"), test_data=None, test_fraction: float = 0.25,
            stitch: StitchConfig = StitchConfig(), batch_size: int = 256, seed: int = 0,
            output: Optional[str] = None, names: Optional[Sequence[str]] = None,
            progress: Optional[bool] = None) -> Comparison:
    """Every method on every (``layers_a[i]`` of ``model_a``, ``layers_b[j]`` of ``model_b``) cell.

    ``data``: ``(x, y)`` tensors or arrays (``x`` may be a dict of tensors, passed as
    ``model(**x)``), a dict batch with ``labels``, a ``torch.utils.data.Dataset`` or
    non-shuffling ``DataLoader`` of such pairs or dicts, or a stitchtest ``Dataset``. Stitches are
    trained on it and every readout is on held-out samples: ``test_data`` if given, else a seeded
    random ``test_fraction`` of ``data``. ``methods``: names (``"tlm"``, ``"linear_cka"``,
    ``"module:Name"``) or objective / measure objects (a plain function ``f(x, y) -> float`` is a
    measure). ``stitch`` configures training as in the testbeds. ``output``: which attribute or key
    of the models' outputs holds the class scores (default: the output itself, or its ``logits``).
    ``names``: the two models' names for titles (default: their class names). ``progress``: a line
    per finished group on stderr (default: when stderr is a terminal). Each model runs on the
    device its parameters are on.

    Cells are computed by the testbeds' own engine (``method.evaluate_many`` group by group,
    :func:`~stitchtest.engine.methods.each_group`): a score that raises or is not finite, a
    stitch that diverges, or cuts no stitch connects is a failed cell with its reason, warned
    about at once.
    """
    chosen = [_method(m) for m in methods]
    for arg, layers in (("layers_a", layers_a), ("layers_b", layers_b)):
        if isinstance(layers, str) or not len(layers):
            raise ValueError(f"{arg}: expected a non-empty list of layer names, got {layers!r}")
    (x_train, y_train), (x_test, y_test) = _splits(data, test_data, test_fraction, seed)
    name_a, name_b = _names(model_a, model_b, names)
    t0 = time.perf_counter()
    with ExitStack() as stack:
        for model in dict.fromkeys([model_a, model_b]):  # the same model twice is frozen once
            stack.enter_context(frozen(model))
        a = LayerModel(model_a, layers_a, to_device(take(x_train, slice(0, 8)), _device(model_a)), output)
        b = LayerModel(model_b, layers_b, to_device(take(x_train, slice(0, 8)), _device(model_b)), output)
        _check_range(y_train, b.outputs, "data")
        _check_range(y_test, b.outputs, "test_data" if test_data is not None else "data (test split)")
        log.info("comparing %s (%d layers) with %s (%d layers) by %s on %d training and %d test samples",
                 name_a, len(layers_a), name_b, len(layers_b), ", ".join(m.string_id() for m in chosen),
                 n_samples(x_train), n_samples(x_test))
        ctx = OwnContext(a, b, (x_train, y_train), (x_test, y_test), stitch, batch_size,
                         stitches=any(isinstance(m, methods_.StitchingMethod) for m in chosen))
        cells = ctx.cells(layers_a, layers_b)
        tick = _Progress(len(chosen) * len(cells), progress)
        records: List[CellRow] = []
        primary: Dict[str, str] = {}
        for method in chosen:
            mid = method.string_id()
            primary[mid] = method.primary
            readouts: Dict[Tuple[str, str], Dict[str, Any]] = {}
            # the audit's own loop (Audit.cells): the method's groups, side by side where threads allow
            for members, computed in methods_.each_group(ctx, cells, method.evaluate_many):
                for n, r in zip(members, computed):
                    # time is not a result: the same seed gives the same readouts
                    readouts[cells[n].sender_cut, cells[n].receiver_cut] = {k: v for k, v in r.items() if k != "seconds"}
                tick(len(members), f"{mid} into B@{cells[members[0]].receiver_cut}")
            new = [CellRow(key=f"compare|{mid}|{name_a}@{i}|{name_b}@{j}", testbed="compare", method=method.name,
                           pair=f"{name_a}->{name_b}", seed=seed, sender_cut=i, receiver_cut=j, readouts=readouts[i, j],
                           method_id=mid, sender=name_a, receiver=name_b, sender_depth=a.depth(i),
                           receiver_depth=b.depth(j))
                   for i in layers_a for j in layers_b]
            _warn_failures(mid, new)
            records += new
    logits = ctx.trace(B, "test")["logits"]
    accuracy = float((logits.argmax(-1) == ctx.data().y_test).float().mean())
    log.info("compared in %.1f s; %s alone: accuracy %.3f", time.perf_counter() - t0, name_b, accuracy)
    return Comparison(records, tuple(layers_a), tuple(layers_b), primary, 1.0 / logits.shape[-1], accuracy,
                      (name_a, name_b))


def _warn_failures(mid: str, records: Sequence[CellRow]) -> None:
    """One warning per reason, naming the cells it made NaN: a NaN never passes in silence."""
    by_reason: Dict[str, List[str]] = {}
    for r in records:
        if "failure" in r.readouts:
            by_reason.setdefault(str(r.readouts["failure"]), []).append(
                f"{r.sender}@{r.sender_cut} -> {r.receiver}@{r.receiver_cut}")
    for why, cells in by_reason.items():
        warnings.warn(f"{mid}: {len(cells)} cell(s) NaN ({'; '.join(cells)}): {why}", RuntimeWarning, stacklevel=3)
