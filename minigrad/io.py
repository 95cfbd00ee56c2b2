"""Checkpoints: `save(obj, path)` / `load(path)` for nested training state, without pickle.

`path` may also be a binary file object (io.BytesIO, an open file), as in torch.

    mg.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "step": 12, "rng": mg.backend.get_rng_state()}, "ckpt.npz")
    ckpt = mg.load("ckpt.npz")
    model.load_state_dict(ckpt["model"])

File format (one ordinary ``.npz`` archive, readable with ``np.load(allow_pickle=False)``):

* every array (a Tensor's data, a NumPy/CuPy array, a NumPy scalar, a bytes object)
  is one entry ``t0``, ``t1``, ... written by ``np.savez``: dtype, shape and bytes
  are kept exactly;
* one more entry, ``__minigrad_structure__``, is a uint8 array holding UTF-8 JSON:
  ``{"format": "minigrad-checkpoint", "version": 1, "tree": ...}``. The tree mirrors
  the saved object: JSON null/true/false/numbers/strings for Python scalars, and
  tagged objects ``{"t": "dict" | "odict" | "list" | "tuple" | "tensor" | "ndarray" |
  "scalar" | "bytes" | "int" | "float", ...}`` for everything else.

Why not pickle: unpickling runs code chosen by whoever wrote the file, so a
downloaded checkpoint could do anything. Here loading only ever reads arrays and JSON.

Why write-then-rename: `save` writes a temporary file in the target directory,
flushes and fsyncs it, then `os.replace`s it onto `path` (atomic on POSIX and
Windows). A crash or an exception mid-write leaves the previous checkpoint intact.
"""
from __future__ import annotations

import io
import json
import os
import struct
import tempfile
from collections import OrderedDict

from . import backend as _B
from .tensor import Tensor

np = _B.np  # host-side (de)serialisation only

__all__ = ["save", "load", "CheckpointError", "FORMAT_VERSION"]

FORMAT_NAME = "minigrad-checkpoint"
FORMAT_VERSION = 1
_STRUCT_KEY = "__minigrad_structure__"
_ZIP_MAGIC = b"PK\x03\x04"  # every non-empty .npz (a zip archive) starts with a local file header
_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


class CheckpointError(ValueError):
    """A file that is not a readable minigrad checkpoint (truncated, corrupted or foreign)."""


# ---------------------------------------------------------------- save
def _key_repr(path: str, key) -> str:
    return f"{path}[{key!r}]"


