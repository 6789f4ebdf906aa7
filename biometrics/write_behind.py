"""Write-behind: items a request hands over are written later, in batches, by one thread.

    writer = WriteBehind(write_rows, interval_s=0.02, max_batch=256)
    writer.put(row)          # returns at once; the row is written within about interval_s
    writer.flush()           # everything put before this call is written when it returns
    writer.close()           # flushes, then stops the thread

One background thread writes what is queued ``interval_s`` after the first item of a batch
arrived, or at once when ``max_batch`` items wait, in the order they were put, one call of
``write`` (one transaction) per batch. A batch whose ``write`` fails stays queued, at the
front, and is retried on the next round (its error is logged by type). ``max_pending`` bounds
the memory: a ``put`` that finds that many items waiting writes them first, in the caller's
thread, so a slow store slows the callers down instead of growing the queue.

**Crash semantics**: items not yet written when the process dies (killed, out of memory,
power lost) are lost: at most the last ``interval_s`` of them, or more while the store is
failing. :meth:`close` (a clean shutdown) writes them all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class WriteBehind(Generic[T]):
    """A queue of items that one background thread writes in batches (see the module docstring)."""

    def __init__(self, write: Callable[[list[T]], None], interval_s: float, *, max_batch: int = 256,
                 max_pending: int = 20_000, on_written: Callable[[list[T]], None] | None = None,
                 name: str = "write-behind") -> None:
        if interval_s <= 0 or max_batch < 1 or max_pending < max_batch:
            raise ValueError("interval_s must be positive and 1 <= max_batch <= max_pending")
        self._write, self._on_written = write, on_written
        self.interval_s, self.max_batch, self.max_pending = float(interval_s), int(max_batch), int(max_pending)
        self._queue: deque[tuple[float, T]] = deque()  # (monotonic time put, item), oldest first
        self._cv = threading.Condition()
        self._writing = threading.Lock()  # one batch at a time: batches commit in the order put
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        """Items waiting to be written."""
        return len(self._queue)

    def put(self, item: T) -> None:
        """Queue an item (written within about ``interval_s``)."""
        if len(self._queue) >= self.max_pending:
            self.flush()  # back-pressure: a store that cannot keep up slows the callers
        with self._cv:
            if self._closed:
                raise RuntimeError("the writer is closed")
            self._queue.append((time.monotonic(), item))
            if len(self._queue) in (1, self.max_batch):
                self._cv.notify()  # the thread starts timing a batch, or writes a full one

    def discard(self, matches: Callable[[T], bool]) -> int:
        """Drop waiting items for which ``matches`` is true (e.g. an erased user's); the count dropped.
        A batch being written meanwhile is not affected."""
        with self._cv:
            kept = [(t, x) for t, x in self._queue if not matches(x)]
            dropped = len(self._queue) - len(kept)
            self._queue = deque(kept)
            return dropped

    def flush(self) -> None:
        """Write every item put before this call; raises what ``write`` raised (the items stay queued)."""
        with self._writing:
            while self._queue:
                self._write_batch()

    def close(self) -> None:
        """Write what is waiting and stop the thread (a failed last write is logged; its items are lost)."""
        with self._cv:
            if self._closed:
                return
            self._closed = True
            self._cv.notify()
        self._thread.join()
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - shutting down: say what is lost, do not hide the stop
            log.error("write-behind: %d queued writes lost at shutdown (%s)", len(self._queue),
                      type(exc).__name__)

    def _write_batch(self) -> None:
        """Write the oldest batch (caller holds ``_writing``); on failure put it back in front."""
        with self._cv:
            taken = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
        if not taken:
            return
        batch = [x for _, x in taken]
        try:
            self._write(batch)
        except BaseException:
            with self._cv:
                self._queue.extendleft(reversed(taken))
            raise
        if self._on_written is not None:
            self._on_written(batch)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return  # close() writes the rest in its own thread
                # Gather for up to interval_s after the oldest item arrived, unless a batch is full.
                while (not self._closed and self._queue and len(self._queue) < self.max_batch
                       and (left := self._queue[0][0] + self.interval_s - time.monotonic()) > 0):
                    self._cv.wait(left)
                if self._closed:
                    return
            try:
                with self._writing:
                    self._write_batch()
            except Exception as exc:  # noqa: BLE001 - kept queued and retried: the store may come back
                log.warning("write-behind: writing %d queued items failed (%s); retrying",
                            len(self._queue), type(exc).__name__)
                time.sleep(self.interval_s)
