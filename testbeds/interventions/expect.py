"""The interventions testbed's known failures (``EXPECTATIONS``: strict xfails or reported, per scale)
and the source papers' claims it judges (``CLAIMS``); plain data, loaded by
:mod:`stitchtest.audit.testbeds` without importing the test module."""
from stitchtest.audit.claims import Claim
from stitchtest.audit.expectations import Expectation, EVERY

#: where this testbed's claims stand in the summary's claims table
ORDER = 6

#: Ding's design at smoke (digits, R1111 width 8, 3 seed pairs, layer2.0 / layer3.0; docs/lab/ding-deletion.md)
CKA_KNOWN = ((("smoke",), "Not reproduced at smoke: linear CKA follows the functional change, Spearman 0.876 ± 0.033 "
              "(3 seed pairs, 0/3 below 0.8). Here the function lives in the top few directions: keeping the top 32 "
              "of 1,024 / 512 changes the edited network's accuracy by at most 0.4 points, and CKA moves by at most "
              "0.003 (0.921 -> 0.918 at layer2.0); the function falls only from 8 kept on (+0.061, +0.167, +0.535, "
              "+0.718 at 8, 4, 2, 1 kept, layer2.0) and CKA with it (0.879, 0.795, 0.644, 0.463). No low-variance "
              "deletion that changes function exists at this scale for CKA to miss. Small and paper not yet measured."),)
DM_KNOWN = ((("smoke",), "Not reproduced at smoke: Spearman 0.531 ± 0.119 (3 seed pairs, 0/3 at 0.8). DM's stitched "
             "accuracy from another seed *rises* while low-variance components go and the function does not change "
             "(layer2.0: 0.620 unedited, 0.672 with the top 32 kept; layer3.0 0.918 -> 0.955 with 16 kept): a "
             "least-squares map from fewer, higher-variance directions generalises better to the test images. It "
             "falls with the function from 4 kept on (layer2.0 0.408, 0.217, 0.122 at 4, 2, 1). Small and paper "
             "not yet measured."),)

EXPECTATIONS = (
    Expectation("interventions", EVERY, ("fula_bn",), "reported",
                "fula_bn (FuLA with the frozen networks' BatchNorm in train mode, as the FuLA authors' real-data runs) has not been through a full audit: its checks are measured and reported, not asserted, until a run decides which hold."),
    Expectation("interventions", "low_variance_deletion_spearman", ("dm",), "known-fail", DM_KNOWN[0][1], ("smoke",)),
    Expectation("interventions", "low_variance_deletion_spearman", ("svcca",), "known-fail",
                "SVCCA's score goes the wrong way: Spearman -0.876 ± 0.014 at smoke (3 seed pairs, measured "
                "2026-12-03 on the AMD EPYC; bound 0.8). SVCCA averages the canonical correlations over the "
                "directions the representations keep, so deleting the weakest directions drops the weakest "
                "correlations from the mean: the score rises as components go, whatever happens to the "
                "function. On constructed data (400 samples, 6 shared latent directions in 32 dimensions "
                "plus noise) SVCCA is 0.871 with all 32 components kept and 0.997 with 24, 8, 4 or 2, while "
                "linear CKA falls from 0.794 to 0.435 as the shared directions go.", ("smoke",)),
    Expectation("interventions", "specificity_seed_change", ("linear_cka", "procrustes", "svcca", "mknn"), "known-fail",
                "Ding, Denain & Steinhardt 2021: a seed change that leaves function alone should move similarity no "
                "more than an edit of the same functional change. At smoke two seeds of R1111 differ in test accuracy "
                "by 0, 1 and 2 of 397 images (|Δ accuracy| 0.000 / 0.003 / 0.005), so the yardstick is the receiver "
                "with at most one principal component deleted, which every measure rates 0.93-1.00 alike; the seed "
                "pairs score lower (seed means at layer2.0 / layer3.0: linear CKA 0.93 / 0.91, Procrustes 0.95 / "
                "0.92, SVCCA 0.83 / 0.74, mkNN 0.80 / 0.76). Excess s_seed - s_curve per seed pair (mean over both "
                "cuts; bound -0.02): linear CKA -0.063 / -0.096 / -0.025, Procrustes -0.058 / -0.073 / -0.041, SVCCA "
                "-0.213 / -0.226 / -0.209, mkNN -0.211 / -0.242 / -0.187; 0/3 seed pairs within the bound for each. "
                "Read on the disagreement instead (0.008-0.018 of the images, the curve on its edits' disagreement; "
                "reported only) CKA comes closest (-0.009 / -0.084 / +0.041), Procrustes -0.040 / -0.069 / -0.018, "
                "SVCCA and mkNN stay near -0.2. Another seed reshapes the representation by more than deleting its "
                "top component, while the network's accuracy does not move: the measures see what the function does "
                "not use. Measured at smoke; the reason does not depend on the scale."),
    Expectation("interventions", "specificity_seed_change", ("dm",), "known-fail",
                "Smoke (3 seed pairs): DM stitches another seed's layer2.0 into the receiver at 0.58 / 0.49 / 0.74 "
                "(as in the cross-layer testbed, where DM's diagonal into layer2.0 is 0.68) and layer3.0 at 0.91-0.94, "
                "against 0.98-0.99 from the receiver's own representation with at most one principal component "
                "deleted (the edit of the seed pairs' |Δ accuracy| 0.000-0.005): excess -0.230 / -0.281 / -0.157 "
                "(bound -0.02; layer3.0 alone -0.055 to -0.076). On the curve the map starts from a projection of the receiver's own "
                "activations and loses only the deleted directions; from another seed it must rebuild the "
                "receiver's activations linearly from a different network's, and what it cannot fit costs accuracy "
                "that neither network lacks. Small, measured on digits with small's settings (the same models; a "
                "closed form, so the same figures): -0.223, 0/3; MNIST small not yet measured.", ("smoke", "small")),
    Expectation("interventions", "specificity_seed_change", ("tlm", "slm", "fula", "fula_kl"), "known-fail",
                "The SGD objectives run here from small on. Measured on digits with small's settings "
                "(--stitch-scale small --stitch-data digits: smoke's R1111 models, stitches 300 steps x 128 images; "
                "MNIST small not yet measured): a stitch from another seed's layer2.0 / layer3.0 falls short of the "
                "receiver's own representation with at most one principal component deleted (the edit of the seed "
                "pairs' |Δ accuracy| 0.000-0.005, stitched at 0.98-0.99). Excess per seed pair (mean over both cuts; "
                "bound -0.02 in 3/3): TLM -0.018 / -0.012 / -0.022, SLM -0.020 / -0.011 / -0.020, fula_kl -0.024 / "
                "-0.014 / -0.024, FuLA -0.038 / -0.024 / -0.041. Narrowly for the objectives that match labels or "
                "outputs (2/3, 2/3, 1/3 seed pairs within the bound), more for FuLA (0/3), and far closer than DM "
                "(-0.223) and the measures (-0.06 to -0.22): trained on the receiver's labels or outputs, a stitch "
                "between seeds recovers all but 1-2 points of accuracy; matching the receiver's activations, as FuLA "
                "and DM do, it must rebuild them from a different network's, which costs more.", ("small",)),
)

