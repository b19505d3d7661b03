"""How a stitch is trained: the objective is the method.

An objective sees, for one batch, the stitched network's activations at some receiver cuts and
its logits, and the receiver's own activations and logits on the same images; it returns a
loss. Four are built in (all losses are means over the batch):

- ``tlm`` task loss matching: ``CE(stitched logits, labels)``.
- ``slm`` soft label matching: ``T^2 * KL(softmax(z_B / T) || softmax(z_S / T))``, receiver B's
  own outputs as soft labels.
- ``dm`` direct matching: least squares from the sender to B's activations at the stitch cut.
  Closed form by default (the pseudo-inverse stitch itself, no SGD); ``sgd=True`` trains on the
  normalised MSE at the stitch cut instead.
- ``fula`` functional latent alignment, as the FuLA paper describes it ("a hierarchy of
  functional hints"): with hint cuts ``K`` = the stitch cut j and every spatial cut of B after
  j, depth weights ``w_k >= 0`` normalised to sum to 1, and ``nmse(h, g) = ||h - g||^2 / ||g||^2``
  (sums over the batch and all features)::

      L = sum_k w_k * nmse(h_k, g_k)

  ``h_k`` are the stitched network's activations, ``g_k`` the receiver's on the same images.
  Uniform weights by default (the paper fixes the idea, not the constants). No output term.
- ``fula_kl`` the same hints plus an output term of weight 1,
  ``+ output_weight * T^2 * KL(softmax(z_B / T) || softmax(z_S / T))``: not the paper's method.
  It is audited beside ``fula`` to show what the term does: it dominates the gradient and turns
  FuLA into SLM (docs/lab/facts.md#f17 to #f19), and the loss-term readouts make that visible.

An objective whose loss is a sum of named terms returns them from :meth:`Objective.terms`;
stitch training then records each term's value and its share of the gradient norm at the first
and last step (``loss_term:<name>:start``, ``grad_share:<name>:end``, ...). FuLA's terms are one
hint per depth (``hint@layer2.0``, ...) and, for ``fula_kl``, ``output``.

Third-party objectives register under the ``stitchtest.objectives`` entry-point group or are
named as ``module:Name``; either way they run through every testbed unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from ..runtime.ids import string_id
from ..models.core import CutModel
from ..runtime.registry import Registry

OBJECTIVES: Registry["Objective"] = Registry("objective", "stitchtest.objectives")


@dataclass
class Batch:
    """What a loss sees for one batch of training images."""

    labels: torch.Tensor
    stitched_logits: torch.Tensor
    stitched_acts: Dict[str, torch.Tensor]  # at the objective's hint cuts
    receiver_logits: Optional[torch.Tensor] = None
    receiver_acts: Optional[Dict[str, torch.Tensor]] = None


def nmse(h: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Normalised squared error ``||h - g||^2 / ||g||^2``: scale-free, so depths can be averaged."""
    return (h - g).pow(2).sum() / g.pow(2).sum().clamp_min(1e-12)


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``T^2 KL(softmax(teacher / T) || softmax(student / T))``, mean over the batch (Hinton et al.)."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, 1), F.log_softmax(teacher_logits / t, 1),
                    log_target=True, reduction="batchmean") * t * t


