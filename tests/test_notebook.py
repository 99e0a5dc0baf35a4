"""notebooks/colab_tpu.ipynb, executed on CPU at tiny sizes so that it cannot rot.

nbclient runs the notebook in a real IPython kernel. The kernel is started with THIS
interpreter (`sys.executable`, the venv's python, whose ipykernel the `test` extra installs)
through a kernel spec written for the test, not with whatever `python3` kernel the machine has
registered. The parameters are overridden the way papermill does it: a cell inserted after the
one tagged "parameters" assigns the new values. The install cell and the TensorBoard panel are
skipped through them (INSTALL, SHOW_TENSORBOARD); the commands the notebook runs are the real
ones, on the two CPU devices tests/conftest.py sets up (inherited through the environment).
"""

import base64
import json
import os
import re
import sys

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(REPO, "notebooks", "colab_tpu.ipynb")
KERNEL = "unigen_jax_test_venv"

TINY = {
    "INSTALL": False,
    "REQUIRE_TPU": False,
    "SHOW_TENSORBOARD": False,
    "STEPS": 2,
    "BATCH_SIZE": 8,
    "MODEL_FLAGS": ["--config.latent_dim=2", "--config.base_features=4"],
    "TRAIN_FLAGS": ["--log_every=1", "--sample_every=2", "--checkpoint_every=2"],
    "CLASSIFIER_STEPS": 2,
    "EVAL_FLAGS": ["--num_samples=60", "--metrics=inception_score,fid"],
}


def _cell(nb, tag):
    (cell,) = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    return cell


def _with_parameters(nb, **parameters):
    """papermill's convention: the new values in a cell right after the "parameters" one."""
    defaults = _cell(nb, "parameters").source
    for name in parameters:  # a misspelt name would be a silent no-op
        assert re.search(rf"^{name} = ", defaults, re.M), f"no parameter {name}"
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    injected = nbformat.v4.new_code_cell(source)
    injected.metadata["tags"] = ["injected-parameters"]
    index = nb.cells.index(_cell(nb, "parameters"))
    nb.cells.insert(index + 1, injected)
    return nb


def _execute(nb, tmp_path):
    """Runs `nb` from the repository root in a kernel of this venv's python."""
    kernels = tmp_path / "kernels"
    (kernels / KERNEL).mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "unigen_jax test (venv)",
        "language": "python",
    }
    (kernels / KERNEL / "kernel.json").write_text(json.dumps(spec))
    manager = AsyncKernelManager(
        kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    client = NotebookClient(
        nb, km=manager, timeout=300, startup_timeout=120, resources={"metadata": {"path": REPO}}
    )
    return client.execute()


def _text(cell):
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


@pytest.fixture
def offline(monkeypatch):
    """The kernel and its commands inherit this: no TFDS download is ever tried."""
    monkeypatch.setenv("UNIGEN_JAX_OFFLINE", "1")


def test_notebook_trains_shows_samples_evaluates_at_tiny_sizes(tmp_path, offline):
    runs = tmp_path / "runs"
    nb = _with_parameters(nbformat.read(NOTEBOOK, as_version=4), **TINY, RUNS=str(runs))
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    nb = _execute(nb, tmp_path)

    assert _text(nb.cells[-1]).strip() == sys.executable  # the venv's python ran the cells
    assert _text(_cell(nb, "install")).strip() == f"repository: {REPO}"
    assert re.search(r"^2 cpu device\(s\): \[", _text(_cell(nb, "devices")), re.M)

    # The sample grid is displayed inline, and it is the last grid the run wrote.
    grid = runs / "gan" / "samples" / "step_000002.png"
    images = [
        out["data"]["image/png"]
        for out in _cell(nb, "samples").outputs
        if out.output_type == "display_data" and "image/png" in out["data"]
    ]
    assert len(images) == 1
    assert base64.b64decode(images[0]) == grid.read_bytes()
    assert '"step": 2' in _text(_cell(nb, "samples"))

    # evaluate ran with the classifier the notebook trained, and wrote eval.json.
    assert (runs / "classifier_mnist5k" / "classifier.json").exists()
    report = json.loads((runs / "gan" / "eval.json").read_text())
    assert report["step"] == 2 and report["dataset"] == "mnist5k" and report["failed"] == {}
    assert set(report["metrics"]) == {"inception_score", "fid"}
    assert report["classifier"]["path"] == str(runs / "classifier_mnist5k")
    summary = re.search(
        r"^step 2: classifier test accuracy \d\.\d+; metrics: (.*)$",
        _text(_cell(nb, "evaluate")),
        re.M,
    )
    assert summary and set(summary.group(1).split(", ")) == {"inception_score", "fid"}
    assert re.search(r"^[1-9]\d* event file\(s\) under ", _text(_cell(nb, "tensorboard")), re.M)


def test_notebook_stops_when_the_tpu_cores_are_not_there(tmp_path, offline):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    first_cells = nb.cells.index(_cell(nb, "devices")) + 1
    nb.cells = nb.cells[:first_cells]  # parameters, install, devices
    nb = _with_parameters(nb, INSTALL=False)
    with pytest.raises(CellExecutionError, match=r"expected 8 TPU cores, found 2 cpu device"):
        _execute(nb, tmp_path)
