"""What was committed keeps working across the redesign: the example plug-in's committed baseline
loads, serves as the rows a resumed audit reuses, compares with itself without a change, and
``stitchtest report`` renders it into the very testbed reports the code before the redesign wrote.

``tests/golden/baseline_reports/`` holds those reports, rendered from the committed baseline by the
code before the typed keys and readout specs; regenerate them (only when a report is meant to
change) with ``stitchtest report examples/stitchtest-cosine/baseline.jsonl -o DIR`` and copy the
testbed pages (not ``summary.md``, whose claims table follows the testbeds' ``expect.py``)."""
from pathlib import Path

import pytest

from stitchtest.cli import main
from stitchtest.records import CellRow, of_kind
from stitchtest.records import baseline as baseline_mod
from stitchtest.records.keys import CellKey

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "examples" / "stitchtest-cosine" / "baseline.jsonl"
GOLDEN = Path(__file__).resolve().parent / "golden" / "baseline_reports"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    assert main(["report", str(BASELINE), "-o", str(out)]) == 0
    return out


@pytest.mark.parametrize("page", sorted(p.name for p in GOLDEN.glob("*.md")))
def test_report_of_the_committed_baseline_gives_the_same_testbed_reports(rendered, page):
    assert (rendered / page).read_text(encoding="utf-8") == (GOLDEN / page).read_text(encoding="utf-8")


def test_the_golden_pages_are_every_testbed_page(rendered):
    pages = sorted(p.name for p in rendered.glob("*.md") if p.name != "summary.md")
    assert pages == sorted(p.name for p in GOLDEN.glob("*.md")) and len(pages) >= 6


def test_the_committed_baseline_compares_with_itself_without_a_change(capsys):
    base = baseline_mod.load(BASELINE)
    comparison = baseline_mod.compare(base, base)
    assert not comparison.changes and not comparison.moves
    assert main(["compare", str(BASELINE), str(BASELINE)]) == 0


def test_the_committed_baselines_cell_keys_are_typed_keys_a_resumed_audit_finds():
    """A resumed audit reuses a row by its key (``done``) and, for another testbed, by the key
    without its testbed (``by_work``): both read the committed rows' keys as they are."""
    from stitchtest.audit import Audit
    from stitchtest.audit.scales import SCALES
    from stitchtest.data import DataSpec

    cells = of_kind(baseline_mod.load(BASELINE).rows, CellRow)
    assert len(cells) > 100
    for row in cells:
        key = CellKey.parse(row.key, row.testbed, row.method_id, row.cell)
        assert str(key) == row.key and key.testbed == row.testbed
    done = {r.key: r for r in cells}
    audit = Audit(SCALES["smoke"], DataSpec("digits"), zoo=None, writer=None, done=done)
    assert set(audit.by_work) == {CellKey.parse(k, r.testbed, r.method_id).work for k, r in done.items()}
