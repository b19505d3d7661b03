"""The calibration testbed's known failures (``EXPECTATIONS``: strict xfails or reported, per scale)
and the source papers' claims it judges (``CLAIMS``); plain data, loaded by
:mod:`stitchtest.audit.testbeds` without importing the test module."""
from stitchtest.audit.claims import Claim
from stitchtest.audit.expectations import ALL, MEASURES, Expectation, EVERY

#: where this testbed's claims stand in the summary's claims table
ORDER = 4
ARISTOTELIAN = "Groger, Wen & Brbic, ICML 2026 (An Aristotelian view)"
#: the built-in measures whose scores this testbed sets against a permutation null
CALIBRATED = (("linear_cka", "Linear CKA"), ("procrustes", "Procrustes"), ("svcca", "SVCCA"), ("mknn", "mkNN"))

EXPECTATIONS = (
    Expectation("calibration", EVERY, ("fula_bn",), "reported",
                "fula_bn (FuLA with the frozen networks' BatchNorm in train mode, as the FuLA authors' real-data runs) has not been through a full audit: its checks are measured and reported, not asserted, until a run decides which hold."),
    Expectation("calibration", "random_not_significant", ("linear_cka", "procrustes", "svcca", "mknn"), "known-fail",
                "Two random networks of the same images are both functions of those images (a random network's "
                "features are close to an invertible projection of its input, docs/lab/facts.md#f3), so shuffling "
                "the images of one side destroys a real correspondence: every built-in measure finds random -> "
                "random significant in 9/9 cells at smoke (p = 1/51, the smallest 50 permutations give; raw "
                "score -> calibrated, seed means at layer1.0 / layer3.0 / layer4.0: linear CKA 0.90 / 0.72 / 0.49 -> "
                "0.85 / 0.62 / 0.39, Procrustes 0.94 / 0.81 / 0.66 -> 0.58 / 0.33 / 0.23, SVCCA 0.85 / 0.63 / 0.54 -> "
                "0.41 / 0.20 / 0.11, mkNN 0.74 / 0.57 / 0.38 -> 0.72 / 0.54 / 0.35). A permutation null removes what "
                "unrelated images would score (Procrustes' and SVCCA's 0.2-0.5, CKA's and mkNN's <= 0.1), not what "
                "the shared input gives; the trained pair stays above the random one after calibration "
                "(calibrated_trained_above_random). Measured at smoke; the reason does not depend on the scale."),
    Expectation("calibration", "random_not_significant", ("dm",), "known-fail",
                "Smoke (B = 19 refits with the training pairs shuffled, so p resolves to 1/20 = 0.05): 2/9 cells "
                "significant, both in seed pair 1 (layer4.0 0.116 against a null of mean 0.097, q95 0.107; layer1.0 "
                "0.103 against 0.101, q95 0.101), where at most 1 of 9 is allowed. DM stitches random -> random at "
                "chance (0.081-0.116, the random receivers' own accuracy 0.076-0.113) and its null is nearly "
                "degenerate: the refitted stitches land the random receiver on its constant prediction (0.101, the "
                "share of one class, in 5 of the 9 nulls' 95th percentiles), so a raw stitch that moves one test "
                "image (1/397) off it beats all 19. Calibrated random -> random 0.000 / +0.011 / +0.002 per seed pair, "
                "against +0.74-0.80 for the trained pair (9/9 significant at p = 1/20).", ("smoke",)),
    Expectation("calibration", "random_not_significant", ("tlm",), "known-fail",
                "TLM trains the stitch on the labels, so it repairs a random receiver whose rest after the cut is "
                "short (random_controls/random_receiver_at_chance; docs/lab/facts.md#f4 and #f10), and the null, the "
                "same stitch trained on labels shuffled against the sender's images, cannot: smoke (2 seed pairs "
                "into layer4.0, B = 19 retrainings, p down to 1/20): random -> random 0.647 / 0.668 stitched "
                "accuracy against a null of 0.085 / 0.099 (q95 0.141 / 0.151), p = 1/20 in 2/2 cells, calibrated "
                "+0.562 / +0.569; the trained pair +0.895 / +0.881. The null says the random sender carries the "
                "digit for a stitch to read out, not that the two networks compute alike. Measured at smoke; the "
                "reason does not depend on the scale."),
    Expectation("calibration", "random_not_significant", ("slm", "fula_kl"), "known-fail",
                "Smoke (2 seed pairs into layer4.0, B = 19 retrainings): 1/2 cells significant, seed pair 1, where "
                "none of 2 is allowed: SLM 0.134 against a null of mean 0.095 (q95 0.104), fula_kl 0.121 against "
                "0.097 (q95 0.109), the random receiver's own accuracy 0.113; seed pair 0 at its null (0.098 and "
                "0.101 against 0.101, p = 1.0). As DM's: matching a random receiver's outputs lands it near its "
                "constant prediction, so the null is nearly degenerate and a raw stitch a few test images above it "
                "beats all 19 (calibrated +0.038 and +0.023, against +0.88-0.90 for the trained pair). FuLA passes "
                "narrowly (seed pair 1: 0.116 against q95 0.110, p = 0.10).", ("smoke",)),
    Expectation("calibration", "random_not_significant", ("kind:objective",), "reported",
                "Measured for a user's objective, not asserted: whether a stitch between random networks beats the "
                "same stitch trained on shuffled pairs depends on what the objective matches (labels: TLM does; "
                "outputs: SLM and fula_kl by a few images; activations: FuLA and DM at the null)."),
    Expectation("calibration", "random_not_significant", MEASURES, "reported",
                "Measured for a user's measure, not asserted: whether two random networks of the same images look "
                "related beyond shuffled images depends on what the measure compares (the built-in ones all do)."),
)

CLAIMS = (
    *(Claim(f"{m}_trained_pair_significant", f"{label}: two trained networks of the same task are alike beyond "
            "chance (permutation null of shuffled images, p <= 0.05 in every cut)", ARISTOTELIAN, "calibration",
            "trained_significant", m, expect="higher", threshold=0.99) for m, label in CALIBRATED),
    Claim("tlm_trained_pair_significant", "TLM: a stitch between two trained networks beats the same stitch "
          "trained on labels shuffled against the sender's images (p <= 0.05 in every cut)", ARISTOTELIAN,
          "calibration", "trained_significant", "tlm", expect="higher", threshold=0.99),
    *(Claim(f"{m}_survives_calibration", f"{label}: after calibration, two trained networks are more alike than two "
            "random networks of the same images (Groger et al.'s calibrated score (s - tau) / (1 - tau), tau the "
            "shuffled-image null's 95% quantile; trained minus random, seed-paired, >= 0.05)", ARISTOTELIAN + "; code: "
            "mlbio-epfl/Aristotelian, aristotelian/metrics/calibration.py", "calibration",
            "calibrated_trained_above_random", m, expect="higher", threshold=0.05)
      for m, label in (*CALIBRATED, ("tlm", "TLM"))),
)
