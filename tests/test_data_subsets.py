"""Validation hold-out and training shares: class-balanced, disjoint, fixed; used by runs."""

import json
import subprocess
import sys

import numpy as np
import pytest

from unigen_jax import data, models
from unigen_jax.errors import UserInputError
from unigen_jax.train.loop import RunConfig, train

from .test_eval_runner import REPO


def _labels(source):
    return source.get(np.arange(len(source)))["label"]


def test_holdout_is_a_balanced_partition_and_shares_are_balanced_and_fixed():
    full = data.get_source("mnist5k")  # 450 examples a class
    train_part, validation = data.holdout(full, 0.1)
    assert len(train_part) + len(validation) == len(full) == 4500
    assert np.array_equal(np.bincount(_labels(validation)), np.full(10, 45))
    everything = np.concatenate([train_part._indices, validation._indices])
    assert np.array_equal(np.sort(everything), np.arange(4500))  # disjoint and covering
    small = data.share(train_part, 0.01)
    assert np.array_equal(np.bincount(_labels(small)), np.full(10, 4))  # round(0.01 * 405)
    again = data.share(data.holdout(full, 0.1)[0], 0.01)
    np.testing.assert_array_equal(small.get(np.arange(40))["x"], again.get(np.arange(40))["x"])
    assert data.share(full, 1.0) is full
    with pytest.raises(UserInputError, match="--train_fraction must be in"):
        data.share(full, 0.0)


def test_a_run_on_a_share_with_a_validation_split_evaluates_on_it(tmp_path):
    run = RunConfig(
        model="vae",
        dataset="digits",
        workdir=str(tmp_path / "vae"),
        steps=2,
        batch_size=8,
        log_every=2,
        sample_every=2,
        checkpoint_every=2,
        train_fraction=0.5,
        validation_fraction=0.2,
    )
    config = models.make_config("vae", latent_dim=2, hidden_sizes=(8,), architecture="mlp")
    train(run, config, log=lambda _: None)
    with open(tmp_path / "vae" / "config.json") as f:
        resolved = json.load(f)
    # digits' train split: 1,621 examples; 20% held out per class, then half of the rest.
    assert 640 <= resolved["data"]["num_examples"] <= 660
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.evaluate",
            f"--workdir={tmp_path / 'vae'}",
            "--split=validation",
            "--metrics=elbo",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / "vae" / "eval_validation.json") as f:
        report = json.load(f)
    assert report["split"] == "validation"
    assert 320 <= report["metrics"]["elbo"]["settings"]["num_examples"] <= 330
    resumed = RunConfig(**{**run.__dict__, "steps": 3, "train_fraction": 1.0})
    with pytest.raises(UserInputError, match="train_fraction"):
        train(resumed, config, log=lambda _: None)
