"""Checkpoints: mg.save / mg.load round trips, error reporting and crash safety."""
import math
import os
import stat
import struct
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.io as mio
from minigrad import backend as B
from minigrad.io import CheckpointError
from minigrad.nn import Module, Parameter


# ---------------------------------------------------------------- helpers
def assert_same(a, b, path="obj"):
    """Exact structural equality: same types, same keys in the same order, same array bytes."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, mg.Tensor):
        assert a.device == b.device, path
        assert_same(a.numpy(), b.numpy(), path)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{path}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), path
    elif B.cupy is not None and isinstance(a, B.cupy.ndarray):
        assert a.device.id == b.device.id, path
        assert_same(B.cupy.asnumpy(a), B.cupy.asnumpy(b), path)
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), path
    elif isinstance(a, float):
        assert struct.pack("<d", a) == struct.pack("<d", b), f"{path}: {a!r} vs {b!r}"  # NaN/-0.0 bit-exact
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def roundtrip(obj, tmp_path, name="ckpt.npz", **kw):
    p = tmp_path / name
    mg.save(obj, p)
    return mg.load(p, **kw)


class TwoLayer(Module):
    def __init__(self, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.w1 = Parameter(rng.standard_normal((4, 3)).astype(np.float32))
        self.b1 = Parameter(rng.standard_normal(3).astype(np.float32))
        self.inner = Module()
        self.inner.w2 = Parameter(rng.standard_normal((3, 2)))  # float64 on purpose
        self.register_buffer("steps", mg.tensor(np.array([7], dtype=np.int64)))


# ---------------------------------------------------------------- round trips
def test_roundtrip_dtypes_and_shapes_bit_exact(tmp_path):
    f32 = np.array([0.0, -0.0, 1.5, np.inf, -np.inf, np.nan, 1e-45, 3.4028235e38], dtype=np.float32)
    payload_nan = np.frombuffer(struct.pack("<I", 0x7FC12345), dtype=np.float32)  # NaN with a payload
    obj = {
        "f32": f32,
        "nan_payload": payload_nan.copy(),
        "f64": np.random.default_rng(0).standard_normal((3, 4)),
        "f16": np.array([1.0, 65504.0, -np.inf], dtype=np.float16),
        "i64": np.array([np.iinfo(np.int64).min, -1, 0, np.iinfo(np.int64).max], dtype=np.int64),
        "u8": np.arange(256, dtype=np.uint8),
        "bool": np.array([[True, False], [False, True]]),
        "zero_d": np.array(3.25, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float64),
        "empty_int": np.zeros((2, 0, 4), dtype=np.int32),
        "fortran": np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
        "strided": np.arange(20, dtype=np.int64)[::3],
        "big_endian": np.array([1.0, 2.0], dtype=">f8"),
        "np_scalars": [np.float32(1.5), np.int64(-3), np.bool_(True), np.float64(np.nan)],
        "complex": np.array([1 + 2j, -0.5j], dtype=np.complex64),
        "str_array": np.array(["a", "héllo"]),
    }
    out = roundtrip(obj, tmp_path)
    assert_same(obj, out)
    assert isinstance(out["np_scalars"][0], np.float32)


def test_roundtrip_python_values_and_structure(tmp_path):
    obj = OrderedDict([
        ("zeta", 1), ("alpha", 2),  # insertion order, not sorted order
        ("none", None), ("t", True), ("f", False),
        ("big", 2 ** 200 + 12345), ("neg_big", -(2 ** 64)), ("int64_edge", 2 ** 63 - 1),
        ("floats", [0.1, -0.0, 1e308, 5e-324, math.inf, -math.inf, math.nan]),
        ("unicode", "naïve 日本語 🙂 \u0000 \"quoted\" \\ back"),
        ("tuple", (1, (2.0, "x"), [])),
        ("empty", {"d": {}, "l": [], "t": ()}),
        ("int_keys", {0: "a", 10: "b", -1: "c"}),
        ("bytes", b"\x00\xffabc"),
        ("", "empty key"),
    ])
    out = roundtrip(obj, tmp_path)
    assert type(out) is OrderedDict
    assert_same(obj, out)
    assert type(out["int_keys"]) is dict and list(out["int_keys"]) == [0, 10, -1]
    assert out["t"] is True and out["tuple"][1] == (2.0, "x")


def test_tensors_stay_tensors(tmp_path, device):
    x = mg.randn(3, 4, device=device)
    p = Parameter(np.ones((2, 2), dtype=np.float64))
    i = mg.arange(5, device=device)
    out = roundtrip({"x": x, "p": p, "i": i, "s": mg.tensor(2.5)}, tmp_path)
    for k in ("x", "p", "i", "s"):
        assert type(out[k]) is mg.Tensor  # a Parameter comes back as a plain Tensor
        assert out[k].requires_grad is False  # not stored (documented)
    assert out["x"].device == x.device and out["i"].device == i.device
    assert out["x"].dtype == np.float32 and out["p"].dtype == np.float64 and out["i"].dtype == np.int64
    assert out["s"].shape == ()
    assert_same(x.numpy(), out["x"].numpy())
    on_cpu = roundtrip({"x": x, "raw": x.data}, tmp_path, name="c.npz", device="cpu")
    assert on_cpu["x"].device == "cpu" and isinstance(on_cpu["raw"], np.ndarray)
    assert_same(x.numpy(), on_cpu["x"].numpy())
    raw = roundtrip(x.data, tmp_path, name="raw.npz")  # a raw NumPy/CuPy array comes back as one
    assert type(raw) is type(x.data)
    assert_same(x.data, raw)


def test_requires_grad_tensor_saves_values_only(tmp_path):
    w = mg.randn(2, 3, requires_grad=True)
    (w * 2).sum().backward()
    out = roundtrip(w, tmp_path)
    assert out.requires_grad is False and out.grad is None and out.grad_fn is None
    assert_same(w.numpy(), out.numpy())


def test_module_state_dict_roundtrip(tmp_path):
    src, dst = TwoLayer(seed=1), TwoLayer(seed=2)
    assert not np.array_equal(src.w1.numpy(), dst.w1.numpy())
    dst.steps.data[...] = 0
    ckpt = roundtrip({"model": src.state_dict(), "step": 12}, tmp_path)
    assert list(ckpt["model"].keys()) == list(src.state_dict().keys())
    dst.load_state_dict(ckpt["model"])
    for (n1, a), (n2, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert n1 == n2
        assert_same(a.numpy(), b.numpy(), n1)
    assert isinstance(dst.w1, Parameter) and dst.w1.requires_grad  # the module keeps its Parameters
    assert ckpt["step"] == 12


def test_rng_state_roundtrip_resumes_host_generator(tmp_path):
    mg.manual_seed(123)
    mg.randn(7)  # advance somewhere into the stream
    state = B.get_rng_state()
    expected = mg.randn(5).numpy()
    loaded = roundtrip({"rng": state}, tmp_path)["rng"]
    assert loaded == state  # 128-bit PCG64 integers survive exactly
    mg.manual_seed(999)  # a "new process"
    B.set_rng_state(loaded)
    assert_same(expected, mg.randn(5).numpy())


# Random nested structures: leaves of every supported kind, containers of every kind.
_dtypes = st.sampled_from(["float32", "float64", "float16", "int64", "int32", "uint8", "bool", "complex128"])
_arrays = hnp.arrays(_dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.binary(max_size=8), _arrays,
    _arrays.filter(lambda a: a.dtype.kind in "fiub").map(mg.tensor),
)
_keys = st.one_of(st.text(max_size=6), st.integers(-5, 5))
_trees = st.recursive(
    _leaves,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.lists(kids, max_size=4).map(tuple),
        st.dictionaries(_keys, kids, max_size=4),
    ),
    max_leaves=12,
)


@given(obj=_trees)
def test_roundtrip_random_structures(tmp_path_factory, obj):
    out = roundtrip(obj, tmp_path_factory.mktemp("h"))
    assert_same(obj, out)


# ---------------------------------------------------------------- unsupported objects
@pytest.mark.parametrize("obj, where", [
    ({"a": {"b": [1, object()]}}, "obj['a']['b'][1]"),
    ({"model": {"w": {1, 2}}}, "obj['model']['w']"),
    ([1, 2, 3 + 4j], "obj[2]"),
    ({"x": np.array([None, 1], dtype=object)}, "obj['x']"),
    ({"opt": {(0, 1): 2}}, "obj['opt']"),
])
def test_unsupported_objects_raise_type_error_with_key_path(tmp_path, obj, where):
    with pytest.raises(TypeError) as e:
        mg.save(obj, tmp_path / "bad.npz")
    assert where in str(e.value)
    assert os.listdir(tmp_path) == []  # nothing written, no temp file left


def test_reference_cycle_is_rejected(tmp_path):
    a = [1]
    a.append({"self": a})
    with pytest.raises(ValueError, match=r"obj\[1\]\['self'\]"):
        mg.save(a, tmp_path / "c.npz")
    shared = [1, 2]
    out = roundtrip({"a": shared, "b": shared}, tmp_path)  # shared (not cyclic) is fine: two copies
    assert out == {"a": [1, 2], "b": [1, 2]}


# ---------------------------------------------------------------- bad files
def _expect_checkpoint_error(path, match=None):
    with pytest.raises(CheckpointError) as e:
        mg.load(path)
    assert isinstance(e.value, ValueError)
    assert str(path) in str(e.value)
    if match:
        assert match in str(e.value)
    return e.value


def test_foreign_files_raise_clear_errors(tmp_path):
    rnd = tmp_path / "random.bin"
    rnd.write_bytes(np.random.default_rng(0).bytes(300))
    _expect_checkpoint_error(rnd, "not a minigrad checkpoint")
    txt = tmp_path / "notes.txt"
    txt.write_text("this is not a checkpoint\n")
    _expect_checkpoint_error(txt, "not a minigrad checkpoint")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    _expect_checkpoint_error(empty, "empty file")
    npy = tmp_path / "plain.npy"
    np.save(npy, np.arange(3))
    _expect_checkpoint_error(npy, "not a minigrad checkpoint")
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.arange(3))
    _expect_checkpoint_error(plain, "__minigrad_structure__")
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("hello.txt", "hi")
    _expect_checkpoint_error(other_zip)
    with pytest.raises(FileNotFoundError):
        mg.load(tmp_path / "missing.npz")


def _write_raw(path, structure_text, **arrays):
    np.savez(path, __minigrad_structure__=np.frombuffer(structure_text.encode(), dtype=np.uint8), **arrays)


@pytest.mark.parametrize("text, arrays, match", [
    ("{not json", {}, "not valid JSON"),
    ('{"format": "something-else", "version": 1, "tree": 1}', {}, "does not describe"),
    ('{"format": "minigrad-checkpoint", "version": 99, "tree": 1}', {}, "newer"),
    ('{"format": "minigrad-checkpoint", "version": 1}', {}, "no 'tree'"),
    ('{"format": "minigrad-checkpoint", "version": 1, "tree": {"t": "tensor", "key": "t0", "device": "cpu"}}',
     {}, "missing array entry"),
    ('{"format": "minigrad-checkpoint", "version": 1, "tree": {"t": "ndarray", "key": "t0", "device": "cpu",'
     ' "dtype": "<f4", "shape": [3]}}', {"t0": np.zeros(3)}, "dtype"),
    ('{"format": "minigrad-checkpoint", "version": 1, "tree": {"t": "dict", "items": [["a", {"t": "weird"}]]}}',
     {}, "unknown node type 'weird'"),
    ('{"format": "minigrad-checkpoint", "version": 1, "tree": {"t": "list"}}', {}, "malformed"),
])
def test_inconsistent_structure_raises(tmp_path, text, arrays, match):
    p = tmp_path / "odd.npz"
    _write_raw(p, text, **arrays)
    _expect_checkpoint_error(p, match)


@pytest.fixture
def good_checkpoint(tmp_path):
    obj = {"w": np.arange(200, dtype=np.float64).reshape(20, 10), "t": mg.ones(16), "step": 3}
    p = tmp_path / "good.npz"
    mg.save(obj, p)
    return p, obj


def test_truncated_files_raise(good_checkpoint):
    p, _ = good_checkpoint
    data = p.read_bytes()
    for cut in sorted({1, 3, 4, 10, 64, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1}):
        p.write_bytes(data[:cut])
        _expect_checkpoint_error(p)


def test_corrupted_bytes_never_load_silently_wrong(good_checkpoint):
    p, obj = good_checkpoint
    data = p.read_bytes()
    # a flipped bit inside the float data must be caught (zip CRC-32)
    offset = data.index(np.arange(200, dtype=np.float64)[100:101].tobytes())
    bad = bytearray(data)
    bad[offset] ^= 0x01
    p.write_bytes(bytes(bad))
    _expect_checkpoint_error(p, "corrupted")
    # anywhere else: either a clear error or (a harmless header field such as a timestamp) the same data
    for pos in range(0, len(data), max(1, len(data) // 97)):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        p.write_bytes(bytes(bad))
        try:
            out = mg.load(p)
        except CheckpointError as e:
            assert str(p) in str(e)
        else:
            assert_same(obj, out)


# ---------------------------------------------------------------- atomic writes
def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    p = tmp_path / "model.npz"
    old = {"w": np.arange(1000, dtype=np.float32), "step": 1}
    mg.save(old, p)

    real = mio._write_archive

    def crash_halfway(f, arrays):
        import io
        buf = io.BytesIO()
        real(buf, arrays)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])  # half the archive reaches the temp file
        raise RuntimeError("simulated crash mid-write")

    monkeypatch.setattr(mio, "_write_archive", crash_halfway)
    with pytest.raises(RuntimeError, match="simulated crash"):
        mg.save({"w": np.zeros(1000, dtype=np.float32), "step": 2}, p)
    assert os.listdir(tmp_path) == ["model.npz"]  # the temp file was removed
    assert_same(old, mg.load(p))

    def interrupted(f, arrays):
        f.write(b"PK\x03\x04partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(mio, "_write_archive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mg.save({"step": 3}, p)
    assert os.listdir(tmp_path) == ["model.npz"]
    assert_same(old, mg.load(p))


def test_crash_in_fsync_or_replace_keeps_previous_checkpoint(tmp_path, monkeypatch):
    p = tmp_path / "model.npz"
    mg.save({"v": 1}, p)

    def boom(*a, **k):
        raise OSError("disk on fire")

    with monkeypatch.context() as m:
        m.setattr(mio.os, "fsync", boom)
        with pytest.raises(OSError, match="disk on fire"):
            mg.save({"v": 2}, p)
    assert os.listdir(tmp_path) == ["model.npz"] and mg.load(p) == {"v": 1}
    with monkeypatch.context() as m:
        m.setattr(mio.os, "replace", boom)
        with pytest.raises(OSError):
            mg.save({"v": 3}, p)
    assert os.listdir(tmp_path) == ["model.npz"] and mg.load(p) == {"v": 1}
    # a crash while creating a brand-new checkpoint leaves nothing behind
    with monkeypatch.context() as m:
        m.setattr(mio.os, "fsync", boom)
        with pytest.raises(OSError):
            mg.save({"v": 4}, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == ["model.npz"]
    mg.save({"v": 5}, p)  # and after all that, saving works and replaces the old file
    assert mg.load(p) == {"v": 5}


def test_path_used_as_given_and_permissions(tmp_path):
    p = tmp_path / "weights.ckpt"  # no .npz appended (np.savez would add one to a bare name)
    mg.save([1, 2], str(p))
    assert os.listdir(tmp_path) == ["weights.ckpt"]
    assert mg.load(str(p)) == [1, 2]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    with np.load(p, allow_pickle=False) as z:  # an ordinary npz for other tools
        assert "__minigrad_structure__" in z.files


def test_save_into_a_missing_directory_names_the_target(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"save: the directory .*missing of '.*missing/x.npz' does not exist"):
        mg.save({"a": mg.ones(2)}, tmp_path / "missing" / "x.npz")
