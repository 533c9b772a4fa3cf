"""``diagnosis.md`` for an ablation (a sweep with named variants).

Every number and every sentence here is computed from the stored runs; the
thresholds that turn numbers into words are the constants below.

The baseline is the first variant without overrides (the network as
written). A variant *rescues* the network when its mean final test accuracy
is at least :data:`RESCUE_FRACTION` of the best variant's and its 95%
interval lies above the baseline's; it *helps* when only the second holds.
The best variant is the one with the highest mean final validation accuracy
(test accuracy when the runs have no validation split:
:func:`experiments.analysis.tables.selection`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.analysis import outcomes
from experiments.analysis.plots import STEP_NAME
from experiments.analysis.report import outcome_counts, outcome_split, seed_values
from experiments.config import RunConfig, SweepConfig
from experiments.store import atomic_write_text
from experiments.analysis.tables import SELECT_ON_VAL, Tables, ci95, selection

RESCUE_FRACTION = 0.9
# First-to-last layer gradient ratio below which gradients count as vanishing.
VANISHING_RATIO = 0.1
CLAIM_ACTIVATIONS = ("relu", "sigmoid", "tanh")
# Best-epoch minus final accuracy from which a variant "learned, then lost it".
COLLAPSE_DROP = 0.2
# A layer counts as dead once this fraction of its units is dead (the mechanism sentences).
DEAD_LAYER = 0.9


def _fmt(x: float, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "nan" if x is None or np.isnan(x) else ("inf" if x > 0 else "-inf")
    if x != 0 and (abs(x) < 10 ** -(digits - 1) or abs(x) >= 1e4):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def _pct(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{100 * x:.1f}%"


def variant_stats(tables: Tables, sweep: SweepConfig) -> pd.DataFrame:
    """One row per variant: accuracy, dead units and gradient norms per layer.

    Columns: variant, changes (the overrides as text), n_changes, runs,
    diverged, failed, acc_mean, acc_ci95 (final test accuracy), sel_mean (mean
    final accuracy of the split that selects: validation, else test),
    test_at_best_mean (test accuracy at each run's best epoch, that epoch
    chosen by the selecting split), then per layer l: dead_frac_L{l}
    (end of training), dead_init_L{l} (epoch 0), grad_init_L{l} and
    grad_end_L{l} (the applied step's Frobenius norm |dW| at epoch 0 and at
    the last epoch), true_grad_init_L{l} / true_grad_end_L{l} (the exact
    gradient's norm), cosine_end_L{l} (cosine between step and true gradient
    at the end, runs that did not diverge), dead90_L{l} (per seed, the first
    epoch with more than :data:`DEAD_LAYER` of the layer dead, "never" if
    none), nonpos_z_end_L{l} (share of pre-activations at or below 0 at the
    end, runs that did not diverge), n_settled (those runs), ratio_init
    (true_grad_init_L1 / true_grad_init_L<last>), per_seed (final accuracies
    in seed order), outcomes (the mix), split (the seeds' outcomes and values
    when they differ, else empty), and ``n_<outcome>``.
    """
    runs, layers = tables.runs, tables.layers
    selects = selection(runs).run_column
    n_layers = int(layers["layer"].max()) if not layers.empty else 3
    ends = runs.set_index("run_id")["epochs_done"]
    lay = layers.assign(last=layers["run_id"].map(ends))
    at_init = lay[lay["epoch"] == 0]
    at_end = lay[lay["epoch"] == lay["last"]]
    # (run, layer) -> first epoch with more than DEAD_LAYER of its units dead; the
    # epoch a run diverged is left out (its diagnostics are of non-finite weights).
    diverged_at = runs.set_index("run_id")["diverged_epoch"]
    finite = lay["epoch"] != lay["run_id"].map(diverged_at)
    dead90 = lay[finite & (lay["dead_frac"] > DEAD_LAYER)].groupby(["run_id", "layer"])["epoch"].min()
    rows = []
    for name, overrides in sweep.variants:
        mine = runs[runs["variant"] == name]
        if mine.empty:
            continue
        done = mine[mine["status"] != "failed"]
        ids = set(done["run_id"])
        row: dict[str, Any] = {
            "variant": name,
            "changes": ", ".join(f"{k}={v}" for k, v in overrides.items()) or "(as written)",
            "n_changes": len(overrides),
            "runs": len(mine),
            "diverged": int((mine["status"] == "diverged").sum()),
            "failed": int((mine["status"] == "failed").sum()),
            "acc_mean": done["test_acc"].mean(),
            "acc_ci95": ci95(done["test_acc"]),
            "sel_mean": done[selects].mean(),
            "test_at_best_mean": done["test_acc_at_best" if "test_acc_at_best" in done else "best_test_acc"].mean(),
        }
        counts = outcome_counts(mine)
        row.update({outcomes.count_column(n): k for n, k in counts.items()})
        row.update(per_seed=seed_values(mine), outcomes=outcomes.mix_text(counts), split=outcome_split(done) or "")
        init = at_init[at_init["run_id"].isin(ids)].groupby("layer")
        end = at_end[at_end["run_id"].isin(ids)].groupby("layer")
        # The state a network ended in: only runs that did not diverge have one.
        settled = at_end[at_end["run_id"].isin(set(done.loc[done["status"] == "ok", "run_id"]))].groupby("layer")
        ordered = done.sort_values("seed", kind="stable")["run_id"]
        row["n_settled"] = int((done["status"] == "ok").sum())
        for l in range(1, n_layers + 1):
            pick = lambda g, col: g[col].mean().get(l, np.nan) if col in lay else np.nan  # noqa: E731
            row[f"dead_frac_L{l}"] = pick(end, "dead_frac")
            row[f"dead_init_L{l}"] = pick(init, "dead_frac")
            row[f"grad_init_L{l}"] = pick(init, "grad_w_norm")
            row[f"grad_end_L{l}"] = pick(end, "grad_w_norm")
            row[f"true_grad_init_L{l}"] = pick(init, "true_grad_w_norm")
            row[f"true_grad_end_L{l}"] = pick(end, "true_grad_w_norm")
            row[f"cosine_end_L{l}"] = pick(settled, "step_cosine")
            row[f"nonpos_z_end_L{l}"] = pick(settled, "nonpos_z_frac")
            row[f"dead90_L{l}"] = ", ".join(_dead_epoch(dead90, r, l, diverged_at.get(r)) for r in ordered)
        with np.errstate(all="ignore"):
            row["ratio_init"] = row["true_grad_init_L1"] / row[f"true_grad_init_L{n_layers}"]
        rows.append(row)
    return pd.DataFrame(rows)


def _dead_epoch(dead90: pd.Series, run_id: str, layer: int, diverged: Any) -> str:
    """``"3"``, ``"never"`` or ``"never (diverged at 2)"``: when a run's layer first passed the threshold."""
    if (run_id, layer) in dead90.index:
        return str(int(dead90[run_id, layer]))
    return "never" if pd.isna(diverged) else f"never (diverged at {int(diverged)})"


