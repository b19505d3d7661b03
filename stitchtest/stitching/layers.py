"""Any ``nn.Module`` as a network with cuts at named layers, without rewriting its ``forward``.

Stitching asks of a network what :class:`~stitchtest.models.CutModel` provides: its
activations at some cuts (the sender's side, and the receiver's targets) and the rest of the
network from a cut (the receiver's side). For a user's own module the cuts are layers named as in
``named_modules()``:

- activations come from forward hooks on those layers, in one ordinary forward pass, so any
  module works (a layer that returns a tuple, e.g. ``nn.LSTM``, is cut at its first element);
- the rest of the network from a cut is a ``torch.fx`` graph (torchvision's feature-extraction
  tracer, which names nodes by module path) in which the layer's output becomes the input. That
  needs a layer that *cuts* the network: nothing after the layer may still read the input (a skip
  connection around the layer), or the rest is not a function of the cut;
- where ``torch.fx`` cannot trace the module (Hugging Face transformers 5 has no fx tracer of its
  own, and its models do not trace with plain fx), the rest is *replayed*: the whole model runs on
  a fixed carrier input while a forward hook puts the activations in place of the layer's output
  (:class:`Replay`). Whether the rest still reads its input is then checked by experiment: the
  same activations with different carrier inputs must give the same outputs (this catches a skip
  connection, and an attention mask that differs between samples).

Inputs are a tensor or a dict of tensors (``model(**x)``: token ids, attention masks, pixel
values); integer tensors are passed through untouched. The output is a tensor, or an object or
dict whose ``logits`` (or the ``output=`` name given) is taken (:func:`select_output`).

:class:`LayerModel` duck-types ``CutModel`` (``cuts``, ``spatial_cuts``, ``trace``, ``prefix``,
``suffix``), so :func:`~stitchtest.stitching.fit_stitches` and
:func:`~stitchtest.stitching.readouts.stitch_readouts` take it unchanged.
"""
from __future__ import annotations

import difflib
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import fx, nn

from ..models.core import INPUT, eval_mode
from .stitch import IncompatibleCuts

LOGITS = "logits"
#: a model's input: one tensor, or keyword tensors (``model(**x)``) with the samples along dim 0
Inputs = Union[torch.Tensor, Mapping[str, torch.Tensor]]


