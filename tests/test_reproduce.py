"""The reproduction runner: selection on validation data, aggregation over seeds, resume, the
CLI's one-line errors, and one tiny real study end to end."""

import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest

from experiments import keep_evidence
from experiments.studies import STUDIES, Arm, Scale, Selection, Study
from experiments.studies import runner as study_runner
from unigen_jax.errors import UserInputError
from unigen_jax.train.workdir import eval_report_name, recorded_seconds

from .helpers import saved_classifier
from .test_eval_runner import REPO

TOY = Study(
    name="toy",
    title="a toy study",
    metric=("elbo", "elbo"),
    arms=(
        Arm("base", "vae", paper="-1.0"),
        Arm("tuned", "vae", config={"adversary_activated": True}, select=Selection("t", (1, 2, 3))),
    ),
    scales={"cpu": Scale(dataset="digits", steps=1, seeds=3)},
    validation_fraction=0.1,
)


class FakeRunner(study_runner.Runner):
    """Scores without training: validation score -(t - 2)^2, test score seed + t (or seed)."""

    calls: list = []

    def classifier(self):
        return None

    def score(self, workdir, arm, config, seed, split, classifier):
        FakeRunner.calls.append((os.path.basename(workdir), config, seed, split))
        t = config.get("t", 0)
        value = -((t - 2) ** 2) if split == "validation" else seed + t
        return {"metrics": {"elbo": {"model": {"elbo": value}, "real": {"elbo": 5.0}}}}


def test_selection_picks_the_best_validation_score_and_seeds_aggregate(tmp_path):
    FakeRunner.calls = []
    result = study_runner.run_study(
        TOY, "cpu", str(tmp_path), runner_class=FakeRunner, log=lambda _: None
    )
    base, tuned = result["rows"]
    assert tuned["chosen"] == "t=2" and tuned["selection"] == {"1": -1, "2": 0, "3": -1}
    assert base["values"] == [0, 1, 2] and tuned["values"] == [2, 3, 4]
    # Seed 0 of the tuned arm is the selection run of the chosen value, scored on test data.
    assert ("select_t_2", {"adversary_activated": True, "t": 2}, 0, "test") in FakeRunner.calls
    report = (tmp_path / "toy" / "cpu" / "REPORT.md").read_text()
    mean, std = np.mean([2, 3, 4]), np.std([2, 3, 4], ddof=1)
    assert f"| tuned | - | {mean:.4g} ± {std:.2g} | 3 | 2, 3, 4 | t=2 | 5 |" in report
    saved = json.loads((tmp_path / "toy" / "cpu" / "results.json").read_text())
    assert saved["rows"][0]["values"] == [0, 1, 2]
    # A study without extra metrics keeps the format it had before `Study.also`.
    assert "also" not in saved and all("also" not in row for row in saved["rows"])
    assert report.splitlines()[6].count("|") == 8


def test_a_selection_made_at_some_scales_only_runs_the_fixed_value_at_the_others(tmp_path):
    arm = Arm(
        "tuned",
        "vae",
        select={"cpu": Selection("t", (1, 2, 3))},
        scale_config={"full": {"t": 3}},
    )
    scales = {"cpu": Scale(dataset="digits", steps=1, seeds=2), "full": Scale("digits", 1, 2)}
    study = Study("toy", "a toy study", ("elbo", "elbo"), (arm,), scales, validation_fraction=0.1)
    assert arm.at_scale("cpu").select == Selection("t", (1, 2, 3))
    assert arm.at_scale("full").select is None
    FakeRunner.calls = []
    (cpu,) = study_runner.run_study(
        study, "cpu", str(tmp_path), runner_class=FakeRunner, log=lambda _: None
    )["rows"]
    assert cpu["chosen"] == "t=2" and cpu["values"] == [2, 3]  # seed + t, t chosen = 2
    FakeRunner.calls = []
    (full,) = study_runner.run_study(
        study, "full", str(tmp_path), runner_class=FakeRunner, log=lambda _: None
    )["rows"]
    assert full["chosen"] is None and full["values"] == [3, 4]  # seed + t, t fixed = 3
    assert [(workdir, config, split) for workdir, config, _, split in FakeRunner.calls] == [
        ("seed0", {"t": 3}, "test"),
        ("seed1", {"t": 3}, "test"),
    ]


