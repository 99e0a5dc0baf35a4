"""FastConvTranspose / conv_transpose against flax's nn.ConvTranspose (a second implementation)."""

import flax.linen as nn
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.test_util import check_grads

from unigen_jax.nets import FastConvTranspose, conv_transpose
from unigen_jax.nets.conv_transpose import input_dilated_conv

# (height, width, kernel, stride, padding, in_features, out_features)
CONFIGS = [
    (7, 7, 4, 2, "SAME", 8, 5),  # 7 -> 14, the MNIST DCGAN's first upsampling
    (14, 14, 4, 2, "SAME", 6, 1),  # 14 -> 28, its last
    (4, 4, 4, 2, "SAME", 5, 3),  # 4 -> 8, the 32x32 / 64x64 DCGANs' first
    (5, 6, 3, 1, "SAME", 2, 4),  # stride 1, odd kernel, non-square
    (7, 7, 5, 2, "VALID", 3, 2),  # 7 -> 17
    (4, 5, 3, 2, "VALID", 4, 3),  # kernel < 2 * stride
    (6, 6, 4, 2, ((1, 2), (0, 3)), 3, 2),  # explicit padding of the dilated input
    (6, 5, 3, 2, ((4, 5), (3, 0)), 3, 2),  # padding wider than the kernel: cotangent cropped
    (5, 5, 5, 3, "SAME", 2, 2),  # stride 3
    (7, 7, 4, 2, "SAME", 3, 16),  # forward as phases (input_dilated_conv from 16 features on)
]
IDS = [
    f"{h}x{w}-k{k}-s{s}-{p if isinstance(p, str) else 'pairs'}-{i}to{o}"
    for h, w, k, s, p, i, o in CONFIGS
]


def _random(key, shape, dtype=jnp.float32):
    return jax.random.normal(key, shape, dtype)


def _assert_close(actual, expected, rtol=1e-5, atol_scale=1e-5):
    """Relative tolerance ~1e-5 in float32, with absolute slack scaled to the array's size."""
    expected = np.asarray(expected)
    atol = atol_scale * max(float(np.max(np.abs(expected))), 1e-30)
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_values_and_gradients_match_flax(config):
    height, width, kernel_size, stride, padding, in_features, out_features = config
    x_key, init_key, cot_key = jax.random.split(jax.random.key(0), 3)
    x = _random(x_key, (3, height, width, in_features))
    kwargs = dict(
        features=out_features,
        kernel_size=(kernel_size, kernel_size),
        strides=(stride, stride),
        padding=padding,
        bias_init=nn.initializers.normal(1.0),
    )
    reference, fast = nn.ConvTranspose(**kwargs), FastConvTranspose(**kwargs)
    params = reference.init(init_key, x)
    assert jax.tree.map(jnp.shape, fast.init(init_key, x)) == jax.tree.map(jnp.shape, params)

    @jax.jit
    def value_and_vjp(params, x, cotangent):
        ref_out, ref_vjp = jax.vjp(reference.apply, params, x)
        fast_out, fast_vjp = jax.vjp(fast.apply, params, x)
        return ref_out, fast_out, ref_vjp(cotangent), fast_vjp(cotangent)

    out_shape = jax.eval_shape(reference.apply, params, x).shape
    cotangent = _random(cot_key, out_shape)
    ref_out, fast_out, ref_grads, fast_grads = value_and_vjp(params, x, cotangent)
    assert fast_out.shape == ref_out.shape == out_shape
    _assert_close(fast_out, ref_out)
    (ref_params_grad, ref_x_grad), (fast_params_grad, fast_x_grad) = ref_grads, fast_grads
    _assert_close(fast_x_grad, ref_x_grad)
    _assert_close(fast_params_grad["params"]["kernel"], ref_params_grad["params"]["kernel"])
    _assert_close(fast_params_grad["params"]["bias"], ref_params_grad["params"]["bias"])


@pytest.mark.parametrize(
    "config", [CONFIGS[0], CONFIGS[5], CONFIGS[7]], ids=[IDS[0], IDS[5], IDS[7]]
)
def test_vjp_matches_finite_differences(config):
    height, width, kernel_size, stride, padding, in_features, out_features = config
    x_key, k_key = jax.random.split(jax.random.key(1))
    x = _random(x_key, (2, height, width, in_features))
    kernel = _random(k_key, (kernel_size, kernel_size, in_features, out_features))
    # conv_transpose is bilinear in (x, kernel), so the central difference is exact for any
    # step: eps=1 removes the truncation error and keeps float32 round-off small.
    check_grads(
        lambda x, kernel: conv_transpose(x, kernel, stride, padding),
        (x, kernel),
        order=1,
        modes=["rev"],
        eps=1.0,
        atol=1e-3,
        rtol=1e-3,
    )


