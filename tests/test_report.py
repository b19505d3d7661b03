"""``stitchtest.audit.report``: markdown summary, per-testbed evidence and heatmaps from synthetic rows."""
from __future__ import annotations

import errno
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

from stitchtest.records import Record, RunSettings
from stitchtest.audit.report import OUTCOME_LABELS, heatmap, matrix, write_reports

# Names sort differently from depths, so ordering by depth is visible.
CUTS = [("stem", 0.1), ("layer2.0", 0.5), ("head", 0.9)]
PAIRS = ["trained->trained", "trained->random"]
SEEDS = [0, 1]
METHODS = {"tlm": "tlm()", "linear_cka": "linear_cka(debiased=False)"}
FAILURE = "non-finite loss at step 12"
SETTINGS = RunSettings("smoke", "digits", 2, versions={"torch": "2.5.0", "stitchtest": "0.1.0"},
                       command="pytest testbeds -n 2 | tee log")
ABOUT = {"device": "cpu", "wall_time_s": 12.34567}


def base(i, j, seed):
    return 0.5 + 0.1 * i + 0.01 * j + 0.002 * seed


def cell_rows():
    rows = []
    for method, method_id in METHODS.items():
        for pair in PAIRS:
            for seed in SEEDS:
                for i, (s_cut, s_depth) in enumerate(CUTS):
                    for j, (r_cut, r_depth) in enumerate(CUTS):
                        if method == "tlm":
                            readouts = {"accuracy": base(i, j, seed), "latent_error": 0.3 + 0.05 * j,
                                        "latent_error@head": 0.2}
                        else:
                            readouts = {"score": base(i, j, seed)}
                        if (method, pair, seed, s_cut, r_cut) == ("tlm", "trained->random", 1, "stem", "head"):
                            readouts = {"failure": FAILURE}
                        rows.append(Record.from_json({
                            "kind": "cell", "key": f"cross_layer|{method_id}|{pair}:{s_cut}->{r_cut}:{seed}|c",
                            "testbed": "cross_layer", "method": method, "method_id": method_id,
                            "cell": f"{s_cut}->{r_cut}", "pair": pair,
                            "sender": f"standard/s{seed}", "sender_cut": s_cut, "sender_depth": s_depth,
                            "receiver": f"standard/s{seed + 1}", "receiver_cut": r_cut, "receiver_depth": r_depth,
                            "seed": seed, "readouts": readouts, "worker": "gw0", "time": 0.0}))
    return rows


CHECKS = [  # testbed, check, method, outcome, value, reason
    ("random_controls", "trained_beats_random_sender", "tlm", "pass", 0.32, None),
    ("random_controls", "trained_beats_random_sender", "linear_cka", "fail", 0.01, None),
    ("cross_layer", "triangle", "tlm", "known-fail", -0.05, "task loss ignores the receiver (Smith 2024)"),
    ("cross_layer", "triangle", "linear_cka", "unexpected-pass", 0.4, "CKA was expected to fail"),
    ("cross_layer", "diagonal_peak", "tlm", "reported", None, None),
]


def check_rows():
    return [Record.from_json({"kind": "check", "key": f"{t}|{c}|{m}", "testbed": t, "check": c, "method": m,
                              "readout": "accuracy", "outcome": o, "value": v, "reason": why,
                              "figure": f"diff {v} for {m} on {c}", "worker": "gw0", "time": 0.0})
            for t, c, m, o, v, why in CHECKS]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    paths = write_reports(cell_rows() + check_rows(), out, SETTINGS, ABOUT)
    return out, paths


def test_summary_names_methods_checks_outcomes_and_config(report):
    out, paths = report
    summary = (out / "summary.md").read_text()
    assert out / "summary.md" in paths
    for method in METHODS:
        assert method in summary
    for testbed, check, *_ in CHECKS:
        assert f"{testbed}/{check}" in summary
    for label in OUTCOME_LABELS.values():
        assert label in summary
    assert "pass (+0.320)" in summary and "FAIL (+0.010)" in summary
    for value in ("smoke", "digits", "cpu", "stitchtest=0.1.0, torch=2.5.0", "12.346", r"-n 2 \| tee log"):
        assert value in summary
    assert "[cross_layer](cross_layer.md)" in summary and "[random_controls](random_controls.md)" in summary


