"""Networks with named cut points.

Stitching needs three things from a network: the activations at a cut (the sender's side), the
rest of the network from a cut (the receiver's side), and the activations at several cuts in one
pass (targets for direct matching and FuLA). So every model here is a flat, ordered sequence of
named *stages*; a cut is the output of a stage, and prefix / suffix / activations are slices of
that sequence. Cut ``"input"`` is the image itself.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import re
from copy import deepcopy
from pathlib import Path
from contextlib import contextmanager
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..runtime.registry import Registry, RegistryError

INPUT = "input"


class CutModel(nn.Module):
    """A classifier as an ordered sequence of named stages whose outputs are the cut points."""

    def __init__(self, stages: Sequence[Tuple[str, nn.Module]]):
        super().__init__()
        self._cuts = tuple(name for name, _ in stages)
        self.stages = nn.ModuleList(module for _, module in stages)

    @property
    def cuts(self) -> Tuple[str, ...]:
        """Every cut in forward order (not counting ``"input"``)."""
        return self._cuts

    @property
    def spatial_cuts(self) -> Tuple[str, ...]:
        """The cuts that carry feature maps (stem and blocks): the usual stitching points."""
        return tuple(n for n in self.cuts if n not in ("pool", "logits"))

    def index(self, cut: str) -> int:
        """Position of ``cut``: -1 for ``"input"``, 0 for the first stage, ..."""
        if cut == INPUT:
            return -1
        try:
            return self.cuts.index(cut)
        except ValueError:
            raise KeyError(f"{type(self).__name__} has no cut {cut!r}; cuts: {', '.join(self.cuts)}") from None

    def depth(self, cut: str) -> float:
        """Proportional depth in [0, 1] among the spatial cuts: compares cuts across depths."""
        cuts = self.spatial_cuts
        return cuts.index(cut) / max(1, len(cuts) - 1)

    def run(self, h: torch.Tensor, start: str = INPUT, stop: str | None = None) -> torch.Tensor:
        """Apply the stages after ``start`` up to and including ``stop`` (default: to the logits)."""
        lo = self.index(start) + 1
        hi = len(self.cuts) if stop is None else self.index(stop) + 1
        for module in self.stages[lo:hi]:
            h = module(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)

    def prefix(self, x: torch.Tensor, cut: str) -> torch.Tensor:
        """Activations at ``cut`` for input ``x``."""
        return self.run(x, INPUT, cut)

    def suffix(self, h: torch.Tensor, cut: str) -> torch.Tensor:
        """Logits from activations ``h`` at ``cut``."""
        return self.run(h, cut, None)

    def activations(self, x: torch.Tensor, cuts: Iterable[str]) -> Dict[str, torch.Tensor]:
        """Activations at several cuts in one forward pass, stopping at the deepest one asked for."""
        wanted = set(cuts)
        out: Dict[str, torch.Tensor] = {INPUT: x} if INPUT in wanted else {}
        last = max((self.index(c) for c in wanted), default=-1)
        h = x
        for i, (name, module) in enumerate(zip(self.cuts, self.stages)):
            if i > last:
                break
            h = module(h)
            if name in wanted:
                out[name] = h
        return out

    def trace(self, h: torch.Tensor, start: str = INPUT) -> Dict[str, torch.Tensor]:
        """Activations at every cut after ``start`` (through ``logits``) for activations ``h`` at ``start``."""
        out: Dict[str, torch.Tensor] = {}
        lo = self.index(start) + 1
        for name, module in zip(self.cuts[lo:], self.stages[lo:]):
            h = out[name] = module(h)
        return out

    @torch.no_grad()
    def cut_shapes(self, input_shape: Sequence[int]) -> Dict[str, Tuple[int, ...]]:
        """Per-sample shape at every cut, for an input of per-sample shape ``input_shape``."""
        p = next(self.parameters())
        with eval_mode(self):
            acts = self.activations(torch.zeros(1, *input_shape, device=p.device, dtype=p.dtype), self.cuts)
        return {INPUT: tuple(input_shape), **{k: tuple(v.shape[1:]) for k, v in acts.items()}}


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Evaluate ``module`` with every submodule in eval mode, then restore *each* one's mode.

    Restoring only ``module.training`` is wrong for a wrapper (e.g. a freshly built
    ``StitchedNetwork``, in training mode by default) around frozen zoo models: it would switch
    them to training mode, and their next forward pass would overwrite BatchNorm statistics.
    """
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm that directly follows a convolution in a ``Sequential`` into it.

    A frozen network's BatchNorm is a fixed per-channel affine map, so ``conv -> bn`` equals one
    convolution with rescaled weights and a bias. Stitch training pushes thousands of batches
    through the frozen receiver suffix, forward and backward; one layer instead of two is
    measurably cheaper on CPU (``benchmarks/pipeline.py``). Works in place on ``module`` (pass a
    copy: the result is only valid while the statistics stay frozen) and returns it.
    """
    for child in module.modules():
        if not isinstance(child, nn.Sequential):
            continue
        layers = list(child)
        for k in range(len(layers) - 1):
            conv, bn = layers[k], layers[k + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and not bn.training:
                child[k] = fuse_conv_bn_eval(conv, bn)
                child[k + 1] = nn.Identity()
    return module


def frozen_copy(model: "CutModel") -> "CutModel":
    """An inference-only copy of a frozen zoo model: eval mode, no parameter gradients, BatchNorm
    folded into the convolutions, and channels-last weights (faster convolutions on CPU and GPU).
    Computes the same function as ``model`` in eval mode, to float rounding."""
    copy = fold_batchnorm(deepcopy(model).eval())
    for p in copy.parameters():
        p.requires_grad_(False)
    return copy.to(memory_format=torch.channels_last)


def concat_batches(fn: Callable[[torch.Tensor], Dict[str, torch.Tensor]], x: torch.Tensor,
                   batch_size: int) -> Dict[str, torch.Tensor]:
    """``fn`` (a dict of per-sample tensors) over ``x`` in batches, concatenated: bounds peak memory."""
    parts = [fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def conv_bn(c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
    )


class BasicBlock(nn.Module):
    """The ResNet basic block (two 3x3 convs, identity or 1x1 projection shortcut)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, stride)
        self.conv2 = conv_bn(c_out, c_out)
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else conv_bn(c_in, c_out, stride, kernel=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.conv1(x))) + self.shortcut(x))


