"""The reproduction runner: selection on validation data, aggregation over seeds, resume, the
CLI's one-line errors, and one tiny real study end to end."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments.studies import STUDIES, Arm, Scale, Selection, Study
from experiments.studies import runner as study_runner

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
