"""torch's device and runtime namespace on minigrad: mg.device, mg.cuda, mg.backends.cudnn/mps/mkldnn,
set_num_threads, finfo/iinfo, set_printoptions and use_deterministic_algorithms, each checked
against the installed torch (a CPU build here: its answers are those of a machine without a GPU).

The GPU-only tests are skipped without CuPy and a GPU; the `device` tests run on every backend.
"""
import copy
import gc
import pickle
import warnings

import numpy as np
import pytest
from opcheck import canonical

import minigrad as mg
from minigrad import backend as _B
from minigrad import nn, runtime

GPU = mg.cuda.is_available()
needs_gpu = pytest.mark.skipif(not GPU, reason="needs a CUDA GPU with CuPy")
cpu_build = pytest.mark.skipif(GPU, reason="checks the answers of a machine without a GPU")


# ================================================================ mg.device
SPELLINGS = [("cpu",), ("cuda",), ("cuda:0",), ("cuda:1",), ("cuda", 1), ("cuda", 0), ("cpu", 0), ("cpu:0",),
             ("cuda:12",)]


@pytest.mark.parametrize("args", SPELLINGS)
def test_device_reads_and_prints_as_torch(args):
    torch = pytest.importorskip("torch")
    ours, theirs = mg.device(*args), torch.device(*args)
    assert (str(ours), repr(ours), ours.type, ours.index) == (str(theirs), repr(theirs), theirs.type, theirs.index)
    assert type(str(ours)) is str and isinstance(ours, str)  # a str: string comparisons keep working
    assert ours == str(theirs) and mg.device(theirs) == ours  # a torch.device converts too
    assert mg.device(ours) is ours  # already canonical: the same object


def test_device_equality_and_hashing_follow_torch():
    torch = pytest.importorskip("torch")
    for a in SPELLINGS:
        for b in SPELLINGS:
            assert (mg.device(*a) == mg.device(*b)) == (torch.device(*a) == torch.device(*b)), (a, b)
    assert hash(mg.device("cuda", 1)) == hash(mg.device("cuda:1"))
    assert len({mg.device("cuda"), mg.device("cuda:0"), mg.device("cuda", 0)}) == 2  # 'cuda' is not 'cuda:0'
    assert {mg.device("cpu"): 1}["cpu"] == 1 and mg.device("cpu") == "cpu"  # (torch: False; ours: True)


def test_device_pickles_copies_and_shows_as_minigrad_device():
    d = mg.device("cuda", 3)  # making one checks the spelling only, as torch: no GPU needed
    for back in (pickle.loads(pickle.dumps(d)), copy.deepcopy(d), copy.copy(d)):
        assert type(back) is mg.device and back == d and back.index == 3
    assert mg.device.__module__ == "minigrad" and mg.device is mg.device("cpu").__class__
    with pytest.raises(AttributeError):
        d.index = 2  # immutable, as torch's


@pytest.mark.parametrize("args,exc,msg", [
    (("tpu",), ValueError, r"device: unknown device 'tpu'; expected 'cpu', 'cuda' or 'cuda:N'"),
    (("",), ValueError, "unknown device ''"),
    (("cuda:x",), ValueError, r"cannot parse 'cuda:x'"),
    (("cuda:-1",), ValueError, r"cannot parse 'cuda:-1'"),
    (("cuda:1:2",), ValueError, r"cannot parse 'cuda:1:2'"),
    (("cuda:1", 2), ValueError, r"'cuda:1' already names an index"),
    (("cuda", -1), ValueError, "must not be negative"),
    (("cuda", "a"), TypeError, "the index must be an int, got str"),
    (("mps",), ValueError, "unknown device 'mps'"),  # torch knows it; minigrad does not run there
])
def test_bad_device_names_are_refused_clearly(args, exc, msg):
    with pytest.raises(exc, match=msg):
        mg.device(*args)
    torch = pytest.importorskip("torch")
    if args[0] != "mps":  # torch refuses all the others too
        with pytest.raises((RuntimeError, TypeError)):
            torch.device(*args)


