"""What a stitched pair is scored by.

Accuracy saturates on easy data (docs/lab/facts.md#f2 and #f15: every objective stitches
deep-to-shallow at 0.96+ on digits while the latent error says the stitched network does not
compute what the receiver computes), so every cell records several readouts and each check names
the one it reads. All are computed on the held-out test images. Each one's direction, colour range and chance line
are its :class:`~stitchtest.records.readout_spec.ReadoutSpec`.

==========================  ===========================================================  ========
readout                     meaning                                                      similar
==========================  ===========================================================  ========
``accuracy``                stitched network's test accuracy                             higher
``receiver_accuracy``       the receiver's own test accuracy                             --
``relative_accuracy``       accuracy / receiver_accuracy                                 higher
``penalty``                 receiver_accuracy - accuracy (stitching penalty)             lower
``agreement``               fraction of images where stitched and receiver argmax agree  higher
``agreement_prob``          the FuLA authors' soft agreement, mean per image of          higher
                            sum_c p_S(c) p_B(c) / max(||p_S||^2, ||p_B||^2) (what their
                            figures plot: :func:`agreement_prob`)
``kl``                      KL(receiver softmax || stitched softmax), mean per image     lower
``latent_error@CUT``        ||h - g||^2 / ||g||^2 at receiver cut CUT (stitch cut and    lower
                            every spatial cut after it)
``latent_error``            mean of the above over those cuts                            lower
``robust_accuracy``         PGD accuracy of sender prefix -> stitch -> receiver suffix   higher
``robust_gap``              |robust_accuracy - the receiver's own robust accuracy|       lower
``fit_r2``                  1 - latent_error@(stitch cut): how much of the receiver's    higher
                            representation at the cut the stitch reproduces
``cut_mse``                 mean squared error per element between the stitch's output   lower
                            and the receiver's activation at the cut (Hernandez et al.'s
                            EV for TLM, ES for DM)
``start_mse``               mean squared error per element between the trained stitch's  --
                            output and its starting point's (the least-squares stitch,
                            i.e. DM's: Hernandez et al.'s SV for TLM); SGD objectives only
``ls_mse``                  the same against the least-squares (DM) stitch, for a        --
                            stitch that did not start there (a random start: SV then)
``cue_following``           on cue-conflict images (their cue names another class than   --
                            the label): share of stitched predictions equal to the
                            cue's class (``accuracy`` is the share equal to the label)
``receiver_cue_following``  the same for the receiver alone                              --
==========================  ===========================================================  ========
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F

from ..models.core import CutModel, concat_batches
from ..records.readout_spec import direction  # noqa: F401  (each readout's direction, range and chance)
from .objectives import downstream
from .stitch import Stitch


@torch.no_grad()
def stitched_trace(stitch: Stitch, receiver: CutModel, cut: str, a: torch.Tensor,
                   batch_size: int = 1000) -> Dict[str, torch.Tensor]:
    """The stitched network's activations at ``cut`` and every later receiver cut, for all of ``a``."""
    def run(batch: torch.Tensor) -> Dict[str, torch.Tensor]:
        h = stitch(batch.float())
        return {cut: h, **receiver.trace(h, cut)}

    return concat_batches(run, a, batch_size)


def agreement_prob(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """The FuLA authors' soft agreement (evaluation/metrics.py::agreement with soft_normalization=True,
    athaioan/invariance-aware-stitching; their figures plot it as ``agreement_prob``), as a fraction
    (theirs is in percent): per image ``p_a . p_b / max(p_a . p_a, p_b . p_b)`` of the softmaxes, averaged.
    1 only where both give the same distribution. Their hard ``agreement_ratio`` is a different thing
    (both right or both wrong), not this module's ``agreement`` (same argmax)."""
    p, q = F.softmax(logits_a.double(), 1), F.softmax(logits_b.double(), 1)
    return ((p * q).sum(1) / torch.maximum((p * p).sum(1), (q * q).sum(1))).mean().item()


def latent_errors(stitched: Dict[str, torch.Tensor], target: Dict[str, torch.Tensor], cuts) -> Dict[str, float]:
    out = {}
    for c in cuts:
        h, g = stitched[c].double(), target[c].double()
        out[f"latent_error@{c}"] = ((h - g).pow(2).sum() / g.pow(2).sum().clamp_min(1e-12)).item()
    return out


@torch.no_grad()
def stitch_readouts(stitch: Stitch, receiver: CutModel, cut: str, a_test: torch.Tensor, y_test: torch.Tensor,
                    target_test: Dict[str, torch.Tensor], y_cue: Optional[torch.Tensor] = None) -> Dict[str, float]:
    """Every readout but robust accuracy, from the sender's test activations ``a_test`` at its cut.

    ``target_test`` is the receiver's own trace on the same test images. ``y_cue``: on cue-conflict
    images, the class each image's cue names; then ``cue_following`` and ``receiver_cue_following`` too.
    """
    stitch.eval()
    out = stitched_trace(stitch, receiver, cut, a_test)
    logits, ref = out["logits"], target_test["logits"]
    acc = (logits.argmax(1) == y_test).double().mean().item()
    ref_acc = (ref.argmax(1) == y_test).double().mean().item()
    r = {
        "accuracy": acc,
        "receiver_accuracy": ref_acc,
        "relative_accuracy": acc / ref_acc if ref_acc > 0 else 0.0,
        "penalty": ref_acc - acc,
        "agreement": (logits.argmax(1) == ref.argmax(1)).double().mean().item(),
        "agreement_prob": agreement_prob(logits, ref),
        "kl": F.kl_div(F.log_softmax(logits.double(), 1), F.log_softmax(ref.double(), 1), log_target=True,
                       reduction="batchmean").item(),
    }
    if y_cue is not None:
        r["cue_following"] = (logits.argmax(1) == y_cue).double().mean().item()
        r["receiver_cue_following"] = (ref.argmax(1) == y_cue).double().mean().item()
    errors = latent_errors(out, target_test, downstream(receiver, cut))
    r.update(errors)
    r["latent_error"] = sum(errors.values()) / len(errors)
    r["fit_r2"] = 1.0 - errors[f"latent_error@{cut}"]
    r["cut_mse"] = mse(out[cut], target_test[cut])
    return r


def mse(h: torch.Tensor, g: torch.Tensor) -> float:
    """Mean squared error per element, in float64."""
    return (h.double() - g.double()).pow(2).mean().item()


@torch.no_grad()
def stitch_distance(stitch: Stitch, other: Stitch, a: torch.Tensor, batch_size: int = 1000) -> float:
    """Mean squared error per element between two stitches' outputs on the same inputs ``a``."""
    stitch.eval(), other.eval()
    total, n = 0.0, 0
    for batch in a.split(batch_size):
        h, g = stitch(batch.float()).double(), other(batch.float()).double()
        total, n = total + (h - g).pow(2).sum().item(), n + h.numel()
    return total / max(1, n)
