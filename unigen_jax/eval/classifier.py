"""The project's own domain classifiers: the feature extractors of every sample-quality score.

No Inception network can be downloaded here, so, as Hu et al. (2017) do (arXiv 1706.00550
§5.1) and TF-GAN's `mnist_score`, each dataset gets a small convolutional classifier trained by
the project. A feature extractor is any function `images [n, H, W, C] -> (logits [n, K],
features [n, F])`; `TrainedClassifier` is one, and a user with local Inception weights can pass
their own function to the metrics instead.

For `stacked_mnist` (three digits as the RGB channels) the classifier is a digit classifier
applied to each channel: logits [n, 3, 10] and the three feature vectors concatenated.

`cached_classifier` keeps one classifier per dataset in a per-user cache,
`~/.cache/unigen_jax/classifiers/DATASET` (the folder is `$UNIGEN_JAX_CLASSIFIERS` when set),
training it with `experiments.train_classifier`'s defaults the first time it is asked for.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

from unigen_jax.errors import UserInputError
from unigen_jax.eval.sample_metrics import batched_features, inception_score
from unigen_jax.train import settings

METADATA = "classifier.json"
PARAMS = "params"
MAX_SHIFT = 2  # random translations of up to 2 pixels: the usual MNIST augmentation
CACHE_ENV = "UNIGEN_JAX_CLASSIFIERS"  # the cache folder, instead of ~/.cache/...
DEFAULT_STEPS = 3000  # train_classifier's defaults (and experiments.train_classifier's)
DEFAULT_BATCH_SIZE = 128


class ConvClassifier(nn.Module):
    """x [n, H, W, C] in [0, 1] -> (logits [n, num_classes], features [n, features]).

    Four 3x3 convolutions (16, 32 stride 2, 32, 64 stride 2) with ReLU, flattened (spatial
    layout matters for digits: global average pooling here lost 3.2 points of mnist5k test
    accuracy), a dense feature layer (the space FID and KID are measured in), dropout, logits.
    """

    num_classes: int
    features: int = 128
    dropout: float = 0.3

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        x = 2.0 * x - 1.0
        for channels, stride in ((16, 1), (32, 2), (32, 1), (64, 2)):
            x = nn.relu(nn.Conv(channels, (3, 3), strides=stride)(x))
        x = x.reshape(x.shape[0], -1)
        features = nn.relu(nn.Dense(self.features, name="features")(x))
        hidden = nn.Dropout(self.dropout, deterministic=not train)(features)
        return nn.Dense(self.num_classes, name="logits")(hidden), features


def shuffled(array, seed: int = 0):
    """A fixed permutation of `array`'s rows. The inception score's splits are contiguous
    (Salimans et al.), so predictions of class-ordered data (mnist5k's test split) must be
    shuffled first, or each split holds one class and the score collapses towards 1."""
    return array[np.random.default_rng(seed).permutation(len(array))]


def _channel_images(x):
    """[n, H, W, C] -> [C n, H, W, 1]: channel c of example i becomes image C i + c."""
    n, h, w, c = x.shape
    return np.moveaxis(x, -1, 1).reshape(n * c, h, w, 1)


def _channel_digits(labels):
    """stacked_mnist's labels 100 d0 + 10 d1 + d2 [n] -> the digits, in _channel_images' order."""
    digits = np.stack([labels // 100, labels // 10 % 10, labels % 10], axis=1).reshape(-1)
    return digits.astype(np.int32)


def _split_channels(x, labels):
    """stacked_mnist: [n, H, W, 3] with labels 100 d0 + 10 d1 + d2 -> [3n, H, W, 1], digits."""
    return _channel_images(x), _channel_digits(labels)


def _random_shift(key, images):
    """Translates each image by up to MAX_SHIFT pixels (zero padding)."""
    n, h, w, _ = images.shape
    padded = jnp.pad(images, ((0, 0), (MAX_SHIFT, MAX_SHIFT), (MAX_SHIFT, MAX_SHIFT), (0, 0)))
    offsets = jax.random.randint(key, (n, 2), 0, 2 * MAX_SHIFT + 1)

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, image.shape[-1]))

    return jax.vmap(crop)(padded, offsets)


@dataclasses.dataclass
class TrainedClassifier:
    """A trained classifier used as a feature extractor: `(logits, features) = c(images)`."""

    module: ConvClassifier
    params: dict
    metadata: dict

    def __post_init__(self):
        self._apply = jax.jit(lambda p, x: self.module.apply({"params": p}, x))

    @property
    def per_channel(self) -> bool:
        return bool(self.metadata["per_channel"])

    def __call__(self, images):
        images = np.asarray(images, np.float32)
        if self.per_channel:
            n, c = images.shape[0], images.shape[-1]
            logits, features = self._apply(self.params, _channel_images(images))
            return np.asarray(logits).reshape(n, c, -1), np.asarray(features).reshape(n, -1)
        logits, features = self._apply(self.params, images)
        return np.asarray(logits), np.asarray(features)

    def features_of_real(self, images) -> tuple[np.ndarray, np.ndarray]:
        """`batched_features(self, images)` for real data, classifying each distinct image
        once (the same logits and features: the network reads one image at a time).

        Stacked MNIST's triples are drawn from a base split, so a per-channel classifier sees
        its base digits over and over: mnist5k's 10,000 test triples hold 500 distinct digits,
        classified 500 times instead of 30,000. Other real data have few repeats and pay one
        sort of their rows.
        """
        images = np.asarray(images, np.float32)
        n, c = images.shape[0], images.shape[-1]
        if self.per_channel:  # each channel an image of its own
            images = _channel_images(images)
        rows = np.ascontiguousarray(images).reshape(len(images), -1)
        rows = rows.view(np.dtype((np.void, rows.shape[1] * rows.itemsize))).ravel()
        _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
        logits, features = batched_features(lambda x: self._apply(self.params, x), images[first])
        logits, features = logits[inverse.ravel()], features[inverse.ravel()]
        if self.per_channel:
            return logits.reshape(n, c, -1), features.reshape(n, -1)
        return logits, features

    def check_compatible(self, dataset: str, shape) -> None:
        """A classifier trained on another dataset or image shape gives meaningless scores."""
        if self.metadata["dataset"] != dataset or tuple(self.metadata["shape"]) != tuple(shape):
            raise UserInputError(
                f"the classifier was trained on {self.metadata['dataset']} "
                f"{tuple(self.metadata['shape'])}, not {dataset} {tuple(shape)}; train one with "
                f"`python -m experiments.train_classifier --dataset={dataset} --workdir=DIR`"
            )


def train_classifier(
    train_source,
    test_source,
    *,
    steps=DEFAULT_STEPS,
    batch_size=DEFAULT_BATCH_SIZE,
    seed=0,
    learning_rate=1e-3,
    log=print,
) -> TrainedClassifier:
    """Trains a `ConvClassifier` on a labelled image dataset; reports its test accuracy.

    Adam with a cosine learning-rate decay, random shifts of up to 2 pixels, dropout 0.3.
    """
    info = train_source.info
    if info.kind != "image" or info.num_classes == 0:
        raise UserInputError(
            f"dataset {info.name!r} has no image labels to train a classifier on; classifiers "
            "are for labelled image datasets (2-D mixtures are scored without one)"
        )
    per_channel = info.name == "stacked_mnist"
    num_classes = 10 if per_channel else info.num_classes
    # Training batches are read from the source step by step, not the whole split into memory
    # first (stacked MNIST's 50,000 triples are 470 MB of float32). A per-channel classifier
    # draws from the 3 n channel images (row 3 i + c: channel c of example i).
    channels = 3 if per_channel else 1
    num_rows = channels * len(train_source)

    def training_batch(rows):
        examples = train_source.get(rows // channels)
        if not per_channel:
            return examples["x"], examples["label"]
        x, y = _split_channels(examples["x"], examples["label"])
        picked = channels * np.arange(len(rows)) + rows % channels
        return x[picked], y[picked]

    module = ConvClassifier(num_classes=num_classes)
    key = jax.random.PRNGKey(seed)
    # One program (eagerly, each initializer of each shape would compile its own).
    example = training_batch(np.zeros(1, np.int64))[0]
    params = settings.jit_run_once(module.init)(jax.random.fold_in(key, 0), example)["params"]
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, images, labels, step_key):
        shift_key, dropout_key = jax.random.split(step_key)
        images = _random_shift(shift_key, images)

        def loss_fn(p):
            logits, _ = module.apply(
                {"params": p}, images, train=True, rngs={"dropout": dropout_key}
            )
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for i in range(steps):
        images, labels = training_batch(rng.integers(0, num_rows, batch_size))
        params, opt_state, loss = step(
            params, opt_state, images, labels, jax.random.fold_in(key, i + 1)
        )
        if (i + 1) % max(steps // 10, 1) == 0:
            log(
                f"step {i + 1}/{steps}  loss={float(loss):.4f}  "
                f"{(i + 1) / (time.perf_counter() - start):.1f} steps/s"
            )

    metadata = {
        "dataset": info.name,
        "shape": list(info.shape),
        "num_classes": num_classes,
        "per_channel": per_channel,
        "features": module.features,
        "steps": steps,
        "batch_size": batch_size,
        "seed": seed,
    }
    classifier = TrainedClassifier(module, params, metadata)
    test = test_source.get(np.arange(len(test_source)))
    logits, _ = classifier.features_of_real(test["x"])  # per channel: [n, 3, 10]
    truth = _channel_digits(test["label"]) if per_channel else test["label"]
    metadata["test_accuracy"] = float(np.mean(np.argmax(logits, -1).reshape(-1) == truth))
    metadata["num_test_examples"] = int(len(test_source))
    return classifier


def save_classifier(classifier: TrainedClassifier, directory: str) -> None:
    """Writes `classifier.json` and the params (orbax) under `directory`."""
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(os.path.join(directory, PARAMS), classifier.params, force=True)
    checkpointer.wait_until_finished()
    with open(os.path.join(directory, METADATA), "w") as f:
        json.dump(classifier.metadata, f, indent=2, sort_keys=True)


def load_classifier(directory: str) -> TrainedClassifier:
    """Loads a classifier saved by `save_classifier` (a one-line error if there is none)."""
    path = os.path.join(os.path.abspath(directory), METADATA)
    if not os.path.exists(path):
        raise UserInputError(
            f"no classifier in {directory} (no {METADATA}); train one with "
            "`python -m experiments.train_classifier --dataset=NAME --workdir=DIR`"
        )
    with open(path) as f:
        metadata = json.load(f)
    module = ConvClassifier(num_classes=metadata["num_classes"], features=metadata["features"])
    example = jnp.zeros(
        (1, *metadata["shape"][:2], 1 if metadata["per_channel"] else metadata["shape"][2])
    )
    abstract = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), example)["params"])
    params = ocp.StandardCheckpointer().restore(
        os.path.join(os.path.abspath(directory), PARAMS), abstract
    )
    return TrainedClassifier(module, params, metadata)


def cache_dir() -> str:
    """The per-user folder of the project's classifiers, one subfolder per dataset."""
    if os.environ.get(CACHE_ENV):
        return os.path.abspath(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "unigen_jax", "classifiers")


def cached_classifier(
    dataset: str, *, data_dir: str | None = None, steps: int = DEFAULT_STEPS, log=print
) -> tuple[TrainedClassifier, str]:
    """The project's classifier of `dataset` from the cache, and its folder.

    If the cache has none, trains one first (`steps` steps, the other settings
    `experiments.train_classifier`'s defaults, with its progress lines and the classifier's
    own inception score on the real test set) and saves it there. A session interrupted while
    training leaves nothing that a later one would take for a classifier.
    """
    from unigen_jax import data  # the data sources are needed only to train

    directory = os.path.join(cache_dir(), dataset)
    if not os.path.exists(os.path.join(directory, METADATA)):
        log(
            f"no {dataset} classifier in the cache ({directory}): training one, {steps} "
            "steps (once; --classifier=DIR uses another)"
        )
        train_source = data.get_source(dataset, "train", data_dir=data_dir)
        test_source = data.get_source(dataset, "test", data_dir=data_dir)
        trained = train_classifier(train_source, test_source, steps=steps, log=log)
        if not trained.per_channel:  # as experiments.train_classifier reports it
            test_images = test_source.get(np.arange(len(test_source)))["x"]
            logits, _ = batched_features(trained, test_images)
            score, spread = inception_score(shuffled(logits), num_splits=10)
            trained.metadata["test_inception_score"] = [float(score), float(spread)]
        # Saved beside the cache entry, then renamed into place: a kill leaves no half entry,
        # and of two sessions training at once the first to finish is kept.
        scratch = f"{directory}.partial-{os.getpid()}"
        try:
            save_classifier(trained, scratch)
            if os.path.isdir(directory) and not os.path.exists(os.path.join(directory, METADATA)):
                shutil.rmtree(directory)  # not a classifier: what a broken entry left
            try:
                os.rename(scratch, directory)
            except OSError:
                if not os.path.exists(os.path.join(directory, METADATA)):
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        log(
            f"saved the {dataset} classifier to {directory} (test accuracy "
            f"{trained.metadata['test_accuracy']:.4f})"
        )
    return load_classifier(directory), directory
