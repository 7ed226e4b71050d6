"""Process-parallel map with a progress bar, shared by ingestion and TFRecord writing."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


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
        with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
            for result in pool.map(fn, items, chunksize=chunksize):
                yield result
                bar.update()
    finally:
        bar.close()
