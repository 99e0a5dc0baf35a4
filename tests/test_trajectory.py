"""Studies scored along training: the runs' flags, the per-step aggregation over seeds (against
numpy), the table, the curves, resume, and the study's own definition."""

import json
import os

import numpy as np
import pytest

from experiments.studies import STUDIES, Arm, Scale, Selection, Study, trajectory
from experiments.studies import runner as study_runner
from unigen_jax.errors import UserInputError
from unigen_jax.train.workdir import eval_report_name

TOY = Study(
    name="toy_trajectory",
    title="a toy trajectory",
    metric=("inception_score", "mean"),
    also=(("diversity", "value"),),
    arms=(Arm("plain", "gan"), Arm("regularised", "su_gan", config={"base_features": 4})),
    scales={"cpu": Scale(dataset="mnist5k", steps=6, seeds=3, at_steps=(2, 4, 8))},
)


def fake_scores(label, seed, step):
    """The fake eval reports' values: inception score and diversity of (arm, seed, step)."""
    offset = 10.0 if label == "regularised" else 0.0
    return offset + seed + step / 2, 0.1 * seed - step / 100


class FakeCommands(study_runner.Runner):
    """Trains nothing; `experiments.evaluate --step=...` writes fake reports at each step,
    all but step 2 of the regularised arm's seed 2 (a report that is missing)."""

    commands: list = []

    def command(self, module, args, log_path):
        FakeCommands.commands.append((module, args))
        if module != "experiments.evaluate":
            return True
        flags = dict(arg[2:].split("=", 1) for arg in args if "=" in arg)
        workdir = flags["workdir"]
        seed = int(workdir[-1])
        label = os.path.basename(os.path.dirname(workdir))
        os.makedirs(workdir, exist_ok=True)
        for step in map(int, flags["step"].split(",")):
            if (label, seed, step) == ("regularised", 2, 2):
                continue
            score, diversity = fake_scores(label, seed, step)
            report = {
                "step": step,
                "metrics": {
                    "inception_score": {"model": {"mean": score}, "real": {"mean": 9.3}},
                    "diversity": {"model": {"value": diversity}, "real": {"value": 0.8}},
                },
            }
            with open(os.path.join(workdir, f"eval_step_{step:06d}.json"), "w") as f:
                json.dump(report, f)
        return True


class FakeTrajectoryRunner(trajectory.TrajectoryRunner, FakeCommands):
    pass


def test_scored_steps_are_the_scales_up_to_its_length_and_the_last():
    assert trajectory.scored_steps(TOY.scales["cpu"]) == (2, 4, 6)
    with pytest.raises(UserInputError, match="at_steps must be positive"):
        trajectory.scored_steps(Scale(dataset="mnist5k", steps=6, seeds=1, at_steps=(0, 3)))


def test_checkpoints_are_kept_at_the_period_of_the_scored_steps_before_the_last():
    chen = Scale(dataset="mnist70k", steps=5000, seeds=1, at_steps=tuple(range(600, 5000, 600)))
    assert trajectory.checkpoint_period(chen) == 600  # 5,000 itself is the newest checkpoint
    assert trajectory.checkpoint_period(TOY.scales["cpu"]) == 2
    assert trajectory.checkpoint_period(Scale(dataset="mnist5k", steps=7, seeds=1)) == 7


