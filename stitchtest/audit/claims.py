"""The source papers' claims, as comparisons of methods on the same cells.

A check asks one method one question ("is TLM's triangle there?"); a claim asks what a paper
says *about methods*: "FuLA shows less of the triangle than TLM", "TLM repairs a random
receiver, DM does not". Each claim reads per-seed statistics that the testbeds record with their
checks (``per_seed`` in a check row: seed pair ``k`` of every method comes from the same
networks, cuts and data) and compares them pair by pair (:func:`stitchtest.audit.checks.compare`):
one method against another, or one method against a threshold. The verdict is *reproduced*,
*not reproduced* (decided the other way) or *inconclusive* (too few seed pairs agree).

Claims are judged where every method's rows meet, on the controller at the end of a run (and by
``stitchtest report``), and lead ``summary.md`` as the claims table. A claim that does not
reproduce at some scale is a known failure there, with figures and an explanation (``known``);
it is never dropped or loosened. An expected claim that does not reproduce, or a known failure
that does, fails the run, as a strict xfail would.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .checks import compare
from .expectations import ALL
from ..records.rows import CheckRow

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"


@dataclass(frozen=True)
class Claim:
    """``method``'s per-seed ``stat`` of ``testbed/check`` is ``expect`` (higher or lower) than
    ``versus``'s, or, with no ``versus``, than ``threshold``, by ``margin`` on the mean."""

    id: str
    statement: str
    source: str
    testbed: str
    check: str
    method: str
    versus: Optional[str] = None
    expect: str = "higher"
    stat: str = "value"
    margin: float = 0.0
    threshold: float = 0.0
    scales: Tuple[str, ...] = ALL
    #: known failures: ((scales...), reason with the measured figures)
    known: Tuple[Tuple[Tuple[str, ...], str], ...] = ()

    def known_failure(self, scale: str) -> Optional[str]:
        return next((reason for scales, reason in self.known if scale in scales), None)

    def methods(self) -> Tuple[str, ...]:
        return (self.method,) + ((self.versus,) if self.versus else ())


TRIANGLE = 0.9  # the cross-layer testbed's threshold: deep->shallow at >= 90% of the diagonal
SMITH = "Smith, Mannering & Marcu, ICML 2025 (Functional alignment can mislead)"
ARISTOTELIAN = "Groger, Wen & Brbic, ICML 2026 (An Aristotelian view)"
#: the built-in measures whose scores the calibration testbed sets against a permutation null
CALIBRATED = (("linear_cka", "Linear CKA"), ("procrustes", "Procrustes"), ("svcca", "SVCCA"), ("mknn", "mkNN"))