def test_report_only_runs_nothing_and_leaves_a_choice_with_unscored_candidates_unmade(
    tmp_path, monkeypatch
):
    def no_process(*args, **kwargs):
        raise AssertionError("a report-only study ran a command")

    monkeypatch.setattr(study_runner.subprocess, "run", no_process)
    written = {"base/seed0": 1.5, "base/seed2": 2.5, "tuned/select_t_1": 7.0}
    for run, value in written.items():
        split = "validation" if "select" in run else "test"
        report = {"split": split, "metrics": {"elbo": {"model": {"elbo": value}}}}
        path = tmp_path / "toy" / "cpu" / run / eval_report_name(split)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(report))
    logged = []
    result = study_runner.run_study(TOY, "cpu", str(tmp_path), report_only=True, log=logged.append)
    base, tuned = result["rows"]
    assert base["values"] == [1.5, None, 2.5]
    assert tuned["chosen"] is None and tuned["values"] == []  # t = 2 and 3 are not scored yet
    saved = json.loads((tmp_path / "toy" / "cpu" / "results.json").read_text())
    assert saved["rows"] == result["rows"] and saved["seconds"] == 0
    assert "report only: 3 command(s) not run" in logged[-1]
    with pytest.raises(UserInputError, match="--dry_run and --report_only exclude each other"):
        study_runner.run_study(TOY, "cpu", str(tmp_path), dry_run=True, report_only=True)


def test_report_only_reads_runs_scored_by_the_dry_runs_commands_in_other_processes(
    tmp_path, monkeypatch
):
    """`experiments.evaluate --step=N` (a dry run's command) writes the report of step N only;
    it is the run's result when N is the run's last step, and an earlier step's is not."""
    monkeypatch.setattr(study_runner.subprocess, "run", None)  # any command would fail
    study = Study(
        name="toy",
        title="a toy study",
        metric=("elbo", "elbo"),
        arms=(Arm("base", "vae"),),
        scales={"cpu": Scale(dataset="digits", steps=10, seeds=2)},
    )
    for run, step, value in (("seed0", 10, -3.0), ("seed1", 5, -4.0)):
        report = {"step": step, "split": "test", "metrics": {"elbo": {"model": {"elbo": value}}}}
        path = tmp_path / "toy" / "cpu" / "base" / run / eval_report_name("test", step)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(report))
    result = study_runner.run_study(
        study, "cpu", str(tmp_path), report_only=True, log=lambda _: None
    )
    assert result["rows"][0]["values"] == [-3.0, None]


def test_a_scale_config_reaches_every_arm_and_an_arms_own_config_wins(tmp_path):
    FakeRunner.calls = []
    scaled = Study(
        name="scaled",
        title="a study whose scale sets hyperparameters",
        metric=("elbo", "elbo"),
        arms=(Arm("plain", "vae"), Arm("own", "vae", config={"t": 1})),
        scales={"cpu": Scale(dataset="digits", steps=1, seeds=1, config={"t": 7, "beta": 2.0})},
    )
    study_runner.run_study(scaled, "cpu", str(tmp_path), runner_class=FakeRunner, log=print)
    assert [call[1] for call in FakeRunner.calls] == [{"t": 7, "beta": 2.0}, {"t": 1, "beta": 2.0}]


ALSO = Study(
    name="also",
    title="a study with extra metrics",
    metric=("classification_accuracy", "matched"),
    also=(("conditional_accuracy", "matched"), ("elbo", "elbo")),
    arms=(Arm("base", "infogan", paper="0.95"),),
    scales={"cpu": Scale(dataset="digits", steps=1, seeds=3)},
)


