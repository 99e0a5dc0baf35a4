"""Studies scored along training (`Scale.at_steps`): each run keeps the checkpoints of those
steps and `experiments.evaluate --step` scores them, giving every metric of the study against
the training step, mean ± std over seeds at each step, as a Markdown table and a PNG of curves
(e.g. Su 2018, arXiv 1807.05936, Figure 1: a GAN that degrades with training, and one that
does not).

Each run is trained once, with `--checkpoint_every` and `--keep_checkpoints_every` the greatest
common divisor of the scored steps before the last (the last step is always saved, and kept as
the newest), and evaluated in one `experiments.evaluate` process over
all of them (`--step=S1,S2,...`, one `eval_step_NNNNNN.json` a step). The final step's report
is also copied to `eval.json`, the latest checkpoint's report, so `run_study`'s final-step table
(REPORT.md, results.json) and its resume rule apply unchanged: a run whose eval.json is complete
and of the scale's last step is skipped. A run scored at an earlier step (a study lengthened
since) trains on from its latest checkpoint, and only the steps it has no complete report of
are scored. Under STUDY/SCALE/ the trajectory is written to trajectory.json, TRAJECTORY.md and
trajectory.png.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil

from experiments.studies import runner as study_runner
from experiments.studies.common import (
    complete_report,
    fmt,
    mean_std,
    metric_name,
    report_value,
    slug,
)
from unigen_jax.errors import UserInputError
from unigen_jax.train.workdir import eval_report_name


def scored_steps(scale, steps: int | None = None) -> tuple[int, ...]:
    """The steps a run of `scale` is scored at: its `at_steps` before the run's last step
    (`steps`: the scale's, unless the arm trains its own length), and the last."""
    for step in scale.at_steps:
        if step <= 0:
            raise UserInputError(f"Scale.at_steps must be positive steps, got {step}")
    last = steps or scale.steps
    return tuple(sorted({s for s in scale.at_steps if s < last} | {last}))


class TrajectoryRunner(study_runner.Runner):
    """A `Runner` whose runs keep the checkpoints of the scored steps and score each of them."""

    _steps: int | None = None  # the length of the run `score` trains (None: the scale's)

    def score(self, workdir, arm, config, seed, split, classifier):
        # Also every checkpoint the arm keeps itself (an early-stopped arm's).
        self._steps = self.run_steps(arm)
        period = checkpoint_period(self.scale, self._steps)
        every = math.gcd(period, arm.run.get("checkpoint_every", 0))
        kept = {"checkpoint_every": every, "keep_checkpoints_every": every}
        self._workdir, self._split = workdir, split
        arm = dataclasses.replace(arm, run={**arm.run, **kept})
        return super().score(workdir, arm, config, seed, split, classifier)

    def command(self, module: str, args: list[str], log_path: str) -> bool:
        """Runs `module`; `experiments.evaluate` scores the scored steps whose reports are not
        complete yet (all of them, but for a run resumed or lengthened since it was scored),
        unless it names its steps itself (an early-stopped arm's validation scores)."""
        if module != "experiments.evaluate" or any(a.startswith("--step=") for a in args):
            return super().command(module, args, log_path)
        steps = scored_steps(self.scale, self._steps)
        names = next(a for a in args if a.startswith("--metrics=")).split("=", 1)[1].split(",")
        pending = [
            step
            for step in steps
            if self.dry_run or complete_report(self._report_path(step), names) is None
        ]
        succeeded = not pending or super().command(
            module, [*args, f"--step={','.join(map(str, pending))}"], log_path
        )
        if succeeded and not self.dry_run:  # the latest checkpoint's report
            final = self._report_path(steps[-1])
            shutil.copyfile(final, os.path.join(self._workdir, eval_report_name(self._split)))
        return succeeded

    def _report_path(self, step: int) -> str:
        return os.path.join(self._workdir, eval_report_name(self._split, step))


def checkpoint_period(scale, steps: int | None = None) -> int:
    """The period that keeps the checkpoint of every scored step of a run of `steps` (default
    the scale's): the greatest common divisor of those before the run's last step, which train
    saves and keeps anyway (5,000 steps scored every 600: 600, not gcd(600, 5000) = 200 and 25
    checkpoints)."""
    steps = scored_steps(scale, steps)
    return math.gcd(*steps[:-1]) if len(steps) > 1 else steps[0]


def _report(workdir: str, step: int):
    path = os.path.join(workdir, eval_report_name("test", step))
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _seed_workdirs(study, scale, study_dir: str, rows) -> list[list[str]]:
    """Each arm's run folder per seed: the ones `rows` (run_study's) name, where an arm with a
    Selection scores seed 0 in its chosen select_* run, else ARM/seedN."""
    workdirs = []
    for i, arm in enumerate(study.arms):
        arm_dir = os.path.join(study_dir, slug(arm.label))
        seeds = [os.path.join(arm_dir, f"seed{seed}") for seed in range(scale.seeds)]
        named = (rows[i].get("workdirs") or []) if rows and i < len(rows) else []
        for seed, relative in enumerate(named[: scale.seeds]):
            seeds[seed] = os.path.join(study_dir, relative)
        workdirs.append(seeds)
    return workdirs


def collect(study, scale_name: str, scale, study_dir: str, rows=None) -> dict:
    """The trajectory of every arm from the runs' eval_step reports under `study_dir`:
    {"steps": [...], "arms": [{"label", "metrics": {"metric.key": {"values": [[per seed] per
    step], "mean": [...], "std": [...], "real": value on real data or None}}}]}; a report not
    yet written is None (and left out of the mean and std), as is a step past an arm's own
    length (the union of the arms' scored steps). `rows`: run_study's, which name each seed's
    run folder (a Selection arm's seed 0 is its chosen run)."""
    lengths = {arm.at_scale(scale_name).run.get("steps", scale.steps) for arm in study.arms}
    steps = sorted({step for length in lengths for step in scored_steps(scale, length)})
    arms = []
    for arm, workdirs in zip(
        study.arms, _seed_workdirs(study, scale, study_dir, rows), strict=True
    ):
        reports = [[_report(workdir, step) for workdir in workdirs] for step in steps]
        metrics = {}
        for metric, key in study.metrics:
            values = [[report_value(r, metric, key) for r in at_step] for at_step in reports]
            spread = [mean_std(at_step) for at_step in values]
            reals = [report_value(r, metric, key, "real") for at_step in reports for r in at_step]
            metrics[metric_name(metric, key)] = {
                "values": values,
                "mean": [mean for mean, _ in spread],
                "std": [std for _, std in spread],
                "real": next((v for v in reals if v is not None), None),
            }
        arms.append({"label": arm.label, "paper": arm.paper, "metrics": metrics})
    return {"steps": list(steps), "arms": arms}


def trajectory_markdown(study, scale_name, scale, trajectory) -> str:
    """One table: a row per scored step, a column (mean ± std over seeds) per arm and metric."""
    names = [metric_name(*pair) for pair in study.metrics]
    columns = [(arm, name) for name in names for arm in trajectory["arms"]]
    lines = [
        f"### {study.title} (by training step)",
        "",
        f"Scale `{scale_name}`: {scale.dataset}, scored at steps "
        f"{', '.join(map(str, trajectory['steps']))} of {scale.steps} (batch "
        f"{scale.batch_size}), {scale.num_samples} samples a score, {scale.seeds} seeds; "
        "mean ± std over seeds (n: the seeds scored).",
        f"Command: `python -m experiments.reproduce --study={study.name} --scale={scale_name}`",
        "",
        "| step | " + " | ".join(f"{arm['label']}: {name}" for arm, name in columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]
    for i, step in enumerate(trajectory["steps"]):
        cells = []
        for arm, name in columns:
            entry = arm["metrics"][name]
            n = sum(v is not None for v in entry["values"][i])
            cells.append(f"{fmt(entry['mean'][i])} ± {fmt(entry['std'][i], 2)} (n={n})")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    reals = [f"{name} {fmt(trajectory['arms'][0]['metrics'][name]['real'])}" for name in names]
    lines += ["", f"Real test data: {', '.join(reals)}."]
    return "\n".join(lines)


def plot(study, trajectory, path: str) -> None:
    """Curves of each metric against the step: a line per arm (mean over seeds), a band of ±
    one std, the value on real test data dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [metric_name(*pair) for pair in study.metrics]
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    steps = np.asarray(trajectory["steps"])
    for axis, name in zip(axes[0], names, strict=True):
        for i, arm in enumerate(trajectory["arms"]):
            entry = arm["metrics"][name]
            mean = np.array([np.nan if v is None else v for v in entry["mean"]], float)
            std = np.array([np.nan if v is None else v for v in entry["std"]], float)
            color = f"C{i}"
            axis.plot(steps, mean, marker="o", color=color, label=arm["label"])
            axis.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2)
        real = trajectory["arms"][0]["metrics"][name]["real"]
        if real is not None:
            axis.axhline(real, color="gray", linestyle="--", label="real test data")
        axis.set_xlabel("training step")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.suptitle(study.title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _saved_rows(study_dir: str):
    """The rows of the study's results.json, if written (a study stopped by a failure)."""
    path = os.path.join(study_dir, "results.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f).get("rows")


def run_trajectory_study(
    study, scale_name: str, root: str, *, runner_class=None, log=print, **kwargs
) -> dict:
    """`run_study` with runs scored at `Scale.at_steps` (`runner_class` a TrajectoryRunner);
    then the trajectory of every arm written under root/STUDY/SCALE (trajectory.json,
    TRAJECTORY.md, trajectory.png). Returns run_study's rows and "trajectory"."""
    overrides = {k: v for k, v in (kwargs.get("overrides") or {}).items() if v is not None}
    scale = dataclasses.replace(study.scales[scale_name], **overrides)
    scored_steps(scale)  # bad at_steps are one line before anything runs
    error = None
    try:
        runner_class = runner_class or TrajectoryRunner
        result = study_runner.run_study(
            study, scale_name, root, runner_class=runner_class, log=log, **kwargs
        )
    except Exception as failure:  # a PartialFailure: the trajectory of what finished
        error, result = failure, {"rows": None}
    study_dir = os.path.join(os.path.abspath(root), study.name, scale_name)
    if not kwargs.get("dry_run"):
        rows = result["rows"] or _saved_rows(study_dir)
        trajectory = collect(study, scale_name, scale, study_dir, rows)
        os.makedirs(study_dir, exist_ok=True)
        with open(os.path.join(study_dir, "trajectory.json"), "w") as f:
            json.dump({"study": study.name, "scale": scale_name, **trajectory}, f, indent=2)
        markdown = trajectory_markdown(study, scale_name, scale, trajectory)
        with open(os.path.join(study_dir, "TRAJECTORY.md"), "w") as f:
            f.write(markdown + "\n")
        plot(study, trajectory, os.path.join(study_dir, "trajectory.png"))
        log(markdown)
        result["trajectory"] = trajectory
    if error is not None:
        raise error
    return result
