"""Tests of the TFDS sources, without TensorFlow and without network.

Two independent routes: `tfds.testing.mock_data` (random examples; its default policy falls back
to the dataset's code when no metadata files exist, and `data_dir` is ignored), and a tiny real
ArrayRecord dataset written here with TFDS's own serializer, so that the non-mocked reader, the
PNG decoding and the batched `__getitems__` path run too.

Whether a missing dataset is downloaded is tested with the `machine` fixture: it sets what the
decision sees (TensorFlow importable, internet reachable) and replaces TFDS's
`download_and_prepare` by a stand-in that writes the tiny real dataset, so nothing is downloaded.
"""

import os
import socket

import numpy as np
import pytest
import requests
import tensorflow_datasets as tfds
from array_record.python import array_record_module
from PIL import Image

from unigen_jax.data import BatchIterator, DatasetInfo, batch_indices, get_source, tfds_source
from unigen_jax.data.tfds_source import CELEB_A_CROP, OFFLINE_ENV, center_crop_resize
from unigen_jax.errors import UserInputError

NUM_MOCK = 12


def _raw(name, split="train"):
    """Reads the mock examples straight from TFDS, one at a time (the independent reference)."""
    ds = tfds.data_source(name, split=split)
    return [ds[i] for i in range(len(ds))]


@pytest.mark.parametrize(
    "name, shape",
    [
        ("mnist", (28, 28, 1)),
        ("fashion_mnist", (28, 28, 1)),
        ("cifar10", (32, 32, 3)),
        ("svhn_cropped", (32, 32, 3)),
    ],
)
def test_mock_labelled_images_are_scaled_to_unit_range(name, shape):
    with tfds.testing.mock_data(num_examples=NUM_MOCK):
        source = get_source(name, "test")
        raw = _raw(name, "test")
        batch = source.get(np.arange(NUM_MOCK)[::-1])
        again = source.get(np.arange(NUM_MOCK)[::-1])
    assert source.info == DatasetInfo(name, "image", shape, 10, NUM_MOCK)
    assert batch["x"].dtype == np.float32 and batch["x"].shape == (NUM_MOCK, *shape)
    expected_x = np.stack([ex["image"] for ex in raw[::-1]]).astype(np.float32) / 255.0
    np.testing.assert_allclose(batch["x"], expected_x, rtol=1e-7)
    np.testing.assert_array_equal(batch["label"], [ex["label"] for ex in raw[::-1]])
    assert 0.0 <= batch["x"].min() and batch["x"].max() <= 1.0
    assert batch["x"].max() > 0.5  # really divided by 255 once, not twice
    assert batch["label"].dtype == np.int32 and set(batch["label"]) <= set(range(10))
    np.testing.assert_array_equal(batch["x"], again["x"])


def test_mock_binarized_mnist_has_binary_pixels_and_no_label():
    with tfds.testing.mock_data(num_examples=NUM_MOCK):
        source = get_source("binarized_mnist", "validation")
        raw = _raw("binarized_mnist", "validation")
        batch = source.get(np.arange(NUM_MOCK))
    assert source.info == DatasetInfo(
        "binarized_mnist", "image", (28, 28, 1), 0, NUM_MOCK, binary=True
    )
    assert set(np.unique(batch["x"])) <= {0.0, 1.0}
    np.testing.assert_array_equal(batch["x"], np.stack([ex["image"] != 0 for ex in raw]))
    np.testing.assert_array_equal(batch["label"], np.zeros(NUM_MOCK, np.int32))


def test_mock_celeb_a_is_cropped_and_resized():
    with tfds.testing.mock_data(num_examples=4):
        source = get_source("celeb_a", "validation")
        raw = _raw("celeb_a", "validation")
        batch = source.get(np.array([2, 0, 2]))
    assert source.info == DatasetInfo("celeb_a", "image", (64, 64, 3), 0, 4)
    assert raw[0]["image"].shape == (218, 178, 3)  # the mock has CelebA's real image size
    assert batch["x"].shape == (3, 64, 64, 3) and batch["x"].dtype == np.float32
    assert 0.0 <= batch["x"].min() and batch["x"].max() <= 1.0
    np.testing.assert_array_equal(batch["x"][0], batch["x"][2])
    np.testing.assert_array_equal(batch["x"][1], center_crop_resize(raw[0]["image"], 108, 64))
    np.testing.assert_array_equal(batch["label"], [0, 0, 0])


