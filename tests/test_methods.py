"""Methods end to end on a tiny zoo: readouts, self-stitch sanity, measures through the same face."""
import pytest

from stitchtest.engine import methods
from stitchtest.engine.cells import Cell
from stitchtest.engine.context import Context
from stitchtest.data import DataSpec
from stitchtest.stitching.objectives import Objective
from stitchtest.stitching.readouts import direction
from stitchtest.stitching import StitchConfig
from stitchtest.models.zoo import ModelSpec, Zoo

DATA = DataSpec(n_train=500, n_test=200)
A = ModelSpec(width=8, epochs=4, data=DATA, seed=0)
B = A.replace(seed=1)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Context(Zoo(tmp_path_factory.mktemp("zoo")), StitchConfig(steps=40))


@pytest.mark.parametrize("name", methods.names())
def test_self_stitch_matches_the_receiver(ctx, name):
    method = methods.get(name)
    r = method.evaluate(ctx, Cell(A, "layer2.0", A, "layer2.0"))
    if method.kind == "measure":
        assert r["score"] == pytest.approx(1.0, abs=1e-6), name
    else:
        assert r["accuracy"] == pytest.approx(r["receiver_accuracy"], abs=0.02), name
        assert r["latent_error@layer2.0"] < 0.05, name


def test_stitch_readouts_are_complete_and_consistent(ctx):
    r = methods.get("fula").evaluate(ctx, Cell(A, "layer1.0", B, "layer3.0", robust=True))
    for key in ("accuracy", "receiver_accuracy", "relative_accuracy", "penalty", "agreement", "kl",
                "latent_error", "latent_error@layer3.0", "latent_error@layer4.0", "robust_accuracy", "seconds"):
        assert key in r, key
    assert "latent_error@layer2.0" not in r
    assert r["penalty"] == pytest.approx(r["receiver_accuracy"] - r["accuracy"])
    assert 0 <= r["robust_accuracy"] <= r["accuracy"] + 0.05
    assert r["latent_error"] == pytest.approx((r["latent_error@layer3.0"] + r["latent_error@layer4.0"]) / 2)


def test_direct_matching_does_not_repair_a_random_receiver(ctx):
    """docs/lab/facts.md#f4 in miniature: DM into a random network stays near chance."""
    r = methods.get("dm").evaluate(ctx, Cell(A, "layer2.0", A.replace(regime="random"), "layer2.0"))
    assert r["accuracy"] < 0.3


class NaNObjective(Objective):
    name = "nan"

    def loss(self, batch):
        return batch.stitched_logits.mean() * float("nan")


def test_a_failed_cell_reports_why(ctx):
    r = methods.wrap(NaNObjective).evaluate(ctx, Cell(A, "stem", B, "stem"))
    assert "non-finite" in r["failure"]


def test_readout_directions():
    assert direction("accuracy") == 1 and direction("latent_error@layer1.0") == -1 and direction("kl") == -1


def test_cells_must_share_data():
    with pytest.raises(ValueError, match="different data"):
        Cell(A, "stem", A.replace(data=DataSpec(n_train=100)), "stem")


def test_unknown_method_lists_known():
    with pytest.raises(LookupError, match="linear_cka"):
        methods.get("cka9000")