class Head(nn.Sequential):
    """Global average pool then flatten: the ``pool`` cut."""

    def __init__(self):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten())


def resnet(blocks: Sequence[int], width: int = 16, in_channels: int = 3, num_classes: int = 10) -> CutModel:
    """CIFAR-style ResNet: 3x3 stem, no max-pool, four stages of basic blocks, widths w, 2w, 4w, 8w.

    ``blocks=(1,1,1,1)`` is R1111 of the stitching papers, ``(2,2,2,2)`` ResNet-18 and
    ``(3,4,6,3)`` ResNet-34 (at ``width=64``). Cuts: ``stem``, ``layer{s}.{b}``, ``pool``, ``logits``.
    """
    if len(blocks) != 4 or min(blocks) < 1:
        raise ValueError(f"a ResNet needs four stages of >= 1 block, got {tuple(blocks)}")
    stages: List[Tuple[str, nn.Module]] = [("stem", nn.Sequential(conv_bn(in_channels, width), nn.ReLU()))]
    c_in = width
    for s, n in enumerate(blocks):
        c_out = width * 2**s
        for b in range(n):
            stride = 2 if (s > 0 and b == 0) else 1
            stages.append((f"layer{s + 1}.{b}", BasicBlock(c_in, c_out, stride)))
            c_in = c_out
    stages += [("pool", Head()), ("logits", nn.Linear(c_in, num_classes))]
    return CutModel(stages)


def vgg(stages_n: int = 4, width: int = 16, in_channels: int = 3, num_classes: int = 10) -> CutModel:
    """A plain VGG-style CNN (no skip connections): a second family to audit methods across.

    Stage s is conv3x3-BN-ReLU at width ``w * 2**s``; stages after the first halve the resolution
    with a max-pool first, so cut sizes match a ResNet's. Cuts: ``conv{s}``, ``pool``, ``logits``.
    """
    stages: List[Tuple[str, nn.Module]] = []
    c_in = in_channels
    for s in range(stages_n):
        c_out = width * 2**s
        pool = [nn.MaxPool2d(2)] if s > 0 else []
        stages.append((f"conv{s + 1}", nn.Sequential(*pool, conv_bn(c_in, c_out), nn.ReLU())))
        c_in = c_out
    stages += [("pool", Head()), ("logits", nn.Linear(c_in, num_classes))]
    return CutModel(stages)


ALIASES = {"resnet18": "R2222", "resnet34": "R3463"}

#: A user's model families: a builder ``f(width, in_channels, num_classes) -> CutModel`` registered
#: here, advertised under the ``stitchtest.models`` entry-point group, or named as ``module:Name``,
#: trains in the zoo like the built-in families (``ModelSpec(arch=NAME)``).
ARCHITECTURES: Registry[Callable[..., CutModel]] = Registry("architecture", "stitchtest.models")


_BUILT_IN = re.compile(r"R[1-9]{4}|vgg[1-9]", flags=re.I)


