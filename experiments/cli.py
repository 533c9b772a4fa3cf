"""Command line: ``python -m experiments sweep|report|plot|compare|check``.

Bad input (config, data, results folder) ends in one sentence on stderr and
exit status 2, never a traceback; Ctrl-C or SIGTERM keeps every finished run.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import re
import signal
import sys
from pathlib import Path

from experiments import check
from experiments import config as cfg
from experiments.dask_backend import BackendError
from experiments.data import DataError
from experiments.runner import BACKENDS, plan, run_sweep
from experiments.store import FolderLock, StoreError

# The analysis side (pandas, matplotlib, plotly) is imported by the commands that
# use it, so that `check` and `sweep --dry-run` start in a fraction of the time.
# Its errors are ConfigError or StoreError (selection.SelectionError is a ConfigError).
USER_ERRORS = (cfg.ConfigError, DataError, StoreError, BackendError)
# A sweep of more runs than this asks for --yes: at about 0.05 s per run on
# 2 cores, 10,000 runs are most of an hour, a typo in an axis easily 100 times that.
LARGE_SWEEP = 10_000
# Characters kept as they are in a folder name derived from --set overrides.
_SAFE = re.compile(r"[^A-Za-z0-9.,=+_-]")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C: finished runs are kept, workers stopped."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


def _config_path(name: str) -> Path:
    """A file path, or the name of a config shipped in experiments/configs/."""
    path = Path(name)
    shipped = cfg.CONFIG_DIR / f"{name}.yaml"
    if os.path.lexists(path):
        return path
    if shipped.exists() and "/" not in name:
        return shipped
    names = ", ".join(sorted(p.stem for p in cfg.CONFIG_DIR.glob("*.yaml")))
    raise cfg.ConfigError(f"cannot read config file {str(path.absolute())[:300]}: no such file, and no "
                          f"shipped config named {cfg.show(name)}; shipped configs: {names}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, as every other error (argparse adds a usage)
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m experiments", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sweep", help="train the missing runs of a sweep and build its outputs")
    s.add_argument("--config", default="default", help="YAML file, or a name in experiments/configs/ (default: default)")
    s.add_argument("--out", help="results folder (default: results/<config name>)")
    s.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="parallel workers (default: all cores; with --backend dask the cluster's workers decide)")
    s.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key; commas make a list (an axis), e.g. activations=relu,tanh")
    s.add_argument("--dry-run", action="store_true", help="print the axes and run counts, then exit")
    s.add_argument("--force", action="store_true", help="recompute runs already stored")
    s.add_argument("--no-retry-failed", dest="retry_failed", action="store_false",
                   help="keep stored failed runs (by default a sweep computes them again)")
    s.add_argument("--yes", action="store_true", help=f"run a sweep of more than {LARGE_SWEEP:,} runs")
    s.add_argument("--backend", default="loky", choices=BACKENDS, help="joblib backend (default: loky)")
    s.add_argument("--scheduler", help="address of a Dask scheduler, with --backend dask")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    r = sub.add_parser("report", help="rebuild tables, plots and report from the stored runs of DIR")
    r.add_argument("dir")
    r.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="worker processes drawing the figures (default: all cores)")
    pl = sub.add_parser("plot", help="draw every run matching --where filters, one line each, into "
                                     "DIR/plots/selected-<filter>/")
    pl.add_argument("dir")
    pl.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                    help="keep runs with this value (KEY=V1,V2: any of them); repeat to combine, e.g. "
                         "--where activation=relu --where lr=1")
    check.add_parser(sub)
    c = sub.add_parser("compare", help="compare the cells two sweeps share: compare.md, compare.csv, compare.html")
    c.add_argument("dir_a", metavar="DIR_A")
    c.add_argument("dir_b", metavar="DIR_B")
    c.add_argument("--out", help="folder for the three files (default: DIR_B/compare_<name of DIR_A>)")
    return p


def own_name(base: cfg.SweepConfig, sets: list[str]) -> str:
    """The name of a sweep changed by ``--set``: ``base.name`` plus the overrides.

    So that ``--set epochs=5`` never writes into the folder of the unchanged
    sweep (and replaces its report). Characters unsafe in a folder name
    become ``_``, with a hash of the overrides so that two of them never share
    a name; a long one is cut.
    """
    text = "_".join(item.strip() for item in sets if not item.strip().startswith("name="))
    slug = _SAFE.sub("_", text)
    if slug != text or len(slug) > 60:
        slug = f"{slug[:48]}-{hashlib.sha1(text.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
    return cfg.check_name(f"{base.name}-{slug}")


def _sweep(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise cfg.ConfigError(f"--jobs: {args.jobs} is not valid; it must be a positive number of workers")
    if args.scheduler and args.backend != "dask":
        raise cfg.ConfigError("--scheduler is for --backend dask; add --backend dask or drop --scheduler")
    # Fingerprints pinned in a results folder's config.yaml are for `report`;
    # a sweep reads its data's fingerprints itself.
    base = dataclasses.replace(cfg.load(_config_path(args.config)), data_fingerprints={})
    sweep = cfg.parse_set(base, args.sets)
    named = args.out or any(item.strip().startswith("name=") for item in args.sets)
    if not named and sweep.resolved() != base.resolved():
        sweep = dataclasses.replace(sweep, name=own_name(base, args.sets))
        print(f"note: --set changes the sweep {base.name!r}, so it gets its own folder, results/{sweep.name} "
              "(--set name=NAME or --out DIR to choose another)", file=sys.stderr)
    out = Path(args.out or Path("results") / sweep.name)
    n_runs = sweep.n_runs()
    if args.dry_run:
        print(f"sweep {sweep.name!r} -> {out}")
        for key, value in sweep.base.items():
            print(f"  {key}: {value}")
        for key, values in sweep.axes.items():
            print(f"  axis {key} ({len(values)}): {', '.join(map(str, values))}")
        for name, overrides in sweep.variants:
            print(f"  variant {name}: {overrides or '(base)'}")
        for spec, fingerprint in sweep.fingerprints().items():
            print(f"  data {spec}: fingerprint {fingerprint}")
        if not any((out / "runs").glob("*.json")):  # nothing stored: no need to make the runs
            print(f"{n_runs} runs, 0 already done in {out}, {n_runs} to run")
            return 0
        p = plan(sweep, out, args.force, args.retry_failed)
        print(f"{len(p.runs)} runs, {len(p.runs) - len(p.todo)} already done in {out}, {len(p.todo)} to run")
        return 0
    if n_runs > LARGE_SWEEP and not args.yes:
        raise cfg.ConfigError(f"this sweep has {n_runs:,} runs, more than {LARGE_SWEEP:,}; add --yes to run it "
                              "(--dry-run shows its axes)")
    try:
        outcome = run_sweep(sweep, out, jobs=args.jobs, force=args.force, backend=args.backend,
                            scheduler=args.scheduler, progress=not args.no_progress,
                            retry_failed=args.retry_failed, command=["sweep", *args.argv])
    except KeyboardInterrupt as exc:
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"\n{how}: every finished run is stored in {out / 'runs'}; run the same command again "
              f"to compute only the missing ones, or `python -m experiments report {out}` to build "
              "tables and plots from what is there", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    c = outcome.counts
    retried = f", {c['retried']} of them failed before and retried" if c["retried"] else ""
    print(f"{sweep.name}: {c['ok']} ok, {c['diverged']} diverged, {c['failed']} failed{retried}, "
          f"{c['skipped']} skipped (already done), {outcome.seconds:.1f} s training"
          + (f", {outcome.outputs_seconds:.1f} s tables, plots and reports" if outcome.outputs_seconds else "")
          + f"; results in {out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise cfg.ConfigError(f"--jobs: {args.jobs} is not valid; it must be a positive number of workers")
    out = Path(args.dir)
    if not (out / "runs").is_dir():
        raise StoreError(f"{out} holds no stored runs (no {out / 'runs'} folder)")
    sweep = None
    if (out / "config.yaml").exists():
        sweep = cfg.load(out / "config.yaml")
    with FolderLock(out):  # not while a sweep writes there
        from experiments.analysis.build import build_outputs

        paths = build_outputs(out, sweep, args.jobs)
    print(f"wrote {len(paths)} files in {out}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    a, b = Path(args.dir_a), Path(args.dir_b)
    out = Path(args.out) if args.out else b / f"compare_{a.resolve().name}"
    from experiments.analysis.build import load_tables
    from experiments.analysis.compare import compare, write_comparison

    comparison = compare(load_tables(a), load_tables(b), str(a), str(b))
    paths = write_comparison(comparison, out)
    print(f"{len(comparison.cells)} shared cells; wrote {', '.join(str(p) for p in paths)}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    out = Path(args.dir)
    if not (out / "runs").is_dir():
        raise StoreError(f"{out} holds no stored runs (no {out / 'runs'} folder)")
    from experiments.analysis.build import load_tables
    from experiments.analysis.selection import plot_selected

    paths = plot_selected(load_tables(out), args.where, out)
    print(f"wrote {len(paths)} plots in {paths[0].parent if paths else out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    args.argv = argv[1:]
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        rc = {"sweep": _sweep, "report": _report, "plot": _plot, "check": check.run, "compare": _compare}[args.command](args)
        sys.stdout.flush()  # here, so that a closed pipe is seen here and not at exit
        return rc
    except BrokenPipeError:  # `... --dry-run | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    except KeyboardInterrupt as exc:  # sweeps say more above; elsewhere nothing is lost
        print(f"\n{'terminated' if isinstance(exc, Terminated) else 'interrupted'}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the disk filled up while a plot was written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}; files written before are intact", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
