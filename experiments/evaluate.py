r"""Scores a training run: `python -m experiments.evaluate --workdir=W`.

Loads the run's latest checkpoint (or `--step=N`'s, kept by `experiments.train
--keep_checkpoints_every`), computes every metric that applies to its model and data, writes
`eval.json` (`eval_step_NNNNNN.json` for --step; each metric with its settings, and the
seconds the scoring took) into the workdir and prints a table, with the same metrics on real
test data beside the model's:

  images:          inception score, FID, KID (in the classifier's feature space; the
                   classifier's test accuracy and its own score on real data are reported),
                   diversity (1 - MS-SSIM), independent Wasserstein critic
  stacked_mnist:   + modes hit (of 1000) and KL to uniform
  2-D mixtures:    modes hit, share of high-quality samples, independent Wasserstein critic
  class-conditional models: + accuracy of conditional generations (Hu et al. 2017, 5.1)
  with an encoder: test ELBO, importance-weighted NLL, reconstruction RMSE (a Gaussian
                   encoder, or any proposal q(h|x) through log importance weights:
                   wake-sleep's recognition net)
                   + the codes' per-dimension mean and variance and their correlation
                   (`code_statistics`, Rosca et al. 2017 Figures 11-12), beside N(0, I) draws

The image scores use the project's classifier of the run's dataset: `--classifier=DIR` (from
`experiments.train_classifier`), or by default the one in the per-user cache
(`~/.cache/unigen_jax/classifiers/DATASET`, or `$UNIGEN_JAX_CLASSIFIERS/DATASET`), which is
trained there first, once, if the cache has none (`--classifier_steps`, a few minutes on a
CPU).
"""

from __future__ import annotations

import json
import os
import time

from absl import flags, logging

from experiments import _cli
from unigen_jax.errors import PartialFailure, UserInputError

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "a training run's workdir (config.json + checkpoints/)")
flags.DEFINE_string(
    "classifier",
    None,
    "a classifier from experiments.train_classifier for image data (default: the project's "
    "classifier of the run's dataset from the per-user cache, trained into it if missing)",
)
flags.DEFINE_integer(
    "classifier_steps",
    3000,  # unigen_jax.eval.classifier.DEFAULT_STEPS (not imported before flags parse)
    "training steps of the classifier trained into the cache when it has none for the "
    "dataset (experiments.train_classifier's default)",
)
flags.DEFINE_list("metrics", ["auto"], "metrics to compute (auto: all that apply)")
flags.DEFINE_boolean(
    "skip_inapplicable",
    False,
    "drop the --metrics that do not apply to the run's model (listed as not_applicable in "
    "eval.json) instead of stopping: one list of metrics for the arms of a study",
)
flags.DEFINE_integer("num_samples", 5000, "samples drawn from the model")
flags.DEFINE_integer("critic_steps", 500, "training steps of the independent critic")
flags.DEFINE_integer("nll_samples", 1000, "importance samples k of the NLL estimate (<= 5000)")
flags.DEFINE_integer("nll_examples", 200, "test examples the NLL is averaged over")
flags.DEFINE_integer("seed", 0, "seed of the samples and of the critic")
flags.DEFINE_list(
    "step",
    None,
    "score the checkpoint of this step (or of each of these, comma-separated, in one process) "
    "instead of the latest, kept by experiments.train --keep_checkpoints_every; each report "
    "is eval_step_NNNNNN.json (eval_step_NNNNNN_validation.json for --split=validation)",
)
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: the run's)")
flags.DEFINE_enum(
    "split",
    "test",
    ["test", "validation"],
    "held-out data to score on: test, or the validation share a run held out "
    "(--validation_fraction); eval.json, or eval_validation.json",
)


def _requested(model, info) -> tuple[str, ...]:
    from unigen_jax.eval.runner import LIKELIHOOD_METRICS, applicable_metrics

    applicable = applicable_metrics(model, info)
    if FLAGS.metrics == ["auto"]:
        return applicable
    if FLAGS.skip_inapplicable:
        return tuple(name for name in FLAGS.metrics if name in applicable)
    for name in FLAGS.metrics:
        if name in LIKELIHOOD_METRICS + ("rmse",) and name not in applicable:
            raise UserInputError(
                f"--metrics={name} needs a model with an encoder and a "
                f"likelihood; model {model.name!r} has none"
            )
        if name not in applicable:
            raise UserInputError(
                f"--metrics={name} does not apply to {model.name} on "
                f"{info.name}; these do: {', '.join(applicable)}"
            )
    return tuple(FLAGS.metrics)


def _steps() -> list[int | None]:
    """The --step values as integers ([None]: the latest checkpoint)."""
    if not FLAGS.step:
        return [None]
    try:
        steps = [int(value) for value in FLAGS.step]
    except ValueError:
        raise UserInputError(
            f"--step={','.join(FLAGS.step)}: give whole step numbers, e.g. --step=1000,2000"
        ) from None
    if min(steps) < 0:
        raise UserInputError(f"--step must be >= 0, got {min(steps)}")
    return list(dict.fromkeys(steps))


