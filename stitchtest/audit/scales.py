"""How big an audit is: ``--scale smoke | small | paper``.

A scale fixes the zoo (data, architecture, width, epochs), the seeds per group, the stitch
budget, and which cuts each testbed visits. ``smoke`` is the default and runs on the embedded
digits within the CPU budget; ``small`` adds the second architecture and cross-task variants;
``paper`` is the setting of the papers (GPU territory).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import List, Optional, Tuple

from ..data.spec import DataSpec
from ..stitching.fit import StitchConfig
from ..models.zoo import ModelSpec


@dataclass(frozen=True)
class Scale:
    name: str
    arch: str = "R1111"
    width: int = 8
    epochs: int = 15
    seeds: int = 3
    #: seed pairs of the testbeds that differ from ``seeds`` (testbed -> pairs): those whose claims this
    #: scale can decide. A claim is decided by an exact test over independent seed pairs, in Tarone's
    #: family (statistics.tarone_eligible): a testbed's claims enter it only with enough pairs (9 for
    #: 18 hypotheses, 2^-9 < 0.05 / 18), so pairs are bought where they decide claims cheaply
    #: (benchmarks/claim_cost.py: the random controls and interventions cost 4% of a run's cells)
    testbed_seeds: Tuple[Tuple[str, int], ...] = ()
    steps: int = 200
    #: images per Adam step. 64 at smoke: the same verdicts as 128 (every check and claim: the budget
    #: study of 2026-12-01 in reports/performance.md) in 0.58-0.60 of the SGD time; 100 steps instead changed three
    #: checks and a claim (under-trained stitches)
    batch_size: int = 128
    #: (sender, receiver) architectures of the cross-layer testbed's matrices
    cross_pairs: Tuple[Tuple[str, str], ...] = (("R1111", "R1111"),)
    #: adversarial training: L-inf radius (normalised pixel units) and PGD steps
    eps: float = 0.5
    attack_steps: int = 3
    cross_task: bool = False
    shortcut_rates: Tuple[float, ...] = (0.0, 1.0)
    #: activation cache: byte budget and element type (``context.trace_bytes`` gives the sizes;
    #: a cell holds sender and receiver traces on train and test, so the budget must hold four)
    cache_gib: float = 2.0
    cache_dtype: str = "float32"
    #: what the stitches train in: "auto" (bf16 where a measured probe finds it faster, else fp32),
    #: "fp32" or "bf16"; part of every cell's key, so runs in two precisions never mix
    precision: str = "auto"
    #: the data at this scale, whichever data set is given: images at ``image_size`` and at most
    #: ``n_train`` / ``n_test`` of them (stratified subsets, :meth:`data`). What a cell costs is fixed by
    #: these (steps x images x pixels), not by the size of the user's directory; None leaves the data's own
    image_size: Optional[int] = None
    n_train: Optional[int] = None
    n_test: Optional[int] = None

    def data(self, spec: DataSpec) -> DataSpec:
        """``spec`` as this scale reads it: its image side and sample counts capped (a count the spec
        already caps lower stays). Applied by :class:`~stitchtest.audit.core.Audit` and to the run's data
        id, so models, cells and baselines carry it."""
        def cap(mine: Optional[int], theirs: Optional[int]) -> Optional[int]:
            return theirs if mine is None else mine if theirs is None else min(mine, theirs)

        return replace(spec, size=self.image_size or spec.size, n_train=cap(self.n_train, spec.n_train),
                       n_test=cap(self.n_test, spec.n_test))

    def spec(self, data: DataSpec, **changes) -> ModelSpec:
        """A zoo spec at this scale (``changes`` override, e.g. ``seed=3, regime="random"``)."""
        base = ModelSpec(arch=self.arch, width=self.width, data=data, epochs=self.epochs, eps=self.eps,
                         attack_steps=self.attack_steps)
        return base.replace(**changes)

    def zoo_specs(self, data: DataSpec) -> List[ModelSpec]:
        """The models a run of the built-in testbeds at this scale trains, in the testbeds' seed
        conventions (pair k: seed 100 + k -> seed k; random controls 200 + k and 300 + k): what
        ``stitchtest zoo --train`` trains and ``--export-pretrained`` ships. Checked against the
        testbeds' own plans in ``tests/test_pretrained.py``."""
        n = self.seeds
        most = max([n] + [k for _, k in self.testbed_seeds])
        standard = [self.spec(data, seed=k) for k in range(most)]
        standard += [self.spec(data, seed=100 + k) for k in range(most)]
        random = [self.spec(data, seed=b + k, regime="random") for b in (200, 300)
                  for k in range(self.seeds_of("random_controls"))]
        adversarial = [self.spec(data, seed=k, regime="adversarial") for k in range(n)]
        shortcut = [self.spec(data, seed=k, regime="shortcut", cue_p=p)
                    for p in self.shortcut_rates if p > 0 for k in range(n)]
        parity = [self.spec(data, seed=k, task="parity") for k in range(n)] if self.cross_task else []
        return standard + random + adversarial + shortcut + parity

    def context_options(self, limit_bytes: Optional[int] = None) -> dict:
        """Keyword arguments for :class:`~stitchtest.engine.context.Context`'s activation cache: the
        scale's budget, or ``limit_bytes`` where that is smaller (``devices.cache_share``)."""
        import torch

        budget = int(self.cache_gib * 2**30)
        return {"cache_bytes": budget if limit_bytes is None else min(budget, limit_bytes),
                "cache_dtype": getattr(torch, self.cache_dtype)}

    def stitch(self) -> StitchConfig:
        return StitchConfig(steps=self.steps, batch_size=self.batch_size, precision=self.precision)

    def seeds_of(self, testbed: str) -> int:
        """Seed pairs (models per group) of ``testbed`` at this scale."""
        return dict(self.testbed_seeds).get(testbed, self.seeds)

    @property
    def grid_seeds(self) -> int:
        """Seed pairs of the cross-layer matrices."""
        return self.seeds_of("cross_layer")

    def with_seeds(self, seeds: int | None) -> "Scale":
        """``--seeds N``: N seed pairs in every testbed."""
        return self if not seeds else replace(self, seeds=seeds, testbed_seeds=())

    def with_precision(self, precision: str | None) -> "Scale":
        """``--stitch-precision``: the stitches in fp32 or bf16 instead of the probe's choice, e.g. to
        check that a verdict does not depend on the arithmetic (issue #30)."""
        return self if not precision or precision == "auto" else replace(self, precision=precision)

    def with_arch(self, arch: str | None) -> "Scale":
        """The scale with every testbed on one model family (``--arch``), its cross-layer matrix its own."""
        return self if not arch else replace(self, arch=arch, cross_pairs=((arch, arch),))


