"""A process pool that survives its workers: a crash or the OOM killer costs one item.

`map_tolerant` yields ``func(item)`` for every item, in order, computed by
worker processes in small batches. A worker that dies breaks the pool: the
pool is restarted, the batch it was on is retried one item at a time, alone,
and the item that kills a worker alone gets ``dead(item)`` as its result.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterator, TypeVar

Item, Result = TypeVar("Item"), TypeVar("Result")
Progress = Callable[[int, int], None]  # progress(done, total), in items


def _batch(func: Callable, items: list) -> list:
    return [func(item) for item in items]


def map_tolerant(func: Callable[[Item], Result], items: list[Item], workers: int,
                 dead: Callable[[Item], Result], progress: Progress | None = None
                 ) -> Iterator[Result]:
    """``func(item)`` for each item in order, by ``workers`` processes (1: in this one).

    ``func`` must be picklable (a module-level function or a partial of one) and
    should not raise; ``progress(done, total)`` is called as results arrive.
    """
    total, done = len(items), 0
    if workers <= 1:
        for item in items:
            yield func(item)
            done += 1
            if progress:
                progress(done, total)
        return
    size = max(1, min(32, total // (workers * 8)))  # small enough to balance, big to amortise
    queue = deque((items[i:i + size], False) for i in range(0, total, size))
    pending: deque = deque()  # (future, batch, alone)
    pool = ProcessPoolExecutor(workers)
    try:
        while queue or pending:
            while queue and len(pending) < 2 * workers:
                batch, alone = queue[0]
                if pending and (alone or pending[-1][2]):
                    break  # an item on trial runs with nothing beside it
                try:
                    future = pool.submit(_batch, func, batch)
                except BrokenProcessPool:  # a worker already died: the pending futures say which
                    if pending:
                        break
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool = ProcessPoolExecutor(workers)
                    continue
                queue.popleft()
                pending.append((future, batch, alone))
            future, batch, alone = pending.popleft()
            try:
                results = future.result()
            except BrokenProcessPool:
                pool.shutdown(wait=True, cancel_futures=True)
                pool = ProcessPoolExecutor(workers)
                requeue = [(b, a) for _, b, a in pending]
                pending.clear()
                if not alone:
                    queue.extendleft(reversed([([it], True) for it in batch] + requeue))
                    continue
                queue.extendleft(reversed(requeue))
                results = [dead(batch[0])]
            yield from results
            done += len(batch)
            if progress:
                progress(done, total)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