def test_matches_lax_conv_transpose_and_batch_dims():
    """The pure function equals lax.conv_transpose; the module handles extra batch axes."""
    x = _random(jax.random.key(2), (2, 3, 7, 7, 4))
    kernel = _random(jax.random.key(3), (4, 4, 4, 6))
    expected = lax.conv_transpose(
        x.reshape(6, 7, 7, 4), kernel, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    _assert_close(conv_transpose(x.reshape(6, 7, 7, 4), kernel, 2, "SAME"), expected)
    module = FastConvTranspose(6, (4, 4), strides=2, use_bias=False)
    out = module.apply({"params": {"kernel": kernel}}, x)
    assert out.shape == (2, 3, 14, 14, 6)
    _assert_close(out.reshape(6, 14, 14, 6), expected)
    single = module.apply({"params": {"kernel": kernel}}, x[0, 0])  # no batch axis
    _assert_close(single, expected[0])


def test_dtype_follows_flax():
    x = _random(jax.random.key(4), (2, 4, 4, 3))
    kwargs = dict(features=2, kernel_size=(4, 4), strides=(2, 2), dtype=jnp.bfloat16)
    reference, fast = nn.ConvTranspose(**kwargs), FastConvTranspose(**kwargs)
    params = reference.init(jax.random.key(5), x)
    ref_out, fast_out = reference.apply(params, x), fast.apply(params, x)
    assert fast_out.dtype == ref_out.dtype == jnp.bfloat16
    assert params["params"]["kernel"].dtype == jnp.float32
    np.testing.assert_allclose(
        np.asarray(fast_out, np.float32), np.asarray(ref_out, np.float32), rtol=2e-2, atol=2e-2
    )
    grads = jax.grad(lambda p: jnp.sum(fast.apply(p, x).astype(jnp.float32)))(params)
    assert grads["params"]["kernel"].dtype == jnp.float32


def test_backward_never_convolves_a_dilated_input():
    """The point of the module: only the forward conv dilates its input (lhs_dilation > 1).

    JAX's generic rule computes the kernel cotangent with a second lhs-dilated conv, which
    XLA:CPU runs ~40x slower than the strided weight-gradient conv used here.
    """
    x = jnp.ones((2, 7, 7, 3))
    kernel = jnp.ones((4, 4, 3, 2))
    jaxpr = jax.make_jaxpr(
        jax.grad(lambda x, k: jnp.sum(conv_transpose(x, k, 2, "SAME") ** 2), argnums=(0, 1))
    )(x, kernel)

    def convs(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "conv_general_dilated":
                yield eqn
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                yield from convs(sub)

    dilations = [tuple(eqn.params["lhs_dilation"]) for eqn in convs(jaxpr.jaxpr)]
    assert len(dilations) == 3  # forward, input cotangent, kernel cotangent
    assert sum(d != (1, 1) for d in dilations) == 1


def test_rejects_unsupported_padding():
    x, kernel = jnp.ones((1, 4, 4, 1)), jnp.ones((3, 3, 1, 1))
    with pytest.raises(ValueError, match="padding"):
        conv_transpose(x, kernel, 2, "CIRCULAR")
    with pytest.raises(ValueError, match="channels"):
        conv_transpose(x, jnp.ones((3, 3, 2, 1)), 2, "SAME")


# Per-axis (low, high) paddings of the dilated input for `input_dilated_conv`: zero, asymmetric,
# wider than the kernel, and negative (cropping), differing between the two axes.
DILATED_PADS = [
    ((0, 0), (0, 0)),
    ((1, 2), (3, 0)),
    ((3, 1), (0, 2)),
    ((4, 0), (2, 5)),
    ((-1, 2), (2, -2)),
]


@pytest.mark.parametrize("dilation", [1, 2, 3, (2, 3)], ids=["1", "2", "3", "2x3"])
@pytest.mark.parametrize("out_features", [2, 16], ids=["lax-fallback", "phases"])
def test_input_dilated_conv_matches_lax(dilation, out_features):
    """Equal to lax's input-dilated conv for kernels 1..6, odd and even sizes, any padding."""
    rng = np.random.default_rng(6)
    input_shape = (4, 7)
    dilation_pair = (dilation, dilation) if isinstance(dilation, int) else dilation
    arrays, all_pads = [], []
    for kernel_size in range(1, 6):
        kernel_shape = (kernel_size, kernel_size + 1)
        for pads in DILATED_PADS:
            axes = zip(input_shape, dilation_pair, pads, kernel_shape, strict=True)
            if any((n - 1) * s + 1 + lo + hi - k + 1 < 1 for n, s, (lo, hi), k in axes):
                continue  # empty output
            x = rng.standard_normal((2, *input_shape, 3)).astype(np.float32)
            kernel = rng.standard_normal((*kernel_shape, 3, out_features)).astype(np.float32)
            arrays.append((x, kernel))
            all_pads.append(pads)

    @jax.jit
    def both(arrays):  # one compilation for all cases
        return [
            (
                input_dilated_conv(x, kernel, dilation, pads),
                lax.conv_general_dilated(
                    x,
                    kernel,
                    (1, 1),
                    pads,
                    lhs_dilation=dilation_pair,
                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                ),
            )
            for (x, kernel), pads in zip(arrays, all_pads, strict=True)
        ]

    assert len(arrays) >= 20
    for (actual, expected), (x, kernel), pads in zip(both(arrays), arrays, all_pads, strict=True):
        assert actual.shape == expected.shape, (x.shape, kernel.shape, pads)
        _assert_close(actual, expected)


def test_input_dilated_conv_skips_the_zeros_with_enough_features():
    """From 16 output features on, no convolution dilates its input; below, one conv does."""
    x = jnp.ones((2, 7, 7, 3))
    for out_features, expected in [(16, (1, 1)), (15, (2, 2))]:
        kernel = jnp.ones((4, 4, 3, out_features))
        jaxpr = jax.make_jaxpr(lambda x, k: input_dilated_conv(x, k, 2, ((2, 2), (2, 2))))(
            x, kernel
        )
        dilations = {
            tuple(eqn.params["lhs_dilation"])
            for eqn in jaxpr.jaxpr.eqns
            if eqn.primitive.name == "conv_general_dilated"
        }
        assert dilations == {expected}
