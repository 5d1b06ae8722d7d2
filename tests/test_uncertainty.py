"""Standard error of ΔDP against hand-computed binomial variances."""

import math

import pytest
import torch

from fairlit.metrics.uncertainty import demographic_parity_standard_error


def test_two_groups_hand_computed():
    # group 0: 2 of 4 positive (p = 0.5); group 1: 1 of 6 (p = 1/6)
    preds = torch.tensor([0.9, 0.7, 0.2, 0.1, 0.6, 0.4, 0.3, 0.2, 0.1, 0.0])
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    expected = math.sqrt(0.5 * 0.5 / 4 + (1 / 6) * (5 / 6) / 6)
    assert demographic_parity_standard_error(preds, groups) == pytest.approx(expected, rel=1e-12)


def test_extreme_groups_only_and_empty_groups_ignored():
    # rates: group 0 = 1.0 (2 rows), group 1 = 0.5 (4 rows), group 3 = 0.0 (2 rows), group 2 empty
    preds = torch.tensor([1, 1, 1, 1, 0, 0, 0, 0])
    groups = torch.tensor([0, 0, 1, 1, 1, 1, 3, 3])
    # the extreme groups have p(1 - p) = 0: the estimate is exact there
    assert demographic_parity_standard_error(preds, groups, num_groups=4) == 0.0
    # every rate 0.5: group 0 (4 rows) against the noisiest other group, group 1 (2 rows)
    preds = torch.tensor([1, 0, 1, 0, 1, 0, 1, 0, 0, 1])
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 3, 3, 3, 3])
    expected = math.sqrt(0.25 / 4 + 0.25 / 2)
    assert demographic_parity_standard_error(preds, groups, num_groups=4) == pytest.approx(expected)


def test_fewer_than_two_groups_and_length_mismatch():
    assert demographic_parity_standard_error(torch.ones(3), torch.zeros(3, dtype=torch.long)) == 0.0
    with pytest.raises(ValueError, match="differ in length"):
        demographic_parity_standard_error(torch.ones(3), torch.zeros(2, dtype=torch.long))
