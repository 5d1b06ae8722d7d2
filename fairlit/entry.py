"""The ``fairlit`` console script and ``python -m fairlit``: one leaf module that dispatches.

``fairlit sweep ...`` goes to :mod:`fairlit.sweep.command`; ``fit``, ``validate``,
``test`` and ``predict`` go to LightningCLI (:mod:`fairlit.cli`). ``fairlit
--help`` and ``fairlit --version`` answer here, without importing Lightning.
Nothing in the package imports this module.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fairlit import __version__

__all__ = ["SUBCOMMANDS", "main"]

#: Every subcommand with its one-line description, in ``fairlit --help`` order.
SUBCOMMANDS = {
    "fit": "Train a model from configs (and test it when the config sets test_after_fit).",
    "validate": "Evaluate a checkpoint (--ckpt_path) on the validation split.",
    "test": "Evaluate a checkpoint (--ckpt_path) on the test split.",
    "predict": "Score data with a checkpoint (--ckpt_path): a dataset's test split, a CSV's rows.",
    "sweep": "Sweep gamma x seeds or search config values with Optuna, with fairness peers.",
}


def _help() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = [
        "usage: fairlit [-h] [--version] {" + ",".join(SUBCOMMANDS) + "} ...",
        "",
        "fairlit: fair representations with stochastically quantized neural networks.",
        "",
        "subcommands:",
        *(f"  {name:<{width}}  {text}" for name, text in SUBCOMMANDS.items()),
        "",
        "options:",
        "  -h, --help  Show this help and exit.",
        "  --version   Show fairlit's version and exit.",
        "",
        "`fairlit SUBCOMMAND --help` describes a subcommand's options.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``fairlit`` command line with ``argv`` (default: ``sys.argv[1:]``).

    Raises:
        SystemExit: with status 2 for an unknown subcommand (one line naming the closest).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args in ([], ["-h"], ["--help"]):
        print(_help())
        return
    if args == ["--version"]:
        print(f"fairlit {__version__}")
        return
    if not args[0].startswith("-") and args[0] not in SUBCOMMANDS:
        import difflib

        close = difflib.get_close_matches(args[0], list(SUBCOMMANDS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        print(
            f"fairlit: error: unknown subcommand {args[0]!r}{hint} "
            f"(choose from {', '.join(SUBCOMMANDS)})\n`fairlit --help` lists them.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    if args[0] == "sweep":
        from fairlit.sweep.command import main as sweep_main

        sweep_main(args[1:])
        return
    from fairlit.cli import main as cli_main

    cli_main(args)
