"""Compiles a model's ordered update phases into one data-parallel training step.

    step(state, batch) -> (state, metrics)

Per step: key = fold_in(state.rng, state.step); then, for each phase in order and each of its
repeats, the gradient of the phase's loss w.r.t. ONLY the networks it trains (every other
network is held constant), averaged across devices with `lax.pmean`, applied with each
network's own optax optimizer (then the phase's projection, if any). A `ParamUpdate` assigns
params computed without gradients (an EMA, a snapshot). Later phases see the params that
earlier phases updated (a GAN's generator phase sees the discriminator just updated), as in
Goodfellow et al. (2014), Alg. 1.

A phase whose loss function returns {network: loss} (`spec.Phase`) gives each network it
trains the gradient of its OWN loss, the other networks fixed at the same params, from one
forward pass: one `jax.vjp` of the forward pass w.r.t. every trained network's params (the
activations stored once), then, for each distinct loss, the pullback of the cotangent that is
1 on that loss and 0 on the others, of which only the gradients of the networks owning that
loss are kept. A pullback is linear in its cotangent, so that is exactly d loss_k / d params_k,
what a phase of its own on loss_k computes. Everything a pullback computes for params it
discards (other networks' weight gradients, the backward into networks no path from loss_k to
params_k crosses) is dead code that XLA removes in the jitted step, so each pullback costs the
backward pass that a phase of its own would; the forward passes of the other phases are what
is saved (and their per-phase overhead). One backward pass cannot do it: an activation that
two losses read (D's logits on G's samples, in D's loss and G's) needs a different cotangent
for each, and the gradient of the sum of the losses would give every network the sum's. A
zero cotangent costs only elementwise work near the losses. BatchNorm: each trained network
keeps the running statistics of its calls in the one forward pass (all at the step's params).

The batch is `{"x": [B, ...], "label": [B], stream: {...}}`; for a model reading K > 1 real
batches per step (`ModelSpec.batches_per_step`, phases with fresh batches) every array has a
leading axis K, and repeat r of a fresh-batch phase reads batch r (the others batch 0).

Metrics: each phase's metrics by name; a name that two phases report (a network trained in
two phases reports its `*_grad_norm` in each) is kept once per phase as `phase/name`.

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
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from unigen_jax.models.networks import Networks
from unigen_jax.models.spec import ModelSpec, ParamUpdate, Phase
from unigen_jax.train import settings
from unigen_jax.train.state import TrainState

DATA_AXIS = "data"


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh over the first `num_devices` devices (all by default), axis "data"."""
    devices = jax.devices()
    if num_devices is not None:
        devices = devices[:num_devices]
    return Mesh(np.array(devices), (DATA_AXIS,))


def _networks(model: ModelSpec, state: TrainState, params, batch, key, axis_name) -> Networks:
    return Networks(
        model.networks,
        params,
        state.batch_stats,
        train=True,
        key=key,
        batch_size=batch["x"].shape[0],
        axis_name=axis_name,
        step=state.step,
        shadows=model.shadow_sources,
    )


def phase_gradients(model: ModelSpec, phase: Phase, state: TrainState, batch, key, axis_name):
    """The gradients of `phase`'s loss(es) w.r.t. the networks it trains, on this device's
    share of the batch (before the device mean): ({network: grads}, metrics, {network: new
    BatchNorm statistics}). With one loss a network, each network's of its own (see above)."""

    def loss_of(trained_params):
        params = {
            name: trained_params[name] if name in trained_params else lax.stop_gradient(p)
            for name, p in state.params.items()
        }
        nets = _networks(model, state, params, batch, key, axis_name)
        loss, metrics = phase.loss_fn(nets, batch)
        # Only the trained networks' BatchNorm statistics move in this phase.
        new_stats = {name: nets.batch_stats[name] for name in phase.trains}
        return loss, (metrics, new_stats)

    trained = {name: state.params[name] for name in phase.trains}
    loss, pullback, (metrics, new_stats) = jax.vjp(loss_of, trained, has_aux=True)
    if not isinstance(loss, Mapping):
        return pullback(jnp.ones_like(loss))[0], metrics, new_stats
    if set(loss) != set(phase.trains):
        raise ValueError(
            f"phase {phase.name!r} returned losses for {sorted(loss)}, "
            f"not one for each network it trains {sorted(phase.trains)}"
        )
    grads = {}
    for name in phase.trains:
        if name in grads:  # a network sharing its loss with one already pulled back
            continue
        owners = [net for net in phase.trains if loss[net] is loss[name]]
        # 1 on this loss (once, on its first owner's entry), 0 on every other.
        cotangent = {net: jnp.zeros_like(value) for net, value in loss.items()}
        cotangent[name] = jnp.ones_like(loss[name])
        pulled = pullback(cotangent)[0]
        grads.update({net: pulled[net] for net in owners})
    return grads, metrics, new_stats


def _phase_update(model: ModelSpec, phase: Phase, state: TrainState, batch, key, axis_name):
    """One gradient update of `phase`'s networks; returns the new state and the phase metrics."""
    grads, metrics, new_stats = phase_gradients(model, phase, state, batch, key, axis_name)
    if axis_name is not None:
        grads = lax.pmean(grads, axis_name)
    params, opt_states = dict(state.params), dict(state.opt_states)
    metrics = dict(metrics)
    for name in phase.trains:
        updates, opt_states[name] = model.optimizers[name].update(
            grads[name], state.opt_states[name], state.params[name]
        )
        params[name] = optax.apply_updates(state.params[name], updates)
        if phase.project is not None:
            params[name] = phase.project(params[name])
        metrics[f"{name}_grad_norm"] = optax.tree.norm(grads[name])
    batch_stats = {**state.batch_stats, **new_stats}
    return state.replace(params=params, opt_states=opt_states, batch_stats=batch_stats), metrics


