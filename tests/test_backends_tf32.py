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
    assert mg.backends.cuda.is_built() == mg.cuda_available()


def test_tf32_rounds_float32_products_on_cuda_only(device, restore_tf32):
    """1.0001 is 1.0 in TF32's 10-bit mantissa (the next value is 1 + 2**-10): a row of 1024 such
    products sums to 1024.0 with TF32 and to ~1024.1 in full float32 (TensorFlow's documented example)."""
    a = mg.full((1024, 1024), 1.0001, device=device)
    b = mg.ones(1024, 1024, device=device)
    exact = 1024 * np.float32(1.0001)
    mg.backends.cuda.matmul.allow_tf32 = False
    np.testing.assert_allclose((a @ b).numpy()[:4, :4], exact, rtol=1e-6)
    mg.backends.cuda.matmul.allow_tf32 = True
    got = (a @ b).numpy()[:4, :4]
    if device == "cpu":  # no TF32 on the CPU: the switch changes nothing
        np.testing.assert_allclose(got, exact, rtol=1e-6)
    else:
        np.testing.assert_array_equal(got, np.float32(1024.0))
    # float64 products never use TF32
    a64, b64 = a.double(), b.double()
    np.testing.assert_allclose((a64 @ b64).numpy()[:2, :2], 1024 * float(np.float32(1.0001)), rtol=1e-12)
    mg.backends.cuda.matmul.allow_tf32 = False
    np.testing.assert_allclose((a @ b).numpy()[:4, :4], exact, rtol=1e-6)  # and back
