"""Tests of tinygrad_nn.io: round trips of nested checkpoints, atomic writes, and refusals.

The helpers `assert_identical`, `rewrite` and `entries_of` are shared with test_io_fuzz.py.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import subprocess
import sys
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import Tensor, io, optim
from tinygrad_nn.nn import MLP, Linear, Sequential

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_]
ROOT = Path(__file__).resolve().parents[1]


def assert_identical(actual: Any, expected: Any, where: str = "checkpoint") -> None:
    """Same structure, types, key order and bytes (NaN equals NaN, -0.0 differs from 0.0)."""
    if isinstance(expected, Tensor):
        expected = expected.data
    if isinstance(expected, np.ndarray):
        assert type(actual) is np.ndarray, where
        assert (actual.dtype.str, actual.shape) == (expected.dtype.str, expected.shape), where
        assert actual.tobytes() == expected.tobytes(), where
        return
    assert type(actual) is type(expected), f"{where}: {type(actual)} is not {type(expected)}"
    if isinstance(expected, np.generic):
        assert actual.tobytes() == expected.tobytes(), where
    elif isinstance(expected, float):
        assert actual.hex() == expected.hex() or (math.isnan(actual) and math.isnan(expected))
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), where
        for key, value in expected.items():
            assert_identical(actual[key], value, f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for index, (a, b) in enumerate(zip(actual, expected, strict=True)):
            assert_identical(a, b, f"{where}[{index}]")
    else:
        assert actual == expected, where


def entries_of(path: Path) -> list[tuple[str, bytes]]:
    """The archive's (name, raw bytes) entries, in order."""
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def header_of(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(archive[io.HEADER_KEY].tobytes())


def npy_bytes(array: np.ndarray) -> bytes:
    import io as bytes_io

    buffer = bytes_io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def header_entry(header: Any) -> bytes:
    text = header if isinstance(header, (str, bytes)) else json.dumps(header)
    data = text.encode() if isinstance(text, str) else text
    return npy_bytes(np.frombuffer(data, dtype=np.uint8))


def rewrite(
    out: Path, entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED
) -> Path:
    """Write ``entries`` as a zip archive (duplicate names allowed) with valid CRCs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile's "Duplicate name"
        with zipfile.ZipFile(out, "w", compression=compression) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return out


def training_state() -> tuple[Sequential, optim.Adam, dict[str, Any]]:
    model = Sequential(Linear(2, 3, rng=0), Linear(3, 1, rng=1))
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    loss = model(Tensor(np.ones((4, 2)))).square().sum()
    loss.backward()
    optimizer.step()
    return model, optimizer, {"model": model.state_dict(), "optim": optimizer.state_dict()}


# ------------------------------------------------------------------------ round trips


def test_module_round_trip(tmp_path: Path) -> None:
    model = MLP([1, 16, 2], rng=0)
    path = tmp_path / "model.npz"
    assert tnn.save(model, path) == path
    state = tnn.load(path)
    assert list(state) == list(model.state_dict())
    other = MLP([1, 16, 2], rng=1)
    other.load_state_dict(state)
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
        assert a.dtype == b.dtype


def test_every_dtype_and_shape_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays: dict[str, Any] = {
        f"group.{index}.{np.dtype(dtype).name}": (rng.normal(size=(2, 3)) * 50).astype(dtype)
        for index, dtype in enumerate(DTYPES)
    }
    arrays["scalar"] = np.array(3.5)
    arrays["empty"] = np.zeros((0, 4), np.float32)
    arrays["big_endian"] = np.arange(4, dtype=">f8")
    arrays["non_contiguous"] = np.arange(12.0).reshape(3, 4).T
    arrays["complex"] = np.array([1 + 2j, -0.0j], np.complex64)
    arrays["text"] = np.array(["a", "ünï", ""])
    arrays["bytes"] = np.array([b"x", b"\x00yz"])
    arrays["dates"] = np.array(["2026-12-01", "NaT"], dtype="datetime64[D]")
    arrays["nan_and_signed_zero"] = np.array([np.nan, -0.0, np.inf])
    path = tmp_path / "arrays.npz"
    tnn.save(arrays, str(path))  # str paths work
    loaded = tnn.load(str(path))
    assert_identical(loaded, arrays)
    assert loaded["non_contiguous"].flags.f_contiguous
    tnn.save({"tensor": Tensor(np.ones(3, np.float32))}, path)  # Tensors come back as arrays
    assert_identical(tnn.load(path), {"tensor": np.ones(3, np.float32)})


def test_nested_checkpoint_round_trips_exactly(tmp_path: Path) -> None:
    _, _, state = training_state()
    checkpoint = {
        **state,
        "epoch": 3,
        "best": 0.25,
        "losses": [1.5, 0.5, math.nan, -math.inf, -0.0],
        "name": "run ünï \ud800",  # a lone surrogate survives too
        "done": False,
        "note": None,
        "betas": (0.9, 0.999),
        "per_param": {0: {"step": 2, "buffer": np.ones(2)}, 1: {}, "0": "a str key beside 0"},
        "numpy_scalars": [np.float32(1.5), np.int64(-7), np.bool_(True), np.str_("s")],
        "big": 2**100,
        "pytorch_style_optimizer": {  # what param_groups-based state_dicts look like
            "state": {0: {"step": 3, "exp_avg": np.ones(2), "exp_avg_sq": np.zeros(2)}},
            "param_groups": [
                {"params": [0, 1], "lr": 1e-3, "betas": (0.9, 0.999), "foreach": None}
            ],
        },
        "deep": [[[[[]]]], (), {}],
    }
    path = tmp_path / "checkpoint.npz"
    tnn.save(checkpoint, path)
    loaded = tnn.load(path)
    assert_identical(loaded, checkpoint)
    assert list(loaded["per_param"]) == [0, 1, "0"]


def test_top_level_values_need_not_be_dicts(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    for value in [np.arange(3), [np.ones(1), 2], 7, None, "text", (1.0,)]:
        tnn.save(value, path)
        assert_identical(tnn.load(path), value)


def test_names_that_collided_in_version_1_are_distinct(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    state = {"w.npy": np.ones(1), "w": np.zeros(1), "params.w.npy": np.full(1, 2.0)}
    state["params.w"] = np.full(1, 3.0)
    state[io.HEADER_KEY] = np.full(1, 4.0)  # no longer a reserved name
    tnn.save(state, path)
    assert_identical(tnn.load(path), state)
    names = [name for name, _ in entries_of(path)]
    assert names == [io.HEADER_KEY + ".npy"] + [f"a{i}.npy" for i in range(5)]


def test_optimizer_state_round_trips_and_resumes_bitwise(tmp_path: Path) -> None:
    """Training resumed from a checkpoint continues exactly as uninterrupted training."""
    data = np.random.default_rng(0).normal(size=(8, 2))

    def make(kind: str) -> tuple[Sequential, optim.Optimizer]:
        model = Sequential(Linear(2, 4, rng=0), Linear(4, 1, rng=1))
        if kind == "sgd":
            return model, optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=0.01)
        return model, optim.Adam(model.parameters(), lr=0.01, weight_decay=0.01)

    def steps(model: Sequential, optimizer: optim.Optimizer, count: int) -> None:
        for _ in range(count):
            optimizer.zero_grad()
            model(Tensor(data)).square().mean().backward()
            optimizer.step()

    for kind in ("sgd", "adam"):
        model, optimizer = make(kind)
        steps(model, optimizer, 3)
        path = tmp_path / f"{kind}.npz"
        tnn.save({"model": model.state_dict(), "optim": optimizer.state_dict(), "step": 3}, path)
        steps(model, optimizer, 4)

        resumed_model, resumed_optimizer = make(kind)
        checkpoint = tnn.load(path)
        resumed_model.load_state_dict(checkpoint["model"])
        resumed_optimizer.load_state_dict(checkpoint["optim"])
        assert checkpoint["step"] == 3
        steps(resumed_model, resumed_optimizer, 4)
        for a, b in zip(model.parameters(), resumed_model.parameters(), strict=True):
            assert a.data.tobytes() == b.data.tobytes(), kind


def test_resuming_with_a_scheduler_is_bitwise(tmp_path: Path) -> None:
    """Issue 14's resumable training state: model, optimizer, scheduler and epoch."""
    schedulers = getattr(optim, "lr_scheduler", None)
    if schedulers is None:
        try:
            schedulers = importlib.import_module("tinygrad_nn.optim.lr_scheduler")
        except ImportError:
            pytest.skip("tnn.optim.lr_scheduler is not merged yet (issue 14)")
    data = np.random.default_rng(1).normal(size=(8, 2))

    def make() -> tuple[Sequential, optim.Optimizer, Any]:
        model = Sequential(Linear(2, 4, rng=0), Linear(4, 1, rng=1))
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        return model, optimizer, schedulers.StepLR(optimizer, step_size=2, gamma=0.5)

    def epochs(model: Sequential, optimizer: optim.Optimizer, scheduler: Any, count: int) -> None:
        for _ in range(count):
            optimizer.zero_grad()
            model(Tensor(data)).square().mean().backward()
            optimizer.step()
            scheduler.step()

    model, optimizer, scheduler = make()
    epochs(model, optimizer, scheduler, 3)
    path = tmp_path / "resume.npz"
    state = {"model": model, "optim": optimizer, "scheduler": scheduler}
    tnn.save({key: value.state_dict() for key, value in state.items()} | {"epoch": 3}, path)
    epochs(model, optimizer, scheduler, 4)

    resumed = make()
    checkpoint = tnn.load(path)
    for key, value in zip(["model", "optim", "scheduler"], resumed, strict=True):
        value.load_state_dict(checkpoint[key])
    epochs(*resumed, 4)
    assert checkpoint["epoch"] == 3
    assert resumed[2].get_last_lr() == scheduler.get_last_lr()
    for a, b in zip(model.parameters(), resumed[0].parameters(), strict=True):
        assert a.data.tobytes() == b.data.tobytes()


def test_file_is_a_plain_npz_with_a_json_header(tmp_path: Path) -> None:
    path = tmp_path / "linear.npz"
    tnn.save({"layer": Linear(2, 3, dtype=np.float32).state_dict(), "epoch": 1}, path)
    with np.load(path, allow_pickle=False) as archive:
        assert archive.files == [io.HEADER_KEY, "a0", "a1"]
        assert archive["a0"].shape == (3, 2)
    assert header_of(path) == {
        "format": "tinygrad_nn.state_dict",
        "version": 2,
        "arrays": [{"shape": [3, 2], "dtype": "<f4"}, {"shape": [3], "dtype": "<f4"}],
        "tree": {
            "dict": [
                ["layer", {"dict": [["weight", {"array": 0}], ["bias", {"array": 1}]]}],
                ["epoch", 1],
            ]
        },
    }
    with zipfile.ZipFile(path) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def version_1_file(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """A file as tinygrad_nn 0.1 wrote it: entries NAME.npy, a names/shapes/dtypes header."""
    header = {
        "format": io.FORMAT,
        "version": 1,
        "names": list(arrays),
        "shapes": [list(a.shape) for a in arrays.values()],
        "dtypes": [a.dtype.str for a in arrays.values()],
    }
    entries = [(io.HEADER_KEY + ".npy", header_entry(header))]
    entries += [(name + ".npy", npy_bytes(array)) for name, array in arrays.items()]
    return rewrite(path, entries)


def test_version_1_files_still_load(tmp_path: Path) -> None:
    model = MLP([1, 4, 2], rng=0)
    state = model.state_dict()
    path = version_1_file(tmp_path / "old.npz", state)
    assert_identical(tnn.load(path), state)
    MLP([1, 4, 2], rng=1).load_state_dict(tnn.load(path))
    # Names that np.load would confuse are read from their own entries.
    colliding = {"w.npy": np.ones(1), "w": np.zeros(1)}
    assert_identical(tnn.load(version_1_file(tmp_path / "colliding.npz", colliding)), colliding)


def test_no_suffix_is_added_and_permissions_are_ordinary(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    tnn.save({"a": np.ones(1)}, path)
    assert path.exists() and not (tmp_path / "checkpoint.npz").exists()
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------------------ writing safely


def test_interrupted_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.npz"
    tnn.save({"w": np.ones(3)}, path)
    before = path.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        tnn.save({"w": np.zeros(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]

    calls = []

    def write_then_crash(entry: object, array: np.ndarray, allow_pickle: bool) -> None:
        calls.append(allow_pickle)
        if len(calls) == 2:  # after the header, midway through the arrays
            raise KeyboardInterrupt
        original(entry, array, allow_pickle=allow_pickle)

    original = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        tnn.save({"w": np.zeros(3), "b": np.zeros(2)}, path)
    monkeypatch.undo()
    assert calls == [False, False], "arrays are always written with allow_pickle=False"
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
    np.testing.assert_array_equal(tnn.load(path)["w"], 1.0)


KILLED_WRITER = """
import os, signal, sys
import numpy as np
import tinygrad_nn as tnn
write = np.lib.format.write_array
def write_then_die(entry, array, allow_pickle):
    write(entry, array, allow_pickle=allow_pickle)
    if array.size > 100:
        os.kill(os.getpid(), signal.SIGKILL)
np.lib.format.write_array = write_then_die
tnn.save({"w": np.ones(100_000)}, sys.argv[1])
"""


def test_a_killed_save_leaves_a_temporary_that_the_next_save_removes(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    tnn.save({"w": np.zeros(2)}, path)
    before = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], env=env, timeout=60)
    assert result.returncode == -signal.SIGKILL
    leftovers = [p for p in tmp_path.iterdir() if p != path]
    assert len(leftovers) == 1, leftovers
    assert leftovers[0].name.startswith(".model.npz.") and leftovers[0].suffix == ".npz"
    assert path.read_bytes() == before, "the old file survives SIGKILL"
    tnn.save({"other": np.ones(1)}, tmp_path / "other.npz")  # any save to the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "other.npz"]


def test_read_only_targets_are_refused_and_symlinks_kept(tmp_path: Path) -> None:
    path = tmp_path / "frozen.npz"
    tnn.save({"w": np.ones(1)}, path)
    path.chmod(0o444)
    before = path.read_bytes()
    with pytest.raises(PermissionError, match=r"'.*frozen.npz'.*read-only.*chmod u\+w"):
        tnn.save({"w": np.zeros(1)}, path)
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]

    real = tmp_path / "epoch3.npz"
    tnn.save({"w": np.ones(1)}, real)
    link = tmp_path / "latest.npz"
    link.symlink_to(real.name)
    tnn.save({"w": np.full(1, 5.0)}, link)
    assert link.is_symlink() and os.readlink(link) == real.name
    assert_identical(tnn.load(real), {"w": np.full(1, 5.0)})


# ------------------------------------------------------------------------ refusing to save


def test_save_refuses_what_it_cannot_write_without_pickling(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError, match=r"checkpoint\['a'\]\[1\] has dtype object"):
        tnn.save({"a": [np.ones(1), np.array([{}], dtype=object)]}, path)
    with pytest.raises(TypeError, match="structured"):
        tnn.save({"a": np.zeros(2, dtype=[("x", "<f8")])}, path)
    with pytest.raises(TypeError, match=r"masked array; save its \.data and \.mask"):
        tnn.save({"a": np.ma.masked_array([1.0, 2.0], mask=[0, 1])}, path)
    with pytest.raises(TypeError, match=r"checkpoint\['a'\] is a set"):
        tnn.save({"a": {1, 2}}, path)
    with pytest.raises(TypeError, match=r"key 1.5 of type float; dict keys must be str or int"):
        tnn.save({1.5: np.ones(1)}, path)
    with pytest.raises(TypeError, match="key True of type bool"):
        tnn.save({True: 1}, path)
    with pytest.raises(TypeError, match=r"key np.int64\(1\) of type int64"):
        tnn.save({np.int64(1): 1}, path)
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="contains itself"):
        tnn.save({"loop": looped}, path)
    deep: list[Any] = []
    for _ in range(io.MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than 100 levels"):
        tnn.save(deep, path)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------ refusing to load


def model_and_file(tmp_path: Path) -> tuple[Sequential, Path, dict[str, np.ndarray]]:
    model = Sequential(Linear(2, 3, rng=0), Linear(3, 1, rng=1))
    path = tmp_path / "model.npz"
    tnn.save(model, path)
    return model, path, model.state_dict()


def assert_refused(path: Path, match: str, **kwargs: Any) -> io.CheckpointError:
    before = path.read_bytes()
    with pytest.raises(io.CheckpointError, match=match) as caught:
        tnn.load(path, **kwargs)
    assert isinstance(caught.value, ValueError)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before, "load must never change the file"
    return caught.value


def test_truncated_file(tmp_path: Path) -> None:
    model, path, state = model_and_file(tmp_path)
    data = path.read_bytes()
    for size in (len(data) // 2, len(data) - 10, 10):
        path.write_bytes(data[:size])
        assert_refused(path, "truncated or corrupt|not a tinygrad_nn")
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, state[name])


def test_foreign_files(tmp_path: Path) -> None:
    plain = tmp_path / "plain.npz"
    np.savez(plain, weight=np.ones(3))
    assert_refused(plain, "no '__tinygrad_nn__' header")
    npy = tmp_path / "array.npy"
    np.save(npy, np.ones(3))
    assert_refused(npy, "not an .npz")
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    assert_refused(text, "not an .npz")
    with pytest.raises(FileNotFoundError):
        tnn.load(tmp_path / "missing.npz")
    with pytest.raises(TypeError, match="max_bytes"):
        tnn.load(plain, max_bytes=-1)


def test_pickle_bearing_files_are_refused(tmp_path: Path) -> None:
    plain = tmp_path / "pickled.npz"
    np.savez(plain, weight=np.array([{"x": 1}], dtype=object))
    assert_refused(plain, "header")

    # Our own header, plus an entry that needs unpickling where an array should be.
    _, path, _ = model_and_file(tmp_path)
    entries = entries_of(path)
    entries[2] = (entries[2][0], npy_bytes(np.array([1, None, 3], dtype=object)))
    assert_refused(rewrite(tmp_path / "rebuilt.npz", entries), "pickled")


def edited(path: Path, out: Path, edit: Callable[[dict[str, Any]], object]) -> Path:
    """``path`` with its header passed through ``edit``."""
    entries = entries_of(path)
    header = header_of(path)
    edit(header)
    return rewrite(out, [(entries[0][0], header_entry(header)), *entries[1:]])


def test_header_mismatches_are_refused(tmp_path: Path) -> None:
    _, path, _ = model_and_file(tmp_path)
    out = tmp_path / "edited.npz"

    def refused(edit: Callable[[dict[str, Any]], object], match: str) -> None:
        assert_refused(edited(path, out, edit), match)

    refused(lambda h: h.update(version=3), "version 3; this tinygrad_nn reads versions 1 to 2")
    refused(lambda h: h.update(version=True), "version True")
    refused(lambda h: h.update(version=2.0), "version 2.0")
    refused(lambda h: h.update(version="2"), "version '2'")
    refused(lambda h: h.update(format="other"), "unknown format")
    refused(lambda h: h.update(extra=1), r"unknown ones \['extra'\]")
    refused(lambda h: h["arrays"][0].update(shape=[9, 9]), r"'a0.npy' holds \d+ bytes, but")
    refused(lambda h: h["arrays"][0].update(shape=None), "shape None is not a list")
    refused(lambda h: h["arrays"][0].update(shape=[2, -3]), r"shape \[2, -3\]")
    refused(lambda h: h["arrays"][0].update(shape=[True, 2]), r"shape \[True, 2\]")
    refused(lambda h: h["arrays"][0].update(dtype="|O"), "dtype '|O'")
    refused(lambda h: h["arrays"][0].update(dtype="<f4"), "dtype <f8, the header says .* <f4")
    refused(lambda h: h["arrays"][0].update(dtype="f8"), "dtype 'f8'")  # not canonical
    refused(lambda h: h["arrays"].pop(), r"tree\['1.bias'\] names the array 3, which is not listed")
    refused(
        lambda h: (h["arrays"].pop(), h["tree"]["dict"].pop()),
        r"entries its header does not list: \['a3.npy'\]",
    )
    refused(
        lambda h: (
            h["arrays"].append(h["arrays"][0]),
            h["tree"]["dict"].append(["x", {"array": 4}]),
        ),
        r"lacks the entries \['a4.npy'\]",
    )
    refused(lambda h: h["tree"]["dict"].pop(), r"use each array exactly once; arrays \[3\]")
    refused(lambda h: h["tree"]["dict"][0].__setitem__(1, {"array": 1}), "exactly once")
    refused(lambda h: h["tree"]["dict"][0].__setitem__(1, {"array": 7}), "not listed")
    refused(lambda h: h["tree"]["dict"][0].__setitem__(1, {"scalar": 0}), "scalar of shape")
    refused(lambda h: h["tree"]["dict"][1].__setitem__(0, "0.weight"), "repeats the key")
    refused(lambda h: h["tree"]["dict"][1].__setitem__(0, None), r"not a \[key, value\] pair")
    refused(lambda h: h.update(tree={"set": []}), "one key of")
    refused(lambda h: h.update(tree={"float": "NaN!"}), "not nan/inf/-inf")
    refused(lambda h: h.update(tree=[1, 2]), "one key of")


def test_headers_that_are_not_json_are_refused(tmp_path: Path) -> None:
    _, path, _ = model_and_file(tmp_path)
    entries = entries_of(path)
    out = tmp_path / "bad.npz"
    cases = {
        b"\xff\xfe": "not readable JSON",
        b"{": "not readable JSON",
        b'{"format": "tinygrad_nn.state_dict", "version": NaN}': "contains NaN",
        b'{"version": 1, "version": 2}': "repeats a key",
        b"[" * 100_000: "not readable JSON",
        b'{"format": "tinygrad_nn.state_dict", "version": ' + b"9" * 5000 + b"}": "JSON",
        b'"just a string"': "unknown format",
    }
    for text, match in cases.items():
        assert_refused(rewrite(out, [(entries[0][0], header_entry(text)), *entries[1:]]), match)
    float_header = npy_bytes(np.zeros(4))
    assert_refused(rewrite(out, [(entries[0][0], float_header), *entries[1:]]), "1-d uint8")
    deep = {"format": io.FORMAT, "version": 2, "arrays": [], "tree": None}
    for _ in range(io.MAX_DEPTH + 1):
        deep["tree"] = {"list": [deep["tree"]]}
    assert_refused(rewrite(out, [(entries[0][0], header_entry(deep))]), "nested more than 100")
    huge = json.dumps({**deep, "tree": "HUGE"}).replace('"HUGE"', "1e999")
    assert_refused(rewrite(out, [(entries[0][0], header_entry(huge))]), "out of range")


def test_archive_level_tampering_is_refused(tmp_path: Path) -> None:
    _, path, _ = model_and_file(tmp_path)
    entries = entries_of(path)
    out = tmp_path / "bad.npz"
    assert_refused(rewrite(out, [*entries, entries[1]]), r"entries \['a0.npy'\] more than once")
    assert_refused(rewrite(out, [*entries, ("extra.npy", entries[1][1])]), "does not list")
    assert_refused(rewrite(out, entries[:-1]), r"lacks the entries \['a3.npy'\]")
    renamed = [*entries[:-1], ("../../etc/a3.npy", entries[-1][1])]
    assert_refused(rewrite(out, renamed), "does not list")
    not_npy = [*entries[:-1], (entries[-1][0], b"\x93NUMPY but not really")]
    assert_refused(rewrite(out, not_npy), "not a valid .npy array|holds .* bytes")
    swapped = [entries[0], entries[2], entries[1], *entries[3:]]
    swapped = [(entries[i][0], data) for i, (_, data) in enumerate(swapped)]
    assert_refused(rewrite(out, swapped), "holds")  # a0 and a1 differ in shape
    other_dtype = npy_bytes(np.zeros((3, 2), np.int64))
    assert_refused(rewrite(out, [entries[0], ("a0.npy", other_dtype), *entries[2:]]), "<i8")
    assert_refused(rewrite(out, entries, zipfile.ZIP_DEFLATED), "compressed")


def test_damaged_data_is_refused_by_its_crc(tmp_path: Path) -> None:
    _, path, state = model_and_file(tmp_path)
    data = path.read_bytes()
    targets = {"an array": state["1.bias"].tobytes(), "the header": b'"version"'}
    for what, needle in targets.items():
        offset = data.index(needle)
        assert data.count(needle) == 1, what
        damaged = bytearray(data)
        damaged[offset + 1] ^= 0x01
        path.write_bytes(bytes(damaged))
        assert_refused(path, "Bad CRC-32")


def bomb(path: Path, inflated_bytes: int, declared_shape: list[int] | None = None) -> Path:
    """A checkpoint whose only array entry is ``inflated_bytes`` of deflated zeros.

    By default the header declares the entry's true shape; ``declared_shape=[1]`` makes the
    kind of bomb the hardening issue reported (a tiny declared array, a huge entry).
    """
    count = inflated_bytes // 8
    header = {
        "format": io.FORMAT,
        "version": 2,
        "arrays": [{"shape": declared_shape or [count], "dtype": "<f8"}],
        "tree": {"dict": [["w", {"array": 0}]]},
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(io.HEADER_KEY + ".npy", header_entry(header))
        info = zipfile.ZipInfo("a0.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as entry:
            description = {"descr": "<f8", "fortran_order": False, "shape": (count,)}
            np.lib.format.write_array_header_1_0(entry, description)
            zeros = bytes(2**20)
            for start in range(0, count * 8, len(zeros)):
                entry.write(zeros[: count * 8 - start])
    return path


def test_zip_bombs_are_refused_before_inflating(tmp_path: Path) -> None:
    """The issue's bomb (a small declared array, a huge deflated entry) and a consistent one."""
    for declared in ([1], None):
        path = bomb(tmp_path / "bomb.npz", 16 * 2**20, declared)
        assert path.stat().st_size < 50_000
        tracemalloc.start()
        try:
            error = assert_refused(path, "'a0.npy' is compressed")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert "save it again with tnn.save" in str(error)
        assert peak < 2**20, f"refusing a bomb took {peak} bytes"


def test_declared_sizes_are_checked_against_the_limit_first(tmp_path: Path) -> None:
    _, path, _ = model_and_file(tmp_path)
    out = tmp_path / "huge.npz"
    assert_refused(
        edited(path, out, lambda h: h["arrays"][0].update(shape=[2**40, 8])),
        r"'a0.npy' holds \d+ bytes, but an array of shape \(1099511627776, 8\)",
    )  # 64 TiB declared: refused from the sizes, no MemoryError
    assert_refused(path, r"arrays total 104 bytes, over the limit max_bytes=103", max_bytes=103)
    assert list(tnn.load(path, max_bytes=104)) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_the_header_size_is_limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, path, state = model_and_file(tmp_path)
    monkeypatch.setattr(io, "MAX_HEADER_BYTES", 100)
    assert_refused(path, r"its header is \d+ bytes, over the limit of 100")
    monkeypatch.undo()
    assert_identical(tnn.load(path), state)


def with_record_sizes(path: Path, sizes: dict[int, int]) -> None:
    """Set the compressed and uncompressed sizes of central-directory records, by index."""
    data = bytearray(path.read_bytes())
    record = data.index(b"PK\x01\x02")
    index = 0
    while record != -1:
        if index in sizes:
            data[record + 20 : record + 28] = sizes[index].to_bytes(4, "little") * 2
        record = data.find(b"PK\x01\x02", record + 4)
        index += 1
    path.write_bytes(bytes(data))


def test_entries_claiming_more_than_the_file_are_refused(tmp_path: Path) -> None:
    _, path, _ = model_and_file(tmp_path)
    size = path.stat().st_size
    with zipfile.ZipFile(path) as archive:
        offsets = [info.header_offset for info in archive.infolist()]
    original = path.read_bytes()
    with_record_sizes(path, {4: 2**31})
    assert_refused(path, "'a3.npy' reaches past the end of the file")
    path.write_bytes(original)
    # Each of the last two records claims the rest of the file: their data overlap.
    with_record_sizes(path, {3: size - offsets[3] - 1, 4: size - offsets[4] - 1})
    assert_refused(path, "overlap")


def test_load_reads_only_what_the_header_declares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No np.load, no pickle module, no eval of anything from the file."""
    _, path, state = model_and_file(tmp_path)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load was called"))
    import pickle

    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads was called"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load was called"))
    assert_identical(tnn.load(path), state)
