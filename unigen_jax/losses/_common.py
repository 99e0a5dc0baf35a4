"""Shape checks, dtype rules and reductions shared by every loss.

Conventions (the training engine relies on them):
  * every loss returns per-example values of shape [batch]; the caller reduces;
  * values that have more than the batch dimension (patch-shaped discriminator outputs,
    images) are reduced over their non-batch dimensions: discriminator terms by a mean,
    log densities by a sum;
  * optional per-example `weights` of shape [batch] multiply the per-example value;
  * the result has the floating dtype of the data arguments (bfloat16 stays bfloat16); the
    arithmetic itself runs in at least float32 and is cast back at the end.
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def batch_size(name: str, x: jax.Array) -> int:
    """Returns the leading dimension of `x`; raises ValueError if `x` has none."""
    if x.ndim < 1:
        raise ValueError(f"{name} must have shape [batch, ...], got a scalar of shape {x.shape}")
    return x.shape[0]


def check_same_batch(name_a: str, a: jax.Array, name_b: str, b: jax.Array) -> int:
    """Returns the shared batch size of `a` and `b`; raises ValueError if they differ."""
    batch = batch_size(name_a, a)
    if batch_size(name_b, b) != batch:
        raise ValueError(
            f"{name_a} and {name_b} must have the same batch size, got shapes {a.shape} and "
            f"{b.shape}"
        )
    return batch


def check_same_shape(name_a: str, a: jax.Array, name_b: str, b: jax.Array) -> int:
    """Returns the batch size of `a` and `b`; raises ValueError unless their shapes are equal."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}"
        )
    return batch_size(name_a, a)


def check_broadcasts_to(name: str, x: jax.Array, shape: tuple[int, ...], target: str) -> None:
    """Raises ValueError unless `x` broadcasts to exactly `shape` (the shape of `target`)."""
    try:
        broadcast = jnp.broadcast_shapes(x.shape, shape)
    except ValueError:
        broadcast = None
    if broadcast != tuple(shape):
        raise ValueError(
            f"{name} of shape {x.shape} does not broadcast to {target}'s shape {shape}"
        )


def check_weights(name: str, weights: ArrayLike | None, batch: int) -> jax.Array | None:
    """Returns `weights` as an array after checking it has shape [batch]."""
    if weights is None:
        return None
    weights = jnp.asarray(weights)
    if weights.shape != (batch,):
        raise ValueError(f"{name} must have shape [batch] = ({batch},), got {weights.shape}")
    return weights


def dtypes(*arrays: ArrayLike) -> tuple[jnp.dtype, jnp.dtype]:
    """Returns (result dtype, compute dtype) for the data arguments of a loss.

    The result dtype is the promoted floating dtype of the arrays (Python scalars are weakly
    typed and do not widen it; integer or boolean data give float32). The compute dtype is at
    least float32 so that bfloat16 inputs do not lose accuracy inside softplus, exp and sums.
    """
    result = jnp.result_type(*arrays)
    if not jnp.issubdtype(result, jnp.floating):
        result = jnp.dtype(jnp.float32)
    return result, jnp.promote_types(result, jnp.float32)


def mean_over_non_batch(x: jax.Array) -> jax.Array:
    """[batch, ...] -> [batch]: the mean over every dimension but the first."""
    return jnp.mean(x, axis=tuple(range(1, x.ndim)))


def sum_over_non_batch(x: jax.Array) -> jax.Array:
    """[batch, ...] -> [batch]: the sum over every dimension but the first."""
    return jnp.sum(x, axis=tuple(range(1, x.ndim)))


def finish(values: jax.Array, weights: jax.Array | None, result_dtype: jnp.dtype) -> jax.Array:
    """Multiplies per-example `values` by `weights` (if any) and casts to `result_dtype`."""
    if weights is not None:
        values = values * weights.astype(values.dtype)
    return values.astype(result_dtype)
