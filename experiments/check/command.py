"""The ``check`` subcommand: arguments, then the report on stdout.

Exit status: 0 when every layer's step is the gradient step on every sample,
1 when one is not, 2 for a usage error (one ``error:`` line on stderr,
nothing on stdout, also with ``--json``).
"""
from __future__ import annotations

import argparse
import sys

from .checker import CheckConfig, check
from .gradient import LOSSES
from .load import CheckError
from .render import json_text, text

HELP = "does a hand-written network's training step follow the negative gradient, layer by layer?"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``check`` on the command line's subparsers."""
    p = sub.add_parser("check", help=HELP, description=HELP + " Imports FILE.py, which runs its code.")
    p.add_argument("target", metavar="FILE.py:CLASS", help="the file and the network class in it")
    p.add_argument("--args", help="the constructor's arguments, a Python literal, e.g. '(784, 200, 10, 0.1)'")
    p.add_argument("--train", default="train", help="method that takes (inputs, targets) and updates the "
                   "weights in place (default: train)")
    p.add_argument("--query", default="query", help="method that takes inputs and returns the outputs "
                   "(default: query)")
    p.add_argument("--loss", default="mse", choices=list(LOSSES),
                   help="; ".join(f"{l.name}: {l.formula}" for l in LOSSES.values()) + " (default: mse)")
    p.add_argument("--weights", metavar="NAME,NAME,...",
                   help="the weight matrices, input layer first (default: found by chaining shapes)")
    p.add_argument("--samples", type=int, default=CheckConfig.samples,
                   help=f"random samples, one train step each (default: {CheckConfig.samples})")
    p.add_argument("--seed", type=int, default=CheckConfig.seed,
                   help="seeds NumPy's global generator before CLASS is built, and the checker's inputs (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def run(args: argparse.Namespace) -> int:
    config = CheckConfig(args.target, args.args, args.train, args.query, args.loss, args.weights,
                         args.samples, args.seed)
    try:
        report = check(config)
    except CheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: nothing was written", file=sys.stderr)
        return 130
    print(json_text(report) if args.json else text(report))
    return 0 if report.passed else 1
