"""F.affine_grid and F.grid_sample (4-D): gradients, torch parity, errors, and the "Spatial Transformer
Networks" tutorial ported.

* Gradients: Hypothesis gradchecks (float64 central differences) of grid_sample with respect to
  input and grid for every mode x padding_mode x align_corners, on every backend. The sampling
  points are generated in open cells: their source index ix = k + f has f in [0.1, 0.4] or
  [0.6, 0.9], away from the integers (where the bilinear weights and the border clip have kinks)
  and the half-integers (where 'nearest' rounds and align_corners=False reflection mirrors).
* Parity with torch (float64, rtol 1e-7): outputs and both gradients over a lattice of points
  k/8 in [-3, 3] (exactly on the edges, the pixel centres, outside, several mirror images: all
  exactly representable, so both libraries compute the same source indices; see the note below)
  and random points; affine_grid values and theta gradients; float32 stays float32; NaN / inf
  points.
* The STN tutorial (localisation conv net -> fc_loc with the identity-initialised bias ->
  affine_grid -> grid_sample -> classifier), same weights as torch, SGD steps in float64.

A note on kinks (a known, documented difference, not a bug of either library): at a sampling point
exactly on a pixel centre the bilinear gradient is one-sided (the cell to the right of the integer
source index), so it jumps with the last bit of ix. torch's CPU kernel computes ix = (x + 1) * W/2
- 0.5 with a fused multiply-add (its AVX build contracts it), minigrad without; and torch's linspace
rounds differently per vector width. So at points like x = -2/3 (not exactly representable) the two
libraries may pick different cells, as torch on two different CPUs (or on CUDA) may. The tutorial's
identity transform puts every point on a pixel centre: the exact port below compares everything
that does not go through the grid gradient, and the training run nudges the initial translation
by 0.01 (0.14 pixel) so the points sit inside cells, on images with a faint noisy background (on a
constant margin the resampled pixels, hence conv1's outputs, tie up to the last bit, and max_pool2d's
pick among them decides where the gradient reaches the grid).

Porting notes: the tutorial's `fc_loc[2].weight.data.zero_()` / `.bias.data.copy_(...)` fail in
minigrad, whose `Tensor.data` is the raw array (a documented difference, README): the port writes
them under `no_grad()` without `.data`. torch warns when align_corners is left at None; minigrad
silently uses False.
"""
import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad.ops.grid_sample import AffineGrid, GridSample
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

GRADIENT_TESTED = [GridSample, AffineGrid]

MODES = ("bilinear", "nearest")
PADDINGS = ("zeros", "border", "reflection")
COMBOS = list(itertools.product(MODES, PADDINGS, (False, True)))
TOL = dict(rtol=1e-7, atol=1e-12)


def _t(a, device="cpu", requires_grad=False):
    return mg.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=requires_grad)


# ---------------------------------------------------------------- gradients (Hypothesis, every backend)
def _normalised(ix, size, align_corners):
    """The grid coordinate whose source index along an axis of `size` pixels is ix (the inverse unnormalise)."""
    if align_corners:
        # size 1: every coordinate maps to index 0; any value will do
        return 2.0 * ix / (size - 1) - 1.0 if size > 1 else ix / 3.0
    return (2.0 * ix + 1.0) / size - 1.0


_FRACTION = st.floats(0.1, 0.4) | st.floats(0.6, 0.9)  # inside a cell, off its middle


@st.composite
def sample_cases(draw, align_corners):
    """(input (N, C, H, W), grid (N, Ho, Wo, 2)) as float64 arrays; grid points in open cells, some outside."""
    n, c, h, w, ho, wo = (draw(st.integers(lo, hi)) for lo, hi in ((1, 2), (1, 2), (1, 4), (1, 4), (1, 3), (1, 3)))
    x = draw(mst.tensors(shape=(n, c, h, w), dtype="float64")).numpy()
    count = n * ho * wo
    axes = []
    for size in (w, h):  # grid[..., 0] indexes W, grid[..., 1] indexes H
        cells = np.array(draw(st.lists(st.integers(-3, size + 2), min_size=count, max_size=count)), dtype=np.float64)
        frac = np.array(draw(st.lists(_FRACTION, min_size=count, max_size=count)))
        axes.append(_normalised(cells + frac, size, align_corners))
    return x, np.stack(axes, axis=-1).reshape(n, ho, wo, 2)