def baseline_name(sweep: SweepConfig) -> str | None:
    """The first variant without overrides: the network as written."""
    return next((name for name, overrides in sweep.variants if not overrides), None)


def classify(stats: pd.DataFrame, baseline: str) -> pd.Series:
    """'rescues', 'helps' or 'does not help', per variant (baseline excluded)."""
    base = stats.set_index("variant").loc[baseline]
    best = best_variant(stats)["acc_mean"]
    base_hi = base["acc_mean"] + np.nan_to_num(base["acc_ci95"])
    lo = stats["acc_mean"] - stats["acc_ci95"].fillna(0)
    above = lo > base_hi
    rescued = above & (stats["acc_mean"] >= RESCUE_FRACTION * best)
    verdict = np.where(rescued, "rescues", np.where(above, "helps", "does not help"))
    out = pd.Series(verdict, index=stats["variant"])
    return out.drop(baseline)


def best_variant(stats: pd.DataFrame) -> pd.Series:
    """The row of ``stats`` with the highest ``sel_mean`` (the first among ties)."""
    return stats.loc[stats["sel_mean"].astype(float).idxmax()]


def _acc(row: pd.Series) -> str:
    """``"93.8% ± 2.1%"``; an interval that would leave [0%, 100%] as its range cut there."""
    mean, ci = row["acc_mean"], row["acc_ci95"]
    if not np.isfinite(ci):
        return f"{_pct(mean)} ± n/a"
    if mean - ci < 0 or mean + ci > 1:
        return f"{_pct(mean)} (95% CI {_pct(max(mean - ci, 0.0))} to {_pct(min(mean + ci, 1.0))})"
    return f"{_pct(mean)} ± {_pct(ci)}"