def _param_update(model: ModelSpec, update: ParamUpdate, state: TrainState, batch, key, axis_name):
    """Assigns the params `update` computes; shadows it writes take their source's statistics."""
    nets = _networks(model, state, state.params, batch, key, axis_name)
    new_params, metrics = update.update_fn(nets, batch)
    if set(new_params) != set(update.writes):
        raise ValueError(
            f"update {update.name!r} returned params for {sorted(new_params)}, "
            f"not for the networks it writes {sorted(update.writes)}"
        )
    sources = model.shadow_sources
    batch_stats = dict(state.batch_stats)
    for name in update.writes:
        if name in sources:
            batch_stats[name] = state.batch_stats[sources[name]]
    params = {**state.params, **new_params}
    return state.replace(params=params, batch_stats=batch_stats), dict(metrics)


def merge_phase_metrics(
    by_phase: Mapping[str, Mapping[str, jax.Array]], phase_of: dict | None = None
) -> dict:
    """One dict of the phases' metrics; a name two phases report becomes `phase/name`.
    `phase_of`, if given, receives {merged name: the phase that reported it}."""
    counts: dict[str, int] = {}
    for metrics in by_phase.values():
        for name in metrics:
            counts[name] = counts.get(name, 0) + 1
    merged = {}
    for phase, metrics in by_phase.items():
        for name, value in metrics.items():
            key = name if counts[name] == 1 else f"{phase}/{name}"
            merged[key] = value
            if phase_of is not None:
                phase_of[key] = phase
    return merged


def _batch_number(batch, index: int, batches_per_step: int):
    """The step's `index`-th real batch (the batch itself when a step reads one)."""
    return batch if batches_per_step == 1 else jax.tree.map(lambda b: b[index], batch)


def make_per_device_step(model: ModelSpec, *, axis_name: str | None = DATA_AXIS):
    """The step on one device's share of the batch; collectives over `axis_name`."""
    names = [phase.name for phase in model.phases]
    if len(set(names)) != len(names):
        raise ValueError(f"phase names must be unique, got {names}")
    per_step = model.batches_per_step
    for phase in model.phases:
        if isinstance(phase, Phase) and phase.fresh_batches and phase.repeats != per_step:
            raise ValueError(
                f"phase {phase.name!r} reads a fresh batch per repeat but repeats "
                f"{phase.repeats} times while the step reads {per_step} batches"
            )

    def per_device_step(state: TrainState, batch: Mapping[str, jax.Array]):
        step_key = jax.random.fold_in(state.rng, state.step)
        by_phase = {}
        for phase_index, phase in enumerate(model.phases):
            if isinstance(phase, ParamUpdate):
                key = jax.random.fold_in(step_key, phase_index)
                state, by_phase[phase.name] = _param_update(
                    model, phase, state, _batch_number(batch, 0, per_step), key, axis_name
                )
                continue
            for repeat in range(phase.repeats):
                key = jax.random.fold_in(jax.random.fold_in(step_key, phase_index), repeat)
                index = repeat if phase.fresh_batches else 0
                state, by_phase[phase.name] = _phase_update(
                    model, phase, state, _batch_number(batch, index, per_step), key, axis_name
                )
        metrics = merge_phase_metrics(by_phase, per_device_step.metric_phases)
        if axis_name is not None:
            metrics = lax.pmean(metrics, axis_name)
        return state.replace(step=state.step + 1), metrics

    per_device_step.metric_phases = {}  # {metric: phase}, filled when the step is traced
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
    leading = (None,) * (steps_per_call > 1) + (None,) * (model.batches_per_step > 1)
    batch_spec = P(*leading, DATA_AXIS)
    if steps_per_call == 1:
        body = per_device_step
    else:

        def body(state, batches):
            return lax.scan(per_device_step, state, batches, unroll=True)

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
        step = _wait_for_results(step)
    step.metric_phases = per_device_step.metric_phases  # which phase reported each metric
    return step


def _wait_for_results(step):
    """`step` that returns only once its outputs are computed (see the module docstring)."""

    @functools.wraps(step)
    def blocking_step(*args):
        return jax.block_until_ready(step(*args))

    blocking_step.lower = step.lower  # for cost and memory analysis, as on the jitted step
    return blocking_step


def _global_arrays(tree, sharding):
    """Global arrays of `sharding` from each process's local values (its slice of a sharded
    axis, or the whole array where replicated): one process or several alike."""
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree
    )


def replicate(tree, mesh: Mesh):
    """Places `tree` on every device of `mesh` (the state's layout); with several processes,
    each gives the same value."""
    if jax.process_count() == 1:
        return jax.device_put(tree, NamedSharding(mesh, P()))
    return _global_arrays(jax.device_get(tree), NamedSharding(mesh, P()))


def shard_batch(batch, mesh: Mesh, *, stacked: bool | int = False):
    """Splits a host batch [B, ...] over the mesh axis; with `stacked` = n (True: 1), arrays
    [..n leading axes.., B, ...] (fused steps, several real batches a step) are split on B.
    With several processes, `batch` is this process's slice of the global batch."""
    sharding = NamedSharding(mesh, P(*(None,) * int(stacked), DATA_AXIS))
    if jax.process_count() == 1:
        return jax.device_put(batch, sharding)
    return _global_arrays(batch, sharding)
