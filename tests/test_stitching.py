"""Stitch training fast paths: batched stitches, frozen inference copies, precision, the trace cache.

Each fast path claims to compute what the plain path computes; each is tested against it.
"""
import pytest
import torch

from stitchtest.engine import methods
from stitchtest.engine.cells import Cell
from stitchtest.engine.context import Context, trace_bytes
from stitchtest.data import DataSpec
from stitchtest.models import build, fold_batchnorm, frozen_copy
from stitchtest.stitching.objectives import FuLA, Objective, TLM
from stitchtest.stitching import StitchConfig, fit_stitch, fit_stitches
from stitchtest.models.zoo import ModelSpec, Zoo

DATA = DataSpec(n_train=300, n_test=100)
A = ModelSpec(width=4, epochs=2, data=DATA, seed=0)
B = A.replace(seed=1)
CONFIG = StitchConfig(steps=25, batch_size=32)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return Zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture(scope="module")
def traces(zoo):
    """Sender and receiver traces on the training images, plus labels."""
    ctx = Context(zoo, CONFIG)
    cell = Cell(A, "stem", B, "layer2.0")
    return ctx.trace(A, cell, "train"), ctx.trace(B, cell, "train"), ctx.data(cell).y_train, ctx.model(B)


# FuLA at the run's steps (epochs=None), not its authors' 30 epochs: these test the fit loop, not its budget
@pytest.mark.parametrize("objective", [TLM(), FuLA(epochs=None)], ids=["tlm", "fula"])
def test_stitches_trained_together_equal_stitches_trained_alone(traces, objective):
    sender, target, y, receiver = traces
    senders = [sender[c] for c in ("stem", "layer1.0", "layer3.0")]  # three shapes, one receiver cut
    together = fit_stitches(objective, receiver, "layer2.0", senders, y, target, CONFIG)
    for a, joint in zip(senders, together):
        alone = fit_stitch(objective, receiver, "layer2.0", a, y, target, CONFIG)
        assert joint.losses == pytest.approx(alone.losses, rel=1e-4, abs=1e-6)
        for p, q in zip(joint.stitch.parameters(), alone.stitch.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


class Fragile(Objective):
    """Task loss that turns infinite for any stitch whose input holds an infinity."""

    name = "fragile"

    def loss(self, batch):
        return torch.nn.functional.cross_entropy(batch.stitched_logits, batch.labels)


def test_a_diverging_stitch_stops_alone(traces):
    sender, target, y, receiver = traces
    good, bad = sender["layer1.0"], sender["layer1.0"].clone()
    bad[:, 0] = float("inf")
    bad_fit, good_fit = fit_stitches(Fragile(), receiver, "layer2.0", [bad, good], y, target,
                                     StitchConfig(steps=25, batch_size=32, init="random"))
    assert "non-finite" in bad_fit.failure and len(bad_fit.losses) == 0
    alone = fit_stitch(Fragile(), receiver, "layer2.0", good, y, target, StitchConfig(steps=25, batch_size=32,
                                                                                        init="random"))
    assert good_fit.failure is None and good_fit.losses == pytest.approx(alone.losses, rel=1e-4)


def test_bf16_autocast_trains_close_to_fp32(traces):
    sender, target, y, receiver = traces
    fp32 = fit_stitch(TLM(), receiver, "layer2.0", sender["layer1.0"], y, target, CONFIG)
    bf16 = fit_stitch(TLM(), receiver, "layer2.0", sender["layer1.0"], y, target,
                      StitchConfig(steps=25, batch_size=32, precision="bf16"))
    assert all(torch.isfinite(torch.tensor(bf16.losses)))
    assert bf16.losses[-1] == pytest.approx(fp32.losses[-1], rel=0.1, abs=0.02)
    assert all(p.dtype == torch.float32 for p in bf16.stitch.parameters())  # autocast, not a bf16 model


def test_bf16_keeps_a_large_fan_in_stitch_where_fp32_has_it(tmp_path):
    """stem -> layer4.0 of the default zoo is a strided conv with the largest fan-in; in bf16 its
    least-squares start was lost and SGD collapsed (measured 2026-12-01: 0.18 stitched accuracy against 0.96
    in fp32). The stitch runs in fp32 whatever the precision, so both train alike."""
    zoo = Zoo(tmp_path)
    a, b = ModelSpec(seed=0), ModelSpec(seed=1)  # the default zoo's models: a few seconds each
    cells = [Cell(a, "stem", b, "layer4.0")]
    acc = {p: methods.get("tlm").evaluate_many(Context(zoo, StitchConfig(steps=60, precision=p)), cells)[0]["accuracy"]
           for p in ("fp32", "bf16")}
    assert acc["fp32"] > 0.8 and acc["bf16"] == pytest.approx(acc["fp32"], abs=0.05)


@pytest.mark.parametrize("bf16_cpu, measured", [(True, "bf16"), (True, "fp32"), (False, "bf16")])
def test_auto_precision_is_bf16_only_where_the_hardware_has_it_and_the_probe_finds_it_faster(
        monkeypatch, bf16_cpu, measured):
    from stitchtest.runtime import precision

    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, probe, lambda: bf16_cpu, raising=False)
    monkeypatch.setattr(precision, "probe", lambda: {"precision": measured})
    precision.auto.cache_clear()
    try:
        cpu, cuda = torch.device("cpu"), torch.device("cuda")
        expected = measured if bf16_cpu else "fp32"  # without bf16 arithmetic the probe is not even asked
        assert StitchConfig().resolved_precision(cpu) == expected
        assert StitchConfig().resolved_precision(cuda) == "bf16"
        assert StitchConfig(precision="fp32").resolved_precision(cuda) == "fp32"
        assert StitchConfig(precision="bf16").resolved_precision(cpu) == "bf16"
        with StitchConfig().autocast(cpu):
            assert torch.is_autocast_enabled("cpu") == (expected == "bf16")
    finally:
        precision.auto.cache_clear()


