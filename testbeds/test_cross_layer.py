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


@pytest.fixture(params=["primary", "fit_r2"])
def readout(request, method):
    """Each check on the method's primary readout, and for objectives again on ``fit_r2``."""
    if request.param == "primary":
        return method.primary
    if method.kind != "objective":
        pytest.skip("a latent readout exists only for stitches")
    return "fit_r2"


def name(check, readout, arch, audit):
    """Check name as reported: ``diagonal_dominance``, ``..._fit_r2``, ``...[R2222]``."""
    return check + ("_fit_r2" if readout == "fit_r2" else "") + suffix(arch, audit)


def similarity_grid(audit, method, arch, readout):
    return grid(audit.cells(TESTBED, method, full_grid(audit, arch)), readout)


def test_diagonal_dominance(audit, method, arch, readout):
    """Per receiver column: the depth-matched sender beats far senders."""
    m, ds, dr = similarity_grid(audit, method, arch, readout)
    audit.expect(TESTBED, name("diagonal_dominance", readout, arch, audit), method, readout,
                 checks.diagonal_dominance(m, ds, dr, far=0.5, by="receiver"))


def test_layer_monotonicity(audit, method, arch, readout):
    """Spearman of similarity against depth distance after removing each receiver column's mean."""
    m, ds, dr = similarity_grid(audit, method, arch, readout)
    audit.expect(TESTBED, name("layer_monotonicity", readout, arch, audit), method, readout,
                 checks.layer_monotonicity(m - np.nanmean(m, axis=0, keepdims=True), ds, dr, threshold=0.5))


def test_triangle_absent(audit, method, arch, readout):
    """A faithful similarity should not rate deep->shallow stitches like the diagonal."""
    m, ds, dr = similarity_grid(audit, method, arch, readout)
    audit.expect(TESTBED, name("triangle_absent", readout, arch, audit), method, readout,
                 checks.triangle(m.clip(min=0.0), ds, dr, threshold=TRIANGLE, expect_present=False))
