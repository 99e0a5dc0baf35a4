"""The papers' image datasets, read from TensorFlow Datasets without TensorFlow.

Reading goes through `tfds.data_source` (random access to ArrayRecord files,
https://www.tensorflow.org/datasets/api_docs/python/tfds/data_source), which needs no
TensorFlow; `tfds.load` and `tfds.as_numpy` do, so they are not used.

A dataset that is not prepared under the data directory is downloaded and prepared in ArrayRecord
format by TFDS itself (`builder.download_and_prepare`), as TFDS users expect, when this machine
can do it (Colab can); otherwise it is one UserInputError line that says how to prepare it on a
machine with internet. The decision (`_why_not_download`), in order:

- `UNIGEN_JAX_OFFLINE=1` in the environment: never download (test suites, air-gapped clusters).
- TensorFlow is not importable: TFDS's preparation of these datasets needs it (Colab ships it).
- No internet: a TCP connection to storage.googleapis.com:443 (where TFDS keeps its metadata and
  the MNIST files) fails within 5 s. Offline this answers at once (within 5 s where a firewall
  drops packets) and writes nothing, where TFDS's own download, retrying with back-off, took
  3.4 minutes to give up on a failed name lookup here and left temporary files in the data
  directory. With an HTTPS proxy configured (`HTTPS_PROXY`), the download itself decides.

Then the download is tried: if it fails anyway (the network drops, a mirror is down, the disk is
full), the same one line, with the failure's cause appended, unless another process prepared the
dataset meanwhile (TFDS writes into a temporary folder renamed at the end, so two processes of a
multi-host job may both download; the first rename wins and the other reads its result).

Preprocessing, one example at a time (uint8 image -> float32):

- mnist, fashion_mnist, svhn_cropped, cifar10: divide by 255 -> [0, 1].
- binarized_mnist (Larochelle & Murray 2011's fixed binarisation): pixels are already {0, 1};
  any non-zero pixel becomes 1. No label (label 0).
- celeb_a: 218x178 aligned faces; a centred 108x108 crop, resized to 64x64 (PIL bilinear with
  antialiasing), / 255. The 108 crop is the one of the DCGAN CelebA pipeline (Radford et al.
  2016, https://arxiv.org/abs/1511.06434, as released in carpedm20/DCGAN-tensorflow) that
  later GAN/VAE comparisons reuse. No label (the 40 attributes are not used; label 0).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import socket
import sys
from collections.abc import Callable
from unittest import mock

import numpy as np
from PIL import Image

from unigen_jax.data.sources import DatasetInfo, check_indices, check_split
from unigen_jax.errors import UserInputError

CELEB_A_CROP = 108
CELEB_A_SIZE = 64


def scale_uint8(image: np.ndarray) -> np.ndarray:
    """uint8 [H, W, C] -> float32 [H, W, C] in [0, 1] (divide by 255)."""
    return np.asarray(image, np.float32) / 255.0


def binarize(image: np.ndarray) -> np.ndarray:
    """{0, 1} uint8 [H, W, C] -> float32 {0, 1}; any non-zero pixel counts as 1."""
    return (np.asarray(image) != 0).astype(np.float32)


def center_crop_resize(image: np.ndarray, crop: int, size: int) -> np.ndarray:
    """uint8 [H, W, 3] -> float32 [size, size, 3] in [0, 1]: centred crop x crop, then resize.

    The crop's top-left corner is ((H - crop) // 2, (W - crop) // 2); for CelebA's 218x178
    images and crop 108 that is row 55, column 35.
    """
    image = np.asarray(image, np.uint8)
    height, width = image.shape[:2]
    if height < crop or width < crop:
        raise ValueError(f"image {image.shape} is smaller than the {crop}x{crop} crop")
    top, left = (height - crop) // 2, (width - crop) // 2
    cropped = np.ascontiguousarray(image[top : top + crop, left : left + crop])
    resized = Image.fromarray(cropped).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, np.float32) / 255.0


def _celeb_a(image: np.ndarray) -> np.ndarray:
    return center_crop_resize(image, CELEB_A_CROP, CELEB_A_SIZE)


@dataclasses.dataclass(frozen=True)
class TfdsSpec:
    """How one TFDS dataset becomes a source: its splits, output shape, label and preprocessing."""

    shape: tuple[int, int, int]
    num_classes: int  # 0: no label feature is read; label = 0
    splits: tuple[str, ...]
    preprocess: Callable[[np.ndarray], np.ndarray]


TFDS_SPECS: dict[str, TfdsSpec] = {
    "mnist": TfdsSpec((28, 28, 1), 10, ("train", "test"), scale_uint8),
    "binarized_mnist": TfdsSpec((28, 28, 1), 0, ("train", "validation", "test"), binarize),
    "fashion_mnist": TfdsSpec((28, 28, 1), 10, ("train", "test"), scale_uint8),
    "svhn_cropped": TfdsSpec((32, 32, 3), 10, ("train", "test", "extra"), scale_uint8),
    "cifar10": TfdsSpec((32, 32, 3), 10, ("train", "test"), scale_uint8),
    "celeb_a": TfdsSpec(
        (CELEB_A_SIZE, CELEB_A_SIZE, 3), 0, ("train", "validation", "test"), _celeb_a
    ),
}


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise UserInputError(
            "reading TFDS datasets needs tensorflow-datasets; run: pip install tensorflow-datasets"
        ) from None
    return tfds


def _not_prepared_message(name: str, root: str, data_dir: str | None, why_not: str) -> str:
    where = root if data_dir else f"{root} (the default: $TFDS_DATA_DIR or ~/tensorflow_datasets)"
    return (
        f"TFDS dataset {name!r} is not prepared in {where} and was not downloaded here "
        f"({why_not}); "
        f"on a machine with internet run `pip install tensorflow tensorflow-datasets && "
        f"tfds build {name} --file_format=array_record --data_dir=DIR`, copy DIR to this machine "
        f"and pass --data_dir=DIR (or set TFDS_DATA_DIR=DIR)"
    )


class _DropVariantFolderWarnings(logging.Filter):
    """Drops TFDS's "Variant folder ... has no dataset_info.json" lines: our error says more."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Variant folder")


