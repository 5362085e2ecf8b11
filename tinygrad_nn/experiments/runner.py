"""Run many independent experiment tasks on any Executor, with seeds and a progress bar.

A task is a top-level function plus keyword arguments of plain data (numbers, strings,
dicts), and it returns plain data, so it can be pickled to another process or machine.
`run_tasks` submits every task to an Executor-like object (anything with
``submit(fn, **kwargs)`` returning futures with ``result()``: ``ProcessPoolExecutor``, the
in-process `InlineExecutor`, ``distributed.Client.get_executor()``, or a
``distributed.Client`` itself) and returns the results in task order, whatever order
they finish in. Results therefore never depend on the executor or the number of jobs.

Seeds: run ``i`` of a study with base seed ``s`` draws everything from
``numpy.random.default_rng([s, i, stream])``: independent streams per run, identical
across arms of a comparison (common random numbers). Runs of the selection phase (where
learning rates are tuned) draw from ``[s, i, stream, SELECTION]`` instead: data and
weights disjoint from every compared run.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

__all__ = [
    "InlineExecutor",
    "Progress",
    "Task",
    "as_executor",
    "default_jobs",
    "make_executor",
    "run_rng",
    "run_tasks",
]

# Stream ids inside a run: what each random draw is for, so arms can share some streams.
DATA_STREAM = 0
WEIGHT_STREAM = 1
NOISE_STREAM = 2
# Phases: the compared runs, and the selection runs that tune each arm's learning rate.
COMPARISON = 0
SELECTION = 1


def run_rng(seed: int, run: int, stream: int, phase: int = COMPARISON) -> np.random.Generator:
    """The generator of random ``stream`` (data, weights, ...) for run ``run`` of ``phase``.

    Example:
        >>> a = run_rng(0, 3, DATA_STREAM).random()
        >>> a == run_rng(0, 3, DATA_STREAM).random() != run_rng(0, 4, DATA_STREAM).random()
        True
    """
    key = [int(seed), int(run), int(stream)]
    return np.random.default_rng(key if phase == COMPARISON else [*key, int(phase)])


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(**kwargs)``; ``fn`` must be a module-level function."""

    fn: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class InlineExecutor(Executor):
    """Runs each task at once, in this process (``--jobs 1``): easy to debug and profile."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to the caller through the future
            future.set_exception(error)
        return future


def as_executor(executor: Any) -> Any:
    """Accept a ``distributed.Client`` where an Executor is expected (its ``get_executor``)."""
    get_executor = getattr(executor, "get_executor", None)
    if callable(get_executor) and not isinstance(executor, Executor):
        return get_executor()
    return executor


@contextlib.contextmanager
def make_executor(jobs: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """The executor the command line asks for, shut down on exit.

    Args:
        jobs: worker processes; None means all cores, 1 runs in this process.
        scheduler: a Dask scheduler address (``tcp://host:8786``) to run on that cluster,
            or ``"local"`` for a throwaway local Dask cluster with ``jobs`` workers.
    """
    if scheduler:
        try:
            from distributed import Client, LocalCluster
        except ImportError as error:
            raise RuntimeError(
                "--scheduler needs Dask: pip install 'tinygrad-nn[distributed]'"
            ) from error
        if scheduler == "local":
            cluster = LocalCluster(
                n_workers=jobs or default_jobs(),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            with cluster, Client(cluster) as client:
                yield client.get_executor()
        else:
            with Client(scheduler) as client:
                yield client.get_executor()
        return
    jobs = jobs or default_jobs()
    if jobs == 1:
        yield InlineExecutor()
        return
    # Workers ignore Ctrl-C: the main process handles it (one line, no traceback per worker).
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN)
    ) as pool:
        yield pool


class Progress:
    """A one-line progress bar on a terminal; silent when the stream is not a TTY.

    Example:
        >>> with Progress(3, "init") as bar:
        ...     for _ in range(3):
        ...         bar.update()
    """

    def __init__(
        self, total: int, label: str = "", stream: TextIO | None = None, enabled: bool | None = None
    ) -> None:
        self.total = max(0, int(total))
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.done = 0
        self._start = time.perf_counter()
        self._last_draw = 0.0

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def update(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count)
        self._draw(force=self.done == self.total)

    def render(self, width: int = 30) -> str:
        """The bar's text, e.g. ``init [######......] 12/64 3.1s eta 13s``."""
        fraction = self.done / self.total if self.total else 1.0
        filled = round(fraction * width)
        elapsed = time.perf_counter() - self._start
        text = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
        text += f" {elapsed:.1f}s"
        if 0 < self.done < self.total:
            text += f" eta {elapsed / self.done * (self.total - self.done):.0f}s"
        return text

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last_draw < 0.1:  # at most ten redraws a second
            return
        self._last_draw = now
        self.stream.write("\r" + self.render())
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            if self.done < self.total:  # a finished bar was drawn by its last update
                self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self.enabled = False


def run_tasks(
    tasks: Sequence[Task],
    executor: Any = None,
    progress: Progress | None = None,
) -> list[Any]:
    """Run every task and return their results in task order.

    Args:
        tasks: the work; each ``Task.fn`` must be picklable (module level) for process or
            cluster executors.
        executor: an Executor-like object (see the module docstring); None runs in process.
        progress: advanced by one per finished task.

    Raises:
        The first exception a task raised, after cancelling the tasks not yet started.
    """
    executor = InlineExecutor() if executor is None else as_executor(executor)
    if isinstance(executor, InlineExecutor):  # one at a time, so the bar moves per task
        results = []
        for task in tasks:
            results.append(task.fn(**task.kwargs))
            if progress is not None:
                progress.update()
        return results
    finished: queue.SimpleQueue[int] = queue.SimpleQueue()
    futures: list[Any] = []
    for index, task in enumerate(tasks):
        future = executor.submit(task.fn, **task.kwargs)
        # add_done_callback works for concurrent.futures and Dask futures alike.
        future.add_done_callback(lambda _, index=index: finished.put(index))
        futures.append(future)
    results: list[Any] = [None] * len(futures)
    try:
        for _ in range(len(futures)):
            while True:  # short waits keep Ctrl-C responsive
                try:
                    index = finished.get(timeout=0.2)
                    break
                except queue.Empty:
                    continue
            results[index] = futures[index].result()
            if progress is not None:
                progress.update()
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return results
