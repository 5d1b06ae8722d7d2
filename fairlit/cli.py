"""The ``fairlit`` command line: LightningCLI with fairlit's links and defaults.

``fairlit fit --config configs/adult.yaml`` trains; ``fairlit test``,
``validate`` and ``predict`` evaluate a checkpoint (``--ckpt_path``). Any
LightningModule subclass of :class:`~fairlit.models.FairRepresentationModel`
and any subclass of :class:`~fairlit.data.FairDataModule` (which provides
``num_features``, ``num_groups`` and ``num_classes``) can be named with
``class_path`` in a config; ``fit --data.help FairDataModule`` lists them.
"""

import sys
from typing import Any

from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from fairlit import __version__
from fairlit.data.base import FairDataModule
from fairlit.models import FairRepresentationModel

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

    def after_fit(self) -> None:
        """Test the final weights if asked, then say where the checkpoint and the logs went."""
        trainer = self.trainer
        if self.config[self.subcommand].get("test_after_fit") and not trainer.interrupted:
            trainer.test(self.model, datamodule=self.datamodule)
        callback = trainer.checkpoint_callback
        best = getattr(callback, "best_model_path", "") or getattr(callback, "last_model_path", "")
        lines = [
            f"\nfairlit: checkpoint: {best or '(none saved)'}",
            f"fairlit: logs:       {trainer.log_dir}",
        ]
        if best:
            lines.append(
                f"fairlit: evaluate it with: fairlit test --config <the same configs> --ckpt_path {best}"
            )
        _print("\n".join(lines))

    def after_test(self) -> None:
        """Say where the test's logs went (a new version folder of the logger)."""
        if self.trainer.log_dir:
            _print(f"fairlit: logs:       {self.trainer.log_dir}")


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
    options.update(kwargs)
    return FairlitCLI(FairRepresentationModel, FairDataModule, **options)


def main(args: list[str] | None = None) -> None:
    """Run LightningCLI's subcommands (fit, validate, test, predict) with ``args``.

    The ``fairlit`` console script (:mod:`fairlit.entry`) calls this for every
    subcommand but ``sweep``.
    """
    build_cli(sys.argv[1:] if args is None else list(args), run=True)
