"""Engine capabilities against independent computations: global-batch reductions across
devices, IWGAN's weighted generator gradient, data streams and fresh batches, metric names,
a handle with other params inside a phase (double backprop), one forward pass giving each
network the gradient of its own loss."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P
from scipy import special

from unigen_jax import data, losses, models
from unigen_jax import nets as flax_nets
from unigen_jax.data import DatasetInfo
from unigen_jax.models.networks import Networks
from unigen_jax.models.spec import sequential_phases
from unigen_jax.train import create_train_state, make_mesh
from unigen_jax.train.step import merge_phase_metrics, phase_gradients


def _on_two_devices(fn, x):
    """fn(nets, x_local) under shard_map over 2 devices, x split on its batch axis."""
    mesh = make_mesh(2)

    def body(x_local):
        nets = Networks(
            {}, {}, {}, train=True, key=jax.random.PRNGKey(0), batch_size=3, axis_name="data"
        )
        return fn(nets, x_local)

    return jax.jit(
        jax.shard_map(body, mesh=mesh, in_specs=P("data"), out_specs=P("data"), check_vma=False)
    )(x)


def test_batch_reductions_span_the_global_batch():
    logits = np.array([0.3, -1.2, 2.0, 0.0, 5.0, -3.0], np.float32)
    weights = _on_two_devices(lambda nets, x: nets.batch_softmax(x), logits)
    np.testing.assert_allclose(weights, special.softmax(logits), rtol=1e-5)
    mean = _on_two_devices(lambda nets, x: jnp.broadcast_to(nets.batch_mean(x), x.shape), logits)
    np.testing.assert_allclose(mean, np.full(6, logits.mean()), rtol=1e-5)


def test_gradient_through_a_global_mean_is_the_global_one():
    # d/dx_i of sum_j (x_j - mean(x))^2 / n is 2 (x_i - mean) / n: it needs every device's x.
    x = np.array([0.5, 1.0, -2.0, 3.0, 0.25, 4.0], np.float32)

    def per_device_grad(nets, x_local):
        def local_loss(v):
            return jnp.mean((v - nets.batch_mean(v)) ** 2)

        # Devices average gradients in the engine; here each x_i lives on one device, so the
        # global loss's gradient is the sum over devices of each local loss's gradient.
        return jax.grad(local_loss)(x_local) / 2

    grads = _on_two_devices(per_device_grad, x)
    np.testing.assert_allclose(grads, 2 * (x - x.mean()) / 6, rtol=1e-5, atol=1e-6)


def test_importance_weighted_generator_gradient_is_the_weighted_sum_of_per_example_ones():
    info = DatasetInfo("toy", "vector", (2,), 0, 6)
    config = models.make_config("iwgan", latent_dim=2, hidden_sizes=(4,))
    model = models.build_model("iwgan", config, info, axis_name=None)
    batch = {"x": np.zeros((6, 2), np.float32), "label": np.zeros(6, np.int32)}
    state = create_train_state(model, batch, seed=1)
    key = jax.random.PRNGKey(5)
    generator_phase = model.phases[1]

    def nets_for(generator_params):
        params = {**state.params, "generator": generator_params}
        return Networks(
            model.networks, params, state.batch_stats, train=True, key=key, batch_size=6
        )

    grads = jax.grad(lambda p: generator_phase.loss_fn(nets_for(p), batch)[0])(
        state.params["generator"]
    )
    # Independently: the same z, each example's non-saturating loss and its own gradient.
    z = nets_for(state.params["generator"]).normal("z", (2,))

    def logit(p, z_i):
        fake = model.networks["generator"].apply({"params": p}, z_i[None], train=True)
        return model.networks["discriminator"].apply(
            {"params": state.params["discriminator"]}, fake, train=True
        )[0][0]

    logits = np.array([logit(state.params["generator"], z_i) for z_i in z]).reshape(-1)
    weights = special.softmax(logits)  # Hu et al. 2017, eq. 15: w_i ~ exp(logit_i)
    expected = jax.tree.map(jnp.zeros_like, grads)
    for w, z_i in zip(weights, z, strict=True):
        g = jax.grad(lambda p, z_i=z_i: jax.nn.softplus(-logit(p, z_i)))(state.params["generator"])
        expected = jax.tree.map(lambda e, g_i, w=w: e + w * g_i, expected, g)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(losses.importance_weights(logits), weights, rtol=1e-5)


def test_adversary_activation_weights_are_the_tempered_sigmoid():
    logits = np.array([-4.0, 0.0, 1.5, 9.0], np.float32)
    np.testing.assert_allclose(
        losses.adversary_activation_weights(logits, temperature=3.0),
        special.expit(logits / 3.0),
        rtol=1e-6,
    )


def test_step_batches_read_fresh_batches_and_streams_as_a_pure_function_of_the_step():
    source = data.get_source("ring8")
    digits = data.get_source("digits")
    kwargs = dict(
        seed=3, global_batch_size=4, batches_per_step=3, prefetch=0, streams={"target": (digits, 2)}
    )
    with data.StepBatches(source, **kwargs) as batches:
        steps = [next(batches) for _ in range(2)]
    with data.StepBatches(source, start_step=1, **kwargs) as resumed:
        np.testing.assert_array_equal(next(resumed)["x"], steps[1]["x"])
    assert steps[0]["x"].shape == (3, 4, 2) and steps[0]["target"]["x"].shape[:2] == (3, 2)
    # Step t's r-th batch is batch 3 t + r of the plain iterator of the run's stream.
    with data.BatchIterator(source, seed=3, global_batch_size=4, prefetch=0) as plain:
        flat = [next(plain)["x"] for _ in range(6)]
    np.testing.assert_array_equal(steps[1]["x"][2], flat[5])
    assert not np.array_equal(steps[0]["x"][0], steps[0]["x"][1])


def test_metric_names_two_phases_share_are_kept_per_phase():
    merged = merge_phase_metrics(
        {"encoder_generator": {"loss": 1.0, "encoder_grad_norm": 2.0}, "critic": {"loss": 3.0}}
    )
    assert merged == {"encoder_generator/loss": 1.0, "encoder_grad_norm": 2.0, "critic/loss": 3.0}


@pytest.mark.parametrize("name", ["cgan", "cvae"])
def test_conditional_samples_follow_the_given_labels(name):
    source = data.get_source("digits")
    config = models.make_config(name, latent_dim=2, hidden_sizes=(8,), architecture="mlp")
    model = models.build_model(name, config, source.info, axis_name=None)
    state = create_train_state(model, source.get(np.arange(2)), seed=0)
    nets = model.inference_networks(
        state.params, state.batch_stats, key=jax.random.PRNGKey(0), batch_size=4
    )
    a = model.sample_fn(nets, {"label": jnp.array([0, 1, 2, 3])})
    nets = model.inference_networks(
        state.params, state.batch_stats, key=jax.random.PRNGKey(0), batch_size=4
    )
    b = model.sample_fn(nets, {"label": jnp.array([0, 1, 2, 9])})
    # The same noise: only the example whose label changed changes.
    np.testing.assert_array_equal(a[:3], b[:3])
    assert not np.array_equal(a[3], b[3])


def test_the_trainer_feeds_a_second_stream_to_the_phases(tmp_path, monkeypatch):
    """A toy model whose discriminator phase reports the mean of a second stream's batch:
    the trainer must hand it the batch StepBatches draws for that step."""
    import json

    from unigen_jax.models.gan import make_gan
    from unigen_jax.models.spec import Stream
    from unigen_jax.train.loop import RunConfig, train

    def factory(config, info, *, axis_name, name):
        spec = make_gan(config, info, axis_name=axis_name, name=name)
        discriminator = spec.phases[0]

        def loss_fn(nets, batch):
            loss, metrics = discriminator.loss_fn(nets, batch)
            return loss, {**metrics, "target_mean": jnp.mean(nets.batch_mean(batch["target"]["x"]))}

        stream = Stream(
            select=lambda train_source, seed: data.get_source("ring8", "test"), batch_size=4
        )
        phases = (dataclasses.replace(discriminator, loss_fn=loss_fn), *spec.phases[1:])
        return dataclasses.replace(spec, phases=phases, streams={"target": stream})

    monkeypatch.setitem(models.REGISTRY, "toy_streams", models.Entry(models.GANConfig, factory))
    run = RunConfig(
        model="toy_streams",
        dataset="ring8",
        workdir=str(tmp_path),
        steps=2,
        batch_size=8,
        log_every=1,
        checkpoint_every=2,
        num_devices=2,
    )
    train(
        run, models.make_config("toy_streams", latent_dim=2, hidden_sizes=(4,)), log=lambda _: None
    )
    with open(tmp_path / "metrics.jsonl") as f:
        logged = [json.loads(line)["target_mean"] for line in f]
    with data.StepBatches(
        data.get_source("ring8"),
        seed=0,
        global_batch_size=8,
        prefetch=0,
        streams={"target": (data.get_source("ring8", "test"), 4)},
    ) as steps:
        expected = [next(steps)["target"]["x"].mean() for _ in range(2)]
    np.testing.assert_allclose(logged, expected, rtol=1e-5, atol=1e-6)


def test_a_handle_with_other_params_draws_the_same_noise_and_applies_them():
    linear = flax_nets.MLPGenerator(output_shape=(2,), hidden=())  # x W + b
    x = np.ones((3, 4), np.float32)
    params = linear.init(jax.random.PRNGKey(1), x, train=False)["params"]
    other = jax.tree.map(lambda p: p + 1.0, params)
    nets = Networks(
        {"f": linear}, {"f": params}, {}, train=True, key=jax.random.PRNGKey(2), batch_size=3
    )
    z = nets.normal("z", (2,))
    forked = nets.with_params({"f": other})
    np.testing.assert_array_equal(forked.normal("z", (2,)), z)  # its own record of tags
    for handle, p in ((forked, other), (nets, params)):
        layer = p["output"]
        expected = x @ np.asarray(layer["kernel"]) + np.asarray(layer["bias"])
        np.testing.assert_allclose(handle("f", x), expected, rtol=1e-6)
    # Across devices, the mean of per-device values (gradients) is the mean over devices.
    values = np.arange(6, dtype=np.float32)
    means = _on_two_devices(lambda n, v: jnp.broadcast_to(n.device_mean(v.sum()), v.shape), values)
    np.testing.assert_allclose(means, np.full(6, (0 + 1 + 2 + 3 + 4 + 5) / 2), rtol=1e-6)
    with pytest.raises(KeyError, match="unknown network"):
        nets.with_params({"g": params})


# Phases with one loss a network (Larsen et al. 2016, Alg. 1; Dumoulin et al. 2016, Alg. 1):
# the model, its options, the sequential phases' groups.
SINGLE_PASS = [
    ("vaegan", {"architecture": "mlp"}, None),
    ("vaegan", {"architecture": "dcgan", "base_features": 2}, None),  # BatchNorm in E, G, D
    (
        "ali",
        {"architecture": "mlp", "schedule": "single_pass"},
        (("discriminator",), ("encoder", "generator")),  # E and G share one loss
    ),
]


@pytest.mark.parametrize("name, options, groups", SINGLE_PASS, ids=lambda v: str(v))
def test_a_single_pass_gives_each_network_the_gradient_of_its_own_loss(name, options, groups):
    info = DatasetInfo("toy", "image", (16, 16, 1), 0, 8)  # DCGAN D: 2 blocks, 1 normalised
    config = models.make_config(name, latent_dim=3, hidden_sizes=(6,), **options)
    model = models.build_model(name, config, info, axis_name=None)
    x = np.random.default_rng(0).uniform(size=(6, 16, 16, 1)).astype(np.float32)
    batch = {"x": x, "label": np.zeros(6, np.int32)}
    state = create_train_state(model, batch, seed=2)
    phase, key = model.phases[0], jax.random.PRNGKey(7)
    assert len(phase.trains) > 1
    grads, _, stats = phase_gradients(model, phase, state, batch, key, None)

    def losses_at(params):
        nets = Networks(
            model.networks, params, state.batch_stats, train=True, key=key, batch_size=6
        )
        return phase.loss_fn(nets, batch)[0]

    def close(a, b):
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)

    # Independently: jax.grad of each network's own loss, the others fixed at the same params.
    for net in phase.trains:
        own = jax.grad(lambda p, net=net: losses_at({**state.params, net: p})[net])
        close(grads[net], own(state.params[net]))
    # The separate phases of the sequential schedule, at the same params: the same gradients
    # and each network's BatchNorm statistics from the same forward pass.
    for separate in sequential_phases(phase, groups):
        their_grads, _, their_stats = phase_gradients(model, separate, state, batch, key, None)
        for net in separate.trains:
            close(grads[net], their_grads[net])
            close(stats[net], their_stats[net])
    if options.get("architecture") == "dcgan":
        assert jax.tree.leaves(stats["generator"]) and jax.tree.leaves(stats["discriminator"])
    # One backward pass of the sum of the (distinct) losses would give other gradients.
    summed = jax.grad(lambda p: sum({id(v): v for v in losses_at(p).values()}.values()))(
        state.params
    )
    assert any(
        not np.allclose(u, v, rtol=1e-3, atol=1e-6)
        for net in phase.trains
        for u, v in zip(jax.tree.leaves(grads[net]), jax.tree.leaves(summed[net]), strict=True)
    )


def test_a_phase_with_one_loss_a_network_must_give_each_trained_network_one():
    info = DatasetInfo("toy", "vector", (2,), 0, 6)
    config = models.make_config("ali", latent_dim=2, hidden_sizes=(4,), schedule="single_pass")
    model = models.build_model("ali", config, info, axis_name=None)
    batch = {"x": np.zeros((6, 2), np.float32), "label": np.zeros(6, np.int32)}
    state = create_train_state(model, batch, seed=0)
    phase = model.phases[0]

    def without_the_encoder(nets, batch):
        own, metrics = phase.loss_fn(nets, batch)
        return {k: v for k, v in own.items() if k != "encoder"}, metrics

    broken = dataclasses.replace(phase, loss_fn=without_the_encoder)
    with pytest.raises(ValueError, match="not one for each network it trains"):
        phase_gradients(model, broken, state, batch, jax.random.PRNGKey(0), None)
    with pytest.raises(ValueError, match="do not partition"):
        sequential_phases(phase, (("discriminator",), ("encoder",)))
    # Networks grouped in one phase must share their loss.
    mixed = sequential_phases(phase, (("discriminator", "encoder"), ("generator",)))[0]
    with pytest.raises(ValueError, match="have different losses"):
        phase_gradients(model, mixed, state, batch, jax.random.PRNGKey(0), None)
