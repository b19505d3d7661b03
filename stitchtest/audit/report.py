"""Markdown reports and heatmaps from result rows.

``summary.md`` answers "which method passes which check"; one ``<testbed>.md`` per testbed holds
the evidence (every check's figure, every cell's mean ± std over seeds, heatmaps of cut grids).
Everything is sorted and every number has three decimals, so the same rows give the same
markdown and committed reports diff cleanly from run to run.
"""
from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tabulate import tabulate

from . import claims as claims_mod
from . import statistics as st
from .claims import Verdict
from ..runtime.files import atomic_write
from ..runtime.ids import short_hash
from ..records.readout_spec import readout_spec
from ..records.rows import CellRow, CheckRow, ExhibitRow, Record, RunSettings, of_kind

#: Cell readouts shown in the tables, in this order (per-cut readouts like ``latent_error@x`` are not).
READOUTS = ("accuracy", "agreement", "kl", "latent_error", "robust_accuracy", "score", "ev", "es", "sv")

OUTCOME_LABELS = {
    "pass": "pass",
    "fail": "FAIL",
    "known-fail": "known-fail",
    "unexpected-pass": "UNEXPECTED PASS",
    "reported": "reported",
    "undecided": "undecided",
}

LEGEND = """\
**pass**: the expected ordering holds by the check's margin. \
**FAIL**: it does not. \
**known-fail**: it fails as the literature predicts (reason in the testbed report). \
**UNEXPECTED PASS**: a known failure passed, so the expectation or the method changed. \
**reported**: measured and shown, no expectation asserted. \
**undecided**: the value is within two standard errors of the check's threshold, so noise could decide \
it either way (the figure gives both); neither a pass nor a failure. \
Numbers in parentheses are the check's value."""


# ---------------------------------------------------------------- formatting


def fmt(x: Any) -> str:
    """A number with three decimals; ``n/a`` for a missing or non-finite one."""
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float, np.number)):
        return "n/a"
    return f"{x:.3f}" if np.isfinite(x) else "n/a"


def mean_std(values: Sequence[float]) -> str:
    """``"0.972 ± 0.004"``: the mean and sample standard deviation over seeds."""
    if len(values) == 0:
        return "n/a"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(np.mean(values))} ± {fmt(np.std(values, ddof=1))}"


def _config_value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_config_value(value[k])}" for k in sorted(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(_config_value(v) for v in value)
    if isinstance(value, float):
        return fmt(value)
    return str(value)


def _table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    """A GitHub table; cells are pre-formatted strings, so tabulate must not re-parse numbers."""
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return tabulate([[cell(v) for v in r] for r in rows], headers=[cell(h) for h in headers],
                    tablefmt="github", disable_numparse=True)