def family_id(arch: str) -> Optional[str]:
    """What identifies a registered family beyond its name, or None for the built-in families (the
    library's own code, versioned with the training recipe).

    A name says nothing about the code behind it: re-registering ``"mine"`` with another builder,
    or editing the module it lives in, must not hand back a checkpoint (or cached activations)
    made by the old one. So the zoo's key (:attr:`~stitchtest.models.zoo.ModelSpec.key`) carries the
    builder's ``module:qualname``, its first line and a digest of its module's source file.
    """
    if _BUILT_IN.fullmatch(ALIASES.get(arch.lower(), arch)):
        return None
    try:
        builder = ARCHITECTURES.get(arch)
    except RegistryError:
        return None  # build() says why
    return _builder_id(builder)


@functools.lru_cache(maxsize=None)
def _builder_id(builder: Callable[..., "CutModel"]) -> str:
    """Once per builder object: a reloaded module or a new registration is a new object."""
    name = f"{getattr(builder, '__module__', None)}:{getattr(builder, '__qualname__', type(builder).__name__)}"
    line = getattr(getattr(builder, "__code__", None), "co_firstlineno", None)
    try:
        source = Path(inspect.getsourcefile(builder)).read_bytes()
    except (TypeError, OSError):  # no file (built in a REPL, a C callable): its own source, else its name
        try:
            source = inspect.getsource(builder).encode()
        except (TypeError, OSError):
            source = b""
    return f"{name}:{line}@{hashlib.sha256(source).hexdigest()[:12]}"


def builder_of(arch: str) -> Callable[..., CutModel]:
    """What builds ``arch`` (``f(width, in_channels, num_classes)``), without building it, so a
    misspelt name is one error before a run starts (ValueError), not one in every test."""
    name = ALIASES.get(arch.lower(), arch)
    if m := re.fullmatch(r"R([1-9])([1-9])([1-9])([1-9])", name):
        return functools.partial(resnet, tuple(int(g) for g in m.groups()))
    if m := re.fullmatch(r"vgg([1-9])", name, flags=re.I):
        return functools.partial(vgg, int(m.group(1)))
    try:
        return ARCHITECTURES.get(arch)
    except RegistryError as err:
        raise ValueError(f"unknown architecture {arch!r}; expected R<abcd> (e.g. R1111), resnet18, resnet34, "
                         f"vgg<N>, a registered family or module:Name ({err})") from None


def build(arch: str, width: int = 16, in_channels: int = 3, num_classes: int = 10) -> CutModel:
    """A model from its architecture name.

    ``R1111`` ... ``R2222`` (any four block counts, each a single digit), ``resnet18``,
    ``resnet34``, ``vgg4`` (a plain CNN with that many conv stages), or a registered family
    (:data:`ARCHITECTURES`: in-process, entry point, or ``module:Name``).
    """
    model = builder_of(arch)(width=width, in_channels=in_channels, num_classes=num_classes)
    if not isinstance(model, CutModel):
        raise TypeError(f"architecture {arch!r} built a {type(model).__name__}, not a CutModel: the zoo and the "
                        "testbeds need named stages (or compare any nn.Module with stitchtest.compare)")
    return model


def check_arch(arch: str, width: int, image: Tuple[int, int, int], num_classes: int) -> None:
    """Build ``arch`` once and run two blank images of shape ``image`` through it, so that a family
    that cannot work on this data (``module:Name`` naming something that is no builder, a model that
    is no CutModel, ``vgg9`` pooling 16 pixels below one) is one ValueError before a run starts, not
    a failure in every test after the previous run's results were moved aside."""
    builder_of(arch)  # an unknown name says so itself
    try:
        model = build(arch, width=width, in_channels=image[0], num_classes=num_classes)
        with torch.no_grad():
            model.eval()(torch.zeros(2, *image))
        model.spatial_cuts  # noqa: B018 -- the testbeds pick their cuts from these
    except Exception as err:  # a user's builder may raise anything; the message names what it was
        raise ValueError(f"architecture {arch!r} cannot be audited on {image[0]}x{image[1]}x{image[2]} images "
                         f"with {num_classes} classes: {type(err).__name__}: {err}; expected a builder "
                         f"f(width, in_channels, num_classes) -> CutModel that takes these images") from None


def cuts_at_depths(model: CutModel, depths: Sequence[float]) -> Tuple[str, ...]:
    """The spatial cut nearest each proportional depth in [0, 1] (the shallower on a tie), so a testbed
    can name cuts for any family: for R1111, depths (0, .25, .5, .75, 1) are its stem and four blocks."""
    cuts = model.spatial_cuts
    return tuple(min(cuts, key=lambda c: (abs(model.depth(c) - d), model.depth(c))) for d in depths)
