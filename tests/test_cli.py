"""The stitchtest command."""
import json

from stitchtest.cli import main
from stitchtest.data import DataSpec
from stitchtest.models.zoo import ModelSpec, Zoo


def test_methods_lists_builtins(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in ("tlm", "slm", "dm", "fula", "linear_cka", "procrustes", "svcca"):
        assert name in out


def test_zoo_lists_cached_models(tmp_path, capsys):
    assert main(["zoo", "--cache", str(tmp_path)]) == 0
    assert "0 models" in capsys.readouterr().out
    spec = ModelSpec(width=4, epochs=1, data=DataSpec(n_train=100, n_test=50))
    Zoo(tmp_path).get(spec)
    assert main(["zoo", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 models" in out and spec.string_id() in out


def test_report_rerenders_from_stored_rows(tmp_path, capsys):
    from stitchtest.records import Record
    from stitchtest.records.results import ResultsWriter

    writer = ResultsWriter(tmp_path / "results", "gw0")
    for k, acc in enumerate((0.9, 0.8)):
        writer.append(Record.from_json({"kind": "cell", "key": f"k{k}", "testbed": "tb", "method": "dm", "method_id": "dm()",
                       "cell": f"c{k}", "pair": "a->b", "seed": k, "sender": "a", "sender_cut": "stem",
                       "receiver": "b", "receiver_cut": "stem", "sender_depth": 0.0, "receiver_depth": 0.0,
                       "readouts": {"accuracy": acc}}))
    writer.append(Record.from_json({"kind": "check", "key": "tb|c|dm", "testbed": "tb", "check": "c", "method": "dm",
                   "readout": "accuracy", "outcome": "pass", "figure": "fine", "value": 0.85, "reason": ""}))
    assert main(["report", str(tmp_path / "results"), "-o", str(tmp_path / "out")]) == 0
    assert "pass" in (tmp_path / "out" / "summary.md").read_text()
    assert "0.850 ± 0.071" in (tmp_path / "out" / "tb.md").read_text()
    assert "spool" not in capsys.readouterr().err

    (tmp_path / "results" / "spool-gw1.jsonl").write_text("")  # an interrupted xdist run left one
    assert main(["report", str(tmp_path / "results"), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "spool-gw1.jsonl" in err and "leave them out" in err and "--stitch-resume" in err
    assert (tmp_path / "results" / "spool-gw1.jsonl").exists()  # reading moves nothing
    assert main(["report", str(tmp_path / "empty"), "-o", str(tmp_path / "out2")]) == 1


def test_zoo_prune_removes_only_what_cannot_load(tmp_path, capsys):
    spec = ModelSpec(width=4, epochs=1, data=DataSpec(n_train=100, n_test=50))
    good = Zoo(tmp_path)
    good.get(spec)
    broken = spec.replace(seed=1)
    good.get(broken)
    ckpt, _ = good.paths(broken)
    ckpt.write_bytes(b"truncated")
    (tmp_path / "0123456789ab.ptq8z_k1r0.tmp").write_bytes(b"half")  # a crashed write's temporary file
    orphan = (tmp_path / "0123456789ac.json")  # metadata whose checkpoint is gone
    orphan.write_text(json.dumps({"spec": "model(...)", "key": "0123456789ac", "recipe_version": 2}))
    assert main(["zoo", "--cache", str(tmp_path), "--prune"]) == 0
    out = capsys.readouterr().out
    assert "pruned 4 files" in out and "1 models" in out
    assert all(p.exists() for p in good.paths(spec)) and not orphan.exists()
    assert not ckpt.exists() and not (tmp_path / "0123456789ab.ptq8z_k1r0.tmp").exists()


def test_zoo_prune_leaves_what_it_did_not_write_and_locked_entries(tmp_path, capsys):
    """Only the zoo's own entries go: not a user's files, not a directory named *.pt, not the
    temporary file of an entry being trained right now (its lock is held)."""
    from filelock import FileLock

    spec = ModelSpec(width=4, epochs=1, data=DataSpec(n_train=100, n_test=50))
    zoo = Zoo(tmp_path)
    zoo.get(spec)
    mine = [tmp_path / "mymodel.pt", tmp_path / "notes.json", tmp_path / "abc.pt.tmp",
            tmp_path / "0123456789ab.json"]  # named like a cache entry, but no metadata of ours (issue 27)
    for p in mine:
        p.write_text("[1]")
    (tmp_path / "weights.pt").mkdir()
    (tmp_path / "0123456789ab.pt").mkdir()
    training = tmp_path / "00000000000f.ptab12cd34.tmp"
    training.write_bytes(b"being written")
    with FileLock(str(tmp_path / "00000000000f.pt.lock")):  # as a training process holds it
        assert main(["zoo", "--cache", str(tmp_path), "--prune"]) == 0
    out = capsys.readouterr().out
    assert "pruned 0 files" in out and "1 models" in out
    assert all(p.read_text() == "[1]" for p in mine) and training.exists()
    assert (tmp_path / "weights.pt").is_dir() and all(p.exists() for p in zoo.paths(spec))
    assert main(["zoo", "--cache", str(tmp_path), "--prune"]) == 0  # no one trains it any more
    assert "pruned 1 files" in capsys.readouterr().out and not training.exists()


def test_metadata_that_is_not_an_object_is_a_corrupt_entry(tmp_path, capsys):
    import pytest

    spec = ModelSpec(width=4, epochs=1, data=DataSpec(n_train=100, n_test=50))
    _, meta_path = Zoo(tmp_path).paths(spec)
    for text in ("[1]", '"x"'):
        Zoo(tmp_path).get(spec)
        meta_path.write_text(text)
        assert main(["zoo", "--cache", str(tmp_path)]) == 0
        assert "0 models" in capsys.readouterr().out
        zoo = Zoo(tmp_path)
        with pytest.warns(UserWarning, match="not a JSON object; retraining"):
            zoo.get(spec)
        assert zoo.trained == [spec.string_id()]
        meta_path.write_text(text)
        assert main(["zoo", "--cache", str(tmp_path), "--prune"]) == 0  # the checkpoint; the file is not ours now
        assert "pruned 1 files" in capsys.readouterr().out and meta_path.read_text() == text


def test_a_cache_that_is_a_file_is_one_clear_error(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    cache.write_text("not a directory")
    monkeypatch.setenv("STITCHTEST_CACHE", str(cache))
    assert main(["zoo"]) == 2
    assert f"model cache {cache}: {cache} is a file, not a directory" in capsys.readouterr().err


def _results_dir(path, outcome="pass", accuracy=0.9, scale="smoke"):
    from stitchtest.records import CellRow, CheckRow, RunRow, RunSettings
    from stitchtest.records.results import ResultsWriter

    writer = ResultsWriter(path, "gw0")
    writer.append(RunRow(RunSettings(scale, "digits", 3)))
    writer.append(CellRow(key="k0", testbed="tb", method="dm", method_id="dm()", pair="a->b", seed=0, sender_cut="stem",
                          receiver_cut="stem", readouts={"accuracy": accuracy}))
    writer.append(CheckRow(key="tb|c|dm", testbed="tb", check="c", method="dm", outcome=outcome, value=accuracy))
    return path


def test_compare_exits_1_on_a_regression_and_lists_it(tmp_path, capsys):
    from stitchtest.records.baseline import load, save

    baseline = tmp_path / "baseline.jsonl"
    save(load(_results_dir(tmp_path / "old")), baseline)
    assert main(["compare", str(_results_dir(tmp_path / "same")), str(baseline)]) == 0
    assert "no regression" in capsys.readouterr().out
    assert main(["compare", str(_results_dir(tmp_path / "worse", outcome="fail")), str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "| tb/c " in out and "| pass " in out and "| fail " in out


def test_compare_drift_fails_only_with_the_flag(tmp_path, capsys):
    old, new = _results_dir(tmp_path / "old"), _results_dir(tmp_path / "new", accuracy=0.8)
    assert main(["compare", str(new), str(old)]) == 0
    assert "-0.100" in capsys.readouterr().out
    assert main(["compare", str(new), str(old), "--fail-on-drift"]) == 1
    assert main(["compare", str(new), str(old), "--tol", "0.2", "--fail-on-drift"]) == 0


def test_compare_bad_input_exits_2_naming_file_and_line(tmp_path, capsys):
    new = _results_dir(tmp_path / "new")
    bad = tmp_path / "baseline.jsonl"
    bad.write_text('{"kind": "run", "key": "run", "scale": "smoke", "data": "digits", "seeds": 3}\n'
                   '{"kind": "cell", "key": \n')
    assert main(["compare", str(new), str(bad)]) == 2
    assert f"{bad}:2: not valid JSON" in capsys.readouterr().err
    other = _results_dir(tmp_path / "other", scale="small")
    assert main(["compare", str(new), str(other)]) == 2
    assert "results-gw0.jsonl:1: baseline is from another setting: scale 'small'" in capsys.readouterr().err
    assert main(["report", str(bad), "-o", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_report_from_a_baseline_file_shows_the_run_settings(tmp_path, capsys):
    from stitchtest.records.baseline import load, save

    baseline = tmp_path / "baseline.jsonl"
    save(load(_results_dir(tmp_path / "results")), baseline)
    assert main(["report", str(baseline), "-o", str(tmp_path / "out")]) == 0
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| scale " in summary and "| smoke " in summary and "tb/c" in summary


def test_pruning_a_read_only_cache_is_one_clear_error(tmp_path, capsys, monkeypatch):
    import stitchtest.models.zoo as zoo_mod

    (tmp_path / "0123456789ab.json").write_text("{}")

    class ReadOnly(zoo_mod.FileLock):
        def acquire(self, *args, **kwargs):
            raise PermissionError(13, "Read-only file system", self.lock_file)

    monkeypatch.setattr(zoo_mod, "FileLock", ReadOnly)
    assert main(["zoo", "--cache", str(tmp_path), "--prune"]) == 2
    assert "cannot be written" in capsys.readouterr().err and (tmp_path / "0123456789ab.json").exists()


def test_a_misspelt_measure_is_one_line_naming_the_argument(capsys):
    """Issue 32: ``stitchtest check-measure lin_cka`` printed a RegistryError traceback."""
    assert main(["check-measure", "lin_cka"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [err.strip()] and "Traceback" not in err
    assert err.startswith("stitchtest check-measure: error: argument name: unknown method 'lin_cka'")
    assert "module:Name" in err and "did you mean linear_cka?" in err
    assert main(["check-measure", "dm"]) == 2
    assert "argument name: 'dm' is an objective, not a measure; expected a measure (" in capsys.readouterr().err
    assert main(["check-measure", "no_such_module:f"]) == 2
    assert "argument name: cannot import module 'no_such_module'" in capsys.readouterr().err


def test_check_measure_trials_must_be_a_positive_count(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_:
        main(["check-measure", "linear_cka", "--trials", "0"])
    assert exit_.value.code == 2
    assert "argument --trials: '0' is not a whole number of at least 1" in capsys.readouterr().err


def test_module_name_is_found_in_the_current_directory(tmp_path, monkeypatch, capsys):
    """Issue 32: ``module:name`` needed ``PYTHONPATH=.``; an installed console script has its own
    folder on sys.path, not the current directory (pytest puts its rootdir there for the same reason)."""
    import os
    import sys

    (tmp_path / "my_measure_32.py").write_text(
        "import torch\n\ndef cka(x, y):\n"
        "    from stitchtest.measures.core import MEASURES\n"
        "    return MEASURES.create('linear_cka')(x, y)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.abspath(p or os.curdir) != str(tmp_path)])
    monkeypatch.delitem(sys.modules, "my_measure_32", raising=False)
    assert main(["check-measure", "my_measure_32:cka", "--trials", "2"]) in (0, 1)
    out = capsys.readouterr().out
    assert "on 2 random pairs" in out and "property" in out


def test_version(capsys):
    import pytest

    from stitchtest import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"stitchtest {__version__}\n"


def test_zoo_is_sorted_and_robust_accuracy_only_for_adversarial_models(tmp_path, capsys):
    """Issue 32: ``stitchtest zoo`` listed models in hash order and "robust acc 0.000" for models
    that were never trained against an attack."""
    base = ModelSpec(width=4, epochs=1, data=DataSpec(n_train=100, n_test=50))
    specs = [base.replace(seed=2), base.replace(seed=0, regime="adversarial", attack_steps=1), base.replace(seed=1)]
    zoo = Zoo(tmp_path)
    for spec in specs:
        zoo.get(spec)
    assert main(["zoo", "--cache", str(tmp_path)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| model(")]
    ids = [line.split("|")[1].strip() for line in lines]
    assert ids == sorted(s.string_id() for s in specs)
    for line in lines:
        robust, cue_free = (c.strip() for c in line.split("|")[3:5])
        assert cue_free == "-"
        if "regime=adversarial" in line:
            assert robust.replace(".", "").isdigit()
        else:
            assert robust == "-"


def test_audit_runs_pytest_in_its_own_interpreter_and_passes_its_exit_status_on(tmp_path, monkeypatch, capfd):
    """``stitchtest audit`` imports stitchtest before pytest starts, so in-process pytest could not
    rewrite the plugin's asserts and warned so in every audit (PytestAssertRewriteWarning); a child
    interpreter starts clean, and its exit status is the command's: a usage error is 4."""
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "--collect-only", "-q", "--stitch-scale", "enormous"]) == 4
    err = capfd.readouterr().err
    assert "--stitch-scale" in err and "invalid choice" in err