@contextlib.contextmanager
def _quiet_tfds_probe():
    absl_logger = logging.getLogger("absl")
    drop = _DropVariantFolderWarnings()
    absl_logger.addFilter(drop)
    try:
        yield
    finally:
        absl_logger.removeFilter(drop)


# Where the "is there internet" probe connects: TFDS's own bucket (metadata, the MNIST files).
INTERNET_PROBE = ("storage.googleapis.com", 443)
INTERNET_PROBE_TIMEOUT_S = 5.0
OFFLINE_ENV = "UNIGEN_JAX_OFFLINE"


def _tensorflow_importable() -> bool:
    """Whether `import tensorflow` can be tried (found, not imported: importing takes seconds)."""
    return importlib.util.find_spec("tensorflow") is not None


def _internet_available() -> bool:
    """True when a TCP connection to `INTERNET_PROBE` opens within the timeout, or an HTTPS
    proxy is configured (requests, which TFDS downloads with, goes through it; the download
    itself then tells)."""
    if os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        return True
    try:
        with socket.create_connection(INTERNET_PROBE, timeout=INTERNET_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _why_not_download() -> str | None:
    """None when a missing dataset should be downloaded here, else the reason it is not."""
    if os.environ.get(OFFLINE_ENV, "0") not in ("", "0"):
        return f"{OFFLINE_ENV} is set"
    if not _tensorflow_importable():
        return "TensorFlow is not installed"
    if not _internet_available():
        return "no internet"
    return None


def _first_line(err: BaseException, limit: int = 200) -> str:
    """`Type: first line of the message`, cut to `limit` characters: for a one-line error."""
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else ""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _download_and_prepare(tfds, name: str, data_dir: str | None) -> None:
    """Downloads and prepares `name` with TFDS, in ArrayRecord format (random access).

    GCS-hosted copies are not tried (`try_download_gcs=False`): TFDS hosts them as TFRecord,
    which has no random access, and offline the GCS look-up can hang. Raises whatever TFDS raises.
    """
    builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    print(
        f"TFDS dataset {name!r} is not prepared in {builder.data_dir_root}: downloading and "
        f"preparing it there (ArrayRecord, once)",
        file=sys.stderr,
        flush=True,
    )
    builder.download_and_prepare(
        file_format="array_record",
        download_config=tfds.download.DownloadConfig(try_download_gcs=False),
    )


def open_tfds(name: str, split: str, data_dir: str | None):
    """Opens a prepared TFDS split for random access, preparing it first where it can.

    `tfds.data_source(..., download=False)` is tried first: under `tfds.testing.mock_data` it
    returns mock examples although `builder.is_prepared()` is False there, so the builder is only
    consulted to explain a failure: not prepared (downloaded and prepared here when
    `_why_not_download()` allows it; otherwise one line, and nothing is written to `data_dir`),
    or prepared in a format without random access (TFRecord, `tfds build`'s default).
    """
    tfds = _import_tfds()
    try:
        with _quiet_tfds_probe():
            return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except Exception as err:
        with _quiet_tfds_probe():
            builder = tfds.builder(name, data_dir=data_dir)
            prepared = builder.is_prepared()
        root = str(builder.data_dir_root)
        if not prepared:
            why_not = _why_not_download()
            if why_not is not None:
                raise UserInputError(_not_prepared_message(name, root, data_dir, why_not)) from None
            try:
                _download_and_prepare(tfds, name, data_dir)
            except Exception as download_err:
                with _quiet_tfds_probe():  # another process may have prepared it meanwhile
                    prepared = tfds.builder(name, data_dir=data_dir).is_prepared()
                if not prepared:
                    why_not = f"the download failed: {_first_line(download_err)}"
                    raise UserInputError(
                        _not_prepared_message(name, root, data_dir, why_not)
                    ) from None
            with _quiet_tfds_probe():
                return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
        if isinstance(err, NotImplementedError):  # tfds: "Random access ... not supported"
            raise UserInputError(
                f"TFDS dataset {name!r} in {root} was prepared without random access "
                f"(file format {builder.info.file_format}); rebuild it with "
                f"`tfds build {name} --file_format=array_record --data_dir={root}`"
            ) from None
        raise


class TfdsSource:
    """A TFDS split read example by example and preprocessed on the host.

    Args:
      name: a key of `TFDS_SPECS` (also the TFDS dataset name).
      split: one of the dataset's split names (`TFDS_SPECS[name].splits`).
      data_dir: TFDS data directory; None means TFDS's default (`$TFDS_DATA_DIR` or
        `~/tensorflow_datasets`).
    """

    def __init__(self, name: str, split: str = "train", *, data_dir: str | None = None):
        spec = TFDS_SPECS[name]
        check_split(name, split, spec.splits)
        self._spec = spec
        self._data = open_tfds(name, split, data_dir)
        # tfds.testing.mock_data (4.9.10) swaps the ArrayRecord reader for a MagicMock whose
        # `__getitems__` is not bound to it and fails; read one record at a time there.
        self._batched_reads = not isinstance(getattr(self._data, "data_source", None), mock.Mock)
        self.info = DatasetInfo(
            name=name,
            kind="image",
            shape=spec.shape,
            num_classes=spec.num_classes,
            num_examples=len(self._data),
            binary=spec.preprocess is binarize,
        )

    def __len__(self) -> int:
        return self.info.num_examples

    def _read(self, indices: np.ndarray) -> list[dict]:
        keys = [int(i) for i in indices]
        if self._batched_reads and keys:
            return list(self._data.__getitems__(keys))
        return [self._data[k] for k in keys]

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Returns `{'x': float32 [n, *info.shape], 'label': int32 [n]}` for `indices` [n]."""
        indices = check_indices(indices, len(self))
        examples = self._read(indices)
        x = np.empty((len(examples), *self.info.shape), np.float32)
        for row, example in enumerate(examples):
            x[row] = self._spec.preprocess(example["image"])
        if self._spec.num_classes:
            label = np.array([example["label"] for example in examples], np.int32)
        else:
            label = np.zeros(len(examples), np.int32)
        return {"x": x, "label": label}

    def __repr__(self) -> str:
        return f"TfdsSource({self.info})"
