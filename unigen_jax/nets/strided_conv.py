"""A 2-D strided convolution whose input gradient skips the zeros of the dilated cotangent.

For y = conv(x, kernel) with stride s and padding (p_lo, p_hi) per spatial axis,

    y[n, o, f] = sum_{k, c} x_pad[n, o * s + k, c] * kernel[k, c, f],

the input cotangent is the transposed convolution of the output cotangent g (Dumoulin & Visin
2016, "A guide to convolution arithmetic for deep learning", sec. 4): g dilated by s (s - 1
zeros between its entries), padded by q_lo = k_size - 1 - p_lo low and the rest of the input's
span high, and convolved with stride 1 with the flipped kernel (k' = k_size - 1 - k) whose
input and output features are swapped:

    dx[n, i, c] = sum_{k', f} g_dil[n, i + k', f] * kernel[flip(k'), c, f].

JAX's generic transpose rule emits exactly this as one lhs-dilated convolution, whose XLA:CPU
kernel multiplies by all the inserted zeros (3 of every 4 positions of g_dil at s = 2).
`strided_conv` attaches, through `jax.custom_vjp`, `input_dilated_conv` instead: s_h * s_w
stride-1 convolutions of g with the kernel taps each output phase meets, interleaved (the
sub-pixel view of Shi et al. 2016). The kernel cotangent stays XLA's own weight-gradient
convolution. `FastConv` is a drop-in for `nn.Conv` (same parameter names, shapes and forward
values) built on it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from unigen_jax.nets.conv_transpose import (
    ConvLayer,
    PaddingLike,
    Pads,
    _pair,
    check_conv_operands,
    explicit_padding,
    input_dilated_conv,
)

_DIMS = ("NHWC", "HWIO", "NHWC")


def conv_padding(
    input_size: Sequence[int],
    kernel_size: Sequence[int],
    strides: Sequence[int],
    padding: PaddingLike,
) -> Pads:
    """Explicit (low, high) padding of the input per spatial axis, as `lax` resolves it.

    'SAME', 'SAME_LOWER' and 'VALID' follow `lax.padtype_to_pads` (and so `nn.Conv`); an int or
    per-axis ints or (low, high) pairs are used as given.
    """
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "SAME_LOWER", "VALID"):
            raise ValueError(
                f"strided_conv supports padding 'SAME', 'SAME_LOWER', 'VALID', an int or "
                f"(low, high) pairs, got {padding!r}."
            )
        return tuple(
            tuple(pair) for pair in lax.padtype_to_pads(input_size, kernel_size, strides, padding)
        )
    return explicit_padding(padding, len(kernel_size))


def _input_grad_padding(
    input_size: int, output_size: int, kernel_size: int, stride: int, forward_low: int
) -> tuple[int, int]:
    """Padding of the s-dilated cotangent for the input gradient (see the module docstring).

    Low side k - 1 - p_lo; high side chosen so that the stride-1 convolution of the padded,
    dilated cotangent ((m - 1) * s + 1 long for m outputs) has exactly input_size outputs.
    """
    low = kernel_size - 1 - forward_low
    high = input_size + kernel_size - 1 - ((output_size - 1) * stride + 1) - low
    return low, high


def _forward(x, kernel, strides, pads, precision):
    return lax.conv_general_dilated(
        x, kernel, strides, pads, dimension_numbers=_DIMS, precision=precision
    )


def _strided_conv_fwd(x, kernel, strides, pads, precision):
    return _forward(x, kernel, strides, pads, precision), (x, kernel)


def _strided_conv_bwd(strides, pads, precision, residuals, g):
    x, kernel = residuals
    input_grad_pads = tuple(
        _input_grad_padding(x.shape[1 + d], g.shape[1 + d], kernel.shape[d], strides[d], pads[d][0])
        for d in range(2)
    )
    # [kh, kw, c, f] -> flipped [kh, kw, f, c]: the cotangent's f is contracted, c produced.
    flipped_kernel = jnp.swapaxes(lax.rev(kernel, (0, 1)), 2, 3)
    x_grad = input_dilated_conv(g, flipped_kernel, strides, input_grad_pads, precision=precision)
    _, kernel_vjp = jax.vjp(lambda k: _forward(x, k, strides, pads, precision), kernel)
    (kernel_grad,) = kernel_vjp(g)
    return x_grad.astype(x.dtype), kernel_grad.astype(kernel.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _strided_conv_core(x, kernel, strides, pads, precision):
    return _forward(x, kernel, strides, pads, precision)


_strided_conv_core.defvjp(_strided_conv_fwd, _strided_conv_bwd)


def strided_conv(
    x: jax.Array,
    kernel: jax.Array,
    strides: int | Sequence[int],
    padding: PaddingLike,
    *,
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """2-D convolution, equal to `lax.conv_general_dilated`, with a faster input gradient.

    y = lax.conv_general_dilated(x, kernel, strides, padding) with NHWC / HWIO / NHWC layouts.
    The input cotangent is computed by `input_dilated_conv` (stride-1 convolutions per output
    phase, see the module docstring) rather than by one convolution of the stride-dilated
    cotangent; the kernel cotangent is the one JAX derives for the plain convolution.
    Reverse-mode only (`jax.custom_vjp`): no forward-mode derivatives.

    Args:
      x: input, [batch, height, width, in_features].
      kernel: [kernel_h, kernel_w, in_features, out_features].
      strides: int or (stride_h, stride_w).
      padding: 'SAME', 'SAME_LOWER', 'VALID', an int, or per-axis ints / (low, high) pairs of
        input padding.
      precision: passed to every convolution (forward and backward).

    Returns:
      [batch, out_height, out_width, out_features].
    """
    check_conv_operands("strided_conv", x, kernel)
    strides = _pair(strides, "strides")
    pads = conv_padding(x.shape[1:3], kernel.shape[:2], strides, padding)
    return _strided_conv_core(x, kernel, strides, pads, precision)


class FastConv(ConvLayer):
    """Drop-in for `nn.Conv` (2-D, NHWC) whose input gradient skips the stride's zeros.

    Same parameters ('kernel' [kh, kw, in_features, features], 'bias' [features]) and the same
    forward values as `nn.Conv`, so parameters are interchangeable. Kernel and input dilation,
    feature groups, masks, unshared weights and 'CIRCULAR' / 'REFLECT' / 'CAUSAL' padding are
    not offered. Attributes as in `ConvLayer` (an int kernel_size is square here; `nn.Conv`
    reads it as 1-D); padding: 'SAME', 'VALID', an int, or per-axis ints / (low, high) pairs as
    in `nn.Conv`.
    """

    convolve = staticmethod(strided_conv)
