"""experiments.evaluate without --classifier: the per-user classifier cache, trained once."""

import json
import os
import subprocess
import sys

import pytest

from unigen_jax import data, models
from unigen_jax.errors import UserInputError
from unigen_jax.eval import classifier as classifiers
from unigen_jax.eval import runner
from unigen_jax.train.loop import RunConfig, train

from .helpers import saved_classifier

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--classifier_steps=3", "--metrics=inception_score", "--num_samples=40"]
TRAINING = "no digits classifier in the cache"


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cache") / "gan"
    run = RunConfig(
        model="gan",
        dataset="digits",
        workdir=str(workdir),
        steps=2,
        batch_size=8,
        log_every=2,
        sample_every=2,
        checkpoint_every=2,
    )
    config = models.make_config("gan", latent_dim=2, hidden_sizes=(8,), architecture="mlp")
    train(run, config, log=lambda _: None)
    return workdir


def _evaluate(workdir, cache, *args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.evaluate", f"--workdir={workdir}", *TINY, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, classifiers.CACHE_ENV: str(cache)},
    )


def _report(workdir):
    with open(workdir / "eval.json") as f:
        return json.load(f)


def test_evaluate_trains_the_cached_classifier_once_and_reuses_it(digits_run, tmp_path):
    cache = tmp_path / "classifiers"
    first = _evaluate(digits_run, cache)
    assert first.returncode == 0, first.stderr[-3000:]
    assert TRAINING in first.stdout and "training one, 3 steps" in first.stdout
    assert "step 3/3" in first.stdout  # train_classifier's progress line
    entry = cache / "digits"
    assert f"saved the digits classifier to {entry} (test accuracy" in first.stdout
    assert sorted(os.listdir(cache)) == ["digits"]  # no partial folder left beside it
    report = _report(digits_run)
    assert report["classifier"]["path"] == str(entry)
    assert report["classifier"]["steps"] == 3 and "test_inception_score" in report["classifier"]
    assert "inception_score" in report["metrics"]

    second = _evaluate(digits_run, cache)
    assert second.returncode == 0, second.stderr[-3000:]
    assert TRAINING not in second.stdout and "saved the" not in second.stdout
    assert f"classifier: {entry} (test accuracy" in second.stdout
    assert _report(digits_run)["classifier"] == report["classifier"]


def test_classifier_flag_overrides_the_cache(digits_run, tmp_path):
    given = tmp_path / "given"
    saved_classifier("digits", str(given), steps=2, batch_size=8)
    cache = tmp_path / "classifiers"
    result = _evaluate(digits_run, cache, f"--classifier={given}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert TRAINING not in result.stdout
    assert _report(digits_run)["classifier"]["path"] == str(given)
    assert not cache.exists()


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(classifiers.CACHE_ENV, str(tmp_path / "mine"))
    assert classifiers.cache_dir() == str(tmp_path / "mine")
    monkeypatch.delenv(classifiers.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert classifiers.cache_dir() == str(tmp_path / "xdg" / "unigen_jax" / "classifiers")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert classifiers.cache_dir() == os.path.expanduser("~/.cache/unigen_jax/classifiers")


def test_a_broken_cache_entry_is_trained_again_and_an_unlabelled_dataset_is_one_line(
    monkeypatch, tmp_path
):
    monkeypatch.setenv(classifiers.CACHE_ENV, str(tmp_path))
    (tmp_path / "digits" / "params").mkdir(parents=True)  # what a crash could leave
    lines = []
    info = data.get_source("digits").info
    trained, directory = runner.load_checked_classifier(None, info, train_steps=2, log=lines.append)
    assert directory == str(tmp_path / "digits") and trained.metadata["steps"] == 2
    assert any(TRAINING in line for line in lines)
    assert os.path.exists(tmp_path / "digits" / classifiers.METADATA)

    unlabelled = data.DatasetInfo(
        name="faces", kind="image", shape=(8, 8, 3), num_classes=0, num_examples=10
    )
    with pytest.raises(UserInputError, match="faces has no labels to train one on"):
        runner.load_checked_classifier(None, unlabelled)
