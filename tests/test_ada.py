"""ADA (Ganin et al. 2016, arXiv 1505.07818; Hu et al. 2017, arXiv 1706.00550, eq. 1): its
schedules against their formulas, each phase's loss against a numpy computation from the
networks' outputs, the target labels never read, the source resize, bad source domains."""

import dataclasses
import math

import jax
import numpy as np
import pytest

from unigen_jax import data, models
from unigen_jax.errors import UserInputError
from unigen_jax.models import ada
from unigen_jax.models.networks import Networks
from unigen_jax.train import create_train_state
from unigen_jax.train.loop import RunConfig, train
from unigen_jax.train.step import make_per_device_step

TINY = {"latent_dim": 3, "hidden_sizes": (16,), "architecture": "mlp"}
BATCH = 8


def _model(**options):
    source = data.get_source("digits")
    config = models.make_config("ada", **{**TINY, **options})
    return models.build_model("ada", config, source.info, axis_name=None), source


def _batch(model, source, seed=0):
    streams = {name: (s.select(source, seed), BATCH) for name, s in model.streams.items()}
    with data.StepBatches(
        source, seed=seed, global_batch_size=BATCH, prefetch=0, streams=streams
    ) as batches:
        return next(batches)


def _example(model, source):
    example = source.get(np.arange(2))
    example.update({n: s.select(source, 0).get(np.arange(2)) for n, s in model.streams.items()})
    return example


def test_adaptation_schedule_and_learning_rate_follow_ganin_et_al():
    steps = np.array([0, 1, 100, 250, 500, 999, 1000, 5000])
    p = np.minimum(steps / 1000.0, 1.0)
    expected = [2.0 / (1.0 + math.exp(-10.0 * q)) - 1.0 for q in p]
    got = ada.adaptation_schedule(steps, schedule_steps=1000, gamma=10.0)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert got[0] == 0.0 and abs(got[-1] - math.tanh(5.0)) < 1e-6
    rate = ada.annealed_learning_rate(0.01, 1000)
    np.testing.assert_allclose(
        [rate(s) for s in steps], [0.01 / (1.0 + 10.0 * q) ** 0.75 for q in p], rtol=1e-6
    )


def _bce(logits, label):
    """Binary cross-entropy of sigmoid(logits) against a constant label, float64."""
    prob = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
    return -(label * np.log(prob) + (1 - label) * np.log(1 - prob))


def test_domain_losses_on_fixed_logits():
    source = np.array([-3.0, 0.5, 2.0, 7.0], np.float32)
    target = np.array([1.0, -2.0, 0.0, -6.0], np.float32)
    # p(y) uniform: the mean over the 2B examples; source labelled 1, target 0.
    expected = 0.5 * (_bce(source, 1).mean() + _bce(target, 0).mean())
    np.testing.assert_allclose(ada.domain_loss(source, target), expected, rtol=1e-6)
    reversed_expected = 0.5 * (_bce(source, 0).mean() + _bce(target, 1).mean())
    np.testing.assert_allclose(
        ada.reversed_domain_loss(source, target), reversed_expected, rtol=1e-6
    )


def test_each_phase_loss_matches_numpy_on_the_networks_outputs():
    model, source = _model(schedule_steps=40, adaptation_weight=0.7)
    batch = _batch(model, source)
    state = create_train_state(model, _example(model, source), seed=0)
    step = 13

    def apply(name, x):
        return model.networks[name].apply({"params": state.params[name]}, x, train=False)

    def logits_of(x):
        return np.asarray(apply("domain", apply("extractor", x))[0], np.float64)

    source_logits, target_logits = logits_of(batch["source"]["x"]), logits_of(batch["x"])
    class_logits = np.asarray(
        apply("classifier", apply("extractor", batch["source"]["x"])), np.float64
    )
    log_softmax = class_logits - np.log(np.exp(class_logits).sum(-1, keepdims=True))
    cross_entropy = -log_softmax[np.arange(BATCH), batch["source"]["label"]].mean()
    weight = 0.7 * (2.0 / (1.0 + math.exp(-10.0 * step / 40)) - 1.0)
    expected = {
        "domain": 0.5 * (_bce(source_logits, 1).mean() + _bce(target_logits, 0).mean()),
        "features": cross_entropy
        + weight * 0.5 * (_bce(source_logits, 0).mean() + _bce(target_logits, 1).mean()),
    }
    for phase in model.phases:
        nets = Networks(
            model.networks,
            state.params,
            state.batch_stats,
            train=True,
            key=jax.random.PRNGKey(0),
            batch_size=BATCH,
            step=step,
        )
        loss, metrics = phase.loss_fn(nets, batch)
        np.testing.assert_allclose(loss, expected[phase.name], rtol=1e-5, err_msg=phase.name)
    np.testing.assert_allclose(metrics["adaptation_weight"], weight, rtol=1e-5)
    np.testing.assert_allclose(metrics["classification_loss"], cross_entropy, rtol=1e-5)


