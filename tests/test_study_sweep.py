"""A study arm's hyperparameter sweep (Rosca et al. 2017's report): quartiles and best run
over every run against numpy, the setting chosen on validation data, the report, the box
plot; on a fake set of results (no training)."""

import dataclasses
import json
import os

import numpy as np
import pytest

from experiments.studies import STUDIES, Arm, Scale, Study, Sweep, sweep
from experiments.studies import runner as study_runner

SWEPT = Study(
    name="swept",
    title="a study with a sweep",
    metric=("critic", "negative_distance"),
    also=(("rmse", "value"), ("diversity", "value")),
    goals={"rmse.value": "min", "diversity.value": "real"},
    arms=(
        Arm("plain", "gan"),
        Arm("swept", "alpha_gan", config={"beta": 9}, sweep=Sweep.grid(t=(1, 2, 3))),
    ),
    scales={"cpu": Scale(dataset="mnist5k", steps=1, seeds=2)},
    validation_fraction=0.1,
)
# Test scores of setting t, seed s: critic t + 10 s (best t = 3), rmse (t - 2)^2 + s (best
# t = 2), diversity 0.1 t + 0.01 s against a real 0.25; on validation the critic prefers t = 1.
REAL_DIVERSITY = 0.25


def _test_scores(t, seed):
    return {"critic": t + 10 * seed, "rmse": (t - 2) ** 2 + seed, "diversity": 0.1 * t + seed / 100}


class SweepRunner(study_runner.Runner):
    """Scores without training, by the setting's t and the seed (see _test_scores)."""

    calls: list = []

    def classifier(self):
        return None

    def score(self, workdir, arm, config, seed, split, classifier):
        SweepRunner.calls.append(("score", os.path.basename(os.path.dirname(workdir)), config))
        t = config.get("t", 0)
        values = _test_scores(t, seed)
        return {
            "metrics": {
                "critic": {"model": {"negative_distance": values["critic"]}},
                "rmse": {"model": {"value": values["rmse"]}},
                "diversity": {
                    "model": {"value": values["diversity"]},
                    "real": {"value": REAL_DIVERSITY},
                },
            }
        }

    def evaluate(self, workdir, seed, split, classifier, metrics=None, steps=None):
        SweepRunner.calls.append(("evaluate", split, tuple(metrics)))
        t = int(os.path.basename(os.path.dirname(workdir)).split("_")[-1])
        return {"metrics": {"critic": {"model": {"negative_distance": -t + 0.1 * seed}}}}


