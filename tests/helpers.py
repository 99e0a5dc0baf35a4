"""Small set-ups several test modules share."""

import json
import os
import subprocess
import sys

from unigen_jax import data
from unigen_jax.eval import classifier as classifiers


def saved_classifier(dataset: str, directory: str, *, steps: int, batch_size: int):
    """A classifier of `dataset` trained for `steps` steps and saved in `directory`."""
    trained = classifiers.train_classifier(
        data.get_source(dataset),
        data.get_source(dataset, "test"),
        steps=steps,
        batch_size=batch_size,
        log=lambda _: None,
    )
    classifiers.save_classifier(trained, directory)
    return trained


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_command(module: str, *args: str, env=None, timeout: int = 300):
    """`python -m MODULE ARGS` from the repository root, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_commands(module: str, commands: list[list[str]], *, env=None, timeout: int = 300):
    """`python -m MODULE ARGS` for each ARGS of `commands`, as forks of one process that
    imported their libraries once (tests/forked_commands.py): a CompletedProcess each."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.forked_commands"],
        cwd=REPO,
        env=env,
        input=json.dumps({"module": module, "commands": commands}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = json.loads(result.stdout)
    return [
        subprocess.CompletedProcess([module, *args], **output)
        for args, output in zip(commands, outputs, strict=True)
    ]


def _env_without_xla_flag(prefix: str) -> dict[str, str]:
    """This process's environment with the session's XLA flags (conftest.py) but `prefix`'s."""
    kept = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(prefix)]
    return {**os.environ, "XLA_FLAGS": " ".join(kept)}


def one_device_env() -> dict[str, str]:
    """The environment for a subprocess with one XLA CPU device, as `experiments.train` has on
    a CPU host: the session's XLA flags but its forced device count."""
    return _env_without_xla_flag("--xla_force_host_platform_device_count")


def optimised_env() -> dict[str, str]:
    """The environment for a subprocess whose run time, not its compiles, dominates (an
    evaluation that classifies thousands of real digits): the session's XLA flags but its
    fast-compile -O0, which ran the stacked-MNIST evaluation in 61 s against 45."""
    return _env_without_xla_flag("--xla_backend_optimization_level")
