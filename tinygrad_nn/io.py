"""Save and load checkpoints: nested dicts and lists of arrays and plain values; never pickles.

File format (version 2; docs/checkpoints.md has the full description): a zip archive of
uncompressed (stored) ``.npy`` entries, readable by ``np.load``. The entry
``__tinygrad_nn__.npy`` holds the header, a uint8 array of UTF-8 JSON::

    {"format": "tinygrad_nn.state_dict", "version": 2,
     "arrays": [{"shape": [3, 2], "dtype": "<f8"}, ...],
     "tree": {"dict": [["weight", {"array": 0}], ["epoch", 3], ...]}}

Array number ``i`` is the entry ``a{i}.npy``, so entry names never depend on user data and
cannot collide. ``tree`` (the manifest) describes the saved object: JSON null, booleans,
finite numbers and strings stand for themselves; every container or array is an object
with one key: ``dict`` (a list of ``[key, value]`` pairs, keys str or int, in order),
``list``, ``tuple``, ``array`` (an array's index), ``scalar`` (the index of a 0-d array
holding a NumPy scalar) or ``float`` (``"nan"``, ``"inf"``, ``"-inf"``).

`load` reads and checks the header and every entry's zip record (stored, sizes consistent
with the declared shape and dtype, the total under ``max_bytes``) before it reads a single
array byte, so a zip bomb or a false size is refused in milliseconds. Version 1 files (a
flat name -> array dict, entries ``NAME.npy``) still load. Every malformed file raises
`CheckpointError` naming the path and what is wrong.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from tinygrad_nn._files import atomic_path

__all__ = [
    "FORMAT",
    "HEADER_KEY",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_HEADER_BYTES",
    "VERSION",
    "CheckpointError",
    "load",
    "save",
]

FORMAT = "tinygrad_nn.state_dict"
VERSION = 2
HEADER_KEY = "__tinygrad_nn__"
MAX_BYTES = 16 * 2**30  # load's default limit on the total size of a file's arrays
MAX_HEADER_BYTES = 16 * 2**20  # the JSON header's limit (about 200,000 arrays)
MAX_DEPTH = 100  # nesting levels of dicts, lists and tuples

_HEADER_ENTRY = HEADER_KEY + ".npy"
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_DTYPE_KINDS = "biufcmMSU"  # bool, numbers, datetimes, byte and unicode strings
_MAX_NDIM = 64  # NumPy's own limit
# An .npy entry is a 10- or 12-byte prefix, a header NumPy caps at 10,000 bytes, the data.
_NPY_MIN_OVERHEAD, _NPY_MAX_OVERHEAD = 10, 12 + 10_000
_CHUNK = 2**20  # bytes read at a time: loading never holds more than an array plus this
_TAGS = ("dict", "list", "tuple", "array", "scalar", "float")
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class CheckpointError(ValueError):
    """A file is not a readable tinygrad_nn checkpoint; the message names the path and why."""


# ---------------------------------------------------------------------------- saving


def _encode(
    value: Any, where: str, depth: int, arrays: list[np.ndarray], open_ids: set[int]
) -> Any:
    """The manifest node for ``value``; arrays found are appended to ``arrays``."""
    from tinygrad_nn.tensor import Tensor

    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"save: {where} is a masked array; save its .data and .mask as two arrays")
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in _DTYPE_KINDS or array.dtype.itemsize == 0:
            raise TypeError(
                f"save: {where} has dtype {array.dtype}; only bool, numeric, datetime and "
                "string arrays can be saved (object and structured arrays would need pickling)"
            )
        arrays.append(array)
        return {"scalar" if isinstance(value, np.generic) else "array": len(arrays) - 1}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return {"float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if not isinstance(value, (Mapping, list, tuple)):
        raise TypeError(
            f"save: {where} is a {type(value).__name__}; a checkpoint holds arrays, Tensors, "
            "NumPy scalars, int, float, str, bool, None, and dicts, lists and tuples of them"
        )
    if depth >= MAX_DEPTH:
        raise ValueError(f"save: {where} is nested more than {MAX_DEPTH} levels deep")
    if id(value) in open_ids:
        raise ValueError(f"save: {where} contains itself; a checkpoint must be a tree")
    open_ids.add(id(value))
    try:
        if isinstance(value, Mapping):
            pairs = []
            for key, item in value.items():
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise TypeError(
                        f"save: {where} has the key {key!r} of type {type(key).__name__}; dict "
                        "keys must be str or int (convert it, e.g. str(key) or int(key))"
                    )
                key = str(key) if isinstance(key, str) else int(key)
                node = _encode(item, f"{where}[{key!r}]", depth + 1, arrays, open_ids)
                pairs.append([key, node])
            return {"dict": pairs}
        items = [
            _encode(item, f"{where}[{index}]", depth + 1, arrays, open_ids)
            for index, item in enumerate(value)
        ]
        return {"tuple" if isinstance(value, tuple) else "list": items}
    finally:
        open_ids.discard(id(value))


def save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write a Module's state dict, or a nested checkpoint, to ``path`` atomically.

    ``obj`` may nest dicts (str or int keys), lists and tuples of ndarrays, Tensors (saved
    as their arrays), NumPy scalars, int, float, str, bool and None; `load` returns the same
    structure with the same types and key order (Tensors come back as ndarrays). Nothing is
    pickled: object arrays and other types are a TypeError naming where they are.

    The file is written as docs/checkpoints.md describes: to a temporary file in the same
    folder, fsynced, then renamed over ``path`` (a crash leaves the old file or the new one).
    A missing folder is a FileNotFoundError and a read-only ``path`` a PermissionError; a
    symlink ``path`` is kept and its target replaced. ``path`` is used as given (no suffix).

    Args:
        obj: a `tinygrad_nn.nn.Module` (anything with ``state_dict()``), or a checkpoint such
            as ``{"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}``.
        path: destination file (str or pathlib.Path), conventionally ``*.npz``.

    Returns:
        The path written, as a ``pathlib.Path``.

    Example:
        >>> tnn.save({"model": model.state_dict(), "epoch": 3}, "checkpoint.npz")
        >>> model.load_state_dict(tnn.load("checkpoint.npz")["model"])
    """
    if not isinstance(obj, Mapping) and callable(getattr(obj, "state_dict", None)):
        obj = obj.state_dict()  # a Module, or anything else that has a state dict
    arrays: list[np.ndarray] = []
    tree = _encode(obj, "checkpoint", 0, arrays, set())
    header = {
        "format": FORMAT,
        "version": VERSION,
        "arrays": [{"shape": list(array.shape), "dtype": array.dtype.str} for array in arrays],
        "tree": tree,
    }
    try:
        text = json.dumps(header, allow_nan=False, separators=(",", ":"))
    except ValueError as error:  # an int of more digits than Python converts to text
        raise ValueError(
            f"save: the checkpoint holds a number JSON cannot write: {error}"
        ) from None
    header_array = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    target = Path(os.fspath(path))
    with (
        atomic_path(target) as temporary,
        zipfile.ZipFile(temporary, mode="w", compression=zipfile.ZIP_STORED) as archive,
    ):
        entries = [(_HEADER_ENTRY, header_array)]
        entries += [(f"a{index}.npy", array) for index, array in enumerate(arrays)]
        for name, array in entries:
            with archive.open(name, mode="w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, array, allow_pickle=False)
    return target


# ---------------------------------------------------------------------------- loading


def load(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> Any:
    """Read a file written by `save`: the saved structure, arrays as ndarrays.

    A Module's state dict comes back as a dotted name -> ndarray dict in the saved order,
    ready for ``load_state_dict``; version 1 files (older tinygrad_nn) load the same way.
    Nothing is ever unpickled or executed. Everything is checked before any array is read:
    the header, the entry list (no duplicates, nothing missing or extra), each entry's
    stored size against its declared shape and dtype, and the total against ``max_bytes``;
    while reading, each entry's CRC and ``.npy`` header. Any problem raises `CheckpointError`
    (a ValueError) naming the path and the problem; a missing file is a FileNotFoundError.

    Args:
        path: the file (str or pathlib.Path).
        max_bytes: refuse files whose arrays total more bytes than this (default 16 GiB);
            raise it to load a larger file you trust.

    Returns:
        The saved object: dicts, lists, tuples, ndarrays, NumPy scalars and plain values.

    Example:
        >>> checkpoint = tnn.load("checkpoint.npz")
        >>> model.load_state_dict(checkpoint["model"])
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise TypeError(f"load: max_bytes must be an int >= 0, got {max_bytes!r}")
    source = Path(os.fspath(path))
    with open(source, "rb") as file:
        if file.read(4) not in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC):
            raise CheckpointError(
                f"load: {source} is not a tinygrad_nn checkpoint: it is not an .npz (zip) archive"
            )
        file_size = os.fstat(file.fileno()).st_size
        file.seek(0)
        try:
            with zipfile.ZipFile(file) as archive:
                return _Reader(source, archive, file_size, max_bytes).read()
        except CheckpointError:
            raise
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            EOFError,
            zlib.error,
            struct.error,
        ) as error:
            raise CheckpointError(
                f"load: {source} is truncated or corrupt ({type(error).__name__}: {error})"
            ) from None
        except (ValueError, OSError, NotImplementedError, RuntimeError) as error:
            # zipfile's own refusals of a damaged directory (seek past the end, bad lengths)
            raise CheckpointError(
                f"load: {source} is corrupt ({type(error).__name__}: {error})"
            ) from None


class _Reader:
    """One load: checks the archive and header, then reads the entries it declares."""

    def __init__(self, source: Path, archive: zipfile.ZipFile, file_size: int, limit: int):
        self.source, self.archive, self.file_size, self.limit = source, archive, file_size, limit

    def fail(self, message: str) -> CheckpointError:
        return CheckpointError(f"load: {self.source}: {message}")

    def read(self) -> Any:
        infos = self.archive.infolist()
        names = [info.filename for info in infos]
        if _HEADER_ENTRY not in names:
            raise CheckpointError(
                f"load: {self.source} is an .npz archive but not a tinygrad_nn checkpoint (no "
                f"{HEADER_KEY!r} header); read plain archives with np.load"
            )
        duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
        if duplicates:
            raise self.fail(f"the archive holds the entries {duplicates} more than once")
        self.check_records(infos)
        raw = self.read_entry(self.archive.getinfo(_HEADER_ENTRY), None)
        header = self.parse_json(raw.tobytes())
        entries, build = self.check_header(header)
        expected = {_HEADER_ENTRY, *(name for name, _, _ in entries)}
        extra = sorted(set(names) - expected)[:10]
        if extra:
            raise self.fail(f"it holds entries its header does not list: {extra}")
        present = set(names)
        missing = [name for name, _, _ in entries if name not in present]
        if missing:
            raise self.fail(f"it lacks the entries {missing[:10]} that its header lists")
        self.check_sizes(entries)
        arrays = [
            self.read_entry(self.archive.getinfo(name), (shape, dtype))
            for name, shape, dtype in entries
        ]
        return build(arrays)

    # ------------------------------------------------------------ before reading data

    def check_records(self, infos: list[zipfile.ZipInfo]) -> None:
        """Stored (uncompressed) entries inside the file: the data can never outgrow it."""
        for info in infos:
            name = info.filename
            if info.flag_bits & 0x1:
                raise self.fail(f"the entry {name!r} is encrypted")
            if info.compress_type != zipfile.ZIP_STORED:
                raise self.fail(
                    f"the entry {name!r} is compressed (zip method {info.compress_type}); "
                    "tinygrad_nn checkpoints store entries uncompressed so that loading never "
                    "inflates more than the file holds; save it again with tnn.save"
                )
            if info.compress_size != info.file_size:
                raise self.fail(
                    f"the entry {name!r} is stored with {info.compress_size} bytes but claims "
                    f"{info.file_size} uncompressed"
                )
            if info.header_offset < 0 or info.header_offset + info.compress_size > self.file_size:
                raise self.fail(f"the entry {name!r} reaches past the end of the file")
        total = sum(info.compress_size for info in infos)
        if total > self.file_size:
            raise self.fail(
                f"its entries claim {total} bytes, more than the file's {self.file_size}: they "
                "overlap (a zip bomb)"
            )

    def check_sizes(self, entries: list[tuple[str, tuple[int, ...], np.dtype]]) -> None:
        total = 0
        for name, shape, dtype in entries:
            nbytes = math.prod(shape) * dtype.itemsize
            total += nbytes
            stored = self.archive.getinfo(name).file_size
            if not nbytes + _NPY_MIN_OVERHEAD <= stored <= nbytes + _NPY_MAX_OVERHEAD:
                raise self.fail(
                    f"the entry {name!r} holds {stored} bytes, but an array of shape {shape} and "
                    f"dtype {dtype.str} needs {nbytes} plus a .npy header of {_NPY_MIN_OVERHEAD} "
                    f"to {_NPY_MAX_OVERHEAD}"
                )
        if total > self.limit:
            raise self.fail(
                f"its arrays total {total} bytes, over the limit max_bytes={self.limit}; pass a "
                "larger max_bytes to tnn.load if you trust this file"
            )

    def parse_json(self, data: bytes) -> Any:
        def refuse_constant(name: str) -> Any:
            raise self.fail(f"its header contains {name}, which is not JSON")

        def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            keys = [key for key, _ in pairs]
            if len(set(keys)) != len(keys):
                raise self.fail(f"its header repeats a key among {sorted(keys)}")
            return dict(pairs)

        try:
            text = data.decode("utf-8")
            return json.loads(text, parse_constant=refuse_constant, object_pairs_hook=unique_keys)
        except CheckpointError:
            raise
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            message = str(error) if not isinstance(error, RecursionError) else "nested too deep"
            raise self.fail(f"its header is not readable JSON: {message}") from None

    def check_header(
        self, header: Any
    ) -> tuple[list[tuple[str, tuple[int, ...], np.dtype]], Callable[[list[np.ndarray]], Any]]:
        """The entries to read (name, shape, dtype) and how to build the result from them."""
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise self.fail("it has a header of an unknown format")
        version = header.get("version")
        if type(version) is not int or not 1 <= version <= VERSION:
            raise self.fail(
                f"it has format version {version!r}; this tinygrad_nn reads versions 1 to "
                f"{VERSION} (upgrade tinygrad_nn to read newer files)"
            )
        if version == 1:
            return self.check_header_1(header)
        self.check_keys(header, {"format", "version", "arrays", "tree"}, "the header")
        specs = header["arrays"]
        if not isinstance(specs, list):
            raise self.fail("its header's 'arrays' is not a list")
        entries = []
        for index, spec in enumerate(specs):
            where = f"arrays[{index}]"
            if not isinstance(spec, dict):
                raise self.fail(f"its header's {where} is not an object")
            self.check_keys(spec, {"shape", "dtype"}, where)
            shape = self.check_shape(spec["shape"], where)
            entries.append((f"a{index}.npy", shape, self.check_dtype(spec["dtype"], where)))
        shapes = [shape for _, shape, _ in entries]
        used = [0] * len(entries)
        self.decode(header["tree"], None, shapes, used, 0, "tree")
        unused = [index for index, count in enumerate(used) if count != 1]
        if unused:
            raise self.fail(
                f"its header's tree must use each array exactly once; arrays {unused[:10]} are "
                "used another number of times"
            )
        return entries, lambda arrays: self.decode(header["tree"], arrays, shapes, used, 0, "tree")

    def check_header_1(
        self, header: dict[str, Any]
    ) -> tuple[list[tuple[str, tuple[int, ...], np.dtype]], Callable[[list[np.ndarray]], Any]]:
        """Version 1: a flat state dict, the array named NAME in the entry NAME.npy."""
        self.check_keys(header, {"format", "version", "names", "shapes", "dtypes"}, "the header")
        names, shapes, dtypes = header["names"], header["shapes"], header["dtypes"]
        if not (
            isinstance(names, list)
            and isinstance(shapes, list)
            and isinstance(dtypes, list)
            and len(names) == len(shapes) == len(dtypes)
        ):
            raise self.fail("it has an inconsistent header (names/shapes/dtypes)")
        if not all(isinstance(name, str) and name for name in names) or len(set(names)) < len(
            names
        ):
            raise self.fail("its header's names are not distinct non-empty strings")
        if f"{HEADER_KEY}" in names:
            raise self.fail(f"its header lists the reserved name {HEADER_KEY!r}")
        entries = [
            (
                name + ".npy",
                self.check_shape(shape, f"shapes[{index}]"),
                self.check_dtype(dtype, f"dtypes[{index}]"),
            )
            for index, (name, shape, dtype) in enumerate(zip(names, shapes, dtypes, strict=True))
        ]
        return entries, lambda arrays: dict(zip(names, arrays, strict=True))

    def check_keys(self, value: dict[str, Any], keys: set[str], where: str) -> None:
        if set(value) != keys:
            missing, unknown = sorted(keys - set(value)), sorted(set(value) - keys)
            raise self.fail(f"{where} lacks the keys {missing} or has unknown ones {unknown}")

    def check_shape(self, shape: Any, where: str) -> tuple[int, ...]:
        if (
            not isinstance(shape, list)
            or len(shape) > _MAX_NDIM
            or not all(type(size) is int and size >= 0 for size in shape)
            or math.prod(max(size, 1) for size in shape) > 2**62
        ):
            raise self.fail(
                f"its header's {where} shape {shape!r} is not a list of at most {_MAX_NDIM} "
                "sizes >= 0 of a possible array"
            )
        return tuple(shape)

    def check_dtype(self, text: Any, where: str) -> np.dtype:
        dtype = None
        if isinstance(text, str) and re.fullmatch(r"[<>|][a-zA-Z]\d{1,9}(\[\w+\])?", text):
            try:
                dtype = np.dtype(text)
            except TypeError:
                dtype = None
        if (
            dtype is None
            or dtype.str != text
            or dtype.kind not in _DTYPE_KINDS
            or dtype.itemsize == 0
        ):
            raise self.fail(
                f"its header's {where} dtype {text!r} is not a bool, numeric, datetime or string "
                "dtype"
            )
        return dtype

    def decode(
        self,
        node: Any,
        arrays: list[np.ndarray] | None,
        shapes: list[tuple[int, ...]],
        used: list[int],
        depth: int,
        where: str,
    ) -> Any:
        """Check (``arrays`` None, counting uses) or build the value a manifest node names."""
        if node is None or isinstance(node, (bool, str, int)):
            return node
        if isinstance(node, float):
            if not math.isfinite(node):
                raise self.fail(f"its header's {where} is a number out of range")
            return node
        if not isinstance(node, dict) or len(node) != 1 or next(iter(node)) not in _TAGS:
            raise self.fail(
                f"its header's {where} is not a value or an object with one key of {list(_TAGS)}"
            )
        ((tag, content),) = node.items()
        if depth >= MAX_DEPTH and tag in ("dict", "list", "tuple"):
            raise self.fail(f"its header's tree is nested more than {MAX_DEPTH} levels deep")
        if tag == "float":
            if not isinstance(content, str) or content not in _NON_FINITE:
                raise self.fail(f"its header's {where} float is {content!r}, not nan/inf/-inf")
            return _NON_FINITE[content]
        if tag in ("array", "scalar"):
            if type(content) is not int or not 0 <= content < len(shapes):
                raise self.fail(
                    f"its header's {where} names the array {content!r}, which is not listed"
                )
            if tag == "scalar" and shapes[content] != ():
                raise self.fail(f"its header's {where} is a scalar of shape {shapes[content]}")
            if arrays is None:
                used[content] += 1
                return None
            return arrays[content][()] if tag == "scalar" else arrays[content]
        if not isinstance(content, list):
            raise self.fail(f"its header's {where} {tag} is not a list")
        if tag in ("list", "tuple"):
            items = [
                self.decode(item, arrays, shapes, used, depth + 1, f"{where}[{index}]")
                for index, item in enumerate(content)
            ]
            return tuple(items) if tag == "tuple" else items
        result: dict[Any, Any] = {}
        for pair in content:
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or isinstance(pair[0], bool)
                or not isinstance(pair[0], (str, int))
            ):
                raise self.fail(
                    f"its header's {where} has an entry that is not a [key, value] pair"
                )
            key = pair[0]
            if key in result:
                raise self.fail(f"its header's {where} repeats the key {key!r}")
            result[key] = self.decode(pair[1], arrays, shapes, used, depth + 1, f"{where}[{key!r}]")
        return result

    # ------------------------------------------------------------ reading data

    def read_entry(
        self, info: zipfile.ZipInfo, expected: tuple[tuple[int, ...], np.dtype] | None
    ) -> np.ndarray:
        """An entry's array, checked against the ``expected`` shape and dtype as it is read."""
        name = info.filename
        with self.archive.open(info) as member:
            shape, fortran_order, dtype = self.read_npy_header(member, name)
            if expected is not None and (shape, dtype.str) != (expected[0], expected[1].str):
                raise self.fail(
                    f"the entry {name!r} holds an array of shape {shape} and dtype {dtype.str}, "
                    f"the header says {expected[0]} and {expected[1].str}"
                )
            if expected is None and (dtype.str != "|u1" or len(shape) != 1):
                raise self.fail(f"its {HEADER_KEY!r} header is not a 1-d uint8 array")
            if expected is None and shape[0] > MAX_HEADER_BYTES:
                raise self.fail(
                    f"its header is {shape[0]} bytes, over the limit of {MAX_HEADER_BYTES} "
                    "(tinygrad_nn.io.MAX_HEADER_BYTES)"
                )
            nbytes = math.prod(shape) * dtype.itemsize
            if member.tell() + nbytes != info.file_size:
                raise self.fail(
                    f"the entry {name!r} holds {info.file_size - member.tell()} bytes of data, "
                    f"its .npy header declares {nbytes}"
                )
            buffer = np.empty(nbytes, dtype=np.uint8)
            filled = 0
            while filled < nbytes:
                chunk = member.read(min(_CHUNK, nbytes - filled))
                if not chunk:
                    raise self.fail(f"the entry {name!r} is truncated")
                buffer[filled : filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
                filled += len(chunk)
            if member.read(1):  # also makes zipfile compare the CRC, if not done yet
                raise self.fail(f"the entry {name!r} holds more data than it declares")
        array = buffer.view(dtype)
        if fortran_order:
            return array.reshape(shape[::-1]).transpose()
        return array.reshape(shape)

    def read_npy_header(
        self, member: IO[bytes], name: str
    ) -> tuple[tuple[int, ...], bool, np.dtype]:
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except (ValueError, SyntaxError, TypeError, OverflowError, MemoryError) as error:
            raise self.fail(f"the entry {name!r} is not a valid .npy array: {error}") from None
        if dtype.hasobject:
            raise self.fail(
                f"the entry {name!r} holds pickled (object) data, which tinygrad_nn never loads"
            )
        return tuple(shape), bool(fortran_order), dtype
