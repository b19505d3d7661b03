"""``fula_bn``: FuLA with the frozen networks' BatchNorm in train mode, as the FuLA authors' real-data
runs (stitching/batchnorm_train.py says what their code does, file by file).

The loss is checked against a reference written from their code directly (torch BatchNorm in train
mode on the sender and the stitched receiver, the receiver's own pass in train mode for the targets),
stacked stitches against each trained alone, and the zoo's networks against any change."""
import copy

import pytest
import torch

from stitchtest.models.core import frozen_copy, resnet
from stitchtest.stitching import StitchConfig, fit_stitches
from stitchtest.stitching.batchnorm_train import ChunkedBatchNorm, TrainModeFeed, chunked
from stitchtest.stitching.objectives import FuLA, FuLABN, functional_loss, get

CONFIG = StitchConfig(steps=6, batch_size=16, precision="fp32", seed=3)
# a few steps, with their 500-image start, no epochs floor (the budget is the run's steps)
OBJECTIVE = FuLABN(epochs=None, init_images=None)


def network(seed: int):
    """A small random ResNet whose BatchNorm statistics are not the identity (a few train passes)."""
    torch.manual_seed(seed)
    net = resnet((1, 1, 1, 1), width=4, num_classes=5)
    with torch.no_grad():
        net.train()
        for _ in range(3):
            net(torch.randn(32, 3, 16, 16) * 2 + 0.5)
    return net.eval()


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    x, y = torch.randn(48, 3, 16, 16), torch.randint(0, 5, (48,))
    sender, other, receiver = network(1), network(2), network(3)
    return sender, other, receiver, x, y


def fit(objective, senders, receiver, cut, x, y):
    """fit_stitches as the engine calls it for a train-mode objective: eval-mode activations for the
    start, the train-mode feed for every step."""
    folded = frozen_copy(receiver)
    with torch.no_grad():
        targets = folded.trace(x)
        starts = [frozen_copy(net).prefix(x, c) for net, c in senders]
    hints = objective.hint_cuts(folded, cut)
    feed = TrainModeFeed(senders, receiver, x, hints)
    return fit_stitches(objective, folded, cut, starts, y, targets, CONFIG, feed=feed), feed


def test_fula_bn_is_registered_with_its_own_id():
    obj = get("fula_bn")
    assert obj.batchnorm == "train" and FuLA().batchnorm == "eval"
    assert obj.string_id().startswith("fula_bn(") and obj.string_id() != FuLA().string_id()
    # everything else is fula's
    assert obj.string_id()[len("fula_bn"):] == FuLA().string_id()[len("fula"):]


def test_the_loss_is_the_authors_with_train_mode_batchnorm(setup):
    sender, _, receiver, x, y = setup
    cut = "layer2.0"
    (result,), _ = fit(OBJECTIVE, [(sender, "layer2.0")], receiver, cut, x, y)
    # their step: FrankModel in train mode (trainer_pc.py), the receiver's reference pass in train mode
    # without updating statistics (get_end_hooked_activations), the stitched pass in train mode
    idx = torch.randint(0, len(x), (CONFIG.batch_size,), generator=torch.Generator().manual_seed(CONFIG.seed))
    front, end, ref = copy.deepcopy(sender).train(), copy.deepcopy(receiver).train(), copy.deepcopy(receiver).train()
    with torch.no_grad():
        g = ref.trace(x[idx])
        h = result.start(front.prefix(x[idx], "layer2.0"))
        stitched = {cut: h, **end.trace(h, cut)}
    cuts = ["layer2.0", "layer3.0", "layer4.0"]
    theirs = functional_loss([stitched[c] for c in cuts], [g[c] for c in cuts]).item()
    assert result.losses[0] == pytest.approx(theirs, rel=1e-5)
    # not the eval-mode loss: train mode is a different function here
    folded = frozen_copy(receiver).eval()
    with torch.no_grad():
        ge = folded.trace(x[idx])
        he = result.start(frozen_copy(sender).prefix(x[idx], "layer2.0"))
        se = {cut: he, **folded.trace(he, cut)}
    assert abs(functional_loss([se[c] for c in cuts], [ge[c] for c in cuts]).item() - theirs) > 1e-3


def test_stacked_stitches_train_as_each_alone(setup):
    sender, other, receiver, x, y = setup
    senders = [(sender, "layer1.0"), (other, "layer3.0"), (other, "layer2.0")]
    together, feed = fit(OBJECTIVE, senders, receiver, "layer2.0", x, y)
    for s, one in enumerate(senders):
        (alone,), feed_alone = fit(OBJECTIVE, [one], receiver, "layer2.0", x, y)
        assert together[s].losses == pytest.approx(alone.losses, rel=1e-4)
        for p, q in zip(together[s].stitch.parameters(), alone.stitch.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
        # its own running statistics: the same as alone, in sender and receiver
        for net, net_alone in zip(feed.trained(s), feed_alone.trained(0)):
            for (k, b), (_, c) in zip(net.state_dict().items(), net_alone.state_dict().items()):
                torch.testing.assert_close(b, c, rtol=1e-4, atol=1e-5, msg=k)


def test_each_stitch_moves_only_its_own_running_statistics(setup):
    sender, other, receiver, x, y = setup
    _, feed = fit(OBJECTIVE, [(sender, "layer1.0"), (other, "layer1.0")], receiver, "layer1.0", x, y)
    (s0, r0), (s1, r1) = feed.trained(0), feed.trained(1)
    bn = dict(receiver.named_modules())["stages.2.conv1.1"]  # layer2.0's first BatchNorm, after the cut
    mine = [dict(r.named_modules())["stages.2.conv1.1"] for r in (r0, r1)]
    assert not torch.allclose(mine[0].running_mean, bn.running_mean)  # training moved them (momentum 0.1)
    assert not torch.allclose(mine[0].running_mean, mine[1].running_mean)  # each by its own stitched batches
    assert not r0.training and not s0.training


def test_the_zoo_networks_are_not_changed(setup):
    sender, other, receiver, x, y = setup
    before = [copy.deepcopy(n.state_dict()) for n in (sender, other, receiver)]
    fit(OBJECTIVE, [(sender, "layer1.0"), (other, "layer2.0")], receiver, "layer2.0", x, y)
    for net, state in zip((sender, other, receiver), before):
        assert not net.training
        for k, v in net.state_dict().items():
            assert torch.equal(v, state[k]), k


def test_a_chunked_batchnorm_normalises_each_chunk_alone():
    bn = torch.nn.BatchNorm2d(3).train()
    x = torch.randn(8, 3, 4, 4) * torch.tensor([1.0, 5.0]).repeat_interleave(4)[:, None, None, None]
    net = chunked(torch.nn.Sequential(bn), 2)
    assert isinstance(net[0], ChunkedBatchNorm)
    out = net(x)
    for s, part in enumerate(x.chunk(2)):
        alone = torch.nn.BatchNorm2d(3).train()
        torch.testing.assert_close(out.chunk(2)[s], alone(part))
        torch.testing.assert_close(net[0].running_mean[s], alone.running_mean)
        torch.testing.assert_close(net[0].running_var[s], alone.running_var)
