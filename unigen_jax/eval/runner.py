"""Evaluates a training run: loads its latest checkpoint, draws samples, computes the metrics
that apply, each for the model and, where it means something, for real test data."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
import traceback
from typing import Any

import jax
import numpy as np

from unigen_jax import data, models
from unigen_jax.errors import UserInputError
from unigen_jax.eval import classifier as classifiers
from unigen_jax.eval import codes, critic, likelihood, mode_coverage, ms_ssim, sample_metrics
from unigen_jax.train.checkpoint import Checkpointer
from unigen_jax.train.state import create_train_state

SAMPLE_BATCH = 500
MAX_REFERENCE = 10_000  # real examples used as the FID/KID reference and as real test data


@dataclasses.dataclass
class LoadedRun:
    model: models.ModelSpec
    state: Any
    step: int
    config: dict
    train_source: Any  # the training data the references (FID, KID) come from
    test_source: Any  # the held-out data it is scored on (test or validation)


def checkpoint_step(workdir: str, steps) -> int:
    """The first of `steps` (None: the latest) if every one has a checkpoint in the run's
    workdir; else one UserInputError line naming the steps that have one."""
    checkpoint_dir = os.path.join(workdir, "checkpoints")
    available = []
    if os.path.isdir(checkpoint_dir):
        checkpointer = Checkpointer(checkpoint_dir, read_only=True)
        available = checkpointer.all_steps()
        checkpointer.close()
    if not available:
        raise UserInputError(f"no checkpoint in {checkpoint_dir}; train the run first")
    missing = [s for s in steps if s is not None and s not in available]
    if missing:
        raise UserInputError(
            f"no checkpoint of step {', '.join(map(str, missing))} in {checkpoint_dir}; it has "
            f"steps {', '.join(map(str, available))} (experiments.train "
            "--keep_checkpoints_every=N keeps every multiple of N)"
        )
    return available[-1] if steps[0] is None else steps[0]


def load_run(
    workdir: str, *, data_dir: str | None = None, split: str = "test", step: int | None = None
) -> LoadedRun:
    """The model and the state of a training run at `step` (default: its latest checkpoint);
    one-line errors for empty workdirs and for a step that has no checkpoint.

    `split` is the held-out data it is scored on: "test", or "validation" for a run trained
    with a validation share held out of its training split.
    """
    config_path = os.path.join(workdir, "config.json")
    checkpoint_dir = os.path.join(workdir, "checkpoints")
    if not os.path.exists(config_path):
        raise UserInputError(
            f"no training run in {workdir} (no config.json); train one with "
            f"`python -m experiments.train --workdir={workdir}`"
        )
    with open(config_path) as f:
        config = json.load(f)
    step = checkpoint_step(workdir, [step])
    checkpointer = Checkpointer(checkpoint_dir, read_only=True)
    hyperparameters = {
        k: tuple(v) if isinstance(v, list) else v for k, v in config["model_config"].items()
    }
    data_dir = data_dir or config.get("data_dir")
    train_source = data.get_source(config["dataset"], "train", data_dir=data_dir)
    if split == "validation":
        fraction = config.get("validation_fraction", 0.0)
        if not fraction:
            raise UserInputError(
                f"the run in {workdir} held out no validation data; train it with "
                "--validation_fraction=0.1 (say) to score on --split=validation"
            )
        train_source, test_source = data.holdout(train_source, fraction)
    elif split == "test":
        test_source = data.get_source(config["dataset"], "test", data_dir=data_dir)
    else:
        raise UserInputError(f"unknown --split={split!r}; choose test or validation")
    model = models.build_model(
        config["model"],
        models.make_config(config["model"], **hyperparameters),
        train_source.info,
        axis_name=None,
    )
    template = create_train_state(model, train_source.get(np.arange(2)), config["seed"])
    state = checkpointer.restore(template, step)
    checkpointer.close()
    return LoadedRun(model, state, step, config, train_source, test_source)


def load_checked_classifier(
    path: str | None,
    info,
    *,
    data_dir: str | None = None,
    train_steps: int = classifiers.DEFAULT_STEPS,
    log=print,
) -> tuple[classifiers.TrainedClassifier, str]:
    """The classifier for a run's data `info`, and its folder, checked to be trained on the
    run's dataset and shape: the one at `path`, or (no `path`) the project's classifier of
    the dataset from the per-user cache, trained there first (`train_steps` steps, progress
    lines to `log`) if the cache has none."""
    if path:
        trained, directory = classifiers.load_classifier(path), path
    elif not info.num_classes:
        raise UserInputError(
            f"image metrics need a classifier, and {info.name} has no labels to train one on: "
            "pass --classifier=DIR (or choose --metrics without inception_score, fid, kid)"
        )
    else:
        trained, directory = classifiers.cached_classifier(
            info.name, data_dir=data_dir, steps=train_steps, log=log
        )
    trained.check_compatible(info.name, info.shape)
    return trained, os.path.abspath(directory)


IMAGE_METRICS = ("inception_score", "fid", "kid", "diversity", "critic")
LIKELIHOOD_METRICS = ("elbo", "nll")
SAMPLE_METRICS = IMAGE_METRICS + ("mode_coverage", "conditional_accuracy")
MIXTURES = ("ring8", "grid25")


def has_likelihood(model: models.ModelSpec) -> bool:
    """Whether the model defines the test ELBO and the importance-weighted NLL: a Gaussian
    encoder with a likelihood, or log importance weights of its own proposal."""
    gaussian = model.encode_fn is not None and model.log_likelihood_fn is not None
    return gaussian or model.log_importance_weight_fn is not None


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


def applicable_metrics(model: models.ModelSpec, info) -> tuple[str, ...]:
    """The metrics that mean something for `model` on data `info`, from what the model can do
    (its declared abilities) and what the data are."""
    if model.sample_fn is None:  # not a generator (ADA): no sample metrics
        names = ()
    elif info.name == "stacked_mnist":  # a per-channel classifier: 1000 modes, no single label
        names = tuple(m for m in IMAGE_METRICS if m != "inception_score") + ("mode_coverage",)
    elif info.kind == "image":
        names = IMAGE_METRICS
        if "label" in model.conditions and info.num_classes:
            names += ("conditional_accuracy",)
    else:
        names = (("mode_coverage",) if info.name in MIXTURES else ()) + ("critic",)
    if has_likelihood(model):
        names += LIKELIHOOD_METRICS
    if model.reconstruct_fn is not None:
        names += ("rmse",)
    if code_function(model) is not None:
        names += ("code_statistics",)
    if model.classify_fn is not None and info.num_classes:
        names += ("classification_accuracy",)
    return names


def draw_samples(
    run: LoadedRun, num_samples: int, seed: int, labels: np.ndarray | None = None
) -> np.ndarray:
    """`num_samples` samples in data space, drawn in batches of SAMPLE_BATCH (one compile);
    for a class-conditional model, generated for `labels` [num_samples] (None: uniform)."""

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


def _scalars(result) -> dict:
    """Keeps the scalar entries of a metric's result, as floats (ints stay ints)."""
    if isinstance(result, tuple):
        return {"mean": float(result[0]), "std": float(result[1])}
    if not isinstance(result, dict):
        return {"value": float(result)}
    out = {}
    for key, value in result.items():
        if np.ndim(value) == 0 and not isinstance(value, str):
            out[key] = int(value) if isinstance(value, (int, np.integer)) else float(value)
    return out


