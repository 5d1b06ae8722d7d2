"""The ``fairlit`` command line: LightningCLI with fairlit's links and defaults.

``fairlit fit --config configs/adult.yaml`` trains; ``fairlit test``,
``validate`` and ``predict`` evaluate a checkpoint (``--ckpt_path``). Any
LightningModule subclass of :class:`~fairlit.models.FairRepresentationModel`
and any subclass of :class:`~fairlit.data.FairDataModule` (which provides
``num_features``, ``num_groups`` and ``num_classes``) can be named with
``class_path`` in a config; ``fit --data.help FairDataModule`` lists them.
"""

import itertools
import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from fairlit import __version__
from fairlit.data.base import FairDataModule
from fairlit.data.resources import DataFileError
from fairlit.errors import ConfigurationError, one_line, root_cause, root_message
from fairlit.help import short_help
from fairlit.models import FairModel

__all__ = ["FairlitCLI", "build_cli", "main"]


class FairlitCLI(LightningCLI):
    """LightningCLI linking the data's shapes into the model.

    ``data.num_features`` goes to the encoder's ``in_features``,
    ``data.num_groups`` and ``data.num_classes`` to the model, after the
    DataModule is instantiated, so configs never repeat them.
    """

    def init_parser(self, **kwargs: Any) -> LightningArgumentParser:
        """Add ``--version`` to the top-level parser."""
        parser = super().init_parser(**kwargs)
        parser.add_argument("--version", action="version", version=f"fairlit {__version__}")
        return parser

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Link the data's shapes into the model's arguments."""
        parser.link_arguments(
            "data.num_features",
            "model.init_args.encoder.init_args.in_features",
            apply_on="instantiate",
        )
        parser.link_arguments(
            "data.num_groups", "model.init_args.num_groups", apply_on="instantiate"
        )
        parser.link_arguments(
            "data.num_classes", "model.init_args.num_classes", apply_on="instantiate"
        )
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=False,
            help="fit only: evaluate the final weights on the test split when training ends",
        )
        parser.add_argument(
            "--firing_probabilities",
            type=bool,
            default=False,
            help="predict only: also write each row's firing probabilities (firing_prob_j)",
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, and keep the arguments (the model options given on the command line)."""
        self._command_line = list(sys.argv[1:] if args is None else args)
        super().parse_arguments(parser, args)

    def _parse_ckpt_path(self) -> None:
        # LightningCLI applies the checkpoint's hyper-parameters over the whole configuration,
        # command line included. Apply them, then the command line's evaluation options
        # (EVALUATION_OPTIONS: prediction_samples, the encoder's inference mode, ...) again, so
        # they are the ones used: configs < checkpoint < command line. An architecture option
        # on the command line is ignored with one line on stderr.
        super()._parse_ckpt_path()
        subcommand = self.config.get("subcommand")
        args = getattr(self, "_command_line", [])
        if not subcommand or not self.config[subcommand].get("ckpt_path"):
            return
        self._preprocessing_from_checkpoint(subcommand)
        model_args = [a for a in args if a.startswith(("--model.", "--model="))]
        # `--model.encoder.inference` is the short form of `--model.init_args.encoder...`.
        wanted = {option.replace(".init_args", "") for option in EVALUATION_OPTIONS}
        evaluation = [
            a for a in model_args if a.split("=", 1)[0].replace(".init_args", "") in wanted
        ]
        for arg in model_args:
            if arg not in evaluation:
                _print_error(
                    f"fairlit {subcommand}: {arg.split('=', 1)[0]} ignored: with --ckpt_path the "
                    "model's architecture comes from the checkpoint"
                )
        if evaluation:
            self.config = self.parser.parse_args(
                [subcommand, *evaluation], namespace=self.config.clone(), defaults=False
            )

    def _preprocessing_from_checkpoint(self, subcommand: str) -> None:
        # Evaluating or scoring data goes through the training data's preprocessing (its
        # columns, categories, scaler and groups), so the feature width linked into the model
        # is the checkpoint's even for a file with fewer categories. A resumed fit reads its
        # own file as before.
        if subcommand == "fit":
            return
        init_args = self.config[subcommand].get("data.init_args")
        if init_args is not None and "preprocessing_from" in init_args:
            if init_args.get("preprocessing_from") is None:
                init_args["preprocessing_from"] = str(self.config[subcommand]["ckpt_path"])

    def before_instantiate_classes(self) -> None:
        """Honour ``enable_checkpointing=false`` and put logs under ``default_root_dir``.

        ``--trainer.enable_checkpointing=false`` drops the configs' ``ModelCheckpoint``.
        A logger's relative ``save_dir`` goes under ``trainer.default_root_dir`` when one is set.

        The configs log to ``lightning_logs/``; with ``--trainer.default_root_dir=DIR`` the logs
        and the checkpoints go to ``DIR/lightning_logs/`` instead of the working directory.
        """
        config = self.config[self.subcommand] if self.subcommand else self.config
        callbacks = config.get("trainer.callbacks")
        if config.get("trainer.enable_checkpointing") is False and isinstance(callbacks, list):
            # The configs add a ModelCheckpoint; --trainer.enable_checkpointing=false means none.
            config["trainer.callbacks"] = [
                c for c in callbacks if not str(c.get("class_path", "")).endswith("ModelCheckpoint")
            ]
        root = config.get("trainer.default_root_dir")
        loggers = config.get("trainer.logger")
        if not root or not loggers or isinstance(loggers, bool):
            return
        for spec in loggers if isinstance(loggers, list) else [loggers]:
            save_dir = spec.get("init_args.save_dir") if hasattr(spec, "get") else None
            if isinstance(save_dir, str) and not os.path.isabs(save_dir):
                spec["init_args.save_dir"] = os.path.join(str(root), save_dir)

    def instantiate_classes(self) -> None:
        """Instantiate the configured classes; a failure becomes a one-line ConfigurationError.

        Raises:
            ConfigurationError: naming the root cause (e.g. a missing data file).
        """
        try:
            super().instantiate_classes()
        except Exception as err:
            raise ConfigurationError(root_message(err)) from err

    def after_fit(self) -> None:
        """Test the final weights if asked, then say where the checkpoint and the logs went."""
        trainer = self.trainer
        if self.config[self.subcommand].get("test_after_fit") and not trainer.interrupted:
            # A front's members each log every metric: its report rows say it more briefly.
            verbose = getattr(self.model, "gammas", None) is None
            trainer.test(self.model, datamodule=self.datamodule, verbose=verbose)
        callback = trainer.checkpoint_callback
        best = getattr(callback, "best_model_path", "") or getattr(callback, "last_model_path", "")
        lines = [
            f"\nfairlit: checkpoint: {best or '(none saved)'}",
            f"fairlit: logs:       {trainer.log_dir}",
        ]
        if best:
            # The run's own resolved config.yaml: it holds every option of this run, also the
            # ones given on the command line (a CSV's path, say).
            saved = os.path.join(trainer.log_dir or "", "config.yaml")
            if trainer.log_dir and os.path.isfile(saved):
                names = f"--config {saved}"
            else:
                configs = self.config[self.subcommand].get("config") or []
                names = " ".join(f"--config {getattr(c, 'relative', c)}" for c in configs)
            lines.append(f"fairlit: evaluate it with: fairlit test {names} --ckpt_path {best}")
            if hasattr(self.model, "export_member"):  # a front scores through its members
                lines.append("fairlit: predict with a member: FrontModel.export_member(k, path), "
                             "then fairlit predict --ckpt_path path")  # fmt: skip
            else:
                lines.append(
                    f"fairlit: predict with:     fairlit predict {names} --ckpt_path {best}"
                )
        _print("\n".join(lines))

    def before_fit(self) -> None:
        """Say so when the configuration trains nothing, or when its rows are weighted.

        Raises:
            ConfigurationError: from a model's ``check_trainer`` (a front and gradient
                clipping), before the Trainer prints anything.
        """
        trainer = self.trainer
        check = getattr(self.model, "check_trainer", None)
        if callable(check):
            check(trainer)
        weights = getattr(self.datamodule, "weighted_by", None)
        if weights:
            _print(
                f"fairlit: rows weighted by {weights!r}: the loss, the MI and the metrics are weighted"
            )
        if self.config[self.subcommand].get("firing_probabilities"):
            _print_error("fairlit fit: --firing_probabilities applies to predict only; ignored")
        if trainer.max_epochs == 0 or trainer.max_steps == 0:
            _print_error(
                "fairlit fit: warning: max_epochs=0 (or max_steps=0) trains nothing; what is "
                "evaluated and saved is the untrained, initial model"
            )

    def before_predict(self) -> None:
        """Add a :class:`~fairlit.prediction.PredictionWriter` unless one is configured."""
        from fairlit.prediction import PredictionWriter

        wanted = bool(self.config[self.subcommand].get("firing_probabilities"))
        writers = [c for c in self.trainer.callbacks if isinstance(c, PredictionWriter)]  # type: ignore[attr-defined]
        for writer in writers:
            writer.firing_probabilities = writer.firing_probabilities or wanted
        if not writers:
            self.trainer.callbacks.append(PredictionWriter(firing_probabilities=wanted))  # type: ignore[attr-defined]

    def after_predict(self) -> None:
        """Say where the predictions went."""
        from fairlit.prediction import PredictionWriter

        for callback in self.trainer.callbacks:  # type: ignore[attr-defined]
            if isinstance(callback, PredictionWriter) and callback.path:
                _print(f"fairlit: predictions: {callback.path}")

    def after_test(self) -> None:
        """Say where the test's logs went (a new version folder of the logger)."""
        if self.trainer.log_dir:
            _print(f"fairlit: logs:       {self.trainer.log_dir}")