class ExtraMetricsRunner(study_runner.Runner):
    """Scores without training: seed s has accuracy s, matched accuracy 10 s, ELBO -s; the
    accuracy alone has a value on real data. Records the evaluate commands."""

    commands: list = []

    def command(self, module, args, log_path):
        ExtraMetricsRunner.commands.append((module, args))
        if module == "experiments.evaluate":
            workdir = args[0].split("=", 1)[1]
            seed = int(workdir[-1])
            report = {
                "classification_accuracy": {"model": {"matched": seed}, "real": {"matched": 7}},
                "conditional_accuracy": {"model": {"matched": 10 * seed}},
                "elbo": {"model": {"elbo": -seed}},
            }
            os.makedirs(workdir, exist_ok=True)
            with open(os.path.join(workdir, "eval.json"), "w") as f:
                json.dump({"metrics": report}, f)
        return True


def test_extra_metrics_are_computed_in_one_evaluation_and_reported_beside(tmp_path):
    ExtraMetricsRunner.commands = []
    result = study_runner.run_study(
        ALSO,
        "cpu",
        str(tmp_path),
        classifier=str(tmp_path / "given"),
        runner_class=ExtraMetricsRunner,
        log=lambda _: None,
    )
    evaluations = [args for module, args in ExtraMetricsRunner.commands if "evaluate" in module]
    assert len(evaluations) == 3  # one evaluate call a seed computes every metric
    for args in evaluations:
        assert "--metrics=classification_accuracy,conditional_accuracy,elbo" in args
        # conditional_accuracy, an extra metric, needs the classifier.
        assert f"--classifier={tmp_path / 'given'}" in args
    (row,) = result["rows"]
    assert row["values"] == [0, 1, 2] and row["real"] == 7
    assert row["also"] == {
        "conditional_accuracy.matched": {"values": [0, 10, 20], "real": None},
        "elbo.elbo": {"values": [0, -1, -2], "real": None},
    }
    saved = json.loads((tmp_path / "also" / "cpu" / "results.json").read_text())
    assert saved["also"] == [["conditional_accuracy", "matched"], ["elbo", "elbo"]]
    assert saved["rows"] == result["rows"]
    report = (tmp_path / "also" / "cpu" / "REPORT.md").read_text().splitlines()
    header = next(line for line in report if line.startswith("| arm"))
    assert header.endswith(
        "| conditional_accuracy.matched (mean ± std) | conditional_accuracy.matched per seed "
        "| conditional_accuracy.matched real | elbo.elbo (mean ± std) | elbo.elbo per seed "
        "| elbo.elbo real |"
    )
    line = next(line for line in report if line.startswith("| base"))
    std10, std1 = np.std([0, 10, 20], ddof=1), np.std([0, -1, -2], ddof=1)
    assert line == (
        f"| base | 0.95 | 1 ± {np.std([0, 1, 2], ddof=1):.2g} | 3 | 0, 1, 2 |  | 7 "
        f"| 10 ± {std10:.2g} | 0, 10, 20 | n/a | -1 ± {std1:.2g} | 0, -1, -2 | n/a |"
    )
    assert len({line.count("|") for line in report if line.startswith("|")}) == 1

    # An eval.json without every extra metric (from before it was added) is evaluated again.
    with open(tmp_path / "also" / "cpu" / "base" / "seed1" / "eval.json", "w") as f:
        json.dump({"metrics": {"classification_accuracy": {"model": {"matched": 1}}}}, f)
    ExtraMetricsRunner.commands = []
    study_runner.run_study(
        ALSO,
        "cpu",
        str(tmp_path),
        classifier=str(tmp_path / "given"),
        runner_class=ExtraMetricsRunner,
        log=lambda _: None,
    )
    rerun = [args[0] for module, args in ExtraMetricsRunner.commands if "evaluate" in module]
    assert rerun == [f"--workdir={tmp_path / 'also' / 'cpu' / 'base' / 'seed1'}"]