def test_evaluating_a_cell_leaves_the_zoo_models_untouched(ctx):
    """Regression: attacking a StitchedNetwork once switched the frozen sender and receiver to
    training mode, so later cells' forward passes rewrote their BatchNorm statistics."""
    import torch

    sender, receiver = ctx.zoo.model(A), ctx.zoo.model(B)
    before = {k: v.clone() for k, v in {**sender.state_dict(), **{"r." + k: v for k, v in receiver.state_dict().items()}}.items()}
    methods.get("tlm").evaluate(ctx, Cell(A, "layer1.0", B, "layer2.0", robust=True))
    methods.get("tlm").evaluate(ctx, Cell(A, "layer2.0", B, "layer3.0"))
    assert not any(m.training for m in sender.modules()) and not any(m.training for m in receiver.modules())
    after = {**sender.state_dict(), **{"r." + k: v for k, v in receiver.state_dict().items()}}
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_groups_computed_at_once_give_what_they_give_one_at_a_time(ctx):
    """Two receiver cuts = two groups; in two threads (one intra-op thread each) each stitch must
    train as it does with the groups one after the other (fp32, so only summation order differs)."""
    cells = [Cell(A, i, B, j) for i in ("stem", "layer2.0") for j in ("layer1.0", "layer3.0")]
    results = {}
    for n in (1, 2):
        c = Context(ctx.zoo, StitchConfig(steps=20, precision="fp32", concurrent_groups=n))
        results[n] = methods.get("tlm").evaluate_many(c, cells)
    for cell, one, two in zip(cells, results[1], results[2]):
        where = f"{cell.sender_cut}->{cell.receiver_cut}"
        assert two["accuracy"] == pytest.approx(one["accuracy"], abs=0.011), where
        assert two["final_loss"] == pytest.approx(one["final_loss"], rel=1e-3), where


@pytest.mark.parametrize("compile_suffix", [False, True])
def test_groups_run_in_threads_unless_the_suffix_is_compiled(tmp_path, compile_suffix):
    """torch.compile's tracing is not thread-safe, so compiled suffixes keep to the caller's thread."""
    import threading

    cells = [Cell(A, "stem", B, j) for j in ("layer1.0", "layer2.0", "layer3.0")]  # three groups
    ctx = Context(Zoo(tmp_path), StitchConfig(concurrent_groups=2, compile=compile_suffix))
    threads = {}

    def evaluate_group(_, group):
        threads[group[0].receiver_cut] = threading.get_ident()
        return [{} for _ in group]

    done = [members for members, _ in methods.each_group(ctx, cells, evaluate_group)]
    assert sorted(i for members in done for i in members) == [0, 1, 2]
    in_caller = {cut: ident == threading.get_ident() for cut, ident in threads.items()}
    assert all(in_caller.values()) == compile_suffix, in_caller


def test_a_plain_function_measure_resolves_by_module_path_and_runs_on_a_cell(ctx, tmp_path, monkeypatch):
    """``--methods my_measures:rbf_cka``: a function f(x, y) -> float is a measure named after it."""
    from stitchtest.audit import resolve_methods

    (tmp_path / "my_measures.py").write_text(
        "import torch\n\n"
        "def gram_cosine(x, y):\n"
        "    k, l = x @ x.T, y @ y.T\n"
        "    return float((k * l).sum() / (k.norm() * l.norm()))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    dm, fn = resolve_methods("dm,my_measures:gram_cosine")
    assert (fn.name, fn.kind, fn.string_id()) == ("gram_cosine", "measure", "gram_cosine()")
    assert fn.evaluate(ctx, Cell(A, "layer2.0", A, "layer2.0"))["score"] == pytest.approx(1.0)
    assert 0 < fn.evaluate(ctx, Cell(A, "layer2.0", B, "layer2.0"))["score"] < 1


def test_a_method_whose_name_holds_a_control_character_is_refused(tmp_path, monkeypatch):
    """Issue 27, item 11: a newline in a method's name went raw into progress-*.log; a '|' is allowed
    (the export reads a key's parts from the row's fields)."""
    from stitchtest.audit import resolve_methods
    from stitchtest.runtime.registry import RegistryError

    (tmp_path / "odd_names.py").write_text(
        "def bar(x, y):\n    return 1.0\n\nbar.__name__ = 'a|b'\n\n"
        "def tab(x, y):\n    return 1.0\n\ntab.__name__ = 'a\\tb'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve_methods("odd_names:bar")[0].name == "a|b"
    with pytest.raises(RegistryError, match=r"method 'odd_names:tab' has the name 'a\\tb', which holds a control"):
        resolve_methods("odd_names:tab")
