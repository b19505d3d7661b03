"""The adversarial testbed's known failures (``EXPECTATIONS``: strict xfails or reported, per scale)
and the source papers' claims it judges (``CLAIMS``); plain data, loaded by
:mod:`stitchtest.audit.testbeds` without importing the test module."""
from stitchtest.audit.claims import Claim
from stitchtest.audit.expectations import ALL, EVERY, Expectation

#: where this testbed's claims stand in the summary's claims table
ORDER = 2

EXPECTATIONS = (
    Expectation("adversarial", EVERY, ("fula_bn",), "reported",
                "fula_bn (FuLA with the frozen networks' BatchNorm in train mode, as the FuLA authors' real-data runs) has not been through a full audit: its checks are measured and reported, not asserted, until a run decides which hold."),
    Expectation("adversarial", "separation_clean", ("tlm", "slm", "fula", "fula_kl", "dm"), "known-fail",
                "Robust and standard networks look alike when clean stitched accuracy is the readout "
                "(Balogh & Jelasity 2023 for TLM; docs/lab/facts.md#f12 measured it for TLM, FuLA and DM "
                "at this scale). Smoke: mean AUPRC 0.49-0.61 per cut (chance 0.50); the robustness "
                "readout separates them (0.84-0.94)."),
    Expectation("adversarial", "separation_clean", ("dm_hint",), "known-fail",
                "As for DM (the entry above): clean stitched accuracy does not tell robust from standard "
                "networks. Smoke, 3 seeds, measured 2026-12-03 on the AMD EPYC: dm_hint (the FuLA authors' "
                "cut-only \"DM\", Adam, 630 steps) mean AUPRC 0.58 over 4 cuts (per cut 0.52, 0.67, 0.52, 0.62; "
                "chance 0.50), threshold 0.75.", ("smoke",)),
    Expectation("adversarial", "separation_clean", ("svcca",), "known-fail",
                "Small (MNIST, uncapped SVCCA): 0.51 (per cut 0.35-0.75), where CKA and Procrustes separate "
                "the groups; SVCCA's invariance to invertible maps removes what differs. Smoke passes with "
                "the cap (0.83; uncapped 0.48).", ("small",)),
)

