"""Counter-based noise: the value of every noise element is a hash of (key, example, element).

Threefry-2x32 with 20 rounds (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2,
3", Random123), the generator behind `jax.random`, written here as straight-line code. JAX
lowers its own threefry to a rolled 5-iteration while loop on CPU (to compile faster); every
iteration runs as a separate XLA:CPU thunk that copies its loop state, which cost about 15% of
a 2-D MLP GAN step (measured with jax 0.10.2: 448 against 372 steps/s on one device).

The counter of an element is (global example index, element pair index), so the noise of an
example does not depend on how the batch is split over devices, and no per-example key has
to be derived (`fold_in` per example is itself a threefry call).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_KEY_SCHEDULE_PARITY = np.uint32(0x1BD11BDA)


def _rotate_left(x: jax.Array, bits: int) -> jax.Array:
    return lax.shift_left(x, np.uint32(bits)) | lax.shift_right_logical(x, np.uint32(32 - bits))


def threefry2x32(key: jax.Array, x0: jax.Array, x1: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32, 20 rounds, of the counter pairs (x0, x1) under `key` (uint32[2]).

    x0 and x1 are uint32 arrays of one shape; returns two uint32 arrays of that shape. Equal
    to `jax.extend.random.threefry_2x32` (tested).
    """
    k0, k1 = key[0], key[1]
    schedule = (k0, k1, k0 ^ k1 ^ _KEY_SCHEDULE_PARITY)
    x0, x1 = x0 + schedule[0], x1 + schedule[1]
    for block in range(5):  # 5 blocks of 4 rounds, a key injection after each
        for bits in _ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = _rotate_left(x1, bits) ^ x0
        x0 = x0 + schedule[(block + 1) % 3]
        x1 = x1 + schedule[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1


def random_bits(key: jax.Array, example_indices: jax.Array, size: int) -> jax.Array:
    """uint32 bits [len(example_indices), size]: element j of example i hashes (i, j // 2)."""
    key_data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    key_data = key_data.astype(jnp.uint32).reshape(-1)[:2]
    pairs = math.ceil(size / 2)
    examples = example_indices.astype(jnp.uint32)[:, None]
    counters = jnp.arange(pairs, dtype=jnp.uint32)[None, :]
    x0, x1 = threefry2x32(
        key_data,
        jnp.broadcast_to(examples, (examples.shape[0], pairs)),
        jnp.broadcast_to(counters, (examples.shape[0], pairs)),
    )
    bits = jnp.stack([x0, x1], axis=-1).reshape(examples.shape[0], 2 * pairs)
    return bits[:, :size]


def bits_to_unit_interval(bits: jax.Array, dtype=jnp.float32) -> jax.Array:
    """Uniform floats in [0, 1) from the top 23 bits (float32 mantissa), as jax.random does."""
    mantissa = lax.shift_right_logical(bits, np.uint32(9)) | np.uint32(0x3F800000)
    return (lax.bitcast_convert_type(mantissa, jnp.float32) - 1.0).astype(dtype)


def uniform(key, example_indices, shape, dtype=jnp.float32) -> jax.Array:
    """Uniform [0, 1) noise `[len(example_indices), *shape]`."""
    bits = random_bits(key, example_indices, math.prod(shape))
    return bits_to_unit_interval(bits, dtype).reshape(example_indices.shape[0], *shape)


def bits_to_normal(bits: jax.Array, dtype=jnp.float32) -> jax.Array:
    """Standard normals by inverse CDF, sqrt(2) erfinv(2u - 1), u from `bits_to_unit_interval`.

    2u - 1 lies in [-1, 1); its lowest value is nudged up to the next float above -1, as
    jax.random.normal does, so the result is always finite.
    """
    signed = 2.0 * bits_to_unit_interval(bits) - 1.0
    signed = jnp.maximum(signed, np.nextafter(np.float32(-1.0), np.float32(0.0)))
    return (np.float32(math.sqrt(2.0)) * lax.erf_inv(signed)).astype(dtype)


def normal(key, example_indices, shape, dtype=jnp.float32) -> jax.Array:
    """Standard normal noise `[len(example_indices), *shape]`."""
    bits = random_bits(key, example_indices, math.prod(shape))
    return bits_to_normal(bits, dtype).reshape(example_indices.shape[0], *shape)
