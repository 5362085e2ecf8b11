"""Atomic file writes, the one way tinygrad_nn writes a file (`atomic_path`), and the checks
the command line makes on output paths before any work (`prepare_output_folder`,
`check_output_file`).

The data goes to a temporary file in the target's folder, is fsynced, then renamed over
the target in one step (``os.replace``), and the folder is fsynced so the rename itself
survives a crash. A reader sees the old file or the new one, never half of one.

Rules (docs/checkpoints.md explains them):

- A missing folder is a FileNotFoundError naming it; library writers never create folders
  (the command line does, in `prepare_output_folder`).
- A read-only target (no write permission bit, or not writable by this user) is refused
  with a PermissionError naming it, instead of being silently replaced by the rename.
- A symlink target is kept: the file it points to is replaced, atomically, as a plain
  ``open(path, "w")`` would write through the link.
- Temporary files are named ``.NAME.HOST-PID-RANDOM.tmp.SUFFIX``. After each successful
  write, the folder's temporary files that a dead process on this host left behind (killed
  mid-write) are removed; so are those of the older ``.NAME.RANDOM.tmp.SUFFIX`` pattern
  untouched for an hour. Nothing else is ever deleted.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import secrets
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "check_output_file", "prepare_output_folder"]

# .NAME.HOST-PID-RANDOM.tmp.SUFFIX, and the pattern of earlier versions, .NAME.RANDOM.tmp.SUFFIX
_TEMPORARY = re.compile(
    r"\.(?P<name>.+)\.(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]{1,10})-[0-9a-f]{8}\.tmp(?P<suffix>.*)"
)
_LEGACY_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{8}\.tmp(?P<suffix>.*)")
_LEGACY_AGE_S = 3600.0


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; when the block succeeds it replaces ``path``.

    The temporary file exists (empty) and keeps ``path``'s suffix, so tools that pick a
    format from the name (dot, matplotlib) work on it. On success it is fsynced, given the
    permissions a plain ``open(path, "w")`` would leave (the old file's, or 0o666 minus the
    umask for a new one), renamed over ``path``, and the folder is fsynced. On any error,
    KeyboardInterrupt included, it is removed and an old ``path`` is left as it was. An
    OSError about the temporary file is re-raised naming ``path`` instead.

    A missing folder is a FileNotFoundError and a read-only ``path`` a PermissionError,
    both before anything is written; a symlink ``path`` is written through (its target is
    replaced, the link kept). After success, the folder's temporary files left by killed
    writers are removed (see the module docstring for the exact rule).

    Example:
        >>> with atomic_path("out.txt") as temporary:
        ...     temporary.write_text("done")
    """
    target = Path(os.fspath(path))
    if target.is_symlink():
        target = Path(os.path.realpath(target))  # write through the link; the link stays
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, f"cannot write {str(target)!r}: its folder {str(folder)!r} does not exist"
        )
    _refuse_read_only(target)
    temporary = _create_temporary(target)
    try:
        # Created with mode 0o666, the kernel applied the umask: that is the mode a plain
        # open() gives a new file, read without changing the process-wide umask.
        mode = _mode_of(target) if target.exists() else _mode_of(temporary)
        yield temporary
        descriptor = os.open(temporary, os.O_RDWR)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as error:
        _remove(temporary)
        if error.filename in (str(temporary), temporary):
            raise _naming(target, error) from error
        raise
    except BaseException:
        _remove(temporary)
        raise
    _sync_folder(folder)
    _remove_stale_temporaries(folder)


def _refuse_read_only(target: Path) -> None:
    try:
        mode = target.stat().st_mode
    except OSError:
        return  # a new file, or one the write itself will report on
    if stat.S_ISREG(mode) and (mode & 0o222 == 0 or not os.access(target, os.W_OK)):
        raise PermissionError(
            errno.EACCES,
            f"cannot write {str(target)!r}: it is read-only (mode {stat.filemode(mode)}); make it "
            "writable (chmod u+w) or remove it first",
        )


