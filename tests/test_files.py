"""Tests of tinygrad_nn._files.atomic_path, the one way the package writes files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn._files import atomic_path
from tinygrad_nn.experiments import report


def test_success_replaces_the_file_and_keeps_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "out.svg"
    path.write_text("old")
    with atomic_path(path) as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".svg"
        assert temporary.exists() and temporary != path
        temporary.write_text("new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.svg"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interruption_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, error: type[BaseException]
) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(error), atomic_path(path) as temporary:
        temporary.write_text("half")
        raise error
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failed_rename_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old")

    def crash(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt), atomic_path(path) as temporary:
        temporary.write_text("new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_new_files_get_the_permissions_a_plain_open_gives(
    tmp_path: Path, monkeypatch, umask: int
) -> None:
    previous = os.umask(umask)
    try:
        (tmp_path / "plain.txt").write_text("x")
        # Reading the umask by setting it would race with other threads: never do it.
        monkeypatch.setattr(os, "umask", lambda mask: pytest.fail("os.umask was called"))
        with atomic_path(tmp_path / "atomic.txt") as temporary:
            temporary.write_text("x")
        report._write_text(tmp_path / "report.md", "x")
        tnn.save({"w": np.ones(2)}, tmp_path / "model.npz")
    finally:
        monkeypatch.undo()
        os.umask(previous)
    expected = (tmp_path / "plain.txt").stat().st_mode & 0o777
    assert expected == 0o666 & ~umask
    for name in ("atomic.txt", "report.md", "model.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == expected, name


def test_an_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("old")
    path.chmod(0o600)
    with atomic_path(path) as temporary:
        temporary.write_text("new")
    assert path.stat().st_mode & 0o777 == 0o600


def test_errors_name_the_target_not_the_temporary_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        tnn.save({"w": np.ones(2)}, "/nonexistent/dir/x.npz")
    assert "'/nonexistent/dir/x.npz'" in str(caught.value)
    assert "folder '/nonexistent/dir' does not exist" in str(caught.value)
    assert ".tmp" not in str(caught.value)

    folder = tmp_path / "a_folder"  # renaming a file over a folder fails
    folder.mkdir()
    with pytest.raises(OSError) as caught, atomic_path(folder) as temporary:
        temporary.write_text("x")
    assert repr(str(folder)) in str(caught.value) and ".tmp" not in str(caught.value)
    assert [p.name for p in tmp_path.iterdir()] == ["a_folder"]
