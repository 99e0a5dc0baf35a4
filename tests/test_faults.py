"""Faults during training end in one line and leave a workdir that resumes: a loss that stops
being finite, a second run on the same workdir, an unreadable newest checkpoint, a full disk,
a killed run's half-written files, and kill -9 at random moments (the chaos test)."""

import errno
import json
import os
import random
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from unigen_jax import data, models
from unigen_jax.errors import PartialFailure, UserInputError
from unigen_jax.train import workdir as files
from unigen_jax.train.checkpoint import Checkpointer
from unigen_jax.train.loop import RunConfig, train
from unigen_jax.train.state import create_train_state

from .test_loop import REPO

MLP = {"latent_dim": 2, "hidden_sizes": (8,)}


def _run(workdir, steps, **overrides):
    settings = dict(
        model="gan",
        dataset="ring8",
        workdir=str(workdir),
        steps=steps,
        batch_size=8,
        seed=3,
        log_every=1,
        sample_every=1000,
        checkpoint_every=2,
        num_devices=1,
    )
    return RunConfig(**{**settings, **overrides})


def _state(workdir, config, step=None):
    source = data.get_source("ring8")
    model = models.build_model("gan", config, source.info)
    template = create_train_state(model, source.get(np.arange(2)), 3)
    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
    state = checkpointer.restore(template, step)
    checkpointer.close()
    return jax.device_get(state)


def _assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def _losses(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return [{k: v for k, v in row.items() if k != "steps_per_sec"} for row in rows]


def test_a_loss_that_stops_being_finite_stops_the_run_before_its_state_is_saved(tmp_path):
    config = models.make_config("gan", **MLP, discriminator_lr=1e38, generator_lr=1e38)
    with pytest.raises(PartialFailure) as failure:
        train(_run(tmp_path, 50), config, log=lambda _: None)
    message = str(failure.value)
    assert "\n" not in message and "at step" in message and "(phase " in message
    bad_step = int(message.split("at step ")[1].split()[0])
    checkpointer = Checkpointer(os.path.join(tmp_path, "checkpoints"), read_only=True)
    saved = checkpointer.latest_step()
    checkpointer.close()
    assert saved is None or saved < bad_step
    if saved is not None:  # what is on disk is finite
        assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(_state(tmp_path, config)))


def test_a_second_run_on_a_locked_workdir_is_refused(tmp_path):
    config = models.make_config("gan", **MLP)
    train(_run(tmp_path, 2), config, log=lambda _: None)
    before = sorted(os.listdir(tmp_path))
    with files.lock(str(tmp_path)):  # another run holds it
        with pytest.raises(UserInputError, match="another run is training in"):
            train(_run(tmp_path, 4), config, log=lambda _: None)
    assert sorted(os.listdir(tmp_path)) == before
    train(_run(tmp_path, 4), config, log=lambda _: None)  # released: resumes