def _check_flags():
    if not FLAGS.workdir:
        raise UserInputError("--workdir is required: the workdir of a training run")
    for name in ("num_samples", "nll_samples", "nll_examples", "classifier_steps"):
        if FLAGS[name].value <= 0:
            raise UserInputError(f"--{name} must be positive, got {FLAGS[name].value}")
    _steps()
    if FLAGS.critic_steps < 0:
        raise UserInputError(f"--critic_steps must be >= 0, got {FLAGS.critic_steps}")
    if FLAGS.nll_samples > 5000:
        raise UserInputError(f"--nll_samples={FLAGS.nll_samples}: at most 5000")


def _table(results: dict) -> str:
    rows = [("metric", "model", "real test data")]
    for name, entry in results.items():
        for key, value in entry["model"].items():
            real = entry.get("real", {}).get(key, "")
            rows.append((f"{name}.{key}" if key != "value" else name, value, real))

    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    widths = [max(len(fmt(r[i])) for r in rows) for i in range(3)]
    return "\n".join(
        "  ".join(fmt(v).ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows
    )


def main(argv):
    logging.set_verbosity(logging.ERROR)  # orbax warns that a read-only manager won't save
    _cli.check_no_arguments(argv)
    _check_flags()
    from unigen_jax.eval import runner

    steps = _steps()
    if steps != [None]:  # every step checked before any is scored
        runner.checkpoint_step(FLAGS.workdir, steps)
    classifier, classifier_dir = None, None
    failed = []
    for step in steps:
        started = time.perf_counter()
        run = runner.load_run(FLAGS.workdir, data_dir=FLAGS.data_dir, split=FLAGS.split, step=step)
        metrics = _requested(run.model, run.train_source.info)
        needs = ("inception_score", "fid", "kid", "mode_coverage", "conditional_accuracy")
        image = run.train_source.info.kind == "image"
        if classifier is None and image and any(m in metrics for m in needs):
            classifier, classifier_dir = runner.load_checked_classifier(
                FLAGS.classifier,
                run.train_source.info,
                data_dir=FLAGS.data_dir or run.config.get("data_dir"),
                train_steps=FLAGS.classifier_steps,
                log=print,
            )
        failed += _score(run, metrics, step, classifier, classifier_dir, runner, started)
    if failed:
        path, failures, done = failed[0]
        first = failures[0]
        raise PartialFailure(
            f"{len(failures)} metric(s) failed ({', '.join(f.metric for f in failures)}); "
            f"{first.metric}: {first.reason}; the {done} others and the tracebacks "
            f"are in {path}" + (f" ({len(failed)} reports failed)" if len(failed) > 1 else "")
        )


def _score(run, metrics, step, classifier, classifier_dir, runner, started) -> list:
    """Scores one loaded run into its report, with the seconds since `started` (its loading,
    a classifier's loading or training, and its scoring); [(path, failures, number done)] if
    any failed."""
    from unigen_jax.train.workdir import eval_report_name

    path = os.path.join(FLAGS.workdir, eval_report_name(FLAGS.split, step))
    report = {
        "workdir": os.path.abspath(FLAGS.workdir),
        "step": run.step,
        "model": run.model.name,
        "dataset": run.train_source.info.name,
        "split": FLAGS.split,
        "not_applicable": [m for m in FLAGS.metrics if m != "auto" and m not in metrics],
        "classifier": None
        if classifier is None
        else {"path": classifier_dir, **classifier.metadata},
    }

    def save(results, failures):  # after every metric: a later failure or kill loses nothing
        report["metrics"] = results
        report["seconds"] = time.perf_counter() - started
        report["failed"] = {
            f.metric: {"reason": f.reason, "traceback": f.traceback} for f in failures
        }
        with open(path + ".tmp", "w") as f:
            json.dump(report, f, indent=2, sort_keys=True)
        os.replace(path + ".tmp", path)

    results, failures = runner.evaluate(
        run,
        metrics,
        classifier=classifier,
        num_samples=FLAGS.num_samples,
        critic_steps=FLAGS.critic_steps,
        nll_samples=FLAGS.nll_samples,
        nll_examples=FLAGS.nll_examples,
        seed=FLAGS.seed,
        log=print,
        on_result=save,
    )
    save(results, failures)
    if classifier is not None:
        print(
            f"classifier: {classifier_dir} (test accuracy "
            f"{classifier.metadata['test_accuracy']:.4f})"
        )
    print(f"{run.model.name} on {run.train_source.info.name} at step {run.step}:")
    print(_table(results))
    print(f"wrote {path}")
    return [(path, failures, len(results))] if failures else []


if __name__ == "__main__":
    _cli.run(main)
