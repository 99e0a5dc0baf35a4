"""The training loop: workdir contract, bit-identical resume, SIGTERM."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from unigen_jax import data, models
from unigen_jax.errors import UserInputError
from unigen_jax.train.checkpoint import Checkpointer
from unigen_jax.train.loop import RunConfig, train
from unigen_jax.train.state import create_train_state

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny(workdir, steps, model="gan"):
    run = RunConfig(
        model=model,
        dataset="mnist5k",
        workdir=str(workdir),
        steps=steps,
        batch_size=8,
        seed=5,
        log_every=2,
        sample_every=3,
        checkpoint_every=3,
    )
    config = models.make_config(model, latent_dim=3, base_features=4)
    return run, config


def _final_state(workdir, run, config):
    source = data.get_source(run.dataset)
    model = models.build_model(run.model, config, source.info)
    template = create_train_state(model, source.get(np.arange(2)), run.seed)
    return jax.device_get(Checkpointer(os.path.join(workdir, "checkpoints")).restore(template))


def _losses(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return [{k: v for k, v in row.items() if k != "steps_per_sec"} for row in rows]


def test_interrupted_and_resumed_run_is_bit_identical(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run, config = _tiny(straight, 6)
    train(run, config, log=lambda _: None)
    started = time.perf_counter()
    train(*_tiny(resumed, 3), log=lambda _: None)  # stops at the step-3 checkpoint
    first_wall = time.perf_counter() - started
    first = json.loads((resumed / "config.json").read_text())["train_seconds"]
    lines = []
    started = time.perf_counter()
    train(*_tiny(resumed, 6), log=lines.append)  # same command, longer: resumes
    second_wall = time.perf_counter() - started
    assert any("resumed" in line and "step 3" in line for line in lines)
    # The run's training time: each invocation's wall time, added up across the resume.
    recorded = json.loads((resumed / "config.json").read_text())
    total = recorded["train_seconds"]
    assert 0 < first <= first_wall and first < total <= first + second_wall
    # Rerun once finished, it trains and compiles nothing and keeps the first call's time.
    train(*_tiny(resumed, 6), log=lambda _: None)
    rerun = json.loads((resumed / "config.json").read_text())
    assert rerun["first_call_sec"] == recorded["first_call_sec"] != {}
    assert total <= rerun["train_seconds"]

    a, b = _final_state(straight, run, config), _final_state(resumed, run, config)
    assert int(a.step) == int(b.step) == 6
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    # The stopped run logged its last step (3); no step is logged twice and the rest agree.
    resumed_rows = _losses(resumed)
    assert [row["step"] for row in resumed_rows] == [2, 3, 4, 6]
    assert [row for row in resumed_rows if row["step"] != 3] == _losses(straight)

    # The workdir contract.
    assert [row["step"] for row in _losses(straight)] == [2, 4, 6]
    with open(straight / "config.json") as f:
        config_json = json.load(f)
    assert config_json["num_devices"] == len(jax.devices())
    assert config_json["model_config"]["latent_dim"] == 3
    assert sorted(os.listdir(straight / "samples")) == ["step_000003.png", "step_000006.png"]


def test_vae_writes_reconstructions(tmp_path):
    train(*_tiny(tmp_path, 1, model="vae"), log=lambda _: None)
    assert sorted(os.listdir(tmp_path / "samples")) == [
        "step_000001.png",
        "step_000001_reconstructions.png",
    ]
    row = _losses(tmp_path)[-1]
    # The ELBO is log-likelihood minus KL: the logged pieces must add up.
    np.testing.assert_allclose(row["elbo"], -row["reconstruction"] - row["kl"], rtol=1e-5)


def test_sigterm_saves_a_checkpoint_then_exits(tmp_path):
    command = [
        sys.executable,
        "-u",
        "-m",
        "experiments.train",
        "--model=gan",
        "--dataset=ring8",
        f"--workdir={tmp_path}",
        "--steps=1000000",
        "--log_every=5",
        "--config.hidden_sizes=8",
        "--config.latent_dim=2",
        "--cpu_devices=1",
    ]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        for line in process.stdout:
            if line.startswith("step "):  # the first log line: at step 5 or 10 (10 per call)
                process.send_signal(signal.SIGTERM)
                break
        rest = process.communicate(timeout=120)[0]
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM, rest
    assert "checkpoint saved" in rest
    saved = Checkpointer(str(tmp_path / "checkpoints")).latest_step()
    assert saved is not None and saved >= 5


def test_one_step_of_the_whole_trainer_on_a_tfds_dataset(tmp_path):
    """flax-examples style smoke test: the TFDS path end to end, under mock_data."""
    import tensorflow_datasets as tfds

    run = RunConfig(
        model="vae",
        dataset="cifar10",
        workdir=str(tmp_path),
        steps=2,
        batch_size=4,
        log_every=1,
        sample_every=2,
        checkpoint_every=2,
    )
    with tfds.testing.mock_data(num_examples=20):
        metrics = train(
            run, models.make_config("vae", latent_dim=2, base_features=4), log=lambda _: None
        )
    assert metrics["step"] == 2 and np.isfinite(metrics["loss"])
    with open(tmp_path / "config.json") as f:
        assert json.load(f)["data"]["shape"] == [32, 32, 3]


def test_keep_checkpoints_every_keeps_each_multiple_beside_the_newest_three(tmp_path):
    run, config = _tiny(tmp_path / "kept", 7)
    run = dataclasses.replace(run, checkpoint_every=1, keep_checkpoints_every=2)
    train(run, config, log=lambda _: None)
    checkpointer = Checkpointer(str(tmp_path / "kept" / "checkpoints"))
    assert checkpointer.all_steps() == [2, 4, 5, 6, 7]  # multiples of 2, and the newest 3
    # The kept step-4 state is the final state of the same run trained for 4 steps.
    short, _ = _tiny(tmp_path / "short", 4)
    train(short, config, log=lambda _: None)
    source = data.get_source(run.dataset)
    template = create_train_state(
        models.build_model(run.model, config, source.info), source.get(np.arange(2)), run.seed
    )
    kept = jax.device_get(checkpointer.restore(template, 4))
    final = _final_state(tmp_path / "short", short, config)
    assert int(kept.step) == 4
    for x, y in zip(jax.tree.leaves(kept), jax.tree.leaves(final), strict=True):
        np.testing.assert_array_equal(x, y)


def test_keep_checkpoints_every_must_be_a_multiple_of_checkpoint_every(tmp_path):
    run, _ = _tiny(tmp_path, 7)
    with pytest.raises(UserInputError, match="must be a multiple of --checkpoint_every=3"):
        dataclasses.replace(run, keep_checkpoints_every=4).validate()


def test_a_run_resumes_after_its_model_gained_a_field_at_its_default(tmp_path):
    """A run stored before a config field existed resumes when the field is at its default
    (new fields default to the old behaviour), and not when it is set to something else."""
    from unigen_jax.errors import UserInputError
    from unigen_jax.train import loop

    current = loop._jsonable(models.make_config("svae"))
    resolved = {
        "workdir": str(tmp_path),
        "model": "svae",
        "dataset": "digits",
        "seed": 0,
        "batch_size": 8,
        "model_config": current,
        "train_fraction": 1.0,
        "validation_fraction": 0.0,
    }
    before_the_field = {k: v for k, v in current.items() if k != "activation"}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**resolved, "model_config": before_the_field}))
    loop._check_resumable(str(path), resolved)
    with pytest.raises(
        UserInputError,
        match="holds a run with config.activation=auto, not softplus",
    ):
        loop._check_resumable(
            str(path), {**resolved, "model_config": {**current, "activation": "softplus"}}
        )
    # A field whose default changed the model's behaviour: the stored run trained as before it
    # (an AA-VAE showed D the generator's means), so it resumes only so.
    current = loop._jsonable(models.make_config("aavae"))
    drawn = {
        **resolved,
        "model": "aavae",
        "model_config": {**current, "generated_examples": "draw"},
    }
    before_the_field = {k: v for k, v in current.items() if k != "generated_examples"}
    path.write_text(json.dumps({**drawn, "model_config": before_the_field}))
    with pytest.raises(UserInputError, match="resume it with --config.generated_examples=mean"):
        loop._check_resumable(str(path), drawn)
    loop._check_resumable(
        str(path), {**drawn, "model_config": {**current, "generated_examples": "mean"}}
    )
    # A plain VAE on binary data has no adversary, so it resolves the field to the mean and
    # resumes a run stored before the field.
    info = data.DatasetInfo("toy", "image", (28, 28, 1), 0, 8, binary=True)
    plain = models.build_model("vae", models.make_config("vae"), info, axis_name=None).config
    stored_vae = {**resolved, "model": "vae", "model_config": loop._jsonable(plain)}
    before_the_field = {
        k: v for k, v in stored_vae["model_config"].items() if k != "generated_examples"
    }
    path.write_text(json.dumps({**stored_vae, "model_config": before_the_field}))
    loop._check_resumable(str(path), stored_vae)