def test_center_crop_takes_the_central_window():
    """Pixels outside the centred 108x108 window never reach the output; a ramp stays a ramp."""
    height, width = 218, 178
    top, left = (height - CELEB_A_CROP) // 2, (width - CELEB_A_CROP) // 2
    assert (top, left) == (55, 35)
    image = np.zeros((height, width, 3), np.uint8)
    image[top : top + CELEB_A_CROP, left : left + CELEB_A_CROP] = 200
    np.testing.assert_array_equal(
        center_crop_resize(image, CELEB_A_CROP, 64), np.float32(200) / 255
    )
    # A horizontal ramp inside the window: value = column within the crop. Bilinear (triangle)
    # filters reproduce linear functions, so away from the borders output column j holds the
    # ramp at the source position (j + 1/2) * 108 / 64 - 1/2, up to uint8 rounding.
    image[top : top + CELEB_A_CROP, left : left + CELEB_A_CROP] = np.arange(CELEB_A_CROP)[
        None, :, None
    ]
    out = center_crop_resize(image, CELEB_A_CROP, 64) * 255
    j = np.arange(3, 61)
    expected = (j + 0.5) * CELEB_A_CROP / 64 - 0.5
    np.testing.assert_allclose(
        out[:, j, :], np.broadcast_to(expected[None, :, None], (64, 58, 3)), atol=0.51
    )


def test_tfds_split_names_are_checked_even_under_mock():
    with tfds.testing.mock_data(num_examples=2):
        with pytest.raises(UserInputError, match="unknown split 'validation' for dataset 'mnist'"):
            get_source("mnist", "validation")
        assert len(get_source("svhn_cropped", "extra")) == 2


def test_mock_source_feeds_the_batch_iterator():
    with tfds.testing.mock_data(num_examples=NUM_MOCK):
        source = get_source("cifar10", "train")
        with BatchIterator(source, seed=3, global_batch_size=8, start_step=1) as batches:
            got = [next(batches) for _ in range(3)]
        expected = [
            source.get(batch_indices(seed=3, step=t, global_batch_size=8, num_examples=NUM_MOCK))
            for t in (1, 2, 3)
        ]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g["x"], e["x"])
        np.testing.assert_array_equal(g["label"], e["label"])


def _tree(path):
    return sorted(
        (root, tuple(sorted(dirs)), tuple(sorted(files))) for root, dirs, files in os.walk(path)
    )


class Machine:
    """What the download decision sees, and what TFDS was asked to prepare."""

    def __init__(self):
        self.tensorflow = False
        self.internet = False
        self.probes = 0
        self.prepare = None  # called as prepare(builder) by the stand-in download_and_prepare
        self.prepared = []  # (name, data_dir_root, file_format, builder's format, try_gcs)

    def online(self, prepare=None):
        self.tensorflow, self.internet, self.prepare = True, True, prepare
        return self


@pytest.fixture
def machine(monkeypatch):
    """An offline machine without TensorFlow unless the test says otherwise; TFDS's
    download_and_prepare never runs (a stand-in records the call and runs `machine.prepare`)."""
    state = Machine()
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    monkeypatch.setattr(tfds_source, "_tensorflow_importable", lambda: state.tensorflow)

    def probe():
        state.probes += 1
        return state.internet

    def download_and_prepare(builder, *, file_format=None, download_config=None, **kwargs):
        state.prepared.append(
            (
                builder.name,
                str(builder.data_dir_root),
                file_format,
                builder.info.file_format.value,
                download_config.try_download_gcs,
            )
        )
        if state.prepare is not None:
            state.prepare(builder)

    monkeypatch.setattr(tfds_source, "_internet_available", probe)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", download_and_prepare)
    return state


