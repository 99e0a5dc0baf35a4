"""Classifiers and experiments.evaluate end to end: eval.json, the table, one-line errors."""

import dataclasses
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from unigen_jax import data, models
from unigen_jax.errors import UserInputError
from unigen_jax.eval import classifier as classifiers
from unigen_jax.eval import sample_metrics
from unigen_jax.train.loop import RunConfig, train

from .helpers import REPO, optimised_env, run_command, run_commands, saved_classifier

# Every kind of run experiments.evaluate supports: (model, dataset) by workdir name.
RUNS = {
    "gan": ("gan", "mnist5k"),
    "vae": ("vae", "mnist5k"),
    "stacked": ("gan", "stacked_mnist"),
    "ring": ("gan", "ring8"),
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Tiny runs of every kind, a briefly trained mnist5k classifier, a per-channel one."""
    root = tmp_path_factory.mktemp("eval")
    for workdir, (model, dataset) in RUNS.items():
        run = RunConfig(
            model=model,
            dataset=dataset,
            workdir=str(root / workdir),
            steps=2,
            batch_size=8,
            log_every=2,
            sample_every=2,
            checkpoint_every=1,  # steps 1 and 2 kept: experiments.evaluate --step
        )
        config = {"latent_dim": 2}
        if dataset != "ring8":
            config["base_features"] = 4
        train(run, models.make_config(model, **config), log=lambda _: None)
    trained = saved_classifier("mnist5k", str(root / "classifier"), steps=150, batch_size=64)
    saved_classifier("stacked_mnist", str(root / "stacked_classifier"), steps=2, batch_size=8)
    return root, trained


def test_classifier_learns_and_round_trips(workspace):
    root, trained = workspace
    assert trained.metadata["test_accuracy"] > 0.3  # 150 steps (0.41 measured); chance 0.1
    loaded = classifiers.load_classifier(str(root / "classifier"))
    images = data.get_source("mnist5k", "test").get(np.arange(20))["x"]
    np.testing.assert_allclose(loaded(images)[0], trained(images)[0], rtol=1e-6)
    with pytest.raises(UserInputError, match="trained on mnist5k"):
        loaded.check_compatible("cifar10", (32, 32, 3))


def test_per_channel_classifier_applies_the_digit_classifier_to_each_channel(workspace):
    _, trained = workspace
    digits = data.get_source("mnist5k", "test").get(np.arange(6))["x"]
    stacked = np.concatenate([digits[0:2], digits[2:4], digits[4:6]], axis=-1)  # [2, 28, 28, 3]
    per_channel = classifiers.TrainedClassifier(
        trained.module, trained.params, {**trained.metadata, "per_channel": True}
    )
    logits, features = per_channel(stacked)
    single_logits, single_features = trained(digits)
    np.testing.assert_allclose(logits[:, 1], single_logits[2:4], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(features[:, 128:256], single_features[2:4], rtol=1e-5, atol=1e-5)


def test_real_data_features_classify_each_distinct_image_once_with_the_same_results(workspace):
    _, trained = workspace
    per_channel = classifiers.TrainedClassifier(
        trained.module, trained.params, {**trained.metadata, "per_channel": True}
    )
    triples = data.get_source("stacked_mnist", "test").get(np.arange(300))["x"]
    digits = data.get_source("mnist5k", "test").get(np.arange(50))["x"]
    for classifier, images in ((per_channel, triples), (trained, np.concatenate([digits] * 2))):
        calls = []
        counted = dataclasses.replace(classifier)
        counted._apply = lambda p, x, f=counted._apply, seen=calls: seen.append(len(x)) or f(p, x)
        expected = sample_metrics.batched_features(classifier, images)
        for got, want in zip(counted.features_of_real(images), expected, strict=True):
            np.testing.assert_array_equal(got, want)
        # 900 channel images of 300 triples repeat mnist5k's 500 test digits; 100 digits, 50.
        channels = np.moveaxis(triples, -1, 1).reshape(-1, 28 * 28)
        distinct = 50 if classifier is trained else len(np.unique(channels, axis=0))
        assert distinct < 450
        assert calls == [distinct]


def test_inception_score_of_class_ordered_predictions_needs_the_shuffle():
    logits = np.repeat(np.eye(10) * 50.0, 50, axis=0)  # 500 confident predictions, by class
    ordered, _ = sample_metrics.inception_score(logits, num_splits=10)
    mixed, _ = sample_metrics.inception_score(classifiers.shuffled(logits), num_splits=10)
    assert ordered == pytest.approx(1.0, abs=1e-3)  # each split holds one class
    assert mixed > 9.0  # close to the 10 classes once splits mix them


def _evaluate(*args):
    return run_command("experiments.evaluate", *args, env=optimised_env())


SMALL = ["--num_samples=60", "--critic_steps=5", "--nll_samples=8", "--nll_examples=4"]


@pytest.mark.parametrize(
    "workdir, classifier, metrics, expected",
    [
        ("gan", "classifier", "auto", {"inception_score", "fid", "kid", "diversity", "critic"}),
        ("stacked", "stacked_classifier", "auto", {"fid", "kid", "diversity", "critic"}),
        ("ring", None, "auto", {"mode_coverage", "critic"}),
        ("vae", "classifier", "fid,elbo,nll,rmse", {"fid", "elbo", "nll", "rmse"}),
    ],
)
def test_evaluate_writes_eval_json_for_every_kind_of_run(
    workspace, workdir, classifier, metrics, expected
):
    root, _ = workspace
    with_classifier = [f"--classifier={root / classifier}"] if classifier else []
    started = time.perf_counter()
    result = _evaluate(
        f"--workdir={root / workdir}", f"--metrics={metrics}", *SMALL, *with_classifier
    )
    wall = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-3000:]
    with open(root / workdir / "eval.json") as f:
        report = json.load(f)
    assert 0 < report["seconds"] < wall  # the scoring, inside the command's wall time
    if workdir == "stacked":
        expected = expected | {"mode_coverage"}
    assert expected == set(report["metrics"]), sorted(report["metrics"])
    assert report["failed"] == {}
    assert report["step"] == 2 and report["dataset"] == RUNS[workdir][1]
    assert "real test data" in result.stdout
    if "fid" in expected:  # a 2-step model is far from the data; real test data is close
        fid = report["metrics"]["fid"]
        assert fid["model"]["value"] > fid["real"]["value"]
    if workdir == "stacked":  # 60 samples hit at most 60 of the 1000 modes
        coverage = report["metrics"]["mode_coverage"]
        assert 1 <= coverage["model"]["modes_hit"] <= 60
        assert coverage["real"]["modes_hit"] > 900  # 10,000 test triples cover nearly all
        assert coverage["model"]["kl_to_uniform"] > coverage["real"]["kl_to_uniform"]
    if workdir == "ring":  # the real test points hit all 8 modes, nearly all within 3 std
        coverage = report["metrics"]["mode_coverage"]["real"]
        assert coverage["modes_hit"] == 8 and coverage["high_quality_share"] > 0.95


def test_a_failing_metric_keeps_the_others_and_ends_in_one_line(workspace):
    root, _ = workspace
    broken = (
        "import sys, runpy; from unigen_jax.eval import ms_ssim\n"
        "def boom(*a, **k): raise FloatingPointError('injected failure')\n"
        "ms_ssim.diversity = boom\n"
        "sys.argv = ['evaluate'] + sys.argv[1:]\n"
        "runpy.run_module('experiments.evaluate', run_name='__main__')\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            broken,
            f"--workdir={root / 'gan'}",
            "--metrics=fid,diversity,kid",
            f"--classifier={root / 'classifier'}",
            *SMALL,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "diversity: FloatingPointError: injected failure" in lines[0]
    with open(root / "gan" / "eval.json") as f:
        report = json.load(f)
    assert set(report["metrics"]) == {"fid", "kid"}  # before and after the failure
    assert "injected failure" in report["failed"]["diversity"]["traceback"]


EVALUATE_BAD_INPUT = [
    (lambda root: [f"--workdir={root / 'empty'}"], "no training run"),
    (lambda root: [f"--workdir={root / 'gan'}", "--metrics=nll"], "needs a model with an"),
    (  # without --classifier the cached one is used, trained first: not for 0 steps
        lambda root: [f"--workdir={root / 'gan'}", "--classifier_steps=0"],
        "--classifier_steps must be positive",
    ),
    (
        lambda root: [f"--workdir={root / 'gan'}", f"--classifier={root / 'nothing'}"],
        "no classifier in",
    ),
    (lambda root: [f"--workdir={root / 'gan'}", "--num_samples=0"], "must be positive"),
]


@pytest.fixture(scope="module")
def evaluate_bad_input(workspace):
    """The bad-input commands of experiments.evaluate, run once (tests/forked_commands.py)."""
    root, _ = workspace
    (root / "empty").mkdir(exist_ok=True)
    commands = [make_args(root) for make_args, _ in EVALUATE_BAD_INPUT]
    return root, run_commands("experiments.evaluate", commands, env=optimised_env())


@pytest.mark.parametrize(
    "case", range(len(EVALUATE_BAD_INPUT)), ids=[m for _, m in EVALUATE_BAD_INPUT]
)
def test_evaluate_bad_input_is_one_line(evaluate_bad_input, case):
    root, results = evaluate_bad_input
    result, message = results[case], EVALUATE_BAD_INPUT[case][1]
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert os.listdir(root / "empty") == []


def test_stacked_mnist_classifier_trains_on_each_channels_digit():
    source = data.get_source("stacked_mnist")
    batch = source.get(np.arange(4))
    channels, digits = classifiers._split_channels(batch["x"], batch["label"])
    # Channel c of example i becomes row 3 i + c, labelled with the digit of that channel.
    np.testing.assert_array_equal(channels[4, ..., 0], batch["x"][1, ..., 1])
    assert digits[4] == batch["label"][1] // 10 % 10
    trained = classifiers.train_classifier(
        source, data.get_source("stacked_mnist", "test"), steps=2, batch_size=8, log=lambda _: None
    )
    assert trained.per_channel and trained.metadata["num_classes"] == 10
    logits, features = trained(batch["x"])
    assert logits.shape == (4, 3, 10) and features.shape == (4, 3 * 128)


TRAIN_CLASSIFIER_BAD_INPUT = [
    (["--dataset=nope"], "unknown dataset 'nope'"),
    (["--dataset=ring8"], "no image labels"),
    (["--steps=0"], "--steps must be positive"),
    ([], "--workdir is required"),
]


@pytest.fixture(scope="module")
def train_classifier_bad_input(tmp_path_factory):
    """The bad-input commands of experiments.train_classifier, run once, workdir c{case}."""
    root = tmp_path_factory.mktemp("train_classifier")
    commands = [
        ([f"--workdir={root / f'c{case}'}"] if args else []) + args
        for case, (args, _) in enumerate(TRAIN_CLASSIFIER_BAD_INPUT)
    ]
    return root, run_commands("experiments.train_classifier", commands)


@pytest.mark.parametrize(
    "case", range(len(TRAIN_CLASSIFIER_BAD_INPUT)), ids=[m for _, m in TRAIN_CLASSIFIER_BAD_INPUT]
)
def test_train_classifier_bad_input_is_one_line(train_classifier_bad_input, case):
    root, results = train_classifier_bad_input
    result, message = results[case], TRAIN_CLASSIFIER_BAD_INPUT[case][1]
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert os.listdir(root) == []


def test_skip_inapplicable_drops_what_does_not_apply_and_says_so(workspace):
    """A study asks every arm for the same metrics; a GAN on ring8 has no rmse."""
    root, _ = workspace
    result = _evaluate(
        f"--workdir={root / 'ring'}",
        "--metrics=mode_coverage,rmse",
        "--skip_inapplicable",
        "--num_samples=50",
        "--split=test",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with open(root / "ring" / "eval.json") as f:
        report = json.load(f)
    assert set(report["metrics"]) == {"mode_coverage"}
    assert report["not_applicable"] == ["rmse"]


def test_evaluate_step_scores_each_kept_checkpoint_into_its_own_report(workspace):
    root, _ = workspace
    args = [
        f"--workdir={root / 'gan'}",
        "--metrics=diversity,fid",
        f"--classifier={root / 'classifier'}",
    ]
    latest = _evaluate(*args, *SMALL)
    assert latest.returncode == 0, latest.stderr[-3000:]
    with open(root / "gan" / "eval.json") as f:
        latest_report = json.load(f)
    result = _evaluate(*args, *SMALL, "--step=1,2")
    assert result.returncode == 0, result.stderr[-3000:]
    reports = {}
    for step in (1, 2):
        with open(root / "gan" / f"eval_step_{step:06d}.json") as f:
            reports[step] = json.load(f)
        assert reports[step]["step"] == step
    with open(root / "gan" / "eval.json") as f:
        assert json.load(f) == latest_report  # not clobbered
    # Step 2 is the latest checkpoint: the same samples, the same scores; step 1 is another
    # state, whose samples differ.
    assert reports[2]["metrics"] == latest_report["metrics"]
    assert reports[1]["metrics"]["fid"]["model"] != reports[2]["metrics"]["fid"]["model"]


def test_evaluate_step_without_a_checkpoint_names_the_steps_that_exist(workspace):
    root, _ = workspace
    before = sorted(os.listdir(root / "gan"))
    result = _evaluate(f"--workdir={root / 'gan'}", "--step=2,7", *SMALL)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no checkpoint of step 7" in lines[0], result.stderr
    assert "it has steps 1, 2" in lines[0]
    assert sorted(os.listdir(root / "gan")) == before  # nothing scored, nothing written