@functools.cache
def _host_tag() -> str:
    """Eight hex digits naming this machine, so a folder shared by several never mixes them."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _create_temporary(target: Path) -> Path:
    prefix = f".{target.name}.{_host_tag()}-{os.getpid()}"
    for _ in range(100):
        temporary = target.with_name(f"{prefix}-{secrets.token_hex(4)}.tmp{target.suffix}")
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except OSError as error:
            raise _naming(target, error) from None
        return temporary
    raise FileExistsError(errno.EEXIST, f"cannot write {str(target)!r}: no free temporary name")


def _naming(target: Path, error: OSError) -> OSError:
    """The same kind of error, about ``target`` rather than its temporary file."""
    return type(error)(error.errno, f"cannot write {str(target)!r}: {error.strerror}")


def _mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _sync_folder(folder: Path) -> None:
    """Persist the rename itself (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _writer_is_dead(pid: int) -> bool:
    if os.name != "posix" or pid <= 0:
        return False  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False  # alive but another user's, or not a pid: leave it
    return False


def _is_stale_temporary(entry: os.DirEntry[str], now: float) -> bool:
    match = _TEMPORARY.fullmatch(entry.name)
    if match:
        return (
            Path(match["name"]).suffix == match["suffix"]
            and match["host"] == _host_tag()
            and _writer_is_dead(int(match["pid"]))
        )
    match = _LEGACY_TEMPORARY.fullmatch(entry.name)
    if match and Path(match["name"]).suffix == match["suffix"]:
        return now - entry.stat(follow_symlinks=False).st_mtime > _LEGACY_AGE_S
    return False


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary files that killed writers left in ``folder``; never raises."""
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if (
                    entry.name.startswith(".")
                    and ".tmp" in entry.name
                    and entry.is_file(follow_symlinks=False)
                    and _is_stale_temporary(entry, now)
                ):
                    os.unlink(entry.path)


# ---------------------------------------------------------------------------- command line


def prepare_output_folder(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Create the output folder ``path`` (with parents) if missing and check it is writable.

    The command line's rule for output folders (library functions never create folders):
    a command's ``validate(args)`` calls this before any work, so an unusable folder fails
    at once with exit status 2 instead of after a long run.

    Args:
        path: the folder.
        option: the command-line option that gave it, named in the message.

    Returns:
        The folder as a ``pathlib.Path``.

    Raises:
        ValueError: a one-line message when the folder is a file, cannot be created, or
            cannot be written.

    Example:
        >>> out = prepare_output_folder(args.out)  # in a command's validate(args)
    """
    folder = Path(os.fspath(path))
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {str(folder)!r} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass  # the only reliable test of writability (read-only mounts, ACLs, root)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ValueError(
            f"{option} {str(folder)!r}: cannot write into this folder: {reason}"
        ) from None
    return folder


def check_output_file(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Check that the output file ``path`` can be written; create its missing folder.

    Like `prepare_output_folder` for a command's single output file: the folder is created
    (with parents) and checked; an existing ``path`` must be a file that is not read-only
    (the rule `atomic_path` applies when it writes).

    Args:
        path: the file.
        option: the command-line option that gave it, named in the message.

    Returns:
        The file as a ``pathlib.Path``.

    Raises:
        ValueError: a one-line message saying what is wrong with ``path``.

    Example:
        >>> target = check_output_file(args.json, option="--json")
    """
    target = Path(os.fspath(path))
    if target.is_dir():
        raise ValueError(f"{option} {str(target)!r} is a folder; give a file name")
    resolved = Path(os.path.realpath(target)) if target.is_symlink() else target
    prepare_output_folder(resolved.parent, option=f"{option} {str(target)!r}: its folder")
    try:
        _refuse_read_only(resolved)
    except PermissionError as error:
        raise ValueError(
            f"{option} {str(target)!r} is read-only; make it writable or remove it"
        ) from error
    return target
