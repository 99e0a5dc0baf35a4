"""Dynamically binarised data (`DatasetInfo.dynamic_binarization`): training batches are drawn
afresh from the grey levels at every step, reproducibly for a resumed run, while evaluation
and validation read the fixed draw of the `binarized_*` dataset of the same digits."""

import numpy as np
import pytest

from unigen_jax import data

GREY = np.array([0.0, 0.1, 0.5, 0.9, 1.0], np.float32)


def _toy(num_examples=4):
    """Examples whose 5 pixels have the grey levels GREY; the fixed draw is all zeros."""
    info = data.DatasetInfo("toy", "image", (1, 5, 1), 2, num_examples)
    grey = np.broadcast_to(GREY.reshape(1, 1, 5, 1), (num_examples, 1, 5, 1))
    labels = np.arange(num_examples) % 2
    return data.DynamicallyBinarizedSource(info, np.zeros_like(grey), grey, labels)


def _batches(source, steps, start_step=0, **kwargs):
    with data.BatchIterator(
        source, seed=3, global_batch_size=4, start_step=start_step, prefetch=0, **kwargs
    ) as batches:
        return [next(batches) for _ in range(steps)]


def test_each_pixel_is_a_fresh_bernoulli_draw_of_its_grey_level_and_resumes_exactly():
    source = _toy()
    assert source.info.dynamic_binarization
    batches = _batches(source, 500)
    x = np.stack([b["x"] for b in batches])  # [500, 4, 1, 5, 1]
    assert set(np.unique(x)) == {0.0, 1.0}
    # Monte Carlo: the frequency of ones in each pixel is its grey level, within 4 standard
    # errors of 2,000 Bernoulli draws (0 and 1 exactly).
    frequency = x.mean(axis=(0, 1)).reshape(5)
    standard_error = np.sqrt(GREY * (1 - GREY) / x[..., 0, :, 0].reshape(-1, 5).shape[0])
    assert np.all(np.abs(frequency - GREY) <= 4 * standard_error + 1e-7), frequency
    # Draws differ between steps (the same 4 examples every step), and between the pixels of
    # one step's examples: not one draw reused.
    assert not np.array_equal(x[0], x[1])
    assert np.abs(np.corrcoef(x[:, 0, 0, 2, 0], x[:, 1, 0, 2, 0])[0, 1]) < 0.15
    # A run resumed at step 200 reads the same draws; the prefetch thread gives them too.
    np.testing.assert_array_equal(_batches(source, 3, start_step=200)[2]["x"], x[202])
    with data.BatchIterator(source, seed=3, global_batch_size=4, start_step=7) as prefetched:
        np.testing.assert_array_equal(next(prefetched)["x"], x[7])
    # The labels are the examples' own; `get` (what evaluation reads) stays the fixed draw.
    assert (
        batches[0]["label"].tolist()
        == (data.batch_indices(seed=3, step=0, global_batch_size=4, num_examples=4) % 2).tolist()
    )
    assert not source.get(np.arange(4))["x"].any()
    # Another process of a 2-process run draws its own half of the batch.
    halves = [_batches(source, 1, process_index=p, process_count=2)[0]["x"] for p in (0, 1)]
    assert halves[0].shape == (2, 1, 5, 1) and not np.array_equal(halves[0], halves[1])


def test_subsets_and_resized_sources_redraw_from_their_own_examples_grey_levels():
    info = data.DatasetInfo("toy", "image", (1, 5, 1), 2, 20)
    grey = np.zeros((20, 1, 5, 1), np.float32)
    grey[10:] = 1.0  # examples 10..19 are all ones, 0..9 all zeros
    source = data.DynamicallyBinarizedSource(info, np.zeros_like(grey), grey, np.arange(20) % 2)
    train, validation = data.holdout(source, 0.5)
    assert train.info.dynamic_binarization and validation.info.dynamic_binarization
    ones = validation.indices >= 10
    np.testing.assert_array_equal(validation.grey_levels(np.arange(10))[:, 0, 0, 0], ones)
    assert not validation.get(np.arange(10))["x"].any()  # validation scores read the fixed draw
    batch = _batches(train, 1)[0]
    indices = train.indices[
        data.batch_indices(seed=3, step=0, global_batch_size=4, num_examples=10)
    ]
    np.testing.assert_array_equal(batch["x"][:, 0, 0, 0], indices >= 10)
    resized = data.ResizedSource(source, (2, 10, 1))
    assert resized.info.binary  # its training batches are still binary draws
    assert resized.grey_levels(np.array([0, 15])).shape == (2, 2, 10, 1)
    np.testing.assert_array_equal(
        resized.grey_levels(np.array([0, 15])).max(axis=(1, 2, 3)), [0, 1]
    )


@pytest.mark.parametrize(
    "name, fixed",
    [
        ("dynamic_binarized_mnist5k", "binarized_mnist5k"),
        ("dynamic_binarized_mnist70k", "binarized_mnist70k"),
    ],
)
def test_the_dynamic_datasets_evaluate_on_the_fixed_draw_and_train_on_the_grey_levels(name, fixed):
    for split in ("train", "test"):
        dynamic, binary = data.get_source(name, split), data.get_source(fixed, split)
        assert dynamic.info.name == name and dynamic.info.dynamic_binarization
        assert dynamic.info.binary and binary.info.binary  # a VAE's adversary draws (vae.py)
        assert len(dynamic) == len(binary)
        some = np.arange(0, len(dynamic), 97)
        np.testing.assert_array_equal(dynamic.get(some)["x"], binary.get(some)["x"])
        np.testing.assert_array_equal(dynamic.get(some)["label"], binary.get(some)["label"])
        grey = dynamic.grey_levels(some)
        assert 0 < grey.mean() < 0.5 and len(np.unique(grey)) > 2  # grey levels, not a draw
        # The fixed draw is one draw of these grey levels: no 1 where the grey level is 0.
        assert not binary.get(some)["x"][grey == 0].any()
