"""``diagnosis.md`` for an ablation (a sweep with named variants).

Every number and every sentence here is computed from the stored runs; the
thresholds that turn numbers into words are the constants below.

The baseline is the first variant without overrides (the network as
written). A variant *rescues* the network when its mean final accuracy is
at least :data:`RESCUE_FRACTION` of the best variant's and its 95% interval
lies above the baseline's; it *helps* when only the second holds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.config import SweepConfig
from experiments.store import atomic_write_text
from experiments.analysis.tables import Tables, ci95

RESCUE_FRACTION = 0.9
# First-to-last layer gradient ratio below which gradients count as vanishing.
VANISHING_RATIO = 0.1
CLAIM_ACTIVATIONS = ("relu", "sigmoid", "tanh")
# Best-epoch minus final accuracy from which a variant "learned, then lost it".
COLLAPSE_DROP = 0.2


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
    diverged, failed, acc_mean, acc_ci95, then per layer l: dead_frac_L{l}
    (end of training), dead_init_L{l} (epoch 0), grad_init_L{l} and
    grad_end_L{l} (the applied step's Frobenius norm |dW| at epoch 0 and at
    the last epoch), true_grad_end_L{l} (the exact gradient's norm at the end),
    ratio_init (grad_init_L1 / grad_init_L<last>).
    """
    runs, layers = tables.runs, tables.layers
    n_layers = int(layers["layer"].max()) if not layers.empty else 3
    ends = runs.set_index("run_id")["epochs_done"]
    lay = layers.assign(last=layers["run_id"].map(ends))
    at_init = lay[lay["epoch"] == 0]
    at_end = lay[lay["epoch"] == lay["last"]]
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
            "best_acc_mean": done["best_test_acc"].mean(),
        }
        init = at_init[at_init["run_id"].isin(ids)].groupby("layer")
        end = at_end[at_end["run_id"].isin(ids)].groupby("layer")
        for l in range(1, n_layers + 1):
            pick = lambda g, col: g[col].mean().get(l, np.nan)  # noqa: E731
            row[f"dead_frac_L{l}"] = pick(end, "dead_frac")
            row[f"dead_init_L{l}"] = pick(init, "dead_frac")
            row[f"grad_init_L{l}"] = pick(init, "grad_w_norm")
            row[f"grad_end_L{l}"] = pick(end, "grad_w_norm")
            row[f"true_grad_end_L{l}"] = pick(end, "true_grad_w_norm")
        with np.errstate(all="ignore"):
            row["ratio_init"] = row["grad_init_L1"] / row[f"grad_init_L{n_layers}"]
        rows.append(row)
    return pd.DataFrame(rows)


def baseline_name(sweep: SweepConfig) -> str | None:
    """The first variant without overrides: the network as written."""
    return next((name for name, overrides in sweep.variants if not overrides), None)


def classify(stats: pd.DataFrame, baseline: str) -> pd.Series:
    """'rescues', 'helps' or 'does not help', per variant (baseline excluded)."""
    base = stats.set_index("variant").loc[baseline]
    best = stats["acc_mean"].max()
    base_hi = base["acc_mean"] + np.nan_to_num(base["acc_ci95"])
    lo = stats["acc_mean"] - stats["acc_ci95"].fillna(0)
    above = lo > base_hi
    rescued = above & (stats["acc_mean"] >= RESCUE_FRACTION * best)
    verdict = np.where(rescued, "rescues", np.where(above, "helps", "does not help"))
    out = pd.Series(verdict, index=stats["variant"])
    return out.drop(baseline)


def _acc(row: pd.Series) -> str:
    return f"{_pct(row['acc_mean'])} ± {_pct(row['acc_ci95']) if np.isfinite(row['acc_ci95']) else 'n/a'}"


