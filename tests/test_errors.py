"""Bad input gets a clear error: the right exception type, and a message naming the op and the
offending shapes/dtypes/devices/values (never a bare NumPy message, never a silent wrong answer)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F

from opcheck import device_regex

needs_cuda = pytest.mark.skipif(not mg.cuda_available(), reason="device mismatches need a GPU")


# ---------------------------------------------------------------- shapes
@pytest.mark.parametrize("op", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b, lambda a, b: a ** b,
    mg.maximum, mg.minimum,
])
def test_binary_ops_that_do_not_broadcast(device, op):
    a, b = mg.ones(2, 3, device=device), mg.ones(4, device=device)
    with pytest.raises(ValueError, match=r"^(add|sub|mul|div|pow|maximum|minimum): shapes \[2, 3\] and \[4\] "
                                         r"do not broadcast \(float32\[2, 3\] on cpu and float32\[4\]"
                                         .replace("cpu", "(cpu|cuda:0)")):
        op(a, b)


def test_where_that_does_not_broadcast(device):
    with pytest.raises(ValueError, match=r"where: shapes \[5\] and \[2, 3\] and \[\] do not broadcast"):
        mg.where(mg.ones(5, device=device) > 0, mg.ones(2, 3, device=device), 0.0)


SHAPE_ERRORS = [
    (lambda d: mg.ones(2, 3, device=d) @ mg.ones(2, 3, device=d), ValueError,
     r"matmul: inner dimensions differ: float32\[2, 3\].*@ float32\[2, 3\].*\(3 != 2\)"),
    (lambda d: mg.ones(2, 3, 4, device=d) @ mg.ones(3, 4, 2, device=d), ValueError,
     r"matmul: batch dimensions \(2,\) and \(3,\) do not broadcast"),
    (lambda d: mg.tensor(1.0, device=d) @ mg.ones(2, device=d), ValueError,
     r"matmul: both operands need at least 1 dimension, got float32\[\]"),
    (lambda d: F.linear(mg.ones(2, 3, device=d), mg.ones(5, 4, device=d)), ValueError,
     r"linear: input float32\[2, 3\].* has 3 features.*weight float32\[5, 4\].* expects 4"),
    (lambda d: F.linear(mg.ones(2, 4, device=d), mg.ones(5, 4, device=d), mg.ones(4, device=d)), ValueError,
     r"linear: bias must have shape \(5,\), got float32\[4\]"),
    (lambda d: mg.cat([mg.ones(2, 3, device=d), mg.ones(2, 4, device=d)]), ValueError,
     r"cat: shapes must match except in dim 0; got \[\[2, 3\], \[2, 4\]\]"),
    (lambda d: mg.stack([mg.ones(2, 3, device=d), mg.ones(2, 4, device=d)]), ValueError,
     r"stack: all tensors must have the same shape; got \[\[2, 3\], \[2, 4\]\]"),
    (lambda d: mg.ones(2, 3, device=d).reshape(4, 2), ValueError,
     r"reshape: cannot reshape float32\[2, 3\].*\(6 elements\) into shape \(4, 2\)"),
    (lambda d: mg.ones(2, 3, device=d).view(-1, -1), ValueError, r"reshape: cannot reshape .* \(-1, -1\)"),
    (lambda d: mg.ones(2, 3, device=d).expand(3, 3), ValueError,
     r"expand: dimension 0 of float32\[2, 3\].* has size 2, which cannot expand to 3"),
    (lambda d: mg.ones(2, 3, device=d).broadcast_to((3,)), ValueError,
     r"broadcast_to: cannot broadcast float32\[2, 3\].* to shape \(3,\)"),
    (lambda d: mg.ones(2, 3, device=d).split([1, 1], 1), ValueError,
     r"split: sections \[1, 1\] must be non-negative and sum to the size 3 of dim 1"),
    (lambda d: F.mse_loss(mg.ones(2, 3, device=d), mg.ones(4, device=d)), ValueError,
     r"mse_loss: input float32\[2, 3\].* and target float32\[4\].* must have the same shape"),
    (lambda d: F.binary_cross_entropy_with_logits(mg.ones(2, device=d), mg.ones(3, device=d)), ValueError,
     r"binary_cross_entropy_with_logits: input float32\[2\].* and target float32\[3\]"),
    (lambda d: F.cross_entropy(mg.ones(2, 3, device=d), mg.tensor([0, 1, 2], device=d)), ValueError,
     r"cross_entropy: the class dimension is last: input \(\.\.\., C\) = float32\[2, 3\].* needs target of "
     r"shape \(2,\), got int64\[3\]"),
    (lambda d: F.nll_loss(mg.ones(3, device=d), mg.tensor([0, 1], device=d)), ValueError,
     r"nll_loss: the class dimension is last.*needs target of shape \(\), got int64\[2\]"),
    (lambda d: F.embedding(mg.tensor([0], device=d), mg.ones(4, device=d)), ValueError,
     r"embedding: weight must be 2-D \(num_embeddings, dim\), got float32\[4\]"),
    (lambda d: mg.ones(2, 3, device=d).item(), RuntimeError,
     r"item: a Tensor with 6 elements cannot be converted to Scalar \(only one-element tensors can\); this one has "
     r"shape \(2, 3\)"),
    (lambda d: mg.ones(0, 3, device=d).max(0), ValueError,
     r"max: cannot reduce over an empty dimension of float32\[0, 3\]"),
]


@pytest.mark.parametrize("fn,exc,msg", SHAPE_ERRORS)
def test_shape_errors(device, fn, exc, msg):
    with pytest.raises(exc, match=msg):
        fn(device)


# ---------------------------------------------------------------- dims
DIM_ERRORS = [
    (lambda x: x.sum(5), IndexError, r"sum: dim 5 is out of range for a tensor with 2 dimension\(s\) "
                                     r"\(expected in \[-2, 1\]\)"),
    (lambda x: x.mean((0, 2)), IndexError, r"mean: dim 2 is out of range"),
    (lambda x: x.var(dim=(0, 0)), ValueError, r"var: dim 0 appears twice in \(0, 0\)"),
    (lambda x: x.max(-3), IndexError, r"max: dim -3 is out of range"),
    (lambda x: x.logsumexp(2), IndexError, r"logsumexp: dim 2 is out of range"),
    (lambda x: x.argmax(3), IndexError, r"argmax: dim 3 is out of range"),
    (lambda x: F.softmax(x, 2), IndexError, r"softmax: dim 2 is out of range"),
    (lambda x: F.log_softmax(x, -3), IndexError, r"log_softmax: dim -3 is out of range"),
    (lambda x: x.permute(0, 0), ValueError, r"permute: dim 0 appears twice"),
    (lambda x: x.permute(0, 1, 2), ValueError, r"permute: got 3 dims \(0, 1, 2\) for float32\[2, 3\]"),
    (lambda x: x.transpose(0, 3), IndexError, r"transpose: dim 3 is out of range"),
    (lambda x: x.squeeze(4), IndexError, r"squeeze: dim 4 is out of range"),
    (lambda x: x.unsqueeze(4), IndexError, r"unsqueeze: dim 4 is out of range for a tensor with 3 dimension"),
    (lambda x: x.flatten(3), IndexError, r"flatten: dim 3 is out of range"),
    (lambda x: mg.cat([x, x], 2), IndexError, r"cat: dim 2 is out of range"),
    (lambda x: mg.stack([x, x], 4), IndexError, r"stack: dim 4 is out of range"),
    (lambda x: x.split(0, 1), ValueError, r"split: split_size must be positive, got 0"),
    (lambda x: x.chunk(0), ValueError, r"chunk: chunks must be positive, got 0"),
    (lambda x: x.sum(1.5), TypeError, r"sum: dim must be an int or a tuple of ints, got 1.5"),
]


@pytest.mark.parametrize("fn,exc,msg", DIM_ERRORS)
def test_bad_dims(device, fn, exc, msg):
    with pytest.raises(exc, match=msg):
        fn(mg.ones(2, 3, device=device))


# ---------------------------------------------------------------- dtypes
@pytest.mark.parametrize("op,name", [
    (lambda a, b: a + b, "add"), (lambda a, b: a - b, "sub"), (lambda a, b: a * b, "mul"),
    (lambda a, b: a / b, "div"), (lambda a, b: a ** b, "pow"), (lambda a, b: a @ b, "matmul"),
    (mg.maximum, "maximum"), (mg.minimum, "minimum"), (lambda a, b: mg.where(a > 0, a, b), "where"),
    (lambda a, b: F.linear(a, b), "linear"),  # (comparisons promote: tests/test_gaps10b.py)
    (lambda a, b: F.binary_cross_entropy_with_logits(a, b), "binary_cross_entropy_with_logits"),
])
@pytest.mark.parametrize("order", ["32-64", "64-32"])
def test_float32_and_float64_operands_raise_naming_both(device, op, name, order):
    a = mg.ones(2, 2, dtype="float32", device=device)
    b = mg.ones(2, 2, dtype="float64", device=device)
    if order == "64-32":
        a, b = b, a
    first, second = ("float32", "float64") if order == "32-64" else ("float64", "float32")
    with pytest.raises(TypeError, match=rf"{name}: dtype mismatch: {first}\[2, 2\].* and {second}\[2, 2\]"):
        op(a, b)


DTYPE_ERRORS = [
    (lambda d: mg.cat([mg.ones(2, device=d), mg.ones(2, dtype="float64", device=d)]), TypeError,
     r"cat: all tensors must share dtype and device; got float32\[2\].* and float64\[2\]"),
    (lambda d: mg.tensor([1, 2], device=d).log_softmax(0), TypeError,
     r"log_softmax: expected a floating-point tensor, got int64\[2\].*convert it with \.float\(\)"),
    (lambda d: mg.tensor([1, 2], device=d).mean(), TypeError, r"mean: expected a floating-point tensor"),
    (lambda d: F.softmax(mg.tensor([1, 2], device=d)), TypeError, r"softmax: expected a floating-point"),
    (lambda d: F.cross_entropy(mg.ones(2, 3, device=d), mg.tensor([0.0, 1.0], device=d)), TypeError,
     r"cross_entropy: target must hold integer class indices, got float32\[2\]"),
    (lambda d: F.embedding(mg.tensor([0.0, 1.0], device=d), mg.ones(4, 2, device=d)), TypeError,
     r"embedding: indices must be integers, got dtype float32"),
    (lambda d: mg.ones(2, device=d)[mg.tensor([0.5], device=d)], IndexError,
     r"getitem: indices must be integers, slices, None, \.\.\., or integer/bool tensors; got float32"),
    (lambda d: mg.ones(2, device=d) + "x", TypeError, r"add: expected a number, tensor or array, got the str 'x'"),
    # text NumPy would parse as a number ('2' -> 2.0) is refused too, in every place Python data enters
    (lambda d: mg.ones(2, device=d) * "2", TypeError, r"mul: expected a number, tensor or array, got the str '2'"),
    (lambda d: mg.ones(2, device=d) < b"2", TypeError, r"lt: expected a number, tensor or array, got the bytes"),
    (lambda d: mg.ones(2, device=d) - ["1", "2"], TypeError, r"sub: expected numbers, got a list holding text"),
    (lambda d: mg.where(mg.ones(2, device=d) > 0, mg.ones(2, device=d), "0"), TypeError, r"where: expected a number"),
    (lambda d: mg.ones(2, device=d).add_("1"), TypeError, r"add_: expected a number, tensor or array, got the str"),
    (lambda d: mg.ones(2, device=d).__setitem__(0, "1"), TypeError, r"__setitem__: expected a number"),
    (lambda d: mg.ones(2, device=d).fill_("1"), TypeError, r"fill_: expected a number"),
    (lambda d: mg.ones(2, device=d).copy_(("1", "2")), TypeError, r"copy_: expected numbers, got a tuple holding text"),
    (lambda d: mg.ones(2, 3, device=d).gather(1, mg.tensor([[0, 3]], device=d)), IndexError,
     r"gather: index 3 is out of range for dimension 1 of size 3 \(float32\[2, 3\].*expected 0 <= index < 3"),
    (lambda d: mg.ones(2, 3, device=d).gather(1, mg.tensor([[0, -1]], device=d)), IndexError,
     r"gather: index -1 is out of range for dimension 1"),
    (lambda d: mg.ones(2, 3, device=d).gather(1, mg.tensor([0, 1], device=d)), ValueError,
     r"gather: index must have as many dimensions as x: x is float32\[2, 3\].* index is int64\[2\]"),
    (lambda d: mg.ones(2, 3, device=d).gather(0, mg.tensor([[0, 0, 0, 0]], device=d)), ValueError,
     r"gather: index int64\[1, 4\].* is larger than x float32\[2, 3\].* in dimension 1"),
    (lambda d: mg.ones(2, 3, device=d).gather(1, mg.tensor([[0.0]], device=d)), TypeError,
     r"gather: index must hold integers"),
    (lambda d: mg.ones(2, 3, device=d).gather(2, mg.tensor([[0]], device=d)), IndexError, r"gather: dim 2 is out of range"),
    (lambda d: mg.ones(2, 3, device=d).scatter_add(1, mg.tensor([[0, 3]], device=d), mg.ones(1, 2, device=d)),
     IndexError, r"scatter_add: index 3 is out of range for dimension 1 of size 3"),
    (lambda d: mg.ones(2, 3, device=d).scatter_add(1, mg.tensor([[0, 1]], device=d), mg.ones(1, 1, device=d)),
     ValueError, r"scatter_add: index int64\[1, 2\].* is larger than src float32\[1, 1\].* in dimension 1"),
    (lambda d: mg.ones(2, 3, device=d).scatter(0, mg.tensor([[0, 1, 0, 1]], device=d), 1.0), ValueError,
     r"scatter: index int64\[1, 4\].* is larger than x float32\[2, 3\].* in dimension 1 \(only the gathered"),
    (lambda d: mg.ones(2, 3, device=d).scatter(0, mg.tensor([[0]], device=d), mg.ones(1, 1, dtype="float64", device=d)),
     TypeError, r"scatter: src must have x's dtype: x is float32\[2, 3\].* src is float64\[1, 1\]"),
    (lambda d: mg.ones(2, 3, device=d).scatter(0, mg.tensor([[0]], device=d)), TypeError,
     r"scatter: give exactly one of src \(a tensor or a number\) and value"),
    (lambda d: mg.ones(2, 3, device=d).scatter(0, mg.tensor([[0]], device=d), "1"), TypeError,
     r"scatter: src must be a Tensor or a number, got str"),
    (lambda d: mg.ones(2, 3, device=d).scatter_add(0, mg.tensor([[0]], device=d), 1.0), TypeError,
     r"scatter_add: src must be a Tensor, got float"),
    (lambda d: mg.ones(2, 3, device=d).scatter_add_(0, mg.tensor([0, 1], device=d), mg.ones(2, device=d)), ValueError,
     r"scatter_add_: index must have as many dimensions as x"),
    (lambda d: mg.nonzero([1, 0]), TypeError, r"nonzero: expected a Tensor, got list"),
    (lambda d: mg.zeros(3, device=d).index_add(0, mg.tensor([[0]], device=d), mg.ones(1, 1, device=d)), TypeError,
     r"index_add: index must be a 1-D integer tensor, got int64\[1, 1\]"),
    (lambda d: mg.zeros(3, 4, device=d).index_add(0, mg.tensor([0], device=d), mg.ones(2, 4, device=d)), ValueError,
     r"index_add: source must have shape \(1, 4\) \(x float32\[3, 4\].* with len\(index\) = 1 along dim 0\)"),
    (lambda d: mg.zeros(3, 4, device=d).index_add(0, mg.tensor([3], device=d), mg.ones(1, 4, device=d)), IndexError,
     r"index_add: index 3 is out of range for dimension 0 of size 3"),
    (lambda d: mg.zeros(3, 4, device=d).index_add(0, mg.tensor([0], device=d), mg.ones(1, 4, dtype="float64", device=d)),
     TypeError, r"index_add: source must have x's dtype"),
    (lambda d: mg.ones(2, device=d).clamp_("1"), TypeError, r"clamp_: expected a number, got str"),
    (lambda d: mg.ones(2, device=d).clamp_(mg.ones(2, device=d), 3), TypeError, r"clamp: min and max must both be tensors"),
    (lambda d: mg.ones(2, dtype="int64", device=d).clamp_(0.5), TypeError,
     r"clamp_: clamping int64\[2\] to \[0.5, None\] needs another dtype for the result"),
    (lambda d: mg.ones(2, dtype="bool", device=d).clamp_(0), TypeError, r"clamp_: clamping bool\[2\]"),
    (lambda d: mg.ones(2, device=d).clamp_(), ValueError, r"clamp_: at least one of min and max must be given"),
    (lambda d: mg.ones(2, device=d).fill_(None), TypeError, r"fill_: expected a number, got NoneType"),
    (lambda d: mg.ones(2, device=d).fill_(mg.ones(2, device=d)), ValueError, r"fill_: a tensor value must be 0-d"),
    (lambda d: mg.ones(2, device=d).add_(1, alpha="x"), TypeError, r"add_ \(alpha\): expected a number, got str"),
    (lambda d: mg.nn.utils.clip_grad_norm_([mg.ones(2, device=d)], "a"), TypeError,
     r"clip_grad_norm_: max_norm must be a number, got str 'a'"),
    (lambda d: mg.nn.utils.clip_grad_value_([mg.ones(2, device=d)], None), TypeError,
     r"clip_grad_value_: clip_value must be a number, got NoneType"),
    (lambda d: mg.where(mg.ones(2, device=d) > 0, mg.ones(2, device=d)), TypeError,
     r"where: give both values \(where\(condition, a, b\)\) or neither"),
    (lambda d: mg.ones(2, device=d).masked_fill(mg.tensor([1, 0], device=d), 0.0), TypeError,
     r"masked_fill: mask must be a bool tensor, got int64\[2\]"),
    (lambda d: mg.ones(2, device=d).masked_fill(mg.tensor([True, False], device=d), mg.ones(2, device=d)), ValueError,
     r"masked_fill: value must be a number or a 0-d tensor, got float32\[2\]"),
    (lambda d: mg.ones(2, device=d).masked_fill(mg.tensor([True, False, True], device=d), 0.0), ValueError,
     r"masked_fill: shapes \[3\] and \[\] and \[2\] do not broadcast \(bool\[3\]"),
    (lambda d: F.one_hot(mg.tensor([0.0, 1.0], device=d)), TypeError, r"one_hot: expected an integer tensor"),
    (lambda d: F.one_hot(mg.tensor([0, 3], device=d), 3), ValueError,
     r"one_hot: class index 3 of int64\[2\].* is outside \[0, 3\)"),
    (lambda d: F.one_hot(mg.tensor([], dtype="int64", device=d)), ValueError, r"one_hot: cannot infer num_classes"),
    (lambda d: mg.ones(2, 3, device=d).index_select(1, mg.tensor([3], device=d)), IndexError,
     r"index_select: index 3 is out of range for dimension 1 of size 3"),
    (lambda d: mg.ones(2, 3, device=d).index_select(1, mg.tensor([[0]], device=d)), TypeError,
     r"index_select: index must be a 1-D integer tensor, got int64\[1, 1\]"),
    (lambda d: mg.ones(2, 3, device=d).repeat(2), ValueError, r"repeat: needs at least one repeat per dimension"),
    (lambda d: mg.ones(3, device=d).tril(), ValueError, r"tril: expects a tensor with at least 2 dimensions"),
    (lambda d: mg.ones(2, 3, device=d).topk(4), ValueError, r"topk: k must be an int in \[0, 3\] for dimension 1"),
    (lambda d: mg.ones(2, 3, device=d).prod((0, 1)), TypeError, r"prod: dim must be one int"),
    (lambda d: mg.ones(2, 3, device=d).roll((1, 2), 0), ValueError, r"roll: shifts \(1, 2\) and dims \(0,\) must have"),
    (lambda d: mg.ones(2, 3, device=d).masked_select(mg.ones(3, device=d)), TypeError,
     r"masked_select: mask must be a bool tensor, got float32\[3\]"),
    (lambda d: mg.ones(2, 3, device=d).flip(2), IndexError, r"flip: dim 2 is out of range"),
    (lambda d: mg.ones(2, 3, device=d).cumsum(2), IndexError, r"cumsum: dim 2 is out of range"),
    (lambda d: mg.tensor([1, 2], device=d).var(), TypeError, r"var: expected a floating-point tensor, got int64\[2\]"),
    (lambda d: mg.full((2,), "1", device=d), TypeError, r"full: fill_value must be a real number, got str '1'"),
    (lambda d: F.dropout(mg.ones(2, device=d), p="0.5"), TypeError, r"dropout: p must be a number in \[0, 1\], got str"),
    (lambda d: mg.ones(2, device=d).__setitem__(0, [1.0, 2.0]), ValueError,
     r"__setitem__: cannot assign \[1\.0, 2\.0\] to float32\[2\] on {device} at index 0"),
    (lambda d: mg.ones(2, device=d) * None, TypeError, r"mul: unsupported operand None"),
    (lambda d: mg.tensor("abc", device=d), TypeError, r"tensor: cannot make a tensor from data of dtype <U3"),
    (lambda d: mg.tensor([1, 2], device=d) ** -1, ValueError,
     r"pow: Integers to negative integer powers are not allowed.*int64\[2\]"),
    (lambda d: mg.set_default_dtype("int32"), TypeError,
     r"set_default_dtype: expected a floating dtype \(float16/32/64\), got int32"),
]


@pytest.mark.parametrize("fn,exc,msg", DTYPE_ERRORS)
def test_dtype_and_operand_errors(device, fn, exc, msg):
    """`{device}` in a message stands for the tensor's device as messages spell it ('cpu', 'cuda:0')."""
    with pytest.raises(exc, match=msg.replace("{device}", device_regex(device))):
        fn(device)


