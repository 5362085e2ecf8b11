"""Tests of tinygrad_nn._files.atomic_path, the one way the package writes files.

(The command-line helpers of _files are tested in test_cli.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import _files
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


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(process.stdout)


def test_temporary_files_name_their_writer(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "model.npz") as temporary:
        match = _files._TEMPORARY.fullmatch(temporary.name)
        assert match and match["name"] == "model.npz" and match["suffix"] == ".npz"
        assert int(match["pid"]) == os.getpid() and match["host"] == _files._host_tag()


def test_a_write_removes_only_dead_writers_temporaries(tmp_path: Path) -> None:
    host, dead, alive = _files._host_tag(), dead_pid(), os.getpid()
    stale = [
        f".model.npz.{host}-{dead}-0123abcd.tmp.npz",  # killed while writing model.npz
        f".plot.svg.{host}-{dead}-deadbeef.tmp.svg",  # another target in the same folder
        ".old.npz.89abcdef.tmp.npz",  # the pattern of tinygrad_nn 0.1, untouched for 2 hours
    ]
    kept = [
        f".model.npz.{host}-{alive}-0123abcd.tmp.npz",  # a writer still running
        f".model.npz.{'0' * 8 if host != '0' * 8 else '1' * 8}-{dead}-0123abcd.tmp.npz",
        ".recent.npz.89abcdef.tmp.npz",  # 0.1 pattern, written a minute ago: may be live
        f".model.npz.{host}-{dead}-0123abcd.tmp.svg",  # suffix differs from the name's
        f"model.npz.{host}-{dead}-0123abcd.tmp.npz",  # not hidden: not ours
        "notes.txt",
    ]
    for name in stale + kept:
        (tmp_path / name).write_text("x")
    two_hours_ago = time.time() - 7200
    os.utime(tmp_path / ".old.npz.89abcdef.tmp.npz", (two_hours_ago, two_hours_ago))
    os.utime(tmp_path / ".recent.npz.89abcdef.tmp.npz", (time.time() - 60,) * 2)
    with atomic_path(tmp_path / "other.txt") as temporary:
        temporary.write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "other.txt"])


def test_a_failed_write_removes_nothing_else(tmp_path: Path) -> None:
    name = f".model.npz.{_files._host_tag()}-{dead_pid()}-0123abcd.tmp.npz"
    (tmp_path / name).write_text("x")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.txt"):
        raise RuntimeError
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_read_only_targets_are_refused_for_every_writer(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    path.write_text("old")
    path.chmod(0o444)
    refused = pytest.raises(PermissionError, match=r"'.*report.md'.*read-only \(mode -r--r--r--\)")
    with refused, atomic_path(path) as temporary:
        pytest.fail(f"a temporary file {temporary} was made")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_symlinks_are_written_through(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "figure.svg"
    real.write_text("old")
    link = tmp_path / "figure.svg"
    link.symlink_to(real)
    with atomic_path(link) as temporary:
        assert temporary.parent == real.parent, "the temporary file sits beside the real file"
        temporary.write_text("new")
    assert link.is_symlink() and real.read_text() == "new"
    dangling = tmp_path / "dangling.svg"
    dangling.symlink_to(tmp_path / "real" / "later.svg")
    with atomic_path(dangling) as temporary:
        temporary.write_text("created")
    assert (tmp_path / "real" / "later.svg").read_text() == "created"
    assert dangling.is_symlink()
