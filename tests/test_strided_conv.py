"""FastConv / strided_conv against lax.conv_general_dilated and flax's nn.Conv."""

import flax.linen as nn
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from unigen_jax.nets import FastConv, strided_conv

DIMS = ("NHWC", "HWIO", "NHWC")

# (height, width, kernel, strides, padding, in_features, out_features). The input gradient
# takes the phase path from 16 input features on (the conv's in_features are its out_features).
CONFIGS = [
    (28, 28, 4, 2, "SAME", 1, 4),  # the MNIST DCGAN's first conv (input gradient: plain lax)
    (14, 14, 4, 2, "SAME", 16, 3),  # its second, 14 -> 7 (input gradient: phases)
    (7, 9, 3, 2, "VALID", 16, 2),  # odd sizes, a trailing row no window reads
    (8, 7, 5, 3, "SAME", 16, 2),  # stride 3
    (9, 8, 3, (2, 1), ((2, 0), (1, 3)), 16, 2),  # mixed strides, asymmetric explicit padding
    (6, 7, 2, 2, ((4, 3), (0, 1)), 16, 2),  # padding wider than the kernel
    (5, 6, 3, 1, 1, 2, 3),  # stride 1, int padding
    (7, 8, 4, 2, "SAME_LOWER", 16, 2),  # odd total padding, the extra row low
]
IDS = [
    f"{h}x{w}-k{k}-s{s}-{p if isinstance(p, str) else 'explicit'}-{i}to{o}"
    for h, w, k, s, p, i, o in CONFIGS
]


def _random(rng, shape):
    # NumPy draws: jax.random would compile a sampler per shape (about 1 s each on CPU).
    return jnp.asarray(rng.standard_normal(shape), jnp.float32)


def _assert_close(actual, expected, rtol=1e-5, atol_scale=1e-5):
    """Relative tolerance ~1e-5 in float32, with absolute slack scaled to the array's size."""
    expected = np.asarray(expected)
    atol = atol_scale * max(float(np.max(np.abs(expected))), 1e-30)
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=atol)


def _lax_conv(x, kernel, strides, padding):
    strides = (strides, strides) if isinstance(strides, int) else strides
    if isinstance(padding, int):
        padding = ((padding, padding),) * 2
    return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=DIMS)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_values_and_gradients_match_lax(config):
    height, width, kernel_size, strides, padding, in_features, out_features = config
    rng = np.random.default_rng(0)
    x = _random(rng, (3, height, width, in_features))
    kernel = _random(rng, (kernel_size, kernel_size, in_features, out_features))
    reference = lambda x, kernel: _lax_conv(x, kernel, strides, padding)
    fast = lambda x, kernel: strided_conv(x, kernel, strides, padding)
    cotangent = _random(rng, jax.eval_shape(reference, x, kernel).shape)

    @jax.jit
    def values_and_vjps(x, kernel, cotangent):
        ref_out, ref_vjp = jax.vjp(reference, x, kernel)
        fast_out, fast_vjp = jax.vjp(fast, x, kernel)
        return ref_out, fast_out, ref_vjp(cotangent), fast_vjp(cotangent)

    ref_out, fast_out, (ref_x_grad, ref_k_grad), (fast_x_grad, fast_k_grad) = values_and_vjps(
        x, kernel, cotangent
    )
    assert fast_out.shape == ref_out.shape
    _assert_close(fast_out, ref_out)
    assert fast_x_grad.shape == x.shape
    _assert_close(fast_x_grad, ref_x_grad)
    _assert_close(fast_k_grad, ref_k_grad)


@pytest.mark.parametrize(
    "config", [CONFIGS[1], CONFIGS[2], CONFIGS[6]], ids=[IDS[1], IDS[2], IDS[6]]
)
def test_fast_conv_matches_flax(config):
    """Same params, outputs and gradients as nn.Conv: the two are interchangeable."""
    height, width, kernel_size, strides, padding, in_features, out_features = config
    rng = np.random.default_rng(1)
    x = _random(rng, (2, height, width, in_features))
    kwargs = dict(
        features=out_features,
        kernel_size=(kernel_size, kernel_size),
        strides=strides,
        padding=padding,
    )
    reference, fast = nn.Conv(**kwargs), FastConv(**kwargs)
    # Shapes abstractly, values from NumPy (random bias too, so that it is checked).
    param_shapes = jax.eval_shape(reference.init, jax.random.key(0), x)
    assert jax.eval_shape(fast.init, jax.random.key(0), x) == param_shapes
    params = jax.tree.map(lambda p: _random(rng, p.shape), param_shapes)
    cotangent = _random(rng, jax.eval_shape(reference.apply, params, x).shape)

    @jax.jit
    def values_and_vjps(params, x, cotangent):
        ref_out, ref_vjp = jax.vjp(reference.apply, params, x)
        fast_out, fast_vjp = jax.vjp(fast.apply, params, x)
        return ref_out, fast_out, ref_vjp(cotangent), fast_vjp(cotangent)

    ref_out, fast_out, ref_grads, fast_grads = values_and_vjps(params, x, cotangent)
    _assert_close(fast_out, ref_out)
    (ref_params_grad, ref_x_grad), (fast_params_grad, fast_x_grad) = ref_grads, fast_grads
    _assert_close(fast_x_grad, ref_x_grad)
    _assert_close(fast_params_grad["params"]["kernel"], ref_params_grad["params"]["kernel"])
    _assert_close(fast_params_grad["params"]["bias"], ref_params_grad["params"]["bias"])