# ---------------------------------------------------------------- devices
def test_unknown_and_unavailable_devices():
    with pytest.raises(ValueError, match=r"device: unknown device 'tpu'; expected 'cpu', 'cuda' or 'cuda:N'"):
        mg.ones(2, device="tpu")
    with pytest.raises(ValueError, match=r"cannot parse 'cuda:x'"):
        mg.ones(2, device="cuda:x")
    if not mg.cuda_available():
        with pytest.raises(RuntimeError, match=r"device 'cuda': CUDA is not available.*pip install minigrad\[gpu\]"):
            mg.ones(2, device="cuda")
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            mg.ones(2).to("cuda")
    else:
        n = mg.backend.cupy.cuda.runtime.getDeviceCount()
        with pytest.raises(RuntimeError, match=rf"there are {n} CUDA device\(s\)"):
            mg.ones(2, device=f"cuda:{n}")


@needs_cuda
@pytest.mark.parametrize("op,name", [
    (lambda a, b: a + b, "add"), (lambda a, b: a * b, "mul"), (lambda a, b: a @ b, "matmul"),
    (mg.maximum, "maximum"), (lambda a, b: mg.cat([a, b]), "cat"),
])
def test_device_mismatch_names_both_devices(op, name):
    a, b = mg.ones(2, 2), mg.ones(2, 2, device="cuda")
    with pytest.raises((RuntimeError, TypeError), match=rf"{name}: .*cpu.*cuda:0"):
        op(a, b)