def test_a_tiny_real_study_runs_end_to_end_and_resumes_without_running_again(tmp_path):
    saved_classifier("mnist5k", str(tmp_path / "classifier"), steps=2, batch_size=8)
    args = dict(
        overrides={"seeds": 1, "steps": 2, "num_samples": 40},
        classifier=str(tmp_path / "classifier"),
        log=lambda _: None,
    )
    study = STUDIES["hu2017_table2_is"]
    rows = study_runner.run_study(study, "cpu", str(tmp_path / "runs"), **args)["rows"]
    assert [row["label"] for row in rows] == ["GAN", "IWGAN"]
    for row in rows:
        assert len(row["values"]) == 1 and 1.0 <= row["values"][0] <= 10.0  # IS of 10 classes
        assert row["real"] is not None

    class NoCommands(study_runner.Runner):
        def command(self, *a, **k):
            raise AssertionError("a finished run was run again")

    again = study_runner.run_study(
        study, "cpu", str(tmp_path / "runs"), runner_class=NoCommands, **args
    )
    assert again["rows"] == rows
    # The compute that the runs record themselves: 2 runs trained and scored.
    saved = json.loads(
        (tmp_path / "runs" / "hu2017_table2_is" / "cpu" / "results.json").read_text()
    )
    recorded = saved["recorded_seconds"]
    assert recorded["runs"] == recorded["runs_recorded"] == 2
    assert 0 < recorded["train"] and 0 < recorded["scoring"]
    assert recorded["train"] + recorded["scoring"] <= saved["seconds"]  # inside the commands'
    report = (tmp_path / "runs" / "hu2017_table2_is" / "cpu" / "REPORT.md").read_text()
    assert (
        f"recorded by 2 of the 2 runs themselves (any process): "
        f"{recorded['train'] / 60:.1f} min training" in report
    )

    # On a new machine, the kept evidence alone (no checkpoints) resumes the study as finished.
    assert list((tmp_path / "runs").glob("**/checkpoints/*"))
    kept = tmp_path / "kept"
    written = keep_evidence.keep(str(tmp_path / "runs"), str(kept))
    assert "hu2017_table2_is/cpu/results.json" in written
    assert not list(kept.glob("**/checkpoints")) and not list(kept.glob("**/tensorboard"))
    moved = study_runner.run_study(study, "cpu", str(kept), runner_class=NoCommands, **args)
    assert moved["rows"] == rows
    assert keep_evidence.keep(str(tmp_path / "runs"), str(kept)) == []  # nothing changed


def test_recorded_seconds_count_a_copied_report_once(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"train_seconds": 10.0}))
    report = {"split": "test", "step": 100, "seconds": 3.0}
    for name in ("eval_step_000100.json", "eval.json"):  # the runner's copy of the latest
        (tmp_path / name).write_text(json.dumps(report))
    (tmp_path / "eval_validation.json").write_text(
        json.dumps({"split": "validation", "step": 100, "seconds": 2.0})
    )
    (tmp_path / "eval_notes.json.bak").write_text(json.dumps({"seconds": 50.0}))
    assert recorded_seconds(str(tmp_path)) == (10.0, 5.0)
    assert recorded_seconds(str(tmp_path / "missing")) == (0.0, 0.0)


def test_kept_evidence_leaves_checkpoints_and_all_but_the_latest_samples(tmp_path):
    run = tmp_path / "study" / "full" / "arm" / "seed0"
    files = [
        "config.json",
        "eval.json",
        ".lock",
        "checkpoints/step_2/params",
        "tensorboard/events.out",
        "samples/step_000500.png",
        "samples/step_001000.png",
        "samples/step_001000_reconstructions.png",
    ]
    for name in files:
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(name)
    assert keep_evidence.evidence_files(str(tmp_path / "study" / "full")) == [
        "arm/seed0/config.json",
        "arm/seed0/eval.json",
        "arm/seed0/samples/step_001000.png",
        "arm/seed0/samples/step_001000_reconstructions.png",
    ]


def test_kept_evidence_carries_the_classifiers_under_the_workdir_that_scored_it(tmp_path):
    runs = tmp_path / "runs"
    own, given = runs / "classifier_mnist70k", tmp_path / "elsewhere" / "classifier"
    for folder in (own, given):
        folder.mkdir(parents=True)
        (folder / "classifier.json").write_text("{}")
    (runs / "classifier_mnist70k.log").write_text("trained")
    (runs / "classifier_unused").mkdir()
    (runs / "classifier_unused" / "classifier.json").write_text("{}")
    for arm, classifier in (("a", own), ("b", given)):
        (runs / "study" / "full" / arm / "seed0").mkdir(parents=True)
        report = {"classifier": {"path": str(classifier)}}
        (runs / "study" / "full" / arm / "seed0" / "eval.json").write_text(json.dumps(report))
    (runs / "study" / "full" / "results.json").write_text("{}")
    written = keep_evidence.keep(str(runs), str(tmp_path / "kept"), "study")
    assert "classifier_mnist70k/classifier.json" in written
    assert "classifier_mnist70k.log" in written
    assert not [path for path in written if "unused" in path or "elsewhere" in path]
    assert (tmp_path / "kept" / "classifier_mnist70k.log").read_text() == "trained"


