"""Objectives: zero at the identity self-stitch, growing with perturbation, registry, failures."""
import math
import sys
import types
from importlib import metadata

import pytest
import torch
import torch.nn.functional as F

from stitchtest.engine import methods
from stitchtest.models import build
from stitchtest.stitching.objectives import DM, OBJECTIVES, SLM, TLM, DMHint, FuLA, FuLAKL, Objective, nmse, soft_kl
from stitchtest.runtime.registry import RegistryError
from stitchtest.stitching.stitch import Stitch
from stitchtest.stitching import StitchConfig, fit_stitch, fit_stitches, new_stitch, stitched_batch
from stitchtest.stitching.fit import budget, optimiser
from stitchtest.models.training import calibrate_batchnorm

OBJECTIVE_TABLE = [TLM(), SLM(), SLM(temperature=4.0), DM(sgd=True), FuLA(), FuLAKL(), DMHint(),
                   FuLA(weights="linear", hints=2), FuLA(distance="nmse")]


@pytest.fixture(scope="module")
def receiver_and_data():
    torch.manual_seed(0)
    model = build("R1111", 8, 1, 10)
    x, y = torch.randn(64, 1, 16, 16), torch.randint(0, 10, (64,))
    calibrate_batchnorm(model, x)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval(), x, y


def identity_stitch(shape, noise=0.0, seed=0):
    stitch = Stitch(shape, shape)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        stitch.map.weight.copy_(torch.eye(shape[0]).reshape(shape[0], shape[0], 1, 1))
        stitch.map.bias.zero_()
        stitch.map.weight.add_(noise * torch.randn(stitch.map.weight.shape, generator=g))
    return stitch


def loss_at(objective, model, x, y, cut, noise):
    targets = model.trace(x)
    a = targets[cut]
    stitch = identity_stitch(tuple(a.shape[1:]), noise)
    return objective.loss(stitched_batch(objective, model, cut, stitch(a), y, targets)).item()


@pytest.mark.parametrize("objective", OBJECTIVE_TABLE, ids=lambda o: o.string_id())
@pytest.mark.parametrize("cut", ["layer1.0", "layer3.0"])
def test_identity_self_stitch(objective, cut, receiver_and_data):
    model, x, y = receiver_and_data
    loss = loss_at(objective, model, x, y, cut, 0.0)
    if isinstance(objective, TLM):
        own = F.cross_entropy(model(x), y).item()
        assert loss == pytest.approx(own, rel=1e-5), f"{objective.string_id()}: TLM at identity is the task loss"
    else:
        assert abs(loss) < 1e-5, f"{objective.string_id()} should be zero at the identity self-stitch"


@pytest.mark.parametrize("objective", [o for o in OBJECTIVE_TABLE if not isinstance(o, TLM)],
                         ids=lambda o: o.string_id())
def test_loss_grows_as_the_stitch_is_perturbed(objective, receiver_and_data):
    model, x, y = receiver_and_data
    losses = [loss_at(objective, model, x, y, "layer2.0", noise) for noise in (0.0, 0.05, 0.2, 0.8)]
    assert losses == sorted(losses) and losses[-1] > losses[0] + 1e-3, \
        f"{objective.string_id()} should grow with perturbation, got {losses}"


def test_fula_hints_and_weights(receiver_and_data):
    model = receiver_and_data[0]
    assert FuLA().hint_cuts(model, "layer2.0") == ("layer2.0", "layer3.0", "layer4.0")
    assert FuLA(hints="stitch").hint_cuts(model, "layer2.0") == ("layer2.0",)
    assert FuLA(hints=2).hint_cuts(model, "stem") == ("stem", "layer1.0")
    torch.testing.assert_close(FuLA(weights="linear").depth_weights(3), torch.tensor([1, 2, 3]) / 6)
    assert FuLA().depth_weights(4).sum().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="non-negative"):
        FuLA(weights=(1.0, -1.0)).depth_weights(2)