class _Encoder:
    """Walks the object once, collecting arrays into `arrays` and returning the JSON tree."""

    def __init__(self):
        self.arrays: dict = {}
        self._active: set = set()  # ids of containers on the current path (cycle detection)

    def _add_array(self, host_array) -> str:
        key = f"t{len(self.arrays)}"
        self.arrays[key] = host_array
        return key

    def _array_node(self, tag: str, arr, path: str) -> dict:
        if arr.dtype.hasobject:
            raise TypeError(f"save: {path} is an array of dtype {arr.dtype}; object arrays cannot be "
                            "stored without pickle (convert it to a numeric or string dtype)")
        device = _B.device_of(arr)
        host = _B.to_device(arr, "cpu")
        return {"t": tag, "key": self._add_array(host), "device": device,
                "dtype": host.dtype.str, "shape": list(host.shape)}

    def encode(self, obj, path: str):
        # NumPy scalars first (np.float64 subclasses float): they keep their exact dtype
        if isinstance(obj, np.generic):
            arr = np.asarray(obj)
            if arr.dtype.hasobject:
                raise TypeError(f"save: {path} is a NumPy object scalar, which cannot be stored without pickle")
            return {"t": "scalar", "key": self._add_array(arr), "dtype": arr.dtype.str}
        # bool before int: bool is a subclass of int, and JSON keeps true/false apart from 1/0
        if obj is None or isinstance(obj, bool):
            return obj
        if isinstance(obj, str):
            return str(obj)
        if isinstance(obj, int):
            obj = int(obj)
            if _INT64_MIN <= obj <= _INT64_MAX:
                return obj
            # big ints (e.g. PCG64's 128-bit state) in hex: exact and free of Python's
            # int<->decimal string length limit
            return {"t": "int", "hex": format(obj, "x")}
        if isinstance(obj, float):
            obj = float(obj)
            if obj == obj and obj not in (float("inf"), float("-inf")):
                return obj  # repr round-trips every finite double exactly
            # NaN/inf are not JSON: keep the IEEE bits (NaN payload and sign included)
            return {"t": "float", "bits": struct.unpack("<q", struct.pack("<d", obj))[0]}
        if isinstance(obj, Tensor):
            return self._array_node("tensor", obj.data, path)
        if _B.is_array(obj):
            return self._array_node("ndarray", obj, path)
        if isinstance(obj, (bytes, bytearray)):
            return {"t": "bytes", "key": self._add_array(np.frombuffer(bytes(obj), dtype=np.uint8))}
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._active:
                raise ValueError(f"save: {path} contains itself (a reference cycle); checkpoints must be trees")
            self._active.add(id(obj))
            try:
                if isinstance(obj, dict):
                    items = []
                    for k, v in obj.items():
                        if isinstance(k, bool) or not isinstance(k, (str, int)):
                            raise TypeError(f"save: {path} has a key {k!r} of type {type(k).__name__}; "
                                            "dict keys must be str or int")
                        k = str(k) if isinstance(k, str) else int(k)
                        items.append([k, self.encode(v, _key_repr(path, k))])
                    return {"t": "odict" if isinstance(obj, OrderedDict) else "dict", "items": items}
                tag = "tuple" if isinstance(obj, tuple) else "list"
                return {"t": tag, "items": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
            finally:
                self._active.discard(id(obj))
        # torch.save(model, f) pickles the whole module; minigrad never pickles, so say what to save instead
        hint = ("; save its state_dict() (a torch.save(model, f) / model = torch.load(f) port becomes "
                "mg.save(model.state_dict(), f), then build the model and model.load_state_dict(mg.load(f)))"
                if callable(getattr(obj, "state_dict", None)) else "")
        raise TypeError(
            f"save: cannot store {type(obj).__name__} at {path}{hint}; supported are dict/list/tuple, "
            "Tensor, NumPy/CuPy arrays and scalars, int, float, bool, None, str and bytes")


def _write_archive(f, arrays: dict) -> None:
    """Write the npz bytes to the open file `f` (a seam for the crash tests)."""
    np.savez(f, **arrays)


def _fsync_directory(dirname: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(dirname, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fspath(op: str, path) -> str:
    """A file name (str or os.PathLike), else a TypeError naming what is accepted."""
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"{op}: expected a file name (str or os.PathLike) or a binary file object "
                        f"(io.BytesIO, open(..., '{'w' if op == 'save' else 'r'}b')), "
                        f"got {type(path).__name__}") from None


def _is_file_object(obj, method: str) -> bool:
    """A file object (has read/write) rather than a path? (str and PathLike are paths)."""
    return not isinstance(obj, (str, bytes, os.PathLike)) and callable(getattr(obj, method, None))


def _file_name(f) -> str:
    """How messages name a file object: its name if it has one (open files), else its type."""
    name = getattr(f, "name", None)
    return repr(name) if isinstance(name, str) else f"<{type(f).__name__}>"


def _path_or_f(op, f, path):
    """The file argument: torch's `f` (`torch.save(obj=sd, f=path)`, `torch.load(f=path)`), or minigrad's older
    keyword `path=`; exactly one of them."""
    if path is not None:
        if f is not None:
            raise TypeError(f"{op}: pass the file once, as `f` (torch's name) or `path=`, not both")
        return path
    if f is None:
        raise TypeError(f"{op}: missing the file argument `f`")
    return f


def save(obj, f=None, *, path=None) -> None:
    """Write a nested structure of tensors, arrays and Python values to `path`, atomically.

    Args:
        obj: dicts (str or int keys; OrderedDict is kept), lists, tuples, Tensors
            (Parameters included), NumPy/CuPy arrays, NumPy scalars, int (any size),
            float, bool, None, str and bytes (bytearray loads as bytes), nested freely.
        path: file name (str or os.PathLike), used exactly as given (no extension is
            added; ``.npz`` is conventional); or, as torch, a binary file object with a
            ``write`` method (io.BytesIO, a file opened with ``'wb'``). A file object gets
            the same bytes written directly from its current position, and is not closed;
            that write is NOT atomic (an error mid-write leaves part of the archive in it).
        f: the same as `path`, under torch's name (``torch.save(obj=model.state_dict(), f=path)`` ports);
            `path` is keyword-only, for older minigrad code.

    Raises:
        TypeError: an unsupported object; the message names its key path, e.g.
            ``obj['optimizer']['state'][0]``.
        ValueError: a reference cycle.

    Notes:
        Only values are stored: a Tensor's ``requires_grad``, ``grad`` and graph are
        not saved, and a Parameter comes back as a plain Tensor (load it into a
        module with ``Module.load_state_dict``). An object appearing twice is stored
        twice and loads as two independent copies. Tuple subclasses (namedtuples)
        load as plain tuples; dict subclasses other than OrderedDict as dicts.
    """
    path = _path_or_f("save", f, path)
    to_file = _is_file_object(path, "write")
    if not to_file:
        path = _fspath("save", path)
    elif isinstance(path, io.TextIOBase):
        raise TypeError(f"save: {_file_name(path)} is a text-mode file; open it in binary mode ('wb')")
    enc = _Encoder()
    tree = enc.encode(obj, "obj")
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "tree": tree}
    text = json.dumps(header, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    arrays = dict(enc.arrays)
    arrays[_STRUCT_KEY] = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    if to_file:  # torch's file objects: the same bytes, written straight into it (no temporary file)
        _write_archive(path, arrays)
        return

    dirname = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(dirname):  # (else the error would name the temporary file)
        raise FileNotFoundError(f"save: the directory {dirname} of {path!r} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=dirname)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_archive(f, arrays)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        # mkstemp creates 0600 files; give the checkpoint the usual permissions (0666 & ~umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(dirname)


# ---------------------------------------------------------------- load
class _MapLocationTypeError(TypeError):
    """A map_location callable's fault (not the file's): raised as is, not as a CheckpointError."""


class _MapLocationValueError(ValueError):
    """As _MapLocationTypeError, for a returned array of another shape or dtype."""


class _Decoder:
    def __init__(self, archive, path: str, device, remap=None):
        self.z = archive
        self.path = path
        self.device = device  # canonical device string or None
        self.remap = remap    # torch's map_location as a dict {saved: target} or a callable, or None

    def fail(self, what: str):
        raise CheckpointError(f"load: {self.path}: {what}")

    def _array(self, node: dict, where: str):
        key = node.get("key")
        if not isinstance(key, str) or key not in self.z.files:
            self.fail(f"the structure refers to a missing array entry {key!r} (at {where}); "
                      "the file is corrupted or was not written by minigrad.save")
        try:
            arr = self.z[key]
        except Exception as e:  # noqa: BLE001  (damaged bytes surface as many exception types)
            raise CheckpointError(f"load: {self.path}: array entry {key!r} (at {where}) cannot be read: {e}") from e
        if "dtype" in node and arr.dtype.str != node["dtype"]:
            self.fail(f"array entry {key!r} (at {where}) has dtype {arr.dtype.str}, the structure says {node['dtype']}")
        if "shape" in node and list(arr.shape) != node["shape"]:
            self.fail(f"array entry {key!r} (at {where}) has shape {list(arr.shape)}, the structure says {node['shape']}")
        return arr

    def _target(self, saved_device, where: str) -> str:
        """Where a saved array goes: the `device` argument, else its own device if present, else cpu."""
        if self.device is not None:
            return self.device
        if not isinstance(saved_device, str):
            self.fail(f"bad device entry {saved_device!r} at {where}")
        if isinstance(self.remap, dict) and saved_device in self.remap:  # torch's {'cuda:1': 'cuda:0'}
            return _B.parse_device(self.remap[saved_device])
        if saved_device == "cpu" or not _B.cuda_available():
            return "cpu"
        try:
            return _B.parse_device(saved_device)
        except (RuntimeError, ValueError):  # e.g. saved on cuda:1, this machine has one GPU
            return "cpu"

    def _place(self, arr, saved_device, where: str):
        """The host array `arr` read from the file, on its target device.

        A callable map_location is torch's ``fn(storage, location)``: here it receives the NumPy
        array and the saved device name, and returns the array to use (its device decides), a
        Tensor, or None for the default placement; ``lambda storage, loc: storage`` loads on the CPU.
        """
        if callable(self.remap):
            try:
                out = self.remap(arr, saved_device)
            except AttributeError as e:  # e.g. storage.cuda(): a NumPy array has no such method
                raise _MapLocationTypeError(f"load: the map_location callable failed on the array at {where} ({e}); it "
                                "receives a NumPy array and the saved device name and must return an array "
                                "(NumPy or CuPy), a Tensor or None; for a device, pass map_location='cuda'") from e
            if isinstance(out, Tensor):
                out = out.data
            if out is not None:
                if not _B.is_array(out):
                    raise _MapLocationTypeError(f"load: the map_location callable returned {type(out).__name__} for the "
                                    f"array at {where}; expected an array (NumPy or CuPy), a Tensor or None")
                if tuple(out.shape) != tuple(arr.shape) or out.dtype != arr.dtype:
                    raise _MapLocationValueError(f"load: the map_location callable changed the array at {where} from "
                                     f"{arr.dtype}{tuple(arr.shape)} to {out.dtype}{tuple(out.shape)}")
                return out
        return _B.to_device(arr, self._target(saved_device, where))

    def decode(self, node, where: str):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or not isinstance(node.get("t"), str):
            self.fail(f"unrecognised structure node {str(node)[:80]!r} at {where}")
        t = node["t"]
        try:
            if t in ("dict", "odict"):
                out = OrderedDict() if t == "odict" else {}
                for k, v in node["items"]:
                    if not isinstance(k, (str, int)) or isinstance(k, bool):
                        self.fail(f"bad dict key {k!r} at {where}")
                    out[k] = self.decode(v, _key_repr(where, k))
                return out
            if t in ("list", "tuple"):
                items = [self.decode(v, f"{where}[{i}]") for i, v in enumerate(node["items"])]
                return tuple(items) if t == "tuple" else items
            if t == "tensor":
                return Tensor(self._place(self._array(node, where), node.get("device"), where))
            if t == "ndarray":
                arr = self._array(node, where)
                if node.get("device") == "cpu":
                    return arr  # NumPy arrays stay NumPy arrays
                return self._place(arr, node.get("device"), where)
            if t == "scalar":
                arr = self._array(node, where)
                if arr.ndim != 0:
                    self.fail(f"scalar entry at {where} has shape {arr.shape}")
                return arr[()]
            if t == "bytes":
                return self._array(node, where).tobytes()
            if t == "int":
                return int(node["hex"], 16)
            if t == "float":
                return struct.unpack("<d", struct.pack("<q", node["bits"]))[0]
        except (CheckpointError, _MapLocationTypeError, _MapLocationValueError):
            raise
        except (KeyError, TypeError, ValueError, struct.error) as e:
            raise CheckpointError(f"load: {self.path}: malformed {t!r} node at {where}: {e!r}") from e
        self.fail(f"unknown node type {t!r} at {where} (written by a newer minigrad?)")


def load(f=None, device=None, *, path=None, map_location=None, weights_only=None, mmap=None):
    """Read a checkpoint written by `save`.

    Args:
        path: file name (str or os.PathLike); or, as torch, a seekable binary file object
            (io.BytesIO, a file opened with ``'rb'``), read from its current position (after
            ``mg.save(obj, buf)`` call ``buf.seek(0)`` first, as with torch). Not closed.
        f: the same as `path`, under torch's name (``torch.load(f=path)`` ports); `path` is keyword-only.
        device: put every Tensor (and every array that was a CuPy array when saved)
            on this device ('cpu', 'cuda', 'cuda:N'). Default: the device it was saved
            from when that device exists here, else 'cpu'. NumPy arrays always come
            back as NumPy arrays. A dict or callable here is torch's second positional
            argument, map_location (below).
        map_location: torch's name for `device` (``torch.load(p, map_location="cpu")`` ports), or
            torch's other forms: a dict from saved device names to device names
            (``{"cuda:1": "cuda:0"}``; other devices as by default), or a callable
            ``fn(array, saved_device)`` returning the array to use (its device decides), a Tensor,
            or None for the default (``lambda storage, loc: storage`` loads on the CPU).
        weights_only: accepted for torch code and ignored: loading never runs code
            (no pickle), which is what torch's ``weights_only=True`` guards.
        mmap: torch's keyword (``torch.load(p, mmap=True, weights_only=True)`` ports): the file is
            read into memory all the same (same values); as torch, mmap=True needs a file path.

    Returns:
        The saved structure: Tensors as Tensors (with ``requires_grad=False``: it is
        not stored), arrays as arrays with identical dtype, shape and bytes, tuples as
        tuples, dicts with their key order.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError (a ValueError): the file is truncated, corrupted, or not a
            minigrad checkpoint; the message names the path and the problem.
        io.UnsupportedOperation (a ValueError and OSError): a file object that cannot seek
            (as torch: read it into an io.BytesIO first).
        TypeError: a text-mode file object.
    """
    path = _path_or_f("load", f, path)
    if map_location is None and (isinstance(device, dict) or callable(device)):
        device, map_location = None, device  # torch's second positional: `torch.load(p, lambda storage, loc: storage)`
    from_file = _is_file_object(path, "read")
    if mmap and from_file:  # torch's refusal: mapping needs a file name
        raise ValueError("load: f must be a file path in order to use the mmap argument (got a file object)")
    if not from_file:
        path = _fspath("load", path)
    remap = None
    if isinstance(map_location, dict) or callable(map_location):  # torch's other two forms
        if device is not None:
            raise ValueError("load: pass device= or a dict/callable map_location, not both")
        if isinstance(map_location, dict):
            for k, v in map_location.items():
                if not isinstance(k, str) or not isinstance(v, str):
                    raise TypeError(f"load: a map_location dict maps saved device names to device names "
                                    f"(str -> str), got {k!r}: {v!r}")
                _B.parse_device(v)  # a bad target fails here, naming it
        remap, map_location = map_location, None
    if map_location is not None:
        if device is not None and _B.parse_device(device) != _B.parse_device(map_location):
            raise ValueError(f"load: device={device!r} and map_location={map_location!r} disagree; pass one")
        device = map_location
    dev = None if device is None else _B.parse_device(device)
    if from_file:
        return _load_from(path, _file_name(path), dev, remap)
    with open(path, "rb") as f:
        return _load_from(f, path, dev, remap)


def _load_from(f, path: str, dev, remap=None):
    """load() on an open binary file `f`, from its current position (`path` names it in messages)."""
    if isinstance(f, io.TextIOBase):
        raise TypeError(f"load: {path} is a text-mode file; open it in binary mode ('rb')")
    seekable = getattr(f, "seekable", None)
    if not (callable(seekable) and seekable()):
        raise io.UnsupportedOperation(f"load: {path} is not seekable; a checkpoint can only be loaded from a "
                                      "file object that can seek (as torch.load): read it into an io.BytesIO "
                                      "first, e.g. mg.load(io.BytesIO(stream.read()))")
    start = f.tell()
    magic = f.read(len(_ZIP_MAGIC))
    if isinstance(magic, str):  # a text stream that is not an io.TextIOBase
        raise TypeError(f"load: {path} is a text-mode file; open it in binary mode ('rb')")
    if magic != _ZIP_MAGIC:
        kind = "an empty file" if not magic else f"a file starting with {magic!r}"
        if not magic and start:  # typically a buffer just written: it must be rewound first (as in torch)
            kind = f"nothing after position {start} (rewind a file object you have just written to: f.seek(0))"
        raise CheckpointError(f"load: {path}: not a minigrad checkpoint: expected an .npz (zip) archive, "
                              f"found {kind}")
    f.seek(start)
    try:
        with np.load(f, allow_pickle=False) as z:
            if _STRUCT_KEY not in z.files:
                # torch.save writes a zip holding a pickle (<name>/data.pkl): say so, and how to bring it over
                torch_hint = ("; it looks like a torch.save file (a pickle, which minigrad never loads): load it "
                              "with torch.load and pass the state dict to load_state_dict (torch tensors are "
                              "accepted), or re-save it with mg.save") if any(
                    n.endswith("data.pkl") for n in z.files) else ""
                raise CheckpointError(
                    f"load: {path}: not a minigrad checkpoint: the .npz archive has no {_STRUCT_KEY!r} entry "
                    f"(entries: {sorted(z.files)[:10]}); it was not written by minigrad.save{torch_hint}")
            raw = z[_STRUCT_KEY]
            try:
                header = json.loads(raw.tobytes().decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise CheckpointError(f"load: {path}: the structure entry is not valid JSON ({e})") from e
            if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
                raise CheckpointError(f"load: {path}: the structure entry does not describe a {FORMAT_NAME}")
            version = header.get("version")
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise CheckpointError(f"load: {path}: bad format version {version!r}")
            if version > FORMAT_VERSION:
                raise CheckpointError(f"load: {path}: format version {version} was written by a newer "
                                      f"minigrad; this one reads up to version {FORMAT_VERSION}")
            if "tree" not in header:
                raise CheckpointError(f"load: {path}: the structure entry has no 'tree'")
            return _Decoder(z, path, dev, remap).decode(header["tree"], "obj")
    except (CheckpointError, _MapLocationTypeError, _MapLocationValueError):
        raise
    except Exception as e:  # noqa: BLE001
        # Whatever zipfile/numpy raise on damaged bytes (BadZipFile for a lost central directory,
        # a CRC mismatch, NotImplementedError for a garbled compression field, ...) means one thing.
        raise CheckpointError(f"load: {path}: the checkpoint is truncated or corrupted "
                              f"({type(e).__name__}: {e})") from e
