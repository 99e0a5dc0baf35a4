"""experiments.train answers bad input with one line on stderr, exit status 2, and an
untouched workdir."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(*args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.train", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model=nope"], "unknown model 'nope'"),
        (["--dataset=nope"], "unknown dataset 'nope'"),
        (["--steps=0"], "--steps must be positive"),
        (["--batch_size=-4"], "--batch_size must be positive"),
        (["--batch_size=7", "--cpu_devices=2"], "not divisible by the 2 devices"),
        (["--latent_dim=abc"], "--latent_dim='abc' is not a valid int"),
        (["--beta=4"], "--beta is not a hyperparameter of model 'gan'"),
        (["--loss=nope"], "unknown loss 'nope'"),
        (["--model=vae", "--likelihood=bernoulli", "--dataset=ring8"], "needs data in [0, 1]"),
        (["--dataset=cifar10", "--data_dir=MISSING"], "'cifar10' is not prepared"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path, args, message):
    workdir = tmp_path / "run"
    args = [a.replace("MISSING", str(tmp_path / "tfds")) for a in args]
    result = _train(f"--workdir={workdir}", "--steps=5", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert not workdir.exists()
    assert not (tmp_path / "tfds").exists()


def test_resuming_with_another_model_harms_nothing(tmp_path):
    workdir = tmp_path / "run"
    first = _train(
        f"--workdir={workdir}", "--model=gan", "--dataset=ring8", "--steps=2", "--hidden_sizes=8"
    )
    assert first.returncode == 0, first.stderr
    before = {p: os.path.getmtime(p) for p in workdir.rglob("*")}
    second = _train(f"--workdir={workdir}", "--model=vae", "--dataset=ring8", "--steps=4")
    assert second.returncode == 2
    assert "holds a run with model=gan" in second.stderr
    assert {p: os.path.getmtime(p) for p in workdir.rglob("*")} == before


def _train_with_default_devices(workdir, *args):
    """experiments.train without the test session's forced device count."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "").replace(
        "--xla_force_host_platform_device_count=2", ""
    )
    result = subprocess.run(
        [sys.executable, "-m", "experiments.train", f"--workdir={workdir}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    with open(os.path.join(workdir, "config.json")) as f:
        return json.load(f)


def test_defaults_are_the_fastest_measured_settings(tmp_path):
    mlp = _train_with_default_devices(
        tmp_path / "mlp", "--model=gan", "--dataset=ring8", "--steps=20", "--hidden_sizes=8"
    )
    assert (mlp["num_devices"], mlp["steps_per_call"]) == (1, 10)
    conv = _train_with_default_devices(
        tmp_path / "conv",
        "--model=vae",
        "--dataset=digits",
        "--steps=6",
        "--batch_size=8",
        "--checkpoint_every=6",  # 4 steps per call would straddle it: 3 is used
        "--base_features=4",
        "--latent_dim=2",
    )
    assert (conv["num_devices"], conv["steps_per_call"]) == (1, 3)


def test_fused_steps_divide_the_checkpoint_interval():
    from unigen_jax.train.settings import fused_steps_dividing

    assert fused_steps_dividing(10, 1000) == 10
    assert fused_steps_dividing(4, 6) == 3
    assert fused_steps_dividing(4, 7) == 1
