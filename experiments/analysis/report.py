"""The Markdown report of a sweep: ``report.md`` beside its tables.

Every sentence under "Findings" is computed from the tables by the functions
of this module, and only stated when the numbers support it (a comparison
needs two groups, a divergence sentence needs a diverged run). The functions
are public so that tests can check them on hand-made tables.

Groups, cells and best cells are those of :mod:`experiments.analysis.plots`: a group is
an activation (or a named variant), a cell one setting of every varying axis
but the seed, and a group's best cell the one with the highest mean final
validation accuracy (test accuracy when the runs have no validation split;
:func:`experiments.analysis.tables.selection`). Whatever selects, the
accuracy reported for the chosen cell is its test accuracy.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import yaml

from experiments.analysis.plots import (
    PLOT_FILES,
    best_cells,
    cell_keys,
    cell_label,
    cell_labeler,
    cell_runs,
    dead_init_vs_end,
    format_value,
    group_column,
    group_noun,
    group_runs,
    group_values,
    layer_label,
    n_layers,
    optimizer_splits,
    SPLIT_AXES,
    outcome_shares,
    rank_column,
    selection_phrase,
    selects,
    summary_with_group,
)
from experiments.analysis import outcomes
from experiments.store import atomic_write_text
from experiments.analysis.tables import Tables, ci95, series_mean

# A layer with a larger dead fraction than this at the end is reported.
DEAD_THRESHOLD = 0.10
# First-layer / output-layer gradient norm at init below (above) this:
# the gradient vanishes (explodes) toward the input.
VANISHING_RATIO = 0.1
EXPLODING_RATIO = 10.0
# Cells listed at each end of the ranking (all cells when there are few).
N_RANKED = 5


# --------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------


def format_ci(mean: float, ci: float, digits: int = 3) -> str:
    """``"0.912 ± 0.013"``; ``"0.912"`` without a CI (one seed); ``"n/a"`` without a mean.

    An interval that would leave [0, 1] (accuracies are fractions) is written
    as its range cut at the bounds: ``"0.403 (95% CI 0.000 to 0.927)"``.
    """
    if mean is None or not isinstance(mean, (int, float, np.number)) or math.isnan(mean):
        return "n/a"
    text = f"{mean:.{digits}f}"
    if ci is not None and isinstance(ci, (int, float, np.number)) and math.isfinite(ci):
        if mean - ci < 0 or mean + ci > 1:
            return f"{text} (95% CI {max(mean - ci, 0.0):.{digits}f} to {min(mean + ci, 1.0):.{digits}f})"
        text += f" ± {ci:.{digits}f}"
    return text


def seed_values(runs: pd.DataFrame, digits: int = 2) -> str:
    """Final test accuracy of every seed, in seed order: ``"0.97, 0.10, 0.11"`` (failed: ``failed``);
    a run that early stopping ended says at which epoch: ``"0.95 (stopped at 7)"``."""
    runs = runs.sort_values("seed", kind="stable") if "seed" in runs else runs
    stopped = runs["stopped_epoch"] if "stopped_epoch" in runs else pd.Series(np.nan, index=runs.index)
    return ", ".join("failed" if st == "failed" else f"{a:.{digits}f}" + _stopped_note(e)
                     for st, a, e in zip(runs["status"], runs["test_acc"].astype(float), stopped))


def _stopped_note(epoch: Any) -> str:
    return "" if epoch is None or pd.isna(epoch) else f" (stopped at {int(epoch)})"


def outcome_split(runs: pd.DataFrame) -> str | None:
    """``"2 of 5 seeds learned (75%, 97%); 3 collapsed (10%, 10%, 11%)"`` when the
    runs' outcomes differ, None when they agree (or there are none)."""
    if runs.empty or runs["outcome"].nunique() < 2:
        return None
    parts = []
    counts = runs["outcome"].value_counts()
    for name in sorted(counts.index, key=lambda n: (-counts[n], outcomes.NAMES.index(n))):  # most seeds first
        mine = runs[runs["outcome"] == name]
        accs = ", ".join(format_pct(a) for a in sorted(mine["test_acc"].astype(float)) if not math.isnan(a))
        head = f"{len(mine)} of {len(runs)} seeds {name}" if not parts else f"{len(mine)} {name}"
        parts.append(head + (f" ({accs})" if accs else ""))
    return "; ".join(parts)


