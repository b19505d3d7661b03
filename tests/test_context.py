"""The Context's caches are keyed by what the activations come from (issue 15, part 3): the model's
identity, which for a registered family includes its code, and the whole data view."""
import pytest
import torch

from stitchtest.engine.cells import Cell
from stitchtest.engine.context import Context
from stitchtest.data import DataSpec
from stitchtest.models import ARCHITECTURES, family_id, vgg
from stitchtest.models.zoo import ModelSpec, Zoo

DATA = DataSpec(n_train=100, n_test=50)


def two_stages(width, in_channels, num_classes):
    return vgg(2, width, in_channels, num_classes)


def three_stages(width, in_channels, num_classes):
    return vgg(3, width, in_channels, num_classes)


def test_a_family_re_registered_under_its_name_is_another_model(tmp_path, monkeypatch):
    """Two specs that read alike (arch "mine") but name different code are two models: the zoo
    trains each, and the context keeps their activations apart."""
    monkeypatch.setitem(ARCHITECTURES._classes, "mine", two_stages)
    spec = ModelSpec(arch="mine", width=4, epochs=1, data=DATA)
    cell = Cell(spec, "conv1", spec, "conv1")
    zoo = Zoo(tmp_path)
    ctx = Context(zoo)
    key_a, id_a, trace_a = spec.key, spec.string_id(), ctx.trace(spec, cell, "test")
    assert ctx.trace(spec, cell, "test") is trace_a  # cached while the family is the same

    monkeypatch.setitem(ARCHITECTURES._classes, "mine", three_stages)
    again = ModelSpec(arch="mine", width=4, epochs=1, data=DATA)
    assert again == spec and again.key != key_a
    # the id that keys cells, results rows and baselines says which code it was too
    assert again.string_id() != id_a and "code=" in again.string_id()
    trace_b = ctx.trace(again, cell, "test")
    assert "conv3" in trace_b and "conv3" not in trace_a  # B's own activations, not A's
    assert torch.equal(trace_b["conv1"], Context(Zoo(tmp_path)).trace(again, cell, "test")["conv1"])
    assert len(zoo.trained) == 2

    monkeypatch.setitem(ARCHITECTURES._classes, "mine", two_stages)  # the first code again: its model
    assert spec.key == key_a and spec.string_id() == id_a and ctx.trace(spec, cell, "test") is trace_a


def test_built_in_families_keep_their_keys():
    assert family_id("R1111") is None and family_id("vgg4") is None and family_id("resnet18") is None
    assert ModelSpec().key == ModelSpec(arch="R1111").key
    assert "code=" not in ModelSpec().string_id() and "code=" not in ModelSpec(arch="vgg4").string_id()
    cell = Cell(ModelSpec(), "layer1.0", ModelSpec(seed=1), "layer1.0")
    assert cell.string_id() == ("cell(sender=model(arch=R1111,width=8,data=digits(size=16,n_train=None,n_test=None,"
                                "split_seed=0),seed=0,regime=standard,epochs=15),sender_cut=layer1.0,receiver=model("
                                "arch=R1111,width=8,data=digits(size=16,n_train=None,n_test=None,split_seed=0),seed=1,"
                                "regime=standard,epochs=15),receiver_cut=layer1.0)")  # the ids of committed results
    assert family_id(f"{__name__}:two_stages").startswith(f"{__name__}:two_stages:")


def test_cells_with_other_cue_kinds_see_other_images(tmp_path):
    clean = ModelSpec(data=DATA, width=4, epochs=1)
    position = clean.replace(regime="shortcut")
    intensity = position.replace(cue_kind="intensity")
    ctx = Context(Zoo(tmp_path))
    cells = [Cell(clean, "layer1.0", receiver, "layer1.0", cue_p=1.0) for receiver in (position, intensity)]
    assert Context.data_key(cells[0]) != Context.data_key(cells[1])
    views = [ctx.data(c) for c in cells]
    assert not torch.equal(views[0].x_test, views[1].x_test)
    assert Context.data_key(Cell(clean, "stem", clean, "stem")) == Context.data_key(
        Cell(clean, "stem", clean.replace(cue_kind="intensity"), "stem"))  # no cue: the kind does not matter


