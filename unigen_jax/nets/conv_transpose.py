"""A 2-D transposed convolution whose backward pass is two strided convolutions.

`lax.conv_transpose` (and so `flax.linen.ConvTranspose`) computes

    y[n, o, f] = sum_{k, i, c} x[n, i, c] * kernel[k, c, f] * [o = i * s + p_lo - k]

per spatial axis (stride s, low padding p_lo of the stride-dilated input), as one convolution of
the input dilated by the stride. JAX differentiates that convolution generically: the kernel
cotangent becomes a convolution of the *dilated input* with the full-size output cotangent as
its "kernel", which XLA:CPU runs slowly (about 190 ms of a 310 ms MNIST DCGAN step on two
cores). The same sums are cheaper seen from the other side. With the cotangent g padded by
q_lo = k_size - 1 - p_lo on the low side and the kernel flipped (k' = k_size - 1 - k):

    dx[n, i, c]       = sum_{k', f} g_pad[n, i * s + k', f] * kernel[flip(k'), c, f]
    dkernel[k, c, f]  = sum_{n, i}  x[n, i, c] * g_pad[n, i * s + flip(k), f]

The first is an ordinary stride-s convolution of g_pad with the flipped kernel (its input and
output channel roles swapped); the second is the weight gradient of that same strided
convolution, written as one `lax.conv_general_dilated` whose batch and feature roles are
swapped (the batch axis is contracted) and whose "kernel" x is dilated by s. `conv_transpose`
attaches these two through `jax.custom_vjp`; `FastConvTranspose` is a drop-in for
`nn.ConvTranspose` (same parameter names, shapes and forward values) built on it.

The forward pass itself, a convolution of the input dilated by s, also multiplies mostly by the
inserted zeros (3 of every 4 positions of the dilated input at s = 2). `input_dilated_conv`
computes it as s_h * s_w ordinary stride-1 convolutions of the undilated input, one per output
phase, each with the kernel taps that meet real input positions, and interleaves their outputs
(the sub-pixel view of Shi et al. 2016). `unigen_jax.nets.strided_conv` uses it for the input
cotangent of a strided convolution, which is the same kind of convolution.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype
from flax.linen.linear import default_kernel_init
from jax import lax

Pads = tuple[tuple[int, int], ...]
PaddingLike = str | int | Sequence[int | tuple[int, int]]

_FORWARD_DIMS = ("NHWC", "HWIO", "NHWC")
# Input cotangent: g_pad [n, h, w, f] convolved with the flipped kernel [kh, kw, c, f], whose
# last axis (f) is now the contracted input feature and c the output feature.
_INPUT_GRAD_DIMS = ("NHWC", "HWOI", "NHWC")
# Kernel cotangent: g_pad's batch axis n plays the contracted feature, its channel f the batch;
# x [n, h, w, c] is the (dilated) kernel with n as input and c as output feature; the result
# comes out directly as [kh, kw, c, f].
_KERNEL_GRAD_DIMS = ("CHWN", "IHWO", "HWCN")

# `input_dilated_conv` splits into phases only from this many output features on. Measured on
# XLA:CPU (2 cores, the train step's compiler options), 4x4 kernel, dilation 2: batch 64,
# 7x7x128 -> 14x14x64 takes 7.5 ms as one dilated conv and 5.2 ms as phases; batch 128,
# 7x7x64 -> 14x14x32 5.3 vs 3.2 ms; but batch 64, 14x14x32 -> 28x28x1 0.8 vs 1.8 ms (phases
# 2x slower: four tiny convs and the interleaving cost more than the zeros they skip).
_MIN_PHASE_FEATURES = 16


def check_conv_operands(name: str, x: jax.Array, kernel: jax.Array) -> None:
    """Raises a ValueError unless x is [batch, h, w, c] and kernel [kh, kw, c, out]."""
    if x.ndim != 4 or kernel.ndim != 4:
        raise ValueError(
            f"{name} expects x [batch, h, w, c] and kernel [kh, kw, in, out], got shapes "
            f"{x.shape} and {kernel.shape}."
        )
    if x.shape[-1] != kernel.shape[2]:
        raise ValueError(
            f"x has {x.shape[-1]} channels but the kernel expects {kernel.shape[2]} "
            f"(kernel shape {kernel.shape})."
        )


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(
            f"{name} must be an int or a pair of ints for a 2-D convolution, got {value}."
        )
    return value


def transpose_padding(
    kernel_size: Sequence[int], strides: Sequence[int], padding: PaddingLike
) -> Pads:
    """Explicit (low, high) padding of the stride-dilated input, per spatial axis.

    Follows `lax.conv_transpose`'s default (and so `nn.ConvTranspose`'s) conventions: 'SAME'
    gives an output of size input * stride, 'VALID' one of input * stride + max(k - s, 0), and
    explicit pairs are used as given (padding of the input after dilation by the stride).
    """
    if isinstance(padding, str):
        mode = padding.upper()
        pads = []
        for k, s in zip(kernel_size, strides, strict=True):
            if mode == "SAME":
                total = k + s - 2
                low = k - 1 if s > k - 1 else -(-total // 2)
            elif mode == "VALID":
                total = k + s - 2 + max(k - s, 0)
                low = k - 1
            else:
                raise ValueError(
                    f"conv_transpose supports padding 'SAME', 'VALID' or (low, high) pairs, "
                    f"got {padding!r}."
                )
            pads.append((low, total - low))
        return tuple(pads)
    return explicit_padding(padding, len(kernel_size))


def explicit_padding(padding: int | Sequence[int | tuple[int, int]], num_axes: int) -> Pads:
    """(low, high) pairs from an int (both sides of every axis) or one int or pair per axis."""
    if isinstance(padding, int):
        return ((padding, padding),) * num_axes
    pads = tuple((p, p) if isinstance(p, int) else (int(p[0]), int(p[1])) for p in padding)
    if len(pads) != num_axes:
        raise ValueError(f"Need one padding pair per spatial axis, got {padding!r}.")
    return pads


def _cotangent_padding(
    input_size: int, output_size: int, kernel_size: int, stride: int, forward_low: int
) -> tuple[int, int]:
    """Padding of the output cotangent that lines it up with the strided backward convs.

    Low side k - 1 - p_lo (see the module docstring); high side chosen so that the padded
    cotangent has exactly (input - 1) * stride + k positions, the span the strided windows read.
    """
    low = kernel_size - 1 - forward_low
    high = (input_size - 1) * stride + kernel_size - output_size - low
    return low, high


def _pad_or_crop(x: jax.Array, pads: Pads) -> tuple[jax.Array, Pads]:
    """Crops x [n, h, w, c] where a spatial pad is negative; returns the rest for a conv to pad."""
    if any(p < 0 for pair in pads for p in pair):
        starts = [0] + [max(-lo, 0) for lo, _ in pads] + [0]
        limits = (
            [x.shape[0]]
            + [size - max(-hi, 0) for size, (_, hi) in zip(x.shape[1:-1], pads, strict=True)]
            + [x.shape[-1]]
        )
        x = lax.slice(x, starts, limits)
    return x, tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)


class _Phase(NamedTuple):
    """One output phase r of one spatial axis of an input-dilated convolution."""

    first_tap: int  # k0 = (p_lo - r) mod s: the first kernel tap that meets an input position
    num_taps: int  # len(range(k0, k, s)): its taps are kernel[k0::s]
    input_pads: tuple[int, int]  # (low, high) padding of x (negative: cropping)


def _axis_phases(
    input_size: int, kernel_size: int, dilation: int, pads: tuple[int, int]
) -> tuple[int, int, tuple[_Phase, ...]]:
    """(output_size, phase_size, phases) of one spatial axis; see `input_dilated_conv`."""
    low, high = pads
    output_size = (input_size - 1) * dilation + 1 + low + high - kernel_size + 1
    phase_size = -(-output_size // dilation)
    phases = []
    for phase in range(dilation):
        first_tap = (low - phase) % dilation
        num_taps = len(range(first_tap, kernel_size, dilation))
        offset = (first_tap - low + phase) // dilation
        input_pads = (-offset, phase_size + offset + num_taps - 1 - input_size)
        phases.append(_Phase(first_tap, num_taps, input_pads))
    return output_size, phase_size, tuple(phases)


def _reads_input(phase: _Phase, input_size: int) -> bool:
    """False when the phase's windows meet no tap or only padding: its output is zero."""
    low, high = phase.input_pads
    return phase.num_taps > 0 and -low < input_size and -high < input_size


