"""TensorBoard events of a training run, read back by TensorBoard's own reader."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from unigen_jax import models
from unigen_jax.train import tensorboard
from unigen_jax.train.loop import RunConfig, train

from .helpers import REPO


def _tiny(workdir, steps):
    run = RunConfig(
        model="gan",
        dataset="digits",
        workdir=str(workdir),
        steps=steps,
        batch_size=8,
        log_every=1,
        sample_every=2,
        checkpoint_every=2,
    )
    return run, models.make_config("gan", latent_dim=2, hidden_sizes=(8,), architecture="mlp")


def _events(workdir):
    accumulator = EventAccumulator(
        os.path.join(workdir, "tensorboard"),
        size_guidance={"scalars": 0, "images": 0, "tensors": 0},  # 0: keep every event
    )
    accumulator.Reload()
    return accumulator


def _metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _assert_scalars_match_metrics(workdir):
    """Every scalar of metrics.jsonl, at its steps, once each, and nothing else."""
    events, rows = _events(workdir), _metrics(workdir)
    names = {name for row in rows for name in row if name != "step"}
    assert set(events.Tags()["scalars"]) == names
    for name in names:
        logged = [(row["step"], row[name]) for row in rows if name in row]
        shown = [(event.step, event.value) for event in events.Scalars(name)]
        assert [step for step, _ in shown] == [step for step, _ in logged], name
        np.testing.assert_allclose(  # TensorBoard keeps float32
            [value for _, value in shown], [value for _, value in logged], rtol=1e-6
        )
    return events


@pytest.fixture(scope="module")
def two_steps(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tensorboard") / "run"
    train(*_tiny(workdir, 2), log=lambda _: None)
    return workdir


def test_run_writes_scalars_images_and_config(two_steps):
    events = _assert_scalars_match_metrics(two_steps)
    assert [row["step"] for row in _metrics(two_steps)] == [1, 2]

    (image,) = events.Images("samples")
    assert image.step == 2 and image.width > 0 and image.height > 0
    with open(two_steps / "samples" / "step_000002.png", "rb") as f:
        assert image.encoded_image_string == f.read()  # the PNG as saved

    (text,) = events.Tensors("config/text_summary")
    assert text.step == 0
    shown = json.loads(text.tensor_proto.string_val[0].decode())
    with open(two_steps / "config.json") as f:
        saved = json.load(f)
    # Measured after the config is shown: the first call's time, and this run's training time
    # (the config shown holds the earlier invocations' total, 0 here).
    saved.pop("first_call_sec")
    assert shown.pop("train_seconds") == 0 < saved.pop("train_seconds")
    assert shown == saved


def test_resume_shows_each_step_once(two_steps, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(two_steps, workdir)
    # A session that logged step 3 after the step-2 checkpoint, then was killed while writing.
    before = set(os.listdir(workdir / "tensorboard"))
    with tensorboard.TensorBoardWriter(str(workdir / "tensorboard"), start_step=2) as board:
        board.scalars(3, {"step": 3, **{name: 1e6 for name in _metrics(workdir)[-1]}})
    (newest,) = set(os.listdir(workdir / "tensorboard")) - before
    with open(workdir / "tensorboard" / newest, "ab") as f:
        f.write(b"\x40\x00\x00\x00\x00\x00\x00\x00half a record")
    with open(workdir / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 3, "d_loss": 1e6}) + "\n")

    train(*_tiny(workdir, 4), log=lambda _: None)

    events = _assert_scalars_match_metrics(workdir)
    assert [row["step"] for row in _metrics(workdir)] == [1, 2, 3, 4]
    assert [image.step for image in events.Images("samples")] == [2, 4]
    assert [text.step for text in events.Tensors("config/text_summary")] == [0, 2]
    assert not [p for p in os.listdir(workdir / "tensorboard") if "tfevents" not in p]


def test_a_resume_at_the_same_step_rewrites_its_config_once(tmp_path):
    logdir = str(tmp_path)
    for _ in range(2):  # a session killed before its first checkpoint, then started again
        with tensorboard.TensorBoardWriter(logdir, start_step=0) as board:
            board.config({"model": "gan"})
            board.scalars(1, {"step": 1, "loss": 0.5})
    events = EventAccumulator(logdir)
    events.Reload()
    assert len(events.Tensors("config/text_summary")) == 1
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [(1, 0.5)]
    assert len(os.listdir(logdir)) == 1  # the first session's file had nothing left


def test_events_are_on_disk_when_the_call_returns(tmp_path):
    board = tensorboard.TensorBoardWriter(str(tmp_path), start_step=0)
    board.scalars(1, {"step": 1, "loss": 0.25})  # no close: as after a kill -9
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [(1, 0.25)]
    board.close()


def test_inactive_writer_writes_nothing(tmp_path):
    with tensorboard.TensorBoardWriter(str(tmp_path / "tb"), start_step=0, active=False) as b:
        b.config({"model": "gan"})
        b.scalars(1, {"step": 1, "loss": 0.5})
        b.images(1, {"samples": str(tmp_path / "missing.png")})
    assert not (tmp_path / "tb").exists()


def test_writing_events_leaves_torch_unimported_and_importable(tmp_path):
    """tensorboardX's package imports torch when installed (1.6 s a training process); the
    writer hides it while importing what it needs, and a later `import torch` still works."""
    code = (
        "import importlib.util, sys\n"
        "from unigen_jax.train import tensorboard\n"
        f"with tensorboard.TensorBoardWriter({str(tmp_path)!r}, start_step=0) as writer:\n"
        "    writer.scalars(1, {'loss': 0.5})\n"
        "print('torch' in sys.modules)\n"
        "if importlib.util.find_spec('torch'):\n"
        "    import torch\n"
        "    print(torch.ones(3).sum().item())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0] == "False"
    assert result.stdout.split()[1:] in ([], ["3.0"])
    (events,) = os.listdir(tmp_path)
    *_, (_, event) = tensorboard.read_records(str(tmp_path / events))  # after the file version
    assert event.step == 1 and event.summary.value[0].simple_value == 0.5
