"""How big an audit is: ``--scale smoke | small | paper``.

A scale fixes the zoo (data, architecture, width, epochs), the seeds per group, the stitch
budget, and which cuts each testbed visits. ``smoke`` is the default and runs on the embedded
digits within the CPU budget; ``small`` adds the second architecture and cross-task variants;
``paper`` is the setting of the papers (GPU territory).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Tuple

from .data import DataSpec
from .stitching import StitchConfig
from .zoo import ModelSpec


@dataclass(frozen=True)
class Scale:
    name: str
    arch: str = "R1111"
    width: int = 8
    epochs: int = 15
    seeds: int = 3
    steps: int = 200
    #: receiver-architecture partners for the cross-layer testbed
    cross_archs: Tuple[str, ...] = ("R1111",)
    #: adversarial training: L-inf radius (normalised pixel units) and PGD steps
    eps: float = 0.5
    attack_steps: int = 3
    cross_task: bool = False
    shortcut_rates: Tuple[float, ...] = (0.0, 1.0)

    def spec(self, data: DataSpec, **changes) -> ModelSpec:
        """A zoo spec at this scale (``changes`` override, e.g. ``seed=3, regime="random"``)."""
        base = ModelSpec(arch=self.arch, width=self.width, data=data, epochs=self.epochs, eps=self.eps,
                         attack_steps=self.attack_steps)
        return base.replace(**changes)

    def stitch(self) -> StitchConfig:
        return StitchConfig(steps=self.steps)

    def with_seeds(self, seeds: int | None) -> "Scale":
        return self if not seeds else replace(self, seeds=seeds)


SCALES = {
    "smoke": Scale("smoke"),
    "small": Scale("small", steps=300, cross_archs=("R1111", "R2222"), cross_task=True,
                   shortcut_rates=(0.0, 0.5, 1.0)),
    "paper": Scale("paper", width=64, epochs=30, seeds=3, steps=1000,
                   cross_archs=tuple(f"R{a}{b}{c}{d}" for a in (1, 2) for b in (1, 2) for c in (1, 2) for d in (1, 2)),
                   cross_task=True, shortcut_rates=(0.0, 0.5, 1.0)),
}