def test_a_trajectory_study_keeps_scores_and_aggregates_each_step(tmp_path):
    FakeCommands.commands = []
    given = {"classifier": str(tmp_path / "given"), "log": lambda _: None}
    result = trajectory.run_trajectory_study(
        TOY, "cpu", str(tmp_path), runner_class=FakeTrajectoryRunner, **given
    )
    trains = [args for module, args in FakeCommands.commands if module == "experiments.train"]
    evaluations = [args for module, args in FakeCommands.commands if "evaluate" in module]
    assert len(trains) == len(evaluations) == 6  # one of each a run: 2 arms x 3 seeds
    for args in trains:  # every scored step kept: their greatest common divisor, 2
        assert "--checkpoint_every=2" in args and "--keep_checkpoints_every=2" in args
    for args in evaluations:  # one evaluate process scores every step
        assert "--step=2,4,6" in args and "--metrics=inception_score,diversity" in args

    study_dir = tmp_path / "toy_trajectory" / "cpu"
    seed0 = study_dir / "plain" / "seed0"
    assert json.loads((seed0 / "eval.json").read_text()) == json.loads(
        (seed0 / "eval_step_000006.json").read_text()
    )  # the latest checkpoint's report
    # run_study's final-step table: the values at the last step.
    plain, regularised = result["rows"]
    assert plain["values"] == [fake_scores("plain", s, 6)[0] for s in range(3)]

    saved = json.loads((study_dir / "trajectory.json").read_text())
    assert saved["steps"] == [2, 4, 6] and saved["arms"] == result["trajectory"]["arms"]
    lines = (study_dir / "TRAJECTORY.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| step"))
    assert header == (
        "| step | plain: inception_score.mean | regularised: inception_score.mean "
        "| plain: diversity.value | regularised: diversity.value |"
    )
    for step in (2, 4, 6):
        row = next(line for line in lines if line.startswith(f"| {step} |"))
        cells = []
        for which in (0, 1):  # the inception score, then the diversity
            for label in ("plain", "regularised"):
                seeds = [s for s in range(3) if (label, s, step) != ("regularised", 2, 2)]
                values = np.array([fake_scores(label, s, step)[which] for s in seeds])
                mean, std = values.mean(), values.std(ddof=1)
                cells.append(f"{mean:.4g} ± {std:.2g} (n={len(seeds)})")
        assert row == f"| {step} | " + " | ".join(cells) + " |"
    missing = saved["arms"][1]["metrics"]["inception_score.mean"]["values"][0]
    assert missing[2] is None and missing[:2] == [10 + 0 + 1, 10 + 1 + 1]
    assert saved["arms"][0]["metrics"]["diversity.value"]["real"] == 0.8
    assert "inception_score.mean 9.3, diversity.value 0.8" in lines[-1]
    assert (study_dir / "trajectory.png").stat().st_size > 10_000

    class NoCommands(trajectory.TrajectoryRunner):
        def command(self, *a, **k):
            raise AssertionError("a finished run was run again")

    again = trajectory.run_trajectory_study(
        TOY, "cpu", str(tmp_path), runner_class=NoCommands, **given
    )
    assert again["trajectory"] == result["trajectory"]


def test_a_lengthened_study_trains_its_runs_on_and_scores_only_the_new_steps(tmp_path):
    given = {"classifier": str(tmp_path / "given"), "log": lambda _: None}
    trajectory.run_trajectory_study(
        TOY, "cpu", str(tmp_path), runner_class=FakeTrajectoryRunner, **given
    )
    FakeCommands.commands = []
    longer = trajectory.run_trajectory_study(
        TOY,
        "cpu",
        str(tmp_path),
        runner_class=FakeTrajectoryRunner,
        overrides={"steps": 10},
        **given,
    )
    trains = [args for module, args in FakeCommands.commands if module == "experiments.train"]
    assert len(trains) == 6 and all("--steps=10" in args for args in trains)
    steps = {args[0]: args[-1] for module, args in FakeCommands.commands if "evaluate" in module}
    # Steps 2 and 4 were scored before (6 is no longer scored); the report that was missing
    # (the regularised arm's seed 2 at step 2) is scored now.
    missing = f"--workdir={tmp_path / 'toy_trajectory' / 'cpu' / 'regularised' / 'seed2'}"
    assert steps.pop(missing) == "--step=2,8,10"
    assert len(steps) == 5 and set(steps.values()) == {"--step=8,10"}
    plain = longer["rows"][0]
    assert plain["values"] == [fake_scores("plain", s, 10)[0] for s in range(3)]
    assert longer["trajectory"]["steps"] == [2, 4, 8, 10]

    with pytest.raises(UserInputError, match="trained to step 10, past the 4 steps asked for"):
        trajectory.run_trajectory_study(
            TOY,
            "cpu",
            str(tmp_path),
            runner_class=FakeTrajectoryRunner,
            overrides={"steps": 4},
            **given,
        )


