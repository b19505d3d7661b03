"""What a readout's number means: its direction, its range, its chance line, its label.

Why one table: checks turn readouts into "more similar is larger" (``direction``), reports label
them, and heatmaps fix their colour range and mark their chance line. Held in three places, these
drifted; here each readout is one frozen :class:`ReadoutSpec`, in the lowest layer (the rows hold
the numbers), so every layer above reads the same one. ``latent_error@layer2.0`` is the readout
``latent_error`` at one cut: :func:`readout_spec` looks a readout up by its name before the ``@``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple, Union

__all__ = ["ReadoutSpec", "READOUTS", "register_readout", "readout_spec", "direction", "chance_by_guessing"]


def chance_by_guessing(classes: int) -> float:
    """Accuracy by guessing among ``classes`` classes."""
    return 1.0 / classes


@dataclass(frozen=True)
class ReadoutSpec:
    """One readout: ``higher_is_better`` says which way is more similar (``None``: not a similarity,
    e.g. the receiver's own accuracy), ``range`` is the heatmap's fixed colour range (``None`` at an
    end: the figure's own value there), ``chance`` the level by guessing, a constant or a function
    of the class count."""

    name: str
    label: str
    higher_is_better: Optional[bool] = True
    range: Tuple[Optional[float], Optional[float]] = (None, None)
    chance: Union[None, float, Callable[[int], float]] = None

    @property
    def direction(self) -> int:
        """+1 if a higher value means more similar, -1 if lower does (+1 for a readout that is neither)."""
        return -1 if self.higher_is_better is False else 1

    def chance_level(self, classes: Optional[int]) -> Optional[float]:
        """The chance line for a task of ``classes`` classes; ``None`` when there is none or it is unknown."""
        if self.chance is None:
            return None
        if not callable(self.chance):
            return float(self.chance)
        return self.chance(classes) if isinstance(classes, int) and classes > 0 else None


_UNIT = (0.0, 1.0)

#: the built-in readouts by name (stitches, measures, instruments)
READOUTS: Dict[str, ReadoutSpec] = {}


def register_readout(spec: ReadoutSpec) -> ReadoutSpec:
    """Add (or replace) a readout's spec, e.g. for a plug-in method's own readout."""
    READOUTS[spec.name] = spec
    return spec


for _spec in (
    ReadoutSpec("accuracy", "stitched network's test accuracy", True, _UNIT, chance_by_guessing),
    ReadoutSpec("receiver_accuracy", "the receiver's own test accuracy", None, _UNIT, chance_by_guessing),
    ReadoutSpec("relative_accuracy", "accuracy / receiver_accuracy", True, _UNIT),
    ReadoutSpec("penalty", "receiver_accuracy - accuracy (stitching penalty)", False, _UNIT),
    ReadoutSpec("agreement", "share of images where stitched and receiver argmax agree", True, _UNIT),
    ReadoutSpec("agreement_prob", "the FuLA authors' soft agreement: mean p_S.p_B / max(|p_S|^2, |p_B|^2)", True,
                _UNIT),
    ReadoutSpec("kl", "KL(receiver softmax || stitched softmax), mean per image", False, (0.0, None)),
    ReadoutSpec("latent_error", "||h - g||^2 / ||g||^2 at a receiver cut (mean over cuts without @)", False, _UNIT),
    ReadoutSpec("robust_accuracy", "PGD accuracy of sender prefix -> stitch -> receiver suffix", True, _UNIT,
                chance_by_guessing),
    ReadoutSpec("robust_gap", "|robust_accuracy - the receiver's own robust accuracy|", False, _UNIT),
    ReadoutSpec("fit_r2", "1 - latent_error at the stitch cut", True, _UNIT),
    ReadoutSpec("cut_mse", "mean squared error per element at the stitch cut", False),
    ReadoutSpec("start_mse", "mean squared error per element between the trained stitch and its start", None),
    ReadoutSpec("ls_mse", "mean squared error per element between the trained stitch and the least-squares one "
                "(recorded where it did not start there)", None),
    ReadoutSpec("cue_following", "on cue-conflict images, share of stitched predictions equal to the cue's class",
                None, _UNIT),
    ReadoutSpec("receiver_cue_following", "on cue-conflict images, share of the receiver's predictions equal to the "
                "cue's class", None, _UNIT),
    ReadoutSpec("score", "the measure's similarity score", True, _UNIT),
    # instruments (``None``: direction, range and chance as any unlisted readout's, as before they were listed)
    ReadoutSpec("null_mean", "mean score of the permutation null", None),
    ReadoutSpec("null_std", "standard deviation of the permutation null", None),
    ReadoutSpec("null_q95", "95th percentile of the permutation null", None),
    ReadoutSpec("calibrated", "score - null_mean", None),
    ReadoutSpec("p_value", "permutation p-value of the score", None),
    ReadoutSpec("tau", "the null's exact (1 - alpha) cutoff, the observed score included (Groger et al.)", None),
    ReadoutSpec("gated", "(score - tau) / (s_max - tau), 0 at or below tau (Groger et al.'s calibrated score)", True,
                _UNIT),
    ReadoutSpec("permutations", "permutations in the null", None),
    ReadoutSpec("sender_accuracy", "the sender's own test accuracy", None),
    ReadoutSpec("functional_change", "|difference| of the two networks' test accuracies", None),
    ReadoutSpec("disagreement", "share of images where the two networks' argmax differ", None),
    ReadoutSpec("edited_accuracy", "test accuracy after the sender's edit", None),
    ReadoutSpec("ev", "Hernandez et al.'s EV: the TLM stitch's cut_mse", None),
    ReadoutSpec("es", "Hernandez et al.'s ES: the DM stitch's cut_mse", None),
    ReadoutSpec("sv", "Hernandez et al.'s SV: the TLM stitch's start_mse (ls_mse from a random start)", None),
    # bookkeeping
    ReadoutSpec("seconds", "seconds the cell took", None),
):
    register_readout(_spec)


def readout_spec(readout: str) -> Optional[ReadoutSpec]:
    """The spec of ``readout`` (``latent_error@layer2.0`` -> ``latent_error``'s), ``None`` if unknown."""
    return READOUTS.get(readout.split("@")[0])


def direction(readout: str) -> int:
    """+1 if a higher ``readout`` means more similar, -1 if lower does; +1 for an unknown readout."""
    spec = readout_spec(readout)
    return spec.direction if spec is not None else 1