@needs_cuda
def test_device_mismatch_in_losses_and_embedding():
    with pytest.raises(RuntimeError, match=r"cross_entropy: input is on cuda:0 but target is on cpu"):
        F.cross_entropy(mg.ones(2, 3, device="cuda"), mg.tensor([0, 1]))
    with pytest.raises(RuntimeError, match=r"embedding: indices are on cpu but weight is on cuda:0"):
        F.embedding(mg.tensor([0, 1]), mg.ones(3, 2, device="cuda"))


# ---------------------------------------------------------------- out-of-range indices and targets
INDEX_ERRORS = [
    (lambda x: x[5], r"getitem: index 5 is out of range for dimension 0 of size 2 \(float32\[2, 3\]"),
    (lambda x: x[-3], r"getitem: index -3 is out of range for dimension 0 of size 2"),
    (lambda x: x[[0, 7]], r"getitem: index 7 is out of range for dimension 0 of size 2"),
    (lambda x: x[:, [-4]], r"getitem: index -4 is out of range for dimension 1 of size 3"),
    (lambda x: x[..., 3], r"getitem: index 3 is out of range for dimension 1 of size 3"),
    (lambda x: x[0, 0, 0], r"getitem: too many indices for float32\[2, 3\]"),
    (lambda x: x[np.array([True, False, True])],
     r"getitem: boolean mask of shape \[3\] does not match the shape \[2\] of the dims it indexes \(from dim 0\)"),
    (lambda x: x[:, np.array([True, False])],
     r"getitem: boolean mask of shape \[2\] does not match the shape \[3\] .*\(from dim 1\)"),
    (lambda x: x[np.ones((3, 2), dtype=bool)], r"getitem: boolean mask of shape \[3, 2\] does not match"),
    (lambda x: x.__setitem__(5, 1.0), r"__setitem__: index 5 is out of range for dimension 0 of size 2"),
    (lambda x: x.__setitem__(np.array([True]), 1.0), r"__setitem__: boolean mask of shape \[1\] does not match"),
    (lambda x: F.embedding(mg.tensor([[0, 9]], device=x.device), mg.ones(4, 2, device=x.device)),
     r"embedding: index 9 is out of range for 4 embeddings \(expected 0\.\.3\)"),
    (lambda x: F.embedding(mg.tensor([-1], device=x.device), mg.ones(4, 2, device=x.device)),
     r"embedding: index -1 is out of range for 4 embeddings"),
    (lambda x: F.cross_entropy(x, mg.tensor([0, 3], device=x.device)),
     r"cross_entropy: target value 3 is out of range for 3 classes \(expected 0\.\.2 or ignore_index=-100\)"),
    (lambda x: F.cross_entropy(x, mg.tensor([-1, 0], device=x.device), ignore_index=0),
     r"cross_entropy: target value -1 is out of range for 3 classes \(expected 0\.\.2 or ignore_index=0\)"),
    (lambda x: F.nll_loss(x, mg.tensor([-5, 1], device=x.device)), r"nll_loss: target value -5 is out of range"),
]