def format_pct(x: float) -> str:
    """A fraction as ``"12%"`` (``"0.4%"`` below 1%), ``"n/a"`` for NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    pct = 100 * x
    return f"{pct:.1f}%" if 0 < pct < 1 else f"{pct:.0f}%"


def _join(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _sorted(values: Sequence[Any]) -> list[Any]:
    """Numbers in numeric order, anything else by its text."""
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Numbers behind the report
# --------------------------------------------------------------------------


def status_counts(tables: Tables) -> dict[str, int]:
    """Runs per status, ``ok``, ``diverged``, ``failed`` always present."""
    counts = {"ok": 0, "diverged": 0, "failed": 0}
    if "status" in tables.runs:
        for status, n in tables.runs["status"].value_counts().items():
            counts[status] = int(n)
    return counts


def outcome_counts(runs: pd.DataFrame) -> dict[str, int]:
    """Runs per outcome, every outcome of :data:`outcomes.NAMES` present."""
    found = runs["outcome"].value_counts() if "outcome" in runs else {}
    return {name: int(found.get(name, 0)) for name in outcomes.NAMES}


def _final_acc(runs: pd.DataFrame) -> pd.Series:
    """Final test accuracy of runs that did not fail (diverged ones count, as in the summary)."""
    return runs.loc[runs["status"] != "failed", "test_acc"].astype(float)


def group_stats(tables: Tables) -> pd.DataFrame:
    """One row per group: accuracy at its best cell and over all cells, dead units, counts.

    Columns: group, best_cell (label of the other axes), best_sel (the
    accuracy that chose the best cell: its :func:`~experiments.analysis.plots.rank_column`),
    best_acc, best_ci (its final test accuracy), best_n (finished runs of the
    best cell), all_acc, all_ci, all_n, runs,
    diverged, failed, and per layer ``dead_init_L<l>`` / ``dead_end_L<l>``:
    mean dead fraction at epoch 0 / at the end over the group's runs that
    finished without diverging.
    """
    gcol = group_column(tables)
    n = n_layers(tables)
    best = best_cells(tables)
    ranks = rank_column(tables)
    dead = {(r["group"], r["layer"]): r for r in dead_init_vs_end(tables, range(1, n + 1)).to_dict("records")}
    rows = []
    for g in group_values(tables):
        runs = group_runs(tables, g)
        row: dict[str, Any] = {"group": g}
        if g in best:
            acc = _final_acc(cell_runs(tables, best[g]))
            row.update(best_cell=cell_label(tables, best[g], skip=[gcol]), best_sel=float(best[g][ranks]),
                       best_acc=acc.mean(), best_ci=ci95(acc), best_n=int(acc.count()))
        else:
            row.update(best_cell="", best_sel=np.nan, best_acc=np.nan, best_ci=np.nan, best_n=0)
        acc = _final_acc(runs)
        row.update(all_acc=acc.mean(), all_ci=ci95(acc), all_n=int(acc.count()), runs=len(runs),
                   diverged=int((runs["status"] == "diverged").sum()), failed=int((runs["status"] == "failed").sum()),
                   outcomes=outcomes.mix_text(outcome_counts(runs)))
        for layer in range(1, n + 1):
            row[f"dead_init_L{layer}"] = dead[g, layer]["init"]
            row[f"dead_end_L{layer}"] = dead[g, layer]["end"]
        rows.append(row)
    return pd.DataFrame(rows)


def best_group(tables: Tables, stats: pd.DataFrame | None = None) -> dict[str, Any] | None:
    """The group ranked first at its best cell, and its lead over the next.

    Groups rank on the accuracy that selects (``best_sel``: validation, else
    test); acc, ci, margin and overlap are of final test accuracy. None
    unless at least two groups have a finished run. Keys: group, cell, sel,
    acc, ci, runner_up, runner_cell, runner_sel, runner_acc, runner_ci,
    margin (test accuracy of the first minus the second's), overlap (whether
    the two test 95% CIs overlap; None when either CI is missing), tied (the
    groups equal to the first on ``best_sel`` to three decimals, the first included).
    ``stats`` is :func:`group_stats` of ``tables``, when already computed.
    """
    stats = group_stats(tables) if stats is None else stats
    if stats.empty:
        return None
    stats = stats[np.isfinite(stats["best_sel"].astype(float)) & np.isfinite(stats["best_acc"].astype(float))]
    if len(stats) < 2:
        return None
    stats = stats.sort_values("best_sel", ascending=False, kind="stable")
    first, second = stats.iloc[:2].to_dict("records")
    tied = [g for g, sel in zip(stats["group"], stats["best_sel"]) if round(sel, 3) == round(first["best_sel"], 3)]
    overlap = None
    if math.isfinite(first["best_ci"]) and math.isfinite(second["best_ci"]):
        overlap = first["best_acc"] - first["best_ci"] <= second["best_acc"] + second["best_ci"]
    return {
        "group": first["group"], "cell": first["best_cell"], "sel": first["best_sel"], "acc": first["best_acc"],
        "ci": first["best_ci"], "runner_up": second["group"], "runner_cell": second["best_cell"],
        "runner_sel": second["best_sel"], "runner_acc": second["best_acc"],
        "runner_ci": second["best_ci"], "margin": first["best_acc"] - second["best_acc"], "overlap": overlap,
        "tied": tied,
    }


def dead_unit_findings(tables: Tables, threshold: float = DEAD_THRESHOLD) -> pd.DataFrame:
    """Layers with more than ``threshold`` dead units at the end of training.

    For each group and layer, the cell with the largest mean final dead
    fraction over its runs that finished without diverging; kept when that
    exceeds ``threshold``. Columns: group, layer, cell (label), dead_init
    (the same runs at epoch 0), dead_end, runs.
    """
    columns = ["group", "layer", "cell", "dead_init", "dead_end", "runs"]
    runs = tables.runs
    if runs.empty or "status" not in runs:
        return pd.DataFrame(columns=columns)
    ok = runs[runs["status"] == "ok"].reset_index(drop=True)  # row labels are positions below
    gcol, keys, n = group_column(tables), cell_keys(tables), n_layers(tables)
    label = cell_labeler(tables, skip=[gcol])
    run_ids, groups = ok["run_id"].to_numpy(), ok[gcol].to_numpy()
    ends = {layer: ok[f"dead_frac_L{layer}"].to_numpy(dtype=float)
            for layer in range(1, n + 1) if f"dead_frac_L{layer}" in ok}
    start = tables.layers[tables.layers["epoch"] == 0]
    at_init = {layer: (part["run_id"].to_numpy(), part["dead_frac"].to_numpy(dtype=float))
               for layer, part in start.groupby("layer")}
    nothing = (np.array([], dtype=object), np.array([]))
    rows = []
    for cell, g in ok[keys].groupby(keys, dropna=False, sort=False):
        mine = g.index.to_numpy()
        where = label(dict(zip(keys, cell if isinstance(cell, tuple) else (cell,))))
        for layer, end in ends.items():
            ids, dead = at_init.get(layer, nothing)
            rows.append({"group": groups[mine[0]], "layer": layer, "cell": where,
                         "dead_init": series_mean(dead[np.isin(ids, run_ids[mine])]),
                         "dead_end": series_mean(end[mine]), "runs": len(mine)})
    table = pd.DataFrame(rows, columns=columns)
    table = table[table["dead_end"] > threshold]
    table = table.sort_values("dead_end", ascending=False, kind="stable").drop_duplicates(["group", "layer"])
    order = {g: i for i, g in enumerate(group_values(tables))}
    return table.sort_values(["group", "layer"], key=lambda s: s.map(order) if s.name == "group" else s,
                             kind="stable").reset_index(drop=True)


def divergence_by_lr(tables: Tables) -> pd.DataFrame:
    """Diverged runs per group and learning rate, where any diverged.

    Columns: group, lr, diverged, runs (runs that did not fail).
    """
    columns = ["group", "lr", "diverged", "runs"]
    runs = tables.runs
    if runs.empty or "status" not in runs:
        return pd.DataFrame(columns=columns)
    done = runs[runs["status"] != "failed"]
    gcol = group_column(tables)
    table = (
        done.assign(div=done["status"] == "diverged")
        .groupby([gcol, "lr"], dropna=False, sort=False)
        .agg(diverged=("div", "sum"), runs=("run_id", "size"))
        .reset_index()
        .rename(columns={gcol: "group"})
    )
    table = table[table["diverged"] > 0]
    order = {g: i for i, g in enumerate(group_values(tables))}
    table = table.sort_values(["group", "lr"], key=lambda s: s.map(order) if s.name == "group" else s)
    return table[columns].reset_index(drop=True)


def gradient_ratio_at_init(tables: Tables) -> pd.Series:
    """Per group: first-layer over output-layer true gradient norm ``|dL/dW|`` at initialization.

    The geometric mean over the group's runs (every cell; at epoch 0 the
    learning rate has not acted yet) of each run's ratio; runs with a zero or
    non-finite norm are left out. A ratio far below 1 means the gradient
    vanishes on its way down to the input.
    """
    layers = tables.layers
    n = n_layers(tables)
    if layers.empty or n < 2:
        return pd.Series(dtype=float)
    # The true gradient: under the book rule the applied step is not a gradient.
    start = layers[layers["epoch"] == 0].pivot(index="run_id", columns="layer", values="true_grad_w_norm").astype(float)
    if 1 not in start or n not in start:
        return pd.Series(dtype=float)
    ratio = start[1] / start[n]
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    gcol = group_column(tables)
    group_of = tables.runs.set_index("run_id")[gcol]
    logs = np.log(ratio).groupby(group_of.reindex(ratio.index)).mean()
    return np.exp(logs).reindex([g for g in group_values(tables) if g in logs.index])


def best_init_by_group(tables: Tables) -> pd.DataFrame:
    """Per group, the initializer with the best cell, and the next best one.

    Empty unless ``init`` is a varying axis. Initializers rank on the
    accuracy that selects (:func:`~experiments.analysis.plots.rank_column`).
    Columns: group, init, acc, runner_up, runner_acc (each initializer's mean
    final test accuracy at its best cell).
    """
    columns = ["group", "init", "acc", "runner_up", "runner_acc"]
    # Only where a group has runs with more than one initializer (a variant fixes its own).
    if "init" not in tables.axes or not (tables.runs.groupby(group_column(tables))["init"].nunique() > 1).any():
        return pd.DataFrame(columns=columns)
    summary = summary_with_group(tables)
    gcol = group_column(tables)
    ranks = rank_column(tables)
    summary = summary[np.isfinite(summary[ranks].astype(float)) & np.isfinite(summary["acc_mean"].astype(float))]
    rows = []
    for g in group_values(tables):
        mine = summary[summary[gcol] == g].sort_values(ranks, ascending=False, kind="stable")
        per_init = mine.drop_duplicates("init", keep="first").set_index("init")["acc_mean"]  # each init's best cell
        if per_init.empty:
            continue
        rows.append({"group": g, "init": per_init.index[0], "acc": per_init.iloc[0],
                     "runner_up": per_init.index[1] if len(per_init) > 1 else None,
                     "runner_acc": per_init.iloc[1] if len(per_init) > 1 else np.nan})
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------


def _winner_sentence(tables: Tables, stats: pd.DataFrame) -> str | None:
    best = best_group(tables, stats)
    if best is None:
        return None
    at = lambda cell: f" ({cell})" if cell else ""  # noqa: E731
    if selects(tables).split == "validation":
        return _winner_on_val(best, at)
    if len(best["tied"]) > 1:
        return (f"{_join([str(g) for g in best['tied']])} tie for the highest mean final test accuracy at their "
                f"best settings ({best['acc']:.3f} to three decimals).")
    text = (
        f"{best['group']} has the highest mean final test accuracy at its best setting{at(best['cell'])}: "
        f"{format_ci(best['acc'], best['ci'])}, {best['margin']:.3f} above the next best, "
        f"{best['runner_up']}{at(best['runner_cell'])} with {format_ci(best['runner_acc'], best['runner_ci'])}"
    )
    return text + _overlap_clause(best)


def _winner_on_val(best: dict[str, Any], at: Any) -> str:
    """The winner sentence when validation accuracy ranks: it names the validation
    accuracy that chose, then the test accuracy of what it chose."""
    if len(best["tied"]) > 1:
        return (f"{_join([str(g) for g in best['tied']])} tie for the highest mean final validation accuracy at "
                f"their best settings ({best['sel']:.3f} to three decimals).")
    margin = best["margin"]
    lead = f"{margin:.3f} above" if margin >= 0 else f"{-margin:.3f} below"
    text = (
        f"{best['group']} has the highest mean final validation accuracy at its best setting{at(best['cell'])} "
        f"({best['sel']:.3f}); its test accuracy there is {format_ci(best['acc'], best['ci'])}, {lead} that of "
        f"the next, {best['runner_up']}{at(best['runner_cell'])} (validation {best['runner_sel']:.3f}, test "
        f"{format_ci(best['runner_acc'], best['runner_ci'])})"
    )
    return text + _overlap_clause(best)


def _overlap_clause(best: dict[str, Any]) -> str:
    """How the two test accuracies' 95% intervals relate, ending the sentence."""
    return {True: "; their 95% confidence intervals overlap, so the seeds do not separate them.",
            False: "; their 95% confidence intervals do not overlap."}.get(
        best["overlap"], " (too few seeds for confidence intervals).")