def test_parse_device_accepts_every_spelling_and_caches_only_strings():
    torch = pytest.importorskip("torch")
    p = _B.parse_device
    for spelling in ("cpu", "CPU", " cpu ", "cpu:0", mg.device("cpu"), torch.device("cpu"), None):
        assert p(spelling) == "cpu" and type(p(spelling)) is mg.device
    with pytest.raises(ValueError, match="unknown device True"):
        p(True)  # (True == 1 as a dict key: the cache must not answer for it)
    if not GPU:
        for spelling in ("cuda", mg.device("cuda", 1), torch.device("cuda:0"), 0):
            with pytest.raises(RuntimeError, match="CUDA is not available"):
                p(spelling)
        with pytest.raises(RuntimeError, match=r"device 'cuda': CUDA is not available.*pip install"):
            mg.zeros(2, device=mg.device("cuda"))


def test_device_is_accepted_wherever_a_device_string_is(device, tmp_path):
    torch = pytest.importorskip("torch")
    dev = mg.device(device)
    want = canonical(device)
    assert type(want) is mg.device and str(want) in ("cpu", "cuda:0")
    for x in (mg.zeros(2, device=dev), mg.tensor([1.0, 2.0], device=dev), mg.ones(2).to(dev),
              mg.ones(2).to(dev, mg.float64), mg.ones(2).to(device=dev, non_blocking=True),
              mg.randn(2, device=dev), mg.arange(3, device=torch.device(device)), mg.ones(2).new_zeros(3, device=dev)):
        assert x.device == want and type(x.device) is mg.device
        assert str(x.device) == str(torch.empty(0).device) if device == "cpu" else str(x.device) == "cuda:0"
        assert (x.device.type, x.device.index) == (("cpu", None) if device == "cpu" else ("cuda", 0))
    model = nn.Linear(2, 3).to(dev)
    assert all(p.device == want for p in model.parameters())
    mg.save({"w": mg.ones(2, device=dev)}, tmp_path / "c.npz")
    assert mg.load(tmp_path / "c.npz", map_location=dev)["w"].device == want
    assert mg.load(tmp_path / "c.npz", map_location=mg.device("cpu"))["w"].device == "cpu"
    assert mg.Generator(device=mg.device("cpu")).device == "cpu"
    if device == "cpu":
        assert repr(mg.zeros(1).device) == repr(torch.zeros(1).device) == "device(type='cpu')"


# ================================================================ a torch script's first lines, ported
def _preamble_and_training(lib, nn_lib, state, data, target):
    """What a typical torch script does first, then a few SGD steps of a small model on `device`."""
    device = lib.device("cuda" if lib.cuda.is_available() else "cpu")
    lib.backends.cudnn.benchmark = True
    lib.backends.cudnn.deterministic = True
    lib.manual_seed(0)
    lib.cuda.manual_seed_all(0)
    lib.set_num_threads(1)
    model = nn_lib.Sequential(nn_lib.Linear(3, 4), nn_lib.Tanh(), nn_lib.Linear(4, 1)).double().to(device)
    model.load_state_dict({k: lib.tensor(v) for k, v in state.items()})
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    x = lib.tensor(data).to(device)
    y = lib.tensor(target).to(device)
    eps = lib.finfo(x.dtype).eps
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean() + eps
        loss.backward()
        opt.step()
        losses.append(loss.item())
    weights = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return str(device), device.type, eps, lib.get_num_threads(), losses, weights


def test_typical_script_preamble_ports_unchanged(restore_runtime):
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    rng = np.random.default_rng(0)
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    state = {k: v.detach().numpy().copy() for k, v in ref.state_dict().items()}
    data, target = rng.standard_normal((6, 3)), rng.standard_normal((6, 1))
    try:
        theirs = _preamble_and_training(torch, torch.nn, state, data, target)
    finally:
        torch.set_num_threads(threads)
        torch.backends.cudnn.benchmark = torch.backends.cudnn.deterministic = False
    ours = _preamble_and_training(mg, nn, state, data, target)
    assert ours[:4] == theirs[:4] if not GPU else ours[1:4] == ("cuda",) + theirs[2:4]
    np.testing.assert_allclose(ours[4], theirs[4], rtol=1e-12)
    for k in state:
        np.testing.assert_allclose(ours[5][k], theirs[5][k], rtol=1e-12, atol=1e-15)


