"""CI checks that a tiny benchmark runs and reports; the figures come from `make bench`."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _benchmark(*args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", "--torch=false", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_tiny_benchmark_writes_its_table(tmp_path):
    result = _benchmark(
        "--round_seconds=0",
        "--rounds=1",
        "--passes=1",
        "--configs=mlp_gan",
        f"--output_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / "benchmark.json") as f:
        report = json.load(f)
    variants = {(row["devices"], row["steps_per_call"]) for row in report["rows"]}
    assert variants == {(1, 1), (2, 1), (1, 10), (2, 10)}
    assert all(row["steps_per_sec"] > 0 for row in report["rows"])
    # Two devices take the same first step as one, within float32 rounding.
    two_device_rows = [row for row in report["rows"] if row["devices"] == 2]
    assert all(row["first_step_metric_difference_vs_1_device"] < 1e-5 for row in two_device_rows)
    assert report["matmul_peak_flops_per_sec"] > 0


def test_unknown_config_is_one_line():
    result = _benchmark("--configs=nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown config 'nope'; choose from: dcgan28, dcgan32, vae, mlp_gan, cgan28, "
        "iwgan28, wgan_gp28, cvae, aavae"
    ]


def test_negative_round_seconds_is_one_line():
    result = _benchmark("--round_seconds=-1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --rounds and --passes must be positive, --round_seconds >= 0"
    ]
