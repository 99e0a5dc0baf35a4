"""Sample metrics pinned to closed forms and to independent computations.

The independent references (scipy's `sqrtm`, the entropy form of the Inception score, a
double-loop MMD) live only here, never in the library.
"""

import itertools

import numpy as np
import pytest
import scipy.linalg
import scipy.special

from unigen_jax.errors import UserInputError
from unigen_jax.eval.sample_metrics import (
    FeatureStatistics,
    batched_features,
    best_matching,
    conditional_accuracy,
    contingency_table,
    fid,
    frechet_distance,
    gaussian_statistics,
    inception_score,
    kernel_inception_distance,
    matched_accuracy,
    polynomial_mmd_squared,
)


def _random_covariance(rng, dim, rank=None):
    factor = rng.normal(size=(dim, rank or dim))
    return factor @ factor.T / dim + (0.0 if rank else 0.1) * np.eye(dim)


def _closed_form_fid_sqrtm(mean1, cov1, mean2, cov2):
    """Reference: the Dowson-Landau closed form with scipy's general matrix square root."""
    root = scipy.linalg.sqrtm(cov1 @ cov2)
    return float(
        np.sum((mean1 - mean2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(root).real
    )


# ----------------------------------------------------------------------------------------------
# Inception score.


@pytest.mark.parametrize("scale", [50.0, 1000.0])
def test_inception_score_is_number_of_classes_for_confident_uniform_predictions(scale):
    num_classes, num_splits = 5, 4
    labels = np.arange(num_splits * 2 * num_classes) % num_classes  # each split: 2 of each class
    logits = scale * np.eye(num_classes)[labels]
    mean, std = inception_score(logits, num_splits=num_splits)
    np.testing.assert_allclose(mean, num_classes, rtol=1e-12)
    assert std < 1e-12


def test_inception_score_is_one_for_a_constant_prediction():
    logits = np.tile(np.array([[0.3, -1.2, 2.0, 0.1]]), (12, 1))
    mean, std = inception_score(logits, num_splits=3)
    np.testing.assert_allclose(mean, 1.0, atol=1e-12)
    assert std < 1e-12


def _inception_score_by_entropies(logits, num_splits):
    """exp(E KL(p(y|x) || p(y))) = exp(H(p(y)) - E H(p(y|x))), from scipy's softmax."""
    probs = scipy.special.softmax(logits.astype(np.float64), axis=1)
    n = len(probs)
    scores = []
    for s in range(num_splits):
        part = probs[s * n // num_splits : (s + 1) * n // num_splits]
        marginal = part.mean(axis=0)
        marginal_entropy = -np.sum(marginal * np.log(marginal))
        mean_conditional_entropy = -np.mean(np.sum(part * np.log(part), axis=1))
        scores.append(np.exp(marginal_entropy - mean_conditional_entropy))
    return np.mean(scores), np.std(scores)


@pytest.mark.parametrize("num_samples,num_splits", [(50, 1), (103, 10)])
def test_inception_score_matches_entropy_form(num_samples, num_splits):
    logits = 3.0 * np.random.default_rng(0).normal(size=(num_samples, 7)).astype(np.float32)
    got = inception_score(logits, num_splits=num_splits)
    np.testing.assert_allclose(got, _inception_score_by_entropies(logits, num_splits), rtol=1e-10)
    assert 1.0 < got[0] < 7.0


def test_inception_score_rejects_more_splits_than_samples():
    with pytest.raises(ValueError, match="num_splits"):
        inception_score(np.zeros((5, 3)), num_splits=6)


# ----------------------------------------------------------------------------------------------
# Statistics and FID.


def test_gaussian_statistics_matches_numpy_cov_and_streaming_matches_one_shot():
    rng = np.random.default_rng(1)
    # A large common offset: raw-sum accumulation would lose most digits of the covariance.
    features = 1e4 + rng.normal(size=(57, 6)).astype(np.float32) @ rng.normal(size=(6, 6))
    mean, cov = gaussian_statistics(features)
    np.testing.assert_allclose(mean, features.astype(np.float64).mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(cov, np.cov(features.astype(np.float64), rowvar=False), rtol=1e-9)
    assert mean.dtype == cov.dtype == np.float64

    stats = FeatureStatistics()
    for start, stop in [(0, 1), (1, 11), (11, 11), (11, 40), (40, 57)]:
        stats.update(features[start:stop])
    stream_mean, stream_cov = stats.result()
    assert stats.count == 57
    np.testing.assert_allclose(stream_mean, mean, rtol=1e-13)
    np.testing.assert_allclose(stream_cov, cov, rtol=1e-9, atol=1e-9 * np.abs(cov).max())


def test_feature_statistics_needs_two_samples():
    stats = FeatureStatistics()
    stats.update(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        stats.result()


def test_fid_of_a_set_with_itself_is_zero():
    rng = np.random.default_rng(2)
    features = 5.0 * rng.normal(size=(200, 16)) @ rng.normal(size=(16, 16))
    _, cov = gaussian_statistics(features)
    assert abs(fid(features, features)) <= 1e-6 * np.trace(cov)


@pytest.mark.parametrize("dim", [2, 9])
def test_frechet_distance_matches_sqrtm_closed_form_for_non_commuting_covariances(dim):
    rng = np.random.default_rng(dim)
    mean1, mean2 = rng.normal(size=dim), rng.normal(size=dim)
    cov1, cov2 = _random_covariance(rng, dim), _random_covariance(rng, dim)
    assert not np.allclose(cov1 @ cov2, cov2 @ cov1, atol=1e-3)
    got = frechet_distance(mean1, cov1, mean2, cov2)
    np.testing.assert_allclose(got, _closed_form_fid_sqrtm(mean1, cov1, mean2, cov2), rtol=1e-9)
    np.testing.assert_allclose(got, frechet_distance(mean2, cov2, mean1, cov1), rtol=1e-10)


def test_frechet_distance_of_singular_diagonal_covariances():
    # Commuting diagonal covariances: d^2 = ||m1 - m2||^2 + sum_j (sqrt(a_j) - sqrt(b_j))^2,
    # here with zero variances that make both covariances singular.
    variances1 = np.array([0.0, 1.0, 4.0, 0.0])
    variances2 = np.array([0.0, 9.0, 0.25, 2.0])
    mean1, mean2 = np.array([1.0, 0.0, 2.0, -1.0]), np.array([0.0, 0.5, 2.0, 1.0])
    expected = np.sum((mean1 - mean2) ** 2) + np.sum(
        (np.sqrt(variances1) - np.sqrt(variances2)) ** 2
    )
    got = frechet_distance(mean1, np.diag(variances1), mean2, np.diag(variances2))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_fid_from_samples_converges_to_closed_form():
    rng = np.random.default_rng(3)
    dim, num_samples = 3, 40_000
    mean1, mean2 = np.zeros(dim), np.array([1.0, -0.5, 0.0])
    cov1, cov2 = _random_covariance(rng, dim), _random_covariance(rng, dim)
    samples1 = rng.multivariate_normal(mean1, cov1, size=num_samples)
    samples2 = rng.multivariate_normal(mean2, cov2, size=num_samples)
    expected = _closed_form_fid_sqrtm(mean1, cov1, mean2, cov2)
    np.testing.assert_allclose(fid(samples1, samples2), expected, rtol=0.05)


def test_fid_is_symmetric_and_invariant_to_a_common_rotation_and_shift():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(300, 8)) @ rng.normal(size=(8, 8))
    fake = 0.5 + rng.normal(size=(250, 8)) @ rng.normal(size=(8, 8))
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    shift = rng.normal(size=8)
    base = fid(real, fake)
    assert base > 1.0
    np.testing.assert_allclose(fid(fake, real), base, rtol=1e-10)
    np.testing.assert_allclose(
        fid(real @ rotation + shift, fake @ rotation + shift), base, rtol=1e-9
    )


# ----------------------------------------------------------------------------------------------
# KID.


def _brute_force_unbiased_mmd(x, y):
    def kernel(a, b):
        return (np.dot(a, b) / len(a) + 1.0) ** 3

    n, m = len(x), len(y)
    xx = sum(kernel(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(kernel(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def test_unbiased_mmd_matches_double_loop():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(7, 3)), 0.3 + rng.normal(size=(5, 3))
    np.testing.assert_allclose(
        polynomial_mmd_squared(x, y), _brute_force_unbiased_mmd(x, y), rtol=1e-12
    )


def test_kid_with_whole_sets_as_subsets_equals_unbiased_mmd():
    # subset_size is clipped to 6, so every subset is a permutation of the whole sets.
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(6, 4)), 0.5 + rng.normal(size=(6, 4))
    mean, std = kernel_inception_distance(real, fake, num_subsets=3)
    np.testing.assert_allclose(mean, _brute_force_unbiased_mmd(real, fake), rtol=1e-12)
    assert std < 1e-12


def test_kid_is_near_zero_for_one_distribution_and_positive_for_shifted():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(400, 4))
    same = rng.normal(size=(400, 4))
    shifted = 0.5 + rng.normal(size=(400, 4))
    kwargs = dict(num_subsets=20, subset_size=200, seed=0)
    same_mean, same_std = kernel_inception_distance(real, same, **kwargs)
    shifted_mean, shifted_std = kernel_inception_distance(real, shifted, **kwargs)
    assert abs(same_mean) < 3 * same_std
    # The per-subset spread of the cubic kernel's estimate is wide; the gap is still clear.
    assert shifted_mean > 5 * shifted_std
    assert shifted_mean > 20 * abs(same_mean)
    assert kernel_inception_distance(real, shifted, **kwargs) == (shifted_mean, shifted_std)


# ----------------------------------------------------------------------------------------------
# Conditional accuracy and batched extraction.


def test_conditional_accuracy_on_hand_built_case():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 3.0], [0.1, 0.2, 0.0], [5.0, 4.0, 6.0]])
    # argmax: 0, 2, 1, 2; three of four labels agree.
    assert conditional_accuracy(logits, np.array([0, 2, 1, 0])) == 0.75
    with pytest.raises(ValueError, match="labels"):
        conditional_accuracy(logits, np.array([0, 2, 1]))


def test_batched_features_equals_one_shot_and_calls_with_fixed_batch_size():
    rng = np.random.default_rng(8)
    images = rng.normal(size=(23, 2, 3)).astype(np.float32)
    weights = rng.normal(size=(6, 4)).astype(np.float32)
    call_sizes = []

    def extractor(batch):
        call_sizes.append(batch.shape[0])
        features = batch.reshape(batch.shape[0], -1)
        return features @ weights, np.tanh(features)

    logits, features = batched_features(extractor, images, batch_size=10)
    assert call_sizes == [10, 10, 10]
    expected_logits, expected_features = extractor(images)
    np.testing.assert_allclose(logits, expected_logits, rtol=1e-6)
    np.testing.assert_array_equal(features, expected_features)


@pytest.mark.parametrize("clusters,classes", [(4, 4), (5, 3), (3, 5)])
def test_matched_accuracy_equals_the_best_permutation_by_brute_force(clusters, classes):
    rng = np.random.default_rng(clusters * 10 + classes)
    labels = rng.integers(0, classes, size=60)
    # Mostly a relabelling of the truth, with noise, so the best map is not the identity.
    predicted = np.where(
        rng.random(60) < 0.7, (labels + 1) % clusters, rng.integers(0, clusters, size=60)
    )
    best = 0.0
    for assignment in itertools.permutations(range(max(clusters, classes)), clusters):
        mapped = np.array(assignment)[predicted]  # cluster -> label (ids >= classes never hit)
        best = max(best, float(np.mean(mapped == labels)))
    assert matched_accuracy(predicted, labels) == pytest.approx(best)
    assert matched_accuracy(labels, labels) == 1.0
    with pytest.raises(UserInputError, match="non-negative integers"):
        matched_accuracy(predicted - 5, labels)


def test_contingency_table_is_sklearns_confusion_matrix_with_predictions_as_rows():
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(7)
    labels, predicted = rng.integers(0, 4, size=50), rng.integers(0, 6, size=50)
    expected = confusion_matrix(labels, predicted, labels=range(6)).T[:, :4]
    np.testing.assert_array_equal(contingency_table(predicted, labels), expected)


def test_best_matching_maps_each_cluster_to_the_label_it_mostly_holds():
    # Clusters 0, 1, 2 hold mostly labels 2, 0, 1; cluster 3 is the smallest and stays
    # unmatched (4 clusters, 3 labels).
    table = np.array([[1, 0, 9], [8, 1, 0], [0, 7, 2], [3, 3, 3]])
    assert best_matching(table) == {0: 2, 1: 0, 2: 1}
