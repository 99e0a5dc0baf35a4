"""Sample-quality scores computed from a classifier's outputs: IS, FID, KID, conditional accuracy.

No Inception network can be downloaded, so every score here works on the outputs of a
"feature extractor": any function `images -> (logits [n, K], features [n, F])`, in practice a
classifier the project trains itself. The functions are pure and take NumPy or JAX arrays;
they compute in float64 NumPy because the scores are sums of many small terms and differences
of large ones (FID is a difference of traces), where float32 loses digits that matter when
comparing models.

Every formula is pinned in `tests/test_eval_sample_metrics.py` to a closed form or to an
independent computation (scipy's `sqrtm`, an entropy form of IS, a double-loop MMD).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from unigen_jax.errors import UserInputError

__all__ = [
    "inception_score",
    "gaussian_statistics",
    "FeatureStatistics",
    "frechet_distance",
    "fid",
    "polynomial_mmd_squared",
    "kernel_inception_distance",
    "conditional_accuracy",
    "matched_accuracy",
    "contingency_table",
    "best_matching",
    "batched_features",
]


def _as_matrix(name: str, array: Any) -> np.ndarray:
    """Returns `array` as a finite float64 matrix [n, d], or raises a one-line error."""
    matrix = np.asarray(array).astype(np.float64)
    if matrix.ndim != 2:
        raise UserInputError(f"{name} must have shape [n, d]; got shape {matrix.shape}.")
    if not np.all(np.isfinite(matrix)):
        raise UserInputError(f"{name} contains NaN or infinite values; check the generator.")
    return matrix


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax; subtracting the row maximum keeps exp() from overflowing."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _logsumexp(values: np.ndarray, axis: int) -> np.ndarray:
    """log(sum(exp(values))) along `axis` without overflow or underflow."""
    peak = values.max(axis=axis, keepdims=True)
    return np.squeeze(peak, axis=axis) + np.log(np.exp(values - peak).sum(axis=axis))


# ----------------------------------------------------------------------------------------------
# Inception score.


def inception_score(logits: Any, *, num_splits: int = 10) -> tuple[float, float]:
    """Inception score of a classifier's predictions on generated samples.

    IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = E_x p(y|x),

    computed by the protocol of Salimans et al.: the N predictions are cut into `num_splits`
    contiguous parts `[s * N // num_splits, (s + 1) * N // num_splits)`, p(y) is the mean
    prediction of each part, and the score of each part is exp of the part's mean KL. The result
    is the mean and the (population, ddof=0, as in the reference code) standard deviation of the
    part scores. It lies in [1, K]: 1 when every sample gets the same prediction, K when the
    predictions are confident and spread evenly over the K classes.

    For stability the log-probabilities come from a float64 log-softmax of the logits, and
    log p(y) = logsumexp_i log p(y|x_i) - log n, so no probability is ever taken a log of.

    Args:
      logits: classifier logits on generated samples, [N, K].
      num_splits: number of contiguous parts, 1 <= num_splits <= N.

    Returns:
      (mean, std) of the per-part scores, Python floats.

    Reference: Salimans et al. 2016, "Improved Techniques for Training GANs", §4
    (https://arxiv.org/abs/1606.03498).
    """
    logits = _as_matrix("logits", logits)
    num_samples = logits.shape[0]
    if not 1 <= num_splits <= num_samples:
        raise UserInputError(
            f"num_splits must be between 1 and the number of samples ({num_samples}); "
            f"got {num_splits}. Use fewer splits or more samples."
        )
    log_probs = _log_softmax(logits)
    part_scores = []
    for split in range(num_splits):
        part = log_probs[
            split * num_samples // num_splits : (split + 1) * num_samples // num_splits
        ]
        log_marginal = _logsumexp(part, axis=0) - np.log(part.shape[0])
        # KL(p(y|x) || p(y)) = sum_y p(y|x) (log p(y|x) - log p(y)); p = 0 terms are exactly 0.
        kl_per_sample = np.sum(np.exp(part) * (part - log_marginal), axis=1)
        part_scores.append(np.exp(np.mean(kl_per_sample)))
    part_scores = np.asarray(part_scores)
    return float(np.mean(part_scores)), float(np.std(part_scores))


# ----------------------------------------------------------------------------------------------
# Gaussian statistics of features and the Fréchet distance.


def gaussian_statistics(features: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of a set of feature vectors, in float64.

    mu = (1/n) sum_i f_i,   Sigma = 1/(n - 1) sum_i (f_i - mu)(f_i - mu)^T.

    Args:
      features: feature vectors, [n, F] with n >= 2.

    Returns:
      mean [F] and covariance [F, F], float64 NumPy arrays.

    Reference: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a
    Local Nash Equilibrium", §3 (https://arxiv.org/abs/1706.08500).
    """
    features = _as_matrix("features", features)
    if features.shape[0] < 2:
        raise UserInputError(
            f"need at least 2 feature vectors for a covariance; got {features.shape[0]}."
        )
    mean = features.mean(axis=0)
    centred = features - mean
    covariance = centred.T @ centred / (features.shape[0] - 1)
    return mean, covariance


class FeatureStatistics:
    """Streaming mean and covariance of feature vectors in bounded memory.

    Keeps the count n, the running mean and the centred scatter matrix
    S = sum_i (f_i - mu)(f_i - mu)^T in float64. A batch is merged by the pairwise rule of
    Chan, Golub & LeVeque (1979)::

      delta = mu_b - mu_a,   n = n_a + n_b,   mu = mu_a + delta * n_b / n,
      S = S_a + S_b + delta delta^T * n_a n_b / n.

    This equals accumulating raw sums sum_i f_i and sum_i f_i f_i^T, but does not cancel
    catastrophically when the features' mean is large against their spread (the raw-sum form
    subtracts n mu mu^T from sum f f^T, two nearly equal numbers). Memory is O(F^2) whatever
    the number of samples.

    Usage::

      stats = FeatureStatistics()
      for batch in batches:
          stats.update(batch)          # [b, F]
      mean, covariance = stats.result()  # [F], [F, F]; equals gaussian_statistics(all)
    """

    def __init__(self) -> None:
        self.count = 0
        self._mean: np.ndarray | None = None
        self._scatter: np.ndarray | None = None

    def update(self, features_batch: Any) -> None:
        """Adds a batch of feature vectors [b, F] (b >= 1) to the statistics."""
        batch = _as_matrix("features_batch", features_batch)
        batch_count = batch.shape[0]
        if batch_count == 0:
            return
        if self._mean is not None and batch.shape[1] != self._mean.shape[0]:
            raise UserInputError(
                f"features_batch has {batch.shape[1]} features; earlier batches had "
                f"{self._mean.shape[0]}."
            )
        batch_mean = batch.mean(axis=0)
        centred = batch - batch_mean
        batch_scatter = centred.T @ centred
        if self._mean is None:
            self.count, self._mean, self._scatter = batch_count, batch_mean, batch_scatter
            return
        total = self.count + batch_count
        delta = batch_mean - self._mean
        self._scatter = (
            self._scatter
            + batch_scatter
            + np.outer(delta, delta) * (self.count * batch_count / total)
        )
        self._mean = self._mean + delta * (batch_count / total)
        self.count = total

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns (mean [F], unbiased covariance [F, F]) of everything seen, float64."""
        if self.count < 2:
            raise UserInputError(
                f"need at least 2 feature vectors for a covariance; got {self.count}."
            )
        return self._mean.copy(), self._scatter / (self.count - 1)


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root by eigendecomposition; rounding-negative eigenvalues -> 0."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    roots = np.sqrt(np.clip(eigenvalues, 0.0, None))
    return (eigenvectors * roots) @ eigenvectors.T


def frechet_distance(mean1: Any, cov1: Any, mean2: Any, cov2: Any) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mean1, cov1) and N(mean2, cov2).

    d^2 = ||m1 - m2||^2 + Tr(C1 + C2 - 2 (C1 C2)^{1/2}).

    Tr((C1 C2)^{1/2}) is computed without `scipy.linalg.sqrtm`, in float64:
    S = C1^{1/2} (symmetric, by `eigh`, negative eigenvalues clipped to 0), M = S C2 S, and
    Tr((C1 C2)^{1/2}) = sum_j sqrt(max(lambda_j(M), 0)).

    Why it is equal: C1 C2 = S (S C2) and M = (S C2) S, and AB and BA have the same nonzero
    eigenvalues, so C1 C2 has the eigenvalues of M (real and >= 0, as M = S C2 S is PSD). The
    trace of the principal square root is the sum of the square roots of those eigenvalues.
    Why it is stable: M is symmetric PSD, so `eigvalsh` is backward stable and returns real
    eigenvalues; `sqrtm` of the non-symmetric C1 C2 goes through a complex Schur form, can return
    spurious imaginary parts and fails on singular covariances (fewer samples than features),
    which here only give zero eigenvalues. The result can be negative at rounding level
    (about 1e-12 of the traces) when the two Gaussians coincide; it is not clipped.

    Args:
      mean1, mean2: means, [F].
      cov1, cov2: symmetric PSD covariances, [F, F].

    Returns:
      The squared distance as a Python float (this is what "FID" reports).

    Reference: Dowson & Landau 1982 (the closed form); Heusel et al. 2017, §3, eq. (6)
    (https://arxiv.org/abs/1706.08500).
    """
    mean1 = np.asarray(mean1, dtype=np.float64)
    mean2 = np.asarray(mean2, dtype=np.float64)
    cov1 = np.asarray(cov1, dtype=np.float64)
    cov2 = np.asarray(cov2, dtype=np.float64)
    num_features = mean1.shape[0] if mean1.ndim == 1 else -1
    if (
        mean1.ndim != 1
        or mean2.shape != mean1.shape
        or cov1.shape != (num_features, num_features)
        or cov2.shape != (num_features, num_features)
    ):
        raise UserInputError(
            "frechet_distance needs means [F] and covariances [F, F]; got shapes "
            f"{mean1.shape}, {cov1.shape}, {mean2.shape}, {cov2.shape}."
        )
    # Symmetrise: covariances from data are symmetric only up to rounding.
    cov1 = (cov1 + cov1.T) / 2
    cov2 = (cov2 + cov2.T) / 2
    sqrt_cov1 = _symmetric_sqrt(cov1)
    middle = sqrt_cov1 @ cov2 @ sqrt_cov1
    middle = (middle + middle.T) / 2
    trace_sqrt_product = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)))
    mean_term = np.sum((mean1 - mean2) ** 2)
    return float(mean_term + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt_product)


