"""`Background`: runs an iterator in a daemon thread, a bounded number of items ahead.

The input pipeline's two stages use it: host batches (`BatchIterator`: gather, decode) and
device batches (`unigen_jax.train.prefetch`: stack and copy to the devices), so that both
overlap the training step. An exception in the producer is raised by the consumer's `next()`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

_POLL_SECONDS = 0.05
_END = object()


def _produce(items: Iterator, out: queue.Queue, stop: threading.Event) -> None:
    """Worker loop: puts each item (or the exception that ended the iterator, or _END).

    A plain function (not a method) so that the thread holds no reference to its owner, which
    can then be garbage collected and close the thread.
    """
    while not stop.is_set():
        try:
            item = next(items)
        except StopIteration:
            item = _END
        except BaseException as err:  # handed to the consumer, who re-raises it
            item = err
        while not stop.is_set():
            try:
                out.put(item, timeout=_POLL_SECONDS)
                break
            except queue.Full:
                continue
        if item is _END or isinstance(item, BaseException):
            return


class Background:
    """Iterates over `items` computed in a daemon thread, up to `size` items ahead (size >= 1).

    Use as a context manager, or call `close()`; closing stops and joins the thread.
    """

    def __init__(self, items: Iterator, size: int, *, name: str = "unigen_jax-background"):
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._closed = False
        self.thread = threading.Thread(
            target=_produce, args=(items, self._queue, self._stop), name=name, daemon=True
        )
        self.thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._closed:
            raise StopIteration
        while True:
            try:
                item = self._queue.get(timeout=_POLL_SECONDS)
                break
            except queue.Empty:
                if not self.thread.is_alive() and self._queue.empty():
                    raise RuntimeError("the background thread stopped unexpectedly") from None
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item

    def close(self) -> None:
        """Stops and joins the thread; later `next()` calls raise StopIteration."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self.thread.join()
        while not self._queue.empty():
            self._queue.get_nowait()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        if getattr(self, "thread", None) is not None:
            self.close()