def test_compiled_suffix_trains_like_eager(traces):
    sender, target, y, receiver = traces
    cfg = StitchConfig(steps=5, batch_size=32)
    eager = fit_stitch(TLM(), receiver, "layer3.0", sender["layer3.0"], y, target, cfg)
    compiled = fit_stitch(TLM(), receiver, "layer3.0", sender["layer3.0"], y, target,
                          StitchConfig(steps=5, batch_size=32, compile=True))
    assert compiled.losses == pytest.approx(eager.losses, rel=1e-4, abs=1e-6)


def test_stitch_config_id_has_what_changes_results_only():
    assert StitchConfig(group=1, compile=True).string_id() == StitchConfig().string_id()
    assert StitchConfig(precision="fp32").string_id() != StitchConfig().string_id()
    # the convergence stop changes results; off, the id is that of a full-budget stitch as before
    assert "plateau" not in StitchConfig(window=10).string_id()
    assert StitchConfig(plateau=0.01).string_id() != StitchConfig(plateau=0.02).string_id()
    assert StitchConfig(plateau=0.01).string_id() != StitchConfig(plateau=0.01, window=10).string_id()
    for bad in (dict(precision="fp8"), dict(init="zeros"), dict(group=0), dict(plateau=-1), dict(window=0)):
        with pytest.raises(ValueError):
            StitchConfig(**bad)


@pytest.mark.parametrize("arch", ["R1111", "R2121", "vgg3"])
def test_folding_batchnorm_keeps_the_function(arch):
    torch.manual_seed(0)
    model = build(arch, width=4, in_channels=1)
    with torch.no_grad():  # non-trivial statistics, so a wrong fold would show
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.weight.uniform_(0.5, 2)
    model.eval()
    x = torch.randn(6, 1, 16, 16)
    folded = fold_batchnorm(build(arch, width=4, in_channels=1).eval())  # fresh statistics: still folds
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    fast = frozen_copy(model)
    torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-5)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    assert not any(p.requires_grad for p in fast.parameters())


def test_training_mode_batchnorm_is_not_folded():
    model = build("R1111", width=4, in_channels=1).train()
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in fold_batchnorm(model).modules()) > 0


def test_trace_cache_stays_within_its_byte_budget(zoo):
    probe = Context(zoo, CONFIG)
    cell = Cell(A, "stem", B, "stem")
    one = trace_bytes(probe.model(A), probe.data(cell).x_train.shape[1:], DATA.n_train)
    assert probe.cached_bytes() == 0 and probe.trace(A, cell, "train") and probe.cached_bytes() == one
    ctx = Context(zoo, CONFIG, cache_bytes=int(1.5 * one))
    for spec in (A, B):
        ctx.trace(spec, cell, "train")
    assert ctx.cached_bytes() == one  # A was evicted when B arrived
    assert ctx.trace(B, cell, "train") is ctx.trace(B, cell, "train")  # B is still cached


