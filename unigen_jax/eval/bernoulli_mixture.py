"""A mixture of Bernoullis fit by EM: the sanity baseline of a likelihood on binary images.

Each image is a mixture of K products of independent Bernoulli pixels,
p(x) = sum_k pi_k prod_d mu_kd^x_d (1 - mu_kd)^(1 - x_d), fit by EM (Dempster, Laird & Rubin
1977; Bishop 2006, Section 9.3.3). Its log-likelihood is exact, so a latent-variable model
whose importance-sampled NLL, or whose lower bound, does not beat it on the same images has
learnt no more than a clustering of the pixels; K = 1 (every pixel independent) is what a model
whose decoder ignores its code reaches. Fit one mixture per class (`fit_and_score`'s
`conditional`) and it scores log p(x | y), a conditional model's baseline; its samples
(`sample_images`), scored by the project's classifier (`sample_scores`), are a floor for a
GAN's inception score and conditional accuracy.

The EM is the MAP variant with Laplace-smoothed pixel means, mu_kd = (sum_n r_nk x_nd + 1) /
(N_k + 2), and mixing weights pi_k = (N_k + 1) / (N + K), so no probability is 0 or 1 on unseen
images; each step increases the mean training log-likelihood plus `log_prior` over N. The
command is `experiments.likelihood_baseline`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def log_likelihoods(x: np.ndarray, log_weights: np.ndarray, means: np.ndarray) -> np.ndarray:
    """log p(x_n) of each row of binary `x` [n, d] under the mixture (log pi [k], mu [k, d])."""
    return logsumexp(_joint(x, log_weights, means), axis=1)


def _joint(x, log_weights, means):
    """log pi_k + log p(x_n | k), [n, k]: x . log(mu / (1 - mu)) + sum_d log(1 - mu)."""
    logit = np.log(means) - np.log1p(-means)
    per_component = x @ logit.T.astype(x.dtype) + np.sum(np.log1p(-means), axis=1)
    return per_component.astype(np.float64) + log_weights


def fit(x: np.ndarray, num_components: int, seed: int, max_iterations=200, tolerance=1e-3):
    """EM (MAP, see the module docstring) on binary `x` [n, d] from a seeded start; returns
    (log pi [k], mu [k, d], the objective per image, `log_prior` included, at the start and
    after each step, until a step gains less than `tolerance`)."""
    rng = np.random.default_rng(seed)
    n = len(x)
    # The start: each component halfway between a random image and the data's mean image.
    picked = x[rng.choice(n, size=num_components, replace=False)].astype(np.float64)
    means = np.clip(0.5 * picked + 0.5 * x.mean(axis=0), 0.01, 0.99)
    log_weights = np.full(num_components, -np.log(num_components))
    objective = []
    for _ in range(max_iterations):
        joint = _joint(x, log_weights, means)
        largest = joint.max(axis=1, keepdims=True)
        unnormalised = np.exp(joint - largest)
        total = unnormalised.sum(axis=1, keepdims=True)
        log_px = largest + np.log(total)  # log-sum-exp over components
        objective.append(float(np.mean(log_px)) + log_prior(log_weights, means) / n)
        if len(objective) > 1 and objective[-1] - objective[-2] < tolerance:
            break
        responsibilities = unnormalised / total
        counts = responsibilities.sum(axis=0)
        means = (responsibilities.T.astype(x.dtype) @ x + 1.0) / (counts[:, None] + 2.0)
        log_weights = np.log((counts + 1.0) / (n + num_components))
    return log_weights, means, objective


def log_prior(log_weights, means) -> float:
    """The log densities of the priors the EM's MAP estimate assumes, up to constants:
    Beta(2, 2) on every mu, Dirichlet(2, ..., 2) on pi. The EM increases the mean
    log-likelihood plus this over the number of images."""
    return float(np.sum(np.log(means) + np.log1p(-means)) + np.sum(log_weights))


def fit_and_score(
    train,
    scored: dict,
    num_components: int,
    seed: int,
    conditional=False,
    max_iterations=200,
    tolerance=1e-3,
):
    """Fits a K-component mixture to the `train` (images, labels) pair, one per class if
    `conditional`, and returns the mean NLL (nats) of each of `scored` {name: (images,
    labels)}: -log p(x), or -log p(x | y) under the mixture of the image's class; the EM
    steps taken (the most of any class); and the mixtures, {class or None: (log pi, mu)}."""
    train_x, train_labels = train
    classes = np.unique(train_labels) if conditional else [None]
    nll = {name: np.zeros(len(x)) for name, (x, _) in scored.items()}
    steps, mixtures = 0, {}
    for c in classes:
        fitted_on = train_x if c is None else train_x[train_labels == c]
        log_weights, means, objective = fit(
            fitted_on, num_components, seed, max_iterations, tolerance
        )
        steps, mixtures[c] = max(steps, len(objective)), (log_weights, means)
        for name, (x, labels) in scored.items():
            rows = slice(None) if c is None else labels == c
            nll[name][rows] = -log_likelihoods(x[rows], log_weights, means)
    return {name: float(np.mean(values)) for name, values in nll.items()}, steps, mixtures


def sample_images(mixtures: dict, num_images: int, seed: int, labels=None) -> np.ndarray:
    """Binary images [num_images, d] drawn from `mixtures` ({class or None: (log pi, mu)}):
    image i from the mixture of class labels[i], or from the one mixture (key None) if
    `labels` is None."""
    rng = np.random.default_rng(seed)
    width = next(iter(mixtures.values()))[1].shape[1]
    images = np.zeros((num_images, width), np.float32)
    for c, (log_weights, means) in mixtures.items():
        rows = np.arange(num_images) if c is None else np.flatnonzero(labels == c)
        weights = np.exp(log_weights) / np.exp(log_weights).sum()
        component = rng.choice(len(means), size=len(rows), p=weights)
        images[rows] = rng.uniform(size=(len(rows), width)) < means[component]
    return images


def sample_scores(mixtures: dict, classifier, shape, num_images: int, seed: int) -> dict:
    """The classifier's scores of the mixtures' samples, as `experiments.evaluate` scores a
    model's: the inception score (Salimans et al. 2016, arXiv 1606.03498), and for a mixture
    per class the share of images drawn for each label in turn that it classifies as that
    label (Hu et al. 2017, arXiv 1706.00550, Section 5.1: conditional accuracy)."""
    from unigen_jax.eval import sample_metrics

    conditional = None not in mixtures
    labels = np.arange(num_images) % len(mixtures) if conditional else None
    images = sample_images(mixtures, num_images, seed, labels).reshape(num_images, *shape)
    logits = sample_metrics.batched_features(classifier, images)[0]
    scores = {"inception_score": sample_metrics.inception_score(logits, num_splits=10)[0]}
    if conditional:
        scores["conditional_accuracy"] = float(np.mean(np.argmax(logits, -1) == labels))
    return scores
