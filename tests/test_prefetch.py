"""The input pipeline's background stages: call sizes, device prefetch, error propagation."""

import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from unigen_jax.data.background import Background
from unigen_jax.train import make_mesh
from unigen_jax.train.prefetch import DevicePrefetcher, call_sizes


def test_call_sizes_fuse_but_never_cross_a_checkpoint_or_the_end():
    assert list(call_sizes(0, 23, fused=4, checkpoint_every=10)) == [
        4,
        4,
        1,
        1,
        4,
        4,
        1,
        1,
        1,
        1,
        1,
    ]
    for start, stop, fused, every in [(0, 100, 10, 50), (7, 61, 3, 12), (5, 6, 4, 8)]:
        sizes = list(call_sizes(start, stop, fused=fused, checkpoint_every=every))
        ends = start + np.cumsum(sizes)
        assert ends[-1] == stop and set(sizes) <= {1, fused}
        boundaries = {start, *ends.tolist()}
        assert {s for s in range(start + 1, stop + 1) if s % every == 0} <= boundaries


def _host_batches(n, batch=4):
    for i in range(n):
        yield {"x": np.full((batch, 2), i, np.float32), "label": np.full(batch, i, np.int32)}


def test_device_prefetcher_stacks_and_shards_in_order():
    mesh = make_mesh(2)
    with DevicePrefetcher(_host_batches(7), [1, 3, 1, 2], mesh) as calls:
        got = list(calls)
    assert [k for k, _ in got] == [1, 3, 1, 2]
    k, single = got[0]
    assert single["x"].shape == (4, 2) and single["x"].sharding.spec == P("data")
    k, stacked = got[1]
    assert stacked["x"].shape == (3, 4, 2) and stacked["x"].sharding.spec == P(None, "data")
    firsts = [np.asarray(b["label"]).reshape(-1, 4)[:, 0].tolist() for _, b in got]
    assert firsts == [[0], [1, 2, 3], [4], [5, 6]]


def test_background_raises_the_producers_error_and_stops():
    def failing():
        yield 1
        raise OSError("disk gone")

    background = Background(failing(), 2)
    assert next(background) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(background)
    assert not background.thread.is_alive()
    with pytest.raises(StopIteration):
        next(background)


def test_background_close_joins_a_blocked_producer():
    def endless():
        while True:
            yield 0

    background = Background(endless(), 1)
    next(background)
    background.close()
    assert not background.thread.is_alive()
