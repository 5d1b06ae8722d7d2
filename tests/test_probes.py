"""Representation probes: the pure function, the encoder wrapper and the Lightning callback."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

import fairlit.probes as probes_module
from fairlit.callbacks import RepresentationProbe
from fairlit.data import GermanDataModule, TensorSplit
from fairlit.models import FairRepresentationModel
from fairlit.nn import FullPrecisionEncoder, HybridBinaryEncoder
from fairlit.probes import encode_dataset, probe_representation


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # HistGradientBoosting's OpenMP threads slow down tenfold on a shared, busy CPU.
    with threadpool_limits(limits=1):
        yield


PER_PROBE = ("y_auc", "y_balanced_accuracy", "s_auc", "s_balanced_accuracy")


def expected_keys(names: tuple[str, ...]) -> set[str]:
    keys = {f"probe/{name}/{metric}" for name in names for metric in PER_PROBE}
    return keys | {"probe/best_s_auc", "probe/best_y_auc"}


def random_codes(rows: int, bits: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=(rows, bits)).astype(np.float32)


def split(*arrays: np.ndarray, at: int) -> list[np.ndarray]:
    return [part for array in arrays for part in (array[:at], array[at:])]


# -- probe_representation ----------------------------------------------------------------------


def test_y_determined_by_code_and_independent_s() -> None:
    rng = np.random.default_rng(1)
    codes = random_codes(4000, 6, seed=0)
    y = (codes[:, :3].sum(1) >= 2).astype(int)  # majority of three bits: a function of the code
    s = rng.integers(0, 2, size=4000)  # independent of the code
    tr_c, te_c, tr_y, te_y, tr_s, te_s = split(codes, y, s, at=2000)
    out = probe_representation(tr_c, tr_y, tr_s, te_c, te_y, te_s, seed=0)
    names = ("logreg", "forest", "boosting")
    assert set(out) == expected_keys(names)
    assert all(isinstance(v, float) and math.isfinite(v) for v in out.values())
    for name in names:
        assert out[f"probe/{name}/y_auc"] > 0.99
        assert out[f"probe/{name}/y_balanced_accuracy"] > 0.99
        assert abs(out[f"probe/{name}/s_auc"] - 0.5) < 0.06
        assert abs(out[f"probe/{name}/s_balanced_accuracy"] - 0.5) < 0.06
    assert out["probe/best_y_auc"] == max(out[f"probe/{n}/y_auc"] for n in names)
    assert out["probe/best_s_auc"] == max(out[f"probe/{n}/s_auc"] for n in names)
    assert out["probe/best_s_auc"] < 0.56


def test_code_that_copies_s_is_caught_by_every_probe() -> None:
    rng = np.random.default_rng(2)
    s = rng.integers(0, 2, size=1000)
    codes = np.concatenate([s[:, None], random_codes(1000, 4, seed=3)], axis=1)
    y = rng.integers(0, 2, size=1000)
    tr_c, te_c, tr_y, te_y, tr_s, te_s = split(codes, y, s, at=500)
    out = probe_representation(tr_c, tr_y, tr_s, te_c, te_y, te_s)
    for name in ("logreg", "forest", "boosting"):
        assert out[f"probe/{name}/s_auc"] > 0.99
        assert out[f"probe/{name}/s_balanced_accuracy"] > 0.99
    assert out["probe/best_s_auc"] > 0.99


def test_matches_sklearn_metrics_on_an_independent_fit() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(600, 3))
    y = (x[:, 0] + rng.normal(size=600) > 0).astype(int)
    s = (x[:, 1] + rng.normal(size=600) > 0.5).astype(int)
    tr_x, te_x, tr_y, te_y, tr_s, te_s = split(x, y, s, at=400)
    out = probe_representation(
        torch.from_numpy(tr_x),
        torch.from_numpy(tr_y),
        torch.from_numpy(tr_s),
        torch.from_numpy(te_x),
        torch.from_numpy(te_y),
        torch.from_numpy(te_s),
        classifiers={"lr": LogisticRegression()},
    )
    for target, train, test in (("y", tr_y, te_y), ("s", tr_s, te_s)):
        reference = LogisticRegression().fit(tr_x, train)
        assert out[f"probe/lr/{target}_auc"] == pytest.approx(
            roc_auc_score(test, reference.predict_proba(te_x)[:, 1])
        )
        assert out[f"probe/lr/{target}_balanced_accuracy"] == pytest.approx(
            balanced_accuracy_score(test, reference.predict(te_x))
        )


def test_multi_group_s_uses_macro_one_vs_rest_auc() -> None:
    rng = np.random.default_rng(5)
    s = rng.integers(0, 3, size=900)
    noisy = np.where(rng.random(900) < 0.3, rng.integers(0, 3, size=900), s)  # s with 30% noise
    codes = np.concatenate([np.eye(3)[noisy], random_codes(900, 3, seed=6)], axis=1)
    y = rng.integers(0, 2, size=900)
    tr_c, te_c, tr_y, te_y, tr_s, te_s = split(codes, y, s, at=600)
    out = probe_representation(
        tr_c, tr_y, tr_s, te_c, te_y, te_s, classifiers={"lr": LogisticRegression(max_iter=1000)}
    )
    reference = LogisticRegression(max_iter=1000).fit(tr_c, tr_s)
    expected = roc_auc_score(te_s, reference.predict_proba(te_c), multi_class="ovr")
    assert out["probe/lr/s_auc"] == pytest.approx(expected)
    assert out["probe/lr/s_balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(te_s, reference.predict(te_c))
    )
    assert 0.7 < out["probe/lr/s_auc"] < 1.0


def test_multi_group_s_missing_from_test_is_finite() -> None:
    rng = np.random.default_rng(7)
    train_s = rng.integers(0, 3, size=300)
    test_s = rng.integers(0, 2, size=100)  # group 2 never appears in the test split
    codes = random_codes(400, 4, seed=8)
    y = rng.integers(0, 2, size=400)
    tree = {"tree": DecisionTreeClassifier(max_depth=2)}
    out = probe_representation(
        codes[:300], y[:300], train_s, codes[300:], y[300:], test_s, classifiers=tree
    )
    assert all(math.isfinite(v) for v in out.values())
    assert 0.0 <= out["probe/tree/s_auc"] <= 1.0


@pytest.mark.parametrize("degenerate", ["train_y", "test_y", "train_s", "test_s"])
def test_degenerate_labels_give_chance_auc_not_nan(degenerate: str) -> None:
    rng = np.random.default_rng(9)
    arrays = {
        "train_codes": random_codes(200, 4, seed=10),
        "train_y": rng.integers(0, 2, size=200),
        "train_s": rng.integers(0, 2, size=200),
        "test_codes": random_codes(100, 4, seed=11),
        "test_y": rng.integers(0, 2, size=100),
        "test_s": rng.integers(0, 2, size=100),
    }
    arrays[degenerate] = np.ones_like(arrays[degenerate])  # a single class
    out = probe_representation(**arrays)
    assert all(isinstance(v, float) and math.isfinite(v) for v in out.values())
    target = degenerate.split("_")[1]
    for name in ("logreg", "forest", "boosting"):
        assert out[f"probe/{name}/{target}_auc"] == 0.5
        assert 0.0 <= out[f"probe/{name}/{target}_balanced_accuracy"] <= 1.0
    if degenerate.startswith("train"):
        # The probe can only predict the one training class; on a balanced test split, half of
        # the classes are recalled perfectly and the other half never.
        assert out[f"probe/logreg/{target}_balanced_accuracy"] == 0.5


def test_given_classifiers_are_not_fitted_in_place() -> None:
    clf = LogisticRegression()
    codes = random_codes(100, 3, seed=12)
    labels = np.arange(100) % 2
    probe_representation(codes, labels, labels, codes, labels, labels, classifiers={"lr": clf})
    assert not hasattr(clf, "coef_")


def test_bad_inputs_name_the_problem() -> None:
    codes = random_codes(10, 2, seed=13)
    labels = np.arange(10) % 2
    with pytest.raises(ValueError, match="same length"):
        probe_representation(codes, labels[:5], labels, codes, labels, labels)
    with pytest.raises(ValueError, match="empty"):
        probe_representation(codes, labels, labels, codes[:0], labels[:0], labels[:0])
    with pytest.raises(ValueError, match="width"):
        probe_representation(codes, labels, labels, codes[:, :1], labels, labels)
    with pytest.raises(ValueError, match="classifiers"):
        probe_representation(codes, labels, labels, codes, labels, labels, classifiers={})


# -- encode_dataset ----------------------------------------------------------------------------


def make_dataset(rows: int = 300, features: int = 5, seed: int = 0) -> TensorSplit:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, features, generator=generator)
    return TensorSplit(x, torch.zeros(rows), torch.zeros(rows))


def test_encode_dataset_restores_inference_and_training_mode() -> None:
    torch.manual_seed(0)
    encoder = HybridBinaryEncoder(5, out_features=6, hidden_features=[8], dropout=0.2)
    encoder.inference = "threshold"
    encoder.train()
    codes = encode_dataset(encoder, make_dataset(), inference="sample", batch_size=64)
    assert codes.shape == (300, 6) and codes.dtype == torch.float32 and codes.device.type == "cpu"
    assert encoder.inference == "threshold"
    assert all(module.training for module in encoder.modules())
    # Restored even when the forward pass fails (wrong input width).
    with pytest.raises(ValueError, match="in_features"):
        encode_dataset(encoder, make_dataset(features=4), inference="probability")
    assert encoder.inference == "threshold"
    assert all(module.training for module in encoder.modules())


def test_encode_dataset_inference_modes() -> None:
    torch.manual_seed(1)
    model = FairRepresentationModel(HybridBinaryEncoder(5, out_features=6, hidden_features=[8]))
    data = make_dataset()
    probs = encode_dataset(model, data, inference="probability")
    threshold = encode_dataset(model, data, inference="threshold")
    sample = encode_dataset(model, data, inference="sample", seed=0)
    assert bool(((probs > 0) & (probs < 1)).all())
    assert torch.equal(threshold, (probs >= 0.5).float())
    assert set(sample.unique().tolist()) <= {0.0, 1.0}
    # Sampled bits agree with the threshold where the neuron is nearly sure, not everywhere.
    sure = (probs - 0.5).abs() > 0.499
    assert torch.equal(sample[sure], threshold[sure])
    assert not torch.equal(sample, threshold)


def test_encode_dataset_is_reproducible_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(2)
    encoder = HybridBinaryEncoder(5, out_features=6, hidden_features=[8])
    data = make_dataset()
    state = torch.get_rng_state()
    first = encode_dataset(encoder, data, seed=7, batch_size=50)
    second = encode_dataset(encoder, data, seed=7, batch_size=50)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, second)
    assert not torch.equal(first, encode_dataset(encoder, data, seed=8, batch_size=50))


def test_encode_dataset_full_precision_encoder_code_as_is() -> None:
    torch.manual_seed(3)
    encoder = FullPrecisionEncoder(5, out_features=4, hidden_features=[8])
    data = make_dataset(rows=20)
    codes = encode_dataset(encoder, data, inference="threshold")
    with torch.no_grad():
        expected = encoder.output(encoder.hidden(data.x))
    torch.testing.assert_close(codes, expected)
    assert encoder.training


# -- RepresentationProbe ------------------------------------------------------------------------


def read_metrics(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def probe_trainer(tiny_trainer, tmp_path: Path, probe: RepresentationProbe) -> pl.Trainer:
    """The shared tiny trainer with ``probe``, a CSV logger and one validation batch."""
    return tiny_trainer(
        logger=CSVLogger(tmp_path, name="probe"),
        callbacks=[probe],
        num_sanity_val_steps=0,
        limit_val_batches=1,
    )


def test_callback_logs_probe_keys_after_fit_and_test(tmp_path: Path, tiny_trainer) -> None:
    pl.seed_everything(0)
    dm = GermanDataModule(batch_size=100)
    model = FairRepresentationModel(
        HybridBinaryEncoder(dm.num_features, out_features=8, hidden_features=[16])
    )
    probe = RepresentationProbe()
    trainer = probe_trainer(tiny_trainer, tmp_path, probe)
    trainer.fit(model, datamodule=dm)
    assert [stage for stage, _, _ in probe.history] == ["fit"]
    trainer.test(model, datamodule=dm, verbose=False)
    assert [stage for stage, _, _ in probe.history] == ["fit", "test"]

    keys = expected_keys(("logreg", "forest", "boosting"))
    assert set(probe.results) == keys
    # The same weights probed twice with the same seed give identical numbers.
    assert probe.history[0][2] == probe.history[1][2]
    assert probe.history[0][1] == trainer.global_step
    # Probing does not advance the global RNG (test itself samples codes, so compare a probe alone).
    state = torch.get_rng_state()
    again = probe.probe(trainer, model, "test")
    assert torch.equal(torch.get_rng_state(), state) and again == probe.history[0][2]

    rows = read_metrics(Path(trainer.logger.log_dir) / "metrics.csv")
    probe_rows = [row for row in rows if row.get("probe/best_s_auc")]
    assert len(probe_rows) >= 1
    assert keys <= set(rows[0])
    for key in keys:
        assert float(probe_rows[-1][key]) == pytest.approx(probe.results[key], rel=1e-6)
    assert int(probe_rows[-1]["step"]) == trainer.global_step


def test_callback_subsamples_training_rows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_trainer
) -> None:
    seen: list[int] = []

    def spy(train_codes, *args, **kwargs):
        seen.append(len(train_codes))
        return {"probe/best_s_auc": 0.5, "probe/best_y_auc": 0.5}

    monkeypatch.setattr(probes_module, "probe_representation", spy)
    dm = GermanDataModule()
    model = FairRepresentationModel(HybridBinaryEncoder(dm.num_features, out_features=4))
    probe = RepresentationProbe(max_train_rows=123, on_fit_end=False)
    trainer = probe_trainer(tiny_trainer, tmp_path, probe)
    trainer.test(model, datamodule=dm, verbose=False)
    assert seen == [123]
    assert probe.history[0][0] == "test"


def test_callback_without_datamodule_fails_early(tmp_path: Path, tiny_trainer) -> None:
    dm = GermanDataModule()
    dm.setup("fit")
    model = FairRepresentationModel(HybridBinaryEncoder(dm.num_features, out_features=4))
    trainer = probe_trainer(tiny_trainer, tmp_path, RepresentationProbe())
    with pytest.raises(ValueError, match="datamodule"):
        trainer.fit(model, train_dataloaders=dm.train_dataloader())


def test_callback_does_nothing_off_rank_zero() -> None:
    logger = SimpleNamespace(calls=0)
    logger.log_metrics = lambda *a, **k: setattr(logger, "calls", logger.calls + 1)
    trainer = SimpleNamespace(
        is_global_zero=False, datamodule=None, loggers=[logger], global_step=0
    )
    probe = RepresentationProbe()
    assert probe.probe(trainer, FairRepresentationModel(HybridBinaryEncoder(3, 2)), "fit") == {}
    assert probe.results == {} and probe.history == [] and logger.calls == 0


def test_callback_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="inference"):
        RepresentationProbe(inference="mean")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_train_rows"):
        RepresentationProbe(max_train_rows=0)
    with pytest.raises(ValueError, match="classifiers"):
        RepresentationProbe(classifiers={})


class _LayerNotCalledBinary(torch.nn.Module):
    """An encoder that keeps the encoder contract but names its stochastic layer `layer`."""

    def __init__(self) -> None:
        super().__init__()
        from fairlit.nn import StochasticBinaryLayer

        self.in_features, self.out_features = 5, 6
        self.layer = StochasticBinaryLayer(5, 6)

    @property
    def inference(self) -> str:
        return self.layer.inference

    @inference.setter
    def inference(self, value: str) -> None:
        self.layer.inference = value

    def forward(self, x: torch.Tensor):
        return self.layer(x)


def test_encode_dataset_asks_the_encoder_for_the_inference_mode() -> None:
    # The probes used to switch `encoder.binary`: this encoder was silently sampled.
    torch.manual_seed(4)
    encoder, data = _LayerNotCalledBinary(), make_dataset()
    probs = encode_dataset(encoder, data, inference="probability")
    threshold = encode_dataset(encoder, data, inference="threshold")
    assert bool(((probs > 0) & (probs < 1)).all())
    assert torch.equal(threshold, (probs >= 0.5).float())
    assert encoder.inference == "sample"


def test_stochastic_encoders_share_one_inference_switch() -> None:
    from fairlit.nn import (
        ConvBinaryEncoder,
        Encoder,
        QuantizedBinaryEncoder,
        StochasticEncoder,
    )

    encoders = [
        HybridBinaryEncoder(5, out_features=3),
        QuantizedBinaryEncoder(5, out_features=3),
        ConvBinaryEncoder(12, image_shape=(3, 2, 2), channels=(2,), out_features=3),
    ]
    for encoder in encoders:
        assert isinstance(encoder, StochasticEncoder)
        encoder.inference = "probability"
        assert encoder.binary.inference == "probability"
        encoder.eval()
        out = encoder(torch.rand(4, encoder.in_features))
        torch.testing.assert_close(out.code, out.probs)  # probability mode: the code is p
    full = FullPrecisionEncoder(5, out_features=3)
    assert isinstance(full, Encoder) and not isinstance(full, StochasticEncoder)
    assert not hasattr(full, "inference")