def _ranking_sentence(tables: Tables, stats: pd.DataFrame) -> str | None:
    if stats.empty:
        return None
    stats = stats[np.isfinite(stats["best_sel"].astype(float))].sort_values("best_sel", ascending=False,
                                                                            kind="stable")
    if len(stats) < 3:
        return None
    if selects(tables).split == "validation":
        parts = [f"{r.group} {r.best_sel:.3f} ({r.best_acc:.3f})" for r in stats.itertuples()]
        return (f"Ranking of {group_noun(tables)}s by validation accuracy at their best setting (test accuracy "
                f"there in brackets): {', '.join(parts)}.")
    parts = [f"{r.group} {r.best_acc:.3f}" for r in stats.itertuples()]
    return f"Ranking of {group_noun(tables)}s by accuracy at their best setting: {', '.join(parts)}."


def _dead_sentences(tables: Tables, threshold: float = DEAD_THRESHOLD) -> list[str]:
    table = dead_unit_findings(tables, threshold)
    noun = group_noun(tables)
    if table.empty:
        if "status" in tables.runs and (tables.runs["status"] == "ok").any():
            return [f"No {noun} ends training with more than {format_pct(threshold)} dead units in any layer "
                    f"(mean over the seeds of any cell, runs that did not diverge)."]
        return []
    out = []
    for g, rows in table.groupby("group", sort=False):
        parts = []
        for r in rows.itertuples():
            where = f" in the cell {r.cell}" if r.cell else ""
            if not math.isfinite(r.dead_init):
                origin = "unknown at initialization"
            elif r.dead_init >= 0.5 * r.dead_end:
                origin = f"mostly dead from the start: {format_pct(r.dead_init)} at initialization"
            else:
                origin = f"they died during training: {format_pct(r.dead_init)} at initialization"
            parts.append(f"{layer_label(tables, r.layer)} ({format_pct(r.dead_end)}{where}; {origin})")
        out.append(f"{g} ends training with more than {format_pct(threshold)} dead units in {_join(parts)}.")
    return out