def _first(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def n_samples(x: Inputs) -> int:
    return len(next(iter(x.values()))) if isinstance(x, Mapping) else len(x)


def take(x: Inputs, idx) -> Inputs:
    """Samples ``idx`` (an index tensor or a slice) of a tensor or of every tensor in a dict."""
    return {k: v[idx] for k, v in x.items()} if isinstance(x, Mapping) else x[idx]


def to_device(x: Inputs, device) -> Inputs:
    return {k: v.to(device) for k, v in x.items()} if isinstance(x, Mapping) else x.to(device)


def run_model(model: nn.Module, x: Inputs):
    """``model(**x)`` for a dict (a Hugging Face batch), ``model(x)`` for a tensor."""
    return model(**x) if isinstance(x, Mapping) else model(x)


def select_output(output: Any, choice: Optional[str] = None) -> torch.Tensor:
    """The tensor of class scores in a model's output: the output itself, ``choice`` (an attribute
    or key) when given, else ``.logits`` / ``["logits"]`` (Hugging Face), else a tuple's first item."""
    if isinstance(output, torch.Tensor) and choice is None:
        return output
    names = [choice] if choice is not None else [LOGITS]
    for name in names:
        if isinstance(output, Mapping) and name in output:
            return output[name]
        if not isinstance(output, Mapping) and hasattr(output, name):
            return getattr(output, name)
    if choice is None and isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"the model returned a {type(output).__name__}"
                    + (f" with no {choice!r}" if choice else ", not a tensor nor an object with .logits")
                    + "; say which part holds the class scores with output='<attribute or key>'")


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

    def __init__(self, model: nn.Module, layers: Sequence[str], example: Inputs, output: Optional[str] = None):
        super().__init__()
        if not layers:
            raise ValueError("name at least one layer to cut at")
        for bad in {INPUT, LOGITS} & set(layers):
            raise ValueError(f"{bad!r} is reserved (the network's input and output); name the layer otherwise")
        self.model = model
        self.output = output
        self._carriers = take(example, slice(0, 8))  # a few inputs: the replayed rest's check (Replay)
        self._layers = {name: layer(model, name) for name in layers}
        calls: List[str] = []
        handles = [m.register_forward_hook(lambda *_, n=n: calls.append(n)) for n, m in self._layers.items()]
        try:
            with torch.no_grad(), eval_mode(model):  # a probe must not move BatchNorm statistics
                logits = select_output(run_model(model, take(example, slice(0, 1))), output)
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
        self.outputs = logits.shape[-1] if logits.dim() > 1 else 1  # the width of the class scores
        self._suffixes: Dict[str, nn.Module] = {}
        self._uncut: Dict[str, str] = {}  # layer -> why the rest of the network cannot start there

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

    @property
    def thread_safe(self) -> bool:
        """False once a rest is replayed: its hooks sit on the shared model, so groups must not run side by side."""
        return not any(isinstance(m, Replay) for m in self._suffixes.values())

    def _capture(self, x: Inputs, layers: Iterable[str]) -> Dict[str, torch.Tensor]:
        """The outputs of ``layers`` (in the order they finish) and the logits, in one forward pass."""
        out: Dict[str, torch.Tensor] = {}
        handles = [self._layers[n].register_forward_hook(
            lambda _m, _i, o, n=n: out.__setitem__(n, _first(o))) for n in dict.fromkeys(layers)]
        try:
            logits = select_output(run_model(self.model, x), self.output)
        finally:
            for h in handles:
                h.remove()
        out[LOGITS] = logits
        return out

    def forward(self, x: Inputs) -> torch.Tensor:
        return select_output(run_model(self.model, x), self.output)

    def trace(self, h: torch.Tensor, start: str = INPUT) -> Dict[str, torch.Tensor]:
        """Activations at every cut after ``start`` (through ``logits``), for activations ``h`` at ``start``."""
        if start == INPUT:
            return self._capture(h, self.spatial_cuts)
        return self.rest(start)(h)

    def prefix(self, x: torch.Tensor, cut: str) -> torch.Tensor:
        return self._capture(x, [cut])[cut]

    def suffix(self, h: torch.Tensor, cut: str) -> torch.Tensor:
        return self.trace(h, cut)[LOGITS]

    def rest(self, start: str) -> nn.Module:
        """The network after the cut ``start`` (built once; fx tracing patches torch globally while
        it runs, so build every one a multi-threaded caller needs before it starts threads): a
        ``torch.fx`` graph, or a checked :class:`Replay` where fx cannot trace the model. A layer that
        does not cut the model is :class:`IncompatibleCuts`, remembered, so asking again traces nothing."""
        if start in self._uncut:  # known not to cut: said again, never traced again (threads may ask)
            raise IncompatibleCuts(self._uncut[start])
        if start not in self._suffixes:
            later = self.spatial_cuts[self.spatial_cuts.index(start) + 1:]
            try:
                try:
                    self._suffixes[start] = rest_of_network(self.model, start, later, self.output)
                except Untraceable as err:
                    self._suffixes[start] = Replay.checked(self, start, later, err)
            except IncompatibleCuts as err:
                self._uncut[start] = str(err)
                raise
        return self._suffixes[start]


