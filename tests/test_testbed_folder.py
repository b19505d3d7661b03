"""A testbed is one folder: docs/extending/testbed.md's worked example, written as it stands there
into a plug-in package that an entry point installs, runs under xdist (the controller imports no
test module, yet applies the folder's expectations and judges its claim) and is re-rendered offline
by ``stitchtest report``; and the registry's rules for the built-in folders."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import stitchtest.plugin.relay  # noqa: F401  (numpy with it) before pytester's sys.modules snapshot, which
# would drop modules first imported during a test: this session's plugin re-imports the relay after it
from stitchtest.audit import testbeds as registry
from stitchtest.audit.expectations import expectation

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "extending" / "testbed.md"
CONFTEST = '''
import stitchtest.audit.scales as scales
scales.SCALES["smoke"] = scales.Scale("smoke", width=4, epochs=1, seeds=2, steps=5)
'''
CLAIM_LINE = "| Linear CKA rates every network as alike to itself"


def doc_files():
    """``{path: text}`` of each file the doc shows under a bold ``path`` line."""
    blocks = re.findall(r"\*\*`([^`]+)`\*\*[^\n]*\n\n```\w*\n(.*?)```", DOC.read_text(), re.S)
    return dict(blocks)


def install(site: Path):
    """What ``pip install`` of the plug-in leaves: its files, and its entry points in a dist-info."""
    files = doc_files()
    for path, text in files.items():
        if path.startswith("my_testbeds/"):
            (site / path).parent.mkdir(parents=True, exist_ok=True)
            (site / path).write_text(text)
    group, line = re.search(r'\[project\.entry-points\."([^"]+)"\]\n(.*)\n', files["pyproject.toml"]).groups()
    name, value = (s.strip().strip('"') for s in line.split("="))
    info = site / "my_testbeds-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-testbeds\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {value}\n")


def test_the_docs_example_is_a_plug_in_testbed_whose_expectations_and_claim_apply(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("STITCHTEST_CACHE", str(tmp_path / "cache"))
    site = pytester.path / "site"  # below the conftest that makes the scale tiny
    install(site)
    assert sorted(p.name for p in (site / "my_testbeds" / "self_check").iterdir()) == [
        "README.md", "expect.py", "test_self_check.py"]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))
    pytester.makeconftest(CONFTEST)

    result = pytester.runpytest_subprocess(str(site / "my_testbeds"), "--stitch-methods", "dm,linear_cka",
                                           "-p", "no:cacheprovider", "-n", "2", "-rxs")
    result.assert_outcomes(passed=2, xfailed=1, skipped=1)  # depths_alike: linear CKA's known failure
    result.stdout.fnmatch_lines(["*XFAIL*depths_alike*Two depths of one network compute different features*"])
    # the controller judged it: 2 seed pairs cannot decide a claim (the exact test's p >= 0.25), and say so
    result.stdout.fnmatch_lines(["*undecided*undecided*cka_rates_a_network_like_itself*2 of 2 (needs 6)*"])
    assert result.ret == 0
    summary = (pytester.path / "reports" / "summary.md").read_text()
    line = next(l for l in summary.splitlines() if l.startswith(CLAIM_LINE))
    assert "| undecided " in line and "2 of 2 (needs 6)" in line and "Kornblith et al. 2019" in line
    assert "`cka_rates_a_network_like_itself` (self_check/self_stitch)" in summary
    assert "self_check/depths_alike" in summary and "known-fail" in summary
    assert (pytester.path / "reports" / "self_check.md").exists()

    env = {**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"]}
    again = subprocess.run([sys.executable, "-m", "stitchtest.cli", "report", "results", "-o", "again"],
                           cwd=pytester.path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    offline = (pytester.path / "again" / "summary.md").read_text()
    head = summary.index("## Run configuration")  # below it: what the live session knew (its timing)
    assert offline[:head] == summary[:head] and CLAIM_LINE in offline  # the same claims, judged offline

    listed = subprocess.run([sys.executable, "-m", "stitchtest.cli", "audit", "--collect-only", "-q",
                             "--stitch-methods", "dm", "-p", "no:cacheprovider"],
                            cwd=tmp_path, env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "self_check/test_self_check.py::test_self_stitch[dm]" in listed.stdout  # beside the built-in ones
    assert "random_controls/test_random_controls.py::test_self_stitch_matches_receiver[dm]" in listed.stdout


def test_every_built_in_testbed_is_a_folder_with_its_module_entries_and_readme():
    folders = sorted(p.parent for p in (ROOT / "testbeds").glob("*/expect.py"))
    assert [f.name for f in folders] == [t.name for t in sorted(registry.testbeds(), key=lambda t: t.name)]
    for folder in folders:
        assert (folder / f"test_{folder.name}.py").is_file() and (folder / "README.md").is_file()
        assert f'pytest.mark.testbed("{folder.name}")' in (folder / f"test_{folder.name}.py").read_text()
    assert {e.testbed for e in registry.expectations()} | {c.testbed for c in registry.claims()} == {
        f.name for f in folders}


def test_the_claims_table_keeps_its_order_by_testbed():
    """The summary lists claims in ``ORDER`` of their testbeds, each testbed's together."""
    order = [t.name for t in registry.testbeds()]
    assert order == ["cross_layer", "adversarial", "shortcut", "calibration", "misleading", "interventions",
                     "random_controls"]
    seen = [c.testbed for c in registry.claims()]
    assert seen == sorted(seen, key=order.index)


def test_a_folder_may_hold_its_own_testbeds_entries_only(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "expect.py").write_text("from stitchtest.audit.expectations import Expectation\n"
                                      "EXPECTATIONS = (Expectation('theirs', 'c', ('dm',), 'reported', 'r'),)\n")
    with pytest.raises(ValueError, match="entries for testbed theirs"):
        registry.load(folder)


def test_a_registered_folder_is_found_and_cached_until_the_next_registration(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_REGISTERED", [])
    before = registry.testbeds()
    assert registry.testbeds() is before  # loaded once
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "expect.py").write_text("from stitchtest.audit.expectations import Expectation\n"
                                      "EXPECTATIONS = (Expectation('extra', 'c', ('dm',), 'known-fail', 'why'),)\n")
    try:
        registry.register(folder)
        assert expectation("extra", "c", "dm", "smoke").status == "known-fail"
        assert [t.name for t in registry.testbeds()][-1] == "extra"  # no ORDER: after the built-in ones
    finally:
        registry._REGISTERED.clear()
        registry.testbeds.cache_clear()
    assert expectation("extra", "c", "dm", "smoke").status == "pass"
