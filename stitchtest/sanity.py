"""Hernandez et al.'s sanity checks for the cross-layer matrix: what do the stitches compute?

Hernandez, Dangovski, Lu & Soljacic (2023) ask whether a task-loss stitch (TLM) outputs what the
receiver expects at the cut, by comparing it with the direct-matching stitch (DM, least squares):

- **EV** (expected vs. vanilla): MSE between the receiver's own activation at the cut and the TLM
  stitch's output;
- **ES** (expected vs. similarity): MSE between the receiver's activation and the DM stitch's output;
- **SV** (similarity vs. vanilla): MSE between the two stitches' outputs;

each on held-out images, summarised as min / mean / max / std on the diagonal and over all
cells. A TLM stitch that reaches high accuracy with EV far above ES feeds the receiver something
it never computes itself. They also reconstruct images by stitching each sender cut into the
receiver's *input*: how much of the image a cut still carries, by eye.
"""
from __future__ import annotations

import time
from typing import Dict, List, Sequence

import numpy as np
import torch

from .cells import Cell
from .context import Context
from .methods import Method, Readouts, by_group
from .objectives import TLM
from .stitching import StitchConfig, fit_stitches, new_stitch

STATISTICS = ("ev", "es", "sv")


def mse(h: torch.Tensor, g: torch.Tensor) -> float:
    """Mean squared error per element, in float64."""
    return (h.double() - g.double()).pow(2).mean().item()


class StitchSanity(Method):
    """Not a similarity method: trains a TLM and a DM stitch per cell and reads EV, ES and SV."""

    name = "tlm_vs_dm"
    kind = "sanity"
    primary = "ev"

    def string_id(self) -> str:
        return "tlm_vs_dm()"

    def evaluate_many(self, ctx: Context, cells: Sequence[Cell]) -> List[Readouts]:
        return by_group(ctx, cells, self._evaluate_group)

    @staticmethod
    def _evaluate_group(ctx: Context, group: List[Cell]) -> List[Readouts]:
        """TLM stitches into one receiver cut trained together; each DM stitch in closed form."""
        start = time.perf_counter()
        first = group[0]
        t_train, t_test = ctx.pair(first, "train")[1], ctx.pair(first, "test")[1]
        senders = [ctx.pair(c, "train")[0] for c in group]
        tlm = fit_stitches(TLM(), ctx.model(first.receiver), first.receiver_cut, senders, ctx.data(first).y_train,
                           t_train, ctx.stitch)
        target = t_test[first.receiver_cut].float()
        out: List[Readouts] = []
        for cell, fit, a in zip(group, tlm, senders):
            if fit.failure:
                out.append({"failure": f"tlm: {fit.failure}"})
                continue
            dm = new_stitch(a, t_train[cell.receiver_cut], StitchConfig(seed=ctx.stitch.seed))
            with torch.no_grad():
                a_test = ctx.pair(cell, "test")[0].float()
                h_tlm, h_dm = fit.stitch.eval()(a_test), dm.eval()(a_test)
            out.append({"ev": mse(h_tlm, target), "es": mse(h_dm, target), "sv": mse(h_tlm, h_dm),
                        "seconds": (time.perf_counter() - start) / len(group)})
        return out


def sanity_table(rows: Sequence[dict]) -> List[List[str]]:
    """Rows of Hernandez et al.'s table: statistic x (diagonal, all cells) x (min, mean, max, std).

    ``rows`` are cell rows of :class:`StitchSanity`; the diagonal is where sender and receiver
    cut sit at the same proportional depth.
    """
    def stats(values: List[float]) -> List[str]:
        v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
        if not len(v):
            return ["n/a"] * 4
        return [f"{v.min():.4f}", f"{v.mean():.4f}", f"{v.max():.4f}", f"{v.std(ddof=0):.4f}"]

    ok = [r for r in rows if "failure" not in r["readouts"]]
    diagonal = [r for r in ok if abs(r["sender_depth"] - r["receiver_depth"]) < 1e-9]
    table = []
    for s in STATISTICS:
        for where, subset in (("diagonal", diagonal), ("all cells", ok)):
            table.append([s.upper(), where, str(len(subset))] + stats([r["readouts"].get(s) for r in subset]))
    return table


SANITY_HEADERS = ["statistic", "cells", "n", "min", "mean", "max", "std"]


@torch.no_grad()
def reconstructions(ctx: Context, cell: Cell, n_images: int = 8) -> Dict[str, list]:
    """Test images reconstructed from each of the sender's spatial cuts by a least-squares stitch
    into the receiver's input (``cell`` names the pair; its cuts are ignored).

    Returns ``{"labels": ["input", cut, ...], "images": [[H x W lists per image] per row]}``:
    plain lists, so the result can go into a results row and be drawn by the report.
    """
    ds = ctx.data(cell)
    x_train, x_test = ds.x_train, ds.x_test[:n_images]
    sender = ctx.model(cell.sender)
    trace_train, trace_test = ctx.trace(cell.sender, cell, "train"), ctx.trace(cell.sender, cell, "test")
    rows, labels = [x_test], ["input"]
    for cut in sender.spatial_cuts:
        stitch = new_stitch(trace_train[cut], x_train, StitchConfig(seed=ctx.stitch.seed))
        rows.append(stitch.eval()(trace_test[cut][:n_images].float()))
        labels.append(cut)
    images = [[img.mean(0).cpu().numpy().round(4).tolist() for img in row] for row in rows]  # channel mean
    return {"labels": labels, "images": images}
