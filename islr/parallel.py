"""Process-parallel map with a progress bar, shared by ingestion and TFRecord writing."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@contextlib.contextmanager
def _signals_held():
    """Hold SIGTERM and SIGINT while worker processes are being spawned.

    A signal handled in the middle of a spawn would leave a child reading a truncated
    start-up message (it dies with a traceback). Signals arriving in the block are
    recorded and delivered again when it ends, to the handlers in place before. Only
    the main thread can change handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    held = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, lambda signum, _: pending.append(signum)) for s in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)


def _worker_init(parent_pid: int) -> None:
    """Runs first in every worker: the worker dies with its parent, whatever kills it.

    SIGINT is ignored (a Ctrl-C reaches the whole process group; the parent handles it
    and stops the workers), and on Linux the kernel sends SIGKILL to the worker when the
    parent exits, so no worker outlives it to keep writing.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(AttributeError, OSError):  # prctl is Linux only
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: cancel queued work and terminate running workers (joined, so
    nothing writes after this returns). The executor keeps its processes in the private
    `_processes`; it has no public way to stop running work."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(5)
        if proc.is_alive():  # pragma: no cover - ignored SIGTERM
            proc.kill()
            proc.join(5)
    log.debug("stopped %d worker processes", len(processes))


def resolve_workers(workers: int | None) -> int:
    """`None` or 0 means one worker per available core."""
    if workers is None or workers <= 0:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            return max(1, os.cpu_count() or 1)
    return workers


def parallel_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int | None = None,
    desc: str = "",
    total: int | None = None,
    chunksize: int = 1,
    min_per_worker: int = 1,
    progress: bool = True,
) -> Iterator[R]:
    """Yield `fn(item)` for every item, in input order, using `workers` processes.

    `min_per_worker` caps the pool so each process gets at least that many items: a
    spawned worker costs about a second to start. One worker runs in this process (no
    pool start-up, easy debugging). Pools use the `spawn` start method: the caller may
    have TensorFlow or other threaded libraries loaded, and forking a threaded process
    can deadlock. As with any spawn pool, a script that calls this at import time needs
    the `if __name__ == "__main__":` guard.

    When the caller stops early (an exception in `fn`, KeyboardInterrupt, a SIGTERM
    turned into one by `islr.cli`, or closing the generator), queued items are dropped
    and running workers are terminated before the exception propagates, so cleanup code
    of the caller never races a worker still writing. Workers also die with the parent.
    """
    items = list(items)
    total = len(items) if total is None else total
    n = min(resolve_workers(workers), max(1, -(-len(items) // min_per_worker)))
    bar = tqdm(total=total, desc=desc, disable=not progress, unit="file", leave=False)
    try:
        if n == 1:
            for item in items:
                yield fn(item)
                bar.update()
            return
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=n, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
        )
        try:
            # workers are spawned while the items are submitted
            with _signals_held():
                results = pool.map(fn, items, chunksize=chunksize)
            for result in results:
                yield result
                bar.update()
        except BaseException:
            _stop_workers(pool)
            raise
        pool.shutdown(wait=True)
    finally:
        bar.close()