def input_dilated_conv(
    x: jax.Array,
    kernel: jax.Array,
    dilation: int | Sequence[int],
    pads: Pads,
    *,
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """Stride-1 convolution of x dilated by `dilation`, without multiplying by its zeros.

    Equals `lax.conv_general_dilated(x, kernel, (1, 1), pads, lhs_dilation=dilation)` with NHWC /
    HWIO / NHWC layouts: the forward pass of a transposed convolution and the input gradient of
    a strided one (Dumoulin & Visin 2016, "A guide to convolution arithmetic for deep
    learning", sec. 4). Per spatial axis (input size n, kernel size k, dilation s, padding
    (p_lo, p_hi)) the output has size o = (n - 1) * s + 1 + p_lo + p_hi - k + 1, and output
    position s * m + r (phase r in [0, s)) only meets the taps k0 + s * j with
    k0 = (p_lo - r) mod s:

        y[s * m + r] = sum_j x[m + d + j] * kernel[k0 + s * j],  d = (k0 - p_lo + r) // s,

    a stride-1 convolution of x (padded by -d low, cropped where negative) with kernel[k0::s].
    The s_h * s_w phase outputs, each ceil(o / s) long, are interleaved and cropped to o: the
    sub-pixel convolution of Shi et al. 2016 ("Real-Time Single Image and Video
    Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network"), here with
    1 / (s_h * s_w) of the dilated convolution's multiplies. With dilation (1, 1), or fewer than
    `_MIN_PHASE_FEATURES` output features (where the phases' overhead dominates on XLA:CPU),
    it is the plain dilated `lax.conv_general_dilated`.

    Args:
      x: input, [batch, height, width, in_features].
      kernel: [kernel_h, kernel_w, in_features, out_features].
      dilation: int or (s_h, s_w): the input dilation (transposed conv's stride).
      pads: per-axis (low, high) padding of the dilated input; negative values crop.
      precision: passed to every `lax.conv_general_dilated`.

    Returns:
      [batch, out_height, out_width, out_features].
    """
    dilation = _pair(dilation, "dilation")
    pads = tuple((int(lo), int(hi)) for lo, hi in pads)
    if dilation == (1, 1) or kernel.shape[-1] < _MIN_PHASE_FEATURES:
        return lax.conv_general_dilated(
            x,
            kernel,
            window_strides=(1, 1),
            padding=pads,
            lhs_dilation=dilation,
            dimension_numbers=_FORWARD_DIMS,
            precision=precision,
        )
    (out_h, phase_h, row_phases), (out_w, phase_w, col_phases) = (
        _axis_phases(x.shape[1 + axis], kernel.shape[axis], dilation[axis], pads[axis])
        for axis in range(2)
    )
    phase_shape = (x.shape[0], phase_h, phase_w, kernel.shape[-1])
    rows = []
    for row in row_phases:
        row_outputs = []
        for col in col_phases:
            if not (_reads_input(row, x.shape[1]) and _reads_input(col, x.shape[2])):
                row_outputs.append(jnp.zeros(phase_shape, x.dtype))
                continue
            x_cropped, conv_pads = _pad_or_crop(x, (row.input_pads, col.input_pads))
            row_outputs.append(
                lax.conv_general_dilated(
                    x_cropped,
                    kernel[row.first_tap :: dilation[0], col.first_tap :: dilation[1]],
                    window_strides=(1, 1),
                    padding=conv_pads,
                    dimension_numbers=_FORWARD_DIMS,
                    precision=precision,
                )
            )
        rows.append(jnp.stack(row_outputs, axis=3))  # [batch, phase_h, phase_w, s_w, features]
    interleaved = jnp.stack(rows, axis=2)  # [batch, phase_h, s_h, phase_w, s_w, features]
    interleaved = interleaved.reshape(
        (x.shape[0], phase_h * dilation[0], phase_w * dilation[1], kernel.shape[-1])
    )
    return interleaved[:, :out_h, :out_w]


def _conv_transpose_fwd(x, kernel, strides, pads, precision):
    return input_dilated_conv(x, kernel, strides, pads, precision=precision), (x, kernel)


def _conv_transpose_bwd(strides, pads, precision, residuals, g):
    x, kernel = residuals
    kernel_size = kernel.shape[:2]
    cotangent_pads = tuple(
        _cotangent_padding(x.shape[1 + d], g.shape[1 + d], kernel_size[d], strides[d], pads[d][0])
        for d in range(2)
    )
    g_cropped, conv_pads = _pad_or_crop(g, cotangent_pads)
    flipped_kernel = lax.rev(kernel, (0, 1))
    x_grad = lax.conv_general_dilated(
        g_cropped,
        flipped_kernel,
        window_strides=strides,
        padding=conv_pads,
        dimension_numbers=_INPUT_GRAD_DIMS,
        precision=precision,
    )
    flipped_kernel_grad = lax.conv_general_dilated(
        g_cropped,
        x,
        window_strides=(1, 1),
        padding=conv_pads,
        rhs_dilation=strides,
        dimension_numbers=_KERNEL_GRAD_DIMS,
        precision=precision,
    )
    kernel_grad = lax.rev(flipped_kernel_grad, (0, 1))
    return x_grad.astype(x.dtype), kernel_grad.astype(kernel.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_transpose_core(x, kernel, strides, pads, precision):
    return input_dilated_conv(x, kernel, strides, pads, precision=precision)


_conv_transpose_core.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def conv_transpose(
    x: jax.Array,
    kernel: jax.Array,
    strides: int | Sequence[int],
    padding: PaddingLike,
    *,
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """2-D transposed convolution, equal to `lax.conv_transpose` with a faster backward pass.

    y = conv_transpose(x, kernel) is the input-transpose of a stride-s convolution (the
    "fractionally strided" convolution of Dumoulin & Visin 2016, sec. 4), with
    `lax.conv_transpose`'s defaults: transpose_kernel=False, NHWC / HWIO layouts. Both
    cotangents are computed by stride-s convolutions (see the module docstring), not by
    differentiating the dilated forward convolution.

    Args:
      x: input, [batch, height, width, in_features].
      kernel: [kernel_h, kernel_w, in_features, out_features].
      strides: int or (stride_h, stride_w): the upsampling factors.
      padding: 'SAME' (output = input * stride), 'VALID', or per-axis (low, high) pairs of
        padding of the stride-dilated input, as in `lax.conv_transpose`.
      precision: passed to every `lax.conv_general_dilated` (forward and backward).

    Returns:
      [batch, out_height, out_width, out_features].
    """
    check_conv_operands("conv_transpose", x, kernel)
    strides = _pair(strides, "strides")
    pads = transpose_padding(kernel.shape[:2], strides, padding)
    return _conv_transpose_core(x, kernel, strides, pads, precision)


class ConvLayer(nn.Module):
    """The flax layer around a 2-D convolution function: `FastConvTranspose` and `FastConv`.

    Declares 'kernel' [kh, kw, in_features, features] and 'bias' [features] (as flax's conv
    layers do), promotes dtypes like them, flattens any leading batch axes (or adds a missing
    one) and returns `convolve(x, kernel, strides, padding, precision=...)` + bias, where
    `convolve` is the subclass's convolution.

    Attributes:
      features: number of output channels.
      kernel_size: int (a square kernel) or (kh, kw).
      strides: int or (sh, sw); None means 1.
      padding: as the subclass's convolution takes it.
      use_bias, dtype, param_dtype, precision, kernel_init, bias_init: as in flax's conv layers.
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] | None = None
    padding: PaddingLike = "SAME"
    use_bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: lax.PrecisionLike = None
    kernel_init: Callable[..., jax.Array] = default_kernel_init
    bias_init: Callable[..., jax.Array] = nn.initializers.zeros_init()

    convolve: ClassVar[Callable[..., jax.Array]]  # each subclass sets its convolution

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        """Applies the convolution to inputs [*batch, h, w, in_features]."""
        kernel_size = _pair(self.kernel_size, "kernel_size")
        strides = _pair(1 if self.strides is None else self.strides, "strides")
        if inputs.ndim < 3:
            raise ValueError(f"Expected inputs [*batch, h, w, c], got shape {inputs.shape}.")
        batch_shape = inputs.shape[:-3]
        flat_inputs = inputs.reshape((-1,) + inputs.shape[-3:])

        kernel = self.param(
            "kernel",
            self.kernel_init,
            kernel_size + (inputs.shape[-1], self.features),
            self.param_dtype,
        )
        bias = (
            self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias
            else None
        )
        flat_inputs, kernel, bias = promote_dtype(flat_inputs, kernel, bias, dtype=self.dtype)
        y = type(self).convolve(
            flat_inputs, kernel, strides, self.padding, precision=self.precision
        )
        if bias is not None:
            y = y + bias
        return y.reshape(batch_shape + y.shape[1:])


class FastConvTranspose(ConvLayer):
    """Drop-in for `nn.ConvTranspose` (2-D, NHWC) whose gradients run as strided convolutions.

    Same parameters ('kernel' [kh, kw, in_features, features], 'bias' [features]) and the same
    forward values as `nn.ConvTranspose` with its default transpose_kernel=False, so parameters
    are interchangeable. Kernel dilation, masks and 'CIRCULAR' padding are not supported.
    Attributes as in `ConvLayer`; padding: 'SAME', 'VALID', an int, or per-axis ints /
    (low, high) pairs as in `nn.ConvTranspose`.
    """

    convolve = staticmethod(conv_transpose)
