"""Any ``nn.Module`` as a network with cuts at named layers, without rewriting its ``forward``.

Stitching asks of a network what :class:`~stitchtest.models.CutModel` provides: its
activations at some cuts (the sender's side, and the receiver's targets) and the rest of the
network from a cut (the receiver's side). For a user's own module the cuts are layers named as in
``named_modules()``:

- activations come from forward hooks on those layers, in one ordinary forward pass, so any
  module works (a layer that returns a tuple, e.g. ``nn.LSTM``, is cut at its first element);
- the rest of the network from a cut is a ``torch.fx`` graph (torchvision's feature-extraction
  tracer, which names nodes by module path) in which the layer's output becomes the input. That
  needs a traceable module, and a layer that *cuts* it: nothing after the layer may still read
  the input (a skip connection around the layer), or the rest is not a function of the cut.

:class:`LayerModel` duck-types ``CutModel`` (``cuts``, ``spatial_cuts``, ``trace``, ``prefix``,
``suffix``), so :func:`~stitchtest.stitching.fit_stitches` and
:func:`~stitchtest.stitching.readouts.stitch_readouts` take it unchanged.
"""
from __future__ import annotations

import difflib
from typing import Dict, Iterable, List, Sequence, Tuple

import torch
from torch import fx, nn

from ..models.core import INPUT, eval_mode
from .stitch import IncompatibleCuts

LOGITS = "logits"


