"""The audit ships with the package (issue 14): a wheel holds the testbeds, and ``stitchtest
audit`` runs them from the installed files, not from a checkout."""
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shipped_testbed_files():
    """The checkout's testbed folders' files, as a wheel ships them (``<name>/<file>``)."""
    return sorted(str(p.relative_to(ROOT / "testbeds")) for p in (ROOT / "testbeds").glob("*/*")
                  if p.suffix in (".py", ".md"))


def test_a_wheel_carries_the_testbeds_and_stitchtest_audit_runs_them_without_the_checkout(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT),
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("stitchtest-*.whl")
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)  # what pip install puts in site-packages
    shipped = sorted(str(p.relative_to(installed / "stitchtest" / "testbeds"))
                     for p in (installed / "stitchtest" / "testbeds").rglob("*") if p.is_file())
    assert shipped == shipped_testbed_files()
    folders = {f.split("/")[0] for f in shipped}
    assert len(folders) >= 7 and all(f"{t}/{name}" in shipped for t in folders
                                     for name in ("expect.py", "README.md", f"test_{t}.py"))
    pretrained = ROOT / "stitchtest" / "models" / "pretrained"  # the default zoo's shipped weights (issue 30)
    assert sorted(p.name for p in (installed / "stitchtest" / "models" / "pretrained").iterdir()) == sorted(
        p.name for p in pretrained.iterdir() if p.suffix in (".xz", ".json")) != []

    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed)}  # the wheel's files, and no checkout
    result = subprocess.run([sys.executable, "-m", "stitchtest.cli", "audit", "--collect-only", "-q",
                             "--stitch-methods", "dm,linear_cka", "-p", "no:cacheprovider"],
                            cwd=elsewhere, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # collected from the installed files (node ids are relative to the rootdir, tmp_path)
    assert ("site/stitchtest/testbeds/random_controls/test_random_controls.py::test_self_stitch_matches_receiver[dm]"
            in result.stdout)
    assert "stitchtest: scale smoke" in result.stdout and not (elsewhere / "results").exists()


def test_a_wheel_put_on_pythonpath_is_one_error_line(tmp_path):
    """Issue 27, caveat (c): Python imports from a zip on PYTHONPATH, pytest cannot collect inside it;
    ``stitchtest audit`` said so with a FileNotFoundError traceback."""
    wheel = tmp_path / "stitchtest-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:  # the wheel's layout (test above), without building one
        for p in sorted((ROOT / "stitchtest").rglob("*.py")):
            z.write(p, f"stitchtest/{p.relative_to(ROOT / 'stitchtest')}")
        for name in shipped_testbed_files():
            z.write(ROOT / "testbeds" / name, f"stitchtest/testbeds/{name}")
    result = subprocess.run([sys.executable, "-m", "stitchtest.cli", "audit", "--collect-only", "-q"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(wheel)}, capture_output=True, text=True)
    assert result.returncode == 4 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines() == [
        f"stitchtest audit: error: stitchtest is imported from inside {wheel}, and pytest cannot run testbeds "
        f"from inside an archive; install it (pip install {wheel}) or unzip it"]


def test_the_wheel_builds_without_warnings_and_carries_license_and_py_typed(tmp_path):
    """Issue 32: ``license`` as a TOML table was deprecated at build time, and the wheel had no
    LICENSE and no ``py.typed``; a testbed folder shipped as data alone is a build warning too."""
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", str(ROOT),
                             "-w", str(tmp_path / "dist")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr
    assert "Warning" not in log and "warning" not in log.replace("--no-warn", ""), log
    (wheel,) = (tmp_path / "dist").glob("stitchtest-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "stitchtest/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata
    assert "Classifier: Framework :: Pytest" in metadata
    for extra in ("dev", "pandas", "hf"):
        assert f"Provides-Extra: {extra}" in metadata
    (license,) = re.findall(r'^license = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), flags=re.M)
    assert (ROOT / "LICENSE").read_text().startswith(f"{license} License")
