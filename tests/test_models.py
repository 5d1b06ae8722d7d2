import math

import pytest
import torch
from fairlearn.metrics import demographic_parity_difference as fairlearn_dp
from sklearn.metrics import mutual_info_score

from fairlit.data import BatchLoader, GermanDataModule, TensorSplit
from fairlit.models import FairRepresentationModel, NonFiniteLossError
from fairlit.nn import FullPrecisionEncoder, HybridBinaryEncoder, TaskHead
from fairlit.regularizers import MutualInformationRegularizer


def _batch(n=8, f=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randn(n, f, generator=g),
        "y": torch.randint(0, 2, (n,), generator=g),
        "s": torch.randint(0, 2, (n,), generator=g),
    }


def _model(gamma=0.3, **kwargs):
    return FairRepresentationModel(
        HybridBinaryEncoder(in_features=5, out_features=6),
        regularizer=lambda width, groups: MutualInformationRegularizer(width, groups),
        gamma=gamma,
        **kwargs,
    )


def test_loss_is_the_gamma_weighted_sum():
    torch.manual_seed(0)
    model = _model(gamma=0.3)
    terms = model.loss_terms(_batch())
    expected = 0.7 * terms["task_loss"] + 0.3 * terms["penalty"]
    assert torch.allclose(terms["loss"], expected)
    # The penalty is the factorized MI of this batch's firing probabilities.
    from fairlit.information import factorized_mutual_information

    assert torch.allclose(
        terms["penalty"], factorized_mutual_information(terms["output"].probs, _batch()["s"], 2)
    )
    # The task loss is the binary cross-entropy of the head's logits.
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        terms["logits"], _batch()["y"].float()
    )
    assert torch.allclose(terms["task_loss"], bce)


@pytest.mark.parametrize("gamma", [-0.1, 1.5, True, "0.5"])
def test_gamma_outside_unit_interval(gamma):
    with pytest.raises(ValueError, match=r"gamma must be a number in \[0, 1\]"):
        _model(gamma=gamma)


def test_encoder_without_out_features_is_rejected():
    with pytest.raises(TypeError, match="out_features"):
        FairRepresentationModel(torch.nn.Tanh())


def test_head_factory_receives_code_width_and_classes():
    seen = {}

    def head(width, classes):
        seen.update(width=width, classes=classes)
        return TaskHead(width, classes)

    FairRepresentationModel(
        FullPrecisionEncoder(in_features=4, out_features=7), head=head, num_classes=3
    )
    assert seen == {"width": 7, "classes": 3}


def _fit_one_step(trainer, model, batch):
    trainer.fit(
        model, train_dataloaders=BatchLoader(TensorSplit(batch["x"], batch["y"], batch["s"]), 8)
    )


class _InfiniteHead(torch.nn.Module):
    def __init__(self, width, classes):
        super().__init__()
        self.linear = torch.nn.Linear(width, 1)

    def forward(self, code):
        return self.linear(code).squeeze(-1) * float("inf")


def test_non_finite_loss_stops_training_with_the_step_and_term(tiny_trainer):
    model = FairRepresentationModel(
        HybridBinaryEncoder(in_features=5, out_features=6), head=_InfiniteHead
    )
    with pytest.raises(
        NonFiniteLossError, match=r"global step 0 .*non-finite term\(s\): \['task_loss'\]"
    ):
        _fit_one_step(tiny_trainer(max_steps=1), model, _batch())


def test_nan_features_are_named(tiny_trainer):
    batch = _batch()
    batch["x"][0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match=r"input features `x` of batch 0 .*NaN or inf"):
        _fit_one_step(tiny_trainer(max_steps=1), _model(), batch)


