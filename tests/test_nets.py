"""DCGAN and MLP networks: shapes, conventions, and their math against hand-written references."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from unigen_jax.errors import UserInputError
from unigen_jax.nets import (
    DCGANDiscriminator,
    DCGANEncoder,
    DCGANGenerator,
    InfoGANMNISTDiscriminator,
    InfoGANMNISTGenerator,
    InfoGANMNISTQHead,
    MLPDiscriminator,
    MLPEncoder,
    MLPGenerator,
    dcgan_generator_layout,
)
from unigen_jax.nets._layers import ConditionedDense

LATENT = 3
BASE = 4  # tiny nets keep the tests fast; the architecture does not depend on the width


def _images(key, shape):
    return jax.random.uniform(key, shape)


def _close(actual, expected, tol=1e-5):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=tol, atol=tol)


def _trees_close(actual, expected, tol=1e-5):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    jax.tree.map(lambda a, b: _close(a, b, tol), actual, expected)


@pytest.mark.parametrize(
    "size, expected", [(28, (7, 2)), (32, (4, 3)), (64, (4, 4)), (8, (4, 1)), (30, (15, 1))]
)
def test_generator_layout(size, expected):
    assert dcgan_generator_layout((size, size, 1)) == expected


@pytest.mark.parametrize("shape", [(28, 32, 1), (27, 27, 1), (7, 7, 1), (6, 6, 3), (28, 28)])
def test_impossible_generator_sizes_raise(shape):
    with pytest.raises(ValueError, match="DCGAN generator") as info:
        dcgan_generator_layout(shape)
    assert isinstance(info.value, UserInputError)
    generator = DCGANGenerator(output_shape=shape, base_features=BASE)
    with pytest.raises(ValueError):
        generator.init(jax.random.key(0), jnp.zeros((1, LATENT)), train=False)


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3), (64, 1), (64, 3)])
def test_dcgan_shapes(size, channels):
    """Output shapes and dtypes (abstract evaluation only: nothing is compiled)."""
    batch = 2
    images = jax.ShapeDtypeStruct((batch, size, size, channels), jnp.float32)
    z = jax.ShapeDtypeStruct((batch, LATENT), jnp.float32)
    key = jax.random.key(0)
    start, num_layers = dcgan_generator_layout((size, size, channels))
    feature_size = start * start * BASE * 2 ** (num_layers - 1)

    def init_and_apply(module, inputs):
        def run(inputs):
            variables = module.init(key, inputs, train=False)
            eval_out = module.apply(variables, inputs, train=False)
            train_out, _ = module.apply(variables, inputs, train=True, mutable=["batch_stats"])
            return eval_out, train_out

        return jax.eval_shape(run, inputs)

    generator = DCGANGenerator(output_shape=(size, size, channels), base_features=BASE)
    for out in init_and_apply(generator, z):
        assert out.shape == (batch, size, size, channels) and out.dtype == jnp.float32

    for logits, features in init_and_apply(DCGANDiscriminator(base_features=BASE), images):
        assert logits.shape == (batch,) and features.shape == (batch, feature_size)
        assert logits.dtype == features.dtype == jnp.float32

    encoder = DCGANEncoder(latent_dim=LATENT, base_features=BASE)
    for mean, log_variance in init_and_apply(encoder, images):
        assert mean.shape == log_variance.shape == (batch, LATENT)
        assert mean.dtype == log_variance.dtype == jnp.float32


def test_generator_architecture_is_the_mnist_dcgan():
    """At base_features=64 on 28x28x1: dense to 7x7x128, transposed convs to 64, then to 1."""
    generator = DCGANGenerator(output_shape=(28, 28, 1), base_features=64)
    shapes = jax.eval_shape(
        lambda: generator.init(jax.random.key(0), jnp.zeros((1, 62)), train=False)
    )
    params = jax.tree.map(lambda a: a.shape, shapes["params"])
    assert params == {
        "project": {"kernel": (62, 7 * 7 * 128)},
        "project_bn": {"scale": (128,), "bias": (128,)},
        "deconv_0": {"kernel": (4, 4, 128, 64)},
        "deconv_0_bn": {"scale": (64,), "bias": (64,)},
        "deconv_1": {"kernel": (4, 4, 64, 1), "bias": (1,)},
    }


def test_fast_and_flax_conv_transpose_generators_agree():
    """Same params, same outputs and gradients: the conv-transpose choice is interchangeable."""
    z = jax.random.normal(jax.random.key(1), (4, LATENT))
    fast = DCGANGenerator(output_shape=(16, 16, 2), base_features=BASE)
    slow = fast.clone(use_fast_conv_transpose=False)
    variables = fast.init(jax.random.key(2), z, train=False)
    assert jax.tree.structure(slow.init(jax.random.key(2), z, train=False)) == jax.tree.structure(
        variables
    )

    def loss(module, params):
        out, _ = module.apply(
            {**variables, "params": params}, z, train=True, mutable=["batch_stats"]
        )
        return jnp.sum(jnp.sin(out))

    @jax.jit
    def outputs_and_grads(params):
        return [
            (
                module.apply({**variables, "params": params}, z, train=False),
                jax.grad(lambda p, m=module: loss(m, p))(params),
            )
            for module in (fast, slow)
        ]

    (fast_out, fast_grads), (slow_out, slow_grads) = outputs_and_grads(variables["params"])
    _close(fast_out, slow_out)
    _trees_close(fast_grads, slow_grads, tol=1e-4)


def _batch_norm_reference(x, scale, offset, epsilon=1e-5):
    mean = jnp.mean(x, axis=(0, 1, 2))
    variance = jnp.var(x, axis=(0, 1, 2))
    return (x - mean) / jnp.sqrt(variance + epsilon) * scale + offset, mean, variance


def _conv(x, kernel):
    return lax.conv_general_dilated(
        x, kernel, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def _trunk_reference(params, images):
    """A second implementation of the 16x16 DCGAN trunk with BatchNorm in training mode."""
    x = 2.0 * images - 1.0  # the [0, 1] -> [-1, 1] input mapping
    x = _conv(x, params["conv_0"]["kernel"]) + params["conv_0"]["bias"]
    x = jnp.where(x > 0, x, 0.2 * x)
    x = _conv(x, params["conv_1"]["kernel"])
    pre_bn_mean, pre_bn_var = jnp.mean(x, axis=(0, 1, 2)), jnp.var(x, axis=(0, 1, 2))
    x, _, _ = _batch_norm_reference(x, params["conv_1_bn"]["scale"], params["conv_1_bn"]["bias"])
    x = jnp.where(x > 0, x, 0.2 * x)
    return x.reshape(x.shape[0], -1), pre_bn_mean, pre_bn_var


def _perturbed(params, key):
    """Random (non-default) values for every parameter, so scales and offsets matter too."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return treedef.unflatten(
        [a + 0.3 * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys, strict=True)]
    )