# ================================================================ mg.cuda
NEED_A_GPU = [("current_device", ()), ("synchronize", ()), ("get_device_name", ()), ("get_device_name", (0,)),
              ("get_device_properties", (0,)), ("get_device_capability", ()), ("init", ()), ("set_device", (0,)),
              ("set_device", ("cuda:0",)), ("mem_get_info", ())]


@cpu_build
@pytest.mark.parametrize("name,args", NEED_A_GPU)
def test_cuda_functions_that_need_a_gpu_raise_naming_themselves(name, args):
    with pytest.raises(RuntimeError, match=rf"mg\.cuda\.{name}: CUDA is not available"):
        getattr(mg.cuda, name)(*args)
    torch = pytest.importorskip("torch")
    with pytest.raises((AssertionError, AttributeError, RuntimeError)):  # torch's CPU build raises too
        getattr(torch.cuda, name)(*args)


@cpu_build
def test_cuda_without_a_gpu_answers_as_torchs_cpu_build():
    torch = pytest.importorskip("torch")
    for name in ("is_available", "device_count", "is_initialized", "memory_allocated", "max_memory_allocated",
                 "memory_reserved", "max_memory_reserved", "empty_cache", "is_bf16_supported"):
        assert getattr(mg.cuda, name)() == getattr(torch.cuda, name)(), name
    assert mg.cuda.memory_allocated(0) == mg.cuda.memory_allocated("cuda:1") == 0
    assert mg.cuda.set_device(-1) is None and torch.cuda.set_device(-1) is None  # negative: ignored
    with pytest.raises(ValueError, match="set_device: expected a cuda device, got 'cpu'"):
        mg.cuda.set_device("cpu")


def test_cuda_seeding_leaves_minigrads_generator_alone(device):
    """minigrad draws everything (GPU draws too) from the host generator that mg.manual_seed seeds."""
    mg.manual_seed(5)
    a = mg.randn(4, device=device).numpy()
    mg.manual_seed(5)
    mg.cuda.manual_seed(123)
    mg.cuda.manual_seed_all(7)
    b = mg.randn(4, device=device).numpy()
    np.testing.assert_array_equal(a, b)
    x = mg.ones(1000, device=device)
    mg.manual_seed(1)
    d1 = mg.nn.functional.dropout(x, 0.5).numpy()
    mg.manual_seed(1)
    mg.cuda.manual_seed_all(99)
    np.testing.assert_array_equal(d1, mg.nn.functional.dropout(x, 0.5).numpy())


def test_out_of_memory_error_is_torchs():
    assert mg.cuda.OutOfMemoryError is mg.OutOfMemoryError
    assert issubclass(mg.cuda.OutOfMemoryError, RuntimeError) and issubclass(mg.OutOfMemoryError, MemoryError)


def test_memory_counters_follow_gpu_tensors(device):
    gc.collect()  # (no garbage from earlier tests freed while we count)
    before = mg.cuda.memory_allocated()
    x = mg.zeros(2 ** 18, device=device)  # 1 MiB of float32
    grown = mg.cuda.memory_allocated() - before
    if device == "cpu":
        assert grown == 0  # host arrays are not GPU memory
    else:
        assert grown >= 2 ** 20
        assert mg.cuda.memory_reserved() >= mg.cuda.memory_allocated() >= 2 ** 20
        assert mg.cuda.max_memory_allocated() >= mg.cuda.memory_allocated()
        mg.cuda.synchronize()
    del x
    assert mg.cuda.memory_allocated() == before


@needs_gpu
def test_cuda_device_queries_on_a_gpu():
    n = mg.cuda.device_count()
    assert n == _B.cupy.cuda.runtime.getDeviceCount() >= 1 and mg.cuda.is_initialized()
    assert mg.cuda.current_device() == 0
    name = mg.cuda.get_device_name(0)
    assert isinstance(name, str) and name and mg.cuda.get_device_name() == name == mg.cuda.get_device_name("cuda:0")
    props = mg.cuda.get_device_properties(mg.device("cuda", 0))
    assert props.name == name and props.total_memory > 2 ** 30 and props.multi_processor_count > 0
    assert mg.cuda.get_device_capability(0) == (props.major, props.minor) and props.major >= 3
    assert f"name='{name}'" in repr(props)
    free, total = mg.cuda.mem_get_info()
    assert 0 < free <= total
    with pytest.raises(RuntimeError, match=rf"there are {n} CUDA device\(s\)"):
        mg.cuda.get_device_name(n)
    with pytest.raises(ValueError, match="expected a cuda device"):
        mg.cuda.memory_allocated("cpu")


