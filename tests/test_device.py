"""The same numbers on every available device (cpu, and cuda when there is one).

On a CPU-only machine these run on the CPU; ``benchmarks/device_check.sh`` runs them on a GPU.
"""

import pytest
import torch

from fairlit.data import GermanDataModule
from fairlit.information import factorized_mutual_information, joint_mutual_information
from fairlit.metrics import (
    DemographicParityDifference,
    EqualizedOddsDifference,
    PlugInMutualInformation,
)
from fairlit.models import FairRepresentationModel
from fairlit.nn import HybridBinaryEncoder
from fairlit.regularizers import MutualInformationRegularizer


def _data(seed: int = 0, n: int = 300, m: int = 10) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "probs": torch.rand(n, m, generator=gen, dtype=torch.float64),
        "groups": torch.randint(0, 3, (n,), generator=gen),
        "preds": torch.rand(n, generator=gen, dtype=torch.float64),
        "target": torch.randint(0, 2, (n,), generator=gen),
        "weights": torch.rand(n, generator=gen, dtype=torch.float64),
    }


def test_mutual_information_on_device_equals_cpu(device):
    d = _data()
    for weights in (None, d["weights"]):
        for fn in (joint_mutual_information, factorized_mutual_information):
            cpu = d["probs"].clone().requires_grad_()
            on = d["probs"].to(device).requires_grad_()
            w_on = None if weights is None else weights.to(device)
            value_cpu = fn(cpu, d["groups"], 3, weights=weights)
            value_on = fn(on, d["groups"].to(device), 3, weights=w_on)
            assert float(value_on) == pytest.approx(float(value_cpu), abs=1e-9)
            (grad_cpu,) = torch.autograd.grad(value_cpu, cpu)
            (grad_on,) = torch.autograd.grad(value_on, on)
            torch.testing.assert_close(grad_on.cpu(), grad_cpu, rtol=0, atol=1e-9)


def test_group_metrics_on_device_equal_cpu(device):
    d = _data(1)
    codes = (d["probs"] > 0.5).double()
    for make, args in (
        (lambda: DemographicParityDifference(3), ("preds", "target", "groups")),
        (lambda: EqualizedOddsDifference(3, undefined="zero"), ("preds", "target", "groups")),
    ):
        cpu, on = make(), make().to(device)
        cpu.update(*(d[a] for a in args), weights=d["weights"])
        on.update(*(d[a].to(device) for a in args), weights=d["weights"].to(device))
        assert float(on.compute()) == pytest.approx(float(cpu.compute()), abs=1e-6)
    cpu, on = PlugInMutualInformation(3, num_bits=10), PlugInMutualInformation(3, num_bits=10)
    cpu.update(codes, d["groups"])
    on.to(device).update(codes.to(device), d["groups"].to(device))
    assert float(on.compute()) == pytest.approx(float(cpu.compute()), abs=1e-6)


def test_a_fit_on_device_trains_and_evaluates(device, tiny_trainer):
    torch.manual_seed(0)
    dm = GermanDataModule(batch_size=100)
    model = FairRepresentationModel(
        HybridBinaryEncoder(dm.num_features, 8, straight_through="sigmoid"),
        regularizer=lambda width, groups: MutualInformationRegularizer(width, groups, "joint"),
        gamma=0.5,
        prediction_samples=4,
    )
    before = [p.detach().clone() for p in model.parameters()]
    trainer = tiny_trainer(accelerator=device.type, max_epochs=2)
    trainer.fit(model, datamodule=dm)
    [result] = trainer.test(model, datamodule=dm, verbose=False)
    assert all(torch.isfinite(torch.tensor(v)) for v in result.values())
    assert 0.0 <= result["test/accuracy"] <= 1.0
    after = [p.detach().cpu() for p in model.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))  # it trained
    assert next(model.parameters()).device.type == device.type
