"""MMD regularizer against a brute-force double loop and a hand-computed value."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fairlit.cli import main
from fairlit.mmd import MMDRegularizer, gaussian_mmd2
from fairlit.nn import EncoderOutput

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def brute_mmd2(x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    def k(a, b):
        return math.exp(-float(((a - b) ** 2).sum()) / (2 * sigma**2))

    kxx = np.mean([k(a, b) for a in x for b in x])
    kyy = np.mean([k(a, b) for a in y for b in y])
    kxy = np.mean([k(a, b) for a in x for b in y])
    return kxx + kyy - 2 * kxy


@pytest.mark.parametrize("groups", [2, 3])
def test_penalty_equals_brute_force(groups):
    rng = np.random.default_rng(groups)
    z = rng.normal(size=(13, 4))
    s = np.arange(13) % groups
    reg = MMDRegularizer(4, groups, bandwidth=0.7)
    got = reg(EncoderOutput(torch.tensor(z, dtype=torch.float64), None), torch.tensor(s))
    expected = np.mean([brute_mmd2(z[s == g], z, 0.7) for g in range(groups)])
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_hand_computed_two_points_and_degenerate_batches():
    # Z = {(0,0), (1,1)}, sigma 1: k = exp(-1); MMD2({a}, Z) = 1 + (2 + 2/e)/4 - (1 + 1/e)
    expected = 1 + (2 + 2 / math.e) / 4 - (1 + 1 / math.e)
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert float(MMDRegularizer(2, 2)(EncoderOutput(z, None), torch.tensor([0, 1]))) == (
        pytest.approx(expected)
    )
    # One group present: no penalty, but a graph for backward.
    z = torch.randn(5, 2, requires_grad=True)
    zero = MMDRegularizer(2, 3)(EncoderOutput(z, None), torch.zeros(5, dtype=torch.long))
    assert float(zero) == 0.0
    zero.backward()
    assert float(gaussian_mmd2(z.detach(), z.detach())) == pytest.approx(0.0, abs=1e-7)


def test_gradient_flows_and_bad_arguments_are_named():
    z = torch.randn(8, 3, requires_grad=True)
    penalty = MMDRegularizer(3, 2)(EncoderOutput(z, None), torch.tensor([0, 1] * 4))
    penalty.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="bandwidth"):
        MMDRegularizer(3, 2, bandwidth=0)
    with pytest.raises(ValueError, match="probs"):
        MMDRegularizer(3, 2, on="probs")(EncoderOutput(z, None), torch.tensor([0, 1] * 4))


def test_config_trains_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(
        [
            "fit",
            "--config",
            str(CONFIGS / "german.yaml"),
            "--config",
            str(CONFIGS / "model" / "mmd.yaml"),
            "--trainer.fast_dev_run=true",
            "--trainer.enable_progress_bar=false",
        ]
    )
