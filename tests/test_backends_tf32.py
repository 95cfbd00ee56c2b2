"""mg.backends.cuda.matmul.allow_tf32: torch's switch for TF32 matrix products on CUDA."""
import numpy as np
import pytest

import minigrad as mg


@pytest.fixture
def restore_tf32():
    before = mg.backends.cuda.matmul.allow_tf32
    yield
    mg.backends.cuda.matmul.allow_tf32 = before


def test_off_by_default_and_settable(restore_tf32):
    assert mg.backends.cuda.matmul.allow_tf32 is False  # torch's default: full float32
    mg.backends.cuda.matmul.allow_tf32 = 1
    assert mg.backends.cuda.matmul.allow_tf32 is True and mg.backend.matmul_tf32() is True
    assert "allow_tf32=True" in repr(mg.backends.cuda.matmul)
    mg.backends.cuda.matmul.allow_tf32 = False
    assert mg.backends.cuda.matmul.allow_tf32 is False
    assert mg.backends.cuda.is_built() is mg.backend.cupy_installed


def test_is_built_means_installed_not_usable():
    """torch.backends.cuda.is_built() says torch was built with CUDA, GPU or not; ours says CuPy is installed."""
    import importlib.util

    if importlib.util.find_spec("cupy") is None:
        assert mg.backends.cuda.is_built() is False
    if mg.cuda_available():
        assert mg.backends.cuda.is_built()


def test_tf32_rounds_float32_products_on_cuda_only(device, restore_tf32):
    """1 + 2**-12 is exact in float32 but 1.0 in TF32's 10-bit mantissa. A row of 256 such products
    sums to 256 + 2**-4 exactly in float32 in any order (every partial sum is a multiple of 2**-12
    below 2**9: 21 bits), and to 256.0 with TF32 inputs."""
    k = 256
    v = 1.0 + 2.0 ** -12
    a = mg.full((512, k), v, device=device)
    b = mg.ones(k, 512, device=device)
    exact = np.float32(k * v)
    assert float(exact) == k + 2.0 ** -4
    mg.backends.cuda.matmul.allow_tf32 = False
    np.testing.assert_array_equal((a @ b).numpy()[:4, :4], exact)
    mg.backends.cuda.matmul.allow_tf32 = True
    got = (a @ b).numpy()[:4, :4]
    # no TF32 on the CPU: the switch changes nothing there
    np.testing.assert_array_equal(got, exact if device == "cpu" else np.float32(k))
    np.testing.assert_array_equal((a.double() @ b.double()).numpy()[:2, :2], k * v)  # float64: never TF32
    mg.backends.cuda.matmul.allow_tf32 = False
    np.testing.assert_array_equal((a @ b).numpy()[:4, :4], exact)  # and back
