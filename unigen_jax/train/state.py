"""The training state: per network its params, batch statistics and own optimizer state."""

from __future__ import annotations

import functools
import zlib
from collections.abc import Mapping
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from unigen_jax.models.spec import ModelSpec
from unigen_jax.train import settings


@flax.struct.dataclass
class TrainState:
    """Everything a training step reads and writes; a plain pytree, saved whole by orbax.

    Attributes:
      step: int32 scalar, the number of steps taken.
      rng: uint32 [2] base key; step `s` uses `fold_in(rng, s)`, so keys never repeat.
      params: {network name: params}, shadows (an EMA copy, a snapshot) included.
      batch_stats: {network name: BatchNorm statistics} ({} for networks without BatchNorm).
      opt_states: {network name: its own optax state}, for the networks some phase trains.
    """

    step: jax.Array
    rng: jax.Array
    params: dict[str, Any]
    batch_stats: dict[str, Any]
    opt_states: dict[str, Any]


def network_key(key: jax.Array, name: str) -> jax.Array:
    """A per-network key that does not change when other networks are added to a model."""
    return jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)


def create_train_state(
    model: ModelSpec, example_batch: Mapping[str, jax.Array], seed: int
) -> TrainState:
    """Initialises every network of `model` (BatchNorm in inference mode) and its optimizer;
    each shadow starts as a copy of its source."""
    init_key, step_key = jax.random.split(jax.random.PRNGKey(seed))
    params, batch_stats, opt_states = {}, {}, {}
    for name, module in model.networks.items():
        args = model.init_args[name](example_batch)
        variables = _initialiser(module)(network_key(init_key, name), *args)
        params[name] = variables["params"]
        batch_stats[name] = variables.get("batch_stats", {})
        if name in model.optimizers:
            opt_states[name] = model.optimizers[name].init(params[name])
    for name, source in model.shadow_sources.items():
        params[name] = jax.tree.map(jnp.copy, params[source])
        batch_stats[name] = jax.tree.map(jnp.copy, batch_stats[source])
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        rng=step_key,
        params=params,
        batch_stats=batch_stats,
        opt_states=opt_states,
    )


def _init_variables(module, key, *args):
    return module.init({"params": key}, *args, train=False)


@functools.cache
def _shared_initialiser():
    """One jitted initialiser for the process, the module a static argument: JAX's trace
    cache then keys on the module's fields, so a model built again (a resumed run, the
    evaluation of a run, in the same process) is not traced and lowered again (a 4-network
    model at tiny shapes, 2-core CPU: `eval.runner.load_run` 0.97 s before, 0.15 s after)."""
    return settings.jit_run_once(_init_variables, static_argnums=0)


def _initialiser(module):
    """`(key, *args) -> variables` for `module`: the shared initialiser when the module hashes
    (Flax modules hash by their fields), else one of its own."""
    try:
        hash(module)
    except TypeError:  # a field that does not hash (a list, say): no cache to key
        return settings.jit_run_once(functools.partial(_init_variables, module))
    return functools.partial(_shared_initialiser(), module)