def test_su2018_compares_the_gan_with_and_without_the_regulariser_along_training():
    study = STUDIES["su2018_stability"]
    assert [arm.model for arm in study.arms] == ["gan", "su_gan", "gan"]
    assert study.arms[2].config == {"generator_steps": 2}  # su_gan's, without the regulariser
    assert study.metrics == (("inception_score", "mean"), ("diversity", "value"))
    for scale in study.scales.values():
        steps = trajectory.scored_steps(scale)
        assert len(steps) >= 6 and steps[-1] == scale.steps and scale.seeds >= 2


class FakeSelectionCommands(study_runner.Runner):
    """Writes fake reports at each step of each split: the score is the run's base_features
    (its selected value, read from the train flags) plus its seed, at every step."""

    features: dict = {}

    def command(self, module, args, log_path):
        flags = dict(arg[2:].split("=", 1) for arg in args if "=" in arg)
        workdir = flags["workdir"]
        if module == "experiments.train":
            FakeSelectionCommands.features[workdir] = float(flags["config.base_features"])
            return True
        score = FakeSelectionCommands.features[workdir] + int(flags["seed"])
        os.makedirs(workdir, exist_ok=True)
        for step in map(int, flags["step"].split(",")):
            report = {"metrics": {"inception_score": {"model": {"mean": score}}}}
            with open(os.path.join(workdir, eval_report_name(flags["split"], step)), "w") as f:
                json.dump(report, f)
        return True


class FakeSelectionTrajectoryRunner(trajectory.TrajectoryRunner, FakeSelectionCommands):
    pass


def test_a_selection_arms_trajectory_reads_seed_0_in_its_chosen_run(tmp_path):
    """The value chosen on validation data (the highest, 8) is seed 0's run: its steps are in
    the trajectory, not those of an ARM/seed0 folder that does not exist."""
    study = Study(
        name="toy_selection",
        title="a toy selection",
        metric=("inception_score", "mean"),
        arms=(Arm("chosen", "gan", select=Selection("base_features", (4, 8))),),
        scales={"cpu": Scale(dataset="mnist5k", steps=4, seeds=2, at_steps=(2,))},
        validation_fraction=0.1,
    )
    result = trajectory.run_trajectory_study(
        study,
        "cpu",
        str(tmp_path),
        runner_class=FakeSelectionTrajectoryRunner,
        classifier=str(tmp_path / "given"),
        log=lambda _: None,
    )
    assert result["rows"][0]["chosen"] == "base_features=8"
    values = result["trajectory"]["arms"][0]["metrics"]["inception_score.mean"]["values"]
    assert values == [[8.0, 9.0], [8.0, 9.0]]  # steps 2 and 4; seeds 0 (chosen run) and 1


def test_an_arm_of_its_own_length_is_scored_at_the_scales_steps_before_its_last(tmp_path):
    FakeCommands.commands = []
    study = Study(
        name="toy_lengths",
        title="an arm trained shorter than the scale",
        metric=TOY.metric,
        also=TOY.also,
        arms=(Arm("plain", "gan"), Arm("short", "gan", scale_run={"cpu": {"steps": 3}})),
        scales={"cpu": Scale(dataset="mnist5k", steps=6, seeds=1, at_steps=(2, 4))},
    )
    result = trajectory.run_trajectory_study(
        study, "cpu", str(tmp_path), runner_class=FakeTrajectoryRunner, log=lambda _: None
    )
    short = [args for _, args in FakeCommands.commands if any("short" in a for a in args)]
    train, evaluate = short
    assert "--steps=3" in train and "--checkpoint_every=2" in train  # step 3: the last
    assert "--step=2,3" in evaluate
    assert result["trajectory"]["steps"] == [2, 3, 4, 6]  # the union of the arms' steps
    scores = result["trajectory"]["arms"][1]["metrics"]["inception_score.mean"]["values"]
    assert scores == [
        [fake_scores("short", 0, 2)[0]],
        [fake_scores("short", 0, 3)[0]],
        [None],
        [None],
    ]
    assert result["rows"][1]["values"] == [fake_scores("short", 0, 3)[0]]