@needs_gpu
def test_empty_cache_and_peaks_on_a_gpu():
    mg.cuda.empty_cache()  # no free blocks left: the next tensor gets a block of its own
    x = mg.zeros(2 ** 20, device="cuda")  # 4 MiB
    reserved = mg.cuda.memory_reserved()
    del x
    assert mg.cuda.memory_reserved() == reserved  # kept in CuPy's pool for reuse
    mg.cuda.empty_cache()
    assert mg.cuda.memory_reserved() <= reserved - 2 ** 22
    assert mg.cuda.max_memory_reserved() >= reserved and mg.cuda.max_memory_allocated() >= reserved


@needs_gpu
def test_set_device_moves_what_cuda_means():
    mg.cuda.set_device(0)
    assert mg.zeros(1, device="cuda").device == "cuda:0" and mg.ones(1).cuda().device == "cuda:0"
    if mg.cuda.device_count() > 1:
        try:
            mg.cuda.set_device(mg.device("cuda", 1))
            assert mg.cuda.current_device() == 1
            assert mg.zeros(1, device="cuda").device == "cuda:1" and mg.ones(1).cuda().device == "cuda:1"
            assert mg.zeros(1, device="cuda:0").device == "cuda:0"
        finally:
            mg.cuda.set_device(0)


# ================================================================ mg.backends
@pytest.fixture
def restore_runtime():
    """Put back every process-wide switch these tests touch."""
    cudnn = dict(mg.backends.cudnn._values)
    threads, interop = mg.get_num_threads(), runtime._interop_threads
    cap, printing = _B.intra_op_threads, runtime.get_printoptions()
    yield
    mg.backends.cudnn._values.update(cudnn)
    mg.set_num_threads(threads)
    _B.intra_op_threads, runtime._interop_threads = cap, interop
    runtime._opts.update(printing)
    mg.use_deterministic_algorithms(False)


def test_cudnn_flags_have_torchs_defaults_and_types(restore_runtime):
    torch = pytest.importorskip("torch")
    cudnn = mg.backends.cudnn
    for flag in ("enabled", "benchmark", "deterministic", "allow_tf32"):
        assert getattr(cudnn, flag) is getattr(torch.backends.cudnn, flag), flag
        setattr(cudnn, flag, not getattr(cudnn, flag))
        assert getattr(cudnn, flag) is not getattr(torch.backends.cudnn, flag)
        for bad in (1, None, "yes"):
            with pytest.raises(TypeError, match=f"cudnn.{flag} must be a bool"):
                setattr(cudnn, flag, bad)
            with pytest.raises(RuntimeError, match="expects a bool"):
                setattr(torch.backends.cudnn, flag, bad)
    with pytest.raises(AttributeError, match="no flag 'benchmarks'"):
        cudnn.benchmarks = True  # a typo is not silently a new attribute
    assert cudnn.is_available() is torch.backends.cudnn.is_available() is False
    assert cudnn.version() is torch.backends.cudnn.version() is None


def test_cudnn_flags_context_restores(restore_runtime):
    cudnn = mg.backends.cudnn
    before = dict(cudnn._values)
    with cudnn.flags(enabled=False, benchmark=True):
        assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32) == (False, True, False, True)
    assert cudnn._values == before
    assert "benchmark=False" in repr(cudnn)


def test_cudnn_flags_change_nothing(device, restore_runtime):
    x = mg.randn(2, 3, 6, 6, device=device)
    conv = nn.Conv2d(3, 4, 3).to(device)
    plain = conv(x).numpy()
    mg.backends.cudnn.benchmark = True
    mg.backends.cudnn.allow_tf32 = False
    mg.backends.cudnn.enabled = False
    np.testing.assert_array_equal(conv(x).numpy(), plain)


def test_other_backends_are_not_available():
    torch = pytest.importorskip("torch")
    assert mg.backends.mps.is_available() is torch.backends.mps.is_available() is False
    assert mg.backends.mps.is_built() is torch.backends.mps.is_built() is False
    assert mg.backends.mkldnn.is_available() is False  # (torch: True; minigrad's CPU ops are NumPy's)
    assert mg.backends.cuda.matmul.allow_tf32 is False  # untouched


