"""Early stopping for a study's arm (`Arm.early_stopping`): each run keeps k evenly spaced
checkpoints, each is scored on the validation split by the study's metric, and the run's row
reports the test score of the best of them, so that a model that overfits (a classifier
trained on 600 labels alone, a VAE trained on 600 digits) is compared at its best, chosen
without test data. With a Selection, each candidate is scored by its best checkpoint on
validation (`best_on_validation`), and the chosen one is seed 0's run.

The run trains once with `--checkpoint_every` (and `--keep_checkpoints_every`) its period,
steps // k; `experiments.evaluate --step=S1,S2,...` scores the checkpoints whose validation
reports are not complete yet (`eval_step_NNNNNN_validation.json`), then the best step on test
(`eval_step_NNNNNN.json`). A resumed study skips every report already complete.
"""

from __future__ import annotations

import dataclasses
import os

from experiments.studies.common import complete_report, report_value, validation_fraction
from unigen_jax.errors import UserInputError
from unigen_jax.train.workdir import eval_report_name


def checkpoint_steps(steps: int, count: int) -> tuple[int, ...]:
    """The steps of `count` evenly spaced checkpoints of a `steps`-step run (every steps //
    count steps, at least 1), and the last step."""
    period = max(1, steps // count)
    return tuple(sorted(set(range(period, steps + 1, period)) | {steps}))


def best_step(scores: dict[int, float | None], goal: str) -> int | None:
    """The step whose score is the best for `goal` ("max" or "min"), the earliest of ties;
    None if no step is scored."""
    scored = {step: value for step, value in scores.items() if value is not None}
    if not scored:
        return None
    sign = -1.0 if goal == "min" else 1.0
    return max(sorted(scored), key=lambda step: sign * scored[step])


def best_on_validation(runner, workdir: str, arm, config: dict, seed: int, classifier, split):
    """Trains one early-stopped run of `arm` (keeping its checkpoints), scored at its last step
    on `split`, and scores every checkpoint on the validation split by the study's metric:
    (the validation report of the best, its step, the last step's report on `split`), or
    (None, None, None) if a command failed or in a dry run. A Selection's candidate is scored
    so, on `split` "validation" (its last step is one of the checkpoints)."""
    study, scale = runner.study, runner.scale
    if not validation_fraction(study, scale):
        raise UserInputError(
            f"arm {arm.label!r} stops early on validation data, but study {study.name!r} holds "
            "none out at this scale: give the study (or the scale) a validation_fraction"
        )
    steps = checkpoint_steps(runner.run_steps(arm), arm.early_stopping)
    period = steps[0]
    kept = {"checkpoint_every": period, "keep_checkpoints_every": period}
    trained = dataclasses.replace(arm, run={**arm.run, **kept})
    final = runner.score(workdir, trained, config, seed, split, classifier)
    if final is None and not runner.dry_run:  # (a dry run still prints the validation scoring)
        return None, None, None
    metric = [study.metric]
    validation = {step: _report(workdir, "validation", step, metric) for step in steps}
    if not _evaluate(runner, workdir, seed, "validation", classifier, validation):
        return None, None, None
    metric_name, key = study.metric
    reports = {step: _report(workdir, "validation", step, metric) for step in steps}
    scores = {step: report_value(report, metric_name, key) for step, report in reports.items()}
    best = best_step(scores, study.goal(metric_name, key))
    if best is None:
        return None, None, None
    return reports[best], best, final


def score(runner, workdir: str, arm, config: dict, seed: int, classifier):
    """Trains and scores one early-stopped run of `arm`: (its test report at the checkpoint
    best on validation, that step), or (None, None) if a command failed or in a dry run."""
    _, best, final = best_on_validation(runner, workdir, arm, config, seed, classifier, "test")
    if best is None:
        return None, None
    if best == runner.run_steps(arm):  # the last step: the run's own test report
        return final, best
    study = runner.study
    test = {best: _report(workdir, "test", best, study.metrics)}
    if not _evaluate(runner, workdir, seed, "test", classifier, test, study.metrics):
        return None, None
    return _report(workdir, "test", best, study.metrics), best


def _report(workdir: str, split: str, step: int, metrics):
    names = list(dict.fromkeys(name for name, _ in metrics))
    return complete_report(os.path.join(workdir, eval_report_name(split, step)), names)


def _evaluate(runner, workdir, seed, split, classifier, reports, metrics=None) -> bool:
    """Scores on `split` the steps of `reports` ({step: complete report or None}) that have
    none; True if every report is complete now: none was missing (a dry run, too, then reads
    them, so that it knows a finished selection's choice), or every command succeeded (not in
    a dry run)."""
    pending = [step for step, report in reports.items() if report is None]
    if not pending:
        return True
    metrics = metrics or [runner.study.metric]
    args = runner.evaluate_args(workdir, seed, split, classifier, metrics)
    args.append(f"--step={','.join(map(str, pending))}")
    log = os.path.join(workdir, "run.log")
    return runner.command("experiments.evaluate", args, log) and not runner.dry_run
