"""The compiled step: phase isolation, the update's math, device-count invariance, pmap, scan,
and no recompilation."""

import dataclasses
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.extend import random as jax_random_internals
from jax.sharding import PartitionSpec as P
from scipy import special

from unigen_jax import models
from unigen_jax.data import DatasetInfo
from unigen_jax.train import (
    DATA_AXIS,
    Networks,
    create_train_state,
    make_mesh,
    make_per_device_step,
    make_train_step,
    replicate,
    shard_batch,
)

VECTORS = DatasetInfo(name="toy", kind="vector", shape=(2,), num_classes=0, num_examples=8)
IMAGES = DatasetInfo(name="toy", kind="image", shape=(28, 28, 1), num_classes=0, num_examples=8)


def _vector_batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(n, 2)).astype(np.float32), "label": np.zeros(n, np.int32)}


def _image_batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.uniform(size=(n, 28, 28, 1)).astype(np.float32),
        "label": np.zeros(n, np.int32),
    }


def _sgd(model, lr=0.1):
    return dataclasses.replace(model, optimizers={n: optax.sgd(lr) for n in model.optimizers})


def _tiny_gan(info=VECTORS, **overrides):
    config = models.make_config(
        "gan", latent_dim=3, hidden_sizes=(8,), base_features=4, **overrides
    )
    return models.build_model("gan", config, info)


def _tiny_vae(info=IMAGES):
    config = models.make_config("vae", latent_dim=3, base_features=4)
    return models.build_model("vae", config, info)


def _close(tree_a, tree_b, rtol=1e-5, atol=1e-6):
    for a, b in zip(jax.tree.leaves(tree_a), jax.tree.leaves(tree_b), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def _changed(before, after):
    return any(
        not np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True)
    )


def _noise(key, tag, n, dim):
    """Second implementation of the documented noise schedule (numpy, scipy and JAX's own
    threefry): per tag a key, then element j of global example i hashes the counter (i, j // 2)
    and takes word j % 2; inverse-CDF normals from the top 23 bits."""
    tag_key = jax.random.fold_in(key, zlib.crc32(tag.encode()) & 0x7FFFFFFF)
    key_data = jax.random.key_data(tag_key)
    pairs = (dim + 1) // 2
    examples = np.repeat(np.arange(n, dtype=np.uint32), pairs)
    counters = np.tile(np.arange(pairs, dtype=np.uint32), n)
    hashed = np.asarray(
        jax_random_internals.threefry_2x32(key_data, np.concatenate([examples, counters]))
    )
    words = np.stack([hashed[: n * pairs], hashed[n * pairs :]], axis=-1).reshape(n, 2 * pairs)
    u = ((words[:, :dim] >> 9) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1)
    signed = np.maximum(2 * u - 1, np.nextafter(np.float32(-1), np.float32(0)))
    return jnp.asarray(np.sqrt(2) * special.erfinv(signed.astype(np.float64)), jnp.float32)


@pytest.mark.parametrize("phase_index", [0, 1])
def test_each_phase_updates_only_its_networks_by_the_gradient_of_its_loss(phase_index):
    model = _sgd(_tiny_gan(), lr=0.1)
    phase = model.phases[phase_index]
    one_phase = dataclasses.replace(model, phases=(phase,))
    batch = _vector_batch()
    state = create_train_state(model, batch, seed=3)
    new_state, _ = jax.jit(make_per_device_step(one_phase, axis_name=None))(state, batch)

    # The non-saturating GAN written out independently of unigen_jax.losses and of the engine.
    key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(state.rng, 0), 0), 0)
    z = _noise(key, "z", 8, 3)
    gen, disc = model.networks["generator"], model.networks["discriminator"]

    def d_loss(d_params):
        fake = gen.apply({"params": state.params["generator"]}, z, train=True)
        real_logits, _ = disc.apply({"params": d_params}, batch["x"], train=True)
        fake_logits, _ = disc.apply({"params": d_params}, fake, train=True)
        return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))

    def g_loss(g_params):
        fake = gen.apply({"params": g_params}, z, train=True)
        fake_logits, _ = disc.apply({"params": state.params["discriminator"]}, fake, train=True)
        return jnp.mean(jax.nn.softplus(-fake_logits))

    trained = phase.trains[0]
    frozen = {"generator": "discriminator", "discriminator": "generator"}[trained]
    grad = jax.grad(d_loss if trained == "discriminator" else g_loss)(state.params[trained])
    expected = jax.tree.map(lambda p, g: p - 0.1 * g, state.params[trained], grad)
    _close(new_state.params[trained], expected)
    assert _changed(state.params[trained], new_state.params[trained])
    assert not _changed(state.params[frozen], new_state.params[frozen])
    assert not _changed(state.opt_states[frozen], new_state.opt_states[frozen])
    assert int(new_state.step) == 1


def _run(model, batches, mesh, seed=0):
    step = make_train_step(model, mesh)
    state = replicate(create_train_state(model, batches[0], seed), mesh)
    for batch in batches:
        state, metrics = step(state, shard_batch(batch, mesh))
    return jax.device_get(state), jax.device_get(metrics)