def test_discriminator_and_encoder_match_reference():
    """D and E equal a hand-written network that maps x to 2x - 1 first (train-mode BN)."""
    images = _images(jax.random.key(3), (5, 16, 16, 2))
    discriminator = DCGANDiscriminator(base_features=BASE)
    d_vars = discriminator.init(jax.random.key(4), images, train=False)
    d_params = _perturbed(d_vars["params"], jax.random.key(5))
    (logits, features), updates = discriminator.apply(
        {**d_vars, "params": d_params}, images, train=True, mutable=["batch_stats"]
    )
    ref_features, pre_bn_mean, pre_bn_var = _trunk_reference(d_params["trunk"], images)
    ref_logits = ref_features @ d_params["logit"]["kernel"][:, 0] + d_params["logit"]["bias"][0]
    _close(features, ref_features, 1e-4)
    _close(logits, ref_logits, 1e-4)
    # Running averages with momentum 0.9 from (mean 0, variance 1).
    stats = updates["batch_stats"]["trunk"]["conv_1_bn"]
    _close(stats["mean"], 0.1 * pre_bn_mean, 1e-5)
    _close(stats["var"], 0.9 + 0.1 * pre_bn_var, 1e-5)

    encoder = DCGANEncoder(latent_dim=LATENT, base_features=BASE)
    e_vars = encoder.init(jax.random.key(6), images, train=False)
    e_params = _perturbed(e_vars["params"], jax.random.key(7))
    (mean, log_variance), _ = encoder.apply(
        {**e_vars, "params": e_params}, images, train=True, mutable=["batch_stats"]
    )
    ref_features, _, _ = _trunk_reference(e_params["trunk"], images)
    gaussian = ref_features @ e_params["gaussian"]["kernel"] + e_params["gaussian"]["bias"]
    _close(mean, gaussian[:, :LATENT], 1e-4)
    _close(log_variance, gaussian[:, LATENT:], 1e-4)


