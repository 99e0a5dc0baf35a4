"""SSIM, multi-scale SSIM and the sample-diversity score 1 - mean pairwise MS-SSIM, in JAX.

- `ssim`: Wang, Bovik, Sheikh & Simoncelli 2004, "Image quality assessment: from error
  visibility to structural similarity", IEEE TIP 13(4), eq. 13, with the 11x11 Gaussian window
  (sigma 1.5) of its §III-B and K1 = 0.01, K2 = 0.03.
- `ms_ssim`: Wang, Simoncelli & Bovik 2003, "Multiscale structural similarity for image quality
  assessment", Asilomar, eq. 7, with the five weights of its §3.
- `diversity`: 1 - mean MS-SSIM over random pairs of distinct samples (Odena, Olah & Shlens
  2017, "Conditional image synthesis with auxiliary classifier GANs", §4.2,
  https://arxiv.org/abs/1610.09585; compare_gan; Rosca et al. 2017, "Variational approaches
  for auto-encoding GANs", §5, https://arxiv.org/abs/1706.04987).

Conventions (those of `tf.image.ssim` / `tf.image.ssim_multiscale`): images are
`[batch, H, W, C]` in `[0, max_val]`; statistics are Gaussian-weighted over "valid" windows
(no padding); each channel is scored on its own and the per-channel scores are averaged; no
colour transform is applied.

Small images. The paper's five scales with an 11-wide window need images of at least
11 * 2^4 = 176 pixels a side; MNIST is 28. As in the numpy MS-SSIM that compare_gan uses
(tensorflow/models `research/compression/image_encoder/msssim.py`), at every scale the window
is shrunk to the image: `size = min(filter_size, H_s, W_s)` and `sigma = filter_sigma * size /
filter_size`. Between scales, an odd height or width is first padded by repeating its last
row/column (TF's symmetric padding), then 2x2 average pooling halves it: 28 -> 14 -> 7 -> 4 -> 2
with windows 11, 11, 7, 4, 2. `ms_ssim` raises ValueError when `min(H, W) < 2^(scales - 1)`
(16 for five scales), i.e. when the coarsest scale would not come from real pixels.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, §3


def gaussian_window(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps `exp(-t^2 / 2 sigma^2)` at `t = i - (size - 1) / 2`.

    The 2-D window is the outer product of this with itself (the Gaussian is separable).

    Returns:
      float32 [size], summing to 1.
    """
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    taps = np.exp(-(t**2) / (2.0 * sigma**2))
    return (taps / taps.sum()).astype(np.float32)


def _check_pair(x, y) -> tuple[jax.Array, jax.Array]:
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.float32)
    if x.ndim != 4 or x.shape != y.shape:
        raise ValueError(
            f"expected two [batch, H, W, C] images of one shape, got {x.shape}, {y.shape}"
        )
    return x, y


def _filter_valid(images: jax.Array, taps: np.ndarray) -> jax.Array:
    """Separable 'valid' Gaussian filtering of [batch, H, W, C] -> [batch, H-k+1, W-k+1, C]."""
    batch, height, width, channels = images.shape
    # Channels become batch entries so that one single-channel convolution filters all of them.
    planes = jnp.transpose(images, (0, 3, 1, 2)).reshape(batch * channels, height, width, 1)
    k = len(taps)
    dn = ("NHWC", "HWIO", "NHWC")
    rows = jnp.asarray(taps).reshape(k, 1, 1, 1)
    cols = jnp.asarray(taps).reshape(1, k, 1, 1)
    precision = jax.lax.Precision.HIGHEST
    planes = jax.lax.conv_general_dilated(
        planes, rows, (1, 1), "VALID", dimension_numbers=dn, precision=precision
    )
    planes = jax.lax.conv_general_dilated(
        planes, cols, (1, 1), "VALID", dimension_numbers=dn, precision=precision
    )
    out_h, out_w = planes.shape[1:3]
    return jnp.transpose(planes.reshape(batch, channels, out_h, out_w), (0, 2, 3, 1))