@pytest.mark.parametrize("mode,padding_mode,align_corners", COMBOS)
def test_grid_sample_gradcheck(device, mode, padding_mode, align_corners):
    @given(sample_cases(align_corners))
    def check(case):
        x, grid = case
        xt, gt = _t(x, device, True), _t(grid, device, True)
        assert gradcheck(lambda a, b: F.grid_sample(a, b, mode=mode, padding_mode=padding_mode,
                                                    align_corners=align_corners), xt, gt)

    check()


@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 4), w=st.integers(1, 4),
       align_corners=st.booleans(), data=st.data())
def test_affine_grid_gradcheck(device, n, c, h, w, align_corners, data):
    theta = data.draw(mst.tensors(shape=(n, 2, 3), dtype="float64", device=device, requires_grad=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the note on unit-size grids with align_corners=True (tested below)
        assert gradcheck(lambda t: F.affine_grid(t, (n, c, h, w), align_corners=align_corners), theta)


def test_nearest_grid_gradient_is_zero_and_input_gradient_counts_reads(device):
    """'nearest': the grid gets zeros (torch), each input pixel gets the sum of dy over the points that read it."""
    x = _t(np.arange(6.0).reshape(1, 1, 2, 3), device, True)
    grid = _t([[[[-1.0, -1.0], [-1.0, -1.0], [1.0, 1.0], [5.0, 0.0]]]], device, True)  # two reads of (0, 0)
    y = F.grid_sample(x, grid, mode="nearest", align_corners=True)
    np.testing.assert_array_equal(y.numpy(), [[[[0.0, 0.0, 5.0, 0.0]]]])  # the last point is outside: 0
    y.backward(_t([[[[1.0, 2.0, 3.0, 4.0]]]], device))
    np.testing.assert_array_equal(x.grad.numpy(), [[[[3.0, 0.0, 0.0], [0.0, 0.0, 3.0]]]])
    np.testing.assert_array_equal(grid.grad.numpy(), np.zeros((1, 1, 4, 2)))


def test_identity_grid_reproduces_the_input(device):
    """affine_grid(identity) sampled with the same align_corners reads every pixel at its centre."""
    x = _t(np.random.default_rng(0).standard_normal((2, 3, 4, 5)), device)
    eye = _t(np.tile([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], (2, 1, 1)), device)
    for align in (False, True):
        for mode in MODES:
            y = F.grid_sample(x, F.affine_grid(eye, x.size(), align_corners=align), mode=mode, align_corners=align)
            np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape,grid_shape", [((0, 2, 3, 3), (0, 2, 2, 2)), ((1, 0, 3, 3), (1, 2, 2, 2)),
                                                  ((1, 2, 3, 3), (1, 0, 2, 2))])
def test_empty_batch_channels_or_grid(device, x_shape, grid_shape):
    """Empty N, C or output size: empty results and zero-size gradients of the right shapes (torch's shapes)."""
    for mode in MODES:
        x, grid = _t(np.ones(x_shape), device, True), _t(np.zeros(grid_shape), device, True)
        y = F.grid_sample(x, grid, mode=mode, align_corners=False)
        assert y.shape == (x_shape[0], x_shape[1]) + grid_shape[1:3]
        y.sum().backward()
        assert x.grad.shape == x_shape and grid.grad.shape == grid_shape
        assert not x.grad.numpy().any() and not grid.grad.numpy().any()