def test_the_sweep_reports_numpys_quartiles_the_best_run_and_the_validation_choice(tmp_path):
    SweepRunner.calls = []
    result = study_runner.run_study(
        SWEPT, "cpu", str(tmp_path), runner_class=SweepRunner, log=lambda _: None
    )
    plain, swept = result["rows"]
    assert "sweep" not in plain and plain["values"] == [0, 10]  # an arm without a sweep
    runs = swept["sweep"]["runs"]
    assert [(r["setting"], r["seed"]) for r in runs] == [
        (f"t={t}", s) for t in (1, 2, 3) for s in (0, 1)
    ]
    # Every setting x seed trained with the arm's config under the setting, then validated
    # by the main metric alone.
    scored = [c for c in SweepRunner.calls if c[0] == "score" and c[1] != "plain"]
    assert [c[2] for c in scored] == [{"beta": 9, "t": t} for t in (1, 2, 3) for _ in (0, 1)]
    validations = [c for c in SweepRunner.calls if c[0] == "evaluate"]
    assert validations == [("evaluate", "validation", (("critic", "negative_distance"),))] * 6
    grid = [(t, s) for t in (1, 2, 3) for s in (0, 1)]
    for name, goal, best_t, best_seed in (
        ("critic", "max", 3, 1),
        ("rmse", "min", 2, 0),
        ("diversity", "real", 2, 1),  # 0.21 is nearest 0.25 (0.3 is 0.05 away)
    ):
        key = {"critic": "critic.negative_distance"}.get(name, f"{name}.value")
        values = [_test_scores(t, s)[name] for t, s in grid]
        summary = swept["sweep"]["summary"][key]
        np.testing.assert_allclose(
            [summary["q25"], summary["median"], summary["q75"]], np.percentile(values, [25, 50, 75])
        )
        assert summary["runs"] == 6 and summary["goal"] == goal
        assert (summary["best_setting"], summary["best_seed"]) == (f"t={best_t}", best_seed)
        assert summary["best"] == _test_scores(best_t, best_seed)[name]
    # Chosen on validation (t = 1, mean -0.95), not the test-best t = 3: its seeds are the row.
    assert swept["sweep"]["chosen"] == "t=1" and swept["chosen"] == "t=1"
    assert swept["values"] == [1, 11] and swept["seeds"] == [0, 1]
    assert swept["also"]["rmse.value"] == {"values": [1, 2], "real": None}
    assert swept["also"]["diversity.value"]["real"] == REAL_DIVERSITY
    study_dir = tmp_path / "swept" / "cpu"
    saved = json.loads((study_dir / "results.json").read_text())
    assert saved["rows"][1]["sweep"]["summary"] == swept["sweep"]["summary"]
    report = (study_dir / "REPORT.md").read_text()
    q = np.percentile([_test_scores(t, s)["critic"] for t, s in grid], [25, 50, 75])
    mean, std = np.mean([1, 11]), np.std([1, 11], ddof=1)
    assert (
        f"| swept | critic.negative_distance | max | 6 | {q[0]:.4g} | {q[1]:.4g} | {q[2]:.4g} "
        f"| 13 | t=3, seed 1 | {mean:.4g} ± {std:.2g} (t=1) | n/a |"
    ) in report
    assert "PICKED ON TEST DATA" in report
    assert (study_dir / "sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_without_a_validation_share_every_run_is_the_row_and_nothing_is_chosen(tmp_path):
    SweepRunner.calls = []
    scale = dataclasses.replace(SWEPT.scales["cpu"], validation_fraction=0.0)  # the study's 0.1
    study = dataclasses.replace(SWEPT, name="unvalidated", scales={"cpu": scale})
    result = study_runner.run_study(
        study, "cpu", str(tmp_path), runner_class=SweepRunner, log=lambda _: None
    )
    swept = result["rows"][1]
    assert not [c for c in SweepRunner.calls if c[0] == "evaluate"]
    assert swept["sweep"]["chosen"] is None and swept["chosen"] == "all sweep runs"
    assert swept["values"] == [1, 11, 2, 12, 3, 13]
    assert (
        "| swept | critic.negative_distance | max | 6 |"
        in (tmp_path / "unvalidated" / "cpu" / "REPORT.md").read_text()
    )


def test_quantile_is_numpys_linear_percentile_and_best_follows_the_goal():
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 7):
        values = list(rng.normal(size=n))
        for q in (0.0, 0.25, 0.5, 0.75, 1.0):
            assert sweep.quantile(values, q) == pytest.approx(np.percentile(values, 100 * q))
    assert sweep.best_index([3, None, 5, 1], "max") == 2
    assert sweep.best_index([3, None, 5, 1], "min") == 3
    assert sweep.best_index([3, None, 5, 1], "real", real=4.2) == 2
    assert sweep.best_index([None], "max") is None


def test_sweep_declarations():
    assert Sweep.grid(a=(1, 2), b=("x",)).settings == ({"a": 1, "b": "x"}, {"a": 2, "b": "x"})
    with pytest.raises(ValueError, match="at least one setting"):
        Sweep(())
    with pytest.raises(ValueError, match="not both"):
        from experiments.studies import Selection

        Arm("x", "gan", select=Selection("t", (1,)), sweep=Sweep.grid(t=(1,)))
    with pytest.raises(ValueError, match="goal"):
        Study("bad", "bad", ("critic", "negative_distance"), (), {}, goals={"critic.x": "up"})
    by_scale = Arm("x", "gan", sweep={"cpu": Sweep.grid(t=(1,))})
    assert by_scale.sweep_at("cpu").settings == ({"t": 1},) and by_scale.sweep_at("paper") is None
    # Rosca et al.'s studies: every arm sweeps at both scales; the paper's sweep is the larger.
    for name in ("rosca2017_mnist5k", "rosca2017_colormnist"):
        for arm in STUDIES[name].arms:
            cpu, paper = arm.sweep_at("cpu"), arm.sweep_at("paper")
            assert 1 <= len(cpu.settings) < len(paper.settings)