def test_a_cells_data_view_is_the_receivers_data_and_task_with_the_cells_cue(tmp_path):
    """The data view (data + task + cue) gives the images the fake "standard" model spec gave."""
    from stitchtest.data.cue import with_cue
    from stitchtest.data.view import DataView
    from stitchtest.models.zoo import training_data

    sender = ModelSpec(data=DATA, width=4, epochs=1)
    receiver = sender.replace(regime="shortcut", task="parity", cue_kind="intensity")
    cell = Cell(sender, "stem", receiver, "stem", cue_p=0.5)
    view = Context.view(cell)
    assert view == DataView(DATA, "parity", 0.5, "intensity", 1000)
    assert view.key() == Context.data_key(cell) == (DATA.string_id(), "parity", 0.5, "intensity", 1000)
    assert view.string_id() == ("DataView(data=digits(size=16,n_train=100,n_test=50,split_seed=0),task=parity,"
                                "cue_p=0.5,cue_kind=intensity,cue_seed=1000)")
    before = with_cue(training_data(receiver.replace(regime="standard"), torch.device("cpu")), 0.5, 0.5,
                      kind="intensity", seed=1000)  # how the context reached a cell's data before
    ds = Context(Zoo(tmp_path)).data(cell)
    assert ds.num_classes == 2 and ds.name == before.name
    for field in ("x_train", "y_train", "x_test", "y_test", "mean", "std"):
        assert torch.equal(getattr(ds, field), getattr(before, field)), field
    plain = Context.view(Cell(sender, "stem", sender, "stem"))
    assert plain.key() == (DATA.string_id(), "class", 0.0) and plain.string_id() == (
        "DataView(data=digits(size=16,n_train=100,n_test=50,split_seed=0),task=class)")


def test_a_cue_conflict_cell_has_its_own_id_and_test_images_and_reads_what_is_followed(tmp_path):
    """A cue-conflict cell: its id and data key differ from the cue cell's (which stay as they were),
    its training images are the cue cell's and its test images are not; a stitch on it records the
    share of predictions equal to the cue's class, for the stitched network and for the receiver."""
    from stitchtest.data.cue import conflict_classes
    from stitchtest.engine import methods
    from stitchtest.stitching import StitchConfig

    clean = ModelSpec(data=DATA, width=4, epochs=1)
    shortcut = clean.replace(regime="shortcut")
    cue = Cell(clean, "layer1.0", shortcut, "layer1.0", cue_p=1.0)
    conflict = Cell(clean, "layer1.0", shortcut, "layer1.0", cue_p=1.0, cue_conflict=True)
    assert "cue_conflict" not in cue.string_id() and conflict.string_id() == cue.string_id()[:-1] + ",cue_conflict=True)"
    assert Context.data_key(cue) != Context.data_key(conflict)
    with pytest.raises(ValueError, match="cue_p must be 1.0"):
        Cell(clean, "stem", shortcut, "stem", cue_p=0.5, cue_conflict=True)
    ctx = Context(Zoo(tmp_path), StitchConfig(steps=5, batch_size=16))
    a, b = ctx.data(cue), ctx.data(conflict)
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_test, b.x_test)
    (r,) = methods.get("tlm").evaluate_many(ctx, [conflict])
    (plain,) = methods.get("tlm").evaluate_many(ctx, [cue])
    assert "cue_following" not in plain and 0.0 <= r["cue_following"] <= 1.0 - r["accuracy"] + 1e-9
    with torch.no_grad():
        own = ctx.model(shortcut)(b.x_test).argmax(1)
    assert r["receiver_cue_following"] == pytest.approx((own == conflict_classes(b.y_test, b.num_classes)).double().mean().item())