def test_training_reduces_the_loss_from_a_random_init(receiver_and_data):
    model, x, y = receiver_and_data
    targets = model.trace(x)
    config = StitchConfig(steps=60, batch_size=32, lr=1e-2, init="random")
    old = fit_stitch(FuLA(distance="nmse", schedule="cosine", weight_decay=0.0), model, "layer2.0",
                     targets["layer2.0"], y, targets, config)
    assert old.failure is None and len(old.losses) == 60
    assert sum(old.losses[-10:]) < 0.5 * sum(old.losses[:10])
    # the authors' ratio, whose rate drops x0.1 at steps 20 and 40: still down by a quarter
    fit = fit_stitch(FuLA(), model, "layer2.0", targets["layer2.0"], y, targets, config)
    assert fit.failure is None and sum(fit.losses[-10:]) < 0.75 * sum(fit.losses[:10])


def test_each_objective_brings_its_weight_decay_and_schedule():
    """FuLA's authors: Adam L2 1e-4, rate x0.1 at 1/3 and 2/3 of the budget; the others keep
    plain Adam annealed by a cosine to 0."""
    config = StitchConfig(steps=30)
    rates = {}
    for objective in (FuLA(), TLM()):
        p = torch.nn.Parameter(torch.zeros(3))
        opt, sched = optimiser(objective, [p], config, config.steps)
        assert opt.param_groups[0]["weight_decay"] == objective.weight_decay
        rates[objective.name] = []
        for _ in range(config.steps):
            rates[objective.name].append(opt.param_groups[0]["lr"])
            opt.step(), sched.step()
    assert FuLA().weight_decay == 1e-4 and TLM().weight_decay == 0
    assert rates["fula"] == pytest.approx([1e-3] * 10 + [1e-4] * 10 + [1e-5] * 10)
    assert rates["tlm"][0] == 1e-3 and rates["tlm"][15] == pytest.approx(5e-4) and rates["tlm"][-1] < 1e-5
    with pytest.raises(ValueError, match="schedule"):
        FuLA(schedule="linear")