@pytest.mark.parametrize("normalization", ["none", "layer"])
def test_unnormalized_discriminators_treat_examples_independently(normalization):
    """For WGAN-GP's per-example penalty: an example's logit ignores the rest of the batch."""
    images = _images(jax.random.key(8), (4, 16, 16, 1))
    discriminator = DCGANDiscriminator(base_features=BASE, normalization=normalization)
    variables = discriminator.init(jax.random.key(9), images, train=True)
    assert "batch_stats" not in variables
    params = _perturbed(variables["params"], jax.random.key(10))
    logits, _ = discriminator.apply({"params": params}, images, train=True)
    alone, _ = discriminator.apply({"params": params}, images[2:3], train=True)
    _close(alone, logits[2:3])
    if normalization == "none":  # one conv layer on 8x8 is simple enough to restate by hand
        small = images[:, :8, :8]
        p = discriminator.init(jax.random.key(11), small, train=True)["params"]
        h = _conv(2.0 * small - 1.0, p["trunk"]["conv_0"]["kernel"]) + p["trunk"]["conv_0"]["bias"]
        h = jnp.where(h > 0, h, 0.2 * h).reshape(4, -1)
        expected = h @ p["logit"]["kernel"][:, 0] + p["logit"]["bias"][0]
        _close(discriminator.apply({"params": p}, small, train=True)[0], expected, 1e-5)


def test_unknown_normalization_raises():
    with pytest.raises(ValueError, match="normalization"):
        DCGANDiscriminator(normalization="group").init(
            jax.random.key(0), jnp.zeros((1, 8, 8, 1)), train=False
        )


def _nets_with_batch_norm(axis_name=None):
    return {
        "generator": (
            DCGANGenerator(output_shape=(16, 16, 3), base_features=BASE, axis_name=axis_name),
            jax.random.normal(jax.random.key(12), (8, LATENT)),
        ),
        "discriminator": (
            DCGANDiscriminator(base_features=BASE, axis_name=axis_name),
            _images(jax.random.key(13), (8, 16, 16, 3)),
        ),
        "encoder": (
            DCGANEncoder(latent_dim=LATENT, base_features=BASE, axis_name=axis_name),
            _images(jax.random.key(14), (8, 16, 16, 3)),
        ),
    }


@pytest.mark.parametrize("name", ["generator", "discriminator", "encoder"])
def test_synced_batch_norm_equals_global_batch_norm(name):
    """BN with axis_name='data' over 2 devices, each holding half the batch == BN on it all."""
    if jax.device_count() < 2:
        pytest.skip("needs 2 devices (tests/conftest.py sets 2 host CPU devices)")
    module, inputs = _nets_with_batch_norm()[name]
    synced, _ = _nets_with_batch_norm(axis_name="data")[name]
    variables = module.init(jax.random.key(15), inputs, train=False)
    variables = {
        "params": _perturbed(variables["params"], jax.random.key(16)),
        "batch_stats": variables["batch_stats"],
    }

    def train_apply(module):
        def apply(variables, inputs):
            out, updates = module.apply(variables, inputs, train=True, mutable=["batch_stats"])
            return out, updates["batch_stats"]

        return apply

    expected_out, expected_stats = train_apply(module)(variables, inputs)

    mesh = Mesh(np.array(jax.devices()[:2]), ("data",))
    sharded_inputs = jax.device_put(inputs, NamedSharding(mesh, P("data")))
    replicated = jax.device_put(variables, NamedSharding(mesh, P()))
    sharded_apply = jax.jit(
        jax.shard_map(
            train_apply(synced), mesh=mesh, in_specs=(P(), P("data")), out_specs=(P("data"), P())
        )
    )
    out, stats = sharded_apply(replicated, sharded_inputs)
    _trees_close(out, expected_out, 1e-4)
    _trees_close(stats, expected_stats, 1e-5)

    # Without syncing, each half normalises with its own statistics: a different answer.
    unsynced = jax.jit(
        jax.shard_map(
            train_apply(module),
            mesh=mesh,
            in_specs=(P(), P("data")),
            out_specs=(P("data"), P()),
            check_vma=False,
        )
    )
    unsynced_out, _ = unsynced(replicated, sharded_inputs)
    assert not np.allclose(
        np.asarray(jax.tree.leaves(unsynced_out)[0]),
        np.asarray(jax.tree.leaves(expected_out)[0]),
        atol=1e-3,
    )


