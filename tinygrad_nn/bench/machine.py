"""The machine a benchmark runs on: CPU, BLAS and its threads (probed and set), libraries."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_nn as tnn

__all__ = ["blas_threads", "machine_info", "set_blas_threads"]

# Variables that make OpenBLAS pick another kernel or cache size: they change its speed.
KERNEL_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _blas_name() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy, or a build without the information
        return "unknown"


def _blas_kernel() -> str | None:
    """The CPU kernel OpenBLAS chose (threadpoolctl's ``architecture``), if it can tell."""
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            if info["user_api"] == "blas" and info.get("architecture"):
                return str(info["architecture"])
    return None


def _openblas_function(kind: str) -> Any:
    """``openblas_{kind}_num_threads`` from the OpenBLAS bundled with NumPy, or None."""
    package = Path(np.__file__).parent
    for library in sorted(
        [*package.parent.glob("numpy.libs/*openblas*"), *package.glob(".dylibs/*openblas*")]
    ):
        with contextlib.suppress(OSError):
            handle = ctypes.CDLL(str(library))
            for prefix in ("scipy_openblas", "openblas"):
                for suffix in ("64_", ""):
                    function = getattr(handle, f"{prefix}_{kind}_num_threads{suffix}", None)
                    if function is not None:
                        return function
    return None


def blas_threads() -> int:
    """Threads NumPy's BLAS uses (threadpoolctl if installed, then OpenBLAS, then a guess).

    Example:
        >>> blas_threads() >= 1
        True
    """
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_info

        counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
        if counts:
            return int(counts[0])
    getter = _openblas_function("get")
    if getter is not None:
        return int(getter())
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        with contextlib.suppress(KeyError, ValueError):
            return int(os.environ[variable])
    return os.cpu_count() or 1


def set_blas_threads(count: int) -> None:
    """Make NumPy's BLAS use ``count`` threads from now on (threadpoolctl or OpenBLAS).

    Raises:
        RuntimeError: neither threadpoolctl nor a bundled OpenBLAS is there to set it.

    Example:
        >>> set_blas_threads(1)
    """
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(count, user_api="blas")
        return
    setter = _openblas_function("set")
    if setter is None:
        raise RuntimeError(
            "bench: cannot set the BLAS thread count here; install threadpoolctl or start "
            f"the process with OPENBLAS_NUM_THREADS={count} (or OMP_NUM_THREADS)"
        )
    setter(count)


def machine_info(torch: Any = None) -> dict[str, Any]:
    """The machine and libraries the numbers come from (a JSON-ready dict).

    Example:
        >>> sorted(machine_info())[:3]
        ['blas', 'blas_kernel', 'blas_threads']
    """
    info: dict[str, Any] = {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "blas": _blas_name(),
        "blas_kernel": _blas_kernel(),
        "blas_threads": blas_threads(),
        "blas_environment": {
            name: os.environ[name] for name in KERNEL_VARIABLES if name in os.environ
        },
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tinygrad_nn": tnn.__version__,
        "platform": platform.platform(),
    }
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


def machine_line(machine: dict[str, Any]) -> str:
    """One sentence naming the CPU, BLAS (kernel, threads), Python and PyTorch of a report."""
    kernel = f", {machine['blas_kernel']} kernel" if machine.get("blas_kernel") else ""
    line = (
        f"{machine['cpu']}, {machine['cores']} cores; NumPy {machine['numpy']} with "
        f"{machine['blas']} ({_threads_text(machine['blas_threads'])}{kernel}); "
        f"Python {machine['python']}"
    )
    for name, value in machine.get("blas_environment", {}).items():
        line += f"; {name}={value}"
    if "torch" in machine:
        line += f"; PyTorch {machine['torch']} ({_threads_text(machine['torch_threads'])})"
    return line


def _threads_text(count: int) -> str:
    return f"{count} thread" if count == 1 else f"{count} threads"