def fid(features_real: Any, features_fake: Any) -> float:
    """Fréchet Inception Distance between two sets of feature vectors.

    FID = ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^{1/2}), with (mu, S) from
    `gaussian_statistics` (unbiased covariance) and the trace from `frechet_distance`.

    Args:
      features_real: features of real data, [n_real, F].
      features_fake: features of generated samples, [n_fake, F].

    Returns:
      FID as a Python float. It is biased upwards for small n; compare models at equal n.

    Reference: Heusel et al. 2017, §3 (https://arxiv.org/abs/1706.08500).
    """
    mean_real, cov_real = gaussian_statistics(features_real)
    mean_fake, cov_fake = gaussian_statistics(features_fake)
    return frechet_distance(mean_real, cov_real, mean_fake, cov_fake)


# ----------------------------------------------------------------------------------------------
# Kernel Inception Distance.


def _cubic_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x . y / d + 1)^3 for all pairs of rows, [n, m]."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def polynomial_mmd_squared(features_x: Any, features_y: Any) -> float:
    """Unbiased MMD^2 between two samples under the cubic polynomial kernel.

    k(x, y) = (x . y / d + 1)^3, and with X = {x_i}_{i<n}, Y = {y_j}_{j<m}::

      MMD^2_u = sum_{i != i'} k(x_i, x_i') / (n (n-1)) + sum_{j != j'} k(y_j, y_j') / (m (m-1))
                - 2 sum_{i, j} k(x_i, y_j) / (n m).

    The diagonal terms k(x_i, x_i) are excluded, which makes the estimator unbiased (and able
    to be slightly negative when the distributions agree).

    Args:
      features_x: [n, d] with n >= 2.
      features_y: [m, d] with m >= 2.

    Returns:
      The estimate as a Python float.

    Reference: Gretton et al. 2012, "A Kernel Two-Sample Test", Lemma 6 (eq. 3);
    Bińkowski et al. 2018, "Demystifying MMD GANs", §4 (https://arxiv.org/abs/1801.01401).
    """
    features_x = _as_matrix("features_x", features_x)
    features_y = _as_matrix("features_y", features_y)
    _check_kid_inputs(features_x, features_y)
    return _mmd_squared(features_x, features_y)