SMALL_RESNETS = tuple(f"R{a}{b}{c}{d}" for a in (1, 2) for b in (1, 2) for c in (1, 2) for d in (1, 2))

SCALES = {
    # 3 seed pairs everywhere (the cross-layer grids had 6 for a "5 of 6 agree" rule that no longer
    # decides anything: #30's scale study), 9 where they decide claims within the budget
    "smoke": Scale("smoke", batch_size=64, testbed_seeds=(("interventions", 9), ("random_controls", 9))),
    # the real-data tier (#30): MNIST within an hour on two cores. Its images at 16x16 (as digits) and at
    # most 1,000 training and 1,000 test images, so a cell costs what a digits cell costs whatever the
    # directory holds (FuLA's 30 epochs are 450 steps of 64); smoke's seed pairs; and what smoke cannot
    # test: the R1111 -> R2222 grid, cross-task senders, a 0.5 shortcut rate
    "small": Scale("small", batch_size=64, testbed_seeds=(("interventions", 9), ("random_controls", 9)),
                   cross_pairs=(("R1111", "R1111"), ("R1111", "R2222")), cross_task=True,
                   shortcut_rates=(0.0, 0.5, 1.0), image_size=16, n_train=1000, n_test=1000),
    "paper": Scale("paper", width=64, epochs=30, seeds=3, steps=1000,
                   # Hernandez et al.: the 256 ordered pairs of R1111..R2222, and ResNet-18 <-> ResNet-34
                   cross_pairs=tuple((s, r) for s in SMALL_RESNETS for r in SMALL_RESNETS)
                   + (("resnet18", "resnet34"), ("resnet34", "resnet18")),
                   cross_task=True, shortcut_rates=(0.0, 0.5, 1.0),
                   # CIFAR-10 ResNet-18: 35 GiB per model in fp16, so a cell's pair fits one 80 GB GPU
                   cache_gib=72.0, cache_dtype="float16"),
}