def _ssim_and_cs_per_channel(x, y, *, size, sigma, max_val, k1, k2):
    """Mean SSIM and mean contrast-structure term per channel, each [batch, C].

        l  = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
        cs = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2),   SSIM = l * cs,

    with C1 = (k1 max_val)^2, C2 = (k2 max_val)^2 and Gaussian-weighted local moments (Wang et
    al. 2004, eqs. 13-14; C3 = C2 / 2 folds c and s into cs). Maps are averaged over positions.
    """
    taps = gaussian_window(size, sigma)
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    mu_x = _filter_valid(x, taps)
    mu_y = _filter_valid(y, taps)
    # Local (co)variances as E[ab] - E[a]E[b], as in the reference implementations.
    var_x = _filter_valid(x * x, taps) - mu_x * mu_x
    var_y = _filter_valid(y * y, taps) - mu_y * mu_y
    cov_xy = _filter_valid(x * y, taps) - mu_x * mu_y
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    cs = (2.0 * cov_xy + c2) / (var_x + var_y + c2)
    return jnp.mean(luminance * cs, axis=(1, 2)), jnp.mean(cs, axis=(1, 2))


def ssim(
    x: jax.Array,
    y: jax.Array,
    *,
    max_val: float = 1.0,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> jax.Array:
    """Structural similarity of each pair of images.

        SSIM(x, y) = mean over valid windows of
                     (2 mu_x mu_y + C1) (2 sigma_xy + C2)
                     / ((mu_x^2 + mu_y^2 + C1) (sigma_x^2 + sigma_y^2 + C2))

    per channel, then averaged over channels.

    Args:
      x: [batch, H, W, C] in [0, max_val].
      y: [batch, H, W, C] in [0, max_val].
      max_val: dynamic range L of the pixels; C1 = (k1 L)^2, C2 = (k2 L)^2.
      filter_size: side of the Gaussian window; H and W must be at least this.
      filter_sigma: standard deviation of the window in pixels.
      k1, k2: the stabilising constants.

    Returns:
      float32 [batch], 1 where x == y.

    Wang et al. 2004, eq. 13. Jit with the keyword arguments static (the default).
    """
    x, y = _check_pair(x, y)
    if min(x.shape[1:3]) < filter_size:
        raise ValueError(f"images {x.shape[1:3]} are smaller than the {filter_size}-wide window")
    ssim_per_channel, _ = _ssim_and_cs_per_channel(
        x, y, size=filter_size, sigma=filter_sigma, max_val=max_val, k1=k1, k2=k2
    )
    return jnp.mean(ssim_per_channel, axis=-1)


def downsample(images: jax.Array) -> jax.Array:
    """Halves [batch, H, W, C]: odd sides padded by repeating the last row/column, then 2x2 means.

    Returns:
      [batch, ceil(H / 2), ceil(W / 2), C].
    """
    height, width = images.shape[1:3]
    images = jnp.pad(images, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="symmetric")
    b, h, w, c = images.shape
    return images.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def ms_ssim(
    x: jax.Array,
    y: jax.Array,
    *,
    max_val: float = 1.0,
    power_factors: Sequence[float] = MS_SSIM_WEIGHTS,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> jax.Array:
    """Multi-scale structural similarity of each pair of images.

        MS-SSIM(x, y) = l_M^w_M * prod_{j=1..M} cs_j^w_j = SSIM_M^w_M * prod_{j<M} cs_j^w_j

    where scale 1 is the input, scale j+1 is scale j downsampled by 2, and M = len(power_factors).
    Each scale's mean SSIM / cs is clipped at 0 before the power (as tf.image.ssim_multiscale
    does), so results lie in [0, 1]. Computed per channel, then averaged over channels.

    Args:
      x: [batch, H, W, C] in [0, max_val], with min(H, W) >= 2^(M - 1).
      y: [batch, H, W, C] in [0, max_val].
      max_val: dynamic range of the pixels.
      power_factors: weight of each scale, finest first (Wang et al. 2003's five by default).
      filter_size: the window's side at scales whose images are at least that large; smaller
        scales use `min(filter_size, H_s, W_s)` with sigma scaled in proportion (module doc).
      filter_sigma: the full-size window's standard deviation.
      k1, k2: the stabilising constants.

    Returns:
      float32 [batch] in [0, 1], 1 where x == y.

    Raises:
      ValueError: shapes differ or the images are too small for the number of scales.

    Wang et al. 2003, eq. 7.
    """
    x, y = _check_pair(x, y)
    num_scales = len(power_factors)
    if num_scales < 1:
        raise ValueError("power_factors must name at least one scale")
    min_side = 2 ** (num_scales - 1)
    if min(x.shape[1:3]) < min_side:
        raise ValueError(
            f"MS-SSIM with {num_scales} scales needs images of at least {min_side}x{min_side} "
            f"(each scale halves them), got {x.shape[1]}x{x.shape[2]}; pass fewer power_factors"
        )
    factors = []
    for scale in range(num_scales):
        if scale > 0:
            x, y = downsample(x), downsample(y)
        size = min(filter_size, x.shape[1], x.shape[2])
        ssim_c, cs_c = _ssim_and_cs_per_channel(
            x,
            y,
            size=size,
            sigma=filter_sigma * size / filter_size,
            max_val=max_val,
            k1=k1,
            k2=k2,
        )
        factors.append(ssim_c if scale == num_scales - 1 else cs_c)
    stacked = jax.nn.relu(jnp.stack(factors, axis=-1))  # [batch, C, M]
    weights = jnp.asarray(power_factors, jnp.float32)
    per_channel = jnp.prod(stacked**weights, axis=-1)
    return jnp.mean(per_channel, axis=-1)


# One compiled MS-SSIM per image shape and hyperparameters, shared by every `diversity` call.
_ms_ssim_jit = jax.jit(
    ms_ssim,
    static_argnames=("max_val", "power_factors", "filter_size", "filter_sigma", "k1", "k2"),
)


def diversity(
    images,
    *,
    num_pairs: int = 1000,
    seed: int = 0,
    chunk_size: int = 128,
    max_val: float = 1.0,
    power_factors: Sequence[float] = MS_SSIM_WEIGHTS,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
) -> float:
    """Sample diversity, 1 - mean MS-SSIM over random pairs of distinct images of one set.

        diversity = 1 - (1/P) sum_p MS-SSIM(images[i_p], images[j_p]),   i_p != j_p

    Pairs are drawn with replacement: i uniform over the set, j uniform over the others
    (`np.random.default_rng(seed)`). Higher means more diverse; compare with the same score on
    held-out real data (Rosca et al. 2017, §5), not with 1.

    Args:
      images: [N, H, W, C] in [0, max_val], N >= 2.
      num_pairs: number of pairs P.
      seed: seed of the pair sampler.
      chunk_size: pairs scored per call of the compiled MS-SSIM (bounds memory).
      max_val, power_factors, filter_size, filter_sigma: passed to `ms_ssim`.

    Returns:
      a Python float.

    Odena et al. 2017, §4.2 (with 100 pairs per class there).
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or len(images) < 2:
        raise ValueError(f"need [N >= 2, H, W, C] images, got shape {images.shape}")
    if num_pairs < 1 or chunk_size < 1:
        raise ValueError(
            f"num_pairs and chunk_size must be positive, got {num_pairs}, {chunk_size}"
        )
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(images), size=num_pairs)
    # An offset in [1, N) makes the second index differ from the first.
    second = (first + rng.integers(1, len(images), size=num_pairs)) % len(images)
    score = functools.partial(
        _ms_ssim_jit,
        max_val=float(max_val),
        power_factors=tuple(float(w) for w in power_factors),
        filter_size=int(filter_size),
        filter_sigma=float(filter_sigma),
    )
    chunk = min(chunk_size, num_pairs)
    total = 0.0
    for start in range(0, num_pairs, chunk):
        i, j = first[start : start + chunk], second[start : start + chunk]
        valid = len(i)
        if valid < chunk:  # pad the last chunk so that one compiled shape serves every chunk
            i = np.concatenate([i, np.zeros(chunk - valid, i.dtype)])
            j = np.concatenate([j, np.ones(chunk - valid, j.dtype)])
        values = np.asarray(score(images[i], images[j]), np.float64)
        total += float(values[:valid].sum())
    return 1.0 - total / num_pairs


__all__ = ["MS_SSIM_WEIGHTS", "diversity", "downsample", "gaussian_window", "ms_ssim", "ssim"]