CLAIMS = (
    Claim("fula_separates_robust_better_than_tlm", "FuLA separates robust from standard networks better than "
          "TLM on stitched accuracy", "FuLA paper (adversarial)", "adversarial", "separation_clean", "fula", "tlm",
          expect="higher", pairing="ring",
          known=((("smoke",), "Inconclusive at smoke: per-seed AUPRC 0.77 / 0.65 / 0.69 for FuLA against 0.69 / 0.65 / "
                  "0.71 for TLM (+0.021 ± 0.055, 1 of 3 seed pairs higher). Clean stitched accuracy separates "
                  "neither (AUPRC near 0.6, docs/lab/facts.md#f12), and an AUPRC over 2 + 2 pairs per cut moves in "
                  "steps of 0.04-0.08, so three seed pairs cannot decide a difference this small."),)),
    Claim("fula_separates_robust_better_than_slm", "FuLA separates robust from standard networks better than "
          "SLM on stitched accuracy", "FuLA paper (adversarial)", "adversarial", "separation_clean", "fula", "slm",
          expect="higher", pairing="ring"),
    Claim("fula_separates_robust_better_than_tlm_on_robust_readout", "FuLA separates robust from standard "
          "networks better than TLM on the robustness readout", "FuLA paper (adversarial), robust readout",
          "adversarial", "separation_robust", "fula", "tlm", expect="higher", pairing="ring",
          known=((("smoke",), "Inconclusive at smoke: FuLA 0.96 / 0.96 / 0.92 against TLM 0.92 / 0.96 / 0.85 "
                  "(+0.035 ± 0.032; 2 of 3 seed pairs higher, one tied): both separate well (AUPRC 0.88-0.94), "
                  "and a tie at 0.958 leaves the third pair undecided."),)),
    Claim("fula_separates_robust_better_than_slm_on_robust_readout", "FuLA separates robust from standard "
          "networks better than SLM on the robustness readout", "FuLA paper (adversarial), robust readout",
          "adversarial", "separation_robust", "fula", "slm", expect="higher", pairing="ring",
          known=((("smoke",), "Inconclusive at smoke: FuLA 0.96 / 0.96 / 0.92 against SLM 0.96 / 0.96 / 0.85 "
                  "(+0.021 ± 0.036): two seed pairs tie at 0.958, one favours FuLA."),)),
    # the same four claims read on a continuous per-seed statistic: mean in-group minus mean
    # cross-group similarity, which does not tie the way an AUPRC over 2 + 2 pairs per cut does
    Claim("fula_separates_robust_better_than_tlm_gap", "FuLA separates robust from standard networks better than "
          "TLM on stitched accuracy (in-group minus cross-group accuracy)", "FuLA paper (adversarial)", "adversarial",
          "separation_clean", "fula", "tlm", stat="gap", expect="higher", pairing="ring",
          known=((("smoke",), "Inconclusive at smoke: on clean stitched accuracy in-group pairs are no more alike "
                  "than cross-group pairs for either method (gap FuLA -0.004, TLM -0.002 in mean accuracy; "
                  "difference -0.002 ± 0.006, 1 of 3 seed pairs higher). The continuous statistic does not tie, so "
                  "this is no resolution limit: clean accuracy does not separate robust from standard networks at "
                  "all here (docs/lab/facts.md#f12), for FuLA no more than for TLM."),)),
    Claim("fula_separates_robust_better_than_slm_gap", "FuLA separates robust from standard networks better than "
          "SLM on stitched accuracy (in-group minus cross-group accuracy)", "FuLA paper (adversarial)", "adversarial",
          "separation_clean", "fula", "slm", stat="gap", expect="higher", pairing="ring",
          known=((("smoke",), "Inconclusive at smoke: gap FuLA -0.004, SLM -0.005 in mean clean accuracy (difference "
                  "+0.001 ± 0.006, 2 of 3 seed pairs higher, by less than the 0.01 margin): neither separates the groups on "
                  "clean accuracy (docs/lab/facts.md#f12). The AUPRC claim against SLM reproduces (3/3) on rank "
                  "differences that are this small in accuracy."),)),
    Claim("fula_separates_robust_better_than_tlm_on_robust_readout_gap", "FuLA separates robust from standard "
          "networks better than TLM on the robustness readout (in-group minus cross-group)",
          "FuLA paper (adversarial), robust readout", "adversarial", "separation_robust", "fula", "tlm", stat="gap",
          expect="higher", pairing="ring"),
    Claim("fula_separates_robust_better_than_slm_on_robust_readout_gap", "FuLA separates robust from standard "
          "networks better than SLM on the robustness readout (in-group minus cross-group)",
          "FuLA paper (adversarial), robust readout", "adversarial", "separation_robust", "fula", "slm", stat="gap",
          expect="higher", pairing="ring",
          known=((("smoke",), "Inconclusive at smoke: on the robustness readout FuLA's gap (0.369) and SLM's (0.371) "
                  "are equal within noise (difference -0.002 ± 0.007, 1 of 3 seed pairs higher); against TLM the "
                  "same statistic reproduces (+0.018 ± 0.008, 3/3). One reading, not tested here: SLM matches the "
                  "robust receiver's soft outputs, which may carry its robustness as FuLA's hints do."),)),
    Claim("fula_cross_task_separates_robust_better_than_tlm", "Across tasks (a parity-trained sender into a digit "
          "receiver) FuLA separates robust from standard networks better than TLM on the robustness readout "
          "(in-group minus cross-group)", "FuLA paper (Fig. 4, cross-task stitching under adversarial training, "
          "ResNet18; FuLA above TLM follows its summary, 'more reliable ... in adversarial training'; the parity -> "
          "class pairing and the robust_gap readout are this project's)", "adversarial", "cross_task_separation_robust",
          "fula", "tlm", stat="gap", expect="higher", pairing="ring",
          needs=((("smoke",), "cross-task senders (trained on parity): the zoo trains them at small and paper"),)),
    Claim("fula_similarity_falls_with_eps_difference", "FuLA's similarity between adversarially trained networks "
          "falls with the difference of their training radii (Spearman against |eps_sender - eps_receiver| < 0)",
          "derived: the FuLA paper stitches networks adversarially trained at several strengths (Fig. 5 shows "
          "alpha = 1 of them); that similarity should fall with the radius difference, a graded ground truth, is "
          "this project's reading, not a figure of the paper", "adversarial", "graded_eps", "fula", stat="spearman",
          expect="lower", threshold=0.0, pairing="ring",
          needs=((ALL, "models adversarially trained at several radii: each scale trains one eps, and no check "
                  "stitches across radii yet"),)),
)
