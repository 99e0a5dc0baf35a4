"""Runs a study (`experiments.studies.spec.Study`): each arm's runs through the
`experiments.train` and `experiments.evaluate` commands, as a user would run them, resumable
run by run; the table of the paper's figures beside ours. `experiments.reproduce` is its CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time

from experiments.studies import early_stopping, sweep
from experiments.studies.common import (
    complete_report,
    flag_value,
    fmt,
    mean_std,
    metric_name,
    report_value,
    slug,
    validation_fraction,
)
from unigen_jax.data.mixtures import MIXTURES
from unigen_jax.errors import PartialFailure, UserInputError
from unigen_jax.train.workdir import eval_report_name, recorded_seconds

CLASSIFIER_METRICS = ("inception_score", "conditional_accuracy")


class Runner:
    """Runs a study's commands (or prints them), keeping what each run produced."""

    def __init__(
        self,
        study,
        scale,
        root: str,
        *,
        dry_run=False,
        report_only=False,
        data_dir=None,
        classifier=None,
    ):
        self.study, self.scale, self.root, self.dry_run = study, scale, root, dry_run
        self.report_only = report_only
        self.data_dir, self.given_classifier = data_dir, classifier
        self.failures: list[str] = []
        self.not_run: list[str] = []  # the commands a report-only runner left out
        self.seconds = 0.0

    def command(self, module: str, args: list[str], log_path: str) -> bool:
        """Runs `python -m module args`, its output in log_path; True if it succeeded. A
        report-only runner runs nothing: False, and not a failure."""
        if self.report_only:
            self.not_run.append(module)
            return False
        cmd = [sys.executable, "-m", module, *args]
        # Progress, as each command starts, in a form a user can paste into a shell.
        print("  $ " + shlex.join(["python", *cmd[1:]]), flush=True)
        if self.dry_run:
            return True
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        started = time.perf_counter()
        with open(log_path, "a") as log:
            code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
        self.seconds += time.perf_counter() - started
        if code:
            self.failures.append(f"{module} {' '.join(args)} (exit {code}; log {log_path})")
        return code == 0

    def classifier(self) -> str | None:
        needs = CLASSIFIER_METRICS
        if self.scale.dataset not in MIXTURES:  # stacked MNIST's modes: a per-channel one
            needs += ("mode_coverage",)
        if not any(metric in needs for metric, _ in self.study.metrics):
            return None
        if self.given_classifier:
            return os.path.abspath(self.given_classifier)
        path = os.path.join(self.root, f"classifier_{self.scale.dataset}")
        if not os.path.exists(os.path.join(path, "classifier.json")):
            args = [f"--dataset={self.scale.dataset}", f"--workdir={path}"]
            if self.data_dir:
                args.append(f"--data_dir={self.data_dir}")
            self.command("experiments.train_classifier", args, path + ".log")
        return path

    def run_steps(self, arm) -> int:
        """The steps a run of `arm` trains: the arm's own `run` steps, else the scale's."""
        return arm.run.get("steps", self.scale.steps)

    def score(self, workdir: str, arm, config: dict, seed: int, split: str, classifier):
        """Trains and evaluates one run; returns its eval report (None if it failed). A run
        scored at fewer steps than it now trains (a study lengthened since) is continued from
        its latest checkpoint and scored again."""
        steps = self.run_steps(arm)
        report = self.saved_report(workdir, split, steps=steps)
        if report is not None:
            return report
        run_flags = {
            "model": arm.model,
            "dataset": self.scale.dataset,
            "workdir": workdir,
            "steps": steps,
            "batch_size": self.scale.batch_size,
            "seed": seed,
            **(
                {"validation_fraction": validation_fraction(self.study, self.scale)}
                if validation_fraction(self.study, self.scale)
                else {}
            ),
            **arm.run,
        }
        if self.data_dir:
            run_flags["data_dir"] = self.data_dir
        train_args = [f"--{k}={flag_value(v)}" for k, v in run_flags.items()]
        train_args += [f"--config.{k}={flag_value(v)}" for k, v in config.items()]
        log = os.path.join(workdir, "run.log")
        if not self.command("experiments.train", train_args, log):
            return None
        return self.evaluate(workdir, seed, split, classifier, steps=steps)

    def _metric_names(self, metrics=None) -> list[str]:
        return list(dict.fromkeys(m for m, _ in (metrics or self.study.metrics)))

    def saved_report(self, workdir: str, split: str, metrics=None, steps=None):
        """The run's eval report on `split` if it holds every metric of `metrics` ((metric,
        key) pairs; default the study's) and, given `steps`, scores the run at that step; else
        None. Given `steps`, the report of that step (`experiments.evaluate --step`, as the
        commands of a dry run score a run in other processes) serves when the latest
        checkpoint's has not been written. A report of a later step is an error: a run cannot be
        trained backwards."""
        names = self._metric_names(metrics)
        report = complete_report(os.path.join(workdir, eval_report_name(split)), names)
        if report is not None and (steps is None or report.get("step", steps) == steps):
            return report
        if report is not None and report["step"] > steps:
            raise UserInputError(
                f"{workdir} holds a run trained to step {report['step']}, past the {steps} "
                f"steps asked for; ask for --steps={report['step']} or more, or give the study "
                "another --workdir"
            )
        if steps is None:
            return None
        return complete_report(os.path.join(workdir, eval_report_name(split, steps)), names)

    def evaluate_args(self, workdir: str, seed: int, split: str, classifier, metrics=None):
        """The `experiments.evaluate` flags that score a run on `split` by `metrics` ((metric,
        key) pairs; default the study's) at this scale."""
        names = self._metric_names(metrics)
        eval_args = [
            f"--workdir={workdir}",
            f"--metrics={','.join(names)}",
            f"--split={split}",
            f"--num_samples={self.scale.num_samples}",
            f"--seed={seed}",
            *(f"--{k}={flag_value(v)}" for k, v in self.scale.evaluate.items()),
        ]
        if classifier:
            eval_args.append(f"--classifier={classifier}")
        if len(names) > 1:  # an extra metric may not apply to every arm (the GAN's rmse)
            eval_args.append("--skip_inapplicable")
        return eval_args

    def evaluate(self, workdir: str, seed: int, split: str, classifier, metrics=None, steps=None):
        """Evaluates a trained run on `split` by `metrics` ((metric, key) pairs; default the
        study's), unless its report holds them (at `steps`, if given); returns the report (None
        if it failed)."""
        report = self.saved_report(workdir, split, metrics, steps)
        if report is not None:
            return report
        eval_args = self.evaluate_args(workdir, seed, split, classifier, metrics)
        log = os.path.join(workdir, "run.log")
        if not self.command("experiments.evaluate", eval_args, log) or self.dry_run:
            return None
        with open(os.path.join(workdir, eval_report_name(split))) as f:
            return json.load(f)


