"""`experiments.cluster_baseline`: k-means on the pixels, scored as InfoGAN's code is."""

import json
import os

import numpy as np

from experiments import cluster_baseline

from .helpers import one_device_env, run_command


def _run(*flags):
    return run_command("experiments.cluster_baseline", *flags, env=one_device_env())


def test_separated_clusters_are_found_whatever_their_labels():
    # Three tight blobs far apart, labelled 2, 0, 1: k-means recovers them exactly, and the
    # matching maps each cluster to its blob's label whatever ids k-means gave them.
    rng = np.random.default_rng(0)
    centres = np.array([[10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]])
    labels = np.repeat([2, 0, 1], 30)
    x = centres[np.repeat([0, 1, 2], 30)] + rng.normal(scale=0.1, size=(90, 2))
    assert cluster_baseline.kmeans_matched_accuracy(x[::2], x, labels, 3, seed=0) == 1.0
    shuffled = rng.permutation(labels)  # labels unrelated to the blobs: near chance (1/3)
    assert cluster_baseline.kmeans_matched_accuracy(x, x, shuffled, 3, seed=0) < 0.6


def test_the_command_scores_the_digits_far_above_chance_and_writes_its_figures(tmp_path):
    output = tmp_path / "kmeans.json"
    result = _run(
        "--dataset=digits", "--seeds=2", "--validation_fraction=0.2", f"--output={output}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with open(output) as f:
        report = json.load(f)
    assert report["num_clusters"] == 10 and len(report["matched_accuracy"]) == 2
    assert report["num_train"] + report["num_scored"] > 0
    # k-means on the UCI digits' pixels is 0.7-0.8 accurate under the best matching (on the
    # raw 8x8 images, seeds 0-2: 0.71, 0.78, 0.79); chance is 0.1, where clusters scored
    # against the wrong images' labels would land.
    assert 0.6 < report["mean"] < 0.95, report
    assert f"{report['mean']:.4f}" in result.stdout


def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path):
    for flags, message in (
        (("--seeds=0",), "--seeds must be positive"),
        (("--dataset=nope",), "unknown dataset 'nope'"),
        (("--dataset=digits", "--split=validation"), "needs a --validation_fraction"),
    ):
        result = _run(*flags, f"--output={tmp_path / 'x.json'}")
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
    assert not os.listdir(tmp_path)