def findings(stats: pd.DataFrame, sweep: SweepConfig, n_layers: int, on_val: bool = False) -> list[str]:
    """Plain sentences computed from ``stats``; ``on_val``: the best variant was
    chosen on validation accuracy (else on test)."""
    out: list[str] = []
    base_name = baseline_name(sweep)
    if base_name is None or base_name not in set(stats["variant"]):
        return ["No variant without overrides, so there is no baseline to compare against."]
    s = stats.set_index("variant")
    base = s.loc[base_name]
    out.append(
        f"As written ({base_name}), the network reaches {_acc(base)} final test accuracy "
        f"over {base['runs']} seeds ({base['diverged']} diverged)."
    )
    dead_layers = [
        f"{_pct(base[f'dead_frac_L{l}'])} of {'output' if l == n_layers else f'hidden layer {l}'} units "
        f"(at initialization: {_pct(base[f'dead_init_L{l}'])})"
        for l in range(1, n_layers + 1)
        if base[f"dead_frac_L{l}"] > 0
    ]
    if dead_layers:
        out.append("At the end of training it has dead units: " + "; ".join(dead_layers) + ".")
    if "book" in str(base["changes"]) or sweep.base.get("backprop") == "book":
        g1, t1 = base["grad_end_L1"], base["true_grad_end_L1"]
        if np.isfinite(g1) and np.isfinite(t1) and g1 > 10 * max(t1, 1e-300):
            out.append(
                f"The book's rule keeps changing hidden layer 1 ({STEP_NAME} |dW| {_fmt(g1)} at the end) although "
                f"the true gradient |dL/dW| there is {_fmt(t1)}: it passes errors down without the derivative of "
                "the layers above, so dead layers above do not stop it."
            )
    verdict = classify(stats, base_name)
    best = best_variant(stats)
    # Seeds that end differently get their values, not a verdict on their mean.
    split = [v for v in stats["variant"] if s.loc[v, "split"]]
    for v in split:
        out.append(f"{v} ({s.loc[v, 'changes']}): the seeds split: {s.loc[v, 'split']}.")
    for n_changes, label in ((1, "single changes"), (2, "combinations")):
        names = [v for v in verdict.index if (s.loc[v, "n_changes"] == 1) == (n_changes == 1) and v not in split]
        for kind in ("rescues", "helps", "does not help"):
            hit = [v for v in names if verdict[v] == kind]
            if not hit:
                continue
            parts = ", ".join(f"{v} ({s.loc[v, 'changes']}: {_acc(s.loc[v])})" for v in hit)
            word = {"rescues": "rescue the network", "helps": "help but do not rescue it",
                    "does not help": "do not help"}[kind]
            out.append(f"Among {label}, these {word}: {parts}.")
    collapsed = stats[(stats["test_at_best_mean"] - stats["acc_mean"] >= COLLAPSE_DROP) & (stats["split"] == "")]
    for _, r in collapsed.iterrows():
        out.append(
            f"{r['variant']} reached {_pct(r['test_at_best_mean'])} test accuracy at its best epoch (mean over "
            f"seeds) but ended at "
            f"{_pct(r['acc_mean'])}: it learned, then lost it"
            + (f" ({r['diverged']} of {r['runs']} runs diverged)." if r["diverged"] else ".")
        )
    on = "validation" if on_val else "test"
    out.append(
        f"Criterion: a variant rescues the network when its mean test accuracy is at least "
        f"{RESCUE_FRACTION:.0%} of the best variant's ({best['variant']}, the highest mean {on} accuracy: "
        f"{_pct(best['acc_mean'])} test) and its 95% "
        "interval lies above the baseline's; it helps when only the second holds"
        + (" (variants whose seeds split between outcomes get no verdict)." if split else ".")
    )
    out += _claim(stats, sweep, n_layers)
    out += init_sentences(stats, sweep, n_layers)
    return out


def _layer(l: int, n_layers: int) -> str:
    return "output layer" if l == n_layers else f"hidden layer {l}"