@pytest.mark.parametrize("name", ["generator", "discriminator", "encoder"])
def test_eval_mode_uses_running_averages(name):
    """train=False: an example's output ignores the rest of the batch; train=True does not."""
    module, inputs = _nets_with_batch_norm()[name]
    variables = module.init(jax.random.key(17), inputs, train=False)
    _, updates = module.apply(variables, inputs, train=True, mutable=["batch_stats"])
    variables = {"params": variables["params"], **updates}  # non-trivial running averages
    first = jax.tree.leaves(module.apply(variables, inputs, train=False))[0][:1]
    alone = jax.tree.leaves(module.apply(variables, inputs[:1], train=False))[0]
    _close(alone, first)
    train_first = jax.tree.leaves(
        module.apply(variables, inputs, train=True, mutable=["batch_stats"])[0]
    )[0][:1]
    train_alone = jax.tree.leaves(
        module.apply(variables, inputs[:2], train=True, mutable=["batch_stats"])[0]
    )[0][:1]
    assert not np.allclose(np.asarray(train_first), np.asarray(train_alone), atol=1e-4)


def _dense(params, x):
    return x @ params["kernel"] + params["bias"]


def test_mlp_nets_match_reference_without_input_mapping():
    x = jax.random.normal(jax.random.key(18), (5, 4, 2))  # vector data: used as it is
    z = jax.random.normal(jax.random.key(19), (5, LATENT))
    leaky = lambda h: jnp.where(h > 0, h, 0.2 * h)

    generator = MLPGenerator(output_shape=(4, 2), hidden=(6, 7))
    g = generator.init(jax.random.key(20), z, train=False)["params"]
    out = generator.apply({"params": g}, z, train=True)
    h = nn.relu(_dense(g["hidden_1"], nn.relu(_dense(g["hidden_0"], z))))
    assert out.shape == (5, 4, 2)
    _close(out, _dense(g["output"], h).reshape(5, 4, 2))

    discriminator = MLPDiscriminator(hidden=(6, 7))
    d = discriminator.init(jax.random.key(21), x, train=False)["params"]
    logits, features = discriminator.apply({"params": d}, x, train=False)
    ref_features = leaky(_dense(d["hidden_1"], leaky(_dense(d["hidden_0"], x.reshape(5, 8)))))
    assert logits.shape == (5,) and features.shape == (5, 7)
    _close(features, ref_features)
    _close(logits, _dense(d["logit"], ref_features)[:, 0])

    encoder = MLPEncoder(latent_dim=LATENT, hidden=(6,))
    e = encoder.init(jax.random.key(22), x, train=False)["params"]
    mean, log_variance = encoder.apply({"params": e}, x, train=False)
    gaussian = _dense(e["gaussian"], nn.relu(_dense(e["hidden_0"], x.reshape(5, 8))))
    assert mean.shape == log_variance.shape == (5, LATENT)
    _close(mean, gaussian[:, :LATENT])
    _close(log_variance, gaussian[:, LATENT:])


def test_mlp_nets_on_images():
    images = _images(jax.random.key(23), (2, 8, 8, 1))
    generator = MLPGenerator(output_shape=(8, 8, 1))
    g_vars = generator.init(jax.random.key(24), jnp.zeros((1, LATENT)), train=False)
    assert generator.apply(g_vars, jnp.ones((2, LATENT)), train=False).shape == (2, 8, 8, 1)
    discriminator = MLPDiscriminator(hidden=())
    d_vars = discriminator.init(jax.random.key(25), images, train=False)
    logits, features = discriminator.apply(d_vars, images, train=False)
    assert logits.shape == (2,) and features.shape == (2, 64)
    _close(features, images.reshape(2, 64))


