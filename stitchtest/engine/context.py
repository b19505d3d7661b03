"""What methods share while a process computes cells: models, data views and frozen activations.

The expensive things happen once: a trained model (the zoo, then one inference copy with
BatchNorm folded in), and a model's activations at every cut on a data view (one forward pass,
kept in an in-memory LRU bounded in bytes). A method asks the context for them; it never trains
a model or recomputes a frozen prefix itself.

Cache size. A trace of a model on ``N`` images holds every cut, so it takes

    bytes = N * sum over cuts c of (C_c * H_c * W_c) * bytes_per_element

(:func:`trace_bytes`). A cell needs two traces (sender and receiver) on two splits. At the default
scale (digits, R1111 width 8) one trace is ~24 KB per image, 43 MB for the 1,797 images, and the
2 GiB default budget holds ~48 of them. At paper scale (CIFAR-10, ResNet-18 width 64) it is
1.2 MB per image in fp32, so ``cache_dtype=torch.float16`` halves it and ``cache_bytes`` caps how
many stay resident; ``benchmarks/pipeline.py --memory`` prints the table.

Identity. Every cache is keyed by what the activations come from: the model's ``spec.key``
(its spec, the recipe version and, for a registered family, its code's identity:
:func:`~stitchtest.models.family_id`, so a family re-registered under the same name gets its own
entries) and the data view (:class:`~stitchtest.data.view.DataView`, :meth:`Context.data_key`: data
id with its files' fingerprint, task, cue rate, kind and seed).

Threads. Several groups of cells may be computed at once (:mod:`~stitchtest.runtime.concurrency`), so
every cache here is read and filled under one lock; a trace being computed holds it.

The interface. :class:`CellContext` is what a method asks of its context, and all it may ask: the
testbeds' :class:`Context` (zoo models, data views) and :func:`stitchtest.compare`'s
:class:`~stitchtest.engine.own_models.OwnContext` (a researcher's own two models on their data)
both offer it, so one :class:`~stitchtest.engine.methods.Method` computes the cells of either.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any, Dict, Optional, Protocol, Sequence, Tuple, Union

import torch

from ..models.attacks import robust_accuracy
from .cells import Cell
from ..data.dataset import Dataset
from ..data.view import DataView
from ..models.core import CutModel, concat_batches, frozen_copy
from ..stitching.fit import StitchConfig
from ..models.zoo import ModelSpec, Zoo


#: where images come from: a data view, or a cell (whose view :meth:`Context.view` says)
Where = Union[Cell, DataView]


class CellContext(Protocol):
    """What :mod:`~stitchtest.engine.methods` (and :func:`~stitchtest.engine.methods.each_group`) use
    of a context; a new context (another executor, another kind of model) implements exactly this.

    A cell's ``sender`` and ``receiver`` are whatever the context's :meth:`model` takes (a
    ``ModelSpec`` here); a method reads only their ``string_id()`` (stitch names) and ``key``
    (grouping) itself, and ``eps`` for robust cells.
    """

    #: how stitches are trained, and how many groups run at once (``group``, ``concurrent_groups``, ``compile``)
    stitch: StitchConfig
    #: PGD budget of robust readouts (only cells with ``robust=True`` read these and :meth:`robust_accuracy`)
    robust_eps: Optional[float]
    robust_steps: int

    @property
    def device(self) -> torch.device:
        """Where the receivers run: how many groups fit at once (:func:`~stitchtest.runtime.concurrency.workers`)."""

    @property
    def thread_safe(self) -> bool:
        """Whether groups may be computed side by side in threads at all."""

    def data(self, where: Any) -> Dataset:
        """The cell's samples: ``x_train``, ``y_train``, ``x_test``, ``y_test`` (labels on :attr:`device`)."""

    def data_key(self, cell: Cell) -> tuple:
        """Equal for cells that see the same samples: with the receiver and its cut, a group's key."""

    def model(self, spec: Any) -> CutModel:
        """A frozen network with ``cuts``, ``spatial_cuts`` and ``trace`` (:class:`~stitchtest.models.CutModel`
        or :class:`~stitchtest.stitching.layers.LayerModel`): the receiver a stitch is fitted into."""

    def pair(self, cell: Cell, split: str) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """The sender's activations at its cut, and the receiver's activations at every cut and
        ``logits``, on ``split`` (``train`` or ``test``), on :attr:`device`."""

    def robust_accuracy(self, spec: Any, cell: Cell, eps: float) -> float:
        """The receiver's own robust accuracy on the cell's test samples (robust cells only)."""


def trace_bytes(model: CutModel, input_shape: Sequence[int], n_images: int,
                dtype: torch.dtype = torch.float32) -> int:
    """Bytes of ``model``'s activations at every cut for ``n_images`` inputs (the cache formula)."""
    per_image = sum(math.prod(shape) for cut, shape in model.cut_shapes(input_shape).items() if cut != "input")
    return n_images * per_image * torch.empty(0, dtype=dtype).element_size()


def _nbytes(trace: Dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in trace.values())