@pytest.mark.parametrize("fn,msg", INDEX_ERRORS)
def test_out_of_range_indices(device, fn, msg):
    x = mg.ones(2, 3, device=device)
    with pytest.raises(IndexError, match=msg):
        fn(x)


# ---------------------------------------------------------------- other argument errors
ARG_ERRORS = [
    (lambda x: F.cross_entropy(x, mg.tensor([0, 1]), reduction="avg"), ValueError,
     r"cross_entropy: reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"),
    (lambda x: F.cross_entropy(x, mg.tensor([0, 1]), label_smoothing=1.0), ValueError,
     r"cross_entropy: label_smoothing must be in \[0, 1\), got 1.0"),
    (lambda x: F.nll_loss(x, mg.tensor([0, 1]), reduction="all"), ValueError, r"nll_loss: reduction must be"),
    (lambda x: F.mse_loss(x, x, reduction="avg"), ValueError, r"mse_loss: reduction must be one of"),
    (lambda x: x.clamp(), ValueError, r"clamp: at least one of min and max must be given"),
    (lambda x: x.clamp(min="a"), TypeError, r"clamp: expected a number, got str"),
    (lambda x: F.dropout(x, -0.1), ValueError, r"dropout: p must be in \[0, 1\], got -0.1"),
    (lambda x: mg.cat([]), ValueError, r"cat: expected a non-empty sequence of tensors"),
    (lambda x: mg.stack([x, x.numpy()]), TypeError, r"stack: expected Tensors, got ndarray"),
    (lambda x: mg.cat([mg.tensor(1.0), mg.tensor(2.0)]), ValueError, r"cat: zero-dimensional tensors cannot be "
                                                                     r"concatenated; use stack"),
    (lambda x: mg.where(mg.tensor([1, 0]), x, x), TypeError, r"where: condition must be a bool tensor, got int64"),
    (lambda x: len(mg.tensor(1.0)), TypeError, r"len\(\) of a 0-d tensor"),
    (lambda x: bool(x), RuntimeError, r"bool value of a tensor with 6 elements is ambiguous"),
    (lambda x: mg.zeros(-1), ValueError, r"expected a shape of non-negative ints, got \(-1,\)"),
]