# ================================================================ threads
def test_set_num_threads_sets_numpys_blas(restore_runtime):
    torch = pytest.importorskip("torch")
    if _B.blas_threads() is None:
        pytest.skip("NumPy's BLAS here is not an OpenBLAS minigrad can reach")
    mg.set_num_threads(1)
    assert mg.get_num_threads() == 1 == _B.blas_threads()
    mg.set_num_threads(2)
    assert mg.get_num_threads() == 2
    a = mg.randn(64, 64)
    np.testing.assert_allclose((a @ a).numpy(), a.numpy() @ a.numpy(), rtol=1e-5)
    for bad, exc in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)):
        with pytest.raises(exc, match="set_num_threads: expected a positive int"):
            mg.set_num_threads(bad)
        with pytest.raises(RuntimeError):
            torch.set_num_threads(bad)  # torch refuses each too


def test_set_num_threads_caps_row_blocks_and_survives_running_blocks(restore_runtime, monkeypatch):
    if _B.blas_threads() is None:
        pytest.skip("row blocks need NumPy's OpenBLAS")
    monkeypatch.setattr(_B, "row_split_threads", 4)
    monkeypatch.setattr(_B, "row_split_min", 2)
    mg.set_num_threads(4)
    assert len(_B.row_blocks(_B.np, 64)) == 4
    mg.set_num_threads(1)  # torch.set_num_threads(1): one thread, for minigrad's own blocks too
    assert len(_B.row_blocks(_B.np, 64)) == 1
    with _B._single_threaded_blas():  # blocks running: the new count waits for them to end
        mg.set_num_threads(2)
        assert _B.blas_threads() == 2
    assert _B.blas_threads() == 2 == mg.get_num_threads()


