"""One call for a researcher's own question: how similar are layer i of my model and layer j of yours?

:func:`compare` takes any two ``nn.Module`` classifiers and layer names as in ``named_modules()``
(no rewriting of ``forward``; :mod:`~stitchtest.stitching.layers`), runs every method on every
(layer of A, layer of B) cell through the testbeds' own fast paths -- each model's activations
computed once, stitches into one layer of B trained together (:func:`~stitchtest.stitching.fit_stitches`),
the same readouts (:func:`~stitchtest.stitching.readouts.stitch_readouts`) and measures -- and returns a
tidy :class:`Comparison`: one row per cell and readout.

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
    ['accuracy', 'agreement', 'cut_mse']

Model A is the sender, B the receiver: a stitch maps A's layer into B's and is trained and read
out on B's task (the labels ``y``); measures compare the two layers' activations. Both models
are frozen while it runs (eval mode, no parameter gradients) and left as they were found.
"""
from __future__ import annotations

import csv
import os
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from .runtime import concurrency
from .engine import methods as methods_
from .stitching.layers import LayerModel, capture
from .models.core import eval_mode
from .stitching.readouts import stitch_readouts
from .stitching.stitch import IncompatibleCuts, Stitch
from .stitching.fit import StitchConfig, fit_stitches

Row = Dict[str, Any]
COLUMNS = ("method", "method_id", "layer_a", "layer_b", "readout", "value")


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


