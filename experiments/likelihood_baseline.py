r"""The sanity baseline for a likelihood on binary images: a mixture of Bernoullis.

    python -m experiments.likelihood_baseline --dataset=binarized_mnist70k \
        --validation_fraction=0.1666666667 --components=1,10,50,100,200

A mixture of K Bernoulli products (`unigen_jax.eval.bernoulli_mixture`, where the math and
its EM are) is fit on the training images left after `--validation_fraction` is held out and
`--train_fraction` taken, the same images a study's runs train on
(`unigen_jax.data.training_sources`), and its exact NLL (nats per image) is the sanity row a
latent-variable model's NLL or bound must beat. `--conditional` fits one mixture per class and
scores -log p(x | y): the baseline of a conditional model's bound (the CVAE's).
`--classifier=DIR` also scores samples of each seed's chosen mixture as `experiments.evaluate`
scores a model's: their inception score, and with `--conditional` the share of the images drawn
for a label that are classified as it (conditional accuracy): a floor for a GAN's scores from
a model with no adversary, no network and no training beyond EM.

K is chosen on the validation images with seed 0 (the highest mean log-likelihood), as the
studies choose a hyperparameter; the other seeds (EM's starts) fit that K, and the mean test
NLL over seeds is the baseline. Prints a line per seed and K, then the mean ± std of
the chosen test NLL over seeds (std with n - 1); `--output=FILE` also writes them as JSON.
"""

from __future__ import annotations

import time

import numpy as np
from absl import flags, logging

from experiments import _cli
from unigen_jax.errors import UserInputError
from unigen_jax.eval.bernoulli_mixture import fit_and_score, sample_scores

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


def _components() -> list[int]:
    try:
        values = [int(k) for k in FLAGS.components]
    except ValueError:
        raise UserInputError(f"--components must be integers, got {FLAGS.components}") from None
    if not values or min(values) <= 0:
        raise UserInputError(f"--components must be positive integers, got {FLAGS.components}")
    return values


def fit_one(train, scored, num_components: int, seed: int):
    """Fits one mixture (per class if --conditional) and scores it; its figures and mixtures."""
    started = time.perf_counter()
    nll, steps, mixtures = fit_and_score(
        train,
        {"train": train, **scored},
        num_components,
        seed,
        FLAGS.conditional,
        FLAGS.max_iterations,
        FLAGS.tolerance,
    )
    run = {"seed": seed, "components": num_components, "iterations": steps}
    run.update({f"{name}_nll": value for name, value in nll.items()})
    print(
        f"seed {seed} K={num_components}: train {run['train_nll']:.2f}, validation "
        f"{run['validation_nll']:.2f}, test {run['test_nll']:.2f} nats "
        f"({steps} EM steps, {time.perf_counter() - started:.0f} s)"
    )
    return run, mixtures


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
    runs, chosen, candidates = [], [], components
    for seed in range(FLAGS.seeds):
        # As the studies choose a hyperparameter: every K on seed 0, the chosen one after.
        per_k = [fit_one(train, scored, k, seed) for k in candidates]
        runs += [run for run, _ in per_k]
        best, mixtures = min(per_k, key=lambda pair: pair[0]["validation_nll"])
        best_k = best["components"]
        candidates = [best_k]
        if classifier is not None:
            best["samples"] = sample_scores(
                mixtures, classifier, source.info.shape, FLAGS.num_samples, seed
            )
            print(f"seed {seed} K={best_k}, its samples: {best['samples']}")
        chosen.append(best)
    test_nll = [r["test_nll"] for r in chosen]
    mean, std = _cli.mean_and_std(test_nll)
    print(
        f"chosen on validation (seed 0): K = {best_k}; "
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
            "chosen_components": best_k,
            **({"classifier": FLAGS.classifier} if classifier is not None else {}),
            "test_nll": test_nll,
            "mean": mean,
            "std": std,
        }
        _cli.write_report(FLAGS.output, report)


if __name__ == "__main__":
    _cli.run(main)