def findings(stats: pd.DataFrame, sweep: SweepConfig, n_layers: int) -> list[str]:
    """Plain sentences computed from ``stats``."""
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
                f"The book's rule keeps changing hidden layer 1 (applied |dW| {_fmt(g1)} at the end) although "
                f"the true gradient there is {_fmt(t1)}: it passes errors down without the derivative of "
                "the layers above, so dead layers above do not stop it."
            )
    verdict = classify(stats, base_name)
    best = stats.loc[stats["acc_mean"].idxmax()]
    for n_changes, label in ((1, "single changes"), (2, "combinations")):
        names = [v for v in verdict.index if (s.loc[v, "n_changes"] == 1) == (n_changes == 1)]
        for kind in ("rescues", "helps", "does not help"):
            hit = [v for v in names if verdict[v] == kind]
            if not hit:
                continue
            parts = ", ".join(f"{v} ({s.loc[v, 'changes']}: {_acc(s.loc[v])})" for v in hit)
            word = {"rescues": "rescue the network", "helps": "help but do not rescue it",
                    "does not help": "do not help"}[kind]
            out.append(f"Among {label}, these {word}: {parts}.")
    collapsed = stats[stats["best_acc_mean"] - stats["acc_mean"] >= COLLAPSE_DROP]
    for _, r in collapsed.iterrows():
        out.append(
            f"{r['variant']} reached {_pct(r['best_acc_mean'])} at its best epoch (mean over seeds) but ended at "
            f"{_pct(r['acc_mean'])}: it learned, then lost it"
            + (f" ({r['diverged']} of {r['runs']} runs diverged)." if r["diverged"] else ".")
        )
    out.append(
        f"Criterion: a variant rescues the network when its mean accuracy is at least "
        f"{RESCUE_FRACTION:.0%} of the best variant's ({best['variant']}, {_pct(best['acc_mean'])}) and its 95% "
        "interval lies above the baseline's; it helps when only the second holds."
    )
    out += _claim(stats, sweep, n_layers)
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
            end_ratio = row["grad_end_L1"] / row[f"grad_end_L{n_layers}"]
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
        f"Under exact backprop, the ratio of first-layer to last-layer |dL/dW| is: {parts}.",
        verdict + ".",
    ]


def _table(stats: pd.DataFrame, n_layers: int) -> list[str]:
    names = ["output" if l == n_layers else f"L{l}" for l in range(1, n_layers + 1)]
    header = (
        ["variant", "change", "final test acc (mean ± 95% CI)", "diverged"]
        + [f"dead {n} end (init)" for n in names]
        + [f"|dW| {n} init → end" for n in names]
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, r in stats.iterrows():
        cells = [r["variant"], r["changes"], _acc(r), f"{r['diverged']}/{r['runs']}"]
        cells += [f"{_pct(r[f'dead_frac_L{l}'])} ({_pct(r[f'dead_init_L{l}'])})" for l in range(1, n_layers + 1)]
        cells += [f"{_fmt(r[f'grad_init_L{l}'])} → {_fmt(r[f'grad_end_L{l}'])}" for l in range(1, n_layers + 1)]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def write_diagnosis(tables: Tables, sweep: SweepConfig, out_dir: str | Path) -> Path | None:
    """Write ``out_dir/diagnosis.md`` for a sweep with variants; None otherwise."""
    if not sweep.variants or tables.runs.empty or "variant" not in tables.runs:
        return None
    out_dir = Path(out_dir)
    stats = variant_stats(tables, sweep)
    if stats.empty:
        return None
    n_layers = int(tables.layers["layer"].max()) if not tables.layers.empty else 3
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
        *[f"- {s}" for s in findings(stats, sweep, n_layers)],
        "",
        "## Per variant",
        "",
        "Dead: fraction of units whose derivative is zero for every probe input, at the end of training "
        "(at initialization in brackets); the output layer counts too. |dW|: Frobenius norm of the weight "
        "step direction the backprop rule applies (the gradient for `exact`), mean over seeds, at "
        "initialization and at the last epoch.",
        "",
        *_table(stats, n_layers),
        "",
    ]
    plots = [p for p in ("accuracy_bars.png", "dead_units.png", "gradient_flow.png") if (out_dir / "plots" / p).exists()]
    if plots:
        lines += ["## Plots", "", *[f"![{p}](plots/{p})" for p in plots], ""]
    path = out_dir / "diagnosis.md"
    atomic_write_text(path, "\n".join(lines))
    atomic_write_text(out_dir / "diagnosis.csv", stats.to_csv(index=False))
    return path
