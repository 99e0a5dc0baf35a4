"""Compiles a model's ordered update phases into one data-parallel training step.

    step(state, batch) -> (state, metrics)

Per step: key = fold_in(state.rng, state.step); then, for each phase in order and each of its
repeats, the gradient of the phase's loss w.r.t. ONLY the networks it trains (every other
network is held constant), averaged across devices with `lax.pmean`, applied with each
network's own optax optimizer. Later phases see the params that earlier phases updated (a GAN's
generator phase sees the discriminator just updated), as in Goodfellow et al. (2014), Alg. 1.

Data parallelism: `per_device_step` is written against a named mesh axis ("data") and runs
unchanged under `jax.shard_map` (what `make_train_step` uses) or `jax.pmap`. shard_map runs
with check_vma=False: with it on, JAX already sums the gradients of replicated params over the
axis, and the pmean would then not give the global-batch mean; off, the semantics are pmap's.

XLA:CPU with several devices deadlocks when executions of a program with collectives overlap
(measured with jax 0.10.2: 3 runs in 4 of a 2-device MLP GAN abort in an all-reduce rendezvous
within seconds). So on a multi-device CPU mesh the step waits for its results before returning;
the DCGAN step loses no measurable speed by it (input work still overlaps in the prefetch thread).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import jax
import numpy as np
import optax
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from unigen_jax.models.spec import ModelSpec, Phase
from unigen_jax.train import settings
from unigen_jax.train.networks import Networks
from unigen_jax.train.state import TrainState

DATA_AXIS = "data"


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh over the first `num_devices` devices (all by default), axis "data"."""
    devices = jax.devices()
    if num_devices is not None:
        devices = devices[:num_devices]
    return Mesh(np.array(devices), (DATA_AXIS,))


def _phase_update(model: ModelSpec, phase: Phase, state: TrainState, batch, key, axis_name):
    """One gradient update of `phase`'s networks; returns the new state and the phase metrics."""
    batch_size = jax.tree.leaves(batch)[0].shape[0]

    def loss_of(trained_params):
        params = {
            name: trained_params[name] if name in trained_params else lax.stop_gradient(p)
            for name, p in state.params.items()
        }
        nets = Networks(
            model.networks,
            params,
            state.batch_stats,
            train=True,
            key=key,
            batch_size=batch_size,
            axis_name=axis_name,
        )
        loss, metrics = phase.loss_fn(nets, batch)
        # Only the trained networks' BatchNorm statistics move in this phase.
        new_stats = {name: nets.batch_stats[name] for name in phase.trains}
        return loss, (metrics, new_stats)

    trained = {name: state.params[name] for name in phase.trains}
    grads, (metrics, new_stats) = jax.grad(loss_of, has_aux=True)(trained)
    if axis_name is not None:
        grads = lax.pmean(grads, axis_name)
    params, opt_states = dict(state.params), dict(state.opt_states)
    metrics = dict(metrics)
    for name in phase.trains:
        updates, opt_states[name] = model.optimizers[name].update(
            grads[name], state.opt_states[name], state.params[name]
        )
        params[name] = optax.apply_updates(state.params[name], updates)
        metrics[f"{name}_grad_norm"] = optax.tree.norm(grads[name])
    batch_stats = {**state.batch_stats, **new_stats}
    return state.replace(params=params, opt_states=opt_states, batch_stats=batch_stats), metrics


def make_per_device_step(model: ModelSpec, *, axis_name: str | None = DATA_AXIS):
    """The step on one device's share of the batch; collectives over `axis_name`."""

    def per_device_step(state: TrainState, batch: Mapping[str, jax.Array]):
        step_key = jax.random.fold_in(state.rng, state.step)
        metrics = {}
        for phase_index, phase in enumerate(model.phases):
            for repeat in range(phase.repeats):
                key = jax.random.fold_in(jax.random.fold_in(step_key, phase_index), repeat)
                state, phase_metrics = _phase_update(model, phase, state, batch, key, axis_name)
                metrics.update(phase_metrics)
        if axis_name is not None:
            metrics = lax.pmean(metrics, axis_name)
        return state.replace(step=state.step + 1), metrics

    return per_device_step


def make_train_step(
    model: ModelSpec,
    mesh: Mesh,
    *,
    steps_per_call: int = 1,
    donate=True,
    compiler_options: Mapping[str, str] | None = None,
):
    """The jitted data-parallel step over `mesh`.

    With steps_per_call == 1: `(state, batch[B, ...]) -> (state, metrics)`.
    With steps_per_call == K > 1: `(state, batches[K, B, ...]) -> (state, metrics[K])`: K steps
    fused into one call, for small models whose steps are dominated by dispatch. The scan is
    fully unrolled: inside a while loop XLA:CPU gives the convolutions' gradients layouts its
    fast kernels do not take and emits naive loops (measured, jax 0.10.2: a VAE step 1.6
    steps/s rolled against 37 unrolled); unrolled, compile time grows with K.
    The batch is sharded over the mesh axis; the state is replicated.
    `compiler_options` go to XLA; by default, on a CPU mesh, `settings.cpu_compiler_options()`
    (XLA's own kernels for dots and convolutions, measured faster there), else none.
    """
    if steps_per_call < 1:
        raise ValueError(f"steps_per_call must be >= 1, got {steps_per_call}")
    per_device_step = make_per_device_step(model, axis_name=DATA_AXIS)
    if steps_per_call == 1:
        body, batch_spec = per_device_step, P(DATA_AXIS)
    else:

        def body(state, batches):
            return lax.scan(per_device_step, state, batches, unroll=True)

        batch_spec = P(None, DATA_AXIS)
    sharded = jax.shard_map(
        body, mesh=mesh, in_specs=(P(), batch_spec), out_specs=(P(), P()), check_vma=False
    )
    on_cpu = mesh.devices.flat[0].platform == "cpu"
    if compiler_options is None:
        compiler_options = settings.cpu_compiler_options() if on_cpu else {}
    step = jax.jit(
        sharded, donate_argnums=(0,) if donate else (), compiler_options=dict(compiler_options)
    )
    if mesh.size > 1 and on_cpu:
        return _wait_for_results(step)
    return step


def _wait_for_results(step):
    """`step` that returns only once its outputs are computed (see the module docstring)."""

    @functools.wraps(step)
    def blocking_step(*args):
        return jax.block_until_ready(step(*args))

    blocking_step.lower = step.lower  # for cost and memory analysis, as on the jitted step
    return blocking_step


def replicate(tree, mesh: Mesh):
    """Places `tree` on every device of `mesh` (the state's layout)."""
    return jax.device_put(tree, NamedSharding(mesh, P()))


def shard_batch(batch, mesh: Mesh, *, stacked: bool = False):
    """Splits a host batch [B, ...] (or stacked batches [K, B, ...]) over the mesh axis."""
    spec = P(None, DATA_AXIS) if stacked else P(DATA_AXIS)
    return jax.device_put(batch, NamedSharding(mesh, spec))