def test_float32_stays_float32(device):
    x = mg.tensor(np.ones((1, 2, 3, 3), np.float32), device=device, requires_grad=True)
    theta = mg.tensor(np.array([[[0.9, 0.1, 0.05], [-0.1, 1.1, 0.0]]], np.float32), device=device,
                      requires_grad=True)
    grid = F.affine_grid(theta, (1, 2, 4, 4), align_corners=False)
    y = F.grid_sample(x, grid, padding_mode="reflection", align_corners=False)
    y.sum().backward()
    assert grid.dtype == y.dtype == x.grad.dtype == theta.grad.dtype == mg.float32


def test_autocast_policy(device):
    """torch's autocast: grid_sample runs in float32 on the CPU, at the widest input dtype on CUDA; so a
    float16 image meets a float32 grid (an STN's localisation output) without a dtype error."""
    x = mg.tensor(np.random.default_rng(0).standard_normal((1, 2, 3, 3)), device=device).half()
    grid = mg.tensor(np.random.default_rng(1).uniform(-1, 1, (1, 2, 2, 2)).astype(np.float32), device=device)
    with mg.autocast(mg.backend.parse_device(device).split(":")[0], dtype=mg.float16):
        y = F.grid_sample(x, grid, align_corners=False)
        y_half = F.grid_sample(x, grid.half(), align_corners=False)
    assert y.dtype == mg.float32
    assert y_half.dtype == (mg.float32 if device == "cpu" else mg.float16)
    np.testing.assert_allclose(y.numpy(), F.grid_sample(x.float(), grid, align_corners=False).numpy(), rtol=1e-6)
    with pytest.raises(TypeError, match="grid_sample: expected input and grid of the same dtype"):
        F.grid_sample(x, grid)  # outside autocast: no silent casts


# ---------------------------------------------------------------- parity with torch
def _torch():
    return pytest.importorskip("torch")


def _run_both(x, grid, dy, **kw):
    """(ours, theirs): each a tuple (y, dx, dgrid) of NumPy arrays, same dtype as x."""
    torch = _torch()
    tx, tg = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
    ty = torch.nn.functional.grid_sample(tx, tg, **kw)
    ty.backward(torch.tensor(dy))
    mx, mgr = mg.tensor(x, requires_grad=True), mg.tensor(grid, requires_grad=True)
    my = F.grid_sample(mx, mgr, **kw)
    my.backward(mg.tensor(dy))
    theirs = (ty.detach().numpy(), tx.grad.numpy(), tg.grad.numpy())
    ours = (my.numpy(), mx.grad.numpy(), mgr.grad.numpy())
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype and a.shape == b.shape
    return ours, theirs


def _lattice(step=1 / 8, reach=3.0, stride=3):
    """Grid points (1, h, w, 2) at multiples of `step` in [-reach, reach] (x every value, y every `stride`-th)."""
    vals = np.arange(-reach, reach + step / 2, step)
    return np.stack(np.meshgrid(vals, vals[::stride]), axis=-1)[None]


@pytest.mark.parametrize("mode,padding_mode,align_corners", COMBOS)
def test_parity_with_torch_on_edges_centres_and_outside(mode, padding_mode, align_corners):
    """Points exactly on the edges (x = +-1), on pixel centres and cell borders, outside, mirrored several
    times: values and both gradients as torch's, torch's one-sided / clipped gradient conventions included."""
    rng = np.random.default_rng(0)
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    for h, w in [(1, 1), (2, 3), (3, 4), (4, 4), (1, 5)]:
        grid = _lattice()
        x = rng.standard_normal((1, 2, h, w))
        dy = rng.standard_normal((1, 2) + grid.shape[1:3])
        ours, theirs = _run_both(x, grid, dy, **kw)
        for name, a, b in zip(("y", "dx", "dgrid"), ours, theirs):
            np.testing.assert_allclose(a, b, err_msg=f"{name} {h}x{w} {kw}", **TOL)