def _tensors(data) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` in memory from a pair of tensors / arrays, a ``Dataset`` or a ``DataLoader``."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return torch.as_tensor(data[0]).float(), torch.as_tensor(data[1]).long()
    loader = data if isinstance(data, torch.utils.data.DataLoader) else torch.utils.data.DataLoader(data, batch_size=256)
    xs, ys = [], []
    for batch in loader:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise TypeError("data must yield (inputs, labels) pairs")
        xs.append(torch.as_tensor(batch[0]))
        ys.append(torch.as_tensor(batch[1]))
    if not xs:
        raise ValueError("data is empty")
    return torch.cat(xs).float(), torch.cat(ys).long()


def _splits(data, test_data, test_fraction: float, seed: int):
    """Train and test ``(x, y)``: ``test_data``, or a seeded random ``test_fraction`` of ``data``.
    A stitchtest :class:`~stitchtest.data.Dataset` brings its own split."""
    if hasattr(data, "x_train") and test_data is None:
        return (data.x_train, data.y_train), (data.x_test, data.y_test)
    x, y = _tensors(data)
    if test_data is not None:
        return (x, y), _tensors(test_data)
    n_test = int(round(len(x) * test_fraction))
    if not 2 <= n_test <= len(x) - 2:
        raise ValueError(f"{len(x)} samples with test_fraction={test_fraction} leave no usable split; pass test_data")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@dataclass
class Comparison:
    """The tidy result of :func:`compare`: ``rows``, one per (method, layer of A, layer of B, readout).

    ``value`` is a float, except for the ``failure`` readout (why a cell has no other readouts).
    """

    rows: List[Row]
    layers_a: Tuple[str, ...]
    layers_b: Tuple[str, ...]
    primary: Dict[str, str] = field(default_factory=dict)  # method id -> its "the similarity" readout
    chance: Optional[float] = None  # 1 / the receiver's number of outputs: accuracy by guessing

    def _method_id(self, method: str) -> str:
        ids = sorted({r["method_id"] for r in self.rows if method in (r["method"], r["method_id"])})
        if len(ids) != 1:
            known = ", ".join(sorted({r["method_id"] for r in self.rows}))
            raise KeyError(f"{'no' if not ids else 'more than one'} method {method!r} in this comparison "
                           f"({', '.join(ids) or 'known: ' + known}); give its id")
        return ids[0]

    def matrix(self, method: str, readout: Optional[str] = None) -> np.ndarray:
        """Layers of A x layers of B -> ``readout`` (default: the method's primary one); NaN where a cell failed."""
        mid = self._method_id(method)
        readout = readout or self.primary[mid]
        out = np.full((len(self.layers_a), len(self.layers_b)), np.nan)
        for r in self.rows:
            if r["method_id"] == mid and r["readout"] == readout and isinstance(r["value"], float):
                out[self.layers_a.index(r["layer_a"]), self.layers_b.index(r["layer_b"])] = r["value"]
        return out

    def table(self, method: str, readout: Optional[str] = None) -> str:
        """:meth:`matrix` as a text table, rows labelled by A's layers and columns by B's."""
        from tabulate import tabulate

        values = self.matrix(method, readout)
        return tabulate([[a, *row] for a, row in zip(self.layers_a, values)],
                        headers=["A \\ B", *self.layers_b], floatfmt=".3f")

    def heatmap(self, path: Union[str, os.PathLike], method: str, readout: Optional[str] = None) -> None:
        """:meth:`matrix` as an annotated PNG heatmap (rows = A's layers, columns = B's)."""
        from .audit.report import heatmap

        mid = self._method_id(method)
        readout = readout or self.primary[mid]
        heatmap(list(self.layers_a), list(self.layers_b), self.matrix(mid, readout), f"{mid}: {readout}", path,
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


def _method(m) -> methods_.Method:
    method = methods_.get(m) if isinstance(m, str) else methods_.wrap(m)
    if not isinstance(method, (methods_.StitchingMethod, methods_.MeasureMethod)):
        raise TypeError(f"compare runs objectives and measures; {method!r} is neither")
    return method


def compare(model_a: nn.Module, model_b: nn.Module, data, *, layers_a: Sequence[str], layers_b: Sequence[str],
            methods: Sequence[Any] = ("dm", "linear_cka"), test_data=None, test_fraction: float = 0.25,
            stitch: StitchConfig = StitchConfig(), batch_size: int = 256, seed: int = 0) -> Comparison:
    """Every method on every (``layers_a[i]`` of ``model_a``, ``layers_b[j]`` of ``model_b``) cell.

    ``data``: ``(x, y)`` tensors or arrays, a ``torch.utils.data.Dataset`` or ``DataLoader`` of
    ``(x, y)`` pairs, or a stitchtest ``Dataset``. Stitches are trained on it and every readout is
    on held-out images: ``test_data`` if given, else a seeded random ``test_fraction`` of ``data``.
    ``methods``: names (``"tlm"``, ``"linear_cka"``, ``"module:Name"``) or objective / measure
    objects (a plain function ``f(x, y) -> float`` is a measure). ``stitch`` configures training
    as in the testbeds. Each model runs on the device its parameters are on.
    """
    chosen = [_method(m) for m in methods]
    (x_train, y_train), (x_test, y_test) = _splits(data, test_data, test_fraction, seed)
    device_b = _device(model_b)
    y_train, y_test = y_train.to(device_b), y_test.to(device_b)
    with ExitStack() as stack:
        for model in dict.fromkeys([model_a, model_b]):  # the same model twice is frozen once
            stack.enter_context(frozen(model))
        a = LayerModel(model_a, layers_a, x_train[:1].to(_device(model_a)))
        b = LayerModel(model_b, layers_b, x_train[:1].to(device_b))
        (a_train, b_train), (a_test, b_test) = (capture([a, b], x, batch_size) for x in (x_train, x_test))
        a_train, a_test = ({k: v.to(device_b) for k, v in t.items()} for t in (a_train, a_test))
        rows: List[Row] = []
        primary: Dict[str, str] = {}
        for method in chosen:
            mid = method.string_id()
            primary[mid] = method.primary

            def add(i: str, j: str, readouts: Dict[str, Any]) -> None:
                rows.extend(dict(method=method.name, method_id=mid, layer_a=i, layer_b=j, readout=k,
                                 value=v if isinstance(v, str) else float(v)) for k, v in readouts.items())

            if isinstance(method, methods_.MeasureMethod):
                for i in layers_a:
                    for j in layers_b:
                        add(i, j, {"score": method.measure.score(a_test[i].float(), b_test[j].float())})
                continue
            cells = _stitch_cells(method.objective, b, layers_a, layers_b, a_train, a_test, b_train, b_test,
                                  y_train, y_test, stitch)
            for i in layers_a:
                for j in layers_b:
                    add(i, j, cells[i, j])
    return Comparison(rows, tuple(layers_a), tuple(layers_b), primary, 1.0 / b_test["logits"].shape[1])


def _stitch_cells(objective, b: LayerModel, layers_a: Sequence[str], layers_b: Sequence[str], a_train, a_test,
                  b_train, b_test, y_train, y_test, config: StitchConfig) -> Dict[Tuple[str, str], Dict[str, Any]]:
    """Readouts of every (layer of A, layer of B) cell: the stitches into one layer of B train
    together, ``config.group`` at a time, and groups run side by side where the device has
    threads for them (:mod:`~stitchtest.runtime.concurrency`, as in the testbeds)."""
    out: Dict[Tuple[str, str], Dict[str, Any]] = {}
    groups: List[Tuple[str, List[str]]] = []
    for j in layers_b:
        try:
            b.rest(j)  # every rest-of-network is traced here, before any thread starts
        except IncompatibleCuts as err:  # B cannot be cut at j (untraceable, or a skip around it)
            warnings.warn(str(err), RuntimeWarning, stacklevel=3)
            out.update({(i, j): {"failure": str(err)} for i in layers_a})
            continue
        senders = []
        for i in layers_a:
            try:
                Stitch(a_train[i].shape[1:], b_train[j].shape[1:], names=(f"A@{i}", f"B@{j}"))
                senders.append(i)
            except IncompatibleCuts as err:
                out[i, j] = {"failure": str(err)}
        groups += [(j, senders[k:k + config.group]) for k in range(0, len(senders), config.group)]

    def run(group: Tuple[str, List[str]]) -> List[Dict[str, Any]]:
        j, senders = group
        fits = fit_stitches(objective, b, j, [a_train[i] for i in senders], y_train, b_train, config,
                            [(f"A@{i}", f"B@{j}") for i in senders])
        readouts = []
        for i, fit in zip(senders, fits):
            if fit.failure:
                readouts.append({"failure": fit.failure})
                continue
            r: Dict[str, Any] = stitch_readouts(fit.stitch, b, j, a_test[i], y_test, b_test)
            r["steps"] = len(fit.losses)
            if fit.losses:
                r["final_loss"] = fit.losses[-1]
            readouts.append(r)
        return readouts

    device = y_train.device
    n = 1 if config.compile else concurrency.workers(config.concurrent_groups, device, len(groups))
    for k, readouts in concurrency.completed(run, groups, n):
        j, senders = groups[k]
        out.update({(i, j): r for i, r in zip(senders, readouts)})
    return out
