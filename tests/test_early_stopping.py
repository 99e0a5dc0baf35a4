"""Early-stopped arms: the checkpoints kept, the step chosen on validation data, its test score
as the row's value, resume without running again, and the one-line errors."""

import json
import os
import shutil

import pytest

from experiments.studies import Arm, Scale, Selection, Study, Sweep, early_stopping, trajectory
from experiments.studies import runner as study_runner
from unigen_jax.errors import UserInputError
from unigen_jax.train.workdir import eval_report_name

STEPS = 12


def validation_score(seed: int, step: int) -> float:
    """Peaks at step 4 for seed 0 and at step 8 for the others: a baseline that overfits."""
    best = 4 if seed == 0 else 8
    return 0.9 - 0.01 * (step - best) ** 2


def final_score(seed: int, step: int) -> float:
    return 0.5 + step / 100 + seed / 1000


def toy(**scale):
    return Study(
        name="toy_early",
        title="a toy early-stopped baseline",
        metric=("classification_accuracy", "value"),
        arms=(
            Arm("baseline", "svae", config={"supervised_only": True}, early_stopping=6),
            Arm("model", "svae"),
        ),
        scales={"cpu": Scale(dataset="mnist5k", steps=STEPS, seeds=2, **scale)},
        validation_fraction=0.1,
    )


class FakeCommands(study_runner.Runner):
    """Trains nothing; `experiments.evaluate` writes a report per asked step (or the last
    step's eval.json) on the asked split, from the scores above."""

    commands: list = []

    def classifier(self):
        return None

    def command(self, module, args, log_path):
        FakeCommands.commands.append((module, args))
        if module != "experiments.evaluate":
            return True
        flags = dict(arg[2:].split("=", 1) for arg in args if "=" in arg)
        workdir, split, seed = flags["workdir"], flags["split"], int(flags["seed"])
        os.makedirs(workdir, exist_ok=True)
        asked = [int(s) for s in flags["step"].split(",")] if "step" in flags else [None]
        for step in asked:
            at = STEPS if step is None else step
            value = self.value(workdir, split, seed, at)
            report = {
                "step": at,
                "metrics": {"classification_accuracy": {"model": {"value": value}}},
            }
            with open(os.path.join(workdir, eval_report_name(split, step)), "w") as f:
                json.dump(report, f)
        return True

    def value(self, workdir, split, seed, step):
        return (validation_score if split == "validation" else final_score)(seed, step)


class FakeTrajectoryRunner(trajectory.TrajectoryRunner, FakeCommands):
    pass


def test_checkpoints_are_evenly_spaced_and_the_best_is_the_earliest_of_ties():
    assert early_stopping.checkpoint_steps(12, 6) == (2, 4, 6, 8, 10, 12)
    assert early_stopping.checkpoint_steps(13, 6) == (2, 4, 6, 8, 10, 12, 13)
    assert early_stopping.checkpoint_steps(2, 30) == (1, 2)  # a 2-step smoke run
    assert early_stopping.best_step({2: 0.5, 4: 0.7, 6: 0.7, 8: None}, "max") == 4
    assert early_stopping.best_step({2: 0.5, 4: 0.7, 6: 0.3}, "min") == 6
    assert early_stopping.best_step({2: None}, "max") is None


@pytest.mark.parametrize(
    "runner_class, at_steps", [(FakeCommands, ()), (FakeTrajectoryRunner, (6,))]
)
def test_the_row_is_the_test_score_of_the_best_validation_checkpoint(
    tmp_path, runner_class, at_steps
):
    FakeCommands.commands = []
    study = toy(at_steps=at_steps)
    run = trajectory.run_trajectory_study if at_steps else study_runner.run_study
    rows = run(study, "cpu", str(tmp_path), runner_class=runner_class, log=lambda _: None)["rows"]
    baseline, model = rows
    assert baseline["values"] == [final_score(0, 4), final_score(1, 8)]
    assert baseline["stopped_at"] == [4, 8]
    assert baseline["chosen"] == "best validation step 4, 8"
    assert model["values"] == [final_score(0, STEPS), final_score(1, STEPS)]  # the last step
    assert "stopped_at" not in model and model["chosen"] is None

    # The baseline's commands: its workdir is the train command's 3rd flag, evaluate's 1st.
    trains = [
        a for m, a in FakeCommands.commands if m == "experiments.train" and "baseline" in a[2]
    ]
    baseline_commands = [args for _, args in FakeCommands.commands if "baseline" in args[0]]
    assert len(trains) == 2
    for args in trains:  # every checkpoint kept: steps // 6 = 2 (and 6, the trajectory's)
        assert "--checkpoint_every=2" in args and "--keep_checkpoints_every=2" in args
    validations = [a for a in baseline_commands if "--split=validation" in a]
    assert len(validations) == 2
    assert all("--step=2,4,6,8,10,12" in a for a in validations)
    assert all("--metrics=classification_accuracy" in a for a in validations)
    tests_at_best = [a for a in baseline_commands if "--split=test" in a and "--step=4" in a]
    assert len(tests_at_best) == 1
    report = (tmp_path / "toy_early" / "cpu" / "REPORT.md").read_text()
    assert "| best validation step 4, 8 |" in report

    class NoCommands(runner_class):
        def command(self, *a, **k):
            raise AssertionError("a finished run was run again")

    again = run(study, "cpu", str(tmp_path), runner_class=NoCommands, log=lambda _: None)
    assert again["rows"] == rows


