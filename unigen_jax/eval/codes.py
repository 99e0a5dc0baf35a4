"""Statistics of an encoder's codes: how well they match the prior N(0, I), dimension by
dimension, and how entangled their dimensions are.

Rosca et al. 2017, "Variational Approaches for Auto-Encoding Generative Adversarial Networks"
(arXiv 1706.04987), Appendix D, Figures 11-12: alpha-GAN's codes of a saved set of data, with
the code discriminator against the empirical KL of eq. 18. Their finding: the codes learnt with
the code discriminator are decorrelated, those learnt with the empirical KL (which models
every dimension alone) are correlated, and their means are closer to the prior's 0.
"""

from __future__ import annotations

import numpy as np

from unigen_jax import losses


def code_statistics(codes) -> dict:
    """Per-dimension moments of codes, their correlation, and summaries of both.

    With N codes z_i of size D, per dimension d the mean and (biased, 1/N) variance

      m_d = (1/N) sum_i z_id,   s_d^2 = (1/N) sum_i (z_id - m_d)^2,

    the correlation rho_de = (1/N) sum_i (z_id - m_d)(z_ie - m_e) / (s_d s_e) (0 where a
    dimension is constant, s = 0), and the summaries ::

      mean_abs_mean          = (1/D) sum_d |m_d|                (prior N(0, I): 0)
      mean_variance          = (1/D) sum_d s_d^2                (prior: 1)
      mean_abs_variance_gap  = (1/D) sum_d |s_d^2 - 1|          (prior: 0)
      mean_abs_correlation   = mean over d != e of |rho_de|     (prior: 0; Figure 12)
      max_abs_correlation    = max over d != e of |rho_de|
      empirical_kl           = (1/D) sum_d (s_d^2 + m_d^2 - 1 - log s_d^2) / 2  (eq. 18 / D,
                               `losses.empirical_gaussian_kl`; blind to correlations)
      constant_dimensions    = #{d : s_d = 0}

    For N draws of the prior itself, m_d and rho_de are of order 1 / sqrt(N), not 0: compare
    with the statistics of as many prior draws.

    Args:
      codes: [N, D] (or [N, ...], flattened) codes, N >= 2.

    Returns:
      dict of the scalars above and the arrays `per_dimension_mean` [D],
      `per_dimension_variance` [D] and `correlation` [D, D] (diagonal 1, or 0 for a constant
      dimension).
    """
    codes = np.asarray(codes, np.float64)
    codes = codes.reshape(codes.shape[0], -1)
    n, dims = codes.shape
    if n < 2:
        raise ValueError(f"code statistics need at least 2 codes, got {n}")
    mean = codes.mean(axis=0)
    centred = codes - mean
    variance = np.mean(centred**2, axis=0)
    std = np.sqrt(variance)
    covariance = centred.T @ centred / n
    outer = np.outer(std, std)
    correlation = np.divide(covariance, outer, out=np.zeros_like(covariance), where=outer > 0)
    off_diagonal = np.abs(correlation[~np.eye(dims, dtype=bool)])
    constant = variance == 0
    return {
        "mean_abs_mean": float(np.mean(np.abs(mean))),
        "mean_variance": float(np.mean(variance)),
        "mean_abs_variance_gap": float(np.mean(np.abs(variance - 1.0))),
        "mean_abs_correlation": float(off_diagonal.mean()) if dims > 1 else 0.0,
        "max_abs_correlation": float(off_diagonal.max()) if dims > 1 else 0.0,
        "empirical_kl": float("inf")
        if constant.any()
        else float(losses.empirical_gaussian_kl(codes.astype(np.float32))),
        "constant_dimensions": int(np.count_nonzero(constant)),
        "num_codes": n,
        "latent_dim": dims,
        "per_dimension_mean": mean,
        "per_dimension_variance": variance,
        "correlation": correlation,
    }


__all__ = ["code_statistics"]
