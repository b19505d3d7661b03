"""Cross-layer stitching: the full sender-cut x receiver-cut matrix (Hernandez et al. 2023).

Checks, each on the method's primary readout (stitched accuracy, or the measure's score):
diagonal dominance (proportional depth when the architectures differ), layer monotonicity
(ReSi's Spearman of similarity against depth distance), and the triangle (a deep sender
stitching into every shallower receiver as well as on the diagonal).

Receiver cuts differ in how hard they are to stitch into (a wide early cut is harder to match
than the last block, whatever the sender; SCIENCE.md fact 16), so the layer-structure checks
compare senders *within a receiver column*: diagonal dominance asks, for each receiver cut, whether
the depth-matched sender beats the far ones, and monotonicity ranks similarities after removing
each column's mean. For objectives the triangle
is also checked on ``fit_r2`` (how much of the receiver's representation at the cut the stitch
reproduces), the latent readout that SCIENCE.md fact 15 found exposes it.
"""
import numpy as np
import pytest

from stitchtest import checks
from stitchtest.audit import Planned
from stitchtest.cells import Cell

from _grids import grid

pytestmark = pytest.mark.testbed("cross_layer")
TESTBED = "cross_layer"
TRIANGLE = 0.9  # deep->shallow at >= 90% of the diagonal's level counts as "the triangle is there"


def full_grid(audit, arch):
    planned = []
    for k in range(audit.scale.seeds):
        a, b = audit.spec(seed=k), audit.spec(seed=100 + k, arch=arch)
        pair = f"{audit.scale.arch}->{arch}"
        for i in audit.zoo.model(a).spatial_cuts:
            planned += [Planned(Cell(a, i, b, j), pair, k) for j in audit.zoo.model(b).spatial_cuts]
    return planned


@pytest.fixture(params=["R1111", "R2222"])
def arch(request, audit):
    if request.param not in audit.scale.cross_archs:
        pytest.skip(f"{request.param} is not a cross-layer partner at --scale {audit.scale.name}")
    return request.param


def suffix(arch, audit):
    return "" if arch == audit.scale.arch else f"[{arch}]"


def column_dominance(m, ds, dr):
    """Per receiver column: the depth-matched sender against far senders (transpose of the row form)."""
    return checks.diagonal_dominance(m, ds, dr, far=0.5, by="receiver")


def column_monotonicity(m, ds, dr):
    """Spearman of similarity against depth distance after removing each receiver column's mean."""
    return checks.layer_monotonicity(m - np.nanmean(m, axis=0, keepdims=True), ds, dr, threshold=0.5)


def test_diagonal_dominance(audit, method, arch):
    m, ds, dr = grid(audit.cells(TESTBED, method, full_grid(audit, arch)), method.primary)
    audit.expect(TESTBED, "diagonal_dominance" + suffix(arch, audit), method, method.primary,
                 column_dominance(m, ds, dr))


def test_layer_monotonicity(audit, method, arch):
    m, ds, dr = grid(audit.cells(TESTBED, method, full_grid(audit, arch)), method.primary)
    audit.expect(TESTBED, "layer_monotonicity" + suffix(arch, audit), method, method.primary,
                 column_monotonicity(m, ds, dr))


def test_latent_readout_monotonicity(audit, method, arch):
    """Monotonicity and diagonal dominance again on ``fit_r2``: accuracy saturates on easy data (fact 2)."""
    if method.kind != "objective":
        pytest.skip("a latent readout exists only for stitches")
    m, ds, dr = grid(audit.cells(TESTBED, method, full_grid(audit, arch)), "fit_r2")
    audit.expect(TESTBED, "layer_monotonicity_fit_r2" + suffix(arch, audit), method, "fit_r2",
                 column_monotonicity(m, ds, dr))


def test_latent_readout_diagonal(audit, method, arch):
    if method.kind != "objective":
        pytest.skip("a latent readout exists only for stitches")
    m, ds, dr = grid(audit.cells(TESTBED, method, full_grid(audit, arch)), "fit_r2")
    audit.expect(TESTBED, "diagonal_dominance_fit_r2" + suffix(arch, audit), method, "fit_r2",
                 column_dominance(m, ds, dr))


def test_triangle_absent(audit, method, arch):
    """A faithful similarity should not rate deep->shallow stitches like the diagonal."""
    m, ds, dr = grid(audit.cells(TESTBED, method, full_grid(audit, arch)), method.primary)
    audit.expect(TESTBED, "triangle_absent" + suffix(arch, audit), method, method.primary,
                 checks.triangle(m, ds, dr, threshold=TRIANGLE, expect_present=False))


def test_triangle_absent_on_latent_readout(audit, method, arch):
    if method.kind != "objective":
        pytest.skip("a latent readout exists only for stitches")
    m, ds, dr = grid(audit.cells(TESTBED, method, full_grid(audit, arch)), "fit_r2")
    audit.expect(TESTBED, "triangle_absent_fit_r2" + suffix(arch, audit), method, "fit_r2",
                 checks.triangle(m.clip(min=0.0), ds, dr, threshold=TRIANGLE, expect_present=False))