@pytest.mark.parametrize("mode,padding_mode,align_corners", COMBOS)
def test_parity_with_torch_random_points(mode, padding_mode, align_corners):
    rng = np.random.default_rng(1)
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    for n, c, h, w, ho, wo in [(2, 3, 5, 4, 3, 6), (1, 1, 1, 3, 2, 2), (3, 2, 6, 6, 4, 4)]:
        x = rng.standard_normal((n, c, h, w))
        grid = rng.uniform(-2.5, 2.5, (n, ho, wo, 2))
        dy = rng.standard_normal((n, c, ho, wo))
        ours, theirs = _run_both(x, grid, dy, **kw)
        for name, a, b in zip(("y", "dx", "dgrid"), ours, theirs):
            np.testing.assert_allclose(a, b, err_msg=f"{name} {(n, c, h, w, ho, wo)} {kw}", **TOL)


@pytest.mark.parametrize("padding_mode", PADDINGS)
def test_parity_with_torch_float32(padding_mode):
    rng = np.random.default_rng(2)
    for mode, align in itertools.product(MODES, (False, True)):
        x = rng.standard_normal((2, 2, 3, 4)).astype(np.float32)
        grid = np.concatenate([_lattice(stride=12).repeat(2, axis=0),
                               rng.uniform(-2, 2, (2, 5, 49, 2))], axis=1).astype(np.float32)
        dy = rng.standard_normal((2, 2) + grid.shape[1:3]).astype(np.float32)
        ours, theirs = _run_both(x, grid, dy, mode=mode, padding_mode=padding_mode, align_corners=align)
        for name, a, b in zip(("y", "dx", "dgrid"), ours, theirs):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=f"{name} {mode} {padding_mode} {align}")


def test_parity_with_torch_nan_and_inf_points():
    """NaN/inf coordinates: 'zeros' reads nothing (NaN weights -> NaN, as torch), border/reflection clamp NaN to 0."""
    torch = _torch()
    x = np.random.default_rng(3).standard_normal((1, 2, 3, 4))
    grid = np.array([[[[np.nan, 0.2], [np.inf, 0.3], [-np.inf, -np.inf], [0.1, np.nan], [0.25, -0.5]]]])
    for mode, padding_mode, align in COMBOS:
        kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align)
        theirs = torch.nn.functional.grid_sample(torch.tensor(x), torch.tensor(grid), **kw).numpy()
        ours = F.grid_sample(mg.tensor(x), mg.tensor(grid), **kw).numpy()
        np.testing.assert_allclose(ours, theirs, equal_nan=True, err_msg=str(kw), **TOL)


@given(n=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6), align_corners=st.booleans(),
       seed=st.integers(0, 2**16))
