"""A scale's stitch budget reaches every stitch, and so every cell's id."""
from dataclasses import replace

from stitchtest.audit.scales import SCALES


def test_the_scales_batch_size_and_steps_are_the_stitch_configs():
    scale = replace(SCALES["smoke"], steps=37, batch_size=19)
    config = scale.stitch()
    assert (config.steps, config.batch_size) == (37, 19)
    assert "steps=37" in config.string_id() and "batch_size=19" in config.string_id()


def test_each_scale_states_its_own_budget():
    """smoke trains on 64 images a step (the verdict study of reports/performance.md), and so does
    small, whose data is capped to digits' size; paper keeps 128: it was not re-studied."""
    assert [SCALES[s].stitch().batch_size for s in ("smoke", "small", "paper")] == [64, 64, 128]


def test_a_scale_caps_the_data_it_reads_and_only_caps():
    """The real-data tier costs what its scale says whatever directory it is given: ``small`` reads
    16x16 images and at most 1,000 of each split; a spec that asks for fewer keeps its own; smoke and
    paper leave the data as given (so no existing id changes)."""
    from stitchtest.data.spec import DataSpec

    mnist = DataSpec("mnist", root="/nowhere")
    small = SCALES["small"].data(mnist)
    assert (small.size, small.n_train, small.n_test) == (16, 1000, 1000) and small.root == "/nowhere"
    assert SCALES["small"].data(DataSpec("digits", n_train=300)).n_train == 300
    assert SCALES["small"].data(small) == small
    for name in ("smoke", "paper"):
        assert SCALES[name].data(mnist) == mnist and SCALES[name].data(DataSpec()) == DataSpec()


def test_precision_reaches_the_stitch_and_the_cell_id_and_auto_keeps_todays_ids():
    """``--stitch-precision fp32`` (the bf16-vs-fp32 verdict comparison of #30) gives cells of their own;
    ``auto`` leaves the scale, and so every existing cell id, as it was."""
    smoke = SCALES["smoke"]
    assert smoke.with_precision("auto") is smoke and smoke.with_precision(None) is smoke
    fp32 = smoke.with_precision("fp32").stitch()
    assert fp32.precision == "fp32" and "precision=fp32" in fp32.string_id()
    assert "precision=auto" in smoke.stitch().string_id()
    assert fp32.string_id() != smoke.stitch().string_id()


def test_a_testbed_gets_its_own_seed_pairs_and_seeds_sets_them_all():
    """Seed pairs are bought where they decide claims (#30): a testbed named in ``testbed_seeds``
    gets its own count, the others ``seeds``; ``--stitch-seeds N`` means N in every testbed, and
    the zoo plan holds the models of the largest count."""
    from stitchtest.audit.scales import Scale
    from stitchtest.data.spec import DataSpec

    scale = Scale("t", seeds=3, testbed_seeds=(("random_controls", 9), ("cross_layer", 4)))
    assert scale.seeds_of("random_controls") == 9 and scale.seeds_of("adversarial") == 3
    assert scale.grid_seeds == 4
    plan = scale.zoo_specs(DataSpec("digits"))
    assert {s.seed for s in plan if s.regime == "random"} == {b + k for b in (200, 300) for k in range(9)}
    assert {s.seed for s in plan if s.regime == "standard"} == {b + k for b in (0, 100) for k in range(9)}
    everywhere = scale.with_seeds(2)
    assert [everywhere.seeds_of(t) for t in ("random_controls", "cross_layer", "shortcut")] == [2, 2, 2]
    assert {s.seed for s in everywhere.zoo_specs(DataSpec("digits")) if s.regime == "random"} == {200, 201, 300, 301}