def mechanism_sentences(stats: pd.DataFrame, sweep: SweepConfig, n_layers: int) -> list[str]:
    """Per variant, how its network dies: when each layer passes :data:`DEAD_LAYER` dead
    (per seed), how much of the output's pre-activation is below 0, and, under
    the book rule, the cosine between the update step and the true gradient."""
    resolved = {name: {**sweep.base, **overrides} for name, overrides in sweep.variants}
    out = []
    for _, r in stats.iterrows():
        parts = []
        dead = [f"{_layer(l, n_layers)}: {r[f'dead90_L{l}']}" for l in range(1, n_layers + 1)
                if any(not e.startswith("never") for e in str(r[f"dead90_L{l}"]).split(", "))]
        if dead:
            parts.append(f"first epoch with more than {DEAD_LAYER:.0%} of the units dead, per seed: " + "; ".join(dead))
        else:
            parts.append(f"no layer passes {DEAD_LAYER:.0%} dead units in any seed")
        if r.get("n_settled", 1) == 0:
            out.append(f"{r['variant']}: " + "; ".join(parts) + "; every seed diverged, so no network has an end "
                       "state to measure.")
            continue
        neg = r.get(f"nonpos_z_end_L{n_layers}", np.nan)
        if np.isfinite(neg):
            parts.append(f"at the end {_pct(neg)} of the output pre-activations are at or below 0")
        if resolved.get(r["variant"], {}).get("backprop", "exact") != "exact":
            cosines = [r[f"cosine_end_L{l}"] for l in range(1, n_layers + 1)]
            if not np.isfinite(cosines).any():
                parts.append(f"the {STEP_NAME} or the true gradient is zero in every layer at the end "
                             "(no cosine between them)")
            else:
                cos = [f"{_layer(l, n_layers)} {_fmt(c)}" if np.isfinite(c) else f"{_layer(l, n_layers)} n/a (zero)"
                       for l, c in enumerate(cosines, start=1)]
                parts.append(f"the cosine between the {STEP_NAME} and the true gradient at the end is "
                             + ", ".join(cos))
        out.append(f"{r['variant']}: " + "; ".join(parts) + ".")
    return out


def init_sentences(stats: pd.DataFrame, sweep: SweepConfig, n_layers: int) -> list[str]:
    """For each pair of variants that differ only in their initializer: what changing it changes."""
    defaults = RunConfig().flat()
    resolved = {name: {**defaults, **sweep.base, **overrides} for name, overrides in sweep.variants}
    s = stats.set_index("variant")
    names = [n for n in resolved if n in s.index]
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            differ = {k for k in set(resolved[a]) | set(resolved[b]) if resolved[a].get(k) != resolved[b].get(k)}
            if differ != {"init"}:
                continue
            ra, rb = s.loc[a], s.loc[b]
            dead = " / ".join(f"{_pct(ra[f'dead_init_L{l}'])} → {_pct(rb[f'dead_init_L{l}'])}"
                              for l in range(1, n_layers + 1))
            out.append(
                f"Initializer {resolved[a]['init']} ({a}) → {resolved[b]['init']} ({b}), all else equal: final "
                f"accuracy {_acc(ra)} → {_acc(rb)}; outcomes {ra['outcomes']} → {rb['outcomes']}; dead units at "
                f"initialization (hidden layer 1 / ... / output) {dead}; true gradient ratio first/last layer at "
                f"initialization {_fmt(ra['ratio_init'])} → {_fmt(rb['ratio_init'])}."
            )
    return out


def _claim(stats: pd.DataFrame, sweep: SweepConfig, n_layers: int) -> list[str]:
    """Does ReLU's gradient vanish where sigmoid's and tanh's do not? (the answer's claim)"""
    resolved = {name: {**sweep.base, **overrides} for name, overrides in sweep.variants}
    ratios: dict[str, tuple[str, float, float]] = {}
    for name, setting in resolved.items():
        act = setting.get("activation")
        if setting.get("backprop") != "exact" or act not in CLAIM_ACTIVATIONS or act in ratios:
            continue
        row = stats.set_index("variant").loc[name] if name in set(stats["variant"]) else None
        if row is None:
            continue
        with np.errstate(all="ignore"):
            end_ratio = row["true_grad_end_L1"] / row[f"true_grad_end_L{n_layers}"]
        ratios[act] = (name, row["ratio_init"], end_ratio)
    if "relu" not in ratios or len(ratios) < 2:
        return []
    parts = ", ".join(
        f"{act} {_fmt(r0)} at initialization and {_fmt(r1)} at the end ({name})" for act, (name, r0, r1) in ratios.items()
    )
    relu = ratios["relu"][1]
    others = {a: r[1] for a, r in ratios.items() if a != "relu"}
    vanishes = relu < VANISHING_RATIO and all(relu < r for r in others.values())
    verdict = (
        "ReLU's first-layer gradient is the smallest relative to its last layer's and below "
        f"{VANISHING_RATIO:g}: the data support the answer's claim that its gradients vanish"
        if vanishes
        else "ReLU's gradient does not vanish on its way down "
        + (f"(ratio {_fmt(relu)}, against {', '.join(f'{a} {_fmt(r)}' for a, r in others.items())})" if others else "")
        + ": the data do not support the answer's claim that ReLU fails through vanishing gradients"
    )
    return [
        f"Under exact backprop, the ratio of first-layer to last-layer true gradient |dL/dW| is: {parts}.",
        verdict + ".",
    ]


