"""A scale's stitch budget reaches every stitch, and so every cell's id."""
from dataclasses import replace

from stitchtest.audit.scales import SCALES


def test_the_scales_batch_size_and_steps_are_the_stitch_configs():
    scale = replace(SCALES["smoke"], steps=37, batch_size=19)
    config = scale.stitch()
    assert (config.steps, config.batch_size) == (37, 19)
    assert "steps=37" in config.string_id() and "batch_size=19" in config.string_id()


def test_each_scale_states_its_own_budget():
    """smoke trains on 64 images a step (the verdict study of reports/performance.md), the larger
    scales keep 128: they were not re-studied."""
    assert [SCALES[s].stitch().batch_size for s in ("smoke", "small", "paper")] == [64, 128, 128]
