"""Cosine direct matching: an example third-party objective for stitchtest.

Direct matching (DM) penalises every difference between the stitch's output and the receiver's
own activation at the cut, scale included. Cosine matching asks only that each image's
activation *points the same way*: one number per image, ``1 - cos(h_i, g_i)`` over all its
channels and positions, averaged over the batch. Whether ignoring per-image scale changes any
of the testbeds' verdicts is exactly what running it through stitchtest answers.
"""
from dataclasses import dataclass

import torch.nn.functional as F

from stitchtest.stitching.objectives import Objective


@dataclass(frozen=True)
class CosineMatch(Objective):
    """Train the stitch to maximise per-image cosine similarity with the receiver at the cut."""

    name = "cosine"

    def hint_cuts(self, receiver, cut):
        return (cut,)  # only the stitch cut, like DM

    def loss(self, batch):
        (cut,) = batch.stitched_acts
        h, g = batch.stitched_acts[cut].flatten(1), batch.receiver_acts[cut].flatten(1)
        return (1 - F.cosine_similarity(h, g, dim=1, eps=1e-8)).mean()