def _divergence_sentences(tables: Tables) -> list[str]:
    table = divergence_by_lr(tables)
    noun = group_noun(tables)
    if table.empty:
        finished = "status" in tables.runs and (tables.runs["status"] != "failed").any()
        return ["No run diverged."] if finished else []
    out = []
    for g, rows in table.groupby("group", sort=False):
        parts = [f"lr={format_value(r.lr)} ({r.diverged} of {r.runs} runs)" for r in rows.itertuples()]
        out.append(f"{g} diverged at {_join(parts)}.")
    stable = [str(g) for g in group_values(tables) if g not in set(table["group"])
              and (group_runs(tables, g)["status"] != "failed").any()]
    if stable:
        text = (f"No run of {_join(stable)} diverged" if len(stable) < len(group_values(tables))
                else f"No run of any {noun} diverged")
        # Not diverging is not learning: say where the other failures are.
        failing = [g for g in stable if (group_runs(tables, g)["outcome"].isin(outcomes.FAILURES)).any()]
        if failing:
            text += f" (NaN/inf); {_join(failing)} failed otherwise, as the outcomes above say"
        out.append(text + ".")
    return out


def _outcome_sentences(tables: Tables) -> list[str]:
    """One sentence per group that has runs that did not learn: where and how they failed."""
    table = outcome_shares(tables)
    if table.empty:
        return []
    total = outcome_counts(tables.runs)
    out = [f"Outcomes of all {sum(total.values())} runs: {outcomes.mix_text(total)} (definitions below)."]
    for g, rows in table.groupby("group", sort=False):
        parts = []
        for r in rows.to_dict("records"):
            bad = {n: r[outcomes.count_column(n)] for n in outcomes.NAMES if n != "learned"}
            if not any(bad.values()):
                continue
            mix = ", ".join(f"{k} {n}" for n, k in bad.items() if k)
            where = [f"{a}={format_value(r[a])}" for a in SPLIT_AXES if not pd.isna(r[a])]
            at = f"at {', '.join(where)}: " if where else ""
            parts.append(f"{at}{mix} of {r['runs']} runs")
        if parts:
            out.append(f"{g} did not learn in every run: {'; '.join(parts)}.")
    return out


