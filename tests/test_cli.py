"""The stitchtest command."""
from stitchtest.cli import main
from stitchtest.data import DataSpec
from stitchtest.zoo import ModelSpec, Zoo


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
