"""The shortcut testbed's known failures (``EXPECTATIONS``: strict xfails or reported, per scale)
and the source papers' claims it judges (``CLAIMS``); plain data, loaded by
:mod:`stitchtest.audit.testbeds` without importing the test module."""
from stitchtest.audit.claims import Claim
from stitchtest.audit.expectations import Expectation, EVERY

#: where this testbed's claims stand in the summary's claims table
ORDER = 3

EXPECTATIONS = (
    Expectation("shortcut", EVERY, ("fula_bn",), "reported",
                "fula_bn (FuLA with the frozen networks' BatchNorm in train mode, as the FuLA authors' real-data runs) has not been through a full audit: its checks are measured and reported, not asserted, until a run decides which hold."),
    Expectation("shortcut", "shortcut_stitch_needs_cue", ("*",), "reported",
                "Smith et al. 2025: stitching measures what information is available, not what the "
                "network uses; whether the stitch needs the cue is measured, not assumed."),
    Expectation("shortcut", "separation_clean_data", ("fula", "fula_kl", "slm"), "known-fail",
                "Smoke: mean AUPRC 0.73 (FuLA), 0.74 (SLM, fula_kl) on agreement, threshold "
                "0.75; TLM 0.76, DM 0.77. In-group beats cross-group by a few points only on cue-free "
                "images (docs/lab/facts.md#f7: 2-7 points), the size of the seed spread; more seeds or "
                "harder data are needed. Small (MNIST): the same, 0.74 for both (per cut 0.73-0.77), "
                "TLM 0.77, DM 0.78: 2,000 real test digits and three seeds per group do not widen the "
                "gap.", ("smoke", "small")),
    Expectation("shortcut", "separation_clean_data", ("svcca",), "known-fail",
                "Small (MNIST, uncapped SVCCA): 0.38, ranking cross-group pairs above in-group ones; CKA and "
                "Procrustes 0.92-0.93. Smoke passes with the cap (0.78; uncapped 0.38).", ("small",)),
    Expectation("shortcut", "separation_cue_data", ("svcca",), "known-fail",
                "Small (MNIST, uncapped SVCCA): 0.59 (per cut 0.35-0.81); CKA and Procrustes 0.97-0.98. Smoke "
                "passes with the cap (0.76; uncapped 0.49).", ("small",)),
)

CLAIMS = (
    Claim("fula_rates_shortcut_less_alike_than_tlm", "FuLA rates shortcut and clean models as less alike than "
          "TLM does (cross-group agreement on cue-free images)", "FuLA paper (shortcut)", "shortcut",
          "separation_clean_data", "fula", "tlm", stat="mean_cross", expect="lower", pairing="ring",
          known=((("smoke",), "Not reproduced at smoke, decided the other way: FuLA's stitches agree with the "
                  "receiver on 0.759 of cue-free images across the groups against TLM's 0.700 (3 of 3 seed pairs), "
                  "and FuLA separates the groups less well (AUPRC 0.73 against 0.76). Matching the receiver's "
                  "activations makes every stitch agree with it more, in-group (0.78 vs 0.73) and across; a "
                  "shortcut sender's features still carry the digit (docs/lab/facts.md#f6), which FuLA's hints "
                  "transmit as readily as TLM's labels do."),)),
)