class Replay(nn.Module):
    """The rest of ``owner``'s network after ``start`` with no graph: the whole model runs on a
    carrier input (one of ``owner``'s example inputs, repeated to the batch) while a forward hook
    returns ``h`` in place of ``start``'s output. The prefix runs in vain (the cost of needing no
    tracer), and the answer is the rest of the network only if nothing after ``start`` reads the
    input: :meth:`checked` tests that on every carrier before the replay is used."""

    def __init__(self, owner: LayerModel, start: str, later: Sequence[str]):
        super().__init__()
        self.owner, self.start, self.later = owner, start, tuple(later)
        self.carrier = 0

    def forward(self, h: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = take(self.owner._carriers, torch.full((len(h),), self.carrier, dtype=torch.long))
        x = to_device(x, h.device)

        def replace(_m, _i, o):
            return (h, *o[1:]) if isinstance(o, tuple) else h

        layers = self.owner._layers
        out: Dict[str, torch.Tensor] = {}
        handles = [layers[self.start].register_forward_hook(replace)]
        handles += [layers[n].register_forward_hook(lambda _m, _i, o, n=n: out.__setitem__(n, _first(o)))
                    for n in self.later]
        try:
            logits = select_output(run_model(self.owner.model, x), self.owner.output)
        finally:
            for handle in handles:
                handle.remove()
        return {**out, LOGITS: logits}

    @classmethod
    def checked(cls, owner: LayerModel, start: str, later: Sequence[str], why: Exception) -> "Replay":
        replay = cls(owner, start, later)
        carriers = owner._carriers
        with torch.no_grad():
            h = owner._capture(carriers, [start])[start]
            outs = []
            for k in range(n_samples(carriers)):
                replay.carrier = k
                outs.append(replay(h))
        replay.carrier = 0
        for k, o in enumerate(outs[1:], 1):
            if any(not torch.allclose(o[n], outs[0][n], rtol=1e-4, atol=1e-5) for n in o):
                raise IncompatibleCuts(
                    f"layer {start!r} does not cut {type(owner.model).__name__}: torch.fx cannot trace it ({why}), "
                    f"and replaying the rest of the network with the same activations but another input (sample {k}) "
                    "changes its output, so the rest still reads the input: a skip connection around the layer, or "
                    "e.g. an attention mask that differs between samples (pad nothing, or cut elsewhere)")
        return replay


def _node_of(nodes: Dict[fx.Node, str], name: str) -> fx.Node:
    """The node that is ``name``'s output: the last one traced inside it (torchvision's convention)."""
    inside = [node for node, qualname in nodes.items() if qualname == name or qualname.startswith(name + ".")]
    if not inside:
        raise IncompatibleCuts(f"layer {name!r} is not in the traced graph")
    return inside[-1]


class Untraceable(IncompatibleCuts):
    """``torch.fx`` cannot trace the model (a :class:`Replay` may still give the rest of it)."""


def rest_of_network(model: nn.Module, start: str, later: Sequence[str], output_choice: Optional[str] = None) -> fx.GraphModule:
    """A module from ``start``'s output to ``{layer: activation for later layers, "logits": output}``."""
    from torchvision.models.feature_extraction import NodePathTracer

    tracer = NodePathTracer()
    try:
        graph = tracer.trace(model)
    except Exception as err:  # torch.fx fails in many ways on data-dependent control flow
        raise Untraceable(f"cannot stitch into {type(model).__name__}: torch.fx cannot trace it "
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
    with graph.inserting_before(output):
        outputs[LOGITS] = graph.call_function(select_output, (output.args[0], output_choice))
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


def capture(models: List[LayerModel], x: Inputs, batch_size: int) -> List[Dict[str, torch.Tensor]]:
    """Each model's trace from the input on ``x`` in batches (no gradients), on the model's device."""
    out = []
    n = n_samples(x)
    for m in models:
        p = next(m.parameters(), None)
        with torch.no_grad():
            parts = []
            for i in range(0, n, batch_size):
                batch = take(x, slice(i, i + batch_size))
                parts.append(m.trace(to_device(batch, p.device) if p is not None else batch))
        out.append({k: torch.cat([part[k] for part in parts]) for k in parts[0]})
    return out
