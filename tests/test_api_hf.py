"""stitchtest.compare on Hugging Face models as they come (tiny random configs, nothing downloaded):
output objects, dict batches of token ids, and stitches into transformer layers, with no wrapper."""
import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
torchvision = pytest.importorskip("torchvision")

from stitchtest import api  # noqa: E402
from stitchtest.stitching import StitchConfig  # noqa: E402

FAST = StitchConfig(steps=5, batch_size=16, precision="fp32")


@pytest.fixture(autouse=True)
def one_thread():
    from stitchtest.runtime import devices

    with devices.threads(1):
        yield


def vit():
    torch.manual_seed(0)
    config = transformers.ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=64, num_labels=10)
    return transformers.ViTForImageClassification(config)


def bert():
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=32, num_labels=3)
    return transformers.BertForSequenceClassification(config)


def test_a_tiny_vit_with_a_resnet18_and_with_itself():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(48, 3, 32, 32, generator=g), torch.randint(0, 10, (48,), generator=g)
    resnet = torchvision.models.resnet18(weights=None, num_classes=10)
    with pytest.warns(RuntimeWarning, match="both tokens"):  # spatial ResNet cuts do not map onto ViT tokens
        result = api.compare(resnet, vit(), (x, y), layers_a=["layer2", "fc"], layers_b=["vit.layers.1", "classifier"],
                             methods=["tlm", "linear_cka"], stitch=FAST)
    assert np.isfinite(result.matrix("linear_cka")).all()  # measures on every cell, token cuts included
    tlm = result.matrix("tlm")
    assert np.isfinite(tlm[1, 1]) and np.isnan(tlm[0, 0])  # the flat cell stitches into ViT's classifier
    assert "ViTForImageClassification" in repr(result) and result.receiver_accuracy is not None
    # into the ViT's own transformer layer: fx cannot trace it, so the rest is replayed, and trains
    model = vit()
    same = api.compare(model, model, (x, y), layers_a=["vit.layers.0"], layers_b=["vit.layers.1"],
                       methods=["tlm", "dm"], stitch=FAST)
    by = {r.method: r.readouts for r in same.records}
    assert "failure" not in by["tlm"] and by["tlm"]["steps"] == 5 and np.isfinite(by["tlm"]["final_loss"])
    assert 0 <= by["tlm"]["accuracy"] <= 1


def test_a_tiny_bert_with_itself_from_a_dict_batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 100, (64, 12), generator=g)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.randint(0, 3, (64,), generator=g)}
    layers = ["bert.encoder.layer.0", "bert.encoder.layer.1"]
    model = bert()
    result = api.compare(model, model, batch, layers_a=layers, layers_b=layers, methods=["tlm", "dm", "linear_cka"],
                         stitch=FAST)
    assert "0 NaN" in repr(result)
    dm = {(r.sender_cut, r.receiver_cut): r.readouts for r in result.records if r.method == "dm"}
    for cut in layers:  # a layer into itself by least squares is the identity: the replayed rest is exact
        assert dm[cut, cut]["latent_error"] < 1e-6 and dm[cut, cut]["accuracy"] == pytest.approx(result.receiver_accuracy)
    tlm = [r.readouts for r in result.records if r.method == "tlm"]
    assert all(r["steps"] == 5 and np.isfinite(r["final_loss"]) for r in tlm)
    np.testing.assert_allclose(np.diag(result.matrix("linear_cka")), 1.0, atol=1e-5)


def test_bert_with_padding_fails_its_stitches_with_the_reason_and_still_measures():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 100, (40, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[::2, 8:] = 0  # every other sequence padded: the rest of BERT reads the mask
    model = bert()
    with pytest.warns(RuntimeWarning, match="attention mask that differs between samples"):
        result = api.compare(model, model, ({"input_ids": ids, "attention_mask": mask}, torch.randint(0, 3, (40,))),
                             layers_a=["bert.encoder.layer.0"], layers_b=["bert.encoder.layer.0", "bert.encoder.layer.1"],
                             methods=["dm", "linear_cka"])
    assert np.isfinite(result.matrix("linear_cka")).all()
    # after layer 0 the next layer attends under the mask; after the last one only the first token is read
    dm = result.matrix("dm")
    assert np.isnan(dm[0, 0]) and np.isfinite(dm[0, 1])