def _safe(text: str) -> str:
    """A file-name-safe version of an id (``a->b`` reads ``a-to-b``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("->", "-to-")).strip("_") or "_"


# ---------------------------------------------------------------- cell matrices


def _cuts(rows: Iterable[CellRow], side: str) -> List[str]:
    """The ``side`` ("sender" / "receiver") cuts of ``rows``, shallowest first, then by name."""
    depth: Dict[str, float] = {}
    for r in rows:
        cut, d = (r.sender_cut, r.sender_depth) if side == "sender" else (r.receiver_cut, r.receiver_depth)
        d = float("inf") if d is None else float(d)
        depth[cut] = min(depth.get(cut, d), d)
    return sorted(depth, key=lambda c: (depth[c], c))


def matrix(rows: Iterable[CellRow], readout: str) -> Tuple[List[str], List[str], np.ndarray]:
    """Sender cuts x receiver cuts -> mean of ``readout`` over seeds, cuts ordered by depth.

    ``rows`` are the cell rows of one method and pair. A failed or non-finite cell is NaN and
    makes its entry NaN: a comparison that did not complete on every seed is not shown as if it
    had. Combinations without rows are NaN too.
    """
    rows = list(rows)
    senders, receivers = _cuts(rows, "sender"), _cuts(rows, "receiver")
    values: Dict[Tuple[str, str], List[float]] = defaultdict(list)
    for r in rows:
        values[r.sender_cut, r.receiver_cut].append(r.readout(readout))
    mean = np.full((len(senders), len(receivers)), np.nan)
    for (s, c), v in values.items():
        mean[senders.index(s), receivers.index(c)] = np.mean(v)
    return senders, receivers, mean


def colour_range(readout: str | None, values: np.ndarray) -> Tuple[float | None, float | None]:
    """The readout's fixed colour range (its :class:`~stitchtest.records.readout_spec.ReadoutSpec`),
    so that figures of one readout compare by eye: a chance-level accuracy grid (0.10-0.11) stays at
    the bottom of the scale instead of filling it. An open upper end is the figure's largest value;
    readouts without a range fit their figure."""
    spec = readout_spec(readout or "")
    lo, hi = spec.range if spec is not None else (None, None)
    finite = values[np.isfinite(values)]
    if lo is not None and hi is None:
        hi = max(float(finite.max()) if finite.size else 1.0, lo + 1e-9)
    return lo, hi


def heatmap(senders: Sequence[str], receivers: Sequence[str], values: np.ndarray, title: str,
            path: os.PathLike | str | None, readout: str | None = None, chance: float | None = None,
            classes: int | None = None):
    """An annotated heatmap (rows = sender cuts, columns = receiver cuts) as ``(fig, ax)``, saved
    to ``path`` (a PNG, or the format its suffix names) unless it is None.

    With ``readout`` its :class:`~stitchtest.records.readout_spec.ReadoutSpec` sets the figure: the
    colour range is that readout's fixed one, bright always means more similar (a lower-is-better
    readout has the colour map reversed, and says so), and a readout with a chance line has it marked
    on the colour bar: ``chance`` if given, else the spec's for ``classes`` classes. Drawn on a bare
    Agg ``Figure``, not pyplot, so there is no global figure state to close and no interactive backend is touched.
    """
    fig = Figure(figsize=(2.5 + 1.0 * len(receivers), 1.8 + 0.6 * len(senders)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    spec = readout_spec(readout) if readout is not None else None
    lower_better = spec is not None and spec.direction < 0
    cmap = matplotlib.colormaps["viridis_r" if lower_better else "viridis"].with_extremes(bad="lightgrey")
    vmin, vmax = colour_range(readout, values)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax)
    finite = values[np.isfinite(values)]
    above = vmax is not None and finite.size and finite.max() > vmax
    below = vmin is not None and finite.size and finite.min() < vmin
    bar = fig.colorbar(image, ax=ax, extend={(1, 1): "both", (1, 0): "max", (0, 1): "min"}.get(
        (int(bool(above)), int(bool(below))), "neither"))
    if readout is not None:
        label = f"{readout} ({'lower' if lower_better else 'higher'} = more similar)"
        if spec is not None and spec.higher_is_better is None:  # not a similarity: say what it is
            label = f"{readout}: {spec.label}"
        line = None if spec is None or spec.chance is None else (
            chance if chance is not None else spec.chance_level(classes))
        if line is not None:
            bar.ax.axhline(line, color="red", linewidth=1.5)
            label += f"\nred line: chance ({line:.2f})"
        bar.set_label(label, fontsize=8)
    ax.set_xticks(range(len(receivers)), labels=receivers, rotation=45, ha="right")
    ax.set_yticks(range(len(senders)), labels=senders)
    ax.set_xlabel("receiver cut")
    ax.set_ylabel("sender cut")
    ax.set_title(title, fontsize=9)
    for (i, j), v in np.ndenumerate(values):
        shade = image.norm(v) if np.isfinite(v) else 1.0
        dark = (1.0 - shade if lower_better else shade) < 0.5  # viridis is dark at its low end
        ax.text(j, i, fmt(v), ha="center", va="center", fontsize=8, color="white" if dark else "black")
    fig.tight_layout()
    if path is not None:
        _save(fig, path)
    return fig, ax


def _save(fig: Figure, path: os.PathLike | str) -> None:
    """Save ``fig`` atomically, in the format its name says (the temporary name ends in .tmp)."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=Path(path).suffix[1:] or "png"))


def _write_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically: a full disk leaves the old report whole, not half of the new one."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def diagonal_only(senders: Sequence[str], receivers: Sequence[str], values: np.ndarray) -> bool:
    """True when every value of the grid sits where the sender cut is the receiver cut."""
    finite = np.isfinite(values)
    diagonal = np.array([[s == r for r in receivers] for s in senders], dtype=bool)
    return bool(finite.any()) and not (finite & ~diagonal).any()