def _table(stats: pd.DataFrame, n_layers: int, book: bool) -> list[str]:
    names = ["output" if l == n_layers else f"L{l}" for l in range(1, n_layers + 1)]
    header = (
        ["variant", "change", "final test acc (mean ± 95% CI)", "per seed", "outcomes"]
        + [f"dead {n} end (init)" for n in names]
        + [f"true \\|dL/dW\\| {n} init → end" for n in names]
        + ([f"step \\|dW\\| {n} init → end" for n in names] if book else [])
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in stats.iterrows():
        cells = [r["variant"], r["changes"], _acc(r), r["per_seed"], r["outcomes"]]
        cells += [f"{_pct(r[f'dead_frac_L{l}'])} ({_pct(r[f'dead_init_L{l}'])})" for l in range(1, n_layers + 1)]
        cells += [f"{_fmt(r[f'true_grad_init_L{l}'])} → {_fmt(r[f'true_grad_end_L{l}'])}" for l in range(1, n_layers + 1)]
        if book:
            cells += [f"{_fmt(r[f'grad_init_L{l}'])} → {_fmt(r[f'grad_end_L{l}'])}" for l in range(1, n_layers + 1)]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def write_diagnosis(tables: Tables, sweep: SweepConfig, out_dir: str | Path,
                    body: tuple[list[str], pd.DataFrame] | None = None) -> Path | None:
    """Write ``out_dir/diagnosis.md`` and ``diagnosis.csv`` for a sweep with variants; None otherwise.

    The plots of ``out_dir/plots`` that exist are linked, so draw them first.
    ``body``: the :func:`diagnosis_body` of the same tables when it was
    computed already (the outputs stage computes it while the figures are drawn).
    """
    out_dir = Path(out_dir)
    body = body if body is not None else diagnosis_body(tables, sweep)
    if body is None:
        return None
    lines, stats = list(body[0]), body[1]
    plots = [p for p in ("accuracy_bars.png", "outcomes.png", "dead_units.png", "gradient_flow.png")
             if (out_dir / "plots" / p).exists()]
    if plots:
        lines += ["## Plots", "", *[f"![{p}](plots/{p})" for p in plots], ""]
    path = out_dir / "diagnosis.md"
    atomic_write_text(path, "\n".join(lines))
    atomic_write_text(out_dir / "diagnosis.csv", stats.to_csv(index=False))
    return path


def diagnosis_body(tables: Tables, sweep: SweepConfig) -> tuple[list[str], pd.DataFrame] | None:
    """(the lines of ``diagnosis.md`` before its plots, the table of ``diagnosis.csv``);
    None for a sweep without variants or without runs of them."""
    if not sweep.variants or tables.runs.empty or "variant" not in tables.runs:
        return None
    stats = variant_stats(tables, sweep)
    if stats.empty:
        return None
    n_layers = int(tables.layers["layer"].max()) if not tables.layers.empty else 3
    book = bool((tables.runs["backprop"] != "exact").any())
    data = tables.runs["data"].iloc[0]
    hidden = tables.runs["hidden"].iloc[0]
    lines = [
        f"# Diagnosis: {sweep.name}",
        "",
        f"Data `{data}`, hidden widths {hidden}, {len(tables.runs)} runs "
        f"({tables.runs['seed'].nunique()} seeds per variant). Each variant is the baseline "
        f"({baseline_name(sweep) or 'none'}) with the changes in its 'change' column.",
        "",
        "## Findings",
        "",
        *[f"- {s}" for s in findings(stats, sweep, n_layers, selection(tables.runs) == SELECT_ON_VAL)],
        "",
        "## How each variant's network dies",
        "",
        *[f"- {s}" for s in mechanism_sentences(stats, sweep, n_layers)],
        "",
        "## Per variant",
        "",
        "Per seed: final test accuracy of each seed, in seed order. Outcomes as defined in `report.md` and the "
        "README. Dead: fraction of units whose derivative is zero for every probe input, at the end of training "
        "(at initialization in brackets); the output layer counts too. True |dL/dW|: Frobenius norm of the "
        "exact gradient"
        + (f"; step |dW|: the {STEP_NAME}, the direction the book's rule applies" if book else "")
        + "; means over seeds, at initialization and at the last epoch.",
        "",
        *_table(stats, n_layers, book),
        "",
    ]
    return lines, stats
