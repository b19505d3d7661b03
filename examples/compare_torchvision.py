"""Compare two torchvision models layer by layer: stitching (TLM, closed-form DM) and linear CKA.

    python examples/compare_torchvision.py resnet18 resnet18 --epochs 2 --out compare-out

Both models are built by name with ``weights=None`` (nothing is downloaded), trained briefly on
scikit-learn's bundled digits (16 x 16, grey repeated to three channels), then compared with
:func:`stitchtest.compare`; the matrices are printed, and the rows (CSV) and a heatmap per
method are written to ``--out``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

import stitchtest
from stitchtest.data import load
from stitchtest.stitching import StitchConfig


def train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> torch.nn.Module:
    """A few epochs of Adam: enough to make the layers mean something, quick on a CPU."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(128):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def main(argv=None) -> stitchtest.Comparison:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arch_a", nargs="?", default="resnet18", help="a torchvision model name (sender)")
    parser.add_argument("arch_b", nargs="?", default="resnet18", help="a torchvision model name (receiver)")
    parser.add_argument("--layers", default="layer1,layer2,layer3,layer4", help="layer names, for both models")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs per model (0: random networks)")
    parser.add_argument("--steps", type=int, default=100, help="TLM stitch training steps")
    parser.add_argument("--images", type=int, default=None, help="use only this many training images")
    parser.add_argument("--out", default=None, help="directory for rows.csv and heatmaps")
    args = parser.parse_args(argv)

    digits = load("digits")
    x, y = digits.x_train.expand(-1, 3, -1, -1), digits.y_train
    if args.images:
        x, y = x[:args.images], y[:args.images]
    models = []
    for seed, arch in enumerate((args.arch_a, args.arch_b)):
        torch.manual_seed(seed)
        models.append(train(torchvision.models.get_model(arch, weights=None, num_classes=10), x, y, args.epochs, seed))
    layers = args.layers.split(",")
    test = (digits.x_test.expand(-1, 3, -1, -1), digits.y_test)
    result = stitchtest.compare(*models, (x, y), test_data=test, layers_a=layers, layers_b=layers,
                                methods=["tlm", "dm", "linear_cka"], stitch=StitchConfig(steps=args.steps),
                                names=[f"{args.arch_a} (A)", f"{args.arch_b} (B)"])
    print(result)
    # an accuracy's table ends with the receiver's own ("receiver alone (...): 0.34; chance 0.10"):
    # a stitched accuracy is read against it, never alone
    for method, readout in (("tlm", "accuracy"), ("dm", "accuracy"), ("linear_cka", "score")):
        print()
        print(result.table(method, readout))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        result.to_csv(out / "rows.csv")
        for method in ("tlm", "dm", "linear_cka"):
            result.heatmap(method, path=out / f"{method}.png")
        print(f"\nrows and heatmaps in {out}/")
    return result


if __name__ == "__main__":
    main()