@pytest.mark.parametrize("make_model", [_tiny_gan, _tiny_vae], ids=["gan", "vae"])
def test_two_devices_equal_one_device(make_model):
    """Synchronised BatchNorm + averaged gradients + per-example noise: same math on 1 or 2."""
    assert len(jax.devices()) >= 2, "tests/conftest.py asks XLA for two host devices"
    model = make_model(IMAGES)
    batches = [_image_batch(seed=s) for s in range(2)]
    state_1, metrics_1 = _run(model, batches, make_mesh(1))
    state_2, metrics_2 = _run(model, batches, make_mesh(2))
    _close(state_1.params, state_2.params, rtol=2e-4, atol=2e-5)
    _close(state_1.batch_stats, state_2.batch_stats, rtol=2e-4, atol=2e-5)
    _close(metrics_1, metrics_2, rtol=2e-4, atol=2e-5)
    assert _changed(create_train_state(model, batches[0], 0).params, state_1.params)


def test_the_same_per_device_step_runs_under_pmap():
    model = _tiny_gan()
    batch = _vector_batch()
    state = create_train_state(model, batch, seed=1)
    sharded, _ = make_train_step(model, make_mesh(2), donate=False)(
        replicate(state, make_mesh(2)), shard_batch(batch, make_mesh(2))
    )
    stacked = jax.tree.map(lambda x: jnp.stack([x, x]), state)
    split = jax.tree.map(lambda x: x.reshape(2, -1, *x.shape[1:]), batch)
    pmapped, _ = jax.pmap(make_per_device_step(model), axis_name=DATA_AXIS)(stacked, split)
    _close(jax.tree.map(lambda x: x[0], pmapped.params), sharded.params)
    _close(jax.tree.map(lambda x: x[1], pmapped.params), sharded.params)


def test_scan_fused_steps_equal_single_steps():
    model = _tiny_gan()
    mesh = make_mesh(2)
    batches = [_vector_batch(seed=s) for s in range(3)]
    single, _ = _run(model, batches, mesh)
    fused = make_train_step(model, mesh, steps_per_call=3)
    state = replicate(create_train_state(model, batches[0], 0), mesh)
    stacked = jax.tree.map(lambda *b: np.stack(b), *batches)
    state, metrics = fused(state, shard_batch(stacked, mesh, stacked=True))
    _close(jax.device_get(state).params, single.params, rtol=1e-5, atol=1e-6)
    assert metrics["generator_loss"].shape == (3,)
    assert int(state.step) == 3


def test_no_recompilation_after_the_first_step():
    model = _tiny_gan()
    traces = []
    phases = tuple(
        dataclasses.replace(
            p, loss_fn=lambda nets, batch, f=p.loss_fn: (traces.append(1), f(nets, batch))[1]
        )
        for p in model.phases
    )
    model = dataclasses.replace(model, phases=phases)
    mesh = make_mesh(2)
    step = make_train_step(model, mesh)
    state = replicate(create_train_state(model, _vector_batch(), 0), mesh)
    for seed in range(4):
        state, _ = step(state, shard_batch(_vector_batch(seed=seed), mesh))
    assert len(traces) == len(model.phases)  # traced once, then only executed
    assert int(state.step) == 4


def test_noise_depends_on_the_global_example_not_the_device():
    key = jax.random.PRNGKey(7)

    def draw(batch):
        nets = Networks(
            {}, {}, {}, train=True, key=key, batch_size=batch.shape[0], axis_name=DATA_AXIS
        )
        return nets.normal("z", (3,))

    mesh = make_mesh(2)
    on_two = jax.shard_map(draw, mesh=mesh, in_specs=P(DATA_AXIS), out_specs=P(DATA_AXIS))(
        jnp.zeros(6)
    )
    nets = Networks({}, {}, {}, train=True, key=key, batch_size=6)
    np.testing.assert_array_equal(on_two, nets.normal("z", (3,)))
    np.testing.assert_allclose(on_two, _noise(key, "z", 6, 3), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="used twice"):
        nets.normal("z", (3,))


def test_many_fast_two_device_steps_do_not_deadlock():
    """XLA:CPU deadlocks when 2-device executions with collectives overlap (see step.py);
    without the wait, 3 runs in 4 of this loop abort within seconds."""
    script = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax, numpy as np
from unigen_jax import models
from unigen_jax.data import DatasetInfo
from unigen_jax.train import create_train_state, make_mesh, make_train_step, replicate, shard_batch
info = DatasetInfo(name="toy", kind="vector", shape=(2,), num_classes=0, num_examples=512)
model = models.build_model("gan", models.make_config("gan"), info)
mesh = make_mesh(2)
batch = {"x": np.ones((512, 2), np.float32), "label": np.zeros(512, np.int32)}
state = replicate(create_train_state(model, batch, 0), mesh)
step = make_train_step(model, mesh)
for _ in range(1500):
    state, _ = step(state, shard_batch(batch, mesh))
print("steps", int(state.step))
"""
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": repo}
    env.pop("XLA_FLAGS", None)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "steps 1500" in result.stdout


def test_cpu_compiler_options_fall_back_to_xla_defaults_when_rejected(monkeypatch):
    """A jaxlib that does not know the kernel option still trains, with XLA's defaults."""
    from unigen_jax.train import settings

    assert settings.cpu_compiler_options() == settings.CPU_COMPILER_OPTIONS  # this jaxlib
    unknown = {"xla_cpu_experimental_ynn_fusion_type": "NOT_A_LIBRARY_FUSION_TYPE"}
    monkeypatch.setattr(settings, "CPU_COMPILER_OPTIONS", unknown)
    assert settings.cpu_compiler_options.__wrapped__() == {}
