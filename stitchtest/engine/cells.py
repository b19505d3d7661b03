"""A cell: one (sender, cut) -> (receiver, cut) comparison, the unit every testbed computes."""
from __future__ import annotations

from dataclasses import dataclass

from ..runtime.ids import string_id
from ..models.zoo import ModelSpec


@dataclass(frozen=True)
class Cell:
    """Which two activations to compare, and on which data.

    The stitch is trained and scored on the receiver's data set and task; ``cue_p`` stamps the
    shortcut cue on that fraction of the stitch's training and test images (0 = clean);
    ``cue_conflict`` makes every test image's cue name another class than its label (the training
    images' cue still names it), so the readouts say whether the stitched network follows the cue.
    ``robust`` asks for the robust accuracy of the stitched network too (costly). ``sender`` and
    ``receiver`` are zoo ``ModelSpec`` objects, or whatever else a context's ``model`` takes that has a
    ``key``, a ``string_id()`` and a ``data`` with a ``string_id()`` (compare's
    :class:`~stitchtest.engine.own_models.OwnModel`).
    """

    sender: ModelSpec
    sender_cut: str
    receiver: ModelSpec
    receiver_cut: str
    cue_p: float = 0.0
    robust: bool = False
    cue_conflict: bool = False

    def __post_init__(self):
        if self.cue_conflict and self.cue_p != 1.0:
            raise ValueError(f"a cue-conflict cell stamps every test image: cue_p must be 1.0, got {self.cue_p}")
        if self.sender.data.string_id() != self.receiver.data.string_id():
            raise ValueError(f"sender and receiver were trained on different data: "
                             f"{self.sender.data.string_id()} vs {self.receiver.data.string_id()}")

    def string_id(self) -> str:
        f = dict(sender=self.sender.string_id(), sender_cut=self.sender_cut,
                 receiver=self.receiver.string_id(), receiver_cut=self.receiver_cut)
        if self.cue_p:
            f["cue_p"] = self.cue_p
        if self.robust:
            f["robust"] = True
        if self.cue_conflict:  # only where set: the ids of every other cell stay as they were
            f["cue_conflict"] = True
        return string_id(self, **f).replace("Cell", "cell", 1)