CLAIMS: Tuple[Claim, ...] = (
    Claim("tlm_triangle", "TLM shows the triangle: a deep sender stitches into every shallower receiver "
          "about as well as on the diagonal", "Hernandez et al. 2023", "cross_layer", "triangle_absent",
          "tlm", expect="higher", threshold=TRIANGLE),
    Claim("tlm_triangle_across_architectures", "TLM shows the triangle between different architectures",
          "Hernandez et al. 2023", "cross_layer", "triangle_absent[R2222]", "tlm", expect="higher",
          threshold=TRIANGLE, scales=("small", "paper")),
    Claim("fula_triangle_below_tlm", "FuLA's triangle score is below TLM's", "FuLA paper (cross-layer)",
          "cross_layer", "triangle_absent", "fula", "tlm", expect="lower", margin=0.02),
    Claim("fula_triangle_below_slm", "FuLA's triangle score is below SLM's", "FuLA paper (cross-layer)",
          "cross_layer", "triangle_absent", "fula", "slm", expect="lower", margin=0.02),
    Claim("dm_no_triangle", "DM shows no triangle", "Balogh & Jelasity 2025", "cross_layer", "triangle_absent",
          "dm", expect="lower", threshold=TRIANGLE),
    Claim("dm_triangle_below_tlm", "DM's triangle score is below TLM's", "Balogh & Jelasity 2025",
          "cross_layer", "triangle_absent", "dm", "tlm", expect="lower", margin=0.02),
    Claim("tlm_prefers_another_layer", "Under TLM a layer can be rated more similar to another layer of the "
          "same network than to itself (A@i -> A@j above A@i -> A@i)", "Balogh & Jelasity 2025",
          "cross_layer", "self_most_similar", "tlm", stat="max_excess", expect="higher", threshold=0.0,
          known=((("smoke",), "Not reproduced at smoke: a TLM self-stitch starts at the identity and is trained on "
                  "labels, so it matches or beats the receiver's own accuracy, and no other receiver cut of the same "
                  "network does better (largest excess 0.000, 0.000, -0.005 over 3 seeds; every method holds 20/20). "
                  "Balogh & Jelasity see it on CIFAR-10, where accuracy does not saturate at 0.98 as on digits."),)),
    Claim("fula_beats_dm_on_diagonal", "FuLA finds alignments that stitch-level matching (DM) misses: higher "
          "stitched accuracy on the depth diagonal", "FuLA paper", "cross_layer", "triangle_absent", "fula", "dm",
          stat="mean_diagonal", expect="higher", margin=0.01),
    Claim("fula_separates_robust_better_than_tlm", "FuLA separates robust from standard networks better than "
          "TLM on stitched accuracy", "FuLA paper (adversarial)", "adversarial", "separation_clean", "fula", "tlm",
          expect="higher", margin=0.02,
          known=((("smoke",), "Inconclusive at smoke: per-seed AUPRC 0.77 / 0.65 / 0.69 for FuLA against 0.69 / 0.65 / "
                  "0.71 for TLM (+0.021 ± 0.055, 1 of 3 seed pairs higher). Clean stitched accuracy separates "
                  "neither (AUPRC near 0.6, docs/lab/facts.md#f12), and an AUPRC over 2 + 2 pairs per cut moves in "
                  "steps of 0.04-0.08, so three seed pairs cannot decide a difference this small."),)),
    Claim("fula_separates_robust_better_than_slm", "FuLA separates robust from standard networks better than "
          "SLM on stitched accuracy", "FuLA paper (adversarial)", "adversarial", "separation_clean", "fula", "slm",
          expect="higher", margin=0.02),
    Claim("fula_separates_robust_better_than_tlm_on_robust_readout", "FuLA separates robust from standard "
          "networks better than TLM on the robustness readout", "FuLA paper (adversarial), robust readout",
          "adversarial", "separation_robust", "fula", "tlm", expect="higher", margin=0.02,
          known=((("smoke",), "Inconclusive at smoke: FuLA 0.96 / 0.96 / 0.92 against TLM 0.92 / 0.96 / 0.85 "
                  "(+0.035 ± 0.032; 2 of 3 seed pairs higher, one tied): both separate well (AUPRC 0.88-0.94), "
                  "and a tie at 0.958 leaves the third pair undecided."),)),
    Claim("fula_separates_robust_better_than_slm_on_robust_readout", "FuLA separates robust from standard "
          "networks better than SLM on the robustness readout", "FuLA paper (adversarial), robust readout",
          "adversarial", "separation_robust", "fula", "slm", expect="higher", margin=0.02,
          known=((("smoke",), "Inconclusive at smoke: FuLA 0.96 / 0.96 / 0.92 against SLM 0.96 / 0.96 / 0.85 "
                  "(+0.021 ± 0.036): two seed pairs tie at 0.958, one favours FuLA."),)),
    # the same four claims read on a continuous per-seed statistic: mean in-group minus mean
    # cross-group similarity, which does not tie the way an AUPRC over 2 + 2 pairs per cut does
    Claim("fula_separates_robust_better_than_tlm_gap", "FuLA separates robust from standard networks better than "
          "TLM on stitched accuracy (in-group minus cross-group accuracy)", "FuLA paper (adversarial)", "adversarial",
          "separation_clean", "fula", "tlm", stat="gap", expect="higher", margin=0.01,
          known=((("smoke",), "Inconclusive at smoke: on clean stitched accuracy in-group pairs are no more alike "
                  "than cross-group pairs for either method (gap FuLA -0.004, TLM -0.002 in mean accuracy; "
                  "difference -0.002 ± 0.006, 1 of 3 seed pairs higher). The continuous statistic does not tie, so "
                  "this is no resolution limit: clean accuracy does not separate robust from standard networks at "
                  "all here (docs/lab/facts.md#f12), for FuLA no more than for TLM."),)),
    Claim("fula_separates_robust_better_than_slm_gap", "FuLA separates robust from standard networks better than "
          "SLM on stitched accuracy (in-group minus cross-group accuracy)", "FuLA paper (adversarial)", "adversarial",
          "separation_clean", "fula", "slm", stat="gap", expect="higher", margin=0.01,
          known=((("smoke",), "Inconclusive at smoke: gap FuLA -0.004, SLM -0.005 in mean clean accuracy (difference "
                  "+0.001 ± 0.006, 2 of 3 seed pairs higher, by less than the 0.01 margin): neither separates the groups on "
                  "clean accuracy (docs/lab/facts.md#f12). The AUPRC claim against SLM reproduces (3/3) on rank "
                  "differences that are this small in accuracy."),)),
    Claim("fula_separates_robust_better_than_tlm_on_robust_readout_gap", "FuLA separates robust from standard "
          "networks better than TLM on the robustness readout (in-group minus cross-group)",
          "FuLA paper (adversarial), robust readout", "adversarial", "separation_robust", "fula", "tlm", stat="gap",
          expect="higher", margin=0.01),
    Claim("fula_separates_robust_better_than_slm_on_robust_readout_gap", "FuLA separates robust from standard "
          "networks better than SLM on the robustness readout (in-group minus cross-group)",
          "FuLA paper (adversarial), robust readout", "adversarial", "separation_robust", "fula", "slm", stat="gap",
          expect="higher", margin=0.01,
          known=((("smoke",), "Inconclusive at smoke: on the robustness readout FuLA's gap (0.369) and SLM's (0.371) "
                  "are equal within noise (difference -0.002 ± 0.007, 1 of 3 seed pairs higher); against TLM the "
                  "same statistic reproduces (+0.018 ± 0.008, 3/3). One reading, not tested here: SLM matches the "
                  "robust receiver's soft outputs, which may carry its robustness as FuLA's hints do."),)),
    Claim("fula_rates_shortcut_less_alike_than_tlm", "FuLA rates shortcut and clean models as less alike than "
          "TLM does (cross-group agreement on cue-free images)", "FuLA paper (shortcut)", "shortcut",
          "separation_clean_data", "fula", "tlm", stat="mean_cross", expect="lower", margin=0.01,
          known=((("smoke",), "Not reproduced at smoke, decided the other way: FuLA's stitches agree with the "
                  "receiver on 0.759 of cue-free images across the groups against TLM's 0.700 (3 of 3 seed pairs), "
                  "and FuLA separates the groups less well (AUPRC 0.73 against 0.76). Matching the receiver's "
                  "activations makes every stitch agree with it more, in-group (0.78 vs 0.73) and across; a "
                  "shortcut sender's features still carry the digit (docs/lab/facts.md#f6), which FuLA's hints "
                  "transmit as readily as TLM's labels do."),)),
    *(Claim(f"{m}_trained_pair_significant", f"{label}: two trained networks of the same task are alike beyond "
            "chance (permutation null of shuffled images, p <= 0.05 in every cut)", ARISTOTELIAN, "calibration",
            "trained_significant", m, expect="higher", threshold=0.99) for m, label in CALIBRATED),
    *(Claim(f"{m}_random_pair_not_significant", f"{label}: two random networks are not alike beyond chance once "
            "calibrated (at most one of the three cuts significant per seed pair)", ARISTOTELIAN, "calibration",
            "random_not_significant", m, expect="lower", threshold=0.34,
            known=((ALL, f"Not reproduced at smoke, decided the other way: {label} finds random -> random "
                    "significant in every cut of every seed pair (p = 1/51). Two random networks of the same images "
                    "share the images' geometry, which shuffling the images destroys; see the expectations entry "
                    "calibration/random_not_significant for the raw and calibrated figures. Measured at smoke; the "
                    "reason does not depend on the scale."),)) for m, label in CALIBRATED),
    Claim("tlm_trained_pair_significant", "TLM: a stitch between two trained networks beats the same stitch "
          "trained on labels shuffled against the sender's images (p <= 0.05 in every cut)", ARISTOTELIAN,
          "calibration", "trained_significant", "tlm", expect="higher", threshold=0.99),
    Claim("tlm_random_pair_not_significant", "TLM: a stitch between two random networks does not beat the same "
          "stitch trained on shuffled labels (at most a third of the cuts significant per seed pair)", ARISTOTELIAN,
          "calibration", "random_not_significant", "tlm", expect="lower", threshold=0.34,
          known=((ALL, "Not reproduced at smoke, decided the other way: TLM's random -> random stitch into layer4.0 "
                  "reaches 0.647 / 0.668 accuracy against a shuffled-label null of 0.085 / 0.099 (p = 1/20, 2/2 seed "
                  "pairs): trained on the labels, it reads the digit out of a random sender's features through a "
                  "random receiver's last block; see calibration/random_not_significant. Measured at smoke; the "
                  "reason does not depend on the scale."),)),
    Claim("mknn_survives_calibration", "mkNN still rates trained pairs above random pairs after calibration "
          "(calibrated score, seed-paired)", ARISTOTELIAN, "calibration", "calibrated_trained_above_random", "mknn",
          expect="higher", threshold=0.05),
    Claim("tlm_stitches_clustered_noise", "TLM stitches a clustered-noise sender (a random code per class plus "
          "noise, no image content) into a trained receiver about as well as a trained sender (per-cut gap below "
          "0.05)", SMITH, "misleading", "clustered_noise_below_trained", "tlm", expect="lower", threshold=0.05),
    Claim("tlm_stitches_shortcut_sender", "TLM stitches a model trained on a shortcut cue into a clean model, on "
          "cue-free images, about as well as a clean sender (per-cut gap below 0.05)", SMITH, "misleading",
          "shortcut_sender_below_trained", "tlm", expect="lower", threshold=0.05,
          known=((("smoke",), "Inconclusive at smoke: the smallest per-cut gap in agreement is 0.040 / 0.071 / 0.083 "
                  "over the 3 seed pairs (one below 0.05); a cue-only model (about 0.2 accurate on cue-free "
                  "images) still stitches at 0.90-0.93 agreement against 0.98-0.99 from a clean model, so TLM "
                  "sees a small difference, not none."),
                 (("small",), "Inconclusive at small, measured on digits with small's settings (MNIST small not yet "
                  "measured): the smallest per-cut gap is 0.038 / 0.060 / 0.081 over the 3 seed pairs (one below "
                  "0.05), agreement 0.90-0.93 from the cue-only sender against 0.98-0.99: as at smoke."),)),
    Claim("tlm_stitches_cross_task_sender", "TLM stitches a network trained on another task over the same images "
          "(digit parity) into a digit classifier about as well as a digit classifier (per-cut gap below 0.05)",
          SMITH, "misleading", "cross_task_sender_below_trained", "tlm", expect="lower", threshold=0.05,
          scales=("small", "paper"),
          known=((("small",), "Inconclusive at small, measured on digits with small's settings (MNIST small not yet "
                  "measured): the smallest per-cut gap is 0.030 / 0.058 / 0.055 over the 3 seed pairs (one below "
                  "0.05): TLM stitches the parity network at 0.91-0.94 agreement against 0.98-0.99 from a digit "
                  "classifier, nearly as well but not within the margin in two pairs."),)),
    Claim("fula_rates_clustered_noise_below_tlm", "FuLA (hints, not labels) rates a clustered-noise sender as less "
          "alike than TLM does", "FuLA paper (task-cue artifacts); Smith et al. 2025", "misleading",
          "clustered_noise_below_trained", "fula", "tlm", expect="higher", margin=0.02,
          known=((("smoke",), "Inconclusive at smoke: FuLA's smallest per-cut gap -0.005 / 0.003 / -0.005 against "
                  "TLM's -0.008 / -0.005 / -0.008 (+0.004 on the mean, 3/3 seed pairs, margin 0.02): FuLA stitches the noise at "
                  "0.96-0.98 agreement too."),
                 (("small",), "Inconclusive at small, measured on digits with small's settings (MNIST small not yet "
                  "measured): FuLA's smallest per-cut gap -0.010 / 0.000 / -0.005 against TLM's -0.005 / -0.005 / "
                  "-0.010 (+0.002 on the mean, margin 0.02): FuLA stitches the noise at 0.97-0.99 agreement, as TLM "
                  "does."),)),
    *(Claim(f"{m}_sensitive_to_pc_deletion", f"{label}'s similarity falls in rank order with the functional change "
            "when the top principal components of a representation are deleted (Spearman >= 0.8 over the edits of "
            "two cuts, per seed pair; the test of Ding et al., not their figures)", "Ding, Denain & Steinhardt, "
            "NeurIPS 2021", "interventions", "sensitivity_spearman", m, expect="higher", threshold=0.8)
      for m, label in (("linear_cka", "Linear CKA"), ("mknn", "mkNN"), ("dm", "DM"))),
    Claim("linear_cka_more_specific_than_svcca", "Linear CKA is more specific than SVCCA, a CCA-based measure: a "
          "change of training seed alone lowers CKA less, against the receiver's PC-deletion curve at the same "
          "functional change (per-seed excess s_seed - s_curve)", "Ding, Denain & Steinhardt, NeurIPS 2021: CKA "
          "and CCA-based measures (their PWCCA) disagree on whether networks differing only in random "
          "initialization are alike, CKA rating them alike; SVCCA stands in for PWCCA", "interventions",
          "specificity_seed_change", "linear_cka", "svcca", expect="higher", margin=0.02),
    Claim("tlm_repairs_random_receiver_dm_does_not", "TLM repairs a random receiver; DM does not",
          "Bansal et al. 2021; Hernandez et al. 2023", "random_controls", "random_receiver_at_chance", "tlm", "dm",
          expect="higher", margin=0.1),
    Claim("tlm_repairs_random_receiver_fula_does_not", "TLM repairs a random receiver; FuLA does not",
          "Bansal et al. 2021; Hernandez et al. 2023", "random_controls", "random_receiver_at_chance", "tlm", "fula",
          expect="higher", margin=0.1),
)