class Context:
    """The testbeds' :class:`CellContext`: zoo models by ``ModelSpec``, data by :class:`DataView`."""

    thread_safe = True  # its models are frozen copies without hooks: groups may run side by side

    def __init__(self, zoo: Zoo, stitch: StitchConfig = StitchConfig(), robust_eps: Optional[float] = None,
                 robust_steps: int = 10, cache_bytes: int = 2 * 2**30, cache_dtype: torch.dtype = torch.float32):
        self.zoo = zoo
        self.stitch = stitch
        self.robust_eps = robust_eps  # None: the receiver spec's eps
        self.robust_steps = robust_steps
        self.cache_bytes, self.cache_dtype = cache_bytes, cache_dtype
        self._traces: "OrderedDict[tuple, Dict[str, torch.Tensor]]" = OrderedDict()
        self._models: Dict[str, CutModel] = {}
        self._data: Dict[tuple, Dataset] = {}
        self._robust: Dict[tuple, float] = {}
        self._lock = threading.RLock()  # groups of cells may ask from several threads (concurrency.py)

    @property
    def device(self) -> torch.device:
        return self.zoo.device

    def model(self, spec: ModelSpec) -> CutModel:
        """The zoo model for ``spec`` as a frozen inference copy (BatchNorm folded, channels-last);
        the zoo's own model is never touched, so nothing a cell does can change it."""
        with self._lock:
            if spec.key not in self._models:
                self._models[spec.key] = frozen_copy(self.zoo.model(spec))
            return self._models[spec.key]

    def network(self, spec: ModelSpec) -> CutModel:
        """The zoo's own network for ``spec``, BatchNorm unfolded, for what must run it in train
        mode (``fula_bn``: stitching/batchnorm_train.py), which copies it first: never change it."""
        with self._lock:
            return self.zoo.model(spec)

    def cached_bytes(self) -> int:
        return sum(_nbytes(t) for t in self._traces.values())

    def data(self, where: Where) -> Dataset:
        """The images of a data view, or of a cell's (:meth:`view`: the receiver's data and task, with
        the cue at ``cell.cue_p`` on train and test images). A view asks for data directly, where a
        cell would have to be made up only to reach it."""
        view = self.view(where)
        key = view.key()
        with self._lock:
            if key not in self._data:
                self._data[key] = view.load(self.device)
            return self._data[key]

    @classmethod
    def view(cls, cell: Where) -> DataView:
        """The cell's images: the receiver's data and task, with the cue at ``cell.cue_p`` (of the
        shortcut model's kind, drawn by seed 1000) on train and test images, naming another class on
        the test images of a ``cue_conflict`` cell; a view is itself."""
        if isinstance(cell, DataView):
            return cell
        return DataView(cell.receiver.data, cell.receiver.task, cell.cue_p, cls.cue_kind(cell),
                        1000 if cell.cue_p else 0, cell.cue_conflict)

    @staticmethod
    def cue_kind(cell: Cell) -> str:
        """The cue a cell's data carries: the shortcut model's (the receiver's if it is one)."""
        return cell.receiver.cue_kind if cell.receiver.regime == "shortcut" else cell.sender.cue_kind

    @classmethod
    def data_key(cls, cell: Where) -> tuple:
        """What the cell's data view is made of: two cells with equal keys see the same images."""
        return cls.view(cell).key()

    def trace(self, spec: ModelSpec, cell: Where, split: str, batch_size: int = 500) -> Dict[str, torch.Tensor]:
        """``spec``'s activations at every cut on a data view or a cell's (``split`` = train or test)."""
        key = (spec.key, self.data_key(cell), split)
        with self._lock:
            if key in self._traces:
                self._traces.move_to_end(key)
                return self._traces[key]
            ds = self.data(cell)
            x = ds.x_train if split == "train" else ds.x_test
            model = self.model(spec)
            with torch.no_grad():
                trace = concat_batches(lambda b: {k: _stored(v, self.cache_dtype) for k, v in model.trace(b).items()},
                                       x, batch_size)
            self._traces[key] = trace
            while len(self._traces) > 1 and self.cached_bytes() > self.cache_bytes:
                self._traces.popitem(last=False)  # least recently used first; the newest always stays
            return trace

    def robust_accuracy(self, spec: ModelSpec, cell: Cell, eps: float) -> float:
        """``spec``'s own robust accuracy on the cell's test images (the baseline for ``robust_gap``)."""
        key = (spec.key, self.data_key(cell), eps, self.robust_steps)
        with self._lock:
            if key not in self._robust:
                ds = self.data(cell)
                self._robust[key] = robust_accuracy(self.model(spec), ds.x_test, ds.y_test, eps=eps,
                                                    steps=self.robust_steps)
            return self._robust[key]

    def pair(self, cell: Cell, split: str) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Sender activations at its cut, and the receiver's full trace, on ``split``."""
        return self.trace(cell.sender, cell, split)[cell.sender_cut], self.trace(cell.receiver, cell, split)



def _stored(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """An activation as cached: spatial ones channels-last and in ``dtype``; flat ones (pool, logits) in fp32."""
    t = t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t  # tokens (N, T, D) stay as they are
    return t.to(dtype) if t.dim() > 2 else t