def test_testbed_report_has_stats_failures_and_heatmaps(report):
    out, paths = report
    text = (out / "cross_layer.md").read_text()
    assert "±" in text
    assert f"failed: {FAILURE} (1/2 seeds)" in text
    assert "task loss ignores the receiver (Smith 2024)" in text
    # mean ± sample std over the two seeds of tlm, trained->trained, stem -> stem
    assert f"{base(0, 0, 0) + 0.001:.3f} ± {np.std([base(0, 0, 0), base(0, 0, 1)], ddof=1):.3f}" in text
    links = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", text)
    assert links
    for link in links:
        assert (out / link).read_bytes().startswith(b"\x89PNG")
    # tlm: accuracy + latent_error, linear_cka: score; for each of two pairs
    figures = sorted((out / "figures").glob("*.png"))
    assert len(figures) == len(links) == 2 * 2 + 1 * 2
    assert set(figures) <= set(paths)
    assert (out / "figures" / "cross_layer-tlm-trained-to-trained-accuracy.png") in figures
    assert "trained_beats_random_sender" in (out / "random_controls.md").read_text()


def test_reports_are_deterministic(report, tmp_path):
    out, _ = report
    write_reports(list(reversed(cell_rows() + check_rows())), tmp_path, SETTINGS, ABOUT)
    for name in ("summary.md", "cross_layer.md", "random_controls.md"):
        assert (tmp_path / name).read_text() == (out / name).read_text()
    for png in (out / "figures").glob("*.png"):
        assert (tmp_path / "figures" / png.name).read_bytes() == png.read_bytes()


def test_no_rows_still_give_a_summary(tmp_path):
    assert write_reports([], tmp_path, None) == [tmp_path / "summary.md"]
    assert "No checks were recorded." in (tmp_path / "summary.md").read_text()


def _disk_full_after(n):
    """A writer that writes ``n`` characters (or bytes) of what it was given, then fails as a full disk does."""
    def write(path, data):
        with open(path, "w" if isinstance(data, str) else "wb") as f:
            f.write(data[:n])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return write


def test_a_full_disk_leaves_the_previous_reports_whole(tmp_path, monkeypatch):
    """Issue 27, 9: reports are replaced atomically, so a disk that fills up half-way leaves the
    previous summary and figures as they were (not truncated), and no temporary file behind."""
    write_reports(check_rows(), tmp_path, SETTINGS, ABOUT)
    figure = tmp_path / "grid.png"
    heatmap(["a", "b"], ["a", "b"], np.eye(2), "grid", figure, "score")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    full = _disk_full_after(100)
    monkeypatch.setattr(Path, "write_text", lambda self, text, **kw: full(self, text))
    with pytest.raises(OSError, match="No space left on device") as err:
        write_reports(check_rows()[:2], tmp_path, SETTINGS, {**ABOUT, "device": "cuda"})
    assert err.value.filename == str(tmp_path / "summary.md")  # the report, not a temporary name
    monkeypatch.setattr("matplotlib.figure.Figure.savefig",
                        lambda fig, path, **kw: full(path, b"\x89PNG\r\n" * 100))
    with pytest.raises(OSError, match="No space left on device"):
        heatmap(["a", "b"], ["a", "b"], np.ones((2, 2)), "grid", figure, "score")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_matrix_orders_cuts_by_depth_and_averages_seeds():
    rows = [r for r in cell_rows() if r.method == "tlm" and r.pair == "trained->trained"]
    senders, receivers, mean = matrix(rows, "accuracy")
    assert senders == receivers == ["stem", "layer2.0", "head"]
    assert mean.shape == (3, 3)
    assert mean[2, 1] == pytest.approx(base(2, 1, 0) + 0.001)  # head -> layer2.0, mean of seeds 0, 1


def test_matrix_marks_failed_and_missing_cells_nan():
    rows = [r for r in cell_rows() if r.method == "tlm" and r.pair == "trained->random"]
    _, _, mean = matrix(rows, "accuracy")
    assert math.isnan(mean[0, 2])  # stem -> head failed on seed 1
    assert np.isfinite(np.delete(mean.ravel(), 2)).all()
    _, _, missing = matrix(rows, "score")
    assert np.isnan(missing).all()


