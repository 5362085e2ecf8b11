"""Save and load state dicts as `.npz` files with a JSON header; atomic, and never pickles.

File format (version 1): a zip archive as written by ``np.savez``, one ``NAME.npy`` entry
per array under its dotted name (``layers.0.weight``), plus the entry ``__tinygrad_nn__``:
a uint8 array holding UTF-8 JSON::

    {"format": "tinygrad_nn.state_dict", "version": 1,
     "names": [...], "shapes": [[...], ...], "dtypes": ["<f8", ...]}

Any ``np.load`` reads it. `load` checks the header against the arrays and refuses files
that are not zips, lack the header, are truncated or hold object (pickled) arrays, with a
`CheckpointError` naming the path. The file is written exactly at the path given: no
``.npz`` suffix is ever added (unlike ``np.savez``).
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_nn._files import atomic_path

__all__ = ["FORMAT", "HEADER_KEY", "VERSION", "CheckpointError", "load", "save"]

FORMAT = "tinygrad_nn.state_dict"
VERSION = 1
HEADER_KEY = "__tinygrad_nn__"
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"


class CheckpointError(ValueError):
    """A file is not a readable tinygrad_nn checkpoint; the message names the path and why."""


def _arrays_of(obj: Any) -> dict[str, np.ndarray]:
    """The name -> ndarray mapping to save, from a Module or a state dict."""
    from tinygrad_nn.tensor import Tensor

    if not isinstance(obj, Mapping) and callable(getattr(obj, "state_dict", None)):
        obj = obj.state_dict()  # a Module, or anything else that has a state dict
    if not isinstance(obj, Mapping):
        raise TypeError(
            f"save: expected a Module or a mapping of name -> array, got {type(obj).__name__}"
        )
    arrays: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"save: every name must be a non-empty str, got {name!r}")
        if name == HEADER_KEY:
            raise ValueError(f"save: the name {HEADER_KEY!r} is reserved for the file header")
        array = value.data if isinstance(value, Tensor) else np.asarray(value)
        if array.dtype.hasobject:
            raise TypeError(
                f"save: {name!r} has dtype {array.dtype}; only numeric, bool and string arrays "
                "can be saved (object arrays would need pickling)"
            )
        arrays[name] = array
    return arrays


def save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write a Module's state dict (or a name -> array mapping) to ``path``, atomically.

    The data goes to a temporary file in the same folder, is flushed and fsynced, then
    renamed over ``path`` in one step (``os.replace``): a crash leaves either the old file
    or the new one, never a mix; on error the temporary file is removed. ``path`` is used
    as given; no suffix is added.

    Args:
        obj: a `tinygrad_nn.nn.Module` or a mapping of dotted name -> ndarray (or Tensor).
        path: destination file (str or pathlib.Path), conventionally ``*.npz``.

    Returns:
        The path written, as a ``pathlib.Path``.

    Example:
        >>> tnn.save(model, "model.npz")
        >>> model.load_state_dict(tnn.load("model.npz"))
    """
    arrays = _arrays_of(obj)
    target = Path(os.fspath(path))
    header = {
        "format": FORMAT,
        "version": VERSION,
        "names": list(arrays),
        "shapes": [list(array.shape) for array in arrays.values()],
        "dtypes": [array.dtype.str for array in arrays.values()],
    }
    header_array = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with (
        atomic_path(target) as temporary,
        zipfile.ZipFile(temporary, mode="w", compression=zipfile.ZIP_STORED) as archive,
    ):
        for name, array in [(HEADER_KEY, header_array), *arrays.items()]:
            with archive.open(name + ".npy", mode="w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, array, allow_pickle=False)
    return target


def load(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a file written by `save`: dotted name -> ndarray, in the saved order.

    Never unpickles (``allow_pickle=False``). Raises `CheckpointError` (a ValueError)
    naming the path when the file is not a zip archive, was not written by tinygrad_nn
    (no header), is truncated or corrupt, holds object arrays, or disagrees with its
    header; FileNotFoundError when it does not exist.

    Example:
        >>> state = tnn.load("model.npz")
        >>> model.load_state_dict(state)
    """
    source = Path(os.fspath(path))
    with open(source, "rb") as file:
        magic = file.read(4)
    if magic not in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC):
        raise CheckpointError(
            f"load: {source} is not a tinygrad_nn checkpoint: it is not an .npz (zip) archive"
        )
    try:
        with np.load(source, allow_pickle=False) as archive:
            if HEADER_KEY not in archive.files:
                raise CheckpointError(
                    f"load: {source} is an .npz archive but not a tinygrad_nn checkpoint (no "
                    f"{HEADER_KEY!r} header); read plain archives with np.load"
                )
            header = _parse_header(source, archive[HEADER_KEY])
            names = header["names"]
            extra = sorted(set(archive.files) - {HEADER_KEY, *names})
            if extra:
                raise CheckpointError(
                    f"load: {source} holds arrays its header does not list: {extra}"
                )
            arrays: dict[str, np.ndarray] = {}
            for name, shape, dtype in zip(names, header["shapes"], header["dtypes"], strict=True):
                if name not in archive.files:
                    raise CheckpointError(
                        f"load: {source} lacks the array {name!r} its header lists"
                    )
                array = archive[name]
                if list(array.shape) != list(shape) or array.dtype.str != dtype:
                    raise CheckpointError(
                        f"load: {source}: array {name!r} has shape {array.shape} and dtype "
                        f"{array.dtype.str}, the header says {tuple(shape)} and {dtype}"
                    )
                arrays[name] = array
            return arrays
    except CheckpointError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error) or "pickled" in str(error) or "Object arrays" in str(error):
            raise CheckpointError(
                f"load: {source} holds pickled (object) data, which tinygrad_nn never loads"
            ) from None
        raise CheckpointError(f"load: {source} is corrupt: {error}") from error
    except (zipfile.BadZipFile, EOFError, zlib.error, KeyError, OSError) as error:
        raise CheckpointError(
            f"load: {source} is truncated or corrupt ({type(error).__name__}: {error})"
        ) from error


def _parse_header(source: Path, raw: np.ndarray) -> dict[str, Any]:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"load: {source} has a malformed {HEADER_KEY!r} header")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"load: {source} has an unreadable header: {error}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"load: {source} has a header of an unknown format")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise CheckpointError(
            f"load: {source} has format version {version!r}; this tinygrad_nn reads versions "
            f"1 to {VERSION} (upgrade tinygrad_nn to read newer files)"
        )
    names, shapes, dtypes = header.get("names"), header.get("shapes"), header.get("dtypes")
    if not (
        isinstance(names, list)
        and isinstance(shapes, list)
        and isinstance(dtypes, list)
        and len(names) == len(shapes) == len(dtypes)
        and len(set(names)) == len(names)
    ):
        raise CheckpointError(f"load: {source} has an inconsistent header (names/shapes/dtypes)")
    return header
