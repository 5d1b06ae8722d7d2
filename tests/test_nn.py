import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fairlit.nn import (
    EncoderOutput,
    FullPrecisionEncoder,
    HybridBinaryEncoder,
    QuantizedBinaryEncoder,
    QuantizedTanh,
    StochasticBinaryLayer,
    TaskHead,
    TernaryLinear,
    ternarize,
)

TAU = 6.0


def _layer_with_probs(p: list[float], temperature: float = TAU) -> StochasticBinaryLayer:
    """A layer whose firing probabilities are exactly `p` for any input (zero weights)."""
    layer = StochasticBinaryLayer(1, len(p), temperature=temperature).double()
    with torch.no_grad():
        layer.linear.weight.zero_()
        target = torch.tensor(p, dtype=torch.float64)
        layer.linear.bias.copy_(torch.logit(target) / temperature)
    return layer


def _capture_preactivation(layer: StochasticBinaryLayer) -> list[torch.Tensor]:
    store: list[torch.Tensor] = []

    def hook(module, args, output):
        output.retain_grad()
        store.append(output)

    layer.linear.register_forward_hook(hook)
    return store


# ----------------------------------------------------------------------------- STE


@pytest.mark.parametrize("straight_through", ["identity", "sigmoid"])
def test_straight_through_gradient(straight_through):
    torch.manual_seed(0)
    layer = StochasticBinaryLayer(3, 5, temperature=TAU, straight_through=straight_through).double()
    store = _capture_preactivation(layer)
    x = torch.randn(7, 3, dtype=torch.float64)
    w = torch.randn(7, 5, dtype=torch.float64)
    out = layer(x)
    (w * out.code).sum().backward()
    a = store[0]
    p = torch.sigmoid(TAU * a.detach())
    assert torch.equal(out.probs.detach(), p)
    if straight_through == "identity":
        expected = w
        assert torch.equal(a.grad, expected)  # exactly dt/da = 1
    else:
        expected = w * TAU * p * (1 - p)
        torch.testing.assert_close(a.grad, expected, rtol=1e-12, atol=1e-15)
    # ... and it reaches the linear parameters: dL/dW = delta^T x, dL/db = sum_rows delta.
    torch.testing.assert_close(layer.linear.weight.grad, expected.T @ x, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(layer.linear.bias.grad, expected.sum(0), rtol=1e-12, atol=1e-14)


def test_identity_and_sigmoid_gradients_differ():
    # Guards against a silently ignored `straight_through` argument.
    grads = {}
    for mode in ("identity", "sigmoid"):
        torch.manual_seed(0)
        layer = StochasticBinaryLayer(3, 4, straight_through=mode)
        layer(torch.randn(5, 3)).code.sum().backward()
        grads[mode] = layer.linear.weight.grad
    assert not torch.allclose(grads["identity"], grads["sigmoid"])


def test_code_is_exactly_binary_in_training():
    torch.manual_seed(1)
    for mode in ("identity", "sigmoid"):
        layer = StochasticBinaryLayer(4, 6, straight_through=mode)
        code = layer(torch.randn(50, 4) * 3).code
        assert set(code.unique().tolist()) <= {0.0, 1.0}


def test_probs_gradient_is_exact_sigmoid_derivative():
    layer = StochasticBinaryLayer(2, 3).double()
    store = _capture_preactivation(layer)
    out = layer(torch.randn(4, 2, dtype=torch.float64))
    out.probs.sum().backward()
    p = out.probs.detach()
    torch.testing.assert_close(store[0].grad, TAU * p * (1 - p))


# ------------------------------------------------------------------ sampling & modes


def test_sampling_frequency_matches_probability():
    p = [0.05, 0.3, 0.5, 0.9]
    layer = _layer_with_probs(p)
    n = 200_000
    torch.manual_seed(123)
    out = layer(torch.zeros(n, 1, dtype=torch.float64))
    torch.testing.assert_close(out.probs[0], torch.tensor(p, dtype=torch.float64))
    freq = out.code.mean(0)
    p_t = torch.tensor(p, dtype=torch.float64)
    stderr = torch.sqrt(p_t * (1 - p_t) / n)
    assert torch.all((freq - p_t).abs() < 4 * stderr), (freq, p_t)
    # Neurons are sampled independently: empirical correlation near 0.
    c = out.code.detach() - freq.detach()
    corr = (c[:, 1] * c[:, 2]).mean() / (c[:, 1].std() * c[:, 2].std())
    assert abs(float(corr)) < 4 / math.sqrt(n)


def test_given_noise_decides_the_bits_and_keeps_the_straight_through_gradient():
    p = [0.2, 0.5, 0.8]
    layer = _layer_with_probs(p)
    noise = torch.tensor([[0.1, 0.5, 0.79], [0.3, 0.49, 0.81]], dtype=torch.float64)
    out = layer(torch.zeros(2, 1, dtype=torch.float64), noise=noise)
    # A bit fires iff u < p (hand-computed).
    assert out.code.tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    out.code.sum().backward()
    assert layer.linear.bias.grad.tolist() == [2.0, 2.0, 2.0]  # identity STE: d t / d a = 1
    with pytest.raises(ValueError, match=r"`noise` must have the code's shape \(2, 3\)"):
        layer(torch.zeros(2, 1, dtype=torch.float64), noise=noise[:, :2])
    # Evaluation with thresholded codes ignores the noise.
    layer.eval().inference = "threshold"
    assert (
        layer(torch.zeros(2, 1, dtype=torch.float64), noise=noise).code.tolist()
        == [[0.0, 1.0, 1.0]] * 2
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_uniform_noise_gives_the_bits_of_bernoulli_from_the_same_generator_state(dtype):
    # What lets a front hand its members the noise an ordinary model would draw (CPU).
    encoder = HybridBinaryEncoder(5, 12, hidden_features=(8,)).to(dtype)
    x = torch.randn(300, 5, dtype=dtype)
    torch.manual_seed(4)
    sampled = encoder(x).code
    torch.manual_seed(4)
    given = encoder(x, noise=torch.rand(300, 12, dtype=dtype)).code
    assert torch.equal(sampled, given)


def test_eval_modes():
    torch.manual_seed(0)
    layer = StochasticBinaryLayer(3, 8)
    x = torch.randn(64, 3)
    layer.eval()
    layer.inference = "threshold"
    out = layer(x)
    assert torch.equal(out.code, (out.probs >= 0.5).float())
    assert torch.equal(layer(x).code, out.code)  # deterministic

    layer.inference = "probability"
    out = layer(x)
    assert torch.equal(out.code, out.probs)
    assert not set(out.code.unique().tolist()) <= {0.0, 1.0}

    layer.inference = "sample"
    a, b = layer(x).code, layer(x).code
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a, b)  # a fresh Bernoulli sample each call


def test_threshold_at_exactly_one_half_fires():
    layer = _layer_with_probs([0.5], temperature=1.0)
    layer.linear.bias.data.zero_()
    layer.eval()
    layer.inference = "threshold"
    assert layer(torch.zeros(3, 1, dtype=torch.float64)).code.eq(1).all()


def test_training_mode_ignores_inference_setting():
    torch.manual_seed(0)
    layer = StochasticBinaryLayer(3, 8, inference="probability").train()
    code = layer(torch.randn(64, 3)).code
    assert set(code.unique().tolist()) <= {0.0, 1.0}
    layer.eval()
    out = layer(torch.randn(64, 3))
    assert torch.equal(out.code, out.probs)


def test_seeded_reproducibility():
    torch.manual_seed(5)
    enc = HybridBinaryEncoder(6, 10)
    x = torch.randn(32, 6)
    torch.manual_seed(42)
    first = enc(x).code
    torch.manual_seed(42)
    second = enc(x).code
    assert torch.equal(first, second)
    assert not torch.equal(first, enc(x).code)


def test_mode_validation():
    with pytest.raises(ValueError, match="inference"):
        StochasticBinaryLayer(2, 2, inference="mean")
    with pytest.raises(ValueError, match="straight_through"):
        StochasticBinaryLayer(2, 2, straight_through="tanh")
    with pytest.raises(ValueError, match="temperature"):
        StochasticBinaryLayer(2, 2, temperature=0.0)
    layer = StochasticBinaryLayer(2, 2)
    with pytest.raises(ValueError, match="inference"):
        layer.inference = "thresh"
    assert layer.inference == "sample"
    enc = HybridBinaryEncoder(2, 2, inference="threshold")
    assert enc.binary.inference == enc.inference == "threshold"
    enc.inference = "probability"
    assert enc.binary.inference == "probability"
    with pytest.raises(ValueError, match="inference"):
        enc.inference = "bogus"
    assert QuantizedBinaryEncoder(2, 2, inference="probability").binary.inference == "probability"
    with pytest.raises(ValueError, match="inference"):
        HybridBinaryEncoder(2, 2, inference="max")


# --------------------------------------------------------------------------- encoders


@pytest.mark.parametrize("cls", [HybridBinaryEncoder, QuantizedBinaryEncoder])
@pytest.mark.parametrize("hidden", [(), (16,), (16, 8)])
def test_binary_encoder_shapes(cls, hidden):
    torch.manual_seed(0)
    enc = cls(11, out_features=7, hidden_features=hidden)
    assert (enc.in_features, enc.out_features) == (11, 7)
    assert isinstance(enc.in_features, int) and isinstance(enc.out_features, int)
    out = enc(torch.randn(5, 11))
    assert isinstance(out, EncoderOutput)
    assert out.code.shape == (5, 7) and out.probs.shape == (5, 7)
    assert set(out.code.unique().tolist()) <= {0.0, 1.0}
    assert torch.all((out.probs >= 0) & (out.probs <= 1))
    out.code.sum().backward()
    grads = [p.grad for p in enc.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_default_encoder_width_is_twenty():
    assert HybridBinaryEncoder(3).out_features == 20
    assert QuantizedBinaryEncoder(3).out_features == 20
    assert FullPrecisionEncoder(3).out_features == 20


def test_full_precision_encoder():
    torch.manual_seed(0)
    enc = FullPrecisionEncoder(9, out_features=4, hidden_features=[12])
    out = enc(torch.randn(3, 9))
    assert out.code.shape == (3, 4)
    assert out.probs is None
    assert torch.all(out.code.abs() < 1)  # tanh
    enc = FullPrecisionEncoder(9, out_features=4, activation=nn.ReLU())
    assert torch.all(enc(torch.randn(30, 9)).code >= 0)


def test_activation_is_copied_not_shared():
    act = nn.PReLU()
    enc = HybridBinaryEncoder(3, 2, hidden_features=[4, 4], activation=act)
    prelus = [m for m in enc.modules() if isinstance(m, nn.PReLU)]
    assert len(prelus) == 2 and prelus[0] is not prelus[1] and act not in prelus


def test_dropout_layers():
    enc = HybridBinaryEncoder(3, 2, hidden_features=[4, 4], dropout=0.5)
    assert sum(isinstance(m, nn.Dropout) for m in enc.modules()) == 2
    with pytest.raises(ValueError, match="dropout"):
        HybridBinaryEncoder(3, 2, dropout=1.0)


@pytest.mark.parametrize("cls", [HybridBinaryEncoder, QuantizedBinaryEncoder, FullPrecisionEncoder])
def test_encoder_size_validation(cls):
    with pytest.raises(ValueError, match="in_features"):
        cls(0)
    with pytest.raises(ValueError, match="in_features"):
        cls(3.0)
    with pytest.raises(ValueError, match="out_features"):
        cls(3, out_features=-1)
    with pytest.raises(ValueError, match="out_features"):
        cls(3, out_features=True)
    with pytest.raises(ValueError, match=r"hidden_features\[1\]"):
        cls(3, hidden_features=[4, 0])
    with pytest.raises(ValueError, match="hidden_features"):
        cls(3, hidden_features=8)
    with pytest.raises(ValueError, match=r"\[B, 3\]"):
        cls(3, 2)(torch.randn(4, 5))


def test_no_module_instances_as_defaults():
    classes = [
        StochasticBinaryLayer,
        HybridBinaryEncoder,
        QuantizedBinaryEncoder,
        FullPrecisionEncoder,
        TaskHead,
        TernaryLinear,
        QuantizedTanh,
    ]
    for cls in classes:
        for param in inspect.signature(cls.__init__).parameters.values():
            assert not isinstance(param.default, nn.Module | torch.Tensor), (cls, param)


# ------------------------------------------------------------------------ quantizers


def test_ternarize_formula():
    w = torch.tensor([[0.9, -0.1, -1.1, 0.2], [0.05, 0.6, -0.3, 0.0]])
    # By hand: mean |w| = 3.25 / 8 = 0.40625, so delta = 0.7 * 0.40625 = 0.284375; the entries
    # above it are 0.9, 1.1, 0.6 and 0.3, whose mean alpha = 2.9 / 4 = 0.725.
    a = 0.725
    expected = torch.tensor([[a, 0.0, -a, 0.0], [0.0, a, -a, 0.0]])
    torch.testing.assert_close(ternarize(w), expected)
    assert torch.equal(ternarize(torch.zeros(3, 3)), torch.zeros(3, 3))  # no NaN


def test_quantized_encoder_hidden_weights_are_ternary():
    torch.manual_seed(0)
    enc = QuantizedBinaryEncoder(10, 6, hidden_features=[32, 16])
    layers = [m for m in enc.hidden if isinstance(m, TernaryLinear)]
    assert len(layers) == 2
    for layer in layers:
        values = layer.quantized_weight().detach().unique()
        assert values.numel() == 3
        alpha = values.max()
        assert alpha > 0
        torch.testing.assert_close(values, torch.stack([-alpha, alpha * 0, alpha]))
        # The forward pass really uses the ternary weights.
        x = torch.randn(4, layer.in_features)
        expected = F.linear(x, ternarize(layer.weight.detach()), layer.bias)
        torch.testing.assert_close(layer(x), expected)


def test_quantized_encoder_hidden_activations_are_quantized():
    torch.manual_seed(0)
    enc = QuantizedBinaryEncoder(10, 6, hidden_features=[32], activation_levels=3)
    seen = []
    for m in enc.hidden:
        if isinstance(m, QuantizedTanh):
            m.register_forward_hook(lambda mod, args, out: seen.append(out))
    enc(torch.randn(64, 10) * 3)
    assert set(seen[0].unique().tolist()) == {-1.0, 0.0, 1.0}


def test_ternary_weight_straight_through():
    torch.manual_seed(0)
    layer = TernaryLinear(5, 3).double()
    x = torch.randn(8, 5, dtype=torch.float64)
    g = torch.randn(8, 3, dtype=torch.float64)
    (layer(x) * g).sum().backward()
    # dW_hat/dW := I, so dL/dW = g^T x as for a plain linear layer with weights W_hat.
    torch.testing.assert_close(layer.weight.grad, g.T @ x)
    torch.testing.assert_close(layer.bias.grad, g.sum(0))


@pytest.mark.comparison
@pytest.mark.parametrize("levels", [2, 3, 4, 5])
def test_quantized_tanh(levels):
    x = torch.linspace(-4, 4, 401, dtype=torch.float64, requires_grad=True)
    q = QuantizedTanh(levels)(x)
    grid = torch.linspace(-1, 1, levels, dtype=torch.float64)
    # Every output is the nearest level to tanh(x), away from a tie between two levels: there
    # the nearest level is not unique (linspace's middle point is 0.0 or +-1e-16 depending on
    # the CPU's vector kernel, and tanh(0) lies halfway between -1/3 and 1/3 at 4 levels).
    t = torch.tanh(x.detach())
    gaps = (t[:, None] - grid).abs().sort(1).values
    clear = gaps[:, 1] - gaps[:, 0] > 1e-9
    assert clear.sum() >= 395
    nearest = grid[(t[:, None] - grid).abs().argmin(1)]
    torch.testing.assert_close(q.detach()[clear], nearest[clear])
    assert q.max() == 1.0 and q.min() == -1.0
    q.sum().backward()
    torch.testing.assert_close(x.grad, 1 - torch.tanh(x.detach()) ** 2)
    with pytest.raises(ValueError, match="levels"):
        QuantizedTanh(1)


def test_quantized_tanh_breaks_ties_to_even():
    # By hand: q(0) = 2/(L-1) * round((L-1)/2) - 1; round(0.5) = 0, round(1.5) = 2 (to even).
    zero = torch.zeros(1, dtype=torch.float64)
    assert QuantizedTanh(2)(zero).item() == -1.0  # round(0.5) = 0
    assert QuantizedTanh(4)(zero).item() == pytest.approx(1 / 3)  # round(1.5) = 2
    assert QuantizedTanh(3)(zero).item() == 0.0  # no tie: round(1) = 1


# ----------------------------------------------------------------------------- heads


def test_task_head_shapes():
    code = torch.randn(6, 5)
    assert TaskHead(5)(code).shape == (6,)
    assert TaskHead(5, num_classes=2, hidden_features=[8])(code).shape == (6,)
    assert TaskHead(5, num_classes=4)(code).shape == (6, 4)
    head = TaskHead(5, num_classes=3, hidden_features=[8, 8])
    assert head(code).shape == (6, 3)
    assert head.in_features == 5
    with pytest.raises(ValueError, match="num_classes"):
        TaskHead(5, num_classes=1)
    with pytest.raises(ValueError, match="in_features"):
        TaskHead(0)
    with pytest.raises(ValueError, match=r"\[B, 5\]"):
        TaskHead(5)(torch.randn(6, 4))


def test_head_on_encoder_output_trains():
    torch.manual_seed(0)
    enc = HybridBinaryEncoder(4, 6, hidden_features=[8])
    head = TaskHead(enc.out_features)
    x = torch.randn(32, 4)
    y = (x[:, 0] > 0).float()
    loss = F.binary_cross_entropy_with_logits(head(enc(x).code), y)
    loss.backward()
    assert enc.hidden[0].weight.grad.abs().sum() > 0