def test_an_unreadable_newest_checkpoint_is_set_aside_and_the_one_before_resumes(tmp_path):
    config = models.make_config("gan", **MLP)
    train(_run(tmp_path / "straight", 6), config, log=lambda _: None)
    broken = tmp_path / "broken"
    train(_run(broken, 4), config, log=lambda _: None)
    for root, _, names in os.walk(broken / "checkpoints" / "4"):
        for name in names:  # truncate every file of the newest checkpoint
            with open(os.path.join(root, name), "r+b") as f:
                f.truncate(max(os.path.getsize(f.name) // 3, 0))
    # Scores and grids of the lost step-4 checkpoint; the step-2 ones and other files stay.
    reports = {"eval.json": 4, "eval_step_000004_validation.json": 4, "eval_step_000002.json": 2}
    for name, step in reports.items():
        files.write_json_atomically(str(broken / name), {"step": step})
    (broken / "evaluation_notes.json").write_text('{"step": 4}')
    os.makedirs(broken / "samples", exist_ok=True)
    for name in ("step_000002.png", "step_000004.png", "step_000004_reconstructions.png"):
        (broken / "samples" / name).write_bytes(b"")
    lines = []
    train(_run(broken, 6), config, log=lines.append)
    removed = [line for line in lines if line.startswith("removed the scores")]
    assert len(removed) == 1 and "after 2" in removed[0], lines
    assert removed[0].count("step_000004") == 3 and "eval.json" in removed[0]
    assert not os.path.exists(broken / "eval.json")
    assert not os.path.exists(broken / "eval_step_000004_validation.json")
    assert os.path.exists(broken / "eval_step_000002.json")
    assert os.path.exists(broken / "evaluation_notes.json")
    # The retrained run draws its own last grid (sample_every=1000: none at step 4).
    assert sorted(os.listdir(broken / "samples")) == ["step_000002.png", "step_000006.png"]
    unreadable = [line for line in lines if "cannot be read" in line]
    assert len(unreadable) == 1 and "checkpoints/4" in unreadable[0]
    assert any("resumed" in line and "step 2" in line for line in lines)
    assert os.path.isdir(broken / "checkpoints" / "4.unreadable")
    _assert_same(_state(tmp_path / "straight", config), _state(broken, config))
    assert _losses(tmp_path / "straight") == _losses(broken)


def test_a_full_disk_is_one_line_and_the_run_resumes_afterwards(tmp_path, monkeypatch):
    config = models.make_config("gan", **MLP)
    train(_run(tmp_path / "straight", 6), config, log=lambda _: None)
    saves = []
    original = Checkpointer.save

    def save_until_full(self, state):
        saves.append(1)
        if len(saves) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.directory)
        original(self, state)

    monkeypatch.setattr(Checkpointer, "save", save_until_full)
    full = tmp_path / "full"
    with pytest.raises(PartialFailure, match="No space left on device") as failure:
        train(_run(full, 6), config, log=lambda _: None)
    assert "\n" not in str(failure.value)
    monkeypatch.setattr(Checkpointer, "save", original)
    train(_run(full, 6), config, log=lambda _: None)
    _assert_same(_state(tmp_path / "straight", config), _state(full, config))
    assert _losses(tmp_path / "straight") == _losses(full)


def test_half_written_files_of_a_killed_run_do_not_break_the_resume(tmp_path):
    config = models.make_config("gan", **MLP)
    train(_run(tmp_path, 4), config, log=lambda _: None)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "discriminator_lo')  # killed while appending
    with open(tmp_path / "config.json.tmp1234", "w") as f:
        f.write("{")  # killed while writing config.json (atomically: the real one is intact)
    train(_run(tmp_path, 6), config, log=lambda _: None)
    assert [row["step"] for row in _losses(tmp_path)] == [1, 2, 3, 4, 5, 6]


def _command(workdir, steps):
    return [
        sys.executable,
        "-m",
        "experiments.train",
        "--model=gan",
        "--dataset=ring8",
        f"--workdir={workdir}",
        f"--steps={steps}",
        "--batch_size=8",
        "--seed=3",
        "--steps_per_call=1",
        "--log_every=5",
        "--checkpoint_every=10",
        "--sample_every=100000",
        "--config.latent_dim=2",
        "--config.hidden_sizes=8",
    ]


def _last_logged(workdir):
    try:
        return max((row["step"] for row in _losses(workdir)), default=0)
    except (FileNotFoundError, json.JSONDecodeError):  # absent, or a line being written
        return 0


def test_chaos_kill_9_at_random_moments_then_resume_is_bit_identical(tmp_path):
    """Kills a run with SIGKILL at random moments (a random target step, then a random delay,
    so kills land in steps, checkpoint writes and log writes alike), resumes it each time, and
    compares it with an uninterrupted run, losses and final state bit for bit."""
    steps, interval = 400, 10
    straight, chaos = tmp_path / "straight", tmp_path / "chaos"
    subprocess.run(_command(straight, steps), cwd=REPO, check=True, capture_output=True)
    rng = random.Random(1234)
    targets = sorted(rng.sample(range(20, steps - 40), 4))
    kills = 0
    for target in targets:
        process = subprocess.Popen(
            _command(chaos, steps), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.perf_counter() + 120
        while _last_logged(chaos) < target and process.poll() is None:
            assert time.perf_counter() < deadline
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.25))
        if process.poll() is not None:
            assert process.returncode == 0, process.stderr.read()[-2000:]
            break
        process.kill()
        process.wait()
        kills += 1
        checkpointer = Checkpointer(os.path.join(chaos, "checkpoints"), read_only=True)
        saved = checkpointer.latest_step() or 0
        checkpointer.close()
        # At most one checkpoint interval of work lost (logs every 5 steps, saves every 10).
        assert saved >= _last_logged(chaos) - interval - 5
    assert kills == len(targets)
    result = subprocess.run(_command(chaos, steps), cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    config = models.make_config("gan", **MLP)
    _assert_same(_state(straight, config), _state(chaos, config))
    assert _losses(straight) == _losses(chaos)
