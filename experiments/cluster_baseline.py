r"""The sanity baseline for a code learnt without labels: k-means on the pixels.

    python -m experiments.cluster_baseline --dataset=mnist70k --validation_fraction=0.1666666667

k-means (k = the dataset's number of classes; scikit-learn's `KMeans`: a k-means++ start, then
Lloyd's iterations; MacQueen 1967, Arthur & Vassilvitskii 2007) is fit on the training images,
those left after `--validation_fraction` is held out (as the studies' runs train on them), and
its clusters are scored on the `--split` images as InfoGAN's categorical code is: the accuracy
under the best one-to-one matching of clusters to labels (`sample_metrics.matched_accuracy`;
Chen et al. 2016, arXiv 1606.03657, Section 7.1). A code that does not beat it has learnt no
more about the classes than distance in pixel space does.

Prints one line a seed, then the mean ± std over seeds (std with n - 1); `--output=FILE` also
writes them as JSON.
"""

from __future__ import annotations

import time

import numpy as np
from absl import flags, logging

from experiments import _cli
from unigen_jax.errors import UserInputError

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "mnist70k", "labelled image dataset")
flags.DEFINE_float("validation_fraction", 0.0, "share of the training split held out, unused")
flags.DEFINE_enum("split", "test", ["test", "validation"], "the images the clusters are scored on")
flags.DEFINE_integer("seeds", 3, "k-means runs, seeds 0 .. seeds - 1")
flags.DEFINE_string("output", None, "also write the figures to this JSON file")
flags.DEFINE_string("data_dir", None, "TFDS data directory")


def images_and_labels(source) -> tuple[np.ndarray, np.ndarray]:
    """Every example of `source`: (images flattened to [n, d] float32, labels [n])."""
    everything = source.get(np.arange(len(source)))
    return everything["x"].reshape(len(source), -1).astype(np.float32), everything["label"]


def kmeans_matched_accuracy(train_x, test_x, test_labels, num_clusters: int, seed: int) -> float:
    """k-means with `num_clusters` fit on `train_x`; its clusters of `test_x` scored against
    `test_labels` under the best one-to-one matching."""
    from sklearn.cluster import KMeans

    from unigen_jax.eval import sample_metrics

    kmeans = KMeans(n_clusters=num_clusters, n_init=1, random_state=seed).fit(train_x)
    return float(sample_metrics.matched_accuracy(kmeans.predict(test_x), test_labels))


def main(argv):
    logging.set_verbosity(logging.WARNING)
    _cli.check_no_arguments(argv)
    if FLAGS.seeds <= 0:
        raise UserInputError(f"--seeds must be positive, got {FLAGS.seeds}")
    from unigen_jax import data

    train_source = data.get_source(FLAGS.dataset, "train", data_dir=FLAGS.data_dir)
    if not train_source.info.num_classes:  # every offline dataset has labels; a TFDS one may not
        raise UserInputError(
            f"{FLAGS.dataset} has no labels to score clusters against; choose a labelled "
            "dataset (mnist70k, mnist5k, digits)"
        )
    if FLAGS.validation_fraction:
        train_source, validation_source = data.holdout(train_source, FLAGS.validation_fraction)
    elif FLAGS.split == "validation":
        raise UserInputError("--split=validation needs a --validation_fraction to hold out")
    if FLAGS.split == "validation":
        scored_source = validation_source
    else:
        scored_source = data.get_source(FLAGS.dataset, "test", data_dir=FLAGS.data_dir)
    train_x, _ = images_and_labels(train_source)
    scored_x, scored_labels = images_and_labels(scored_source)
    k = train_source.info.num_classes
    print(
        f"k-means (k={k}) on the pixels of {len(train_x):,} {FLAGS.dataset} training images, "
        f"scored on {len(scored_x):,} {FLAGS.split} images (matched accuracy)"
    )
    accuracies = []
    for seed in range(FLAGS.seeds):
        started = time.perf_counter()
        accuracies.append(kmeans_matched_accuracy(train_x, scored_x, scored_labels, k, seed))
        print(f"seed {seed}: {accuracies[-1]:.4f} ({time.perf_counter() - started:.0f} s)")
    mean, std = _cli.mean_and_std(accuracies)
    print(f"mean ± std over {len(accuracies)} seeds: {mean:.4f} ± {std:.4f}")
    if FLAGS.output:
        report = {
            "baseline": "kmeans_pixels",
            "dataset": FLAGS.dataset,
            "validation_fraction": FLAGS.validation_fraction,
            "split": FLAGS.split,
            "num_clusters": k,
            "num_train": len(train_x),
            "num_scored": len(scored_x),
            "matched_accuracy": accuracies,
            "mean": mean,
            "std": std,
        }
        _cli.write_report(FLAGS.output, report)


if __name__ == "__main__":
    _cli.run(main)
