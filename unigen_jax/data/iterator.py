"""Deterministic batches: which examples a step sees is a pure function of (seed, step, sizes).

The global stream of example indices is the concatenation of one permutation per epoch,

    stream = perm(seed, 0) ++ perm(seed, 1) ++ ...,   perm(seed, e) = permutation of range(N)
                                                      drawn by np.random.default_rng([seed, e]),

and the global batch of step t is stream[t B : (t + 1) B] for global batch size B, crossing
epoch boundaries where it must (so B may exceed N). Process p of P takes the contiguous slice
[p B / P, (p + 1) B / P) of it. Hence a run resumed at step t sees exactly the batches an
uninterrupted run sees, every example appears exactly once per epoch, and the process shards
partition the global batch. This is the index-based sampling of grain and big_vision's
deterministic input pipelines, without their dependencies.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Mapping

import numpy as np

from unigen_jax.data.background import Background
from unigen_jax.data.sources import Source
from unigen_jax.errors import UserInputError


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise UserInputError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise UserInputError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


@functools.lru_cache(maxsize=8)
def epoch_permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
    """The order of the examples in `epoch`: int64 [num_examples], a permutation (read-only)."""
    order = np.random.default_rng([seed, epoch]).permutation(num_examples).astype(np.int64)
    order.setflags(write=False)
    return order


def batch_indices(
    *,
    seed: int,
    step: int,
    global_batch_size: int,
    num_examples: int,
    process_index: int = 0,
    process_count: int = 1,
) -> np.ndarray:
    """The example indices of this process's share of the global batch at `step`.

    indices[j] = perm(seed, e)[q mod N] where q = t B + p B / P + j and e = q div N.

    Args:
      seed: non-negative integer; selects the per-epoch permutations.
      step: non-negative step number t.
      global_batch_size: B, the batch size summed over processes; a multiple of P.
      num_examples: N > 0, the size of the dataset split.
      process_index: p in [0, P).
      process_count: P >= 1.

    Returns:
      int64 [B // P] indices into the dataset.

    Raises:
      UserInputError: a size or index out of range, or B not divisible by P.
    """
    seed = _check_int("seed", seed, 0)
    step = _check_int("step", step, 0)
    global_batch_size = _check_int("global batch size", global_batch_size, 1)
    num_examples = _check_int("number of examples (the dataset is empty)", num_examples, 1)
    process_count = _check_int("process count", process_count, 1)
    process_index = _check_int("process index", process_index, 0)
    if process_index >= process_count:
        raise UserInputError(
            f"process index {process_index} is out of range for {process_count} processes"
        )
    if global_batch_size % process_count:
        raise UserInputError(
            f"global batch size {global_batch_size} is not divisible by the {process_count} "
            f"processes; choose a multiple of {process_count}"
        )
    per_process = global_batch_size // process_count
    start = step * global_batch_size + process_index * per_process
    epochs, offsets = np.divmod(np.arange(start, start + per_process, dtype=np.int64), num_examples)
    indices = np.empty(per_process, np.int64)
    for epoch in np.unique(epochs):
        in_epoch = epochs == epoch
        indices[in_epoch] = epoch_permutation(seed, int(epoch), num_examples)[offsets[in_epoch]]
    return indices


# Tags the stream of uniforms that redraws dynamically binarised pixels (apart from the orders).
BINARIZATION_STREAM = zlib.crc32(b"dynamic_binarization")


def step_batch(source, batch_args: dict, step: int) -> dict[str, np.ndarray]:
    """This process's batch of `step`: `source.get` of its `batch_indices`; for a dynamically
    binarised source (`DatasetInfo.dynamic_binarization`), each pixel drawn afresh as
    Bernoulli(grey level) by uniforms of np.random.default_rng([seed, step, process,
    BINARIZATION_STREAM]), so the draws too are a pure function of (seed, step) and resume
    exactly."""
    indices = batch_indices(step=step, **batch_args)
    batch = source.get(indices)
    if source.info.dynamic_binarization:
        grey = source.grey_levels(indices)
        key = [batch_args["seed"], step, batch_args["process_index"], BINARIZATION_STREAM]
        uniforms = np.random.default_rng(key).random(grey.shape, dtype=np.float32)
        batch["x"] = (uniforms < grey).astype(np.float32)
    return batch


def _host_batches(source, batch_args: dict, step: int):
    """(step, batch) for step, step + 1, ... (a plain generator: the thread holds no iterator)."""
    while True:
        yield step, step_batch(source, batch_args, step)
        step += 1


class BatchIterator:
    """Iterates over this process's batches of steps start_step, start_step + 1, ...

    Each batch is `step_batch(source, ...)`: `source.get(batch_indices(seed=seed, step=step,
    ...))`, redrawn for a dynamically binarised source. A daemon thread prepares up to
    `prefetch` batches ahead so that host work overlaps training; `prefetch=0` prepares each
    batch in `__next__`. Use as a context manager, or call `close()`.

    Args:
      source: a `Source`.
      seed: selects the per-epoch permutations (see `batch_indices`).
      global_batch_size: batch size summed over all processes.
      start_step: the step of the first batch (the step to resume from).
      process_index, process_count: this process and the number of processes; None means
        `jax.process_index()` and `jax.process_count()`.
      prefetch: number of batches prepared ahead (0: no thread).

    Attributes:
      step: the step of the batch the next `next()` returns.
    """

    def __init__(
        self,
        source: Source,
        *,
        seed: int,
        global_batch_size: int,
        start_step: int = 0,
        process_index: int | None = None,
        process_count: int | None = None,
        prefetch: int = 2,
    ):
        if process_index is None or process_count is None:
            import jax

            process_index = jax.process_index() if process_index is None else process_index
            process_count = jax.process_count() if process_count is None else process_count
        self._batch_args = dict(
            seed=seed,
            global_batch_size=global_batch_size,
            num_examples=len(source),
            process_index=process_index,
            process_count=process_count,
        )
        # Validate every argument now rather than in the worker thread.
        batch_indices(step=start_step, **self._batch_args)
        prefetch = _check_int("prefetch", prefetch, 0)
        self.source = source
        self.step = int(start_step)
        self._closed = False
        self._background = None
        if prefetch:
            self._background = Background(
                _host_batches(source, self._batch_args, self.step),
                prefetch,
                name="unigen_jax-batches",
            )

    @property
    def _thread(self):
        return None if self._background is None else self._background.thread

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._closed:
            raise StopIteration
        if self._background is None:
            batch = step_batch(self.source, self._batch_args, self.step)
        else:
            step, batch = next(self._background)
            assert step == self.step, (step, self.step)
        self.step += 1
        return batch

    def close(self) -> None:
        """Stops and joins the prefetch thread; later `next()` calls raise StopIteration."""
        self._closed = True
        if self._background is not None:
            self._background.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def stream_seed(seed: int, stream: str) -> int:
    """The seed of a second data stream's order: a pure function of (seed, stream name)."""
    return seed + ((zlib.crc32(stream.encode()) & 0x7FFFFFFF) + 1) * 2**32


class StepBatches:
    """The real data of each training step, from step `start_step` on.

    A step reads `batches_per_step` = K consecutive batches of the run's source (K > 1 for
    models whose critic reads a fresh batch per repeat: arrays then get a leading axis K) and
    as many of each extra stream's, found under the stream's name. Step t reads batches
    t K ... t K + K - 1 of each stream's `BatchIterator`, so the data remain a pure function of
    (seed, step) and resume exactly; the run's own stream with K = 1 is `BatchIterator`'s.

    Args:
      source: the run's dataset split.
      seed, global_batch_size, start_step, process_index, process_count, prefetch: as for
        `BatchIterator`.
      batches_per_step: K >= 1.
      streams: {name: (source, global batch size)} of the extra streams; their orders are
        seeded by `stream_seed(seed, name)`.
    """

    def __init__(
        self,
        source: Source,
        *,
        seed: int,
        global_batch_size: int,
        start_step: int = 0,
        batches_per_step: int = 1,
        streams: Mapping[str, tuple[Source, int]] | None = None,
        process_index: int | None = None,
        process_count: int | None = None,
        prefetch: int = 2,
    ):
        self._per_step = _check_int("batches per step", batches_per_step, 1)
        start = _check_int("start step", start_step, 0) * self._per_step
        common = dict(process_index=process_index, process_count=process_count, prefetch=prefetch)
        self._iterators = {
            None: BatchIterator(
                source, seed=seed, global_batch_size=global_batch_size, start_step=start, **common
            )
        }
        try:
            for name, (stream_source, batch_size) in (streams or {}).items():
                self._iterators[name] = BatchIterator(
                    stream_source,
                    seed=stream_seed(seed, name),
                    global_batch_size=batch_size,
                    start_step=start,
                    **common,
                )
        except Exception:
            self.close()
            raise

    @property
    def leading_axes(self) -> int:
        """The number of axes before the batch axis in each array (1 when a step reads several
        batches)."""
        return int(self._per_step > 1)

    def _take(self, iterator) -> dict[str, np.ndarray]:
        batches = [next(iterator) for _ in range(self._per_step)]
        if self._per_step == 1:
            return batches[0]
        return {key: np.stack([b[key] for b in batches]) for key in batches[0]}

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        batch = dict(self._take(self._iterators[None]))
        for name, iterator in self._iterators.items():
            if name is not None:
                batch[name] = self._take(iterator)
        return batch

    def close(self) -> None:
        for iterator in self._iterators.values():
            iterator.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
