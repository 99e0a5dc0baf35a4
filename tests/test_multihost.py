"""Two local processes (JAX's distributed runtime, gloo collectives on CPU) train like one:
the GAN, trained, checkpointed and resumed by 2 processes, then resumed by 1, and the VAE,
trained by 2 processes, end equal within float tolerance to one process running straight
through."""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np

from unigen_jax import data, models
from unigen_jax.train.checkpoint import Checkpointer
from unigen_jax.train.state import create_train_state

from .helpers import one_device_env
from .test_loop import REPO

# The GAN with DCGAN networks (BatchNorm statistics synced across processes); the VAE with
# MLPs, to keep the test short.
CONFIGS = {
    "gan": {"latent_dim": 2, "base_features": 4},
    "vae": {"latent_dim": 2, "hidden_sizes": "16", "architecture": "mlp"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(model, workdir, steps, processes):
    """Runs experiments.train in `processes` processes of one CPU device each."""
    env = one_device_env()  # one device a process (conftest asks for two)
    args = [
        sys.executable,
        "-m",
        "experiments.train",
        f"--model={model}",
        "--dataset=mnist5k",
        f"--workdir={workdir}",
        f"--steps={steps}",
        "--batch_size=8",
        "--seed=1",
        "--steps_per_call=1",
        "--log_every=2",
        "--sample_every=2",
        "--checkpoint_every=2",
        *(f"--config.{k}={v}" for k, v in CONFIGS[model].items()),
    ]
    port = _free_port()
    extra = (
        [
            [f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2", f"--process_id={i}"]
            for i in range(processes)
        ]
        if processes > 1
        else [[]]
    )
    running = [
        subprocess.Popen(
            args + e, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for e in extra
    ]
    outputs = [p.communicate(timeout=300)[0] for p in running]
    for p, out in zip(running, outputs, strict=True):
        assert p.returncode == 0, out[-3000:]
    return outputs


def _metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [{k: v for k, v in json.loads(line).items() if k != "steps_per_sec"} for line in f]


def _state(model, workdir):
    source = data.get_source("mnist5k")
    config = {k: (16,) if k == "hidden_sizes" else v for k, v in CONFIGS[model].items()}
    spec = models.build_model(model, models.make_config(model, **config), source.info)
    template = create_train_state(spec, source.get(np.arange(2)), 1)
    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
    state = jax.device_get(checkpointer.restore(template))
    checkpointer.close()
    return state


def _assert_like_one_process(model, straight, shared, steps):
    one, two = _metrics(straight), _metrics(shared)
    assert [r["step"] for r in one] == [r["step"] for r in two] == list(range(2, steps + 1, 2))
    for a, b in zip(one, two, strict=True):
        for name in a:
            np.testing.assert_allclose(b[name], a[name], rtol=1e-3, atol=1e-5, err_msg=name)
    a, b = _state(model, straight), _state(model, shared)
    assert int(a.step) == int(b.step) == steps
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_allclose(y, x, rtol=1e-3, atol=1e-5)


def test_two_processes_train_resume_and_hand_over_to_one_like_one_process(tmp_path):
    model, straight, shared = "gan", tmp_path / "one", tmp_path / "two"
    _train(model, straight, 8, processes=1)
    outputs = _train(model, shared, 4, processes=2)
    assert "with 2 cpu device(s)" in outputs[0] and "training" not in outputs[1]  # 1 writes
    _train(model, shared, 6, processes=2)  # 2 processes resume from their checkpoint
    handed_over = _train(model, shared, 8, processes=1)  # and 1 process takes over
    assert "resumed" in handed_over[0] and "step 6" in handed_over[0]
    _assert_like_one_process(model, straight, shared, 8)


def test_two_processes_train_another_model_like_one_process(tmp_path):
    """A second model, one without BatchNorm: two processes train it as one does. Resuming and
    handing over are the same code whatever the model, checked on the GAN above."""
    model, straight, shared = "vae", tmp_path / "one", tmp_path / "two"
    _train(model, straight, 4, processes=1)
    _train(model, shared, 4, processes=2)
    _assert_like_one_process(model, straight, shared, 4)
