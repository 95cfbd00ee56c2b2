"""nn.init: distributions (statistically), torch's gains and fans, seeding, orthogonality, in-place contract."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import init


def big(shape=(500, 400), dtype="float32", device="cpu"):
    return nn.Parameter(mg.zeros(*shape, dtype=dtype, device=device))


def stats(t):
    a = t.numpy().astype(np.float64)
    return a.mean(), a.std(), a.min(), a.max()


# With 200,000 samples the sample mean's standard error is std/447 and the sample std's
# about std/632, so 1% (about 4.5 and 6 standard errors) never fails by chance here.
def assert_moments(t, mean, std, tol=0.01):
    m, s, _, _ = stats(t)
    assert abs(m - mean) < tol * max(std, 1e-12) + 1e-12, f"mean {m} vs {mean}"
    assert abs(s - std) < tol * std, f"std {s} vs {std}"


@pytest.mark.parametrize("nonlinearity,param,expected", [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("sigmoid", None, 1.0), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)), ("selu", None, 0.75),
])
def test_calculate_gain_matches_torchs_table(nonlinearity, param, expected):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(expected, rel=1e-12)
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "x")


def test_uniform_and_normal(device):
    t = big(device=device)
    assert init.uniform_(t, -2.0, 3.0) is t
    _, _, lo, hi = stats(t)
    assert -2.0 <= lo and hi < 3.0
    assert_moments(t, 0.5, 5 / math.sqrt(12))
    init.normal_(t, mean=1.5, std=0.2)
    assert_moments(t, 1.5, 0.2)
    assert t.dtype == np.float32 and t.requires_grad and t.is_leaf


def test_constant_zeros_ones_eye():
    t = big((3, 4))
    assert init.ones_(t) is t and t.numpy().tolist() == [[1.0] * 4] * 3
    assert init.constant_(t, 2.5).numpy().tolist() == [[2.5] * 4] * 3
    assert init.zeros_(t).numpy().sum() == 0
    np.testing.assert_array_equal(init.eye_(t).numpy(), np.eye(3, 4))


@pytest.mark.parametrize("shape", [(500, 400), (80, 50, 5)])
def test_xavier(shape):
    t = big(shape)
    fan_in, fan_out = shape[1] * int(np.prod(shape[2:])), shape[0] * int(np.prod(shape[2:]))
    b = 1.3 * math.sqrt(6 / (fan_in + fan_out))
    init.xavier_uniform_(t, gain=1.3)
    assert np.abs(t.numpy()).max() <= b
    assert_moments(t, 0.0, b / math.sqrt(3))
    init.xavier_normal_(t, gain=0.5)
    assert_moments(t, 0.0, 0.5 * math.sqrt(2 / (fan_in + fan_out)))
    assert init.glorot_uniform_ is init.xavier_uniform_ and init.glorot_normal_ is init.xavier_normal_


@pytest.mark.parametrize("a,mode,nonlinearity", [
    (0.0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in", "leaky_relu"), (0.0, "fan_out", "relu"),
    (0.1, "fan_out", "tanh"),
])
def test_kaiming(a, mode, nonlinearity):
    t = big((400, 500))
    fan = 500 if mode == "fan_in" else 400
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    init.kaiming_uniform_(t, a=a, mode=mode, nonlinearity=nonlinearity)
    assert np.abs(t.numpy()).max() <= math.sqrt(3) * std
    assert_moments(t, 0.0, std)
    init.kaiming_normal_(t, a=a, mode=mode, nonlinearity=nonlinearity)
    assert_moments(t, 0.0, std)


def test_kaiming_uniform_sqrt5_is_torchs_linear_bound():
    t = big((300, 200))
    init.kaiming_uniform_(t, a=math.sqrt(5))
    b = 1 / math.sqrt(200)
    _, s, lo, hi = stats(t)
    assert -b <= lo and hi <= b and hi > 0.99 * b and lo < -0.99 * b
    assert abs(s - b / math.sqrt(3)) < 0.01 * b


def test_fan_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(big((5,)))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(big((3, 3)), mode="fan_avg")
    with pytest.raises(TypeError, match="Tensor"):
        init.normal_([0.0, 0.0, 0.0])  # (a backend array is filled in place: torch's `init.normal_(w.data)`)
    with pytest.raises(TypeError, match="floating"):
        init.normal_(mg.zeros(3, dtype="int64"))
    with pytest.raises(ValueError, match="a <= b"):
        init.uniform_(big((2, 2)), 1.0, 0.0)


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 4), (3, 2, 5)])
def test_orthogonal(shape, device):
    t = big(shape, dtype="float64", device=device)
    init.orthogonal_(t, gain=2.0)
    w = t.numpy().reshape(shape[0], -1) / 2.0
    rows, cols = w.shape
    if rows <= cols:
        np.testing.assert_allclose(w @ w.T, np.eye(rows), atol=1e-12)
    if rows >= cols:
        np.testing.assert_allclose(w.T @ w, np.eye(cols), atol=1e-12)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(big((4,)))


def test_orthogonal_is_not_biased_to_one_sign():
    """QR's sign convention would make R's diagonal positive; torch folds the signs in, so diagonals vary."""
    diag_signs = []
    for _ in range(20):
        t = init.orthogonal_(big((3, 3), dtype="float64"))
        diag_signs.append(np.sign(np.diag(t.numpy())))
    signs = np.concatenate(diag_signs)
    assert (signs > 0).any() and (signs < 0).any()


def test_seeding_reproduces_values_across_dtypes():
    fns = [lambda t: init.uniform_(t), lambda t: init.normal_(t), init.xavier_uniform_, init.kaiming_normal_,
           init.orthogonal_]
    for fn in fns:
        mg.manual_seed(42)
        a = fn(big((5, 7))).numpy().copy()
        mg.manual_seed(42)
        b = fn(big((5, 7), dtype="float64")).numpy()
        mg.manual_seed(43)
        c = fn(big((5, 7))).numpy()
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # same draws, cast
        assert not np.allclose(a, c)


def test_same_seed_same_weights_on_every_device(device):
    mg.manual_seed(7)
    a = nn.Linear(6, 4)
    mg.manual_seed(7)
    b = nn.Linear(6, 4, device=device)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())


def test_init_is_in_place_bumps_the_version_and_records_no_graph():
    lin = nn.Linear(3, 3)
    w = lin.weight
    data_before, version = w.data, w._version
    y = (lin(mg.randn(2, 3)) ** 2).sum()
    init.normal_(w)
    assert w.data is data_before and w._version > version
    assert w.grad_fn is None and w.requires_grad
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()  # the saved weight changed: the stale graph refuses


def test_reset_parameters_and_apply_for_custom_init():
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2))

    def custom(m):
        if isinstance(m, nn.Linear):
            init.xavier_uniform_(m.weight, gain=init.calculate_gain("tanh"))
            init.zeros_(m.bias)

    model.apply(custom)
    assert all(not m.bias.numpy().any() for m in model if isinstance(m, nn.Linear))
    model[0].reset_parameters()
    assert model[0].bias.numpy().any()