def test_affine_grid_parity_with_torch(n, h, w, align_corners, seed):
    torch = _torch()
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((n, 2, 3))
    dgrid = rng.standard_normal((n, h, w, 2))
    tt = torch.tensor(theta, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on unit-size grids with align_corners=True
        tg = torch.nn.functional.affine_grid(tt, (n, 2, h, w), align_corners=align_corners)
        mt = _t(theta, requires_grad=True)
        mgr = F.affine_grid(mt, (n, 2, h, w), align_corners=align_corners)
    tg.backward(torch.tensor(dgrid))
    mgr.backward(_t(dgrid))
    np.testing.assert_allclose(mgr.numpy(), tg.detach().numpy(), **TOL)
    np.testing.assert_allclose(mt.grad.numpy(), tt.grad.numpy(), **TOL)


def test_affine_grid_float32_and_default_align_corners():
    torch = _torch()
    theta = np.array([[[0.5, -0.2, 0.1], [0.3, 1.5, -0.4]]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that the default align_corners is False
        theirs = torch.nn.functional.affine_grid(torch.tensor(theta), (1, 1, 7, 5)).numpy()
    ours = F.affine_grid(mg.tensor(theta), (1, 1, 7, 5)).numpy()  # None: False, as torch
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_affine_grid_unit_size_with_align_corners_warns_as_torch():
    with pytest.warns(UserWarning, match="affine_grid"):
        grid = F.affine_grid(_t([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]), (1, 1, 1, 3), align_corners=True)
    np.testing.assert_array_equal(grid.numpy()[0, 0, :, 1], [0.0, 0.0, 0.0])  # torch: the single row sits at 0


# ---------------------------------------------------------------- errors
def test_errors_name_the_op():
    x, grid = _t(np.zeros((2, 1, 3, 3))), _t(np.zeros((2, 4, 4, 2)))
    theta = _t(np.zeros((2, 2, 3)))
    cases = [
        (lambda: F.grid_sample(x, grid, mode="linear"), ValueError, "grid_sample: expected mode"),
        (lambda: F.grid_sample(x, grid, padding_mode="circular"), ValueError, "grid_sample: expected padding_mode"),
        (lambda: F.grid_sample(x, grid, mode="bicubic"), NotImplementedError, "grid_sample: mode='bicubic'"),
        (lambda: F.grid_sample(_t(np.zeros((1, 1, 2, 2, 2))), _t(np.zeros((1, 1, 1, 1, 3)))), NotImplementedError,
         "grid_sample: 5-D"),
        (lambda: F.grid_sample(x[0], grid[0]), ValueError, r"grid_sample: expected a 4-D input .* float64\[1, 3, 3\]"),
        (lambda: F.grid_sample(x, grid[:1]), ValueError, "grid_sample: expected grid and input to have the same batch"),
        (lambda: F.grid_sample(x, _t(np.zeros((2, 4, 4, 3)))), ValueError, "grid_sample: expected grid to have size 2"),
        (lambda: F.grid_sample(_t(np.zeros((2, 1, 0, 3))), grid), ValueError, "grid_sample: .*non-empty spatial"),
        (lambda: F.grid_sample(x, grid.float()), TypeError, r"grid_sample: .*same dtype.*float32\[2, 4, 4, 2\]"),
        (lambda: F.grid_sample(mg.tensor(np.zeros((2, 1, 3, 3), np.int64)), grid), TypeError,
         "grid_sample: expected a floating-point tensor"),
        (lambda: F.grid_sample(np.zeros((2, 1, 3, 3)), grid), TypeError, "grid_sample: input must be a minigrad"),
        (lambda: F.affine_grid(_t(np.zeros((2, 3, 3))), (2, 1, 4, 4)), ValueError,
         r"affine_grid: expected a batch of 2D affine matrices .* float64\[2, 3, 3\]"),
        (lambda: F.affine_grid(theta, (2, 1, 4, 4, 4)), NotImplementedError, "affine_grid: 3-D"),
        (lambda: F.affine_grid(theta, (2, 4, 4)), ValueError, "affine_grid: expected a 4-D size"),
        (lambda: F.affine_grid(theta, (3, 1, 4, 4)), ValueError, "affine_grid: theta .* holds 2 matrices"),
        (lambda: F.affine_grid(theta, (2, 1, 0, 4)), ValueError, "affine_grid: expected a positive output size"),
        (lambda: F.affine_grid(theta, (2, 1, 4.0, 4)), TypeError, "affine_grid: size must hold ints"),
        (lambda: F.affine_grid(mg.tensor(np.zeros((2, 2, 3), np.int64)), (2, 1, 4, 4)), TypeError,
         "affine_grid: expected a floating-point tensor"),
    ]
    for fn, exc, match in cases:
        with pytest.raises(exc, match=match):
            fn()


# ---------------------------------------------------------------- the Spatial Transformer Networks tutorial
def _stn_net(lib):
    """The tutorial's Net, written once for both libraries (`lib` is torch or minigrad)."""
    torch, nn, F_ = lib, lib.nn, lib.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
            self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
            self.conv2_drop = nn.Dropout2d()
            self.fc1 = nn.Linear(320, 50)
            self.fc2 = nn.Linear(50, 10)

            # Spatial transformer localization-network
            self.localization = nn.Sequential(
                nn.Conv2d(1, 8, kernel_size=7),
                nn.MaxPool2d(2, stride=2),
                nn.ReLU(True),
                nn.Conv2d(8, 10, kernel_size=5),
                nn.MaxPool2d(2, stride=2),
                nn.ReLU(True)
            )

            # Regressor for the 3 * 2 affine matrix
            self.fc_loc = nn.Sequential(
                nn.Linear(10 * 3 * 3, 32),
                nn.ReLU(True),
                nn.Linear(32, 3 * 2)
            )

            # Initialize the weights/bias with identity transformation
            # (the tutorial writes `.weight.data.zero_()` / `.bias.data.copy_(...)`: in minigrad `.data` is
            # the raw array (README, a documented difference), so the in-place writes go under no_grad)
            with torch.no_grad():
                self.fc_loc[2].weight.zero_()
                self.fc_loc[2].bias.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))

        # Spatial transformer network forward function
        def stn(self, x):
            xs = self.localization(x)
            xs = xs.view(-1, 10 * 3 * 3)
            theta = self.fc_loc(xs)
            theta = theta.view(-1, 2, 3)

            grid = F_.affine_grid(theta, x.size())
            x = F_.grid_sample(x, grid)
            return x

        def forward(self, x):
            # transform the input
            x = self.stn(x)

            # Perform the usual forward pass
            x = F_.relu(F_.max_pool2d(self.conv1(x), 2))
            x = F_.relu(F_.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
            x = x.view(-1, 320)
            x = F_.relu(self.fc1(x))
            x = F_.dropout(x, training=self.training)
            x = self.fc2(x)
            return F_.log_softmax(x, dim=1)

    return Net()


def _mnist_like(n, seed, background=0.0):
    """Normalised 28x28 'digits' (the tutorial's Normalize((0.1307,), (0.3081,))): a blob of strokes on a
    margin of 0, or of faint noise up to `background`."""
    rng = np.random.default_rng(seed)
    img = rng.random((n, 1, 28, 28)) * background
    img[:, :, 5:23, 6:22] = rng.random((n, 1, 18, 16)) * (rng.random((n, 1, 18, 16)) < 0.4)
    return (img - 0.1307) / 0.3081, rng.integers(0, 10, n)


@pytest.fixture
def stn_models():
    """(torch model, minigrad model) in float64 with torch's initial weights loaded into minigrad's."""
    torch = _torch()
    old = torch.get_default_dtype()
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    try:
        theirs = _stn_net(torch)
        ours = _stn_net(mg)
        missing, unexpected = ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        assert not missing and not unexpected
        yield theirs, ours
    finally:
        torch.set_default_dtype(old)
        mg.set_default_dtype(mg.float32)


def _grads(model):
    return {k: p.grad.numpy().copy() for k, p in model.named_parameters()}


@pytest.mark.filterwarnings("ignore:Default grid_sample and affine_grid behavior", "ignore:size_average")
def test_stn_tutorial_identity_start(stn_models):
    """The tutorial as written: its identity-initialised theta, one training step and its test() loop.

    Everything that does not flow through the grid gradient matches torch (outputs, loss, the
    classifier's gradients, test loss and accuracy). The localisation net's gradients are not
    compared: at the identity every sampling point sits exactly on a pixel centre, a kink, where the
    one-sided gradient depends on the last bit of the source index (see the module docstring).
    """
    torch = _torch()
    theirs, ours = stn_models
    np.testing.assert_array_equal(ours.fc_loc[2].bias.numpy(), [1, 0, 0, 0, 1, 0])
    x, y = _mnist_like(4, seed=0)
    results = []
    for lib, model in ((torch, theirs), (mg, ours)):
        F_ = lib.nn.functional
        model.eval()  # dropout off (its draws differ between libraries); gradients flow as in training
        out = model(lib.tensor(x))
        loss = F_.nll_loss(out, lib.tensor(y))
        loss.backward()
        grads = _grads(model)
        # the tutorial's test(): summed loss (its legacy size_average=False) and accuracy, in eval mode
        model.eval()
        with lib.no_grad():
            data, target = lib.tensor(x), lib.tensor(y)
            output = model(data)
            test_loss = F_.nll_loss(output, target, size_average=False).item()
            pred = output.max(1, keepdim=True)[1]
            correct = pred.eq(target.view_as(pred)).sum().item()
        results.append((out.detach().numpy(), loss.item(), grads, test_loss, correct, output.numpy()))
    (t_out, t_loss, t_grads, t_test, t_correct, t_eval), (m_out, m_loss, m_grads, m_test, m_correct, m_eval) = results
    np.testing.assert_allclose(m_loss, t_loss, **TOL)
    np.testing.assert_allclose(m_out, t_out, **TOL)
    np.testing.assert_allclose(m_eval, t_eval, **TOL)
    np.testing.assert_allclose(m_test, t_test, **TOL)
    assert m_correct == t_correct
    for name in ("conv1", "conv2", "fc1", "fc2"):
        for kind in ("weight", "bias"):
            key = f"{name}.{kind}"
            np.testing.assert_allclose(m_grads[key], t_grads[key], err_msg=key, **TOL)
    # the regressor's last layer: its weight starts at 0, so its gradient is all that moves theta
    assert np.abs(m_grads["fc_loc.2.weight"]).max() > 0 and np.isfinite(m_grads["fc_loc.2.bias"]).all()


@pytest.mark.filterwarnings("ignore:Default grid_sample and affine_grid behavior")
def test_stn_tutorial_training_matches_torch(stn_models):
    """The tutorial's training loop (SGD lr=0.01, nll_loss) for a few steps, every parameter compared.

    The initial translation is nudged by 0.01 (0.14 pixel) in both, so the sampling points lie
    inside cells rather than on the pixel-centre kinks; the steps run in eval mode, so dropout is off
    (its draws differ between libraries); everything else is the tutorial's code.
    """
    torch = _torch()
    theirs, ours = stn_models
    # a faint noisy background: on MNIST's constant margin the resampled pixels are equal up to the last bit,
    # and so are conv1's outputs there, so max_pool2d's choice among those near-ties (hence where the
    # gradient flows back into the grid) would hang on rounding, as between torch on two machines
    x, y = _mnist_like(6, seed=1, background=0.1)
    records = []
    for lib, model in ((torch, theirs), (mg, ours)):
        F_ = lib.nn.functional
        with lib.no_grad():
            model.fc_loc[2].bias.add_(lib.tensor([0.0, 0.0, 0.01, 0.0, 0.0, -0.01]))
        model.eval()  # dropout off (its draws differ between libraries); gradients flow as in training
        optimizer = lib.optim.SGD(model.parameters(), lr=0.01)
        losses, thetas = [], []
        data, target = lib.tensor(x), lib.tensor(y)
        for _ in range(3):
            optimizer.zero_grad()
            output = model(data)
            loss = F_.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            with lib.no_grad():
                xs = model.localization(data).view(-1, 10 * 3 * 3)
                thetas.append(model.fc_loc(xs).view(-1, 2, 3).numpy().copy())
        records.append((losses, thetas, _grads(model), {k: v.numpy().copy() for k, v in model.state_dict().items()}))
    (t_losses, t_thetas, t_grads, t_state), (m_losses, m_thetas, m_grads, m_state) = records
    np.testing.assert_allclose(m_losses, t_losses, **TOL)
    assert t_losses[-1] < t_losses[0]
    np.testing.assert_allclose(np.array(m_thetas), np.array(t_thetas), **TOL)
    assert np.abs(np.array(t_thetas)[-1] - np.array(t_thetas)[0]).max() > 1e-6  # theta did move
    assert list(m_state) == list(t_state)
    for k in t_state:
        np.testing.assert_allclose(m_state[k], t_state[k], err_msg=k, **TOL)
    for k in t_grads:
        np.testing.assert_allclose(m_grads[k], t_grads[k], err_msg=k, **TOL)

