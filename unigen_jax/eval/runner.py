"""Evaluates a training run: loads its latest checkpoint, draws samples, computes the metrics
that apply, each for the model and, where it means something, for real test data."""

from __future__ import annotations

import dataclasses
import json
import os
import time
import traceback
from typing import Any

import numpy as np

from unigen_jax import data, models
from unigen_jax.errors import UserInputError
from unigen_jax.eval import classifier as classifiers
from unigen_jax.eval.metrics import (
    LIKELIHOOD_METRICS,
    SAMPLE_BATCH,
    Evaluation,
    applicable_metrics,
    code_function,
    draw_samples,
    has_likelihood,
    log_importance_weights,
    metrics_for,
)
from unigen_jax.train.checkpoint import Checkpointer
from unigen_jax.train.state import create_train_state

# The metrics' declarations live in eval.metrics; these are re-exported for the callers of
# the runner (experiments.evaluate, the contract test).
__all__ = [
    "LIKELIHOOD_METRICS",
    "SAMPLE_BATCH",
    "LoadedRun",
    "MetricFailure",
    "applicable_metrics",
    "checkpoint_step",
    "code_function",
    "draw_samples",
    "evaluate",
    "has_likelihood",
    "load_checked_classifier",
    "load_run",
    "log_importance_weights",
]

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
    """Computes each requested metric that applies (`eval.metrics.METRICS`) and that this
    evaluation can compute (a classifier given for the classifier's metrics; critic_steps > 0
    for the critic), independently of the others.

    Returns ({metric: {"model": {...}, "real": {...}, "settings": {...}}}, failures): a metric
    that raises is logged and listed in `failures`, and the metrics after it are still computed.
    `on_result(results, failures)` is called after each metric, so a caller can save what is
    done before the next (slow) metric starts.
    """
    real_test = run.test_source.get(np.arange(min(len(run.test_source), MAX_REFERENCE)))
    reference = run.train_source.get(np.arange(min(len(run.train_source), MAX_REFERENCE)))["x"]
    evaluation = Evaluation(
        run=run,
        classifier=classifier,
        num_samples=num_samples,
        critic_steps=critic_steps,
        nll_samples=nll_samples,
        nll_examples=nll_examples,
        seed=seed,
        log=log,
        real_test=real_test,
        reference=reference,
    )
    declared = metrics_for(run.model, run.train_source.info)
    chosen = [
        declared[name] for name in metrics if name in declared and declared[name].ready(evaluation)
    ]
    if any(metric.reads_samples for metric in chosen):  # drawn once, for all that read them
        log(f"drawing {num_samples} samples")
        evaluation.samples = draw_samples(run, num_samples, seed)
    results: dict[str, dict] = {}
    failures: list[MetricFailure] = []
    for metric in chosen:
        started = time.perf_counter()
        try:
            score = metric.compute(evaluation)
        except Exception as error:  # one metric's failure must not lose the others
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            failures.append(MetricFailure(metric.name, reason, traceback.format_exc()))
            log(f"  {metric.name} FAILED: {reason}")
        else:
            results[metric.name] = {"model": _scalars(score.model), "settings": score.settings}
            if score.real is not None:
                results[metric.name]["real"] = _scalars(score.real)
            elapsed = time.perf_counter() - started
            log(f"  {metric.name} ({elapsed:.1f}s): {results[metric.name]['model']}")
        if on_result is not None:
            on_result(results, failures)
    return results, failures
