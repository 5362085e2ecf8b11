"""A fuzzed loader: hypothesis mutates valid checkpoints and `tnn.load` must stay in contract.

Every case saves a random nested checkpoint, damages the file, and loads it. The contract:

- byte damage (truncation, flipped bits, overwritten, inserted or deleted bytes): `load`
  returns exactly what was saved or raises `CheckpointError`;
- rewritten files (valid zip records around a tampered JSON header, duplicated, renamed,
  dropped, swapped or replaced entries, swapped dtypes): `load` raises `CheckpointError` or
  returns a value made only of what a checkpoint may hold (`save` takes it back and it
  round-trips exactly); a file whose entries declare more data than they hold, or that is
  compressed (a zip bomb), is always refused;
- never another exception type, never anything executed (nothing is ever unpickled).

The default run (CI) tries a few hundred cases and asserts behaviour only. The long
profile, ``TNN_FUZZ_EXAMPLES=10000`` (the total number of mutated checkpoints, split across
the mutation tests), also measures each load's time and tracemalloc peak and asserts that
none took over 1 s or 100 MB; with ``TNN_FUZZ_REPORT=path.json`` it writes the counts and
maxima there (docs/checkpoints.md quotes them):

    TNN_FUZZ_EXAMPLES=10000 TNN_FUZZ_REPORT=fuzz.json \\
        python -m pytest tests/test_io_fuzz.py -p no:xdist -o addopts= -q
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_io import assert_identical, bomb, entries_of, header_entry, npy_bytes, rewrite

import tinygrad_nn as tnn
from tinygrad_nn import io

TOTAL = int(os.environ.get("TNN_FUZZ_EXAMPLES", "0"))
LONG = TOTAL > 0
MUTATION_TESTS = 4
PER_TEST = math.ceil(TOTAL / MUTATION_TESTS) if LONG else 50
MAX_SECONDS, MAX_BYTES = 1.0, 100 * 2**20  # the long profile's bounds per case

FUZZ = settings(
    max_examples=PER_TEST,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None if LONG else settings.default.database,
)

STATS: dict[str, Any] = {"cases": {}, "outcomes": {}, "max_seconds": 0.0, "max_peak_bytes": 0}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One folder for every case (hypothesis examples cannot use function-scoped fixtures)."""
    yield tmp_path_factory.mktemp("fuzz")
    report = os.environ.get("TNN_FUZZ_REPORT")
    if report and LONG:
        STATS["mutated_cases"] = sum(
            count for kind, count in STATS["cases"].items() if kind != "round trip"
        )
        Path(report).write_text(json.dumps(STATS, indent=2) + "\n")


# ------------------------------------------------------------------------ checkpoints

DTYPES = ["<f8", "<f4", ">f8", "<f2", "<i8", "|i1", "|u1", "|b1", "<c16", "<U3", "|S2", "<M8[s]"]


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    count = math.prod(shape)
    if dtype.kind == "U":  # valid code points, surrogates included
        array = rng.integers(0, 0x110000, count * 3, dtype=np.uint32).view(dtype)
    elif dtype.kind == "b":
        array = rng.integers(0, 2, count).astype(dtype)
    else:
        array = np.frombuffer(rng.bytes(count * dtype.itemsize), dtype=dtype).copy()
    array = array.reshape(shape)
    return array.T if draw(st.booleans()) else array


numpy_scalars = arrays().map(lambda a: a.reshape(-1)[0] if a.size else np.zeros((), a.dtype)[()])
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    arrays(),
    numpy_scalars,
)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers(-5, 5)), children, max_size=3),
    ),
    max_leaves=8,
)
# Always a few arrays, so that every entry mutation has entries to work on.
checkpoints = st.fixed_dictionaries(
    {"model": st.dictionaries(st.text(max_size=6), arrays(), min_size=1, max_size=3)},
    optional={"optim": values, "epoch": st.integers(0, 100), "extra": values},
)


def saved(folder: Path, checkpoint: Any) -> tuple[Path, bytes]:
    path = folder / "original.npz"
    tnn.save(checkpoint, path)
    return path, path.read_bytes()


# ------------------------------------------------------------------------ the contract


@contextlib.contextmanager
def measured(kind: str) -> Iterator[None]:
    """Count the case; in the long profile also time it and trace its peak memory."""
    STATS["cases"][kind] = STATS["cases"].get(kind, 0) + 1
    if not LONG:
        yield
        return
    # The collector stays off during the case: a full collection walks hypothesis's own
    # heap, which is not the loader's cost (load makes no reference cycles).
    gc.disable()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        gc.enable()
        STATS["max_seconds"] = max(STATS["max_seconds"], seconds)
        STATS["max_peak_bytes"] = max(STATS["max_peak_bytes"], peak)
        by_kind = STATS.setdefault("max_seconds_by_kind", {})
        by_kind[kind] = max(by_kind.get(kind, 0.0), seconds)
        assert seconds < MAX_SECONDS, f"a {kind} case took {seconds:.2f} s"
        assert peak < MAX_BYTES, f"a {kind} case peaked at {peak} bytes"