def _param_shapes(module, *inputs):
    variables = jax.eval_shape(lambda: module.init(jax.random.key(0), *inputs, train=False))
    return jax.tree.map(lambda a: a.shape, variables["params"])


def _num_params(shapes):
    return sum(int(np.prod(s)) for s in jax.tree.leaves(shapes, is_leaf=lambda s: type(s) is tuple))


def test_infogan_mnist_nets_are_chen_et_al_released_layers():
    """Chen et al.'s released MNIST nets (regularized_gan.py): G: FC 1024, BN, FC 7x7x128
    (BN per unit), transposed convs 64 and 1; D: convs 64 and 128, FC 1024, BN, FC 1; Q:
    FC 128, BN, FC 10 + 2 x 2. Their parameter counts, from their layers (every layer with a
    bias; BN: a scale and an offset a unit), minus the biases we leave out before each BN."""
    generator = InfoGANMNISTGenerator()
    assert _param_shapes(generator, jnp.zeros((1, 74))) == {
        "hidden": {"kernel": (74, 1024)},
        "hidden_bn": {"scale": (1024,), "bias": (1024,)},
        "project": {"kernel": (1024, 7 * 7 * 128)},
        "project_bn": {"scale": (6272,), "bias": (6272,)},
        "deconv_0": {"kernel": (4, 4, 128, 64)},
        "deconv_0_bn": {"scale": (64,), "bias": (64,)},
        "deconv_1": {"kernel": (4, 4, 64, 1), "bias": (1,)},
    }
    chen_g = (74 + 1) * 1024 + 2 * 1024 + (1024 + 1) * 6272 + 2 * 6272
    chen_g += 4 * 4 * 128 * 64 + 64 + 2 * 64 + 4 * 4 * 64 * 1 + 1
    assert chen_g == 6_652_481
    assert _num_params(_param_shapes(generator, jnp.zeros((1, 74)))) == chen_g - (1024 + 6272 + 64)

    discriminator = InfoGANMNISTDiscriminator()
    shapes = _param_shapes(discriminator, jnp.zeros((1, 28, 28, 1)))
    assert shapes == {
        "trunk": {
            "conv_0": {"kernel": (4, 4, 1, 64), "bias": (64,)},
            "conv_1": {"kernel": (4, 4, 64, 128)},
            "conv_1_bn": {"scale": (128,), "bias": (128,)},
        },
        "hidden": {"kernel": (7 * 7 * 128, 1024)},
        "hidden_bn": {"scale": (1024,), "bias": (1024,)},
        "logit": {"kernel": (1024, 1), "bias": (1,)},
    }
    chen_d = 4 * 4 * 1 * 64 + 64 + 4 * 4 * 64 * 128 + 128 + 2 * 128
    chen_d += (6272 + 1) * 1024 + 2 * 1024 + 1024 + 1
    assert chen_d == 6_559_169
    assert _num_params(shapes) == chen_d - (128 + 1024)

    q_head = InfoGANMNISTQHead(categorical_dim=10, continuous_dim=2)
    shapes = _param_shapes(q_head, jnp.zeros((1, 1024)))
    assert shapes == {
        "hidden_0": {"kernel": (1024, 128)},
        "hidden_0_bn": {"scale": (128,), "bias": (128,)},
        "head": {"output": {"kernel": (128, 14), "bias": (14,)}},
    }
    chen_q = (1024 + 1) * 128 + 2 * 128 + (128 + 1) * 14
    assert _num_params(shapes) == chen_q - 128 == 133_134


def _unit_batch_norm(x, params, epsilon=1e-5):
    """BatchNorm of [batch, F] in training: each unit by its batch mean and biased variance."""
    normalized = (x - jnp.mean(x, axis=0)) / jnp.sqrt(jnp.var(x, axis=0) + epsilon)
    return normalized * params["scale"] + params["bias"]


def _leaky(x):
    return jnp.where(x > 0, x, 0.01 * x)  # Chen et al.'s leaky_rectify


