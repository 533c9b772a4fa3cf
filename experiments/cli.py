"""Command line: ``python -m experiments sweep|report|plot``.

Bad input (config, data, results folder) ends in one sentence on stderr and
exit status 2, never a traceback; Ctrl-C keeps every finished run.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from experiments import config as cfg
from experiments.dask_backend import BackendError
from experiments.data import DataError
from experiments.analysis.build import build_outputs, load_tables
from experiments.analysis.selection import SelectionError, plot_selected
from experiments.runner import BACKENDS, plan, run_sweep
from experiments.store import FolderLock, StoreError

USER_ERRORS = (cfg.ConfigError, DataError, StoreError, BackendError, SelectionError)


def _config_path(name: str) -> Path:
    """A file path, or the name of a config shipped in experiments/configs/."""
    path = Path(name)
    shipped = cfg.CONFIG_DIR / f"{name}.yaml"
    if not path.exists() and shipped.exists():
        return shipped
    return path


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
    s.add_argument("--backend", default="loky", choices=BACKENDS, help="joblib backend (default: loky)")
    s.add_argument("--scheduler", help="address of a Dask scheduler, with --backend dask")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    r = sub.add_parser("report", help="rebuild tables, plots and report from the stored runs of DIR")
    r.add_argument("dir")
    pl = sub.add_parser("plot", help="draw every run matching --where filters, one line each, into "
                                     "DIR/plots/selected-<filter>/")
    pl.add_argument("dir")
    pl.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                    help="keep runs with this value (KEY=V1,V2: any of them); repeat to combine, e.g. "
                         "--where activation=relu --where lr=1")
    return p


def _sweep(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise cfg.ConfigError(f"--jobs: {args.jobs} is not valid; it must be a positive number of workers")
    if args.scheduler and args.backend != "dask":
        raise cfg.ConfigError("--scheduler is for --backend dask; add --backend dask or drop --scheduler")
    sweep = cfg.parse_set(cfg.load(_config_path(args.config)), args.sets)
    out = Path(args.out or Path("results") / sweep.name)
    if args.dry_run:
        p = plan(sweep, out, args.force)
        print(f"sweep {sweep.name!r} -> {out}")
        for key, value in sweep.base.items():
            print(f"  {key}: {value}")
        for key, values in sweep.axes.items():
            print(f"  axis {key} ({len(values)}): {', '.join(map(str, values))}")
        for name, overrides in sweep.variants:
            print(f"  variant {name}: {overrides or '(base)'}")
        print(f"{len(p.runs)} runs, {len(p.runs) - len(p.todo)} already done in {out}, {len(p.todo)} to run")
        return 0
    try:
        outcome = run_sweep(sweep, out, jobs=args.jobs, force=args.force, backend=args.backend,
                            scheduler=args.scheduler, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: every finished run is stored in {out / 'runs'}; run the same command again "
              f"to compute only the missing ones, or `python -m experiments report {out}` to build "
              "tables and plots from what is there", file=sys.stderr)
        return 130
    c = outcome.counts
    print(f"{sweep.name}: {c['ok']} ok, {c['diverged']} diverged, {c['failed']} failed, "
          f"{c['skipped']} skipped (already done), {outcome.seconds:.1f} s wall; results in {out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    out = Path(args.dir)
    if not (out / "runs").is_dir():
        raise StoreError(f"{out} holds no stored runs (no {out / 'runs'} folder)")
    sweep = None
    if (out / "config.yaml").exists():
        sweep = cfg.load(out / "config.yaml")
    with FolderLock(out):  # not while a sweep writes there
        paths = build_outputs(out, sweep)
    print(f"wrote {len(paths)} files in {out}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    out = Path(args.dir)
    if not (out / "runs").is_dir():
        raise StoreError(f"{out} holds no stored runs (no {out / 'runs'} folder)")
    paths = plot_selected(load_tables(out), args.where, out)
    print(f"wrote {len(paths)} plots in {paths[0].parent if paths else out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return {"sweep": _sweep, "report": _report, "plot": _plot}[args.command](args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the disk filled up while a plot was written
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}; files written before are intact", file=sys.stderr)
        return 2
