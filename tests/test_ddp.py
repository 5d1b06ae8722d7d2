"""Data-parallel runs on CPU (gloo): the CLI with strategy ddp, and ddp_spawn == one process."""

import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from fairlit.data import GermanDataModule
from fairlit.models import FairRepresentationModel
from fairlit.nn import HybridBinaryEncoder
from fairlit.regularizers import MutualInformationRegularizer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
pytestmark = pytest.mark.ddp


def test_cli_ddp_fit_writes_a_checkpoint(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "fairlit",
        "fit",
        "--config",
        str(CONFIGS / "adult.yaml"),
        "--config",
        str(CONFIGS / "trainer" / "ddp.yaml"),
        "--trainer.accelerator=cpu",
        "--trainer.devices=2",
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=20",
        "--trainer.enable_progress_bar=false",
        "--test_after_fit=false",
    ]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    ckpts = list(tmp_path.glob("lightning_logs/adult/version_0/checkpoints/*.ckpt"))
    assert len(ckpts) == 1
    state = torch.load(ckpts[0], weights_only=False)
    assert state["global_step"] == 20  # every process ran the same number of steps
    assert "fairlit: checkpoint:" in out.stdout
    # The metrics are synced by their states; Lightning has nothing to warn about.
    assert "recommended to use `self.log(" not in out.stderr
    # No product adverts, no deprecation warning from inside Lightning.
    assert "Tip:" not in out.stdout + out.stderr
    assert "LeafSpec" not in out.stderr


def _model(dm: GermanDataModule) -> FairRepresentationModel:
    encoder = HybridBinaryEncoder(
        dm.num_features, 12, straight_through="sigmoid", inference="threshold"
    )
    return FairRepresentationModel(encoder, regularizer=MutualInformationRegularizer, gamma=0.5)


@pytest.mark.comparison
def test_ddp_spawn_test_metrics_equal_single_process(tmp_path, clean_spawn_exit):
    # 301 test rows over 2 processes: unequal shards (150 / 151 rows), nothing is padded.
    # Batches of 50 make every batch hold the same rows in both runs (0-50, ..., 250-300,
    # 300-301): a matrix product's last bit depends on the batch it is computed in, and a
    # firing probability within 1e-7 of 0.5 would flip a thresholded bit (a failed CI run).
    # In float64 (64-true) too: two processes sum the metric states in another order than one,
    # and a float32 sum's last bits depend on the CPU's vector kernel; in float64 the two
    # agree to about 1e-13, far inside the 1e-9 compared below.
    torch.manual_seed(0)
    dm = GermanDataModule(batch_size=32, eval_batch_size=50, test_fraction=0.301)
    dm.setup("test")
    assert len(dm.test_dataset) == 301
    common = {
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "accelerator": "cpu",
        "precision": "64-true",
    }
    trainer = pl.Trainer(max_epochs=2, default_root_dir=tmp_path, **common)
    trainer.fit(_model(dm), datamodule=dm)
    ckpt = trainer.checkpoint_callback.best_model_path
    single = pl.Trainer(devices=1, **common).test(
        _model(dm), datamodule=dm, ckpt_path=ckpt, verbose=False
    )[0]
    spawn = pl.Trainer(devices=2, strategy="ddp_spawn", callbacks=[clean_spawn_exit], **common)
    multi = spawn.test(_model(dm), datamodule=dm, ckpt_path=ckpt, verbose=False)[0]
    keys = [
        "test/accuracy",
        "test/auc",
        "test/dp_difference",
        "test/eo_difference",
        "test/mi_bits",
        "test/mi_factorized_bits",
        # Every row counted once: ddp_spawn shares the tensors built before the processes
        # started, so metric states not made afresh would hold both processes' rows (doubled).
        "test/group0/rows",
        "test/group1/rows",
    ]
    for key in keys:
        assert multi[key] == pytest.approx(single[key], abs=1e-9), key
