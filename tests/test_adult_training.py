"""Seeded end-to-end training on Adult through the shipped config (slow)."""

from pathlib import Path

import pytest

from fairlit.cli import build_cli

ADULT = str(Path(__file__).resolve().parents[1] / "configs" / "adult.yaml")


@pytest.fixture
def quiet_args(quiet_args):
    """The shared quiet options, and this file's own."""
    return [
        *quiet_args,
        "--trainer.enable_checkpointing=false",
        "--trainer.logger=false",
        "--trainer.callbacks=null",
    ]


def _train_and_test(quiet: list[str], gamma: float, tmp_path: Path) -> dict[str, float]:
    cli = build_cli(
        [
            "--config",
            ADULT,
            f"--model.init_args.gamma={gamma}",
            f"--trainer.default_root_dir={tmp_path}",
            *quiet,
        ],
        save_config_callback=None,
    )
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)[0]


@pytest.mark.slow
def test_unregularized_sqnn_reaches_useful_accuracy(tmp_path, quiet_args):
    results = _train_and_test(quiet_args, 0.0, tmp_path)
    assert results["test/accuracy"] >= 0.84


@pytest.mark.slow
def test_high_gamma_brings_demographic_parity_below_five_points(tmp_path, quiet_args):
    results = _train_and_test(quiet_args, 0.9, tmp_path)
    assert results["test/dp_difference"] < 0.05
    assert results["test/accuracy"] > 0.76  # better than always predicting the majority class
