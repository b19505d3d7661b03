"""The plugin in someone else's test session (issue 14): installed, it must change nothing.

Every run here is a real ``pytest`` process in a fresh project, with stitchtest loaded from its
``pytest11`` entry point the way any user's session loads it."""

pytest_plugins = ["pytester"]

UNRELATED = '''
import os
import sys

import pytest


@pytest.mark.parametrize("k", range(4))
def test_unrelated(k, method, audit):  # fixture names the plugin has too: the project's own win
    assert (method, audit) == ("mine", "my audit")
    assert "stitchtest.plugin.hooks" in sys.modules  # the plugin is loaded ...
    assert "torch" not in sys.modules  # ... and imported nothing heavy
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == "0,1"
'''

# every process (controller and workers) says at its end whether torch was imported
REPORTS_IMPORTS = '''
import os
import sys

import pytest


@pytest.fixture
def method():
    return "mine"


@pytest.fixture
def audit():
    return "my audit"


def pytest_sessionfinish(session):
    config = session.config
    who = getattr(config, "workerinput", {}).get("workerid", "controller")
    with open(f"torch-{who}.txt", "w") as f:
        f.write(str("torch" in sys.modules))
'''


def test_an_unrelated_session_under_xdist_is_untouched(pytester, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    pytester.makeconftest(REPORTS_IMPORTS)
    pytester.makepyfile(test_unrelated=UNRELATED)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    assert "stitchtest:" not in result.stdout.str() + result.stderr.str()  # no header, no report (pytest lists the plugin)
    said = {p.name: p.read_text() for p in pytester.path.glob("torch-*.txt")}
    assert said == {"torch-controller.txt": "False", "torch-gw0.txt": "False", "torch-gw1.txt": "False"}
    assert not (pytester.path / "results").exists() and not (pytester.path / "reports").exists()


def test_a_session_without_xdist_is_untouched(pytester, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    pytester.makeconftest(REPORTS_IMPORTS)
    pytester.makepyfile(test_unrelated=UNRELATED)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=4)
    assert "stitchtest:" not in result.stdout.str()
    assert (pytester.path / "torch-controller.txt").read_text() == "False"


OWN_DEVICE = '''
import pytest


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="the project's own device option")
    parser.addoption("--scale", type=float, default=1.0)


@pytest.fixture
def device(request):
    return request.config.getoption("device"), request.config.getoption("scale")
'''


def test_a_user_conftest_with_its_own_device_and_scale_options_works(pytester):
    pytester.makeconftest(OWN_DEVICE)
    pytester.makepyfile(test_mine="def test_device(device):\n    assert device == ('tpu', 2.5)\n")
    result = pytester.runpytest_subprocess("--device", "tpu", "--scale", "2.5", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest_subprocess("--help")
    assert "--device=DEVICE" in result.stdout.str() and "--stitch-device=" in result.stdout.str()


def test_a_path_that_says_testbed_does_not_start_an_audit(pytester):
    pytester.mkdir("my_testbeds")
    pytester.path.joinpath("my_testbeds", "test_plain.py").write_text("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("my_testbeds", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "stitchtest:" not in result.stdout.str()
    assert not (pytester.path / "results").exists() and not (pytester.path / "reports").exists()