def test_infogan_mnist_discriminator_and_q_match_reference():
    """D and Q equal a hand-written version of Chen et al.'s layers: D reads [0, 1] images
    (no input mapping), LeakyReLU 0.01, train-mode BN per channel (conv) and per unit (FC)."""
    images = _images(jax.random.key(3), (5, 16, 16, 2))
    discriminator = InfoGANMNISTDiscriminator(base_features=BASE, hidden_features=6)
    d_vars = discriminator.init(jax.random.key(4), images, train=False)
    params = _perturbed(d_vars["params"], jax.random.key(5))
    (logits, features), _ = discriminator.apply(
        {**d_vars, "params": params}, images, train=True, mutable=["batch_stats"]
    )
    trunk = params["trunk"]
    x = _leaky(_conv(images, trunk["conv_0"]["kernel"]) + trunk["conv_0"]["bias"])
    x, _, _ = _batch_norm_reference(
        _conv(x, trunk["conv_1"]["kernel"]), trunk["conv_1_bn"]["scale"], trunk["conv_1_bn"]["bias"]
    )
    x = _leaky(x).reshape(5, -1)
    ref_features = _leaky(_unit_batch_norm(x @ params["hidden"]["kernel"], params["hidden_bn"]))
    _close(features, ref_features, 1e-4)
    _close(logits, ref_features @ params["logit"]["kernel"][:, 0] + params["logit"]["bias"], 1e-4)

    q_head = InfoGANMNISTQHead(categorical_dim=3, continuous_dim=2, hidden=(4,))
    q_vars = q_head.init(jax.random.key(6), features, train=False)
    q_params = _perturbed(q_vars["params"], jax.random.key(7))
    (q_logits, mean, log_std), _ = q_head.apply(
        {**q_vars, "params": q_params}, features, train=True, mutable=["batch_stats"]
    )
    h = _leaky(_unit_batch_norm(features @ q_params["hidden_0"]["kernel"], q_params["hidden_0_bn"]))
    out = h @ q_params["head"]["output"]["kernel"] + q_params["head"]["output"]["bias"]
    _close(q_logits, out[:, :3], 1e-4)
    _close(mean, out[:, 3:5], 1e-4)
    _close(log_std, out[:, 5:], 1e-4)


def test_infogan_mnist_generator_dense_layers_match_reference():
    """G's FC layers: FC, per-unit BN, ReLU twice; the 7x7x128 layer is normalised before the
    reshape (6,272 units), then the DCGAN transposed convs. Checked by feeding the reference's
    reshaped activations to a DCGANGenerator whose project layer is an identity map."""
    z = jax.random.normal(jax.random.key(8), (5, LATENT))
    generator = InfoGANMNISTGenerator(output_shape=(16, 16, 2), hidden_features=6, base_features=2)
    g_vars = generator.init(jax.random.key(9), z, train=False)
    params = _perturbed(g_vars["params"], jax.random.key(10))
    out, _ = generator.apply({**g_vars, "params": params}, z, train=True, mutable=["batch_stats"])
    h = jax.nn.relu(_unit_batch_norm(z @ params["hidden"]["kernel"], params["hidden_bn"]))
    h = jax.nn.relu(_unit_batch_norm(h @ params["project"]["kernel"], params["project_bn"]))
    assert h.shape == (5, 4 * 4 * 4)  # 16x16 starts at 4x4 with 2 * base_features channels
    # The same transposed convs on h, through a DCGAN generator whose dense layer passes h on:
    # an identity kernel, and a BN whose scale and offset undo its own normalization.
    reference = DCGANGenerator(output_shape=(16, 16, 2), base_features=2)
    h_maps = h.reshape(5, 4, 4, 4)
    mean, std = jnp.mean(h_maps, axis=(0, 1, 2)), jnp.sqrt(jnp.var(h_maps, axis=(0, 1, 2)) + 1e-5)
    r_vars = reference.init(jax.random.key(0), h, train=False)
    r_params = {
        **{k: params[k] for k in ("deconv_0", "deconv_0_bn", "deconv_1")},
        "project": {"kernel": jnp.eye(h.shape[1])},
        "project_bn": {"scale": std, "bias": mean},
    }
    ref_out, _ = reference.apply(
        {**r_vars, "params": r_params}, h, train=True, mutable=["batch_stats"]
    )
    _close(out, ref_out, 1e-4)


