"""The default zoo's shipped weights (issue 30): a cold cache copies them instead of training, a
changed spec is still trained, ``STITCHTEST_PRETRAINED=0`` trains everything, and the shipped set is
exactly the models a default run asks for."""
import io
import json
import lzma

import pytest
import torch

from stitchtest.audit import Audit
from stitchtest.audit.scales import SCALES
from stitchtest.data import DataSpec
from stitchtest.models import zoo as zoo_mod
from stitchtest.models.training import Recipe
from stitchtest.models.zoo import PRETRAINED, ModelSpec, Zoo, model_ids, provenance

from test_testbed_plans import load_testbed

#: a shipped model that is cheap to train here too (a random network: its batch norm is calibrated only)
SHIPPED_RANDOM = ModelSpec(seed=200, regime="random")


@pytest.fixture
def trainings(monkeypatch):
    """Every call to the zoo's training function, by spec id (it still trains)."""
    calls = []
    real = zoo_mod.train_model

    def spy(spec, *args, **kwargs):
        calls.append(spec.string_id())
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(zoo_mod, "train_model", spy)
    return calls


def shipped_state(spec):
    return torch.load(io.BytesIO(lzma.decompress((PRETRAINED / f"{spec.key}.pt.xz").read_bytes())), weights_only=True)


def test_a_shipped_spec_is_copied_into_the_cache_without_training(tmp_path, trainings, monkeypatch):
    monkeypatch.delenv("STITCHTEST_PRETRAINED", raising=False)
    spec = ModelSpec(seed=1, regime="adversarial")  # the costliest default model to train
    zoo = Zoo(tmp_path)
    model, meta = zoo.get(spec)
    assert trainings == [] and zoo.shipped == [spec.string_id()] and zoo.trained == []
    state = shipped_state(spec)
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert meta["shipped"] == {"cpu": "AMD EPYC", "torch": meta["versions"]["torch"]}
    # the cache now holds it as training would have written it: a fresh zoo reads it, the checksum holds
    again, meta_again = Zoo(tmp_path, pretrained=None).get(spec)
    assert meta_again["sha256"] == meta["sha256"] and trainings == []
    assert all(torch.equal(again.state_dict()[k], v) for k, v in state.items())


def test_a_changed_spec_is_trained(tmp_path, trainings, monkeypatch):
    monkeypatch.delenv("STITCHTEST_PRETRAINED", raising=False)
    changed = SHIPPED_RANDOM.replace(seed=7)
    _, meta = Zoo(tmp_path).get(changed)
    assert trainings == [changed.string_id()] and "shipped" not in meta
    assert not (PRETRAINED / f"{changed.key}.pt.xz").exists()


def test_the_switch_trains_a_shipped_spec_here(tmp_path, trainings, monkeypatch):
    monkeypatch.setenv("STITCHTEST_PRETRAINED", "0")
    assert (PRETRAINED / f"{SHIPPED_RANDOM.key}.pt.xz").is_file()
    zoo = Zoo(tmp_path)
    _, meta = zoo.get(SHIPPED_RANDOM)
    assert zoo.pretrained is None and trainings == [SHIPPED_RANDOM.string_id()] and "shipped" not in meta


def test_export_then_copy_gives_the_same_weights(tmp_path, trainings):
    """What ``stitchtest zoo --export-pretrained`` writes is what a cold cache loads, bit for bit;
    exporting again replaces the entries that are no longer asked for."""
    spec = ModelSpec(width=4, seed=3, regime="random")
    trained, _ = Zoo(tmp_path / "here", pretrained=None).get(spec)
    other = spec.replace(seed=4)
    Zoo(tmp_path / "here", pretrained=None).export([other], tmp_path / "ship")
    Zoo(tmp_path / "here", pretrained=None).export([spec], tmp_path / "ship")
    assert sorted(p.name for p in (tmp_path / "ship").iterdir()) == [f"{spec.key}.json", f"{spec.key}.pt.xz"]
    assert json.loads((tmp_path / "ship" / f"{spec.key}.json").read_text())["cpu"]
    before = len(trainings)
    cold = Zoo(tmp_path / "cold", pretrained=tmp_path / "ship")
    copied, meta = cold.get(spec)
    assert len(trainings) == before and cold.shipped == [spec.string_id()]
    assert all(torch.equal(copied.state_dict()[k], v) for k, v in trained.state_dict().items())
    assert provenance(tmp_path / "cold", [spec.string_id(), other.string_id()]) == (
        f"2 models: 1 shipped (trained on {meta['cpu']}, torch {torch.__version__}), 1 trained here")


def test_a_damaged_shipped_entry_is_trained_instead(tmp_path, trainings):
    spec = ModelSpec(width=4, seed=5, regime="random")
    Zoo(tmp_path / "here", pretrained=None).export([spec], tmp_path / "ship")
    (tmp_path / "ship" / f"{spec.key}.pt.xz").write_bytes(lzma.compress(b"not a checkpoint"))
    trainings.clear()
    with pytest.warns(UserWarning, match="does not match its metadata"):
        Zoo(tmp_path / "cold", pretrained=tmp_path / "ship").get(spec)
    assert trainings == [spec.string_id()]


def test_the_shipped_set_is_the_default_runs_models():
    """The smoke scale's plan names every model the testbeds' own planners ask for, and the
    package ships exactly those."""
    smoke, data = SCALES["smoke"], DataSpec("digits")
    planned = {s.key for s in smoke.zoo_specs(data)}
    assert planned == {p.name[:12] for p in PRETRAINED.glob("*.pt.xz")} == {p.stem for p in PRETRAINED.glob("*.json")}
    audit = Audit(smoke, data, zoo=None, writer=None)
    asked = [s for k in range(smoke.seeds_of("random_controls"))
             for s in load_testbed("test_random_controls").models(audit, k)]
    asked += [s for group in load_testbed("test_adversarial").groups(audit) for s in group]
    clean, cued = load_testbed("test_shortcut").groups(audit)
    asked += clean + [s for group in cued.values() for s in group]
    asked += [s for k in range(smoke.grid_seeds) for s in (audit.spec(seed=k), audit.spec(seed=100 + k))]  # cross-layer
    asked += [s for k in range(smoke.seeds_of("interventions")) for s in (audit.spec(seed=k), audit.spec(seed=100 + k))]
    assert {s.key for s in asked} == planned


def test_model_ids_are_read_back_from_a_cell_id():
    from stitchtest.engine.cells import Cell

    a, b = ModelSpec(seed=100), ModelSpec(regime="shortcut", recipe=Recipe(lr=0.1))  # parentheses nested twice
    assert model_ids(Cell(a, "layer1.0", b, "layer2.0").string_id()) == [a.string_id(), b.string_id()]