def test_batch_missing_a_group_and_single_row_give_finite_gradients():
    model = _model(gamma=0.9, num_groups=3)
    for batch in (_batch(), {k: v[:1] for k, v in _batch().items()}):
        batch["s"] = torch.zeros_like(batch["s"])  # groups 1 and 2 absent
        model.zero_grad()
        loss = model.loss_terms(batch)["loss"]
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.comparison
def test_validation_logs_the_documented_keys(tiny_trainer):
    dm = GermanDataModule(batch_size=128)
    model = FairRepresentationModel(
        HybridBinaryEncoder(in_features=dm.num_features, out_features=8),
        regularizer=lambda w, g: MutualInformationRegularizer(w, g),
    )
    trainer = tiny_trainer()
    trainer.fit(model, datamodule=dm)
    keys = set(trainer.callback_metrics)
    for key in (
        "loss",
        "task_loss",
        "penalty",
        "accuracy",
        "auc",
        "dp_difference",
        "eo_difference",
        "mi_bits",
        "mi_factorized_bits",
    ):
        assert f"val/{key}" in keys
    assert all(torch.isfinite(v) for v in trainer.callback_metrics.values())
    # With the thresholded code the predictions are deterministic: check the logged test
    # metrics against fairlearn and scikit-learn on the same predictions. In float64: the
    # reference scores the split in one batch, the test loop in batches of 128, and a float32
    # product's last bit depends on the batch and the CPU's kernel, enough to flip a bit whose
    # firing probability lies within 1e-7 of 0.5.
    model.encoder.inference = "threshold"
    results = tiny_trainer(precision="64-true").test(model, datamodule=dm, verbose=False)[0]
    model.double().eval()
    test = dm.test_dataset
    with torch.no_grad():
        predicted = (model.predictive_proba(test.x.double()) >= 0.5).numpy().astype(int)
        code = model.encoder(test.x.double()).code.numpy()
    y, s = test.y.numpy(), test.s.numpy()
    assert results["test/dp_difference"] == pytest.approx(
        fairlearn_dp(y, predicted, sensitive_features=s), abs=1e-6
    )
    assert results["test/accuracy"] == pytest.approx((predicted == y).mean(), abs=1e-6)
    packed = [int("".join(str(int(b)) for b in row), 2) for row in code]
    assert results["test/mi_bits"] == pytest.approx(
        mutual_info_score(packed, s) / math.log(2), abs=1e-5
    )


def test_full_precision_model_logs_no_mi(tiny_trainer):
    dm = GermanDataModule(batch_size=256)
    model = FairRepresentationModel(FullPrecisionEncoder(in_features=dm.num_features), gamma=0.0)
    trainer = tiny_trainer()
    results = trainer.test(model, datamodule=dm, verbose=False)[0]
    assert "test/accuracy" in results and "test/mi_bits" not in results


def test_prediction_samples_estimate_the_exact_predictive_distribution():
    # P(y=1 | x) = sum over all 2^m codes t of p(t | x) P(y=1 | t), by enumeration; the head has
    # a hidden layer, so this is not the head applied to the firing probabilities.
    torch.manual_seed(0)
    model = FairRepresentationModel(
        HybridBinaryEncoder(in_features=5, out_features=3, hidden_features=(4,)),
        head=lambda width, classes: TaskHead(width, classes, hidden_features=[8]),
        prediction_samples=20000,
    ).eval()
    x = torch.randn(6, 5)
    with torch.no_grad():
        for param in model.head.parameters():
            param.mul_(6.0)  # a strongly nonlinear head
        probs = model.encoder(x).probs
        codes = torch.tensor([[(c >> j) & 1 for j in range(3)] for c in range(8)]).float()
        p_code = torch.where(codes[None] == 1, probs[:, None], 1 - probs[:, None]).prod(-1)
        exact = (p_code * torch.sigmoid(model.head(codes))[None]).sum(-1)
        estimate = model.predictive_proba(x)
    assert torch.allclose(estimate, exact, atol=0.015)  # Monte Carlo std <= 0.0036
    # The shortcut "head on the firing probabilities" is a different rule here.
    assert (torch.sigmoid(model.head(probs).detach()) - exact).abs().max() > 0.05


def test_one_prediction_sample_is_the_head_on_one_sampled_code():
    model = _model(prediction_samples=1).eval()
    x = _batch()["x"]
    torch.manual_seed(3)
    _, logits = model(x)
    torch.manual_seed(3)
    assert torch.equal(model.predictive_proba(x), torch.sigmoid(logits))


def test_deterministic_encoders_skip_the_extra_samples():
    model = _model(prediction_samples=7).eval()
    model.encoder.inference = "threshold"
    calls = []
    model.encoder.register_forward_hook(lambda *args: calls.append(1))
    model.predictive_proba(_batch()["x"])
    assert len(calls) == 1


@pytest.mark.parametrize("samples", [0, -2, 2.5, True])
def test_prediction_samples_must_be_a_positive_integer(samples):
    with pytest.raises(ValueError, match="prediction_samples must be a positive integer"):
        _model(prediction_samples=samples)