def study_seconds(study_dir: str) -> dict:
    """What the runs under `study_dir` record of their own compute, whoever ran them (this
    runner, or commands run by hand in other processes): training and scoring seconds, the
    runs, and how many of them record their training (runs made before the record was kept
    do not)."""
    recorded = {"train": 0.0, "scoring": 0.0, "runs": 0, "runs_recorded": 0}
    for folder, dirs, files in os.walk(study_dir):
        dirs[:] = [d for d in dirs if d not in ("checkpoints", "tensorboard", "samples")]
        if "config.json" in files:
            train, scoring = recorded_seconds(folder)
            recorded["train"] += train
            recorded["scoring"] += scoring
            recorded["runs"] += 1
            recorded["runs_recorded"] += train > 0
    return recorded


def compute_line(seconds: float, recorded: dict | None = None) -> str:
    """The report's compute: the runner's own commands, and what the runs record."""
    line = f"Compute: {seconds / 60:.1f} min of runs on this machine"
    if recorded and recorded["runs_recorded"]:
        line += (
            f"; recorded by {recorded['runs_recorded']} of the {recorded['runs']} runs "
            f"themselves (any process): {recorded['train'] / 60:.1f} min training, "
            f"{recorded['scoring'] / 60:.1f} min scoring"
        )
    return line + "."