def _check_kid_inputs(features_x: np.ndarray, features_y: np.ndarray) -> None:
    if features_x.shape[1] != features_y.shape[1]:
        raise UserInputError(
            f"feature sets differ in width: {features_x.shape[1]} vs {features_y.shape[1]}."
        )
    if min(features_x.shape[0], features_y.shape[0]) < 2:
        raise UserInputError(
            "the unbiased MMD needs at least 2 samples in each set; got "
            f"{features_x.shape[0]} and {features_y.shape[0]}."
        )


def _mmd_squared(x: np.ndarray, y: np.ndarray) -> float:
    n, m = x.shape[0], y.shape[0]
    k_xx = _cubic_kernel(x, x)
    k_yy = _cubic_kernel(y, y)
    k_xy = _cubic_kernel(x, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within_x + within_y - 2.0 * k_xy.mean())


def kernel_inception_distance(
    features_real: Any,
    features_fake: Any,
    *,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased cubic-kernel MMD^2 averaged over random subsets.

    KID = (1/S) sum_s MMD^2_u(X_s, Y_s), where each X_s (Y_s) holds `subset_size` rows drawn
    without replacement from the real (fake) features, independently per subset, and MMD^2_u is
    `polynomial_mmd_squared` with k(x, y) = (x . y / d + 1)^3. `subset_size` is clipped to the
    smaller of the two sets. Unlike FID, the estimate is unbiased in the number of samples.

    Args:
      features_real: features of real data, [n_real, d].
      features_fake: features of generated samples, [n_fake, d].
      num_subsets: number S of random subsets, >= 1.
      subset_size: rows per subset (clipped to min(n_real, n_fake)); >= 2 after clipping.
      seed: seed of the NumPy generator choosing the subsets (the result is deterministic).

    Returns:
      (mean, std) over the subsets, Python floats; std is the population std (ddof=0) of the
      per-subset estimates, a spread rather than the standard error of the mean.

    Reference: Bińkowski et al. 2018, "Demystifying MMD GANs", §4
    (https://arxiv.org/abs/1801.01401).
    """
    features_real = _as_matrix("features_real", features_real)
    features_fake = _as_matrix("features_fake", features_fake)
    _check_kid_inputs(features_real, features_fake)
    if num_subsets < 1:
        raise UserInputError(f"num_subsets must be at least 1; got {num_subsets}.")
    subset_size = min(subset_size, features_real.shape[0], features_fake.shape[0])
    if subset_size < 2:
        raise UserInputError(f"subset_size must be at least 2; got {subset_size}.")
    rng = np.random.default_rng(seed)
    estimates = np.empty(num_subsets)
    for subset in range(num_subsets):
        real_rows = rng.choice(features_real.shape[0], subset_size, replace=False)
        fake_rows = rng.choice(features_fake.shape[0], subset_size, replace=False)
        estimates[subset] = _mmd_squared(features_real[real_rows], features_fake[fake_rows])
    return float(estimates.mean()), float(estimates.std())


# ----------------------------------------------------------------------------------------------
# Conditional generation and running an extractor.


def conditional_accuracy(logits: Any, labels: Any) -> float:
    """Share of conditional samples that the classifier assigns to their conditioning label.

    acc = (1/n) sum_i [argmax_k logits_ik == labels_i].

    Args:
      logits: classifier logits on samples generated for `labels`, [n, K].
      labels: integer conditioning labels, [n].

    Returns:
      Accuracy in [0, 1] as a Python float. Ties in the logits go to the lowest class index.

    Reference: Hu et al. 2017, "On Unifying Deep Generative Models", §5.1 (evaluation of
    conditional generation by a pretrained classifier; https://arxiv.org/abs/1706.00550).
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],) or logits.shape[0] == 0:
        raise UserInputError(
            f"logits must be [n, K] and labels [n] with n >= 1; got {logits.shape} and "
            f"{labels.shape}."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise UserInputError(f"labels must be integer class indices; got dtype {labels.dtype}.")
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def batched_features(
    extractor: Callable[[Any], tuple[Any, Any]],
    images: Any,
    *,
    batch_size: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """Applies a feature extractor in batches and concatenates its outputs as NumPy arrays.

    Every call gets exactly `batch_size` rows (or all rows when there are fewer), so a jitted
    extractor compiles once: the last, partial batch is padded by repeating its final row, and
    the padded rows are dropped from the output. Only one batch of outputs lives on the device
    at a time.

    Args:
      extractor: function images [b, ...] -> (logits [b, K], features [b, F]).
      images: NumPy or JAX array [n, ...] with n >= 1.
      batch_size: rows per call, >= 1.

    Returns:
      (logits [n, K], features [n, F]) as NumPy arrays in the extractor's dtypes.
    """
    if batch_size < 1:
        raise UserInputError(f"batch_size must be at least 1; got {batch_size}.")
    num_images = images.shape[0]
    if num_images == 0:
        raise UserInputError("images is empty; need at least one image to extract features.")
    call_size = min(batch_size, num_images)
    logits_parts, feature_parts = [], []
    for start in range(0, num_images, call_size):
        stop = min(start + call_size, num_images)
        if stop - start == call_size:
            batch = images[start:stop]
        else:
            batch = images[np.minimum(np.arange(start, start + call_size), num_images - 1)]
        outputs = extractor(batch)
        if not (isinstance(outputs, tuple | list) and len(outputs) == 2):
            raise UserInputError("the extractor must return a pair (logits, features).")
        batch_logits, batch_features = (np.asarray(output) for output in outputs)
        if batch_logits.shape[0] != call_size or batch_features.shape[0] != call_size:
            raise UserInputError(
                f"the extractor returned {batch_logits.shape[0]} logits and "
                f"{batch_features.shape[0]} features for a batch of {call_size} images."
            )
        logits_parts.append(batch_logits[: stop - start])
        feature_parts.append(batch_features[: stop - start])
    return np.concatenate(logits_parts), np.concatenate(feature_parts)


def contingency_table(predicted: Any, labels: Any) -> np.ndarray:
    """Counts [max predicted + 1, max label + 1]: entry (p, y) is how many examples were
    predicted p and labelled y (a confusion matrix, rows the predictions).

    Args:
      predicted: integer cluster ids (or predicted classes) [n].
      labels: integer true labels [n].
    """
    predicted = np.asarray(predicted)
    labels = np.asarray(labels)
    if predicted.ndim != 1 or labels.shape != predicted.shape or predicted.size == 0:
        raise UserInputError(
            f"predicted and labels must both be [n] with n >= 1; got {predicted.shape} and "
            f"{labels.shape}."
        )
    for name, values in (("predicted", predicted), ("labels", labels)):
        if not np.issubdtype(values.dtype, np.integer) or values.min() < 0:
            raise UserInputError(f"{name} must be non-negative integers; got {values.dtype}.")
    table = np.zeros((predicted.max() + 1, labels.max() + 1), np.int64)
    np.add.at(table, (predicted, labels), 1)
    return table


def best_matching(table: np.ndarray) -> dict[int, int]:
    """{cluster id: label} of the one-to-one matching that maximises the matched counts of a
    `contingency_table` (Hungarian algorithm, scipy.optimize.linear_sum_assignment); clusters
    left unmatched (more clusters than labels) are absent."""
    from scipy.optimize import linear_sum_assignment

    rows, columns = linear_sum_assignment(table, maximize=True)
    return {int(r): int(c) for r, c in zip(rows, columns, strict=True)}


def matched_accuracy(predicted: Any, labels: Any) -> float:
    """Accuracy of predicted cluster ids against labels under the best one-to-one matching.

    acc = max over injective maps m from cluster ids to labels of (1/n) sum_i [m(p_i) == y_i],
    found as a maximum-weight assignment on the contingency table (`best_matching`).
    Unmatched clusters (more clusters than labels) count as errors. The clustering accuracy
    used for codes learnt without labels: InfoGAN's categorical code (Chen et al. 2016, arXiv
    1606.03657, Section 7.1: about 5% error on MNIST).

    Args:
      predicted: integer cluster ids (or predicted classes) [n].
      labels: integer true labels [n].
    """
    table = contingency_table(predicted, labels)
    matched = sum(table[p, y] for p, y in best_matching(table).items())
    return float(matched / table.sum())