@pytest.mark.parametrize(
    "study, scale, message",
    [
        ("nope", None, "nope holds no study results"),
        ("study", "paper", "study/paper holds no study results"),
    ],
)
def test_keep_evidence_bad_input_says_what_is_missing(tmp_path, study, scale, message):
    (tmp_path / "runs" / "study" / "full").mkdir(parents=True)
    (tmp_path / "runs" / "study" / "full" / "results.json").write_text("{}")
    with pytest.raises(UserInputError, match=message):
        keep_evidence.keep(str(tmp_path / "runs"), str(tmp_path / "kept"), study, scale)
    assert not (tmp_path / "kept").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--study=nope"], "is not a study; choose one of: hu2017_table2_is"),
        (["--study=hu2017_table2_is", "--seeds=0", "--dry_run"], "--seeds must be positive"),
    ],
)
def test_reproduce_bad_input_is_one_line(args, message):
    result = subprocess.run(
        [sys.executable, "-m", "experiments.reproduce", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.parametrize("dataset, needs", [("stacked_mnist", True), ("ring8", False)])
def test_mode_coverage_of_stacked_mnist_reads_the_classifier(tmp_path, dataset, needs):
    # Stacked MNIST's modes are the per-channel classifier's digits; a mixture's are geometric.
    study = STUDIES["stabilisers_stacked_mnist"]
    scale = Scale(dataset=dataset, steps=1, seeds=1)
    given = str(tmp_path / "given")
    runner = study_runner.Runner(study, scale, str(tmp_path), dry_run=True, classifier=given)
    assert runner.classifier() == (given if needs else None)


def test_printed_commands_paste_into_a_shell_as_the_ones_run(tmp_path, capsys, monkeypatch):
    # Each command is printed as `python -m MODULE ARGS`, shell-quoted: split as a shell would
    # split it, it is the command the runner runs (the interpreter aside).
    ran = []

    def fake_run(cmd, **_):
        ran.append(cmd)
        if "experiments.evaluate" in cmd:
            (tmp_path / "a dir" / "run" / "eval.json").write_text('{"metrics": {}}')
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(study_runner.subprocess, "run", fake_run)
    scale = Scale(dataset="digits", steps=1, seeds=1)
    runner = study_runner.Runner(TOY, scale, str(tmp_path / "a dir"))
    workdir = str(tmp_path / "a dir" / "run")
    runner.score(workdir, TOY.arms[0], {"note": "two words"}, 0, "test", classifier=None)
    printed = [
        shlex.split(line.split("$ ", 1)[1])
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("  $ ")
    ]
    assert [cmd[0] for cmd in printed] == ["python", "python"]
    assert [[sys.executable, *cmd[1:]] for cmd in printed] == ran
    assert ran[0][1:3] == ["-m", "experiments.train"] and "--config.note=two words" in ran[0]


def test_an_arm_at_a_scale_takes_that_scales_config_and_run_overrides():
    arm = Arm(
        "a",
        "svae",
        config={"labelled_fraction": 0.01, "latent_dim": 4},
        run={"train_fraction": 0.5},
        scale_config={"full": {"labelled_fraction": 0.012}},
        scale_run={"full": {"train_fraction": 0.6}},
    )
    full = arm.at_scale("full")
    assert full.config == {"labelled_fraction": 0.012, "latent_dim": 4}
    assert full.run == {"train_fraction": 0.6} and not full.scale_config and not full.scale_run
    cpu = arm.at_scale("cpu")
    assert cpu.config == arm.config and cpu.run == arm.run