def report_markdown(study, scale_name, scale, rows, seconds, recorded=None) -> str:
    metric, key = study.metric
    also = [metric_name(*pair) for pair in study.also]
    extra_header = "".join(f" {n} (mean ± std) | {n} per seed | {n} real |" for n in also)
    lines = [
        f"### {study.title}",
        "",
        f"Scale `{scale_name}`: {scale.dataset}, {scale.steps} steps, batch {scale.batch_size}, "
        f"{scale.num_samples} samples a score; metric `{metric}.{key}`, mean ± std over seeds.",
        f"Command: `python -m experiments.reproduce --study={study.name} --scale={scale_name}`",
        "",
        "| arm | paper | ours (mean ± std) | seeds | per seed | chosen | real test data |"
        + extra_header,
        "| --- | --- | --- | --- | --- | --- | --- |" + " --- |" * (3 * len(also)),
    ]
    for row in rows:
        mean, std = mean_std(row["values"])
        per_seed = ", ".join(fmt(v) for v in row["values"])
        chosen = row.get("chosen") or ""
        lines.append(
            f"| {row['label']} | {row['paper'] or '-'} | {fmt(mean)} ± {fmt(std, 2)} | "
            f"{sum(v is not None for v in row['values'])} | {per_seed} | {chosen} | "
            f"{fmt(row.get('real'))} |" + "".join(_extra_cells(row["also"][name]) for name in also)
        )
    lines += sweep.report_lines(study, rows)
    lines += ["", study.notes, "", compute_line(seconds, recorded)]
    return "\n".join(lines)


def _extra_cells(entry) -> str:
    mean, std = mean_std(entry["values"])
    per_seed = ", ".join(fmt(v) for v in entry["values"])
    return f" {fmt(mean)} ± {fmt(std, 2)} | {per_seed} | {fmt(entry['real'])} |"