#: Model options that do not change the weights: given with ``--ckpt_path`` on the command line,
#: they override the checkpoint's values.
EVALUATION_OPTIONS = (
    "--model.init_args.prediction_samples",
    "--model.init_args.sampling_seed",
    "--model.init_args.encoder.init_args.inference",
    "--model.init_args.evaluator",
)


@rank_zero_only
def _print_error(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@rank_zero_only
def _print(text: str) -> None:
    print(text, flush=True)


def build_cli(args: list[str] | None = None, run: bool = False, **kwargs: Any) -> FairlitCLI:
    """Build the CLI (for notebooks and tests: ``run=False`` only instantiates).

    Args:
        args: Command-line arguments (``None`` reads ``sys.argv``). With
            ``run=False`` there is no subcommand: pass e.g.
            ``["--config", "configs/adult.yaml"]``.
        run: Run the subcommand named in ``args``.
        **kwargs: Passed to :class:`FairlitCLI`.

    Returns:
        The CLI, with ``.model``, ``.datamodule`` and ``.trainer`` instantiated.
    """
    options: dict[str, Any] = {
        "subclass_mode_model": True,
        "subclass_mode_data": True,
        "seed_everything_default": 0,
        "save_config_kwargs": {"overwrite": True},
        "auto_configure_optimizers": False,
        "run": run,
        "args": args,
        "parser_kwargs": {
            "prog": "fairlit",
            "description": "fairlit: fair representations with stochastically quantized neural "
            "networks. Subcommands: fit, validate, test and predict (LightningCLI, here) and "
            "sweep (`fairlit sweep --help`).",
        },
    }
    extra_parser_kwargs = kwargs.pop("parser_kwargs", {})
    options.update(kwargs)
    options["parser_kwargs"] = {**options["parser_kwargs"], **extra_parser_kwargs}
    return FairlitCLI(FairModel, FairDataModule, **options)


def _config_files(args: list[str]) -> list[str]:
    files = [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
    files += [b for a, b in itertools.pairwise(args) if a == "--config"]
    return files


def _where(message: str, args: list[str]) -> str:
    """Name the config file that holds the key an error is about (a YAML typo)."""
    key = re.search(r"(?:option|key) '([^']+)'", message)
    if not key or f"{key.group(1)}=" in " ".join(args):
        return message
    for path in _config_files(args):
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            continue
        if re.search(rf"^\s*{re.escape(key.group(1))}\s*:", text, flags=re.MULTILINE):
            return f"{path}: {message}"
    return message


def config_keys(args: list[str]) -> list[str]:
    """Every dotted key of the configuration ``args`` resolve to (nothing is run or written).

    Used to suggest the closest valid key after a typo. Returns ``[]`` when ``args``
    themselves do not parse.
    """
    import yaml

    from fairlit.configuration import flatten, quiet_lightning

    try:
        with quiet_lightning(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cli = build_cli(
                list(args),
                run=False,
                save_config_callback=None,
                parser_kwargs={"exit_on_error": False},
            )
        return list(flatten(yaml.safe_load(cli.parser.dump(cli.config, skip_none=False))))
    except Exception:
        return []


def _suggest(message: str, args: list[str]) -> str:
    """Add the nearest valid name to an unknown class or an unrecognized option."""
    import difflib
    import importlib

    missing = re.search(r"module '([\w.]+)' has no attribute '(\w+)'", message)
    if missing:
        try:
            names = dir(importlib.import_module(missing.group(1)))
        except Exception:
            return message
        close = difflib.get_close_matches(missing.group(2), names, n=1)
        return f"{message}; did you mean '{close[0]}'?" if close else message
    unknown = re.search(r"unrecognized arguments: (--[^\s=]+)", message)
    if not unknown:
        return message
    bad = unknown.group(1)
    rest = [a for a in args if a != bad and not a.startswith(f"{bad}=")]
    rest = [a for a in rest if a not in ("fit", "validate", "test", "predict")]
    keys = config_keys([*rest, "--trainer.logger=false"])
    close = difflib.get_close_matches(bad.removeprefix("--"), keys, n=1, cutoff=0.6)
    return f"{message}; did you mean --{close[0]}?" if close else message


class _NoAdverts(logging.Filter):
    """Drop Lightning's "💡 Tip: try installing ..." lines (adverts for other products)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip:")


def _quiet_command_line() -> None:
    """What the command line never needs to show: product tips and a Lightning deprecation."""
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    if not any(isinstance(f, _NoAdverts) for f in logger.filters):
        logger.addFilter(_NoAdverts())
    # A checkpoint from another run folder: the new run's folder is where its logs go.
    warnings.filterwarnings("ignore", message=".*The dirpath has changed from.*")
    # Small tables have fewer training batches than the logging interval; epoch means remain.
    warnings.filterwarnings("ignore", message=".*is smaller than the logging interval.*")
    # fairlit's BatchLoader hands out whole batches; the rows are numbered by the writer.
    warnings.filterwarnings("ignore", message=".*Couldn't infer the batch indices.*")
    # Raised inside Lightning 2.6 by its own use of torch's pytree API; not the user's to fix.
    warnings.filterwarnings(
        "ignore", message=r".*isinstance\(treespec, LeafSpec\).*", category=FutureWarning
    )


def main(args: list[str] | None = None) -> None:
    """Run LightningCLI's subcommands (fit, validate, test, predict) with ``args``.

    The ``fairlit`` console script (:mod:`fairlit.entry`) calls this for every
    subcommand but ``sweep``. A configuration error (an unknown or abbreviated option, a
    class-path typo, a value of the wrong type, a class that refuses its arguments such as a
    missing data file) or a data error while running (a category the checkpoint's
    preprocessing lacks) prints at most three lines on stderr and exits with status 2 (a
    usage error) or 1 (a data error); ``FAIRLIT_DEBUG=1`` shows the full traceback instead.
    ``fairlit COMMAND --help`` is the short help; ``--help-full`` adds Lightning's Trainer
    options.

    Raises:
        SystemExit: with status 2 after a configuration error, 1 after a data error.
    """
    import argparse

    argv = sys.argv[1:] if args is None else list(args)
    _quiet_command_line()
    command = next((a for a in argv if not a.startswith("-")), "")
    if "--help-full" in argv:  # the full help: LightningCLI's own
        argv = ["--help" if a == "--help-full" else a for a in argv]
    elif command in ("fit", "validate", "test", "predict") and ({"-h", "--help"} & set(argv)):
        import contextlib
        import io

        text = io.StringIO()
        with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
                build_cli(argv, run=True, parser_kwargs={"allow_abbrev": False})
        print(short_help(text.getvalue(), command), end="")
        raise SystemExit(0)
    debug = os.environ.get("FAIRLIT_DEBUG", "") not in ("", "0")
    parser_kwargs = {"exit_on_error": debug, "allow_abbrev": False}
    try:
        with warnings.catch_warnings():
            # fairlit passes sys.argv on purpose (to add parser options); nothing to warn about.
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            build_cli(argv, run=True, parser_kwargs=parser_kwargs)
    except (argparse.ArgumentError, ConfigurationError, DataFileError) as err:
        if debug:
            raise
        message = one_line(str(err)) if isinstance(err, argparse.ArgumentError) else str(err)
        # jsonargparse appends the whole namespace it was given: the option is enough.
        message = re.sub(r" \(given value: Namespace\(.*\)\)$", "", message)
        message = _suggest(_where(message, argv), argv)
        print(f"fairlit {command}: error: {message}".rstrip(), file=sys.stderr)
        print(
            f"`fairlit {command} --help` lists the options; FAIRLIT_DEBUG=1 shows the traceback.",
            file=sys.stderr,
        )
        raise SystemExit(1 if _is_data_error(err) else 2) from None


def _is_data_error(err: BaseException) -> bool:
    """A problem with a data file (exit status 1), not with the command line (status 2).

    The error printed is the root cause of a configuration error (a class that refused its
    arguments), so that root decides; an unparsable command line is always a usage error.
    """
    import argparse

    if isinstance(err, argparse.ArgumentError):
        return False
    return isinstance(err, DataFileError) or isinstance(root_cause(err), DataFileError)