def test_half_precision_cache_halves_memory_and_keeps_the_answer(zoo):
    cell = Cell(A, "layer1.0", B, "layer2.0")
    full, half = Context(zoo, CONFIG), Context(zoo, CONFIG, cache_dtype=torch.float16)
    assert half.trace(A, cell, "test")["layer1.0"].dtype == torch.float16
    assert half.trace(A, cell, "test")["logits"].dtype == torch.float32
    spatial = [c for c in half.model(A).spatial_cuts]
    assert sum(half.trace(A, cell, "test")[c].nbytes for c in spatial) * 2 == \
        sum(full.trace(A, cell, "test")[c].nbytes for c in spatial)
    for name in ("tlm", "dm", "linear_cka"):
        r_full, r_half = methods.get(name).evaluate(full, cell), methods.get(name).evaluate(half, cell)
        key = "score" if "score" in r_full else "accuracy"
        assert r_half[key] == pytest.approx(r_full[key], abs=0.03), name


def test_evaluating_many_cells_equals_evaluating_each(zoo):
    ctx = Context(zoo, CONFIG)
    cells = [Cell(A, i, B, j) for j in ("layer1.0", "layer2.0") for i in ("stem", "layer2.0")]
    together = methods.get("tlm").evaluate_many(ctx, cells)
    for cell, r in zip(cells, together):
        alone = methods.get("tlm").evaluate(ctx, cell)
        assert r["accuracy"] == pytest.approx(alone["accuracy"], abs=0.011), cell.string_id()
        assert r["fit_r2"] == pytest.approx(alone["fit_r2"], abs=1e-3), cell.string_id()


def test_groups_split_by_receiver_cut_and_size():
    cells = [Cell(A, i, B, j) for j in ("stem", "layer1.0") for i in ("stem", "layer1.0", "layer2.0")]
    cells.append(Cell(A, "stem", A, "stem"))
    assert methods.groups(cells, size=2) == [[0, 1], [2], [3, 4], [5], [6]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the CUDA path is skipped")
def test_cuda_path_matches_cpu(tmp_path):
    """On a GPU: device-resident data, frozen copies, grouped stitches under bf16 autocast, and a
    compiled suffix give the CPU fp32 answer to within bf16 rounding."""
    cells = [Cell(A, i, B, "layer2.0") for i in ("stem", "layer2.0", "layer4.0")]
    cpu = Context(Zoo(tmp_path, device="cpu"), CONFIG)  # trains the models; the GPU zoo loads the same
    gpu = Context(Zoo(tmp_path, device="cuda"), StitchConfig(steps=25, batch_size=32, compile=True))
    cpu.trace(A, cells[0], "train"), cpu.trace(B, cells[0], "train")
    assert gpu.trace(A, cells[0], "train")["stem"].is_cuda
    for name in ("tlm", "fula", "dm"):
        for c, r_cpu, r_gpu in zip(cells, methods.get(name).evaluate_many(cpu, cells),
                                   methods.get(name).evaluate_many(gpu, cells)):
            assert r_gpu["accuracy"] == pytest.approx(r_cpu["accuracy"], abs=0.05), (name, c.sender_cut)


def test_plateaued_compares_the_last_two_windows():
    from stitchtest.stitching import plateaued
    assert not plateaued([1.0] * 7, 4, 0.01)  # fewer than two windows
    assert plateaued([1.0] * 8, 4, 0.01)
    assert not plateaued([2.0] * 4 + [1.0] * 4, 4, 0.01)  # halved: still learning
    assert plateaued([1.0] * 4 + [0.995] * 4, 4, 0.01) and not plateaued([1.0] * 4 + [0.98] * 4, 4, 0.01)


def test_a_converged_stitch_stops_and_the_others_train_on(traces):
    """With ``plateau``, a stitch whose windowed loss stops improving stops at a window boundary,
    alone; the others train exactly as they would without it, and off it changes nothing."""
    sender, target, y, receiver = traces
    senders = [sender["layer2.0"], sender["stem"]]  # the depth-matched sender starts near its optimum
    full = StitchConfig(steps=60, batch_size=32, precision="fp32")
    stop = StitchConfig(steps=60, batch_size=32, precision="fp32", plateau=0.02, window=10)
    # the squared loss, cosine, no decay (FuLA before #29): the authors' step schedule drops the rate at
    # step 20 of 60, which flattens every stitch's loss there and leaves no stitch still moving
    old = FuLA(distance="nmse", schedule="cosine", weight_decay=0.0, init_images=None, epochs=None)
    done, moving = fit_stitches(old, receiver, "layer2.0", senders, y, target, stop)
    ref = fit_stitches(old, receiver, "layer2.0", senders, y, target, full)
    assert len(done.losses) < len(moving.losses) and len(done.losses) % 10 == 0
    assert done.losses == pytest.approx(ref[0].losses[:len(done.losses)], rel=1e-4, abs=1e-7)
    assert moving.losses[:len(done.losses)] == pytest.approx(ref[1].losses[:len(done.losses)], rel=1e-4, abs=1e-7)
    assert len(ref[0].losses) == len(ref[1].losses) == 60