def test_mlp_nets_take_softplus_and_a_normal_kernel_init():
    """Kingma et al. 2014's M2 MLPs: softplus hidden layers; kernels drawn from N(0, s^2)."""
    x = jax.random.normal(jax.random.key(26), (5, 8))
    encoder = MLPEncoder(latent_dim=LATENT, hidden=(6,), activation="softplus")
    e = encoder.init(jax.random.key(27), x, train=False)["params"]
    mean, _ = encoder.apply({"params": e}, x, train=False)
    _close(mean, _dense(e["gaussian"], jnp.log1p(jnp.exp(_dense(e["hidden_0"], x))))[:, :LATENT])
    discriminator = MLPDiscriminator(hidden=(6,), activation="softplus")
    d = discriminator.init(jax.random.key(28), x, train=False)["params"]
    _, features = discriminator.apply({"params": d}, x, train=False)
    _close(features, jnp.log1p(jnp.exp(_dense(d["hidden_0"], x))))
    for net, inputs in (
        (MLPGenerator(output_shape=(400,), hidden=(300,), kernel_stddev=0.01), x[:, :LATENT]),
        (MLPDiscriminator(hidden=(300,), kernel_stddev=0.01), jnp.ones((1, 400))),
        (MLPEncoder(latent_dim=150, hidden=(300,), kernel_stddev=0.01), jnp.ones((1, 400))),
    ):
        params = net.init(jax.random.key(29), inputs, train=False)["params"]
        for layer in params.values():  # 300+ draws each: the std within 4 standard errors
            kernel = np.asarray(layer["kernel"])
            assert kernel.size >= 300 and abs(kernel.std() - 0.01) < 0.0017
    with pytest.raises(ValueError, match="softplus"):
        MLPEncoder(latent_dim=2, hidden=(3,), activation="tanh").init(
            jax.random.key(0), x, train=False
        )


@pytest.mark.parametrize("hidden", [(6,), ()])
def test_mlp_encoder_reads_a_condition_as_the_concatenation_of_repeated_inputs(hidden):
    """Every label of each example (the SVAE's U(x)): the encoder of x with `condition` is the
    plain encoder of [x repeated per label, one-hot label]: the same parameters, drawn alike
    (nn.Dense's on the concatenation, so checkpoints carry over), outputs and gradients; a
    ragged condition is refused."""
    x = jax.random.normal(jax.random.key(30), (4, 2, 4))  # flattened to 8 features
    condition = jax.nn.one_hot(jnp.tile(jnp.arange(3), 4), 3)  # 3 labels per example, in turn
    concatenated = jnp.concatenate([jnp.repeat(x.reshape(4, 8), 3, axis=0), condition], -1)
    encoder = MLPEncoder(latent_dim=LATENT, hidden=hidden)
    params = encoder.init(jax.random.key(31), concatenated, train=False)["params"]
    conditioned_init = encoder.init(jax.random.key(31), x, train=False, condition=condition)
    _trees_close(conditioned_init["params"], params, 0)
    first = "hidden_0" if hidden else "gaussian"
    plain_dense = nn.Dense(hidden[0] if hidden else 2 * LATENT)
    plain = plain_dense.init(jax.random.key(0), concatenated)["params"]
    with_condition = ConditionedDense(plain_dense.features).init(
        jax.random.key(0), x.reshape(4, 8), condition
    )
    _trees_close(with_condition["params"], plain, 0)
    assert set(params[first]) == {"kernel", "bias"}

    def loss(params, conditioned):
        if conditioned:
            outputs = encoder.apply({"params": params}, x, train=False, condition=condition)
        else:
            outputs = encoder.apply({"params": params}, concatenated, train=False)
        mean, log_variance = outputs
        return jnp.sum(jnp.sin(mean) * log_variance), outputs

    (value, outputs), grads = jax.value_and_grad(loss, has_aux=True)(params, True)
    (ref_value, ref_outputs), ref_grads = jax.value_and_grad(loss, has_aux=True)(params, False)
    assert outputs[0].shape == (12, LATENT)
    _trees_close(outputs, ref_outputs)
    _trees_close(grads, ref_grads)
    _close(value, ref_value)
    with pytest.raises(ValueError, match="whole number of conditions per row"):
        encoder.apply({"params": params}, x, train=False, condition=condition[:10])
