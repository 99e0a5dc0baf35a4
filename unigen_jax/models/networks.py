"""`Networks`: what a phase's loss function sees: call a network by name, draw named noise,
reduce over the global batch, read the step number.

A loss function never touches variables, keys or devices directly:

    def generator_loss(nets, batch):
        z = nets.normal("z", (latent_dim,))
        fake_logits, _ = nets("discriminator", nets("generator", z))
        weights = nets.batch_softmax(fake_logits)   # over the GLOBAL batch, on any device count
        ...

The handle lives with the models (it is what their phases are written against); the engine in
`unigen_jax.train` builds one per phase update.

Noise is counter-based (`unigen_jax.models.noise`): each element hashes the tag's key with the
example's position in the GLOBAL batch, so a step on 2 devices draws exactly the noise that the
same step on 1 device draws.
Each tag may be drawn once per phase update: no key is ever used twice.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from unigen_jax.models import noise


def _tag_to_int(tag: str) -> int:
    # A stable 31-bit id: Python's hash() is salted per process and would break resumes.
    return zlib.crc32(tag.encode()) & 0x7FFFFFFF


class Networks:
    """Applies named Flax modules with given variables and records their new batch statistics.

    Args:
      modules: the model's networks by name.
      params: params by network name (the engine passes the trained ones as differentiable
        values and the others behind stop_gradient).
      batch_stats: BatchNorm statistics by network name ({} for networks without BatchNorm).
      train: whether BatchNorm uses batch statistics (and updates its running averages).
      key: the PRNG key of this phase update.
      batch_size: the number of examples on this device.
      axis_name: the mesh axis the batch is sharded over, or None outside shard_map/pmap.
      step: the training step (int32 scalar) for schedules; 0 where there is none (sampling).
      shadows: {shadow network: the network whose module it applies} (an EMA copy, a
        snapshot: same module, params of their own).
      noise_indices: int [batch_size], outside shard_map only: the example index whose noise
        each example draws (examples given one index share their noise: a sample grid whose
        rows keep the noise fixed while a code varies); None: each its own position.

    Examples:
      A handle outside any device mesh (the engine builds one for every phase update), on a
      network that scales its input by a learned w = 2:

      >>> import flax.linen as nn, jax, jax.numpy as jnp
      >>> from unigen_jax.models.networks import Networks
      >>> class Scale(nn.Module):
      ...     @nn.compact
      ...     def __call__(self, x, *, train):
      ...         return x * self.param("w", nn.initializers.ones, ())
      >>> nets = Networks({"scale": Scale()}, {"scale": {"w": jnp.array(2.0)}}, {},
      ...                 train=True, key=jax.random.PRNGKey(0), batch_size=3)
      >>> print(nets("scale", jnp.array([1.0, 2.0, 3.0])))
      [2. 4. 6.]

      Reductions over the (here one-device) global batch: IWGAN's normalised weights of
      examples whose D(x) / (1 - D(x)) are 1, 1 and 2:

      >>> print(nets.batch_softmax(jnp.log(jnp.array([1.0, 1.0, 2.0]))))
      [0.25 0.25 0.5 ]
      >>> print(nets.batch_mean(jnp.array([1.0, 2.0, 6.0])))
      3.0

      Named noise, one draw per example; each tag once per phase update:

      >>> nets.normal("z", (2,)).shape
      (3, 2)
      >>> nets.normal("z", (2,))
      Traceback (most recent call last):
      ...
      ValueError: noise tag 'z' used twice in one phase update; use a new tag
    """

    def __init__(
        self,
        modules: Mapping[str, nn.Module],
        params: Mapping[str, Any],
        batch_stats: Mapping[str, Any],
        *,
        train: bool,
        key: jax.Array,
        batch_size: int,
        axis_name: str | None = None,
        step: jax.Array | int = 0,
        shadows: Mapping[str, str] | None = None,
        noise_indices=None,
    ):
        if noise_indices is not None and axis_name is not None:
            raise ValueError("noise_indices are for a single-device handle (axis_name=None)")
        self._modules = modules
        self._params = params
        self.batch_stats = dict(batch_stats)
        self.train = train
        self._key = key
        self.batch_size = batch_size
        self._axis_name = axis_name
        self.step = jnp.asarray(step, jnp.int32)
        self._shadows = dict(shadows or {})
        self._used_tags: set[str] = set()
        self._noise_indices = noise_indices

    def params(self, name: str):
        """The params of network `name` (for updates that are not gradient steps)."""
        self._check_name(name)
        return self._params[name]

    def with_params(self, overrides: Mapping[str, Any]) -> Networks:
        """A handle whose networks in `overrides` apply the given params instead, for
        differentiating a loss with respect to params INSIDE a phase (double backprop:
        Mescheder et al. 2017's consensus regulariser needs each player's gradient as a
        function of both players' params):

            grad_d = jax.grad(lambda p: d_loss(nets.with_params({"discriminator": p}))[0])(
                nets.params("discriminator"))

        It draws the same noise as this handle for each tag (the same key, with its own record
        of the tags used), so a loss evaluated through it sees the same samples as through
        this handle; the same step and reductions. The batch statistics it records are its
        own and the phase does not keep them (they may be values of an inner `jax.grad`).
        """
        for name in overrides:
            self._check_name(name)
        return Networks(
            self._modules,
            {**self._params, **overrides},
            self.batch_stats,
            train=self.train,
            key=self._key,
            batch_size=self.batch_size,
            axis_name=self._axis_name,
            step=self.step,
            shadows=self._shadows,
            noise_indices=self._noise_indices,
        )

    def device_mean(self, tree):
        """The mean over devices of per-device values, leaf by leaf (identity on one device):
        of the gradients of each device's mean loss, the gradient of the global batch's mean
        loss."""
        return tree if self._axis_name is None else lax.pmean(tree, self._axis_name)

    def _check_name(self, name: str) -> None:
        if name not in self._params:
            raise KeyError(f"unknown network {name!r}; this model has {sorted(self._params)}")

    def __call__(self, name: str, *args, **kwargs):
        """Applies network `name`; in training mode its new batch statistics are recorded."""
        self._check_name(name)
        module = self._modules[self._shadows.get(name, name)]
        variables = {"params": self._params[name]}
        stats = self.batch_stats.get(name)
        if stats:
            variables["batch_stats"] = stats
        if self.train and stats:
            out, updates = module.apply(
                variables, *args, train=True, mutable=["batch_stats"], **kwargs
            )
            self.batch_stats[name] = updates["batch_stats"]
            return out
        return module.apply(variables, *args, train=self.train, **kwargs)

    def key(self, tag: str) -> jax.Array:
        """A key for `tag`, distinct from every other tag's; each tag may be asked for once."""
        if tag in self._used_tags:
            raise ValueError(f"noise tag {tag!r} used twice in one phase update; use a new tag")
        self._used_tags.add(tag)
        return jax.random.fold_in(self._key, _tag_to_int(tag))

    def example_indices(self) -> jax.Array:
        """Positions of this device's examples in the global batch, int32 [batch_size] (the
        counters of their noise; `noise_indices` when given)."""
        if self._noise_indices is not None:
            return jnp.asarray(self._noise_indices, jnp.int32)
        offset = 0 if self._axis_name is None else lax.axis_index(self._axis_name)
        return offset * self.batch_size + jnp.arange(self.batch_size, dtype=jnp.int32)

    def normal(self, tag: str, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        """Standard normal noise `[batch_size, *shape]`, the same whatever the device count."""
        return noise.normal(self.key(tag), self.example_indices(), shape, dtype)

    def uniform(self, tag: str, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        """Uniform [0, 1) noise `[batch_size, *shape]`, the same whatever the device count."""
        return noise.uniform(self.key(tag), self.example_indices(), shape, dtype)

    def categorical(self, tag: str, num_classes: int) -> jax.Array:
        """Uniform class draws int32 [batch_size] in [0, num_classes), device-count invariant."""
        u = self.uniform(tag, ())
        return jnp.minimum((u * num_classes).astype(jnp.int32), num_classes - 1)

    # Reductions over the GLOBAL batch: axis 0 of every device's share, then across devices.
    # Under the engine's shard_map (pmap semantics), a collective's transpose is the same
    # collective, so gradients through these reductions are those of the global batch too.

    def batch_sum(self, x: jax.Array) -> jax.Array:
        """Sum over the global batch (axis 0 on every device): x[batch, ...] -> [...]."""
        total = jnp.sum(x, axis=0)
        return total if self._axis_name is None else lax.psum(total, self._axis_name)

    def _global_rows(self, local_rows: int) -> int:
        if self._axis_name is None:
            return local_rows
        return local_rows * lax.axis_size(self._axis_name)

    def global_batch_size(self) -> int:
        """The number of examples in the global batch of the run's data (static)."""
        return self._global_rows(self.batch_size)

    def batch_mean(self, x: jax.Array) -> jax.Array:
        """Mean over the global batch of x (any stream's): x[batch, ...] -> [...]."""
        return self.batch_sum(x) / self._global_rows(x.shape[0])

    def batch_gather(self, x: jax.Array) -> jax.Array:
        """Every device's rows of x, in global-batch order (device 0's first):
        x[batch, ...] -> [global batch, ...]; x itself on one device. For statistics of all
        pairs of examples (an MMD's U-statistic); its gradient reaches each row's own device
        (the transpose of the all-gather is a reduce-scatter)."""
        if self._axis_name is None:
            return x
        return lax.all_gather(x, self._axis_name, axis=0, tiled=True)

    def batch_roll(self, x: jax.Array) -> jax.Array:
        """x [batch, ...] with its rows moved one place along the GLOBAL batch: global row i
        holds global row i - 1 (row 0 the last), so each example meets another example's
        values, the same pairs on any device count (draws from a product of marginals, as
        AS-VAE's q(x) q(z) pairs of data and another example's code)."""
        rolled = jnp.roll(x, 1, axis=0)
        if self._axis_name is None:
            return rolled
        devices = lax.axis_size(self._axis_name)
        # Each device's last row becomes the next device's first (the last device's the first's).
        incoming = lax.ppermute(
            x[-1:], self._axis_name, perm=[(i, (i + 1) % devices) for i in range(devices)]
        )
        return jnp.concatenate([incoming, rolled[1:]], axis=0)

    def batch_softmax(self, logits: jax.Array) -> jax.Array:
        """Softmax over the global batch: logits [batch] -> weights [batch] summing to 1 over
        every device's examples together (exp(l_i - max) / sum_j exp(l_j - max))."""
        # The max only stabilises the exponentials (it cancels): no gradient through it.
        shift = lax.stop_gradient(jnp.max(logits))
        if self._axis_name is not None:
            shift = lax.pmax(shift, self._axis_name)
        unnormalised = jnp.exp(logits - shift)
        return unnormalised / self.batch_sum(unnormalised)