def test_training_never_reads_the_target_labels():
    """Permuting the target's labels leaves two steps bit-identical; permuting the source's
    (which the classifier learns from) does not."""
    model, source = _model()
    batch = _batch(model, source)
    state0 = create_train_state(model, _example(model, source), seed=0)
    step = jax.jit(make_per_device_step(model, axis_name=None))

    def two_steps(batch):
        state, _ = step(state0, batch)
        return jax.device_get(step(state, batch)[0].params)

    permutation = np.roll(np.arange(BATCH), 3)
    reference = two_steps(batch)
    permuted_target = {**batch, "label": (batch["label"][permutation] + 1) % 10}
    permuted = two_steps(permuted_target)
    for a, b in zip(jax.tree.leaves(reference), jax.tree.leaves(permuted), strict=True):
        np.testing.assert_array_equal(a, b)
    labelled = batch["source"]
    permuted_source = {**batch, "source": {**labelled, "label": (labelled["label"] + 1) % 10}}
    changed = two_steps(permuted_source)
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(
            jax.tree.leaves(reference["classifier"]),
            jax.tree.leaves(changed["classifier"]),
            strict=True,
        )
    )


def test_resize_matches_jax_image_resize_and_a_hand_computation():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2, 7, 6, 1)).astype(np.float32)
    base = data.ArraySource(
        data.DatasetInfo("toy", "image", (7, 6, 1), 10, 2), images, np.array([3, 4])
    )
    for shape in ((3, 4, 1), (11, 9, 1)):  # shrinking (antialiased) and enlarging
        resized = data.ResizedSource(base, shape).get(np.arange(2))
        reference = jax.image.resize(images, (2, *shape), method="linear", antialias=True)
        np.testing.assert_allclose(resized["x"], reference, atol=2e-5)
        np.testing.assert_array_equal(resized["label"], [3, 4])
    # 2x2 -> 4x4 by hand: half-pixel centres sample at -1/4, 1/4, 3/4, 5/4, clamped at the
    # border: rows (a, 3a/4 + b/4, a/4 + 3b/4, b), the same along columns.
    small = np.array([[0.0, 1.0], [0.5, 0.25]], np.float32)
    weights = np.array([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    by_hand = weights @ small @ weights.T
    got = data.resize_images(small[None, :, :, None], (4, 4, 1))[0, :, :, 0]
    np.testing.assert_allclose(got, by_hand, atol=1e-6)
    # Channels: 3 -> 1 by the mean, 1 -> 3 by repetition.
    colour = rng.uniform(size=(1, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(
        data.resize_images(colour, (4, 4, 1)), colour.mean(-1, keepdims=True), atol=1e-7
    )
    np.testing.assert_array_equal(
        data.resize_images(colour[..., :1], (4, 4, 3)), np.repeat(colour[..., :1], 3, -1)
    )


def test_the_default_source_is_the_other_digits_resized_to_the_target():
    info = dataclasses.replace(data.get_source("digits").info, shape=(8, 8, 1))
    source = ada.resolve_source(ada.ADAConfig(), info)
    assert source.info.name == "mnist5k" and source.info.shape == (8, 8, 1)
    x = source.get(np.arange(5))["x"]
    assert x.shape == (5, 8, 8, 1) and 0.0 <= x.min() and x.max() <= 1.0
    target = ada.resolve_source(ada.ADAConfig(), data.get_source("mnist5k").info)
    assert target.info.name == "digits"


@pytest.mark.parametrize(
    "target, source_dataset, message",
    [
        ("mnist5k", "nope", "unknown --config.source_dataset"),
        ("mnist5k", "mnist5k", "is the target dataset itself"),
        ("mnist5k", "ring8", "must be a labelled image dataset"),
        ("ring8", "auto", "no default source domain"),
        ("ring8", "mnist5k", "needs image data"),
    ],
)
def test_bad_source_domains_are_one_line_errors_before_the_workdir(
    tmp_path, target, source_dataset, message
):
    run = RunConfig(model="ada", dataset=target, workdir=str(tmp_path / "run"), steps=1)
    config = models.make_config("ada", source_dataset=source_dataset)
    with pytest.raises(UserInputError, match=message) as error:
        train(run, config, log=lambda _: None)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


def test_the_paper_pair_reads_svhn_as_grey_28x28_digits_for_mnist():
    """Ganin et al.'s SVHN -> MNIST, on TFDS's mock data: the source is svhn_cropped's training
    split, 32x32x3 brought to MNIST's 28x28x1 by the channel mean and a bilinear resize."""
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=4):
        target = data.get_source("mnist", "train")
        source = ada.resolve_source(ada.ADAConfig(), target.info)
        batch = source.get(np.arange(4))
        raw = data.get_source("svhn_cropped", "train").get(np.arange(4))
    assert source.info.name == "svhn_cropped" and source.info.shape == (28, 28, 1)
    expected = jax.image.resize(
        raw["x"].mean(-1, keepdims=True), (4, 28, 28, 1), method="linear", antialias=True
    )
    np.testing.assert_allclose(batch["x"], expected, atol=2e-5)
    np.testing.assert_array_equal(batch["label"], raw["label"])