def _split_sentences(tables: Tables) -> list[str]:
    """Cells whose seeds end in different outcomes, with the values (each group's best cell)."""
    out = []
    label = cell_labeler(tables, skip=[group_column(tables)])
    for g, cell in best_cells(tables).items():
        split = outcome_split(cell_runs(tables, cell))
        if split:
            where = label(cell)
            out.append(f"{g}{f' ({where})' if where else ''}: the seeds split: {split}.")
    return out


def _gradient_sentence(tables: Tables) -> list[str]:
    ratio = gradient_ratio_at_init(tables)
    if ratio.empty:
        return []
    n = n_layers(tables)
    parts = [f"{r:.2g} for {g}" for g, r in ratio.sort_values().items()]
    out = [f"At initialization, the true gradient norm of hidden layer 1 relative to the {layer_label(tables, n)} "
           f"(geometric mean over runs) is {_join(parts)}."]
    vanishing = [str(g) for g, r in ratio.items() if r < VANISHING_RATIO]
    exploding = [str(g) for g, r in ratio.items() if r > EXPLODING_RATIO]
    if vanishing:
        out.append(f"The gradient vanishes toward the input (ratio below {VANISHING_RATIO:g}) for {_join(vanishing)}.")
    if exploding:
        out.append(f"The gradient grows toward the input (ratio above {EXPLODING_RATIO:g}) for {_join(exploding)}.")
    return out