@pytest.mark.parametrize(
    "offline_env, tensorflow, internet, reason, probes",
    [
        ("1", True, True, f"{OFFLINE_ENV} is set", 0),
        (None, False, True, "TensorFlow is not installed", 0),  # no probe without TensorFlow
        (None, True, False, "no internet", 1),
    ],
)
def test_not_prepared_dataset_is_one_clear_line_and_writes_nothing(
    tmp_path, machine, monkeypatch, offline_env, tensorflow, internet, reason, probes
):
    if offline_env is not None:
        monkeypatch.setenv(OFFLINE_ENV, offline_env)
    machine.tensorflow, machine.internet = tensorflow, internet
    before = _tree(tmp_path)
    with pytest.raises(UserInputError) as excinfo:
        get_source("cifar10", "train", data_dir=str(tmp_path))
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in (
        "'cifar10'",
        str(tmp_path),
        f"was not downloaded here ({reason})",
        "tfds build cifar10 --file_format=array_record --data_dir=DIR",
        "pip install tensorflow",
        "TFDS_DATA_DIR",
    ):
        assert fragment in message, (fragment, message)
    assert _tree(tmp_path) == before
    assert machine.prepared == [] and machine.probes == probes
    missing = tmp_path / "not_there"
    with pytest.raises(UserInputError, match="'celeb_a' is not prepared"):
        get_source("celeb_a", "test", data_dir=str(missing))
    assert not missing.exists()


def test_offline_env_zero_or_empty_does_not_block_the_download(monkeypatch):
    monkeypatch.setattr(tfds_source, "_tensorflow_importable", lambda: True)
    monkeypatch.setattr(tfds_source, "_internet_available", lambda: True)
    for value in ("0", ""):
        monkeypatch.setenv(OFFLINE_ENV, value)
        assert tfds_source._why_not_download() is None
    monkeypatch.setenv(OFFLINE_ENV, "yes")
    assert tfds_source._why_not_download() == f"{OFFLINE_ENV} is set"


def test_internet_probe_connects_to_tfds_bucket_with_a_timeout(monkeypatch):
    connections = []

    class Connection:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def connect(address, timeout):
        connections.append((address, timeout))
        return Connection()

    def refuse(address, timeout):
        connections.append((address, timeout))
        raise socket.gaierror(-2, "Name or service not known")

    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(socket, "create_connection", connect)
    assert tfds_source._internet_available()
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert not tfds_source._internet_available()
    assert connections == [(("storage.googleapis.com", 443), 5.0)] * 2
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")  # the download decides
    assert tfds_source._internet_available()
    assert len(connections) == 2


def _write_mnist(data_dir, images, labels, file_format):
    """Writes a real (tiny) prepared 'mnist' whose every split holds `images`, with TFDS's own
    metadata and example serializer; no TensorFlow needed (images given as PIL, PNG by PIL)."""
    builder = tfds.builder("mnist", data_dir=data_dir, file_format=file_format)
    os.makedirs(builder.data_dir)
    splits = []
    for split in ("train", "test"):
        template = tfds.core.ShardedFileTemplate(
            data_dir=builder.data_dir,
            dataset_name="mnist",
            split=split,
            filetype_suffix=file_format,
        )
        if file_format == "array_record":
            path = os.fspath(template.sharded_filepath(shard_index=0, num_shards=1))
            writer = array_record_module.ArrayRecordWriter(path, "group_size:1")
            for image, label in zip(images, labels, strict=True):
                example = {"image": Image.fromarray(image[..., 0]), "label": int(label)}
                writer.write(builder.info.features.serialize_example(example))
            writer.close()
        splits.append(
            tfds.core.SplitInfo(
                name=split, shard_lengths=[len(images)], num_bytes=0, filename_template=template
            )
        )
    builder.info.set_splits(tfds.core.SplitDict(splits))
    builder.info.write_to_directory(builder.data_dir)