def run_study(
    study,
    scale_name: str,
    root: str,
    *,
    overrides=None,
    dry_run=False,
    report_only=False,
    data_dir=None,
    classifier=None,
    runner_class=None,
    log=print,
) -> dict:
    """Runs (or resumes) every run of `study` at `scale_name` under root/STUDY/SCALE; returns
    the rows of its table. `overrides` replace the scale's seeds, steps or num_samples.
    `report_only` runs nothing and writes the table of the runs scored so far (a study whose
    runs go on elsewhere: other cores, other machines); a choice whose candidates are not all
    scored stays unmade."""
    if dry_run and report_only:
        raise UserInputError("--dry_run and --report_only exclude each other; give one")
    scale = study.scales[scale_name]
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for name, value in overrides.items():
        if value <= 0:
            raise UserInputError(f"--{name} must be positive, got {value}")
    scale = dataclasses.replace(scale, **overrides)
    root = os.path.abspath(root)
    study_dir = os.path.join(root, study.name, scale_name)
    runner = (runner_class or Runner)(
        study,
        scale,
        root,
        dry_run=dry_run,
        report_only=report_only,
        data_dir=data_dir,
        classifier=classifier,
    )
    results_path = os.path.join(study_dir, "results.json")
    previous_seconds = 0.0
    if os.path.exists(results_path):
        with open(results_path) as f:
            previous_seconds = json.load(f).get("seconds", 0.0)
    log(f"{study.title}\nscale {scale_name}: {scale}")
    classifier = runner.classifier()
    metric, key = study.metric
    rows = []

    def save():
        if dry_run:
            return
        os.makedirs(study_dir, exist_ok=True)
        seconds = previous_seconds + runner.seconds
        recorded = study_seconds(study_dir)
        payload = {
            "study": study.name,
            "scale": scale_name,
            "settings": scale.__dict__,
            "metric": list(study.metric),
            **({"also": [list(pair) for pair in study.also]} if study.also else {}),
            "rows": rows,
            "seconds": seconds,
            "recorded_seconds": recorded,
        }
        with open(results_path + ".tmp", "w") as f:
            json.dump(payload, f, indent=2)
        os.replace(results_path + ".tmp", results_path)
        with open(os.path.join(study_dir, "REPORT.md"), "w") as f:
            f.write(report_markdown(study, scale_name, scale, rows, seconds, recorded) + "\n")

    for arm in (study_arm.at_scale(scale_name) for study_arm in study.arms):
        arm_dir = os.path.join(study_dir, slug(arm.label))
        config = {**scale.config, **arm.config}
        row = {
            "label": arm.label,
            "paper": arm.paper,
            "values": [],
            "seeds": [],
            "real": None,
            "chosen": None,
        }
        if study.also:
            row["also"] = {metric_name(*pair): {"values": [], "real": None} for pair in study.also}
        rows.append(row)
        if arm.sweep_at(scale_name) is not None:
            settings = arm.sweep_at(scale_name).settings
            sweep.run_arm(
                runner, study, scale, arm, settings, arm_dir, config, classifier, row, save
            )
            save()
            continue
        reuse = {}
        if arm.select is not None:
            selection = {}
            for value in arm.select.values:
                workdir = os.path.join(arm_dir, f"select_{arm.select.field}_{flag_value(value)}")
                candidate = {**config, arm.select.field: value}
                if arm.early_stopping:  # the candidate at its best checkpoint
                    report, step, _ = early_stopping.best_on_validation(
                        runner, workdir, arm, candidate, 0, classifier, "validation"
                    )
                    row.setdefault("selection_steps", {})[flag_value(value)] = step
                else:
                    report = runner.score(workdir, arm, candidate, 0, "validation", classifier)
                selection[value] = report_value(report, metric, key)
            scored = {v: s for v, s in selection.items() if s is not None}
            if not scored or (report_only and len(scored) < len(selection)):
                save()
                continue
            best = max(scored, key=scored.get)
            config[arm.select.field] = best
            row["chosen"] = f"{arm.select.field}={flag_value(best)}"
            row["selection"] = {flag_value(v): s for v, s in selection.items()}
            reuse[0] = os.path.join(arm_dir, f"select_{arm.select.field}_{flag_value(best)}")
        selected = row["chosen"]
        for seed in range(scale.seeds):
            workdir = reuse.get(seed, os.path.join(arm_dir, f"seed{seed}"))
            if arm.early_stopping:
                report, step = early_stopping.score(runner, workdir, arm, config, seed, classifier)
                row.setdefault("stopped_at", []).append(step)
                stopped = ", ".join("-" if s is None else str(s) for s in row["stopped_at"])
                row["chosen"] = "; ".join(
                    filter(None, [selected, f"best validation step {stopped}"])
                )
            else:
                report = runner.score(workdir, arm, config, seed, "test", classifier)
            row["values"].append(report_value(report, metric, key))
            row["seeds"].append(seed)
            row.setdefault("workdirs", []).append(os.path.relpath(workdir, study_dir))
            if row["real"] is None:
                row["real"] = report_value(report, metric, key, "real")
            for pair in study.also:
                entry = row["also"][metric_name(*pair)]
                entry["values"].append(report_value(report, *pair))
                if entry["real"] is None:
                    entry["real"] = report_value(report, *pair, "real")
            save()
    markdown = report_markdown(
        study,
        scale_name,
        scale,
        rows,
        previous_seconds + runner.seconds,
        None if dry_run else study_seconds(study_dir),
    )
    log(markdown)
    if runner.not_run:
        log(f"report only: {len(runner.not_run)} command(s) not run; their runs are n/a above")
    if not dry_run and any("sweep" in row for row in rows):
        sweep.box_plot(study, rows, os.path.join(study_dir, "sweep.png"), log=log)
    if runner.failures:
        raise PartialFailure(
            f"{len(runner.failures)} command(s) failed, first: {runner.failures[0]}; the "
            f"finished runs are in {results_path}"
        )
    return {"rows": rows}