def _init_sentence(tables: Tables) -> str | None:
    table = best_init_by_group(tables)
    if table.empty:
        return None
    noun = group_noun(tables)
    if len(table) == 1:
        r = table.iloc[0]
        text = f"The best initializer for {r['group']} is {r['init']} ({r['acc']:.3f})"
        if r["runner_up"] is not None:
            text += f", ahead of {r['runner_up']} ({r['runner_acc']:.3f})"
        return text + "."
    by_init = table.groupby("init", sort=False)["group"].apply(lambda s: _join([str(g) for g in s]))
    if len(by_init) == 1:
        return f"{by_init.index[0]} is the best initializer for every {noun} (each at its best other settings)."
    parts = [f"{init} for {groups}" for init, groups in by_init.items()]
    return f"The best initializer differs by {noun}: {'; '.join(parts)}."


def findings(tables: Tables, stats: pd.DataFrame | None = None) -> list[str]:
    """The report's findings, each a sentence computed from the tables.

    ``stats`` is :func:`group_stats` of ``tables``, when already computed.
    """
    counts = status_counts(tables)
    total = sum(counts.values())
    if total == 0:
        return ["There are no runs, so there is nothing to compare."]
    if counts["failed"] == total:
        return [f"All {total} runs failed, so there is nothing to compare."]
    out: list[str] = []
    stats = group_stats(tables) if stats is None else stats
    for sentence in (_winner_sentence(tables, stats), _ranking_sentence(tables, stats)):
        if sentence:
            out.append(sentence)
    out += _outcome_sentences(tables)
    out += _split_sentences(tables)
    out += _dead_sentences(tables)
    if group_column(tables) != "variant":  # a variant's outcomes above already say which diverged
        out += _divergence_sentences(tables)
    out += _gradient_sentence(tables)
    sentence = _init_sentence(tables)
    if sentence:
        out.append(sentence)
    if counts["failed"]:
        out.append(f"Failed runs ({counts['failed']} of {total}) are left out of every mean.")
    return out


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


def _cells_table(tables: Tables, cells: pd.DataFrame) -> str:
    keys = cell_keys(tables)
    on_val = selects(tables).split == "validation"
    # The test accuracy at each run's best epoch, that epoch chosen by the
    # selecting accuracy (summaries built before it was kept: the best test accuracy).
    at_best = "test_at_best_mean" if "test_at_best_mean" in cells else "best_acc_mean"
    header = [*keys, *(["final val acc (mean)"] if on_val else []), "final test acc (mean ± 95% CI)", "per seed",
              f"test acc at best {'val ' if on_val else ''}epoch (mean)", "outcomes"]
    rows = []
    for _, r in cells.iterrows():
        counts = {n: int(r.get(outcomes.count_column(n), 0)) for n in outcomes.NAMES}
        rows.append([*(format_value(r[k]) for k in keys), *([format_ci(r["val_acc_mean"], np.nan)] if on_val else []),
                     format_ci(r["acc_mean"], r["acc_ci95"]), seed_values(cell_runs(tables, r)),
                     format_ci(r[at_best], np.nan), outcomes.mix_text(counts, int(r["n_seeds"]))])
    return _md_table(header, rows)


def _cells_section(tables: Tables) -> list[str]:
    summary = tables.summary
    if summary.empty or "acc_mean" not in summary:
        return ["No cells."]
    ranks = rank_column(tables)
    ranked = summary[np.isfinite(summary[ranks].astype(float))].sort_values(ranks, ascending=False, kind="stable")
    lines = [f"Cells ranked by mean final {selects(tables).split} accuracy ({selection_phrase(tables)}).", ""]
    if len(ranked) <= 2 * N_RANKED:
        lines += ["All cells, best first:", "", _cells_table(tables, ranked)]
    else:
        lines += [f"Best {N_RANKED} cells:", "", _cells_table(tables, ranked.head(N_RANKED)), "",
                  f"Worst {N_RANKED} cells:", "", _cells_table(tables, ranked.tail(N_RANKED).iloc[::-1])]
    empty = len(summary) - len(ranked)
    if empty:
        lines += ["", f"{empty} cell(s) have no {selects(tables).split} accuracy (every run failed)."]
    return lines