def load_or_refuse(path: Path, kind: str) -> tuple[bool, Any]:
    """(True, value) or (False, None) for a CheckpointError; any other exception fails."""
    with measured(kind):
        try:
            value = tnn.load(path)
        except io.CheckpointError as error:
            assert str(path) in str(error)
            outcome = (False, None)
        else:
            outcome = (True, value)
    key = f"{kind}: {'loaded' if outcome[0] else 'refused'}"
    STATS["outcomes"][key] = STATS["outcomes"].get(key, 0) + 1
    return outcome


def assert_checkpoint_values(value: Any, folder: Path) -> None:
    """``value`` is made only of what a checkpoint holds: save takes it and it round-trips."""
    path = folder / "again.npz"
    tnn.save(value, path)
    assert_identical(tnn.load(path), value)


# ------------------------------------------------------------------------ round trips


@FUZZ
@given(checkpoint=checkpoints | values)
def test_every_checkpoint_round_trips_exactly(folder: Path, checkpoint: Any) -> None:
    path, _ = saved(folder, checkpoint)
    with measured("round trip"):
        loaded = tnn.load(path)
    assert_identical(loaded, checkpoint)


# ------------------------------------------------------------------------ byte damage


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert", "delete"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "truncate":
            del out[at:]
        elif kind == "flip" and out:
            out[at] ^= draw(st.integers(1, 255))
        elif kind == "overwrite":
            patch = draw(st.binary(min_size=1, max_size=16))
            out[at : at + len(patch)] = patch
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del out[at : at + draw(st.integers(1, 16))]
    return bytes(out)


@FUZZ
@given(checkpoint=checkpoints, data=st.data())
def test_damaged_bytes_load_exactly_or_are_refused(
    folder: Path, checkpoint: Any, data: st.DataObject
) -> None:
    path, original = saved(folder, checkpoint)
    path.write_bytes(data.draw(damaged(original)))
    loaded, value = load_or_refuse(path, "byte damage")
    if loaded:
        assert_identical(value, checkpoint)


# ------------------------------------------------------------------------ tampered headers

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 2**64)
    | st.floats(-1e3, 1e3)
    | st.text(max_size=6)
    | st.sampled_from(["array", "scalar", "dict", "list", "tuple", "float", "nan", "<f8", "|O"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["array", "scalar", "dict", "list", "tuple", "float", "shape", "dtype"])
            | st.text(max_size=4),
            children,
            max_size=2,
        )
    ),
    max_leaves=6,
)


