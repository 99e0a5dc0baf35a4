"""The test suite leaves nothing in the system temporary folder (conftest.system_tmpdir)."""

import os
import subprocess
import sys
import tempfile

import tensorflow_datasets as tfds

from .conftest import CLASSIFIER_CACHE_ENV


def _tfds_leftovers(folder):
    return {name for name in os.listdir(folder) if name.endswith("tfds")}


def _inside(path, folder):
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == str(folder)


def test_what_tfds_leaves_stays_out_of_the_system_temporary_folder(
    system_tmpdir, tmp_path, tmp_path_factory
):
    scratch = tempfile.gettempdir()
    assert _inside(scratch, tmp_path_factory.getbasetemp())
    before, leftovers = _tfds_leftovers(system_tmpdir), _tfds_leftovers(scratch)
    # The builder of a dataset that is not prepared leaves an empty tmp*tfds folder behind.
    tfds.builder("mnist", data_dir=str(tmp_path / "data"))
    assert len(_tfds_leftovers(scratch) - leftovers) == 1
    assert _tfds_leftovers(system_tmpdir) == before


def test_subprocesses_use_the_same_temporary_folder_and_classifier_cache(tmp_path_factory):
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, tempfile; print(tempfile.gettempdir()); "
            f"print(os.environ['{CLASSIFIER_CACHE_ENV}'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert shown[0] == tempfile.gettempdir()
    assert shown[1] == os.environ[CLASSIFIER_CACHE_ENV]
    assert _inside(shown[1], tmp_path_factory.getbasetemp())
