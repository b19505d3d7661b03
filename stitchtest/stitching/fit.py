"""Training one stitch with one objective, on frozen, precomputed activations.

The sender is frozen, so its activations at the cut are computed once (by the caller) and each
step costs only stitch + receiver suffix. The stitch starts from the least-squares solution
(docs/lab/facts.md#f1: random initialisation with a small budget leaves stitches under-trained and
the matrices noise), then Adam runs ``steps`` steps on the objective. The budget, batch and rate
are the run's (:class:`StitchConfig`); the objective says how its own stitch trains
(:func:`optimiser`: weight decay and schedule, and how many images the start sees), because the
sources trained theirs differently (FuLA's authors: L2 1e-4 and a step schedule).
Stitches into the same receiver cut train together (:func:`fit_stitches`), sharing one pass of
the frozen suffix per step.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..runtime import concurrency, precision
from ..runtime.ids import string_id
from ..models.core import CutModel
from .objectives import Batch, Objective
from .stitch import Stitch


@dataclass(frozen=True)
class StitchConfig:
    """How every stitch is trained (part of each result's id). Defaults from the convergence study.

    ``precision`` changes results, so it is part of the id: ``"auto"`` is bf16 autocast on CUDA,
    fp32 on a CPU without bf16 arithmetic (emulated bf16 is slower), and on a CPU with it (AVX512-BF16
    or AMX) whichever a short measured probe found faster there (:func:`precision.auto`, stored
    per machine so every worker and run agree); ``"fp32"`` and ``"bf16"`` force one. Reports
    record what ``"auto"`` resolved to (:meth:`resolved_precision`). ``group`` (stitches
    trained in one pass), ``concurrent_groups`` (groups computed at once in threads, 0 = auto:
    :func:`concurrency.workers`) and ``compile`` (``torch.compile`` the receiver suffix; one group
    at a time then, as tracing is not thread-safe) only change speed, so they are not.

    ``plateau > 0`` stops a stitch once it has converged: at every ``window``-th step, when the
    mean training loss of its last ``window`` steps improved on the ``window`` before by less than
    ``plateau`` (relative), it trains no further (``FitResult.losses`` says how many steps it took).
    0 (the default) trains every stitch for the full ``steps``. Both change results, so they are in
    the id when ``plateau > 0``.
    """

    steps: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    init: str = "least_squares"  # or "random" (the naive baseline)
    bn: bool = False
    seed: int = 0
    precision: str = "auto"
    plateau: float = 0.0
    window: int = 25
    group: int = field(default=8, repr=False)
    concurrent_groups: int = field(default=0, repr=False)
    compile: bool = field(default=False, repr=False)

    def __post_init__(self):
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"stitch precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        if self.init not in ("least_squares", "random"):
            raise ValueError(f"unknown stitch init {self.init!r}; expected 'least_squares' or 'random'")
        if self.plateau < 0 or self.window < 1:
            raise ValueError(f"stitch plateau must be >= 0 and window >= 1, got {self.plateau}, {self.window}")
        if self.group < 1 or self.steps < 0 or self.batch_size < 1 or self.concurrent_groups < 0:
            raise ValueError(f"stitch group and batch_size must be >= 1, steps and concurrent_groups >= 0 "
                             f"(0 = auto): {self} (group={self.group}, concurrent_groups={self.concurrent_groups})")

    def string_id(self) -> str:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.repr}
        if not self.plateau:  # off: the id of a full-budget stitch, as before the option existed
            fields.pop("plateau"), fields.pop("window")
        return string_id(self, **fields).replace("StitchConfig", "stitch", 1)

    def resolved_precision(self, device: torch.device) -> str:
        """``"bf16"`` or ``"fp32"``: what a training step on ``device`` uses."""
        if self.precision == "auto":
            return precision.auto(device.type)
        return self.precision

    def autocast(self, device: torch.device):
        """The autocast context for a training step on ``device`` (disabled for fp32)."""
        return torch.autocast(device.type, dtype=torch.bfloat16,
                              enabled=self.resolved_precision(device) == "bf16")


@dataclass
class FitResult:
    stitch: Stitch
    losses: List[float] = field(default_factory=list)
    failure: Optional[str] = None  # why training stopped early (non-finite loss), else None
    #: a composite objective's terms at the first and last step: ``loss_term:<name>:start`` (value),
    #: ``grad_share:<name>:start`` (its share of the summed per-term gradient norms), ``:end`` likewise
    diagnostics: Dict[str, float] = field(default_factory=dict)
    #: the stitch as SGD found it (its least-squares start, or random init), kept for the readout
    #: ``start_mse``; None for a closed-form objective, whose stitch is that start
    start: Optional[Stitch] = None
    #: the least-squares (DM) stitch on the same training activations, kept for the readout
    #: ``ls_mse`` (Hernandez et al.'s SV) where the start was not that stitch (a random start); else None
    least_squares: Optional[Stitch] = None


def plateaued(losses: Sequence[float], window: int, plateau: float) -> bool:
    """Whether the last ``window`` losses improved on the ``window`` before by less than ``plateau``
    (relative to the earlier mean): the stitch has converged and more steps would not change it."""
    if len(losses) < 2 * window:
        return False
    recent = sum(losses[-window:]) / window
    before = sum(losses[-2 * window:-window]) / window
    return before - recent < plateau * abs(before)


def record_terms(results: List[FitResult], active: List[int], stitches: List[Stitch],
                 terms: List[Dict[str, torch.Tensor]], when: str, positions: Sequence[int]) -> None:
    """Each term's value and share of the gradient norm into ``diagnostics``, for the stitches at
    ``positions`` of ``active`` (``terms`` is aligned with ``active``).

    Why: a term that swamps the others (FuLA's output KL, docs/lab/facts.md#f17) is invisible in the
    summed loss; its share of the gradient says which term actually moves the stitch. The stitches'
    parameters are disjoint, so one gradient of a term summed over stitches gives each its own.
    """
    params = [p for n in positions for p in stitches[active[n]].parameters()]
    norms: Dict[str, List[float]] = {}
    for name in terms[0]:
        grads = torch.autograd.grad(sum(terms[n][name].float() for n in positions), params, retain_graph=True,
                                    allow_unused=True)
        by_param = dict(zip(map(id, params), grads))
        norms[name] = [math.sqrt(sum(float(by_param[id(p)].float().pow(2).sum())
                                     for p in stitches[active[n]].parameters() if by_param[id(p)] is not None))
                       for n in positions]
    for m, n in enumerate(positions):
        total = sum(norms[name][m] for name in terms[n])
        for name, value in terms[n].items():
            results[active[n]].diagnostics[f"loss_term:{name}:{when}"] = float(value.detach())
            results[active[n]].diagnostics[f"grad_share:{name}:{when}"] = norms[name][m] / total if total > 0 else math.nan


def stitched_batch(objective: Objective, receiver: CutModel, cut: str, h: torch.Tensor, y: torch.Tensor,
                   targets: Dict[str, torch.Tensor], idx: Optional[torch.Tensor] = None) -> Batch:
    """The :class:`Batch` an objective scores for stitch output ``h`` fed into ``receiver`` at ``cut``.

    ``y`` and ``targets`` (the receiver's own trace) are indexed by ``idx`` when given.
    """
    hints = objective.hint_cuts(receiver, cut)
    if idx is not None:
        y, targets = y[idx], _pick(objective, targets, idx, hints)
    return _batches(objective, receiver.trace, cut, h, 1, y, targets, hints)[0]


def _pick(objective: Objective, targets: Dict[str, torch.Tensor], idx: torch.Tensor, hints) -> Dict[str, torch.Tensor]:
    """The receiver's own activations the loss reads (hints, and logits if it reads them) at ``idx``."""
    needed = (*hints, "logits") if objective.needs_receiver_logits else tuple(hints)
    return {c: targets[c][idx] for c in needed}


def _batches(objective: Objective, trace, cut: str, h: torch.Tensor, k: int, labels: torch.Tensor,
             targets: Dict[str, torch.Tensor], hints) -> List[Batch]:
    """One :class:`Batch` per stitch, from ``k`` stitch outputs stacked along the batch in ``h``
    (``labels`` and ``targets`` are this step's).

    The receiver suffix runs once on the stack; it is frozen and in eval mode (or normalises each
    stitch's chunk on its own: stitching/batchnorm_train.py), so no sample sees another and each
    chunk is exactly what that stitch alone would produce.
    """
    acts = {cut: h, **trace(h, cut)}
    receiver_logits = targets["logits"].float() if objective.needs_receiver_logits else None
    receiver_acts = {c: targets[c].float() for c in hints}
    chunks = {c: acts[c].float().chunk(k) for c in (*hints, "logits")}
    return [Batch(labels=labels, stitched_logits=chunks["logits"][n],
                  stitched_acts={c: chunks[c][n] for c in hints},
                  receiver_logits=receiver_logits, receiver_acts=receiver_acts) for n in range(k)]


def new_stitch(a: torch.Tensor, target: torch.Tensor, config: StitchConfig, names=("sender", "receiver"),
               images: Optional[int] = None) -> Stitch:
    """A stitch from activations ``a`` to ``target``: least-squares or PyTorch-default initialised.

    ``images`` fits the least-squares start on that many training images, drawn by ``config.seed``
    (the FuLA authors' K_init from their shuffled ``train_init`` loader); None fits on all."""
    with concurrency.seeded(config.seed):
        stitch = Stitch(a.shape[1:], target.shape[1:], bn_before=config.bn, bn_after=config.bn, names=names)
    stitch = stitch.to(a.device)
    if a.dim() == 4:
        stitch = stitch.to(memory_format=torch.channels_last)
    if config.init == "least_squares":
        if images is not None and images < len(a):
            pick = torch.randperm(len(a), generator=torch.Generator().manual_seed(config.seed))[:images].to(a.device)
            a, target = a[pick], target[pick]
        stitch.fit_least_squares(a, target)
    return stitch


def budget(objective: Objective, config: StitchConfig, n: int) -> int:
    """Steps a stitch trains on ``n`` training images: the run's ``config.steps``, or the objective's
    ``epochs`` over batches of ``config.batch_size`` (the last partial batch dropped, as the FuLA
    authors' loader does), whichever is more."""
    if not objective.epochs:
        return config.steps
    return max(config.steps, objective.epochs * max(1, n // config.batch_size))


def optimiser(objective: Objective, params, config: StitchConfig, steps: int):
    """Adam at ``config.lr`` with the objective's weight decay (coupled L2, as ``torch.optim.Adam``),
    and its learning-rate schedule over ``steps``: ``"cosine"`` anneals to 0, ``"step"`` multiplies by
    0.1 at 1/3 and 2/3 of the budget (FuLA's authors: training/schedulers.py::step_scheduler)."""
    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=objective.weight_decay)
    if objective.schedule == "step":
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, [steps // 3, 2 * steps // 3], gamma=0.1)
    elif objective.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    else:
        raise ValueError(f"{objective.name}: unknown schedule {objective.schedule!r}; expected 'cosine' or 'step'")
    return opt, sched


def fit_stitch(objective: Objective, receiver: CutModel, receiver_cut: str, a: torch.Tensor, y: torch.Tensor,
               targets: Dict[str, torch.Tensor], config: StitchConfig = StitchConfig(),
               names=("sender", "receiver")) -> FitResult:
    """Fit a stitch from sender activations ``a`` into ``receiver`` at ``receiver_cut``.

    ``targets`` holds the receiver's own activations on the same images at every cut it has
    (``receiver.trace(x)``), including ``"logits"``; ``y`` are the labels.
    """
    return fit_stitches(objective, receiver, receiver_cut, [a], y, targets, config, [names])[0]


#: what one training step sees, ``feed(idx, active) -> (inputs, targets, trace)``: the sender
#: activations of the ``active`` stitches on images ``idx``, the receiver's own activations on them
#: (:func:`_pick`'s keys) and the receiver's ``trace(h, cut)`` for their stacked stitch outputs
Feed = Callable[[torch.Tensor, List[int]], Tuple[List[torch.Tensor], Dict[str, torch.Tensor], Callable]]


def frozen_feed(objective: Objective, senders: Sequence[torch.Tensor], targets: Dict[str, torch.Tensor],
                trace: Callable, hints) -> Feed:
    """Every step from the precomputed activations: the frozen networks in eval mode."""
    return lambda idx, active: ([senders[k][idx] for k in active], _pick(objective, targets, idx, hints), trace)


def fit_stitches(objective: Objective, receiver: CutModel, receiver_cut: str, senders: Sequence[torch.Tensor],
                 y: torch.Tensor, targets: Dict[str, torch.Tensor], config: StitchConfig = StitchConfig(),
                 names: Optional[Sequence[Tuple[str, str]]] = None, feed: Optional[Feed] = None) -> List[FitResult]:
    """Fit one stitch per sender activation set in ``senders``, all into ``receiver`` at ``receiver_cut``,
    in one pass: at each step every stitch sees the same images, their outputs are stacked along the
    batch through the shared frozen suffix once, and the losses are summed. Parameters are
    independent and Adam is per-parameter, so each stitch trains exactly as it would alone (same
    images, same steps, to float rounding) while the suffix runs ``len(senders)`` times fewer times,
    which is what keeps a GPU busy. A stitch whose loss turns non-finite stops alone.

    ``senders`` and ``targets`` (the networks in eval mode) give the least-squares start; each step
    reads :func:`frozen_feed` of them, unless ``feed`` computes the step otherwise
    (:class:`~stitchtest.stitching.batchnorm_train.TrainModeFeed`).
    """
    names = names or [("sender", "receiver")] * len(senders)
    if objective.init is not None:  # the objective's own start (a random-start TLM) over the run's
        config = dataclasses.replace(config, init=objective.init)
    results = [FitResult(new_stitch(a, targets[receiver_cut], config, n, objective.init_images))
               for a, n in zip(senders, names)]
    if objective.closed_form or not results:
        return results
    device = senders[0].device
    for r, a, n in zip(results, senders, names):
        r.start = copy.deepcopy(r.stitch)
        # DM's stitch, for SV against an objective that starts elsewhere (the random-start TLM of the
        # sanity table); only for such an objective, and only on finite activations (a sender that
        # holds an infinity must fail alone, below, not in the normal equations)
        if objective.init not in (None, "least_squares") and bool(torch.isfinite(a).all()):
            r.least_squares = new_stitch(a, targets[receiver_cut], dataclasses.replace(config, init="least_squares"), n)
    stitches = [r.stitch for r in results]
    n = len(senders[0])
    steps = budget(objective, config, n)
    opt, sched = optimiser(objective, [p for s in stitches for p in s.parameters()], config, steps)
    gen = torch.Generator().manual_seed(config.seed)
    hints = objective.hint_cuts(receiver, receiver_cut)
    trace = torch.compile(receiver.trace) if config.compile else receiver.trace
    feed = feed or frozen_feed(objective, senders, targets, trace, hints)
    active = list(range(len(stitches)))
    for s in stitches:
        s.train()
    for step in range(steps):
        idx = torch.randint(0, n, (min(config.batch_size, n),), generator=gen).to(device)
        # the stitches run in fp32 whatever the precision: a least-squares stitch with a large fan-in
        # (a strided conv from stem into layer4.0) does not survive bf16, and its SGD then collapsed
        # to 0.18-0.20 accuracy from a 0.94 start (measured 2026-12-01); they are under 2% of a step's time
        inputs, step_targets, step_trace = feed(idx, active)
        h = torch.cat([stitches[k](a.float()) for k, a in zip(active, inputs)])
        with config.autocast(device):
            batches = _batches(objective, step_trace, receiver_cut, h, len(active), y[idx], step_targets, hints)
            terms = [objective.terms(b) for b in batches]
            losses = torch.stack([sum(t.values()).float() for t in terms])
        values = losses.tolist()
        finite = [math.isfinite(v) for v in values]
        for k, v, ok in zip(active, values, finite):
            if ok:
                results[k].losses.append(v)
            else:
                results[k].failure = f"non-finite loss ({v}) at step {step}"
        # converged stitches take this step, then stop (config.plateau; never before 2 windows)
        stopping = set()
        if config.plateau and (step + 1) % config.window == 0:
            stopping = {k for k, ok in zip(active, finite) if ok
                        and plateaued(results[k].losses, config.window, config.plateau)}
        if len(terms[0]) > 1:
            if step == 0:
                record_terms(results, active, stitches, terms, "start", range(len(active)))
            ends = range(len(active)) if step == steps - 1 else [p for p, k in enumerate(active) if k in stopping]
            if ends:
                record_terms(results, active, stitches, terms, "end", ends)
        opt.zero_grad(set_to_none=True)
        if not all(finite):  # drop the diverged stitches; their parameters get no gradient again
            keep = torch.tensor(finite, device=losses.device)
            losses = losses[keep]
            active = [k for k, ok in zip(active, finite) if ok]
            if not active:
                break
        losses.sum().backward()
        opt.step()
        sched.step()
        if stopping:
            active = [k for k in active if k not in stopping]
            if not active:
                break
    for s in stitches:
        s.eval()
    return results