@pytest.mark.parametrize("fn,exc,msg", ARG_ERRORS)
def test_argument_errors(fn, exc, msg):
    with pytest.raises(exc, match=msg):
        fn(mg.ones(2, 3))


# ---------------------------------------------------------------- out of memory
HUGE = 2 ** 25  # (HUGE, HUGE) float32 is 4 PiB: more than any machine's address space, so it always fails


class _HungryBackward(mg.Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        raise MemoryError("simulated: the backward could not allocate")


def test_out_of_memory_names_the_op_and_what_it_allocated():
    """NumPy's bare MemoryError becomes mg.OutOfMemoryError (a RuntimeError as in torch, and a MemoryError)."""
    with pytest.raises(mg.OutOfMemoryError, match=rf"zeros: not enough memory for a float32 tensor of shape "
                                                  rf"\({HUGE}, {HUGE}\) on cpu"):
        mg.zeros(HUGE, HUGE)
    with pytest.raises(RuntimeError, match=r"arange: not enough memory for a float32 tensor on cpu"):
        mg.arange(0, 3, 1e-15)
    big = mg.ones(1, 1).expand(HUGE, HUGE)  # a view: no memory yet
    with pytest.raises(MemoryError, match=rf"MulScalar: not enough memory for its forward on float32\[{HUGE}, {HUGE}\]"):
        big * 2.0
    x = mg.ones(2, requires_grad=True)
    y = _HungryBackward.apply(x).sum()
    with pytest.raises(mg.OutOfMemoryError, match=r"_HungryBackward: not enough memory for its backward on "
                                                  r"float32\[2\] \(simulated"):
        y.backward()