def _groups_section(tables: Tables, stats: pd.DataFrame) -> list[str]:
    if stats.empty:
        return ["No runs."]
    noun = group_noun(tables)
    n = n_layers(tables)
    layers = " / ".join(f"L{l}" for l in range(1, n + 1))
    on_val = selects(tables).split == "validation"
    header = [noun, "best cell", *(["val acc at best cell"] if on_val else []), "test acc at best cell",
              "test acc over all cells", f"dead at init ({layers})", f"dead at end ({layers})", "outcomes (all cells)"]
    rows = []
    for r in stats.sort_values("best_sel", ascending=False, na_position="last", kind="stable").to_dict("records"):
        rows.append([
            r["group"], r["best_cell"] or "(only cell)", *([format_ci(r["best_sel"], np.nan)] if on_val else []),
            f"{format_ci(r['best_acc'], r['best_ci'])} (n={r['best_n']})",
            f"{format_ci(r['all_acc'], r['all_ci'])} (n={r['all_n']})",
            " / ".join(format_pct(r[f"dead_init_L{l}"]) for l in range(1, n + 1)),
            " / ".join(format_pct(r[f"dead_end_L{l}"]) for l in range(1, n + 1)),
            r["outcomes"],
        ])
    return [
        f"Best cells are {selection_phrase(tables)}. "
        f"Final test accuracy is the mean ± 95% CI over finished runs (diverged runs count with the accuracy "
        f"they had when they diverged). Dead fractions (L{n} = output layer) are means over the runs that "
        "finished without diverging, every cell.",
        "",
        _md_table(header, rows),
    ]


def _outcomes_section(tables: Tables) -> list[str]:
    table = outcome_shares(tables)
    lines = ["Each run's outcome is the first of these whose rule holds (`outcome` in `runs.csv`, "
             "`n_<outcome>` in `summary.csv`):", "", outcomes.markdown_table(), ""]
    if table.empty:
        return lines + ["No runs."]
    split = [a for a in SPLIT_AXES if table[a].notna().any()]
    header = [group_noun(tables), *split, "runs", *outcomes.NAMES]
    rows = [[r["group"], *(format_value(r[a]) for a in split), r["runs"],
             *(r[c] or "" for c in outcomes.COUNT_COLUMNS)] for r in table.to_dict("records")]
    lines += ["Runs per outcome (empty: none):", "", _md_table(header, rows)]
    stopped = _stopped_sentence(tables)
    return lines + (["", stopped] if stopped else [])


def _stopped_sentence(tables: Tables) -> str | None:
    """How many runs early stopping ended, and when: their outcome is judged on
    the best epoch's numbers they keep."""
    runs = tables.runs
    if "stopped_epoch" not in runs or not runs["stopped_epoch"].notna().any():
        return None
    stopped = runs[runs["stopped_epoch"].notna()]
    epochs = stopped["stopped_epoch"].astype(int)
    when = f"epoch {epochs.min()}" if epochs.min() == epochs.max() else f"epochs {epochs.min()} to {epochs.max()}"
    mix = outcomes.mix_text(outcome_counts(stopped))
    return (f"{len(stopped)} of {len(runs)} runs stopped early (`early_stopping`: no better validation accuracy "
            f"for that many epochs), at {when}; each keeps its best epoch's numbers and its outcome is judged on "
            f"them: {mix} (`stopped_epoch` in `runs.csv`; per seed \"stopped at\" in the cell tables).")


def _optimizer_section(tables: Tables) -> list[str]:
    """Per group and optimizer: the best cell (chosen by :func:`rank_column`),
    its test accuracy and the outcomes of all the pair's runs. Empty unless
    the optimizer varies in a grid."""
    splits = optimizer_splits(tables)
    if splits[0][0] is None:
        return []
    on_val = selects(tables).split == "validation"
    header = [group_noun(tables), "optimizer", "best cell", *(["val acc at best cell"] if on_val else []),
              "test acc at best cell", "outcomes (all cells)"]
    per_opt = [(opt, group_stats(sub)) for opt, sub in splits]  # once per optimizer, not per group
    rows = []
    for g in group_values(tables):
        for opt, stats in per_opt:
            r = stats[stats["group"] == g]
            if r.empty:
                continue
            r = r.iloc[0]
            sel = [format_ci(r["best_sel"], np.nan)] if on_val else []
            rows.append([g, opt, r["best_cell"] or "(only cell)", *sel,
                         f"{format_ci(r['best_acc'], r['best_ci'])} (n={r['best_n']})", r["outcomes"]])
    return [f"Each {group_noun(tables)} with each optimizer at its best cell ({selection_phrase(tables)}):", "",
            _md_table(header, rows)]


