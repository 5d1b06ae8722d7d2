"""Reproducibility, exact resume, clear errors for bad checkpoints, nothing lost on interrupt."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch

from fairlit.cli import main
from fairlit.data import GermanDataModule
from fairlit.models import FairRepresentationModel
from fairlit.nn import HybridBinaryEncoder

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
GERMAN = str(CONFIGS / "german.yaml")


@pytest.fixture
def quiet_args(quiet_args):
    """The shared quiet options, and this file's own."""
    return [*quiet_args, "--trainer.check_val_every_n_epoch=1"]


def _fit(quiet: list[str], root: Path, *extra: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        main(["fit", "--config", GERMAN, "--test_after_fit=false", *quiet, *extra])
    finally:
        os.chdir(cwd)
    return root / "lightning_logs" / "german"


def _state(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, weights_only=False)["state_dict"]


def _only_ckpt(version_dir: Path) -> Path:
    [ckpt] = list((version_dir / "checkpoints").glob("*.ckpt"))
    return ckpt


@pytest.mark.comparison
def test_same_seed_same_weights_and_metrics(tmp_path, quiet_args):
    a = _fit(quiet_args, tmp_path / "a", "--trainer.max_epochs=2")
    b = _fit(quiet_args, tmp_path / "b", "--trainer.max_epochs=2")
    sa, sb = _state(_only_ckpt(a / "version_0")), _state(_only_ckpt(b / "version_0"))
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    ma = pd.read_csv(a / "version_0" / "metrics.csv")
    mb = pd.read_csv(b / "version_0" / "metrics.csv")
    pd.testing.assert_frame_equal(ma, mb)
    c = _fit(
        quiet_args,
        tmp_path / "c",
        "--trainer.max_epochs=2",
        "--seed_everything=1",
        "--data.init_args.seed=1",
    )
    sc = _state(_only_ckpt(c / "version_0"))
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.comparison
def test_resume_continues_exactly(tmp_path, quiet_args):
    straight = _fit(quiet_args, tmp_path / "straight", "--trainer.max_epochs=4")
    half = _fit(quiet_args, tmp_path / "resumed", "--trainer.max_epochs=2")
    ckpt = _only_ckpt(half / "version_0")
    resumed = _fit(
        quiet_args, tmp_path / "resumed", "--trainer.max_epochs=4", f"--ckpt_path={ckpt}"
    )
    s1 = _state(_only_ckpt(straight / "version_0"))
    s2 = _state(_only_ckpt(resumed / "version_1"))
    assert all(torch.equal(s1[k], s2[k]) for k in s1), (
        "resumed weights differ from an uninterrupted run"
    )
    m1 = pd.read_csv(straight / "version_0" / "metrics.csv")
    m2 = pd.read_csv(resumed / "version_1" / "metrics.csv")
    last = lambda m: m.dropna(subset=["val/accuracy"]).iloc[-1]  # noqa: E731
    for key in ("val/accuracy", "val/dp_difference", "val/mi_bits", "val/loss"):
        assert last(m1)[key] == last(m2)[key]


def test_checkpoint_from_another_architecture_is_refused_clearly(tmp_path, capsys, quiet_args):
    run = _fit(quiet_args, tmp_path, "--trainer.max_epochs=1")
    ckpt = _only_ckpt(run / "version_0")
    dm = GermanDataModule()
    model = FairRepresentationModel(HybridBinaryEncoder(dm.num_features, out_features=10))
    trainer = pl.Trainer(logger=False, enable_progress_bar=False)
    with pytest.raises(
        ValueError,
        match=r"different architecture .*encoder\.binary\.linear\.weight: checkpoint \(20, 64\) vs\. model \(10, 64\)",
    ):
        trainer.test(model, datamodule=dm, ckpt_path=ckpt)
    # Through the CLI, LightningCLI rebuilds the model from the checkpoint's own
    # hyper-parameters, so a conflicting command-line architecture cannot load wrong weights.
    main(
        [
            "test",
            "--config",
            GERMAN,
            "--model.init_args.encoder.init_args.out_features=10",
            f"--ckpt_path={ckpt}",
            *quiet_args,
        ]
    )
    # The test ran with the checkpoint's 20 neurons, not the command line's 10, and said so.
    assert "out_features ignored: with --ckpt_path the model's architecture comes from the" in (
        capsys.readouterr().err
    )
    _fitted, tested = sorted(Path.cwd().glob("lightning_logs/german/version_*/hparams.yaml"))
    hparams = tested  # version_1, written by the test run
    assert "out_features: 20" in hparams.read_text()
    assert "out_features: 10" not in hparams.read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_keeps_checkpoint_and_logs(tmp_path, sig, quiet_args):
    cmd = [
        sys.executable,
        "-m",
        "fairlit",
        "fit",
        "--config",
        GERMAN,
        "--trainer.max_epochs=1000",
        "--trainer.log_every_n_steps=1",
        *quiet_args,
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A shell's background job inherits SIGINT ignored (and Python keeps it ignored), which
        # would turn Ctrl-C into a no-op for the child: give it the default disposition, as in a
        # terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        ckpt_dir = tmp_path / "lightning_logs" / "german" / "version_0" / "checkpoints"
        deadline = time.time() + 120
        while time.time() < deadline and not list(ckpt_dir.glob("epoch=1*.ckpt")):
            time.sleep(0.2)
        assert list(ckpt_dir.glob("*.ckpt")), "no checkpoint appeared"
        proc.send_signal(sig)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # never leave a training process behind
            proc.kill()
            proc.communicate()
    ckpts = list(ckpt_dir.glob("*.ckpt"))
    assert ckpts
    state = torch.load(ckpts[-1], weights_only=False)
    assert state["epoch"] >= 1
    metrics = pd.read_csv(ckpt_dir.parent / "metrics.csv")
    assert "train/loss_step" in metrics.columns and len(metrics) > 0