def test_gradient_of_the_input_gradient_matches_lax():
    """WGAN-GP differentiates the critic's input gradient again (reverse over reverse)."""
    rng = np.random.default_rng(2)
    x, kernel = _random(rng, (2, 8, 8, 16)), _random(rng, (4, 4, 16, 3))

    def penalty(conv, x, kernel):
        input_grad = jax.grad(lambda x: jnp.sum(jnp.sin(conv(x, kernel, 2, "SAME"))))(x)
        return jnp.sum(input_grad**2)

    both = jax.jit(
        lambda x, kernel: [
            jax.grad(lambda *a, conv=conv: penalty(conv, *a), argnums=(0, 1))(x, kernel)
            for conv in (_lax_conv, strided_conv)
        ]
    )
    reference, fast = both(x, kernel)
    _assert_close(fast[0], reference[0], rtol=1e-4)
    _assert_close(fast[1], reference[1], rtol=1e-4)


def test_batch_dims_and_dtype_follow_flax():
    rng = np.random.default_rng(3)
    x = _random(rng, (2, 3, 8, 8, 16))
    kwargs = dict(features=4, kernel_size=(4, 4), strides=2, dtype=jnp.bfloat16)
    reference, fast = nn.Conv(**kwargs), FastConv(**kwargs)
    params = {"params": {"kernel": _random(rng, (4, 4, 16, 4)), "bias": _random(rng, (4,))}}

    @jax.jit
    def run(params, x):
        grads = jax.grad(lambda p: jnp.sum(fast.apply(p, x).astype(jnp.float32)))(params)
        single = fast.apply(params, x[0, 0])  # no batch axis
        return reference.apply(params, x), fast.apply(params, x), single, grads

    ref_out, fast_out, single, grads = run(params, x)
    assert fast_out.shape == ref_out.shape == (2, 3, 4, 4, 4)
    assert fast_out.dtype == ref_out.dtype == single.dtype == jnp.bfloat16
    np.testing.assert_allclose(
        np.asarray(fast_out, np.float32), np.asarray(ref_out, np.float32), rtol=2e-2, atol=2e-2
    )
    np.testing.assert_array_equal(np.asarray(single), np.asarray(fast_out[0, 0]))
    assert grads["params"]["kernel"].dtype == jnp.float32


def _conv_lhs_dilations(fn, *args):
    def convs(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "conv_general_dilated":
                yield eqn
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                yield from convs(sub)

    return [tuple(eqn.params["lhs_dilation"]) for eqn in convs(jax.make_jaxpr(fn)(*args).jaxpr)]


@pytest.mark.parametrize("in_features, expected_dilated", [(16, 0), (2, 1)])
def test_input_gradient_skips_the_dilation_with_enough_features(in_features, expected_dilated):
    """From 16 input features on, no convolution of the gradient dilates its input."""
    x, kernel = jnp.ones((2, 14, 14, in_features)), jnp.ones((4, 4, in_features, 3))
    dilations = _conv_lhs_dilations(
        jax.grad(lambda x, k: jnp.sum(strided_conv(x, k, 2, "SAME") ** 2), argnums=(0, 1)),
        x,
        kernel,
    )
    assert sum(d != (1, 1) for d in dilations) == expected_dilated


def test_rejects_unsupported_arguments():
    x, kernel = jnp.ones((1, 4, 4, 1)), jnp.ones((3, 3, 1, 1))
    with pytest.raises(ValueError, match="padding"):
        strided_conv(x, kernel, 2, "CIRCULAR")
    with pytest.raises(ValueError, match="channels"):
        strided_conv(x, jnp.ones((3, 3, 2, 1)), 2, "SAME")
    with pytest.raises(ValueError, match="padding"):
        jax.eval_shape(FastConv(2, (3, 3), padding="CAUSAL").init, jax.random.key(0), x)
    with pytest.raises(ValueError, match="strides"):
        strided_conv(x, kernel, (1, 2, 3), "SAME")
