"""Device prefetch: the next calls' batches are stacked and copied to the devices in a thread.

    sizes = call_sizes(start, stop, fused=4, checkpoint_every=1000)
    with DevicePrefetcher(host_batches, sizes, mesh) as calls:
        for k, batch in calls:          # batch: [B, ...] if k == 1, else [k, B, ...]
            state, metrics = steps[k](state, batch)

With the host batches themselves prepared in another thread (`BatchIterator`), the main thread
only dispatches steps: on the multi-device CPU mesh, where each step waits for its results
(see `unigen_jax.train.step`), stacking and copying would otherwise add to every step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import jax
import numpy as np
from jax.sharding import Mesh

from unigen_jax.data.background import Background
from unigen_jax.train.step import shard_batch


def call_sizes(start: int, stop: int, *, fused: int, checkpoint_every: int) -> Iterator[int]:
    """Steps per call from `start` to `stop`: `fused`, or 1 where a fused call would cross a
    checkpoint or the last step (so an interrupted and resumed run makes the same calls)."""
    step = start
    while step < stop:
        next_checkpoint = (step // checkpoint_every + 1) * checkpoint_every
        k = fused if step + fused <= min(stop, next_checkpoint) else 1
        yield k
        step += k


def shard_calls(host_batches: Iterator, sizes: Iterable[int], mesh: Mesh, leading_axes: int = 0):
    """(k, device batch) per call: k host batches, stacked when k > 1, sharded over `mesh`
    on their batch axis (after `leading_axes` axes, e.g. a step's several real batches)."""
    for k in sizes:
        host = [next(host_batches) for _ in range(k)]
        if k == 1:
            yield 1, shard_batch(host[0], mesh, stacked=leading_axes)
        else:
            stacked = jax.tree.map(lambda *b: np.stack(b), *host)
            yield k, shard_batch(stacked, mesh, stacked=leading_axes + 1)


class DevicePrefetcher(Background):
    """Iterates over `shard_calls(host_batches, sizes, mesh)`, `buffer` calls ahead."""

    def __init__(
        self,
        host_batches: Iterator,
        sizes: Iterable[int],
        mesh: Mesh,
        buffer: int = 2,
        leading_axes: int = 0,
    ):
        super().__init__(
            shard_calls(host_batches, sizes, mesh, leading_axes),
            buffer,
            name="unigen_jax-device-batches",
        )