#: The FuLA authors' code, read for :func:`functional_loss` (github.com/athaioan/invariance-aware-stitching).
FULA_AUTHORS_COMMIT = "5815d8e40ae816d1166bf43321aab2cd820ff60a"


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``KL(softmax(teacher) || softmax(student))``, summed over classes, mean over the batch, no
    temperature, ``eps`` inside the teacher's log: athaioan/invariance-aware-stitching,
    training/losses.py::compute_soft_target_loss (their SLM loss and ``fula_soft``'s output term)."""
    p = F.softmax(teacher_logits, dim=-1)
    return torch.sum(p * ((p + eps).log() - F.log_softmax(student_logits, dim=-1))) / student_logits.shape[0]


def functional_loss(hs: Sequence[torch.Tensor], gs: Sequence[torch.Tensor],
                    logits: Optional[Tuple[torch.Tensor, torch.Tensor]] = None) -> torch.Tensor:
    """FuLA's loss as its authors coded it: ``mean_k ||h_k - g_k||_F / ||g_k||_F``.

    ``hs[k]`` is the stitched network's activation at hint layer ``k``, ``gs[k]`` the receiver's on
    the same images; ``hs[0]``/``gs[0]`` are the stitch cut (the stitch's output against the
    receiver's own activation there), then every later hooked layer of the receiver, in order.
    Each choice is the authors' (athaioan/invariance-aware-stitching at :data:`FULA_AUTHORS_COMMIT`,
    training/losses.py::compute_functional_loss):

    * the distance per layer is ``torch.norm(h - g, "fro") / torch.norm(g, "fro")`` over the whole
      batch tensor (their ``_dist``): a ratio of norms, **not squared** (today's ``fula`` uses
      :func:`nmse`, its square);
    * the stitch cut and every later hooked layer count (``index + 1 >= stitch_layer_index``;
      their configs set ``funct_cutoff: null``, so no layer is cut off);
    * the layers are combined by a **plain mean** (``torch.stack(functional_loss).mean()``);
    * ``logits=(stitched, receiver)`` is their ``fula_soft=True``: :func:`soft_target_loss` joins
      the list *before* the mean, as one more term of weight ``1 / (layers + 1)``; every published
      config sets ``fula_soft: False``.

    The hooked layers are block outputs after the ReLU (configs: ``front_hook_post_relu: True``,
    ``end_hook_post_relu: True``; models/model_utils.py::get_stitch_layer_name, ``post_act``),
    which is what stitchtest's spatial cuts are. Not yet the ``fula`` objective's loss (that
    switch comes with the regeneration of the reports); see docs/reference/fula-authors.md.
    """
    if len(hs) != len(gs) or not hs:
        raise ValueError(f"functional_loss needs one receiver activation per stitched one, got {len(hs)} and {len(gs)}")
    terms = [torch.norm(h - g, "fro") / torch.norm(g, "fro") for h, g in zip(hs, gs)]
    if logits is not None:
        terms.append(soft_target_loss(*logits))
    return torch.stack(terms).mean()


class Objective:
    """A stitch-training objective. Subclass, set ``name``, implement :meth:`loss`."""

    name: str = ""
    #: True when the least-squares stitch is the whole answer (no gradient steps).
    closed_form: bool = False
    #: True when :meth:`loss` reads the receiver's logits.
    needs_receiver_logits: bool = False

    def hint_cuts(self, receiver: CutModel, cut: str) -> Tuple[str, ...]:
        """Receiver cuts whose activations the loss compares (``Batch.*_acts`` keys)."""
        return ()

    def loss(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def terms(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """The loss as named, weighted terms that sum to :meth:`loss`. A composite objective
        overrides this so training can show which term drives the stitch (one term: nothing to show)."""
        return {"loss": self.loss(batch)}

    def string_id(self) -> str:
        return string_id(self)


def downstream(receiver: CutModel, cut: str) -> Tuple[str, ...]:
    """``cut`` and every spatial cut after it (flat cuts only themselves)."""
    if cut not in receiver.spatial_cuts:
        return (cut,)
    cuts = receiver.spatial_cuts
    return cuts[cuts.index(cut):]


@OBJECTIVES.register
@dataclass(frozen=True)
class TLM(Objective):
    """Task loss matching: the stitched network's cross-entropy against the labels."""

    name = "tlm"

    def loss(self, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(batch.stitched_logits, batch.labels)


@OBJECTIVES.register
@dataclass(frozen=True)
class SLM(Objective):
    """Soft label matching: the stitched network's outputs against the receiver's own."""

    name = "slm"
    temperature: float = 1.0
    needs_receiver_logits = True

    def loss(self, batch: Batch) -> torch.Tensor:
        return soft_kl(batch.stitched_logits, batch.receiver_logits, self.temperature)


@OBJECTIVES.register
@dataclass(frozen=True)
class DM(Objective):
    """Direct matching: the stitch's output against the receiver's activation at the stitch cut."""

    name = "dm"
    sgd: bool = False

    @property
    def closed_form(self) -> bool:  # type: ignore[override]
        return not self.sgd

    def hint_cuts(self, receiver: CutModel, cut: str) -> Tuple[str, ...]:
        return (cut,)

    def loss(self, batch: Batch) -> torch.Tensor:
        (cut,) = batch.stitched_acts
        return nmse(batch.stitched_acts[cut], batch.receiver_acts[cut])


@OBJECTIVES.register
@dataclass(frozen=True)
class FuLA(Objective):
    """Functional latent alignment: match the receiver at the stitch cut and every later cut.

    ``output_weight > 0`` adds a KL term on the logits, which the paper does not have
    (:class:`FuLAKL` is that variant, under its own name)."""

    name = "fula"
    #: "uniform", "linear" (weight grows with depth), or explicit per-hint weights
    weights: Union[str, Tuple[float, ...]] = "uniform"
    #: "all" (stitch cut and every later spatial cut), "stitch" (the stitch cut only), or a count
    hints: Union[str, int] = "all"
    output_weight: float = 0.0
    temperature: float = 1.0

    @property
    def needs_receiver_logits(self) -> bool:  # type: ignore[override]
        return self.output_weight > 0

    def hint_cuts(self, receiver: CutModel, cut: str) -> Tuple[str, ...]:
        cuts = downstream(receiver, cut)
        if self.hints == "stitch":
            return cuts[:1]
        if isinstance(self.hints, int):
            return cuts[: max(1, self.hints)]
        if self.hints != "all":
            raise ValueError(f"fula: hints must be 'all', 'stitch' or a count, got {self.hints!r}")
        return cuts

    def depth_weights(self, n: int) -> torch.Tensor:
        if self.weights == "uniform":
            w = torch.ones(n)
        elif self.weights == "linear":
            w = torch.arange(1, n + 1, dtype=torch.float32)
        else:
            w = torch.tensor(self.weights[:n], dtype=torch.float32)
            if len(w) != n or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f"fula: need {n} non-negative weights with a positive sum, got {self.weights}")
        return w / w.sum()

    def terms(self, batch: Batch) -> Dict[str, torch.Tensor]:
        cuts = list(batch.stitched_acts)
        w = self.depth_weights(len(cuts))
        out = {f"hint@{c}": w[k] * nmse(batch.stitched_acts[c], batch.receiver_acts[c]) for k, c in enumerate(cuts)}
        if self.output_weight > 0:
            out["output"] = self.output_weight * soft_kl(batch.stitched_logits, batch.receiver_logits,
                                                         self.temperature)
        return out

    def loss(self, batch: Batch) -> torch.Tensor:
        return sum(self.terms(batch).values())


@OBJECTIVES.register
@dataclass(frozen=True)
class FuLAKL(FuLA):
    """FuLA's hints plus a KL term on the receiver's outputs (weight 1): *not* the paper's method.

    Audited beside ``fula`` so the report shows what an output term does to it."""

    name = "fula_kl"
    output_weight: float = 1.0


def get(name: str, **kwargs) -> Objective:
    """An objective instance by registered name or ``module:Name``."""
    return OBJECTIVES.create(name, **kwargs)
