r"""The sanity baseline for a likelihood on binary images: a mixture of Bernoullis.

    python -m experiments.likelihood_baseline --dataset=binarized_mnist70k \
        --validation_fraction=0.1666666667 --components=1,10,50,100,200

Each image is modelled as a mixture of K products of independent Bernoulli pixels,
p(x) = sum_k pi_k prod_d mu_kd^x_d (1 - mu_kd)^(1 - x_d), fit by EM (Dempster, Laird & Rubin
1977; Bishop 2006, Section 9.3.3) on the training images left after `--validation_fraction`
is held out and `--train_fraction` taken, the same images a study's runs train on
(`unigen_jax.data.training_sources`). Its test negative log-likelihood is exact (nats per
image), so a latent-variable model whose importance-sampled NLL, or whose lower bound, does not
beat it has learnt no more than a clustering of the pixels; K = 1 (every pixel independent) is
what a model whose decoder ignores its code can reach. `--conditional` fits one mixture per
class and scores -log p(x | y) under the image's class's mixture: the baseline of a
conditional model's bound (the CVAE's). `--classifier=DIR` also scores samples of each seed's
chosen mixture as `experiments.evaluate` scores a model's: their inception score, and with
`--conditional` the share of the images drawn for a label that are classified as it
(conditional accuracy): a floor for a GAN's scores from a model with no adversary, no network
and no training beyond EM.

The EM is the MAP variant with Laplace-smoothed pixel means, mu_kd = (sum_n r_nk x_nd + 1) /
(N_k + 2), and mixing weights pi_k = (N_k + 1) / (N + K), so no probability is 0 or 1 on
unseen images; each step increases the training log-likelihood plus those priors' log
densities. K is chosen per seed on the validation images (the highest mean log-likelihood);
the test NLL of that K is the baseline. Prints a line per seed and K, then the mean ± std of
the chosen test NLL over seeds (std with n - 1); `--output=FILE` also writes them as JSON.
"""

from __future__ import annotations

import time

import numpy as np
from absl import flags, logging
from scipy.special import logsumexp

from experiments import _cli
from unigen_jax.errors import UserInputError

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "binarized_mnist70k", "a dataset of binary images")
flags.DEFINE_float("validation_fraction", None, "share of the training split held out for K")
flags.DEFINE_float("train_fraction", 1.0, "class-balanced share of the rest to fit on")
flags.DEFINE_list("components", ["1", "10", "50", "100", "200"], "the K to choose among")
flags.DEFINE_integer("seeds", 3, "EM starts, seeds 0 .. seeds - 1")
flags.DEFINE_integer("max_iterations", 200, "EM steps at most")
flags.DEFINE_float("tolerance", 1e-3, "stop when a step gains less (nats per image)")
flags.DEFINE_boolean("conditional", False, "a mixture per class: the NLL of p(x | y)")
flags.DEFINE_string("classifier", None, "also score the chosen mixture's samples with it")
flags.DEFINE_integer("num_samples", 10_000, "samples scored by --classifier")
flags.DEFINE_string("output", None, "also write the figures to this JSON file")
flags.DEFINE_string("data_dir", None, "TFDS data directory")


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


def binary_images(source) -> tuple[np.ndarray, np.ndarray | None]:
    """Every image of `source` flattened to [n, d] float32, checked to be binary, and its
    labels (None if unlabelled)."""
    everything = source.get(np.arange(len(source)))
    x = everything["x"].reshape(len(source), -1).astype(np.float32)
    if not np.all((x == 0) | (x == 1)):
        raise UserInputError(
            f"{FLAGS.dataset} has pixels other than 0 and 1; a Bernoulli likelihood needs "
            "binary images (binarized_mnist70k, binarized_mnist5k, binarized_mnist)"
        )
    return x, everything.get("label")


