"""Atomic file writes, the one way tinygrad_nn writes a file: `atomic_path`.

The data goes to a temporary file in the target's folder, is fsynced, then renamed over
the target in one step (``os.replace``), and the folder is fsynced so the rename itself
survives a crash. A reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; when the block succeeds it replaces ``path``.

    The temporary file exists (empty) and keeps ``path``'s suffix, so tools that pick a
    format from the name (dot, matplotlib) work on it. On success it is fsynced, given the
    permissions a plain ``open(path, "w")`` would leave (the old file's, or 0o666 minus the
    umask for a new one), renamed over ``path``, and the folder is fsynced. On any error,
    KeyboardInterrupt included, it is removed and an old ``path`` is left as it was. An
    OSError about the temporary file is re-raised naming ``path`` instead.

    Example:
        >>> with atomic_path("out.txt") as temporary:
        ...     temporary.write_text("done")
    """
    target = Path(os.fspath(path))
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            errno.ENOENT, f"cannot write {str(target)!r}: its folder {str(folder)!r} does not exist"
        )
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


def _create_temporary(target: Path) -> Path:
    for _ in range(100):
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}")
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