@dataclass(frozen=True)
class Verdict:
    """A claim judged at a scale: its ``verdict`` (reproduced, not reproduced, inconclusive, not
    audited), the figure, and its ``status`` against the table (ok, FAIL, known, UNEXPECTED, not audited)."""

    key: str
    claim: str
    source: str
    testbed: str
    check: str
    stat: str
    methods: Tuple[str, ...]
    scale: str
    verdict: str
    figure: str
    status: str
    reason: str = ""
    value: Optional[float] = None
    agree: Optional[int] = None
    n: Optional[int] = None
    detail: Dict[str, Any] = field(default_factory=dict)


def _per_seed(rows: Sequence[CheckRow], testbed: str, check: str, method: str, stat: str) -> Optional[List[float]]:
    for r in rows:
        if isinstance(r, CheckRow) and (r.testbed, r.check, r.method) == (testbed, check, method):
            values = r.per_seed.get(stat)
            return None if values is None else [float("nan") if v is None else float(v) for v in values]
    return None


def judge(claim: Claim, check_rows: Sequence[CheckRow], scale: str) -> Verdict:
    """The claim, its verdict at ``scale``, the figure, and whether that was expected."""
    row = dict(key=claim.id, claim=claim.statement, source=claim.source, testbed=claim.testbed, check=claim.check,
               stat=claim.stat, methods=claim.methods(), scale=scale)
    first = _per_seed(check_rows, claim.testbed, claim.check, claim.method, claim.stat)
    second = (_per_seed(check_rows, claim.testbed, claim.check, claim.versus, claim.stat) if claim.versus
              else None if first is None else [claim.threshold] * len(first))
    known = claim.known_failure(scale)
    if first is None or second is None or len(first) != len(second):
        missing = [m for m in claim.methods() if _per_seed(check_rows, claim.testbed, claim.check, m, claim.stat) is None]
        return Verdict(**row, verdict="not audited", figure=f"no per-seed {claim.stat} of {claim.testbed}/"
                       f"{claim.check} for {', '.join(missing) or 'both methods on equal seeds'}",
                       status="not audited", reason=known or "")
    names = (claim.method, claim.versus or f"threshold {claim.threshold:g}")
    outcome = compare(first, second, claim.margin, claim.expect, names)
    verdict = outcome.detail["verdict"]
    if known:
        status = "UNEXPECTED" if verdict == REPRODUCED else "known"
    else:
        status = "ok" if verdict == REPRODUCED else "FAIL"
    return Verdict(**row, verdict=verdict, figure=outcome.figure, value=outcome.value,
                   agree=outcome.detail.get("agree"), n=outcome.detail.get("n"), status=status, reason=known or "",
                   detail=outcome.detail)


def judge_all(check_rows: Sequence[CheckRow], scale: str, claims: Sequence[Claim] = CLAIMS) -> List[Verdict]:
    """Every claim that applies at ``scale``, in table order."""
    return [judge(c, check_rows, scale) for c in claims if scale in c.scales]


def failures(claim_rows: Sequence[Verdict]) -> List[Verdict]:
    """Claims whose verdict is not what the table expects at this scale (they fail the run)."""
    return [r for r in claim_rows if r.status in ("FAIL", "UNEXPECTED")]
