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

Nothing is trained here: every stitching cell already records ``cut_mse`` (EV for TLM's rows,
ES for DM's) and ``start_mse`` (the trained stitch against its least-squares start, which is
DM's stitch exactly: SV for TLM's rows), so the table is read from the cross-layer grid's TLM and
DM rows and costs no second TLM training. Hernandez et al. trained TLM from a random start, not
from the least-squares map; the cross-layer testbed's second table reads TLM cells trained so
(:class:`~stitchtest.stitching.objectives.TLMRandomStart`, one seed pair), whose rows record SV
as ``ls_mse`` (the trained stitch against the least-squares one; their ``start_mse`` is the
distance to the random start).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Dict, List, Sequence

import numpy as np
import torch

from ..engine.context import Context
from ..models.zoo import ModelSpec
from ..records.rows import CellRow
from ..stitching.fit import StitchConfig, new_stitch

STATISTICS = ("ev", "es", "sv")


def sanity_rows(tlm_rows: Sequence[CellRow], dm_rows: Sequence[CellRow]) -> List[CellRow]:
    """EV / ES / SV rows, one per cell that both TLM's and DM's rows have (paired by cell id);
    a failed TLM or DM cell keeps its failure. SV is ``ls_mse`` where the TLM row has it (a stitch
    that did not start at the least-squares map), else ``start_mse`` (its start *is* that map).
    Rows from before these readouts existed (an old results folder resumed) are left out: the
    table's ``n`` says how many it summarises."""
    dm = {r.cell: r for r in dm_rows}
    out = []
    for t in tlm_rows:
        d = dm.get(t.cell)
        if d is None or not ({"cut_mse", "start_mse", "failure"} & t.readouts.keys()
                             and {"cut_mse", "failure"} & d.readouts.keys()):
            continue
        failure = t.readouts.get("failure") or d.readouts.get("failure")
        sv = t.readouts.get("ls_mse", t.readouts.get("start_mse"))
        readouts = ({"failure": failure} if failure else
                    {"ev": t.readouts["cut_mse"], "es": d.readouts["cut_mse"], "sv": sv})
        out.append(replace(t, method="tlm_vs_dm", readouts=readouts))
    return out


def sanity_table(rows: Sequence[CellRow]) -> List[List[str]]:
    """Rows of Hernandez et al.'s table: statistic x (diagonal, all cells) x (min, mean, max, std).

    ``rows`` come from :func:`sanity_rows`; the diagonal is where sender and receiver
    cut sit at the same proportional depth.
    """
    def stats(values: List[float]) -> List[str]:
        v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
        if not len(v):
            return ["n/a"] * 4
        return [f"{v.min():.4f}", f"{v.mean():.4f}", f"{v.max():.4f}", f"{v.std(ddof=0):.4f}"]

    ok = [r for r in rows if not r.failed]
    diagonal = [r for r in ok if abs(r.sender_depth - r.receiver_depth) < 1e-9]
    table = []
    for s in STATISTICS:
        for where, subset in (("diagonal", diagonal), ("all cells", ok)):
            table.append([s.upper(), where, str(len(subset))] + stats([r.readouts.get(s) for r in subset]))
    return table


SANITY_HEADERS = ["statistic", "cells", "n", "min", "mean", "max", "std"]


@torch.no_grad()
def reconstructions(ctx: Context, spec: ModelSpec, n_images: int = 8) -> Dict[str, list]:
    """Test images reconstructed from each of ``spec``'s spatial cuts by a least-squares stitch into
    the input, on the model's own images (:meth:`~stitchtest.models.zoo.ModelSpec.clean_view`).

    Returns ``{"labels": ["input", cut, ...], "images": [[H x W lists per image] per row]}``:
    plain lists, so the result can go into a results row and be drawn by the report.
    """
    view = spec.clean_view()
    ds = ctx.data(view)
    x_train, x_test = ds.x_train, ds.x_test[:n_images]
    sender = ctx.model(spec)
    trace_train, trace_test = ctx.trace(spec, view, "train"), ctx.trace(spec, view, "test")
    rows, labels = [x_test], ["input"]
    for cut in sender.spatial_cuts:
        stitch = new_stitch(trace_train[cut], x_train, StitchConfig(seed=ctx.stitch.seed))
        rows.append(stitch.eval()(trace_test[cut][:n_images].float()))
        labels.append(cut)
    images = [[img.mean(0).cpu().numpy().round(4).tolist() for img in row] for row in rows]  # channel mean
    return {"labels": labels, "images": images}