def test_set_num_threads_without_openblas_warns_once(restore_runtime, monkeypatch):
    monkeypatch.setattr(_B, "_blas_threads_setter", lambda: None)
    monkeypatch.setattr(runtime, "_warned_no_blas", False)
    with pytest.warns(RuntimeWarning, match="not an OpenBLAS minigrad can reach"):
        mg.set_num_threads(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mg.set_num_threads(3)  # once is enough
    assert mg.get_num_threads() == 3  # the count asked for (it caps minigrad's own threads)


def test_interop_threads(restore_runtime):
    torch = pytest.importorskip("torch")
    assert mg.get_num_interop_threads() == torch.get_num_interop_threads()  # (cores, both)
    mg.set_num_interop_threads(3)
    assert mg.get_num_interop_threads() == 3
    with pytest.raises(ValueError, match="set_num_interop_threads"):
        mg.set_num_interop_threads(0)


# ================================================================ finfo / iinfo
@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_finfo_matches_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = mg.finfo(getattr(mg, name)), torch.finfo(getattr(torch, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(ours, attr) == getattr(theirs, attr) and type(getattr(ours, attr)) is type(getattr(theirs, attr))
    assert ours.dtype == theirs.dtype == name and repr(ours) == repr(theirs)
    assert mg.finfo(name) == ours and hash(mg.finfo(name)) == hash(ours)


def test_finfo_of_torch_names_defaults_and_tensors():
    torch = pytest.importorskip("torch")
    assert mg.finfo(mg.float) == mg.finfo(mg.float32) and mg.finfo(mg.double) == mg.finfo(mg.float64)
    assert mg.finfo(mg.half).eps == torch.finfo(torch.half).eps
    assert mg.finfo().dtype == "float32" == torch.finfo().dtype  # the default dtype
    mg.set_default_dtype(mg.float64)
    assert mg.finfo().dtype == "float64"
    assert mg.finfo(float).eps == torch.finfo(float).eps  # Python float: float64, as torch
    assert mg.finfo(np.complex64) == mg.finfo(mg.float32)  # a complex dtype's parts, as torch
    x = mg.randn(3, dtype=mg.float32)
    assert mg.finfo(x.dtype).eps == torch.finfo(torch.randn(3).dtype).eps == 2.0 ** -23
    for bad, msg in ((mg.int32, "finfo: expected a floating-point dtype, got int32; use mg.iinfo"),
                     (mg.bool_, "finfo: expected a floating-point dtype, got bool"),
                     (x, "finfo: expected a dtype such as mg.float32, got a Tensor; pass its .dtype"),
                     ("tpu", "finfo: expected a dtype such as mg.float32 .e.g. x.dtype., got str")):
        with pytest.raises(TypeError, match=msg):
            mg.finfo(bad)


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_matches_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = mg.iinfo(getattr(mg, name)), torch.iinfo(getattr(torch, name))
    assert (ours.bits, ours.max, ours.min, ours.dtype) == (theirs.bits, theirs.max, theirs.min, theirs.dtype)
    assert type(ours.max) is int and repr(ours) == repr(theirs)


def test_iinfo_refuses_floats_and_bool():
    torch = pytest.importorskip("torch")
    assert mg.iinfo(mg.long) == mg.iinfo(mg.int64)
    for ours, theirs in ((mg.float32, torch.float32), (mg.bool_, torch.bool)):
        with pytest.raises(TypeError, match="iinfo: expected an integer dtype"):
            mg.iinfo(ours)
        with pytest.raises(TypeError):
            torch.iinfo(theirs)


# ================================================================ printing
def _same_repr(theirs, ours):
    """torch's repr and ours agree, but for torch's 'torch.' in dtype names (its longer dtype suffix
    can wrap onto a line of its own where ours fits)."""
    unwrap = ",\n" + " " * len("tensor(") + "dtype="
    t = repr(theirs).replace("torch.", "").replace(unwrap, ", dtype=")
    assert t == repr(ours).replace(unwrap, ", dtype=")


REPR_CASES = [[1.0, 2.5], [1.0, 2.0], [0.1, 1234.5678], [1e-5, 1.0], [1e10, 1.0], [1e8, 1.0], [1.5e8, 1.0],
              [[1.23456789, 2.0], [3.0, 4.0]], list(range(1001)), [float("nan"), 1.0, float("inf")], [-0.0, 2.0],
              [3, 4], [True, False], 1.5, 0.0, [], [[]], [-1.5, 2.0], [1e-5, -2.0], [float("nan"), 1.5]]


@pytest.mark.parametrize("case", REPR_CASES, ids=range(len(REPR_CASES)))
@pytest.mark.parametrize("dtype", [None, "float64", "float16"])
def test_repr_matches_torch(case, dtype):
    torch = pytest.importorskip("torch")
    if dtype is not None and np.asarray(case).dtype.kind not in "f":
        dtype = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (1e10 overflows float16 to inf, in both)
        ours = mg.tensor(case, dtype=dtype)
    _same_repr(torch.tensor(case, dtype=dtype and getattr(torch, dtype)), ours)


def test_repr_of_larger_tensors_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for a in (rng.standard_normal((4, 30)), rng.standard_normal((40, 50)), rng.standard_normal((2, 3, 4)),
              rng.standard_normal((3, 300)) * 1e5, rng.integers(-1000, 1000, (5, 40)), np.zeros((0, 3)),
              rng.standard_normal((2, 40, 3, 20)).astype(np.float32)):
        _same_repr(torch.tensor(a), mg.tensor(a))
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    _same_repr(t, x)
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulScalarBackward>)"


@pytest.mark.parametrize("options", [
    {"precision": 2}, {"precision": 6}, {"threshold": 5}, {"threshold": 5, "edgeitems": 1},
    {"threshold": 5, "edgeitems": 0}, {"linewidth": 40}, {"sci_mode": True}, {"sci_mode": False},
    {"profile": "short"}, {"profile": "full"}, {"profile": "full", "precision": 1},
], ids=str)
def test_set_printoptions_matches_torch(options, restore_runtime):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    try:
        torch.set_printoptions(**options)
        mg.set_printoptions(**options)
        for case in ([1.12345, 2.5], list(range(20)), [1e-5, 3.0], rng.standard_normal((8, 12)), list(range(1200)),
                     [[1.5] * 30] * 3, [123456.0, 0.5]):
            a = np.asarray(case)
            _same_repr(torch.tensor(a), mg.tensor(a))
    finally:
        torch.set_printoptions(profile="default")


def test_set_printoptions_checks_and_restores(restore_runtime):
    mg.set_printoptions(precision=2)
    assert repr(mg.tensor([1.12345])) == "tensor([1.12])"
    mg.set_printoptions(sci_mode=True)
    assert repr(mg.tensor([1.5])) == "tensor([1.50e+00])"
    mg.set_printoptions(precision=4)  # as in torch, leaving sci_mode out sets it back to None
    assert runtime.get_printoptions()["sci_mode"] is None and repr(mg.tensor([1.5])) == "tensor([1.5000])"
    with runtime.printoptions(threshold=5):
        assert "..." in repr(mg.arange(10))
    assert repr(mg.arange(10)) == "tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])"
    for kwargs, exc, msg in (({"profile": "bogus"}, ValueError, "unknown profile 'bogus'"),
                             ({"precision": -1}, ValueError, "precision must not be negative"),
                             ({"precision": 2.5}, TypeError, "precision must be an int"),
                             ({"threshold": -1}, ValueError, "threshold must be a number >= 0"),
                             ({"sci_mode": "yes"}, TypeError, "sci_mode must be True, False or None")):
        with pytest.raises(exc, match=msg):
            mg.set_printoptions(**kwargs)
    mg.set_printoptions(profile="default")
    assert runtime.get_printoptions() == {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80,
                                          "sci_mode": None}


def test_repr_names_the_device_before_the_dtype(device):
    x = mg.tensor([1.0, 2.5], dtype=mg.float64, device=device)
    where = "" if device == "cpu" else f", device='{canonical(device)}'"
    assert repr(x) == f"tensor([1.0000, 2.5000]{where}, dtype=float64)"  # torch's order


# ================================================================ determinism
def test_deterministic_switch_follows_torch(restore_runtime):
    torch = pytest.importorskip("torch")
    assert mg.are_deterministic_algorithms_enabled() is torch.are_deterministic_algorithms_enabled() is False
    mg.use_deterministic_algorithms(True)
    assert mg.are_deterministic_algorithms_enabled() and not mg.is_deterministic_algorithms_warn_only_enabled()
    mg.use_deterministic_algorithms(True, warn_only=True)
    assert mg.are_deterministic_algorithms_enabled() and mg.is_deterministic_algorithms_warn_only_enabled()
    mg.use_deterministic_algorithms(False)
    assert not mg.are_deterministic_algorithms_enabled()
    for bad in (1, None, "x"):
        with pytest.raises(TypeError, match="must be bools"):
            mg.use_deterministic_algorithms(bad)
        with pytest.raises(TypeError):
            torch.use_deterministic_algorithms(bad)


def test_deterministic_check_refuses_float_atomic_sums_only(restore_runtime):
    floats, ints = np.zeros(3, np.float32), np.zeros(3, np.int64)
    _B.check_deterministic("scatter_add", floats)  # off: nothing to say
    mg.use_deterministic_algorithms(True)
    with pytest.raises(RuntimeError, match="scatter_add: summing float32 values .* atomic adds"):
        _B.check_deterministic("scatter_add", floats)
    _B.check_deterministic("scatter_add", ints)  # integer sums are exact in any order
    mg.use_deterministic_algorithms(True, warn_only=True)
    with pytest.warns(UserWarning, match="warn_only=True"):
        _B.check_deterministic("scatter_add", floats)


def test_deterministic_mode_refuses_gpu_atomic_sums(device, restore_runtime):
    """On the CPU every op is deterministic and runs; on a GPU an embedding's gradient (atomic adds) is refused."""
    emb = nn.Embedding(5, 3).to(device)
    idx = mg.tensor([0, 2, 0, 4], device=device)
    want = np.array([2, 0, 1, 0, 1], dtype=np.float32)[:, None] * np.ones(3, np.float32)
    mg.use_deterministic_algorithms(True)
    if device == "cpu":
        emb(idx).sum().backward()
        np.testing.assert_array_equal(emb.weight.grad.numpy(), want)
        emb.weight.grad = None
    else:
        with pytest.raises(RuntimeError, match="atomic adds"):
            emb(idx).sum().backward()
    mg.use_deterministic_algorithms(True, warn_only=True)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        emb(idx).sum().backward()
    assert any("atomic adds" in str(w.message) for w in seen) == (device != "cpu")
    np.testing.assert_array_equal(emb.weight.grad.numpy(), want)