def fit_and_score(train, scored: dict, num_components: int, seed: int, conditional=False):
    """Fits a K-component mixture to the `train` (images, labels) pair, one per class if
    `conditional`, and returns the mean NLL (nats) of each of `scored` {name: (images,
    labels)}: -log p(x), or -log p(x | y) under the mixture of the image's class; and the EM
    steps taken (the most of any class)."""
    train_x, train_labels = train
    classes = np.unique(train_labels) if conditional else [None]
    nll = {name: np.zeros(len(x)) for name, (x, _) in scored.items()}
    steps, mixtures = 0, {}
    for c in classes:
        fitted_on = train_x if c is None else train_x[train_labels == c]
        log_weights, means, objective = fit(
            fitted_on, num_components, seed, FLAGS.max_iterations, FLAGS.tolerance
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
    model's: the inception score (Salimans et al. 2016), and for a mixture per class the share
    of images drawn for each label in turn that it classifies as that label (Hu et al. 2017,
    Section 5.1: conditional accuracy)."""
    from unigen_jax.eval import sample_metrics

    conditional = None not in mixtures
    labels = np.arange(num_images) % len(mixtures) if conditional else None
    images = sample_images(mixtures, num_images, seed, labels).reshape(num_images, *shape)
    logits = sample_metrics.batched_features(classifier, images)[0]
    scores = {"inception_score": sample_metrics.inception_score(logits, num_splits=10)[0]}
    if conditional:
        scores["conditional_accuracy"] = float(np.mean(np.argmax(logits, -1) == labels))
    return scores


def _components() -> list[int]:
    try:
        values = [int(k) for k in FLAGS.components]
    except ValueError:
        raise UserInputError(f"--components must be integers, got {FLAGS.components}") from None
    if not values or min(values) <= 0:
        raise UserInputError(f"--components must be positive integers, got {FLAGS.components}")
    return values


def main(argv):
    logging.set_verbosity(logging.WARNING)
    _cli.check_no_arguments(argv)
    components = _components()
    if FLAGS.seeds <= 0:
        raise UserInputError(f"--seeds must be positive, got {FLAGS.seeds}")
    if not FLAGS.validation_fraction:
        raise UserInputError("--validation_fraction is required: K is chosen on held-out images")
    from unigen_jax import data

    classifier = None
    if FLAGS.classifier:
        from unigen_jax.eval import classifier as classifiers

        classifier = classifiers.load_classifier(FLAGS.classifier)
    source = data.get_source(FLAGS.dataset, "train", data_dir=FLAGS.data_dir)
    # The digits' classifier scores their binarised samples too (grey or binary training data).
    if classifier is not None and tuple(classifier.metadata["shape"]) != source.info.shape:
        raise UserInputError(
            f"--classifier was trained on {tuple(classifier.metadata['shape'])} images, "
            f"{FLAGS.dataset}'s are {source.info.shape}; give a classifier of these images"
        )
    if FLAGS.conditional and not source.info.num_classes:
        raise UserInputError(f"--conditional needs labels, and {FLAGS.dataset} has none")
    train_source, validation_source = data.training_sources(
        source,
        train_fraction=FLAGS.train_fraction,
        validation_fraction=FLAGS.validation_fraction,
    )
    train = binary_images(train_source)
    smallest = np.bincount(train[1]).min() if FLAGS.conditional else len(train[0])
    if max(components) > smallest:
        what = "images of the rarest class" if FLAGS.conditional else "training images"
        raise UserInputError(
            f"--components asks for {max(components)} components of {smallest} {what}; use at "
            "most as many components as images"
        )
    scored = {
        "validation": binary_images(validation_source),
        "test": binary_images(data.get_source(FLAGS.dataset, "test", data_dir=FLAGS.data_dir)),
    }
    likelihood = "p(x | y), a mixture per class" if FLAGS.conditional else "p(x)"
    print(
        f"mixtures of Bernoullis (K in {components}) fit by EM on {len(train[0]):,} "
        f"{FLAGS.dataset} training images, K chosen on {len(scored['validation'][0]):,} "
        f"validation images, NLL of {likelihood} (nats) on {len(scored['test'][0]):,} test images"
    )
    runs, chosen = [], []
    for seed in range(FLAGS.seeds):
        per_k = []
        for k in components:
            started = time.perf_counter()
            nll, steps, mixtures = fit_and_score(
                train, {"train": train, **scored}, k, seed, FLAGS.conditional
            )
            run = {"seed": seed, "components": k, "iterations": steps}
            run.update({f"{name}_nll": value for name, value in nll.items()})
            per_k.append((run, mixtures))
            print(
                f"seed {seed} K={k}: train {run['train_nll']:.2f}, validation "
                f"{run['validation_nll']:.2f}, test {run['test_nll']:.2f} nats "
                f"({steps} EM steps, {time.perf_counter() - started:.0f} s)"
            )
        runs += [run for run, _ in per_k]
        best, mixtures = min(per_k, key=lambda pair: pair[0]["validation_nll"])
        if classifier is not None:
            best["samples"] = sample_scores(
                mixtures, classifier, source.info.shape, FLAGS.num_samples, seed
            )
            print(f"seed {seed} K={best['components']}, its samples: {best['samples']}")
        chosen.append(best)
    test_nll = [r["test_nll"] for r in chosen]
    mean, std = _cli.mean_and_std(test_nll)
    print(
        f"chosen on validation: K = {', '.join(str(r['components']) for r in chosen)}; "
        f"test NLL mean ± std over {len(test_nll)} seeds: {mean:.2f} ± {std:.2f}"
    )
    if FLAGS.output:
        report = {
            "baseline": "bernoulli_mixture",
            "dataset": FLAGS.dataset,
            "conditional": FLAGS.conditional,
            "validation_fraction": FLAGS.validation_fraction,
            "train_fraction": FLAGS.train_fraction,
            "num_train": len(train[0]),
            "num_validation": len(scored["validation"][0]),
            "num_test": len(scored["test"][0]),
            "runs": runs,
            "chosen_components": [r["components"] for r in chosen],
            **({"classifier": FLAGS.classifier} if classifier is not None else {}),
            "test_nll": test_nll,
            "mean": mean,
            "std": std,
        }
        _cli.write_report(FLAGS.output, report)


if __name__ == "__main__":
    _cli.run(main)
