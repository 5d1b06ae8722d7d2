"""The ``fairlit sweep`` argument parser: every flag, its default and its one-line help.

Usage errors are one line on stderr (exit status 2); abbreviated options are refused.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

__all__ = ["DEFAULT_GAMMAS", "build_parser", "fail"]

DEFAULT_GAMMAS = tuple(round(0.1 * i, 1) for i in range(11))


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown where there is one (not for options that default to nothing)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action) or ""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and no abbreviated options."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see `fairlit sweep --help`)", 2)


def fail(message: str, status: int) -> NoReturn:
    """Print ``fairlit sweep: error: MESSAGE`` (one line) and exit with ``status``."""
    print(f"fairlit sweep: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def _comma_list(cast: type, what: str) -> Any:
    def parse(text: str) -> list[Any]:
        try:
            return [cast(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {what}, got {text!r}"
            ) from None

    return parse


_floats, _ints = _comma_list(float, "numbers"), _comma_list(int, "integers")


def build_parser() -> argparse.ArgumentParser:
    """The ``fairlit sweep`` argument parser (other ``--key=value`` arguments go to every run)."""
    from fairlit.peers import DEFAULT_PEERS, PEER_METHODS

    parser = _Parser(
        prog="fairlit sweep",
        allow_abbrev=False,
        formatter_class=_Formatter,
        description="Train a fairlit config over a grid of gamma values and seeds (or search "
        "config values with Optuna), with fairlearn's peers on the same splits. Each method is an "
        "Optuna study in --storage: rerun the same command to resume, run it from several "
        "processes or machines to share the work. Writes results.csv, fronts.csv, summary.md and "
        "front.png into --out. Other --key=value arguments (e.g. --trainer.max_epochs=5) are "
        "passed to every run.",
    )
    parser.add_argument(
        "--config", action="append", help="LightningCLI config file; repeat to compose them."
    )
    parser.add_argument(
        "--out",
        required=True,
        help="Output folder: reports, trial folders and the default storage.",
    )
    parser.add_argument(
        "--name", default="sqnn", help="Method name of the fairlit points in the reports."
    )
    parser.add_argument(
        "--study",
        default=None,
        help="Optuna study name of the fairlit points (default: NAME@CONFIGS; for a search "
        "NAME-search@CONFIGS, or NAME-budgetB@CONFIGS with --budget B).",
    )
    parser.add_argument(
        "--storage",
        default=None,
        help="Optuna storage: a database URL (sqlite:///f.db, postgresql://...) or a journal-file path "
        "(default: sqlite:///OUT/studies.db).",
    )
    parser.add_argument(
        "--gammas",
        type=_floats,
        default=list(DEFAULT_GAMMAS),
        help="Grid mode: comma-separated gamma values.",
    )
    parser.add_argument(
        "--vectorize",
        action="store_true",
        help="Grid mode: train each seed's gammas as one front (fairlit.front.FrontModel, one "
        "vmapped computation); every gamma is still its own trial, with the columns and run "
        "folder of a separate one.",
    )
    parser.add_argument(
        "--seeds",
        type=_ints,
        default=None,
        help="Comma-separated seeds (grid: an axis; search: each trial runs all; default 0). "
        "With --report --audit: the seeds to audit (default: all).",
    )
    parser.add_argument(
        "--search",
        type=int,
        default=None,
        metavar="N",
        help="Search mode: the study holds N trials.",
    )
    parser.add_argument(
        "--space", default=None, help="Search mode: YAML file of the searched config keys."
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="Search mode: maximise validation accuracy subject to validation ΔDP <= BUDGET.",
    )
    parser.add_argument(
        "--sampler", choices=("tpe", "nsga2"), default="tpe", help="Search mode: Optuna's sampler."
    )
    parser.add_argument(
        "--sampler_seed", type=int, default=0, help="Search mode: seed of the sampler."
    )
    parser.add_argument(
        "--peers",
        nargs="?",
        const=",".join(DEFAULT_PEERS),
        default=None,
        help="Also run these peers (scikit-learn and fairlearn), comma-separated, each as its own "
        f"study. Alone, --peers runs {', '.join(DEFAULT_PEERS)}; all peers: "
        f"{', '.join(PEER_METHODS)}.",
    )
    parser.add_argument(
        "--peer_epochs",
        type=int,
        default=10,
        help="Training epochs of fairlearn's AdversarialFairnessClassifier.",
    )
    parser.add_argument(
        "--no_probe",
        action="store_true",
        help="Skip the representation probes of the fairlit points.",
    )
    parser.add_argument(
        "--audit",
        action="store_true",
        help="Train fresh classifiers on the frozen code of every fairlit point, as a sample, "
        "thresholded and as firing probabilities, and report the worst downstream ΔDP. With "
        "--report: audit only the settings chosen on validation, from their saved runs "
        "(kept in OUT/audit.csv; --seeds limits it to those seeds, --workers runs it in "
        "parallel).",
    )
    parser.add_argument(
        "--probe_rows",
        type=int,
        default=None,
        help="Fit the probes on this many training rows (default: all).",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Worker processes on this machine, each with cores/WORKERS torch threads.",
    )
    parser.add_argument(
        "--report", action="store_true", help="Only rebuild the reports in --out from the storage."
    )
    parser.add_argument("--no_progress", action="store_true", help="No progress bar.")
    parser.add_argument(
        "--debug", action="store_true", help="Show full tracebacks (also FAIRLIT_DEBUG=1)."
    )
    return parser