def candidate_score(temperature: float, step: int) -> float:
    """tau = 3 peaks higher (0.95 at step 6) than tau = 1 (0.9 at step 4, its last step 12
    scoring 0.26): a selection by the last step alone would keep tau = 1 (0.26 > -0.04)."""
    if temperature == 3:
        return 0.95 - 0.1 * (step - 6) ** 2 / 3
    return 0.9 - 0.01 * (step - 4) ** 2


class FakeSelectionCommands(FakeCommands):
    """As FakeCommands, with each candidate's validation scores (its workdir names tau) from
    candidate_score."""

    def value(self, workdir, split, seed, step):
        if split == "validation" and "select_temperature_" in workdir:
            return candidate_score(float(workdir.rsplit("_", 1)[1]), step)
        return super().value(workdir, split, seed, step)


def test_a_selection_chooses_the_value_and_the_step_together(tmp_path, capsys):
    FakeCommands.commands = []
    study = Study(
        name="toy_select_early",
        title="a toy selection of tau with early stopping",
        metric=("classification_accuracy", "value"),
        arms=(
            Arm(
                "aa",
                "svae",
                select=Selection("temperature", (1.0, 3.0)),
                early_stopping={"cpu": 6, "full": 100},
            ),
        ),
        scales={"cpu": Scale(dataset="mnist5k", steps=STEPS, seeds=2)},
        validation_fraction=0.1,
    )
    (row,) = study_runner.run_study(
        study, "cpu", str(tmp_path), runner_class=FakeSelectionCommands, log=lambda _: None
    )["rows"]
    assert row["selection"] == {"1.0": pytest.approx(0.9), "3.0": pytest.approx(0.95)}
    assert row["selection_steps"] == {"1.0": 4, "3.0": 6}
    # Seed 0 is tau = 3's candidate, stopped at 6; seed 1 trains with tau = 3, stopped at 8.
    assert row["workdirs"][0] == os.path.join("aa", "select_temperature_3.0")
    assert row["stopped_at"] == [6, 8]
    assert row["chosen"] == "temperature=3.0; best validation step 6, 8"
    assert row["values"] == [final_score(0, 6), final_score(1, 8)]
    trains = [a for m, a in FakeCommands.commands if m == "experiments.train"]
    seed1 = [a for a in trains if "--seed=1" in a]
    assert seed1 and all("--config.temperature=3.0" in a for a in seed1)
    assert all("--keep_checkpoints_every=2" in a for a in trains)  # steps // 6, at cpu scale
    # Every checkpoint of every candidate was scored on validation; none on test but tau = 3's.
    tested = {a[0] for m, a in FakeCommands.commands if "--split=test" in a}
    assert not any("select_temperature_1.0" in workdir for workdir in tested)

    # A dry run reads a finished selection's choice and prints the seeds it still needs.
    shutil.rmtree(tmp_path / "toy_select_early" / "cpu" / "aa" / "seed1")
    capsys.readouterr()
    study_runner.run_study(study, "cpu", str(tmp_path), dry_run=True, log=lambda _: None)
    printed = [line for line in capsys.readouterr().out.splitlines() if "$ python" in line]
    assert [line.split()[3] for line in printed] == [
        "experiments.train",  # seed 1 at tau = 3, then its scores: the last step on test,
        "experiments.evaluate",  # then every checkpoint on validation
        "experiments.evaluate",
    ]
    assert "--config.temperature=3.0" in printed[0] and "--seed=1" in printed[0]


def test_early_stopping_by_scale():
    arm = Arm("a", "svae", early_stopping={"full": 30}, select=Selection("t", (1, 2)))
    assert arm.at_scale("full").early_stopping == 30
    assert arm.at_scale("cpu").early_stopping == 0
    assert Arm("b", "svae", early_stopping=4).at_scale("cpu").early_stopping == 4


def test_early_stopping_needs_validation_data_and_no_sweep(tmp_path):
    study = Study(
        name="no_validation",
        title="t",
        metric=("classification_accuracy", "value"),
        arms=(Arm("baseline", "svae", early_stopping=3),),
        scales={"cpu": Scale(dataset="mnist5k", steps=6, seeds=1)},
    )
    with pytest.raises(UserInputError, match="holds none out at this scale"):
        study_runner.run_study(study, "cpu", str(tmp_path), runner_class=FakeCommands, log=print)
    assert not (tmp_path / "no_validation" / "cpu" / "baseline").exists()
    with pytest.raises(ValueError, match="early stopping with a Sweep"):
        Arm("a", "svae", early_stopping=3, sweep=Sweep(({"t": 1}, {"t": 2})))
    with pytest.raises(ValueError, match="early_stopping must be >= 0"):
        Arm("a", "svae", early_stopping=-1)
    with pytest.raises(ValueError, match="early_stopping must be >= 0"):
        Arm("a", "svae", early_stopping={"full": -2})