def test_fula_trains_thirty_epochs_at_least(receiver_and_data):
    """The authors' 30 epochs (last partial batch dropped) when the run's steps are fewer; the run's
    steps when they are more, or when the objective sets no epochs."""
    assert budget(FuLA(), StitchConfig(steps=200, batch_size=64), 1400) == 30 * 21
    assert budget(FuLA(), StitchConfig(steps=1000, batch_size=64), 1400) == 1000
    assert budget(FuLA(epochs=None), StitchConfig(steps=200, batch_size=64), 1400) == 200
    assert budget(TLM(), StitchConfig(steps=200, batch_size=64), 1400) == 200
    assert budget(FuLA(), StitchConfig(steps=5, batch_size=64), 10) == 30  # fewer images than a batch: one a pass
    model, x, y = receiver_and_data
    targets = model.trace(x)
    fit = fit_stitch(FuLA(), model, "layer2.0", targets["layer1.0"], y, targets, StitchConfig(steps=3, batch_size=32))
    assert len(fit.losses) == 30 * (64 // 32)


def test_the_least_squares_start_sees_init_images(receiver_and_data):
    """``images=n`` fits the start on n training images drawn by the seed (the authors' K_init 500),
    not on all of them; more images than there are means all."""
    model, x, y = receiver_and_data
    targets = model.trace(x)
    a, b = targets["layer1.0"], targets["layer2.0"]
    config = StitchConfig()
    pick = torch.randperm(len(a), generator=torch.Generator().manual_seed(config.seed))[:20]
    some = new_stitch(a, b, config, images=20)
    by_hand = Stitch(a.shape[1:], b.shape[1:]).fit_least_squares(a[pick], b[pick])
    every = new_stitch(a, b, config)
    torch.testing.assert_close(some.map.weight, by_hand.map.weight)
    assert not torch.allclose(some.map.weight, every.map.weight)
    torch.testing.assert_close(new_stitch(a, b, config, images=10_000).map.weight, every.map.weight)


def test_closed_form_dm_takes_no_steps(receiver_and_data):
    model, x, y = receiver_and_data
    targets = model.trace(x)
    assert fit_stitch(DM(), model, "layer1.0", targets["layer1.0"], y, targets).losses == []


class Exploding(Objective):
    name = "exploding"

    def loss(self, batch):
        return batch.stitched_logits.sum() * float("inf")


def test_non_finite_loss_marks_the_cell_failed(receiver_and_data):
    model, x, y = receiver_and_data
    targets = model.trace(x)
    fit = fit_stitch(Exploding(), model, "layer1.0", targets["layer1.0"], y, targets, StitchConfig(steps=5))
    assert fit.failure and "non-finite" in fit.failure and "step 0" in fit.failure


def test_registry_lists_builtins_and_resolves_module_paths(monkeypatch):
    module = types.ModuleType("user_objectives")
    module.Exploding = Exploding
    monkeypatch.setitem(sys.modules, "user_objectives", module)
    assert set(OBJECTIVES.names()) >= {"tlm", "slm", "dm", "fula"}
    assert OBJECTIVES.get("fula") is FuLA
    assert OBJECTIVES.get("user_objectives:Exploding") is Exploding
    assert isinstance(methods.get("user_objectives:Exploding"), methods.StitchingMethod)
    with pytest.raises(RegistryError, match="known: .*fula"):
        OBJECTIVES.get("nope")
    with pytest.raises(RegistryError, match="cannot import"):
        OBJECTIVES.get("no_such_module:X")


def install_entry_point(monkeypatch, name: str, value: str) -> None:
    """Pretend an installed package advertises ``name = value`` under ``stitchtest.objectives``,
    on a copy of the objectives registry so the pretence ends with the test."""
    ep = metadata.EntryPoint(name=name, value=value, group="stitchtest.objectives")
    real = metadata.entry_points

    def fake_entry_points(**kw):
        eps = real(**kw)
        return metadata.EntryPoints([*eps.select(group="stitchtest.objectives"), ep]) if hasattr(eps, "select") else eps

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    for attr in ("_classes", "_origins", "_broken"):
        monkeypatch.setattr(OBJECTIVES, attr, dict(getattr(OBJECTIVES, attr)))


def test_entry_point_discovery(monkeypatch):
    """A third-party objective advertised under ``stitchtest.objectives`` is found by name."""
    module = types.ModuleType("fake_plugin_pkg")

    class Plugged(Objective):
        name = "plugged"

        def loss(self, batch):
            return batch.stitched_logits.pow(2).mean()

    module.Plugged = Plugged
    monkeypatch.setitem(sys.modules, "fake_plugin_pkg", module)
    install_entry_point(monkeypatch, "plugged", "fake_plugin_pkg:Plugged")
    assert OBJECTIVES.get("plugged") is Plugged
    assert OBJECTIVES.origins()["plugged"] == "entry point fake_plugin_pkg:Plugged"
    assert "plugged" in methods.names()
    assert methods.get("plugged").kind == "objective"


def test_a_broken_plugin_is_left_out_with_its_error(monkeypatch):
    """An installed plugin whose import fails must not take the other methods down: it is left out
    with a warning, listed as broken, and asking for it by name says why."""
    install_entry_point(monkeypatch, "broken", "no_such_plugin_module:Thing")
    with pytest.warns(RuntimeWarning, match="'broken'.*no_such_plugin_module.*ModuleNotFoundError"):
        names = OBJECTIVES.names()
    assert "broken" not in names and "tlm" in names
    assert OBJECTIVES.origins()["broken"].startswith("BROKEN: ")
    with pytest.raises(RegistryError, match="no_such_plugin_module:Thing.*fails to load"):
        OBJECTIVES.get("broken")
    assert methods.get("tlm").kind == "objective"


# ----------------------------------------------------------------------------- FuLA's output term


def fula_batch(receiver_and_data, noise=0.3, cut="layer2.0"):
    model, x, y = receiver_and_data
    targets = model.trace(x)
    stitch = identity_stitch(tuple(targets[cut].shape[1:]), noise)
    return stitched_batch(FuLAKL(), model, cut, stitch(targets[cut]), y, targets), stitch, model, targets, y


def test_fula_is_hints_only_and_fula_kl_puts_the_output_kl_inside_the_mean(receiver_and_data):
    """The authors' FuLA has no output term; fula_kl (their fula_soft) adds their KL as one more term
    of the mean; output_weight adds the old T^2 KL outside it (the old fula_kl, distance="nmse")."""
    batch, *_ = fula_batch(receiver_and_data)
    ratios = [torch.norm(batch.stitched_acts[c] - batch.receiver_acts[c]) / torch.norm(batch.receiver_acts[c])
              for c in batch.stitched_acts]
    assert FuLA().output_weight == 0 and not FuLA().needs_receiver_logits and FuLAKL().needs_receiver_logits
    assert FuLA().loss(batch).item() == pytest.approx(sum(ratios).item() / 3, rel=1e-6)
    kl = soft_kl(batch.stitched_logits, batch.receiver_logits)
    assert kl.item() > 1e-4  # a perturbed stitch changes the outputs
    assert FuLAKL().loss(batch).item() == pytest.approx((sum(ratios).item() + kl.item()) / 4, rel=1e-5)
    assert FuLAKL().string_id() != FuLA().string_id() and OBJECTIVES.get("fula_kl") is FuLAKL
    squares = sum(nmse(batch.stitched_acts[c], batch.receiver_acts[c]) for c in batch.stitched_acts) / 3
    old = FuLA(distance="nmse", output_weight=1.0)
    assert old.loss(batch).item() == pytest.approx(squares.item() + kl.item(), rel=1e-5)


def test_terms_sum_to_the_loss(receiver_and_data):
    batch, *_ = fula_batch(receiver_and_data)
    for objective in (FuLA(), FuLAKL(), FuLA(weights="linear"), TLM()):
        terms = objective.terms(batch)
        assert sum(terms.values()).item() == pytest.approx(objective.loss(batch).item(), rel=1e-6)
    assert set(FuLA().terms(batch)) == {"hint@layer2.0", "hint@layer3.0", "hint@layer4.0"}
    assert set(FuLAKL().terms(batch)) == {"hint@layer2.0", "hint@layer3.0", "hint@layer4.0", "output"}
    assert set(FuLA(output_weight=1.0).terms(batch)) == {"hint@layer2.0", "hint@layer3.0", "hint@layer4.0", "output_kl"}
    assert set(TLM().terms(batch)) == {"loss"}


def test_gradient_shares_are_each_terms_gradient_norm_over_their_sum(receiver_and_data):
    """Recorded at the first and last step, per stitch, from the term's own gradient: checked
    against autograd by hand for a stitch trained alone, and equal when trained in a group."""
    model, x, y = receiver_and_data
    targets = model.trace(x)
    a = targets["layer1.0"]
    config = StitchConfig(steps=3, batch_size=64, precision="fp32")
    alone = fit_stitch(FuLAKL(), model, "layer2.0", a, y, targets, config)
    grouped = fit_stitches(FuLAKL(), model, "layer2.0", [a, targets["layer2.0"]], y, targets, config)
    shares = {k: v for k, v in alone.diagnostics.items() if k.startswith("grad_share:") and k.endswith(":start")}
    assert set(shares) == {f"grad_share:{t}:start" for t in ("hint@layer2.0", "hint@layer3.0", "hint@layer4.0", "output")}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert {k for k in alone.diagnostics if k.endswith(":end")} == {k.replace(":start", ":end") for k in shares} | {
        k.replace("grad_share", "loss_term").replace(":start", ":end") for k in shares}
    for key, value in alone.diagnostics.items():
        assert grouped[0].diagnostics[key] == pytest.approx(value, rel=1e-4, abs=1e-7)

    # by hand, at step 0: the least-squares stitch on the first batch of the training stream
    stitch = new_stitch(a, targets["layer2.0"], config, images=FuLAKL().init_images)
    idx = torch.randint(0, len(a), (64,), generator=torch.Generator().manual_seed(config.seed))
    stitch.train()
    terms = FuLAKL().terms(stitched_batch(FuLAKL(), model, "layer2.0", stitch(a[idx]), y, targets, idx))
    norms = {}
    for name, term in terms.items():
        grads = torch.autograd.grad(term, list(stitch.parameters()), retain_graph=True)
        norms[name] = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
    for name, norm in norms.items():
        assert alone.diagnostics[f"grad_share:{name}:start"] == pytest.approx(norm / sum(norms.values()), rel=1e-4)
        assert alone.diagnostics[f"loss_term:{name}:start"] == pytest.approx(terms[name].item(), rel=1e-4)


def test_a_single_term_objective_records_no_shares(receiver_and_data):
    model, x, y = receiver_and_data
    targets = model.trace(x)
    fit = fit_stitch(TLM(), model, "layer2.0", targets["layer1.0"], y, targets, StitchConfig(steps=2))
    assert fit.diagnostics == {}
