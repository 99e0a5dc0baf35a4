"""Mode coverage: how many modes of a known multi-modal distribution a generator reaches.

- 2-D Gaussian mixtures (`ring8`, `grid25`; Metz et al. 2017, "Unrolled Generative Adversarial
  Networks", https://arxiv.org/abs/1611.02163, §3.1; Srivastava et al. 2017, VEEGAN,
  https://arxiv.org/abs/1705.07761, §5.1; Lin et al. 2018, PacGAN,
  https://arxiv.org/abs/1712.04086, §5): each sample is assigned to its nearest mean; it is
  "high quality" if it lies within 3 standard deviations of that mean; a mode is captured when
  it holds high-quality samples. Those papers score 2,500 generated samples.
- Stacked MNIST (1000 modes; VEEGAN §5.2, PacGAN §5): a classifier's digits for the three
  channels give each sample the mode `100 d0 + 10 d1 + d2`; report the number of modes with at
  least one sample and KL(empirical mode distribution || uniform over 1000). Those papers score
  26,000 generated samples.

All functions are plain numpy on host arrays and return Python numbers (and count arrays).
"""

from __future__ import annotations

import numpy as np

from unigen_jax.data.stacked_mnist import NUM_MODES, compose_label


def kl_to_uniform(counts) -> float:
    """KL(p || uniform) of the histogram `counts` over its K bins, in nats.

        KL = sum_k p_k log(p_k K) = log K - H(p),   p = counts / sum(counts),   0 log 0 = 0

    Args:
      counts: nonnegative [K].

    Returns:
      a float in [0, log K]; NaN when the histogram is empty.
    """
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    if total <= 0:
        return float("nan")
    p = counts / total
    nonzero = p > 0  # empty bins contribute 0 log 0 = 0
    return float(np.sum(p[nonzero] * np.log(p[nonzero] * len(counts))))


def mixture_coverage(
    samples,
    means,
    std: float,
    *,
    threshold: float = 3.0,
    min_count: int | None = None,
) -> dict:
    """Modes hit and sample quality of samples from a 2-D isotropic Gaussian mixture.

        nearest(x) = argmin_k ||x - mu_k||
        high quality(x) iff ||x - mu_nearest(x)|| <= threshold * std
        modes_hit  = #{k : #{high-quality x with nearest(x) = k} >= min_count}

    Args:
      samples: [N, D] generated points (D = 2 for ring8 and grid25).
      means: [K, D] the mixture's means, e.g. `unigen_jax.data.mixture_modes(name)[0]`.
      std: the components' standard deviation.
      threshold: radius of a high-quality sample, in standard deviations (Euclidean distance).
      min_count: high-quality samples a mode needs to count as hit. None means 1, the rule of
        VEEGAN §5.1 (a mode is captured if it is the nearest mode of at least one high-quality
        sample), also used by PacGAN. Pass a larger value, e.g. a share of N / K, for a test
        that ignores stray samples.

    Returns:
      dict with `modes_hit` (int), `num_modes` (K), `high_quality_share` (float, share of all N
      samples that are high quality), `mode_counts` (int64 [K], high-quality samples per mode)
      and `kl_to_uniform` (KL of the normalised `mode_counts` to uniform over K, nats; NaN when
      no sample is high quality).
    """
    samples = np.asarray(samples, np.float64)
    means = np.asarray(means, np.float64)
    if samples.ndim != 2 or means.ndim != 2 or samples.shape[1] != means.shape[1]:
        raise ValueError(
            f"need samples [N, D] and means [K, D], got {samples.shape}, {means.shape}"
        )
    if len(samples) == 0 or len(means) == 0:
        raise ValueError("need at least one sample and one mode")
    if not std > 0 or not threshold > 0:
        raise ValueError(f"std and threshold must be positive, got {std}, {threshold}")
    min_count = 1 if min_count is None else int(min_count)
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    # [N, K] squared distances; K <= a few dozen, so this stays small.
    sq_dist = np.sum((samples[:, None, :] - means[None, :, :]) ** 2, axis=-1)
    nearest = np.argmin(sq_dist, axis=1)
    distance = np.sqrt(sq_dist[np.arange(len(samples)), nearest])
    high_quality = distance <= threshold * std
    counts = np.bincount(nearest[high_quality], minlength=len(means)).astype(np.int64)
    return {
        "modes_hit": int(np.sum(counts >= min_count)),
        "num_modes": len(means),
        "high_quality_share": float(np.mean(high_quality)),
        "mode_counts": counts,
        "kl_to_uniform": kl_to_uniform(counts),
    }


def stacked_mnist_coverage(channel_predictions) -> dict:
    """Modes hit and KL to uniform of generated stacked-MNIST samples.

        mode = 100 d0 + 10 d1 + d2,   KL = sum_m q_m log(1000 q_m),   q = mode histogram / N

    Args:
      channel_predictions: int [N, 3], the classifier's digit for channels 0, 1, 2 of each
        sample, each in [0, 10).

    Returns:
      dict with `modes_hit` (modes with at least one sample), `num_modes` (1000),
      `kl_to_uniform` (nats; 0 for a uniform histogram, log 1000 for one mode), `num_samples`
      (N) and `mode_counts` (int64 [1000]).

    VEEGAN §5.2 and PacGAN §5 (26,000 samples, KL in that direction).
    """
    channel_predictions = np.asarray(channel_predictions)
    if channel_predictions.ndim != 2 or channel_predictions.shape[1] != 3:
        raise ValueError(f"channel_predictions must be [N, 3], got {channel_predictions.shape}")
    if len(channel_predictions) == 0:
        raise ValueError("need at least one sample")
    if not np.issubdtype(channel_predictions.dtype, np.integer):
        raise ValueError(f"channel_predictions must be integers, got {channel_predictions.dtype}")
    modes = compose_label(channel_predictions)
    counts = np.bincount(modes, minlength=NUM_MODES).astype(np.int64)
    return {
        "modes_hit": int(np.count_nonzero(counts)),
        "num_modes": NUM_MODES,
        "kl_to_uniform": kl_to_uniform(counts),
        "num_samples": len(modes),
        "mode_counts": counts,
    }


__all__ = ["kl_to_uniform", "mixture_coverage", "stacked_mnist_coverage"]
