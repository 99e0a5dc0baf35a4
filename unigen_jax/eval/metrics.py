"""The metrics `runner.evaluate` computes, as data: each `Metric` declares its name, when it
applies (a predicate on the model and the data), what it needs at evaluation time (a classifier,
critic steps), whether it reads the model's samples, and how it computes its scores from an
`Evaluation` (the run, the samples and the real data, and what metrics share, computed once).

`applicable_metrics` is the filter of `METRICS` by `applies`; `runner.evaluate` is a loop over
the requested ones. A name may be declared twice, by exclusive predicates, when it is computed
two ways (mode coverage of a 2-D mixture or of stacked MNIST; the likelihood from a Gaussian
encoder or from the model's own log importance weights).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from unigen_jax import data, models
from unigen_jax.data.mixtures import MIXTURES
from unigen_jax.eval import classifier as classifiers
from unigen_jax.eval import codes, critic, likelihood, mode_coverage, ms_ssim, sample_metrics

SAMPLE_BATCH = 500
LIKELIHOOD_METRICS = ("elbo", "nll")


def has_likelihood(model: models.ModelSpec) -> bool:
    """Whether the model defines the test ELBO and the importance-weighted NLL: a Gaussian
    encoder with a likelihood, or log importance weights of its own proposal."""
    return _gaussian_likelihood(model) or model.log_importance_weight_fn is not None


def _gaussian_likelihood(model: models.ModelSpec) -> bool:
    return model.encode_fn is not None and model.log_likelihood_fn is not None


def log_importance_weights(model: models.ModelSpec, params, batch_stats):
    """`(batch, keys [n]) -> [n]` log importance weights of `model.log_importance_weight_fn`,
    example i's h drawn with a handle of its own, keyed keys[i] (as `likelihood`'s general
    path requires: one key an example, whatever the batch it sits in)."""

    def one_example(example, key):
        nets = model.inference_networks(params, batch_stats, key=key, batch_size=1)
        single = jax.tree.map(lambda a: a[None], example)
        return model.log_importance_weight_fn(nets, single)[0]

    return lambda batch, keys: jax.vmap(one_example)(batch, keys)


def code_function(model: models.ModelSpec):
    """`(nets, batch) -> codes [batch, latent]` of the model's encoder: its `code_fn`, or the
    mean of its Gaussian `encode_fn`; None for a model without an encoder."""
    if model.code_fn is not None:
        return model.code_fn
    if model.encode_fn is not None:
        return lambda nets, batch: model.encode_fn(nets, batch)[0]
    return None


def draw_samples(run, num_samples: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
    """`num_samples` samples in data space of a loaded run (`runner.LoadedRun`), drawn in
    batches of SAMPLE_BATCH (one compile); for a class-conditional model, generated for
    `labels` [num_samples] (None: uniform)."""

    def sample(state, key, conditions):  # params as arguments, not constants in the program
        nets = run.model.inference_networks(
            state.params, state.batch_stats, key=key, batch_size=SAMPLE_BATCH
        )
        return run.model.sample_fn(nets, conditions)

    sample = jax.jit(sample)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 0xE7A1)
    batches = []
    for i in range(math.ceil(num_samples / SAMPLE_BATCH)):
        conditions = {}
        if labels is not None:
            chunk = labels[i * SAMPLE_BATCH : (i + 1) * SAMPLE_BATCH]
            conditions["label"] = np.resize(chunk, SAMPLE_BATCH).astype(np.int32)
        batches.append(np.asarray(sample(run.state, jax.random.fold_in(key, i), conditions)))
    return np.concatenate(batches)[:num_samples]


@dataclasses.dataclass
class Evaluation:
    """What a metric reads: the loaded run, the evaluation's settings, the real data, the
    model's samples (None until drawn; drawn once, before the metrics that read them), and
    what several metrics share, computed once by the first that needs it."""

    run: Any  # runner.LoadedRun
    classifier: Any  # a TrainedClassifier or None
    num_samples: int
    critic_steps: int
    nll_samples: int
    nll_examples: int
    seed: int
    log: Callable[[str], None]
    real_test: dict  # up to MAX_REFERENCE test (or validation) examples
    reference: np.ndarray  # up to MAX_REFERENCE training images: the FID/KID reference
    samples: np.ndarray | None = None
    _features: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def info(self):
        return self.run.train_source.info

    @property
    def model(self) -> models.ModelSpec:
        return self.run.model

    @property
    def test_x(self) -> np.ndarray:
        return self.real_test["x"]

    @functools.cached_property
    def test_batch(self) -> dict:
        return {"x": self.test_x, "label": self.real_test["label"]}

    @functools.cached_property
    def nll_batch(self) -> dict:
        return {k: v[: self.nll_examples] for k, v in self.test_batch.items()}

    def features(self, which: str):
        """The classifier's (logits, features) of "samples", "test" or "reference", computed
        once, by the first metric that needs them (a failure there is that metric's)."""
        if which not in self._features:
            if which == "samples":
                extracted = sample_metrics.batched_features(self.classifier, self.samples)
            else:  # real data, whose images may repeat (stacked MNIST's base digits)
                real = {"test": self.test_x, "reference": self.reference}[which]
                extracted = self.classifier.features_of_real(real)
            self._features[which] = extracted
        return self._features[which]

    @property
    def classifier_settings(self) -> dict:
        return {
            "classifier_test_accuracy": self.classifier.metadata["test_accuracy"],
            "num_samples": 0 if self.samples is None else len(self.samples),
            "num_real_test": len(self.test_x),
            "num_reference": len(self.reference),
        }

    def nets(self, batch_size: int):
        """The model's inference networks, keyed by the evaluation's seed."""
        return self.model.inference_networks(
            self.run.state.params,
            self.run.state.batch_stats,
            key=jax.random.PRNGKey(self.seed),
            batch_size=batch_size,
        )

    def likelihood_key(self, which: int):
        return jax.random.fold_in(jax.random.PRNGKey(self.seed), which)

    def over_test_batches(self, fn):
        """fn(handle, batch) applied to the test data in chunks of SAMPLE_BATCH, jitted once
        with the params as arguments (not constants in the program); the results joined."""
        model, seed = self.model, self.seed

        @jax.jit
        def apply(state, batch):
            handle = model.inference_networks(
                state.params,
                state.batch_stats,
                key=jax.random.PRNGKey(seed),
                batch_size=batch["x"].shape[0],
            )
            return fn(handle, batch)

        chunks = [
            {k: v[i : i + SAMPLE_BATCH] for k, v in self.test_batch.items()}
            for i in range(0, len(self.test_x), SAMPLE_BATCH)
        ]
        return np.concatenate([np.asarray(apply(self.run.state, c)) for c in chunks])


class Score(NamedTuple):
    """A metric's result: the model's value, the same measure of real data (None where it
    means nothing) and the settings it was computed with (saved beside the values)."""

    model: Any
    real: Any = None
    settings: dict = {}


@dataclasses.dataclass(frozen=True)
class Metric:
    """A metric: `applies(model, info)` whether it means something for a model on data `info`;
    `ready(evaluation)` whether this evaluation has what it needs (a classifier, critic
    steps); `reads_samples` whether it reads the model's samples; `compute(evaluation)` its
    `Score`."""

    name: str
    applies: Callable[[models.ModelSpec, Any], bool]
    compute: Callable[[Evaluation], Score]
    reads_samples: bool = False
    ready: Callable[[Evaluation], bool] = lambda evaluation: True


# When a metric applies: predicates on the model and the data's info.


def _generates_images(model, info) -> bool:
    return model.sample_fn is not None and info.kind == "image"


def _generates_stacked_mnist(model, info) -> bool:
    # Scored by a per-channel classifier: 1000 modes, no single label.
    return _generates_images(model, info) and info.name == "stacked_mnist"


def _generates_single_label_images(model, info) -> bool:
    return _generates_images(model, info) and info.name != "stacked_mnist"


def _generates_mixture(model, info) -> bool:
    return model.sample_fn is not None and info.kind != "image" and info.name in MIXTURES


def _generates(model, info) -> bool:
    return model.sample_fn is not None  # not a generator (ADA): no sample metrics


def _generates_for_labels(model, info) -> bool:
    return (
        _generates_single_label_images(model, info)
        and "label" in model.conditions
        and bool(info.num_classes)
    )


def _has_classifier(evaluation) -> bool:
    return evaluation.classifier is not None


# How each computes.


def _inception_score(e: Evaluation) -> Score:
    splits = min(10, len(e.test_x))
    return Score(
        sample_metrics.inception_score(e.features("samples")[0], num_splits=10),
        sample_metrics.inception_score(
            classifiers.shuffled(e.features("test")[0]), num_splits=splits
        ),
        {"num_splits": 10, **e.classifier_settings},
    )


def _fid(e: Evaluation) -> Score:
    return Score(
        sample_metrics.fid(e.features("reference")[1], e.features("samples")[1]),
        sample_metrics.fid(e.features("reference")[1], e.features("test")[1]),
        {"reference": "train split", **e.classifier_settings},
    )


def _kid(e: Evaluation) -> Score:
    reference = e.features("reference")[1]
    return Score(
        sample_metrics.kernel_inception_distance(reference, e.features("samples")[1], seed=e.seed),
        sample_metrics.kernel_inception_distance(reference, e.features("test")[1], seed=e.seed),
        {"reference": "train split", **e.classifier_settings},
    )


def _mixture_mode_coverage(e: Evaluation) -> Score:
    means, std = data.mixture_modes(e.info.name)
    return Score(
        mode_coverage.mixture_coverage(e.samples, means, std),
        mode_coverage.mixture_coverage(e.test_x, means, std),
        {"num_samples": len(e.samples)},
    )


def _stacked_mode_coverage(e: Evaluation) -> Score:
    truth = e.real_test["label"]
    real_digits = np.stack([truth // 100, truth // 10 % 10, truth % 10], axis=1)
    return Score(
        mode_coverage.stacked_mnist_coverage(np.argmax(e.features("samples")[0], -1)),
        mode_coverage.stacked_mnist_coverage(real_digits),
        e.classifier_settings,
    )


def _diversity(e: Evaluation) -> Score:
    return Score(
        ms_ssim.diversity(e.samples, seed=e.seed),
        ms_ssim.diversity(e.test_x, seed=e.seed),
        {"measure": "1 - mean pairwise MS-SSIM"},
    )


def _independent_critic(e: Evaluation) -> Score:
    # Held-out real data (the test split) against as many samples, each cut in halves: one
    # half trains the critic, the other measures it.
    test_x, samples = e.test_x, e.samples
    n = min(len(test_x), len(samples))
    half = n // 2
    e.log(f"training an independent Wasserstein critic for {e.critic_steps} steps")
    result = critic.independent_wasserstein_critic(
        test_x[:half],
        samples[:half],
        test_x[half:n],
        samples[half:n],
        steps=e.critic_steps,
        seed=e.seed,
    )
    return Score(
        result,
        settings={
            "steps": e.critic_steps,
            "held_out": "test split, halves",
            "critic": f"{type(critic.default_critic(samples.shape[1:])).__name__} (default)",
        },
    )


def _conditional_accuracy(e: Evaluation) -> Score:
    # Hu et al. 2017, Section 5.1: generate for each label, classify, the share that match.
    labels = np.arange(len(e.samples)) % e.info.num_classes
    generated = draw_samples(e.run, len(e.samples), e.seed + 1, labels=labels)
    predicted = np.argmax(e.classifier(generated)[0], axis=-1)
    return Score(
        {
            "value": np.mean(predicted == labels),
            # For codes learnt without labels (InfoGAN), value k need not be digit k.
            "matched": sample_metrics.matched_accuracy(predicted, labels),
        },
        sample_metrics.conditional_accuracy(e.features("test")[0], e.real_test["label"]),
        e.classifier_settings,
    )


def _own_log_weights(model, info) -> bool:
    return model.log_importance_weight_fn is not None  # any proposal q(h|x)


def _gaussian_encoder_only(model, info) -> bool:
    return model.log_importance_weight_fn is None and _gaussian_likelihood(model)


def _log_weight(e: Evaluation):
    return log_importance_weights(e.model, e.run.state.params, e.run.state.batch_stats)


def _elbo_from_log_weights(e: Evaluation) -> Score:
    return Score(
        likelihood.elbo_from_log_weights(_log_weight(e), e.test_batch, e.likelihood_key(1)),
        settings={
            "num_examples": len(e.test_x),
            "estimator": "one sample of log p(x, h) - log q(h|x)",
        },
    )


def _nll_from_log_weights(e: Evaluation) -> Score:
    return Score(
        likelihood.importance_weighted_nll_from_log_weights(
            _log_weight(e), e.nll_batch, e.likelihood_key(2), num_samples=e.nll_samples
        ),
        settings={
            "num_samples": e.nll_samples,
            "num_examples": min(e.nll_examples, len(e.test_x)),
        },
    )


def _encoder_and_likelihood(e: Evaluation):
    def encode(batch):
        return e.model.encode_fn(e.nets(batch["x"].shape[0]), batch)

    def log_likelihood(batch, z):
        return e.model.log_likelihood_fn(e.nets(batch["x"].shape[0]), batch, z)

    return encode, log_likelihood


def _gaussian_elbo(e: Evaluation) -> Score:
    encode, log_likelihood = _encoder_and_likelihood(e)
    return Score(
        likelihood.test_elbo(encode, log_likelihood, e.test_batch, e.likelihood_key(1)),
        settings={"num_examples": len(e.test_x)},
    )


def _gaussian_nll(e: Evaluation) -> Score:
    encode, log_likelihood = _encoder_and_likelihood(e)
    return Score(
        likelihood.importance_weighted_nll(
            encode, log_likelihood, e.nll_batch, e.likelihood_key(2), num_samples=e.nll_samples
        ),
        settings={
            "num_samples": e.nll_samples,
            "num_examples": min(e.nll_examples, len(e.test_x)),
        },
    )


def _rmse(e: Evaluation) -> Score:
    return Score(
        likelihood.reconstruction_rmse(
            lambda batch: e.model.reconstruct_fn(e.nets(batch["x"].shape[0]), batch),
            e.test_batch,
        ),
        settings={"num_examples": len(e.test_x)},
    )


def _code_statistics(e: Evaluation) -> Score:
    # Rosca et al. 2017, Appendix D, Figures 11-12: the codes of the test data, beside as many
    # draws of N(0, I) (whose moments are also off 0 and 1 by ~1/sqrt(n)).
    found = e.over_test_batches(code_function(e.model))
    prior = np.random.default_rng(e.seed).standard_normal(found.shape)
    stats = codes.code_statistics(found)
    return Score(
        stats,
        codes.code_statistics(prior),
        {
            "num_examples": len(found),
            "real": "as many draws of N(0, I)",
            "per_dimension_mean": np.round(stats["per_dimension_mean"], 5).tolist(),
            "per_dimension_variance": np.round(stats["per_dimension_variance"], 5).tolist(),
            "correlation": np.round(stats["correlation"], 4).tolist(),
        },
    )


def _classification_accuracy(e: Evaluation) -> Score:
    predicted = np.argmax(e.over_test_batches(e.model.classify_fn), axis=-1)
    truth = e.real_test["label"]
    table = sample_metrics.contingency_table(predicted, truth)
    return Score(
        {
            "value": np.mean(predicted == truth),
            # Classes learnt without labels (InfoGAN's code) match digits up to a permutation:
            # the accuracy under the best one-to-one matching.
            "matched": sample_metrics.matched_accuracy(predicted, truth),
        },
        settings={
            "num_examples": len(e.test_x),
            # Where the errors are: which classes each predicted value mixes, and the label
            # the matching gave it.
            "counts_by_predicted_and_true_class": table.tolist(),
            "matched_class_of_each_prediction": sample_metrics.best_matching(table),
        },
    )


# Every metric, in the order `applicable_metrics` lists them and `evaluate` reports them.
METRICS: tuple[Metric, ...] = (
    Metric(
        "inception_score",
        _generates_single_label_images,
        _inception_score,
        reads_samples=True,
        ready=lambda e: e.classifier is not None and not e.classifier.per_channel,
    ),
    Metric("fid", _generates_images, _fid, reads_samples=True, ready=_has_classifier),
    Metric("kid", _generates_images, _kid, reads_samples=True, ready=_has_classifier),
    Metric("mode_coverage", _generates_mixture, _mixture_mode_coverage, reads_samples=True),
    Metric("diversity", _generates_images, _diversity, reads_samples=True),
    Metric(
        "critic",
        _generates,
        _independent_critic,
        reads_samples=True,
        ready=lambda e: e.critic_steps > 0,
    ),
    Metric(
        "mode_coverage",
        _generates_stacked_mnist,
        _stacked_mode_coverage,
        reads_samples=True,
        ready=lambda e: e.classifier is not None and e.classifier.per_channel,
    ),
    Metric(
        "conditional_accuracy",
        _generates_for_labels,
        _conditional_accuracy,
        reads_samples=True,
        ready=_has_classifier,
    ),
    Metric("elbo", _own_log_weights, _elbo_from_log_weights),
    Metric("nll", _own_log_weights, _nll_from_log_weights),
    Metric("elbo", _gaussian_encoder_only, _gaussian_elbo),
    Metric("nll", _gaussian_encoder_only, _gaussian_nll),
    Metric("rmse", lambda model, info: model.reconstruct_fn is not None, _rmse),
    Metric(
        "code_statistics", lambda model, info: code_function(model) is not None, _code_statistics
    ),
    Metric(
        "classification_accuracy",
        lambda model, info: model.classify_fn is not None and bool(info.num_classes),
        _classification_accuracy,
    ),
)


def metrics_for(model: models.ModelSpec, info) -> dict[str, Metric]:
    """The metrics that apply to `model` on data `info`, by name, in METRICS' order."""
    return {metric.name: metric for metric in METRICS if metric.applies(model, info)}


def applicable_metrics(model: models.ModelSpec, info) -> tuple[str, ...]:
    """The metrics that mean something for `model` on data `info`, from what the model can do
    (its declared abilities) and what the data are."""
    return tuple(metrics_for(model, info))