@dataclasses.dataclass
class MetricFailure:
    """A metric that raised: its name, the one-line reason and the traceback."""

    metric: str
    reason: str
    traceback: str


def evaluate(
    run: LoadedRun,
    metrics,
    *,
    classifier=None,
    num_samples=5000,
    critic_steps=500,
    nll_samples=1000,
    nll_examples=200,
    seed=0,
    log=print,
    on_result=None,
) -> tuple[dict, list[MetricFailure]]:
    """Computes each requested metric that applies, independently of the others.

    Returns ({metric: {"model": {...}, "real": {...}, "settings": {...}}}, failures): a metric
    that raises is logged and listed in `failures`, and the metrics after it are still computed.
    `on_result(results, failures)` is called after each metric, so a caller can save what is
    done before the next (slow) metric starts.
    """
    info = run.train_source.info
    results: dict[str, dict] = {}
    failures: list[MetricFailure] = []

    def record(name, model_value, real_value=None, **settings):
        results[name] = {"model": _scalars(model_value), "settings": settings}
        if real_value is not None:
            results[name]["real"] = _scalars(real_value)

    samples = None  # drawn only for a model that generates and a metric that reads them
    if run.model.sample_fn is not None and set(metrics) & set(SAMPLE_METRICS):
        log(f"drawing {num_samples} samples")
        samples = draw_samples(run, num_samples, seed)
    real_test = run.test_source.get(np.arange(min(len(run.test_source), MAX_REFERENCE)))
    test_x = real_test["x"]
    reference = run.train_source.get(np.arange(min(len(run.train_source), MAX_REFERENCE)))["x"]
    computations = {}  # metric name -> a function that records it

    if classifier is not None:
        # Computed once, by the first metric that needs them (a failure there is that metric's).
        arrays = {"samples": samples, "test": test_x, "reference": reference}
        features = functools.cache(
            lambda which: sample_metrics.batched_features(classifier, arrays[which])
        )
        classifier_settings = {
            "classifier_test_accuracy": classifier.metadata["test_accuracy"],
            "num_samples": 0 if samples is None else len(samples),  # None: not a generator
            "num_real_test": len(test_x),
            "num_reference": len(reference),
        }

        def inception_score():
            splits = min(10, len(test_x))
            record(
                "inception_score",
                sample_metrics.inception_score(features("samples")[0], num_splits=10),
                sample_metrics.inception_score(
                    classifiers.shuffled(features("test")[0]), num_splits=splits
                ),
                num_splits=10,
                **classifier_settings,
            )

        def fid():
            record(
                "fid",
                sample_metrics.fid(features("reference")[1], features("samples")[1]),
                sample_metrics.fid(features("reference")[1], features("test")[1]),
                reference="train split",
                **classifier_settings,
            )

        def kid():
            record(
                "kid",
                sample_metrics.kernel_inception_distance(
                    features("reference")[1], features("samples")[1], seed=seed
                ),
                sample_metrics.kernel_inception_distance(
                    features("reference")[1], features("test")[1], seed=seed
                ),
                reference="train split",
                **classifier_settings,
            )

        def stacked_mode_coverage():
            truth = real_test["label"]
            real_digits = np.stack([truth // 100, truth // 10 % 10, truth % 10], axis=1)
            record(
                "mode_coverage",
                mode_coverage.stacked_mnist_coverage(np.argmax(features("samples")[0], -1)),
                mode_coverage.stacked_mnist_coverage(real_digits),
                **classifier_settings,
            )

        def conditional_accuracy():
            # Hu et al. 2017, Section 5.1: generate for each label, classify, share that match.
            labels = np.arange(len(samples)) % info.num_classes
            generated = draw_samples(run, len(samples), seed + 1, labels=labels)
            predicted = np.argmax(classifier(generated)[0], axis=-1)
            record(
                "conditional_accuracy",
                {
                    "value": np.mean(predicted == labels),
                    # For codes learnt without labels (InfoGAN), value k need not be digit k.
                    "matched": sample_metrics.matched_accuracy(predicted, labels),
                },
                sample_metrics.conditional_accuracy(features("test")[0], real_test["label"]),
                **classifier_settings,
            )

        computations["fid"], computations["kid"] = fid, kid
        computations["conditional_accuracy"] = conditional_accuracy
        if classifier.per_channel:
            computations["mode_coverage"] = stacked_mode_coverage
        else:
            computations["inception_score"] = inception_score

    if info.kind == "vector":

        def mixture_mode_coverage():
            means, std = data.mixture_modes(info.name)
            record(
                "mode_coverage",
                mode_coverage.mixture_coverage(samples, means, std),
                mode_coverage.mixture_coverage(test_x, means, std),
                num_samples=len(samples),
            )

        computations["mode_coverage"] = mixture_mode_coverage

    def diversity():
        record(
            "diversity",
            ms_ssim.diversity(samples, seed=seed),
            ms_ssim.diversity(test_x, seed=seed),
            measure="1 - mean pairwise MS-SSIM",
        )

    def independent_critic():
        # Held-out real data (the test split) against as many samples, each cut in halves:
        # one half trains the critic, the other measures it.
        n = min(len(test_x), len(samples))
        half = n // 2
        log(f"training an independent Wasserstein critic for {critic_steps} steps")
        result = critic.independent_wasserstein_critic(
            test_x[:half],
            samples[:half],
            test_x[half:n],
            samples[half:n],
            steps=critic_steps,
            seed=seed,
        )
        record(
            "critic",
            result,
            steps=critic_steps,
            held_out="test split, halves",
            critic=f"{type(critic.default_critic(samples.shape[1:])).__name__} (default)",
        )

    computations["diversity"] = diversity
    if critic_steps > 0:
        computations["critic"] = independent_critic

    def nets(batch_size):
        return run.model.inference_networks(
            run.state.params,
            run.state.batch_stats,
            key=jax.random.PRNGKey(seed),
            batch_size=batch_size,
        )

    test_batch = {"x": test_x, "label": real_test["label"]}
    nll_batch = {k: v[:nll_examples] for k, v in test_batch.items()}
    if run.model.log_importance_weight_fn is not None:  # any proposal q(h|x): from log weights
        key = jax.random.PRNGKey(seed)
        log_weight = log_importance_weights(run.model, run.state.params, run.state.batch_stats)

        def elbo():
            record(
                "elbo",
                likelihood.elbo_from_log_weights(
                    log_weight, test_batch, jax.random.fold_in(key, 1)
                ),
                num_examples=len(test_x),
                estimator="one sample of log p(x, h) - log q(h|x)",
            )

        def nll():
            record(
                "nll",
                likelihood.importance_weighted_nll_from_log_weights(
                    log_weight, nll_batch, jax.random.fold_in(key, 2), num_samples=nll_samples
                ),
                num_samples=nll_samples,
                num_examples=min(nll_examples, len(test_x)),
            )

        computations.update(elbo=elbo, nll=nll)
    elif run.model.encode_fn is not None and run.model.log_likelihood_fn is not None:
        key = jax.random.PRNGKey(seed)

        def encode(batch):
            return run.model.encode_fn(nets(batch["x"].shape[0]), batch)

        def log_likelihood(batch, z):
            return run.model.log_likelihood_fn(nets(batch["x"].shape[0]), batch, z)

        def elbo():
            record(
                "elbo",
                likelihood.test_elbo(
                    encode, log_likelihood, test_batch, jax.random.fold_in(key, 1)
                ),
                num_examples=len(test_x),
            )

        def nll():
            record(
                "nll",
                likelihood.importance_weighted_nll(
                    encode,
                    log_likelihood,
                    nll_batch,
                    jax.random.fold_in(key, 2),
                    num_samples=nll_samples,
                ),
                num_samples=nll_samples,
                num_examples=min(nll_examples, len(test_x)),
            )

        computations.update(elbo=elbo, nll=nll)

    if run.model.reconstruct_fn is not None:

        def rmse():
            record(
                "rmse",
                likelihood.reconstruction_rmse(
                    lambda batch: run.model.reconstruct_fn(nets(batch["x"].shape[0]), batch),
                    test_batch,
                ),
                num_examples=len(test_x),
            )

        computations["rmse"] = rmse

    code_fn = code_function(run.model)
    if code_fn is not None:

        @jax.jit
        def codes_of(state, batch):  # params as arguments, not constants in the program
            handle = run.model.inference_networks(
                state.params,
                state.batch_stats,
                key=jax.random.PRNGKey(seed),
                batch_size=batch["x"].shape[0],
            )
            return code_fn(handle, batch)

        def code_statistics():
            # Rosca et al. 2017, Appendix D, Figures 11-12: the codes of the test data, beside
            # as many draws of N(0, I) (whose moments are also off 0 and 1 by ~1/sqrt(n)).
            chunks = [
                {k: v[i : i + SAMPLE_BATCH] for k, v in test_batch.items()}
                for i in range(0, len(test_x), SAMPLE_BATCH)
            ]
            found = np.concatenate([np.asarray(codes_of(run.state, c)) for c in chunks])
            prior = np.random.default_rng(seed).standard_normal(found.shape)
            stats = codes.code_statistics(found)
            record(
                "code_statistics",
                stats,
                codes.code_statistics(prior),
                num_examples=len(found),
                real="as many draws of N(0, I)",
                per_dimension_mean=np.round(stats["per_dimension_mean"], 5).tolist(),
                per_dimension_variance=np.round(stats["per_dimension_variance"], 5).tolist(),
                correlation=np.round(stats["correlation"], 4).tolist(),
            )

        computations["code_statistics"] = code_statistics

    if run.model.classify_fn is not None and info.num_classes:

        @jax.jit
        def classify(state, batch):  # params as arguments, not constants in the program
            handle = run.model.inference_networks(
                state.params,
                state.batch_stats,
                key=jax.random.PRNGKey(seed),
                batch_size=batch["x"].shape[0],
            )
            return run.model.classify_fn(handle, batch)

        def classification_accuracy():
            chunks = [
                {k: v[i : i + SAMPLE_BATCH] for k, v in test_batch.items()}
                for i in range(0, len(test_x), SAMPLE_BATCH)
            ]
            logits = np.concatenate([np.asarray(classify(run.state, c)) for c in chunks])
            predicted = np.argmax(logits, axis=-1)
            truth = real_test["label"]
            record(
                "classification_accuracy",
                {
                    "value": np.mean(predicted == truth),
                    # Classes learnt without labels (InfoGAN's code) match digits up to a
                    # permutation: the accuracy under the best one-to-one matching.
                    "matched": sample_metrics.matched_accuracy(predicted, truth),
                },
                num_examples=len(test_x),
            )

        computations["classification_accuracy"] = classification_accuracy

    if samples is None:  # a model that does not generate
        for name in SAMPLE_METRICS:
            computations.pop(name, None)
    for name in metrics:
        if name not in computations:
            continue
        started = time.perf_counter()
        try:
            computations[name]()
        except Exception as error:  # one metric's failure must not lose the others
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            failures.append(MetricFailure(name, reason, traceback.format_exc()))
            log(f"  {name} FAILED: {reason}")
        else:
            log(f"  {name} ({time.perf_counter() - started:.1f}s): {results[name]['model']}")
        if on_result is not None:
            on_result(results, failures)
    return results, failures
