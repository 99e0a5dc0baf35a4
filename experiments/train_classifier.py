r"""Trains a domain classifier, the feature extractor of the sample-quality scores.

    python -m experiments.train_classifier --dataset=mnist5k --workdir=runs/classifier_mnist5k

Writes `classifier.json` (dataset, test accuracy, the classifier's own inception score on the
real test set, as Hu et al. 2017 §5.1 report 9.09 on MNIST) and the params under --workdir;
`experiments.evaluate --classifier=DIR` loads it.
"""

from __future__ import annotations

import json
import os

from absl import flags, logging

from experiments import _cli
from unigen_jax.errors import UserInputError

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "mnist5k", "labelled image dataset")
flags.DEFINE_string("workdir", None, "folder for the classifier (params + classifier.json)")
flags.DEFINE_integer("steps", 3000, "training steps")
flags.DEFINE_integer("batch_size", 128, "batch size")
flags.DEFINE_integer("seed", 0, "seed")
flags.DEFINE_string("data_dir", None, "TFDS data directory")


def main(argv):
    logging.set_verbosity(logging.WARNING)
    _cli.check_no_arguments(argv)
    if not FLAGS.workdir:
        raise UserInputError("--workdir is required: the folder to save the classifier in")
    for name in ("steps", "batch_size"):
        if FLAGS[name].value <= 0:
            raise UserInputError(f"--{name} must be positive, got {FLAGS[name].value}")
    from unigen_jax import data
    from unigen_jax.eval import classifier as classifiers
    from unigen_jax.eval import sample_metrics

    train_source = data.get_source(FLAGS.dataset, "train", data_dir=FLAGS.data_dir)
    test_source = data.get_source(FLAGS.dataset, "test", data_dir=FLAGS.data_dir)
    trained = classifiers.train_classifier(
        train_source,
        test_source,
        steps=FLAGS.steps,
        batch_size=FLAGS.batch_size,
        seed=FLAGS.seed,
    )
    if not trained.per_channel:
        test_images = test_source.get(range(len(test_source)))["x"]
        logits, _ = sample_metrics.batched_features(trained, test_images)
        score, spread = sample_metrics.inception_score(classifiers.shuffled(logits), num_splits=10)
        trained.metadata["test_inception_score"] = [float(score), float(spread)]
    classifiers.save_classifier(trained, FLAGS.workdir)
    print(json.dumps({k: trained.metadata[k] for k in sorted(trained.metadata)}, indent=1))
    print(f"saved to {os.path.abspath(FLAGS.workdir)}")


if __name__ == "__main__":
    _cli.run(main)
