"""Tests of tinygrad_nn.io: round trips, atomic writes, and refusing foreign or unsafe files."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import Tensor, io
from tinygrad_nn.nn import MLP, Linear, Sequential

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_]


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
    arrays = {
        f"group.{index}.{np.dtype(dtype).name}": (rng.normal(size=(2, 3)) * 50).astype(dtype)
        for index, dtype in enumerate(DTYPES)
    }
    arrays["scalar"] = np.array(3.5)
    arrays["empty"] = np.zeros((0, 4), np.float32)
    arrays["big_endian"] = np.arange(4, dtype=">f8")
    arrays["tensor"] = Tensor(np.ones(3, np.float32))  # Tensors are accepted too
    arrays["non_contiguous"] = np.arange(12.0).reshape(3, 4).T
    path = tmp_path / "arrays.npz"
    tnn.save(arrays, str(path))  # str paths work
    loaded = tnn.load(str(path))
    assert list(loaded) == list(arrays)
    for name, value in arrays.items():
        expected = value.data if isinstance(value, Tensor) else value
        assert loaded[name].dtype == expected.dtype, name
        np.testing.assert_array_equal(loaded[name], expected)


def test_file_is_a_plain_npz_with_a_json_header(tmp_path: Path) -> None:
    path = tmp_path / "linear.npz"
    tnn.save(Linear(2, 3, dtype=np.float32), path)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted([io.HEADER_KEY, "weight", "bias"])
        header = json.loads(archive[io.HEADER_KEY].tobytes())
    assert header == {
        "format": "tinygrad_nn.state_dict",
        "version": 1,
        "names": ["weight", "bias"],
        "shapes": [[3, 2], [3]],
        "dtypes": ["<f4", "<f4"],
    }


def test_no_suffix_is_added_and_permissions_are_ordinary(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint"
    tnn.save({"a": np.ones(1)}, path)
    assert path.exists() and not (tmp_path / "checkpoint.npz").exists()
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


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


def test_anything_with_a_state_dict_is_saved_like_a_module(tmp_path: Path) -> None:
    class Holder:  # not a tnn.nn.Module: save only asks for state_dict()
        def state_dict(self) -> dict[str, np.ndarray]:
            return {"a": np.arange(3.0)}

    tnn.save(Holder(), tmp_path / "holder.npz")
    np.testing.assert_array_equal(tnn.load(tmp_path / "holder.npz")["a"], np.arange(3.0))


def test_save_rejects_what_it_cannot_write_safely(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError, match="object"):
        tnn.save({"bad": np.array([{}], dtype=object)}, path)
    with pytest.raises(ValueError, match="reserved"):
        tnn.save({io.HEADER_KEY: np.ones(1)}, path)
    with pytest.raises(TypeError, match="name"):
        tnn.save({1: np.ones(1)}, path)
    with pytest.raises(TypeError, match="Module or a mapping"):
        tnn.save([np.ones(1)], path)
    assert list(tmp_path.iterdir()) == []


def model_and_file(tmp_path: Path) -> tuple[Sequential, Path, dict[str, np.ndarray]]:
    model = Sequential(Linear(2, 3, rng=0), Linear(3, 1, rng=1))
    path = tmp_path / "model.npz"
    tnn.save(model, path)
    return model, path, model.state_dict()


def assert_refused(path: Path, match: str) -> None:
    before = path.read_bytes()
    with pytest.raises(io.CheckpointError, match=match) as caught:
        tnn.load(path)
    assert isinstance(caught.value, ValueError)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before, "load must never change the file"


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


def test_pickle_bearing_files_are_refused(tmp_path: Path) -> None:
    plain = tmp_path / "pickled.npz"
    np.savez(plain, weight=np.array([{"x": 1}], dtype=object))
    assert_refused(plain, "header")

    # Our own header, plus an entry that needs unpickling.
    _, path, _ = model_and_file(tmp_path)
    rebuilt = tmp_path / "rebuilt.npz"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(rebuilt, "w") as target:
        for name in source.namelist():
            if name == "0.bias.npy":
                with target.open(name, "w") as entry:
                    np.lib.format.write_array(entry, np.array([1, None, 3], dtype=object))
            else:
                target.writestr(name, source.read(name))
    assert_refused(rebuilt, "pickled")


def test_header_mismatches_are_refused(tmp_path: Path) -> None:
    _, path, _ = model_and_file(tmp_path)

    def rewrite(
        header_edit: Callable[[dict], object] | None = None,
        drop: str | None = None,
        add: str | None = None,
    ) -> Path:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        header = json.loads(arrays[io.HEADER_KEY].tobytes())
        if header_edit:
            header_edit(header)
        arrays[io.HEADER_KEY] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        if drop:
            del arrays[drop]
        if add:
            arrays[add] = np.zeros(1)
        out = tmp_path / "edited.npz"
        np.savez(out, **arrays)
        return out

    assert_refused(rewrite(lambda h: h.update(version=2)), "version 2")
    assert_refused(rewrite(lambda h: h.update(format="other")), "unknown format")
    assert_refused(rewrite(lambda h: h["shapes"].__setitem__(0, [9, 9])), "header says")
    assert_refused(rewrite(drop="1.bias"), "lacks the array '1.bias'")
    assert_refused(rewrite(add="stowaway"), "stowaway")
    assert_refused(rewrite(lambda h: h.pop("names")), "inconsistent header")


def test_load_always_passes_allow_pickle_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path, _ = model_and_file(tmp_path)
    seen = []
    original = np.load

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(kwargs.get("allow_pickle"))
        return original(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    tnn.load(path)
    assert seen == [False]