def test_real_array_record_files_are_read_without_tensorflow(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (9, 28, 28, 1), dtype=np.uint8)
    labels = rng.integers(0, 10, 9)
    _write_mnist(str(tmp_path), images, labels, "array_record")
    source = get_source("mnist", "test", data_dir=str(tmp_path))
    assert source._batched_reads  # the real reader, not the mock
    assert source.info == DatasetInfo("mnist", "image", (28, 28, 1), 10, 9)
    order = np.array([4, 0, 8, 4])
    batch = source.get(order)
    np.testing.assert_allclose(batch["x"], images[order].astype(np.float32) / 255.0, rtol=1e-7)
    np.testing.assert_array_equal(batch["label"], labels[order])
    with BatchIterator(source, seed=1, global_batch_size=4) as batches:
        first = next(batches)
    idx = batch_indices(seed=1, step=0, global_batch_size=4, num_examples=9)
    np.testing.assert_array_equal(first["label"], labels[idx])


def test_dataset_prepared_as_tfrecord_asks_for_array_record(tmp_path, machine):
    machine.online()  # prepared already: nothing is downloaded, even with internet
    images = np.zeros((2, 28, 28, 1), np.uint8)
    _write_mnist(str(tmp_path), images, [0, 1], "tfrecord")
    before = _tree(tmp_path)
    with pytest.raises(UserInputError) as excinfo:
        get_source("mnist", "train", data_dir=str(tmp_path))
    message = str(excinfo.value)
    assert "\n" not in message and "--file_format=array_record" in message and "'mnist'" in message
    assert _tree(tmp_path) == before
    assert machine.prepared == []


def _tiny_mnist(count=9, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 28, 28, 1), dtype=np.uint8), rng.integers(0, 10, count)


def test_with_tensorflow_and_internet_a_missing_dataset_is_prepared_as_array_record(
    tmp_path, machine, capsys
):
    images, labels = _tiny_mnist()
    machine.online(
        prepare=lambda builder: _write_mnist(
            str(builder.data_dir_root), images, labels, "array_record"
        )
    )
    source = get_source("mnist", "test", data_dir=str(tmp_path))
    assert machine.prepared == [("mnist", str(tmp_path), "array_record", "array_record", False)]
    assert machine.probes == 1
    assert source._batched_reads and source.info.num_examples == 9  # the real reader
    order = np.array([3, 8, 0])
    batch = source.get(order)
    np.testing.assert_allclose(batch["x"], images[order].astype(np.float32) / 255.0, rtol=1e-7)
    np.testing.assert_array_equal(batch["label"], labels[order])
    assert "'mnist' is not prepared" in capsys.readouterr().err  # says it is downloading
    get_source("mnist", "train", data_dir=str(tmp_path))  # prepared now: no second download
    assert len(machine.prepared) == 1


def test_a_failed_download_is_one_line_with_its_cause(tmp_path, machine):
    def drop_the_network(builder):
        raise requests.exceptions.ConnectionError(
            "HTTPSConnectionPool(host='storage.googleapis.com', port=443): Max retries\n"
            "exceeded with url: /cvdf-datasets/mnist/train-images-idx3-ubyte.gz"
        )

    machine.online(prepare=drop_the_network)
    with pytest.raises(UserInputError) as excinfo:
        get_source("mnist", "train", data_dir=str(tmp_path))
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in (
        "'mnist' is not prepared",
        "(the download failed: ConnectionError: HTTPSConnectionPool(host='storage.googleapis.com'",
        "tfds build mnist --file_format=array_record --data_dir=DIR",
    ):
        assert fragment in message, (fragment, message)
    assert "exceeded with url" not in message  # the cause's first line only


def test_a_download_that_loses_the_race_reads_the_winners_copy(tmp_path, machine):
    """Two processes of one job both download; the other one's rename lands first."""
    images, labels = _tiny_mnist(count=5, seed=1)

    def lose_the_race(builder):
        _write_mnist(str(builder.data_dir_root), images, labels, "array_record")
        raise OSError(39, "Directory not empty")

    machine.online(prepare=lose_the_race)
    source = get_source("mnist", "train", data_dir=str(tmp_path))
    np.testing.assert_array_equal(source.get(np.arange(5))["label"], labels)