def _first(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` in ``model.named_modules()``; a clear error with near names if none."""
    modules = dict(model.named_modules())
    if name not in modules or not name:
        near = difflib.get_close_matches(name, [n for n in modules if n], n=5)
        children = [n for n, _ in model.named_children()]
        raise KeyError(f"{type(model).__name__} has no layer {name!r}"
                       + (f"; did you mean {', '.join(near)}?" if near else "")
                       + f" (top-level layers: {', '.join(children)}; any name in named_modules() works)")
    return modules[name]


class LayerModel(nn.Module):
    """``model`` with cuts at ``layers`` (forward order is found by running it once, in eval mode, on
    ``example``). It runs ``model`` as it is: freeze it first (:func:`stitchtest.api.frozen`)."""

    def __init__(self, model: nn.Module, layers: Sequence[str], example: torch.Tensor):
        super().__init__()
        if not layers:
            raise ValueError("name at least one layer to cut at")
        for bad in {INPUT, LOGITS} & set(layers):
            raise ValueError(f"{bad!r} is reserved (the network's input and output); name the layer otherwise")
        self.model = model
        self._layers = {name: layer(model, name) for name in layers}
        calls: List[str] = []
        handles = [m.register_forward_hook(lambda *_, n=n: calls.append(n)) for n, m in self._layers.items()]
        try:
            with torch.no_grad(), eval_mode(model):  # a probe must not move BatchNorm statistics
                model(example[:1])
        finally:
            for h in handles:
                h.remove()
        order = list(dict.fromkeys(calls))
        missing = [n for n in layers if n not in order]
        if missing:
            raise ValueError(f"layers {missing} of {type(model).__name__} are not called by its forward pass")
        shared = sorted(n for n in order if calls.count(n) > 1)
        if shared:  # which call would be the cut? (torchvision's BasicBlock calls its one ReLU twice)
            raise ValueError(f"layers {shared} of {type(model).__name__} run more than once per forward pass "
                             "(a shared module); cut at the module around them instead")
        self._cuts = tuple(order) + (LOGITS,)
        self._suffixes: Dict[str, fx.GraphModule] = {}

    @property
    def cuts(self) -> Tuple[str, ...]:
        return self._cuts

    @property
    def spatial_cuts(self) -> Tuple[str, ...]:
        """The named layers (every cut but the output): where stitches go, and FuLA's hint cuts."""
        return self._cuts[:-1]

    def depth(self, cut: str) -> float:
        cuts = self.spatial_cuts
        return cuts.index(cut) / max(1, len(cuts) - 1)

    def _capture(self, x: torch.Tensor, layers: Iterable[str]) -> Dict[str, torch.Tensor]:
        """The outputs of ``layers`` (in the order they finish) and the logits, in one forward pass."""
        out: Dict[str, torch.Tensor] = {}
        handles = [self._layers[n].register_forward_hook(
            lambda _m, _i, o, n=n: out.__setitem__(n, _first(o))) for n in dict.fromkeys(layers)]
        try:
            logits = self.model(x)
        finally:
            for h in handles:
                h.remove()
        out[LOGITS] = logits
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def trace(self, h: torch.Tensor, start: str = INPUT) -> Dict[str, torch.Tensor]:
        """Activations at every cut after ``start`` (through ``logits``), for activations ``h`` at ``start``."""
        if start == INPUT:
            return self._capture(h, self.spatial_cuts)
        return self.rest(start)(h)

    def prefix(self, x: torch.Tensor, cut: str) -> torch.Tensor:
        return self._capture(x, [cut])[cut]

    def suffix(self, h: torch.Tensor, cut: str) -> torch.Tensor:
        return self.trace(h, cut)[LOGITS]

    def rest(self, start: str) -> fx.GraphModule:
        """The network after the cut ``start`` (built once; fx tracing patches torch globally while
        it runs, so build every one a multi-threaded caller needs before it starts threads)."""
        if start not in self._suffixes:
            self._suffixes[start] = rest_of_network(self.model, start, self.spatial_cuts[self.spatial_cuts.index(start) + 1:])
        return self._suffixes[start]


def _node_of(nodes: Dict[fx.Node, str], name: str) -> fx.Node:
    """The node that is ``name``'s output: the last one traced inside it (torchvision's convention)."""
    inside = [node for node, qualname in nodes.items() if qualname == name or qualname.startswith(name + ".")]
    if not inside:
        raise IncompatibleCuts(f"layer {name!r} is not in the traced graph")
    return inside[-1]


def rest_of_network(model: nn.Module, start: str, later: Sequence[str]) -> fx.GraphModule:
    """A module from ``start``'s output to ``{layer: activation for later layers, "logits": output}``."""
    from torchvision.models.feature_extraction import NodePathTracer

    tracer = NodePathTracer()
    try:
        graph = tracer.trace(model)
    except Exception as err:  # torch.fx fails in many ways on data-dependent control flow
        raise IncompatibleCuts(f"cannot stitch into {type(model).__name__}: torch.fx cannot trace it "
                               f"({type(err).__name__}: {err}); measures still work (they need only forward hooks)") from err
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    (output,) = [n for n in graph.nodes if n.op == "output"]
    cut = _node_of(tracer.node_to_qualname, start)
    with graph.inserting_before(inputs[0]):
        h = graph.placeholder("cut_activation")
    later_nodes = {n: _node_of(tracer.node_to_qualname, n) for n in later}
    cut.replace_all_uses_with(h)  # the output too, when the layer is the last one
    # a layer that ends where the cut does (``layer1`` after ``layer1.1``) is the cut activation itself
    outputs = {n: h if node is cut else node for n, node in later_nodes.items()}
    outputs[LOGITS] = output.args[0]
    output.args = (outputs,)
    module = fx.GraphModule(tracer.root, graph)
    graph = module.graph
    graph.eliminate_dead_code()
    still_read = [n.name for n in inputs if n.users]
    if still_read:
        raise IncompatibleCuts(f"layer {start!r} does not cut {type(model).__name__}: the rest of the network still "
                               f"reads its input ({', '.join(still_read)}), e.g. through a skip connection around "
                               "the layer; cut at a block's output instead")
    for n in inputs:
        graph.erase_node(n)
    module.recompile()
    return module


def capture(models: List[LayerModel], x: torch.Tensor, batch_size: int) -> List[Dict[str, torch.Tensor]]:
    """Each model's trace from the input on ``x`` in batches (no gradients), on the model's device."""
    from ..models.core import concat_batches

    out = []
    for m in models:
        p = next(m.parameters(), None)
        device = p.device if p is not None else x.device  # a model without parameters runs where x is
        with torch.no_grad():
            out.append(concat_batches(lambda b: m.trace(b.to(device)), x, batch_size))
    return out