def _config_section(out_dir: Path) -> list[str]:
    path = out_dir / "config.yaml"
    try:
        text = path.read_text()
    except OSError:
        return ["No `config.yaml` in the results folder; each run's settings are in `runs.csv`."]
    return ["Resolved config (`config.yaml`):", "", "```yaml", text.rstrip("\n"), "```"]


def _title(out_dir: Path) -> str:
    try:
        raw = yaml.safe_load((out_dir / "config.yaml").read_text())
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            return raw["name"]
    except (OSError, yaml.YAMLError):
        pass
    return out_dir.resolve().name


def write_report(tables: Tables, out_dir: str | Path, body: list[str] | None = None) -> Path:
    """Write ``out_dir/report.md`` (atomically) and return its path.

    Plots are linked from ``out_dir/plots`` when their files exist, so call
    :func:`experiments.analysis.plots.make_plots` first. ``body``: the
    :func:`report_body` of the same tables and folder when it was computed
    already (the outputs stage computes it while the figures are drawn).
    """
    out_dir = Path(out_dir)
    lines = list(body if body is not None else report_body(tables, out_dir))
    plot_dir = out_dir / "plots"
    present = [(name, caption) for name, caption in PLOT_FILES.items() if (plot_dir / name).is_file()]
    lines += ["## Plots", ""]
    if present:
        for name, caption in present:
            rel = Path(os.path.relpath(plot_dir / name, out_dir)).as_posix()
            lines += [f"### {caption}", "", f"![{caption}]({rel})", ""]
    else:
        lines += ["No plots (no run produced data to plot).", ""]

    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(lines).rstrip("\n") + "\n")
    return path


def report_body(tables: Tables, out_dir: str | Path) -> list[str]:
    """The lines of ``report.md`` before its plots: everything that does not wait for the figures."""
    out_dir = Path(out_dir)
    counts = status_counts(tables)
    total = sum(counts.values())
    runs = tables.runs
    lines = [f"# Sweep report: {_title(out_dir)}", ""]
    axes = ", ".join(tables.axes) or "none"
    seeds = runs["seed"].nunique() if "seed" in runs else 0
    lines += [f"{total} runs: {counts['ok']} ok, {counts['diverged']} diverged, {counts['failed']} failed. "
              f"Axes that vary (seed aside): {axes}; {seeds} seed(s). Best cells, best epochs and rankings are "
              f"{selection_phrase(tables)}.", ""]
    # Findings first: they are what a reader opens the report for.
    stats = group_stats(tables)  # for the findings and the per-group table
    lines += ["## Findings", "", *[f"- {s}" for s in findings(tables, stats)], ""]

    lines += ["## Configuration", "", *_config_section(out_dir), ""]
    if tables.axes:
        rows = [[a, ", ".join(format_value(v) for v in _sorted(runs[a].dropna().unique()))] for a in tables.axes]
        lines += [_md_table(["axis", "values"], rows), ""]

    lines += ["## Runs by status", "", _md_table(["status", "runs"], [[s, n] for s, n in counts.items()]), ""]
    if counts["failed"]:
        errors = runs.loc[runs["status"] == "failed", "error"].fillna("(no message)").value_counts()
        lines += ["Errors of failed runs:", ""]
        lines += [f"- `{msg}` ({n} run{'s' if n > 1 else ''})" for msg, n in errors.head(5).items()]
        if len(errors) > 5:
            lines.append(f"- ... and {len(errors) - 5} other messages (see `runs.csv`)")
        lines.append("")

    lines += ["## Outcomes", "", *_outcomes_section(tables), ""]
    lines += ["## Cells", "", *_cells_section(tables), ""]
    lines += [f"## Per {group_noun(tables)}", "", *_groups_section(tables, stats), ""]
    per_optimizer = _optimizer_section(tables)
    if per_optimizer:
        lines += [f"## Per {group_noun(tables)} and optimizer", "", *per_optimizer, ""]
    return lines