CLAIMS = (
    *(Claim(f"{m}_detects_low_variance_deletion", f"{label}'s similarity to another seed's representation falls in "
            "rank order with the functional change when all but the top principal components of a representation are "
            "deleted (Spearman >= 0.8 over the edits of two cuts, per seed pair)", "Ding, Denain & Steinhardt, "
            "NeurIPS 2021 (design: js-d/sim_metric, experiments/pca_deletion/compute_dists.py; finding as issue #29 "
            "reads it, paper text not verified here)", "interventions", "low_variance_deletion_spearman", m,
            expect="higher", threshold=0.8, known=known)
      for m, label, known in (("procrustes", "Procrustes", ()), ("dm", "DM", DM_KNOWN))),
    Claim("linear_cka_misses_low_variance_deletion", "Linear CKA misses deletions of low-variance principal components "
          "that change the network's function: its similarity to another seed's representation does not fall in rank "
          "order with the functional change (Spearman below 0.8, per seed pair)", "Ding, Denain & Steinhardt, NeurIPS "
          "2021 (design: js-d/sim_metric, experiments/pca_deletion/compute_dists.py; finding as issue #29 reads it, "
          "paper text not verified here)", "interventions", "low_variance_deletion_spearman", "linear_cka",
          expect="lower", threshold=0.8, known=CKA_KNOWN),
    Claim("procrustes_more_sensitive_than_linear_cka_to_low_variance_deletion", "Procrustes follows low-variance "
          "deletions in rank order with the functional change better than linear CKA (per-seed Spearman)",
          "Ding, Denain & Steinhardt, NeurIPS 2021 (as issue #29 reads it, paper text not verified here)",
          "interventions", "low_variance_deletion_spearman", "procrustes", "linear_cka", expect="higher"),
    Claim("linear_cka_more_specific_than_svcca", "Linear CKA is more specific than SVCCA, a CCA-based measure: a "
          "change of training seed alone lowers CKA less, against the receiver's PC-deletion curve at the same "
          "functional change (per-seed excess s_seed - s_curve)", "Ding, Denain & Steinhardt, NeurIPS 2021: CKA "
          "and CCA-based measures (their PWCCA) disagree on whether networks differing only in random "
          "initialization are alike, CKA rating them alike; SVCCA stands in for PWCCA", "interventions",
          "specificity_seed_change", "linear_cka", "svcca", expect="higher"),
)