def test_exhibits_render_as_tables_and_image_grids(tmp_path):
    """Reported tables and image grids (e.g. the sanity table, reconstructions) land in the testbed file."""
    rows = [Record.from_json(r) for r in [
        {"kind": "exhibit", "key": "tb|table", "testbed": "tb", "name": "table", "title": "A table",
         "text": "Why it is here.", "table": {"headers": ["statistic", "mean"], "rows": [["EV", "0.4321"]]},
         "images": None},
        {"kind": "exhibit", "key": "tb|grid", "testbed": "tb", "name": "grid", "title": "A grid", "text": "",
         "table": None, "images": {"labels": ["input", "stem"], "images": np.zeros((2, 3, 4, 4)).tolist()}},
    ]]
    paths = write_reports(rows, tmp_path, None)
    text = (tmp_path / "tb.md").read_text()
    assert "## Reported" in text and "### A table" in text and "Why it is here." in text
    assert "| EV          | 0.4321 |" in text
    assert "![A grid](figures/tb-grid.png)" in text
    assert tmp_path / "figures" / "tb-grid.png" in paths
    assert (tmp_path / "figures" / "tb-grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_audited_method_keeps_its_column(tmp_path):
    """A method whose tests all errored recorded no check, yet it was audited: its row stays."""
    write_reports(check_rows(), tmp_path, RunSettings("smoke", "digits", 2, audited=("linear_cka", "tlm", "errored")))
    summary = (tmp_path / "summary.md").read_text()
    (line,) = [row for row in summary.splitlines() if row.startswith("| errored")]
    assert line.count("—") == len({(t, c) for t, c, *_ in CHECKS})


def test_heatmap_colour_ranges_are_fixed_per_readout(tmp_path):
    from stitchtest.audit.report import colour_range, heatmap

    chance_grid = np.array([[0.101, 0.107], [0.104, np.nan]])
    assert colour_range("accuracy", chance_grid) == (0.0, 1.0)  # not 0.101-0.107
    assert colour_range("latent_error@layer2.0", chance_grid) == (0.0, 1.0)
    assert colour_range("kl", np.array([[0.5, 2.0]])) == (0.0, 2.0)
    assert colour_range("ev", chance_grid) == (None, None)  # unknown readouts fit their figure
    for readout in ("accuracy", "latent_error", "kl", None):
        heatmap(["a", "b"], ["a", "b"], chance_grid * 12, readout or "none", tmp_path / f"{readout}.png", readout, 0.1)
        assert (tmp_path / f"{readout}.png").read_bytes()[:4] == b"\x89PNG"


def test_a_diagonal_only_grid_is_not_drawn_as_a_heatmap(tmp_path):
    from stitchtest.audit.report import diagonal_only

    rows = [r for r in cell_rows() if r.sender_cut == r.receiver_cut and r.method == "linear_cka"]
    write_reports(rows, tmp_path, SETTINGS, ABOUT)
    text = (tmp_path / "cross_layer.md").read_text()
    assert "score: matched cuts only" in text and "![" not in text
    assert not list(tmp_path.glob("figures/*.png"))
    assert diagonal_only(["a", "b"], ["a", "b"], np.array([[1.0, np.nan], [np.nan, 2.0]]))
    assert not diagonal_only(["a", "b"], ["a", "b"], np.array([[1.0, 3.0], [np.nan, 2.0]]))


def test_a_subset_run_leads_with_what_ran_and_collapses_unjudged_claims(tmp_path):
    """Issue 32: one testbed and two methods printed a 36-row "not audited" claims table at the top of
    summary.md; the checks that ran started at line 93 of 113."""
    settings = RunSettings("smoke", "digits", 2, audited=("linear_cka", "tlm"))
    write_reports(cell_rows() + check_rows(), tmp_path, settings, ABOUT)
    lines = (tmp_path / "summary.md").read_text().splitlines()
    assert lines[2] == ("This run: testbeds cross_layer, random_controls; methods linear_cka, tlm; 5 checks "
                        "(1 FAIL, 1 UNEXPECTED PASS, 1 known-fail, 1 pass, 1 reported); 3 claim(s): 3 not testable.")
    skipped = [l for l in lines if "not audited in this run" in l]
    assert len(skipped) == 1 and skipped[0] == lines[4]
    assert re.fullmatch(r"\d+ claim\(s\) not audited in this run: need methods (\w+, )*dm(, \w+)* on testbeds "
                        r"(\w+, )*adversarial(, \w+)*\.", skipped[0])
    # none tested: the table holds only TLM's claims that smoke lacks the models or cells for (needs)
    table = [l for l in lines[lines.index("## Claims"):] if l.startswith("| ") and "| claim " not in l][:3]
    assert len(table) == 3 and all("not testable at this scale: " in l for l in table)
    assert lines.index("## Checks") < 40  # after the ranking and the configuration; was past 90
