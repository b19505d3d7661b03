"""The measured precision probe: it picks the faster precision, remembers it per machine, and
never fails a run because the cache cannot be written."""
import json

import pytest

from stitchtest.runtime import precision


def fake_timer(fp32: float, bf16: float):
    calls = []

    def timer(use_bf16: bool) -> float:
        calls.append(use_bf16)
        return bf16 if use_bf16 else fp32
    return timer, calls


@pytest.mark.parametrize("fp32, bf16, expected", [(1.0, 0.5, "bf16"), (1.0, 0.95, "fp32"), (0.5, 1.0, "fp32")])
def test_the_faster_precision_wins_and_a_near_tie_keeps_fp32(fp32, bf16, expected):
    timer, calls = fake_timer(fp32, bf16)
    verdict = precision.measure(timer)
    assert verdict["precision"] == expected
    assert calls.count(True) == calls.count(False) == 10  # paired, both measured alike


def test_the_verdict_is_stored_once_and_reused(tmp_path):
    timer, calls = fake_timer(1.0, 0.4)
    first = precision.probe(tmp_path, timer)
    stored = list(tmp_path.glob("precision-*.json"))
    assert first["precision"] == "bf16" and len(stored) == 1
    assert json.loads(stored[0].read_text())["machine"] == precision.machine_key()
    n = len(calls)
    slow_bf16, _ = fake_timer(0.4, 1.0)
    assert precision.probe(tmp_path, slow_bf16)["precision"] == "bf16"  # read, not measured again
    assert len(calls) == n


def test_a_damaged_or_foreign_verdict_is_measured_again(tmp_path):
    timer, _ = fake_timer(1.0, 0.4)
    precision.probe(tmp_path, timer)
    path = next(tmp_path.glob("precision-*.json"))
    path.write_text("{not json")
    fp32_wins, calls = fake_timer(0.4, 1.0)
    assert precision.probe(tmp_path, fp32_wins)["precision"] == "fp32" and calls
    path.write_text(json.dumps({"precision": "bf16", "machine": "another CPU"}))
    assert precision.probe(tmp_path, fp32_wins)["precision"] == "fp32"


def test_an_unwritable_cache_still_gets_a_verdict(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the cache directory should be
    timer, calls = fake_timer(1.0, 0.4)
    assert precision.probe(blocker / "cache", timer)["precision"] == "bf16" and calls


def test_the_real_workload_runs_in_both_precisions():
    assert precision.probe_workload(False) > 0 and precision.probe_workload(True, reps=2) > 0


def test_the_report_says_why_auto_resolved_as_it_did(monkeypatch):
    monkeypatch.setattr(precision, "probe", lambda: {"precision": "fp32", "bf16_over_fp32": 1.15})
    monkeypatch.setattr(precision.devices, "native_bf16", lambda device: True)
    assert precision.explain("cpu") == "measured: bf16 takes 1.15x fp32's time"
    assert precision.explain("cuda") == "GPU"
    monkeypatch.setattr(precision.devices, "native_bf16", lambda device: False)
    assert precision.explain("cpu") == "no bf16 arithmetic"