def image_grid(labels: Sequence[str], images: Sequence[Sequence[Any]], title: str, path: os.PathLike | str) -> None:
    """Save rows of greyscale images (one row per label) as a PNG grid."""
    n_rows, n_cols = len(images), max(len(r) for r in images)
    fig = Figure(figsize=(1.2 + 0.9 * n_cols, 0.4 + 0.9 * n_rows), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for i, (label, row) in enumerate(zip(labels, images)):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([]), ax.set_yticks([])
            if j < len(row):
                ax.imshow(np.asarray(row[j], dtype=float), cmap="gray")
            if j == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(fig, path)


# ---------------------------------------------------------------- markdown


def _outcome_entry(check: CheckRow) -> str:
    label = OUTCOME_LABELS.get(check.outcome, str(check.outcome))
    return f"{label} ({check.value:+.3f})" if fmt(check.value) != "n/a" else label


def _check_sort_key(c: CheckRow) -> Tuple[str, str, str]:
    return (c.testbed, c.check, c.method)


CLAIMS_LEGEND = """\
Each claim takes, per seed pair, the difference between two methods' statistics on the same models, \
seeds and cuts (or between one method's and a threshold), in the claimed direction. Only independent \
seed pairs count (where a testbed pairs seeds in a ring, a maximal set sharing no model). Effect: the \
mean difference with a 95% bootstrap interval over those pairs. p: the one-sided exact sign-flip test, \
**Holm-adjusted over Tarone's family** (family-wise error rate 0.05): both directions of every tested claim \
whose independent pairs can reach significance at all (n pairs give p >= 2^-n; Tarone 1990). A claim with \
too few pairs is left out (p "outside the family"), so it no longer raises the others' bar; it is never \
decided. **reproduced**: adjusted p < 0.05 for the claim and the interval above 0; **refuted**: the same \
against it; **undecided**: neither (the reason, and "needs N" beside the pairs, say how many independent \
seed pairs could decide it); **not \
testable**: the cells it contrasts have no room (2 standard errors) above chance or below the ceiling \
on this run, or the run lacks what it needs at this scale (models, cells or a readout; the reason names \
them). Status: **ok** (reproduced, as expected), **FAIL** (an expected claim refuted: the run \
fails), **known** (a known failure at this scale, reason below), **UNEXPECTED** (a known failure \
reproduced: the run fails until the table is updated), **undecided** / **not testable** (fail \
nothing), **not audited** (a method of the claim was not run). \
Statistics: docs/reference/statistics.md."""


def _effect(r: Verdict) -> str:
    if r.effect is None or not np.isfinite(r.effect):
        return "n/a"
    interval = f" [{fmt(r.low)}, {fmt(r.high)}]" if r.low is not None and np.isfinite(r.low) else ""
    return f"{r.effect:+.3f}{interval}"


def _p(r: Verdict) -> str:
    if r.p_adjusted is None:  # a tested claim without an adjusted p was left out of Tarone's family
        return "outside the family" if r.verdict == "undecided" else "n/a"
    return f"{r.p_adjusted:.3g}"


def _pairs(r: Verdict) -> str:
    if r.verdict == "not audited" or not r.pairs_total:  # not judged, or lacking what it needs at this scale
        return "n/a"
    return f"{r.pairs} of {r.pairs_total}" + (f" (needs {r.pairs_needed})" if r.verdict == "undecided" else "")


def _claims(claim_rows: List[Verdict]) -> List[str]:
    if not claim_rows:
        return []
    table = [[r.claim, r.source, r.scale, r.testable or "n/a", _effect(r), _p(r), _pairs(r), r.verdict, r.status]
             for r in claim_rows]
    out = ["## Claims", "", _table(table, ["claim", "source", "scale", "testable", "effect [95% interval]",
                                            "adjusted p (Holm)", "independent seed pairs", "verdict", "status"]),
           "", CLAIMS_LEGEND, ""] + _family(claim_rows) + ["Figures per claim:", ""]
    out += [f"- `{r.key}` ({r.testbed}/{r.check}" + ("" if r.stat == "value" else f", {r.stat}") + f"): {r.figure}"
            for r in claim_rows]
    reasons = [f"- `{r.key}` ({r.status}): {r.reason}" for r in claim_rows if r.reason]
    return out + ([""] + reasons if reasons else []) + [""]


def _family(claim_rows: Sequence[Verdict]) -> List[str]:
    """The run's family in figures: how many hypotheses were tested, how many Tarone kept."""
    d = next((r.detail for r in claim_rows if r.detail.get("hypotheses")), None)
    if not d or d.get("tarone_k") is None:
        return []
    return [f"Tarone's family this run: {d['family']} of {d['hypotheses']} hypotheses (K = {d['tarone_k']}: "
            f"those whose smallest p can reach {st.ALPHA:g}/{d['tarone_k']} = {st.ALPHA / d['tarone_k']:.3g}).", ""]


def judged(claim_rows: Sequence[Verdict]) -> List[Verdict]:
    """The claims this run could judge: a subset run (one testbed, two methods) leaves most claims
    without their methods, and those are one line (:func:`not_audited`), not a table of noise."""
    return [r for r in claim_rows if r.verdict != "not audited"]


def not_audited(claim_rows: Sequence[Verdict], ran: Iterable[str]) -> Optional[str]:
    """One line for the claims the run could not judge, and what would judge them; ``ran``: the methods
    that ran. A claim whose methods all ran lacks its testbed (or equal seeds), so that is named instead."""
    skipped = [r for r in claim_rows if r.verdict == "not audited"]
    if not skipped:
        return None
    methods = sorted({m for r in skipped for m in r.methods} - set(ran))
    testbeds = sorted({r.testbed for r in skipped})
    need = (f"methods {', '.join(methods)} on testbeds {', '.join(testbeds)}" if methods
            else f"testbeds {', '.join(testbeds)} with their methods on equal seeds")
    return f"{len(skipped)} claim(s) not audited in this run: need {need}"


def what_ran(check_rows: Sequence[CheckRow], testbeds: Sequence[str], settings: Optional[RunSettings],
             claim_rows: Sequence[Verdict] = ()) -> List[str]:
    """The summary's lead: what this run audited, and the claims it left unjudged as one line."""
    methods = sorted({c.method for c in check_rows} | set((settings and settings.audited) or ()))
    outcomes = Counter(OUTCOME_LABELS.get(c.outcome, str(c.outcome)) for c in check_rows)
    counts = ", ".join(f"{n} {label}" for label, n in sorted(outcomes.items()))
    out = [f"This run: testbeds {', '.join(testbeds) or 'none'}; methods {', '.join(methods) or 'none'}; "
           f"{len(check_rows)} checks" + (f" ({counts})" if counts else "")
           + f"; {_claim_counts(judged(claim_rows))}.", ""]
    line = not_audited(claim_rows, methods)
    return out + ([line + ".", ""] if line else [])


def _claim_counts(rows: Sequence[Verdict]) -> str:
    """``"12 claims: 2 reproduced, 9 undecided, 1 not testable"``: the verdicts, not a bare count that
    would read as "judged" when most could not be decided."""
    counts = Counter(r.verdict for r in rows)
    order = [v for v in st.VERDICTS if counts[v]] + sorted(set(counts) - set(st.VERDICTS))
    return f"{len(rows)} claim(s)" + (": " + ", ".join(f"{counts[v]} {v}" for v in order) if rows else "")


def _chance(settings: Optional[RunSettings]) -> Optional[float]:
    """Accuracy by guessing: 1 / the run's class count (none marked when the run did not record it)."""
    k = settings and settings.num_classes
    return 1.0 / k if isinstance(k, int) and k > 0 else None


def configuration(settings: Optional[RunSettings], about: Mapping[str, Any] = {}) -> List[Tuple[str, Any]]:
    """The run configuration table: ``about``'s ``status`` first, then the run's settings, then the
    rest of ``about`` as given (this session's facts: device, workers, times, ...); the settings'
    ``command`` comes last unless ``about`` has a command of its own."""
    about = dict(about)
    status = [("status", about.pop("status"))] if "status" in about else []
    own = [(k, v) for k, v in (settings.items() if settings is not None else []) if k != "command"]
    command = settings.command if settings is not None and "command" not in about else ""
    return status + own + list(about.items()) + ([("command", command)] if command else [])


def _summary(check_rows: List[CheckRow], testbeds: List[str], settings: Optional[RunSettings],
             about: Mapping[str, Any], claim_rows: Sequence[Verdict] = ()) -> str:
    out = (["# stitchtest report", ""] + what_ran(check_rows, testbeds, settings, claim_rows)
           + _claims(judged(claim_rows)) + ["## Run configuration", ""])
    config = [(k, _config_value(v)) for k, v in configuration(settings, about)]
    out += [_table(config, ["setting", "value"]) if config else "(none given)", "", "## Checks", ""]
    if check_rows:
        columns = sorted({(c.testbed, c.check) for c in check_rows})
        audited = (settings and settings.audited) or ()
        methods = sorted({c.method for c in check_rows} | set(audited))  # all audited
        entry = {(c.method, c.testbed, c.check): _outcome_entry(c) for c in check_rows}
        table = [[m] + [entry.get((m, t, k), "—") for t, k in columns] for m in methods]
        out += [_table(table, ["method"] + [f"{t}/{k}" for t, k in columns]), "", LEGEND, ""]
        for c in sorted(check_rows, key=_check_sort_key):
            out.append(f"- `{c.testbed}/{c.check}`, {c.method} ({c.readout or 'n/a'}): "
                       f"{_outcome_entry(c)}: {c.figure}")
    else:
        out.append("No checks were recorded.")
    out += ["", "## Testbeds", ""] + ([f"- [{t}]({_safe(t)}.md)" for t in testbeds] or ["No rows were recorded."])
    return "\n".join(out) + "\n"


def _cell_table(rows: List[CellRow]) -> str:
    """One line per (sender cut, receiver cut): seeds, mean ± std of each readout, failures."""
    present = [k for k in READOUTS if any(k in r.readouts for r in rows)]
    senders, receivers = _cuts(rows, "sender"), _cuts(rows, "receiver")
    groups: Dict[Tuple[str, str], List[CellRow]] = defaultdict(list)
    for r in rows:
        groups[r.sender_cut, r.receiver_cut].append(r)
    order = sorted(groups, key=lambda sc: (senders.index(sc[0]), receivers.index(sc[1])))
    any_failed = any(r.failed for r in rows)
    table = []
    for s, c in order:
        group = groups[s, c]
        failed = [r for r in group if r.failed]
        ok = [r for r in group if not r.failed]
        line = [s, c, str(len(group))] + [mean_std([r.readout(k) for r in ok]) for k in present]
        if any_failed:
            reasons = "; ".join(sorted({str(r.readouts["failure"]) for r in failed}))
            partial = f" ({len(failed)}/{len(group)} seeds)" if ok else ""
            line.append(f"failed: {reasons}{partial}" if failed else "")
        table.append(line)
    headers = ["sender cut", "receiver cut", "seeds"] + present + (["note"] if any_failed else [])
    return _table(table, headers)


def _heatmap_readouts(rows: List[CellRow]) -> List[str]:
    """The method's primary readout (score, else accuracy), and latent error when present."""
    present = {k for r in rows for k in r.readouts}
    primary = [k for k in ("score", "accuracy") if k in present][:1]
    return primary + (["latent_error"] if "latent_error" in present else [])


def _exhibits(testbed: str, exhibit_rows: List[ExhibitRow], out_dir: Path) -> Tuple[List[str], List[Path]]:
    """Reported tables and image grids, in key order."""
    out: List[str] = []
    figures: List[Path] = []
    for e in sorted(exhibit_rows, key=lambda r: r.key):
        title = e.title or e.name
        out += ["", f"### {title}"]
        if e.text:
            out += ["", e.text]
        if e.table:
            out += ["", _table(e.table["rows"], e.table["headers"])]
        if e.images:
            path = out_dir / "figures" / f"{_safe(testbed + '-' + e.name)}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image_grid(e.images["labels"], e.images["images"], title, path)
            figures.append(path)
            out += ["", f"![{title}](figures/{path.name})"]
    return out, figures


def loss_terms(cell_rows: Sequence[CellRow]) -> List[List[str]]:
    """Per method and kind of loss term (``hint`` summed over depths, ``output``): the term's value
    and its share of the gradient norm at the first and last training step, mean ± std over cells.
    A term that swamps the others shows here, not in the summed loss (docs/lab/facts.md#f17)."""
    values: Dict[Tuple[str, str, str], List[float]] = defaultdict(list)
    for r in cell_rows:
        sums: Dict[Tuple[str, str], float] = defaultdict(float)
        for key, v in r.readouts.items():
            if key.startswith(("loss_term:", "grad_share:")) and isinstance(v, (int, float)):
                what, term, when = key.rsplit(":", 2)[0], key.split(":", 1)[1].rsplit(":", 1)[0], key.rsplit(":", 1)[1]
                sums[f"{what}:{when}", term.split("@")[0]] += float(v)
        for (what, term), v in sums.items():
            values[r.method_label, term, what].append(v)
    rows = []
    for method, term in sorted({(m, t) for m, t, _ in values}):
        cols = [mean_std(values.get((method, term, w), [])) for w in
                ("loss_term:start", "loss_term:end", "grad_share:start", "grad_share:end")]
        rows.append([method, term] + cols + [str(len(values.get((method, term, "grad_share:start"), [])))])
    return rows


def _testbed(testbed: str, check_rows: List[CheckRow], cell_rows: List[CellRow], out_dir: Path,
             used_names: set, exhibit_rows: Sequence[ExhibitRow] = (), classes: Optional[int] = None
             ) -> Tuple[str, List[Path]]:
    out = [f"# {testbed}", "", "[back to the summary](summary.md)", "", "## Checks", ""]
    if check_rows:
        table = [[c.check, c.method, c.readout or "n/a", _outcome_entry(c), c.figure, c.reason or ""]
                 for c in sorted(check_rows, key=_check_sort_key)]
        out.append(_table(table, ["check", "method", "readout", "outcome", "figure", "reason"]))
    else:
        out.append("No checks were recorded.")
    terms = loss_terms(cell_rows)
    if terms:
        out += ["", "## Loss terms", "",
                "Objectives whose loss is a sum of terms: each kind of term's value and its share of the summed "
                "per-term gradient norms, at the first training step (from the least-squares start) and the last, "
                "mean ± std over the testbed's cells (`hint` sums FuLA's depth hints).", "",
                _table(terms, ["method", "term", "loss at start", "loss at end", "gradient share at start",
                               "gradient share at end", "cells"])]
    figures: List[Path] = []
    if exhibit_rows:
        lines, figures = _exhibits(testbed, list(exhibit_rows), out_dir)
        out += ["", "## Reported"] + lines
    groups: Dict[Tuple[str, str, str], List[CellRow]] = defaultdict(list)
    for r in cell_rows:
        groups[r.method_label, r.method, r.pair].append(r)
    if groups:
        out += ["", "## Cells", "", "Mean ± sample standard deviation over seeds."]
    for method_id, method, pair in sorted(groups):
        rows = groups[method_id, method, pair]
        out += ["", f"### {method_id}, {pair}", "", _cell_table(rows)]
        for readout in _heatmap_readouts(rows):
            senders, receivers, values = matrix(rows, readout)
            if len(senders) < 2 or len(receivers) < 2:
                continue
            if diagonal_only(senders, receivers, values):  # a heatmap would be mostly "n/a"
                out += ["", f"{readout}: matched cuts only (sender cut = receiver cut), in the table above."]
                continue
            name = _safe(f"{testbed}-{method}-{pair}-{readout}")
            if name in used_names:  # two configurations of one method, or ids equal once made safe
                name = f"{name}-{short_hash(method_id + pair + readout, 8)}"
            used_names.add(name)
            path = out_dir / "figures" / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            heatmap(senders, receivers, values, f"{method_id}, {pair}: {readout}", path, readout, classes=classes)
            figures.append(path)
            out += ["", f"![{method_id}, {pair}: {readout}](figures/{path.name})"]
    return "\n".join(out) + "\n", figures


def write_reports(rows: Sequence[Record], out_dir: os.PathLike | str, settings: Optional[RunSettings],
                  about: Mapping[str, Any] = {}) -> List[Path]:
    """Write ``summary.md``, one ``<testbed>.md`` per testbed and their heatmaps; return the paths.

    ``settings`` (the run row's; ``None`` when the rows have none) decide the claims' scale, the
    audited methods and the chance level; ``about`` adds this session's facts to the run
    configuration table (:func:`configuration`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cell_rows, check_rows, exhibit_rows = of_kind(rows, CellRow), of_kind(rows, CheckRow), of_kind(rows, ExhibitRow)
    testbeds = sorted({r.testbed for r in [*cell_rows, *check_rows, *exhibit_rows]})
    written: List[Path] = [out_dir / "summary.md"]
    claim_rows = (claims_mod.judge_all(check_rows, settings.scale, chance=_chance(settings),
                                       test_images=claims_mod.test_set_size(settings.data))
                  if settings is not None else [])
    _write_text(written[0], _summary(check_rows, testbeds, settings, about, claim_rows))
    used_names: set = set()
    for testbed in testbeds:
        text, figures = _testbed(testbed, [c for c in check_rows if c.testbed == testbed],
                                 [c for c in cell_rows if c.testbed == testbed], out_dir, used_names,
                                 [e for e in exhibit_rows if e.testbed == testbed],
                                 settings.num_classes if settings else None)
        path = out_dir / f"{_safe(testbed)}.md"
        _write_text(path, text)
        written += [path] + figures
    return written