def paths_of(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every location inside a JSON value, as a tuple of keys and indices."""
    yield prefix
    if isinstance(node, dict):
        for key, item in node.items():
            yield from paths_of(item, (*prefix, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from paths_of(item, (*prefix, index))


@st.composite
def tampered_header(draw: st.DrawFn, header: dict[str, Any]) -> bytes:
    kind = draw(st.sampled_from(["replace", "delete", "insert", "duplicate", "raw", "number"]))
    if kind == "raw":
        # Text str.encode accepts (no lone surrogates), encoded; or any bytes.
        utf8_text = st.text(st.characters(codec="utf-8"), max_size=64)
        return draw(st.binary(max_size=64) | utf8_text.map(str.encode))
    location = draw(st.sampled_from(list(paths_of(header))))
    if not location:
        return json.dumps(draw(json_values)).encode()
    parent = header
    for step in location[:-1]:
        parent = parent[step]
    last = location[-1]
    if kind == "replace":
        parent[last] = draw(json_values)
    elif kind == "delete":
        del parent[last]
    elif kind == "insert" and isinstance(parent, list):
        parent.insert(last, draw(json_values))
    elif kind == "insert":
        parent[draw(st.text(max_size=4))] = draw(json_values)
    elif kind == "duplicate" and isinstance(parent, list):
        parent.insert(last, parent[last])
    elif kind == "number" and type(parent[last]) is int:
        parent[last] = draw(st.sampled_from([-1, 0, 1, 2**31, 2**63, 2**70, 1.0, True]))
    return json.dumps(header).encode()


@FUZZ
@given(checkpoint=checkpoints, data=st.data())
def test_tampered_headers_are_refused_or_give_checkpoint_values(
    folder: Path, checkpoint: Any, data: st.DataObject
) -> None:
    path, _ = saved(folder, checkpoint)
    entries = entries_of(path)
    header = json.loads(np.lib.format.read_array(BytesIO(entries[0][1])).tobytes())
    text = data.draw(tampered_header(header))
    rewrite(path, [(entries[0][0], header_entry(text)), *entries[1:]])
    loaded, value = load_or_refuse(path, "tampered header")
    if loaded:
        assert_checkpoint_values(value, folder)


# ------------------------------------------------------------------------ tampered entries


def with_npy_header(entry: bytes, descr: str | None = None, grow: bool = False) -> bytes:
    """The .npy entry, data unchanged, with another dtype or a larger shape in its header."""
    stream = BytesIO(entry)
    np.lib.format.read_magic(stream)
    shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    if grow:
        shape = (*shape, 2**20) if shape else (2**30,)
    header = BytesIO()
    description = {"descr": descr or dtype.str, "fortran_order": fortran_order, "shape": shape}
    np.lib.format.write_array_header_1_0(header, description)
    return header.getvalue() + entry[stream.tell() :]


# zipfile cuts a name at its first NUL
# Names a zip archive can hold: UTF-8 text (a lone surrogate cannot be written at all).
entry_names = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8
)
ALWAYS_REFUSED = {"inflate", "deflate", "duplicate", "drop"}


@st.composite
def tampered_entries(
    draw: st.DrawFn, entries: list[tuple[str, bytes]]
) -> tuple[str, list[tuple[str, bytes]], int]:
    kind = draw(
        st.sampled_from(
            ["duplicate", "rename", "drop", "add", "swap", "replace", "dtype", "inflate", "deflate"]
        )
    )
    entries = list(entries)
    index = draw(st.integers(0, len(entries) - 1))
    name, content = entries[index]
    method = zipfile.ZIP_STORED
    if kind == "duplicate":
        entries.insert(draw(st.integers(0, len(entries))), (name, content))
    elif kind == "rename":
        new = draw(
            st.sampled_from(["a0.npy", "a99.npy", io.HEADER_KEY + ".npy", "a0", "../a0.npy"])
            | entry_names
        )
        entries[index] = (new, content)
    elif kind == "drop":
        del entries[index]
    elif kind == "add":
        entries.append((draw(entry_names), draw(st.binary(max_size=64))))
    elif kind == "swap":
        other = draw(st.integers(0, len(entries) - 1))
        entries[index], entries[other] = (name, entries[other][1]), (entries[other][0], content)
    elif kind == "replace":
        replacement = draw(
            st.binary(max_size=300)
            | arrays().map(npy_bytes)
            | st.just(npy_bytes(np.array([None, {}], dtype=object)))
            | st.binary(max_size=40).map(lambda tail: content[:10] + tail)
        )
        entries[index] = (name, replacement)
    elif kind == "dtype":
        dtype = draw(st.sampled_from([*DTYPES, "|O", "<V8", ">i4", "<u2"]))
        entries[index] = (name, with_npy_header(content, descr=dtype))
    elif kind == "inflate":
        entries[index] = (name, with_npy_header(content, grow=True))
    else:
        method = zipfile.ZIP_DEFLATED
    return kind, entries, method


@FUZZ
@given(checkpoint=checkpoints, data=st.data())
def test_tampered_entries_are_refused_or_give_checkpoint_values(
    folder: Path, checkpoint: Any, data: st.DataObject
) -> None:
    path, _ = saved(folder, checkpoint)
    kind, entries, method = data.draw(tampered_entries(entries_of(path)))
    rewrite(path, entries, method)
    loaded, value = load_or_refuse(path, "tampered entries")
    if loaded:
        assert kind not in ALWAYS_REFUSED, f"a file with a {kind} entry was loaded"
        assert_checkpoint_values(value, folder)


# ------------------------------------------------------------------------ zip bombs


def with_directory_sizes(path: Path, sizes: tuple[int, int]) -> None:
    """Give the last central-directory record other compressed and uncompressed sizes."""
    data = bytearray(path.read_bytes())
    record = data.rindex(b"PK\x01\x02")
    data[record + 20 : record + 28] = struct.pack("<II", *sizes)
    path.write_bytes(bytes(data))


@FUZZ
@given(
    kibibytes=st.integers(1, 256),
    declared=st.none() | st.lists(st.integers(0, 2**62), max_size=3),
    sizes=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
)
def test_bombs_and_false_sizes_are_refused(
    folder: Path, kibibytes: int, declared: list[int] | None, sizes: tuple[int, int]
) -> None:
    """Deflated bombs, and entries whose directory records claim other sizes, are refused."""
    path = bomb(folder / "bomb.npz", kibibytes * 2**10, declared)
    loaded, _ = load_or_refuse(path, "zip bomb")
    assert not loaded
    path, original = saved(folder, {"w": np.zeros(4)})
    with_directory_sizes(path, sizes)
    loaded, value = load_or_refuse(path, "false sizes")
    if loaded:  # only when the sizes drawn are the true ones
        assert path.read_bytes() == original
        assert_identical(value, {"w": np.zeros(4)})


def test_the_hardening_issues_bomb_is_refused(folder: Path) -> None:
    """A 1.6 MB file deflating to 1.6 GB (the issue's case; 16 MB in the default run)."""
    inflated_bytes = 1600 * 2**20 if LONG else 16 * 2**20
    path = bomb(folder / "issue-bomb.npz", inflated_bytes, [1])
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(io.CheckpointError, match="compressed"):
        tnn.load(path)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    STATS["bomb"] = {
        "file_bytes": path.stat().st_size,
        "inflated_bytes": inflated_bytes,
        "refused_in_seconds": seconds,
        "peak_bytes": peak,
    }
    if LONG:
        assert seconds < MAX_SECONDS and peak < MAX_BYTES
