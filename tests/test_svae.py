"""SVAE (Kingma et al. 2014, M2) and AA-SVAE (Hu et al. 2017, Section 5.2): the unlabelled bound
against its closed form, both phase losses against a float64 numpy recomputation that loops
over labels, and the labelled / unlabelled split of the data."""

import jax
import numpy as np
import pytest
from scipy import special

from unigen_jax import data, losses, models
from unigen_jax.data import DatasetInfo
from unigen_jax.errors import UserInputError
from unigen_jax.train import Networks, create_train_state
from unigen_jax.train.loop import select_streams

K = 3
IMAGES = DatasetInfo(name="toy", kind="image", shape=(4, 4, 1), num_classes=K, num_examples=8)
TINY = {"latent_dim": 2, "hidden_sizes": (5,), "architecture": "mlp"}
KEY = jax.random.PRNGKey(11)


def test_unlabelled_bound_is_log_evidence_minus_the_classifier_kl():
    """sum_y q(y|x) (B(x, y) - log q(y|x)) with B = log p(x, y) is log p(x) - KL(q || p(y|x)):
    equal to logsumexp_y B at q = p(y|x), below it otherwise."""
    rng = np.random.default_rng(0)
    log_joint = rng.normal(size=(6, 4)) * 3
    logits = rng.normal(size=(6, 4))
    q = special.softmax(logits, axis=1)
    posterior = special.softmax(log_joint, axis=1)
    log_evidence = special.logsumexp(log_joint, axis=1)
    kl = np.sum(q * (np.log(q) - np.log(posterior)), axis=1)
    np.testing.assert_allclose(
        losses.unlabelled_bound(logits.astype(np.float32), log_joint.astype(np.float32)),
        log_evidence - kl,
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        losses.unlabelled_bound(log_joint, log_joint), log_evidence, rtol=1e-6
    )
    weights = np.arange(6.0)
    np.testing.assert_allclose(
        losses.unlabelled_bound(logits, log_joint, weights=weights),
        weights * (log_evidence - kl),
        rtol=1e-6,
    )


def _numpy_bound(apply, x, label, eps):
    """B(x, y) = log Bern(x; sigmoid(G(z, y))) - KL(N(m, s^2) || N(0, I)) - log K, float64,
    at z = m + s eps, with the encoder and decoder applied by hand."""
    one_hot = np.eye(K)[label]
    encoder_input = np.concatenate([x.reshape(len(x), -1), one_hot], -1).astype(np.float32)
    mean, log_variance = (np.asarray(a, np.float64) for a in apply("encoder", encoder_input))
    z = mean + np.exp(0.5 * log_variance) * eps
    logits = np.asarray(
        apply("generator", np.concatenate([z, one_hot], -1).astype(np.float32)), np.float64
    )
    log_px = np.sum(x * -np.logaddexp(0, -logits) + (1 - x) * -np.logaddexp(0, logits), (1, 2, 3))
    kl = 0.5 * np.sum(np.exp(log_variance) + mean**2 - 1 - log_variance, axis=1)
    return log_px - kl - np.log(K)


def _setup(name, batch, **hyperparameters):
    config = models.make_config(name, **TINY, **hyperparameters)
    model = models.build_model(name, config, IMAGES, axis_name=None)
    state = create_train_state(model, batch, seed=2)

    def nets():
        return Networks(
            model.networks,
            state.params,
            state.batch_stats,
            train=True,
            key=KEY,
            batch_size=len(batch["x"]),
        )

    def apply(net, *args):
        return model.networks[net].apply({"params": state.params[net]}, *args, train=True)

    return model, nets, apply


def _batch(seed, n=5):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.uniform(size=(n, 4, 4, 1)).astype(np.float32),
        "label": rng.integers(0, K, size=n).astype(np.int32),
    }


def _numpy_objective_terms(nets, apply, batch, labelled, shared_label_noise=False):
    """Per example: the labelled bound and cross-entropy, and -U(x) by a loop over labels
    (with `shared_label_noise`, one eps per unlabelled example for every label)."""
    draws = nets()  # the phase's noise, drawn by its tags
    eps_labelled = np.asarray(draws.normal("labelled_eps", (2,)), np.float64)
    eps_unlabelled = np.asarray(draws.normal("unlabelled_eps", (K, 2)), np.float64)
    if shared_label_noise:
        eps_shared = np.asarray(nets().normal("unlabelled_eps", (2,)), np.float64)
        eps_unlabelled = np.repeat(eps_shared[:, None], K, axis=1)
    bound = _numpy_bound(apply, labelled["x"], labelled["label"], eps_labelled)
    log_q = special.log_softmax(np.asarray(apply("classifier", labelled["x"]), np.float64), 1)
    cross_entropy = -log_q[np.arange(len(bound)), labelled["label"]]
    x = batch["x"]
    log_q_u = special.log_softmax(np.asarray(apply("classifier", x), np.float64), 1)
    unlabelled = np.zeros(len(x))
    for y in range(K):
        b = _numpy_bound(apply, x, np.full(len(x), y), eps_unlabelled[:, y])
        unlabelled += np.exp(log_q_u[:, y]) * (b - log_q_u[:, y])
    return bound, cross_entropy, unlabelled


def test_svae_loss_is_kingmas_objective_per_example_of_the_data():
    """Kingma et al. eq. 9 divided by N: f m_l[-B] + alpha' m_l[CE] + (1 - f) m_u[-U(x)]."""
    batch = {**_batch(0), "labelled": _batch(1)}
    model, nets, apply = _setup("svae", batch, labelled_fraction=0.2, classification_weight=0.3)
    assert [p.trains for p in model.phases] == [("classifier", "encoder", "generator")]
    bound, cross_entropy, unlabelled = _numpy_objective_terms(nets, apply, batch, batch["labelled"])
    expected = 0.2 * np.mean(-bound) + 0.3 * np.mean(cross_entropy) + 0.8 * np.mean(-unlabelled)
    loss, metrics = model.phases[0].loss_fn(nets(), batch)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(metrics["unlabelled_bound"], np.mean(unlabelled), rtol=1e-5)


def test_binarize_trains_on_binary_draws_of_the_grey_levels():
    """Dynamic binarisation (Kingma et al.'s released code): the objective is the plain one on
    x' = 1[u < x], u uniform per pixel, drawn afresh for the labelled and unlabelled batches;
    a pixel is 1 with probability its grey level."""
    batch = {**_batch(9), "labelled": _batch(10)}
    model, nets, apply = _setup(
        "svae", batch, labelled_fraction=0.2, classification_weight=0.3, binarize=True
    )
    draws = nets()
    binary = {
        **batch,
        "x": (np.asarray(draws.uniform("binarize", (4, 4, 1))) < batch["x"]).astype(np.float32),
        "labelled": {
            **batch["labelled"],
            "x": (
                np.asarray(draws.uniform("binarize_labelled", (4, 4, 1))) < batch["labelled"]["x"]
            ).astype(np.float32),
        },
    }
    assert 0 < binary["x"].mean() < 1 and not np.array_equal(binary["x"], batch["x"])
    bound, cross_entropy, unlabelled = _numpy_objective_terms(
        nets, apply, binary, binary["labelled"]
    )
    expected = 0.2 * np.mean(-bound) + 0.3 * np.mean(cross_entropy) + 0.8 * np.mean(-unlabelled)
    np.testing.assert_allclose(model.phases[0].loss_fn(nets(), batch)[0], expected, rtol=1e-5)
    grey = np.full((4000, 4, 4, 1), 0.3, np.float32)  # 64,000 pixels: mean 0.3 +- 0.0018
    many = Networks(model.networks, {}, {}, train=True, key=KEY, batch_size=4000)
    assert abs(np.mean(np.asarray(many.uniform("binarize", (4, 4, 1))) < grey) - 0.3) < 0.008


def test_shared_label_noise_draws_one_eps_per_unlabelled_example():
    """The K labelled bounds of an unlabelled x at one eps (common random numbers)."""
    batch = {**_batch(11), "labelled": _batch(12)}
    model, nets, apply = _setup(
        "svae", batch, labelled_fraction=0.2, classification_weight=0.3, shared_label_noise=True
    )
    bound, cross_entropy, unlabelled = _numpy_objective_terms(
        nets, apply, batch, batch["labelled"], shared_label_noise=True
    )
    expected = 0.2 * np.mean(-bound) + 0.3 * np.mean(cross_entropy) + 0.8 * np.mean(-unlabelled)
    np.testing.assert_allclose(model.phases[0].loss_fn(nets(), batch)[0], expected, rtol=1e-5)


def test_mlp_layer_options_are_checked():
    with pytest.raises(UserInputError, match="activation"):
        models.make_config("svae", activation="tanh")
    with pytest.raises(UserInputError, match="architecture=mlp"):
        models.build_model(
            "svae", models.make_config("svae", activation="softplus"), IMAGES, axis_name=None
        )


@pytest.mark.parametrize(
    "classify_generations, example_weights",
    [(True, "discriminator"), (False, "discriminator"), (True, "equal")],
)
def test_aasvae_weights_every_example_and_adds_labelled_generations(
    classify_generations, example_weights
):
    """Hu et al. Section 5.2: w(x) = sigmoid(D(x) / tau) on every real term; generated (x', y')
    join as labelled examples with weights w(x'); real and generated halves averaged. Without
    `classify_generations` the generated pairs' cross-entropy is left out. The control
    `example_weights=equal` weighs every term 1/2 and trains no D."""
    equal = example_weights == "equal"
    batch = {**_batch(3), "labelled": _batch(4)}
    model, nets, apply = _setup(
        "aasvae",
        batch,
        labelled_fraction=0.2,
        classification_weight=0.3,
        temperature=1.0 if equal else 2.0,
        classify_generations=classify_generations,
        example_weights=example_weights,
    )
    trains = [("classifier", "encoder", "generator")]
    assert [p.trains for p in model.phases] == ([] if equal else [("discriminator",)]) + trains
    bound, cross_entropy, unlabelled = _numpy_objective_terms(nets, apply, batch, batch["labelled"])
    draws = nets()
    fake_label = np.asarray(draws.categorical("fake_label", K))
    fake_z = np.asarray(draws.normal("fake_z", (2,)), np.float64)
    fake_eps = np.asarray(draws.normal("fake_eps", (2,)), np.float64)
    latent = np.concatenate([fake_z, np.eye(K)[fake_label]], 1).astype(np.float32)
    fake_x = special.expit(np.asarray(apply("generator", latent), np.float64)).astype(np.float32)

    def weight(x):
        if equal:
            return np.full(len(x), 0.5)
        return special.expit(np.asarray(apply("discriminator", x)[0], np.float64) / 2.0)

    fake_bound = _numpy_bound(apply, fake_x, fake_label, fake_eps)
    log_q = special.log_softmax(np.asarray(apply("classifier", fake_x), np.float64), 1)
    fake_ce = -log_q[np.arange(len(fake_label)), fake_label]
    real = np.mean(weight(batch["labelled"]["x"]) * (-0.2 * bound + 0.3 * cross_entropy)) + np.mean(
        weight(batch["x"]) * -0.8 * unlabelled
    )
    fake = np.mean(weight(fake_x) * (-fake_bound + 0.3 * classify_generations * fake_ce))
    loss, _ = model.phases[-1].loss_fn(nets(), batch)
    np.testing.assert_allclose(loss, 0.5 * (real + fake), rtol=1e-4)
    if equal:
        assert "discriminator" not in model.networks
        return
    d_loss, _ = model.phases[0].loss_fn(nets(), batch)
    real_logits = np.asarray(apply("discriminator", batch["x"])[0], np.float64)
    fake_logits = np.asarray(apply("discriminator", fake_x)[0], np.float64)
    expected = np.mean(np.logaddexp(0, -real_logits)) + np.mean(np.logaddexp(0, fake_logits))
    np.testing.assert_allclose(d_loss, expected, rtol=1e-4)


def test_all_labelled_has_no_unlabelled_term_and_reads_the_runs_batch():
    batch = _batch(5)
    model, nets, apply = _setup("svae", batch, labelled_fraction=1.0, classification_weight=0.3)
    assert model.streams == {}
    bound, cross_entropy, _ = _numpy_objective_terms(nets, apply, batch, batch)
    loss, metrics = model.phases[0].loss_fn(nets(), batch)
    np.testing.assert_allclose(loss, np.mean(-bound) + 0.3 * np.mean(cross_entropy), rtol=1e-5)
    assert "unlabelled_bound" not in metrics


def test_labelled_share_is_balanced_seeded_and_leaves_the_rest_unlabelled():
    source = data.get_source("digits")
    config = models.make_config("svae", **TINY, labelled_fraction=0.05)
    model = models.build_model("svae", config, source.info)
    splits = {}
    for seed in (0, 0, 1):
        rest, streams = select_streams(model, source, seed=seed, batch_size=8)
        labelled = streams["labelled"][0]
        splits.setdefault(seed, []).append(labelled.indices)
        assert not set(labelled.indices) & set(rest.indices)
        assert len(labelled) + len(rest) == len(source)
        counts = np.bincount(source.get(labelled.indices)["label"], minlength=10)
        assert counts.min() >= counts.max() - 1 and counts.sum() == len(labelled)
    np.testing.assert_array_equal(*splits[0])  # deterministic in the seed
    assert not np.array_equal(splits[0][0], splits[1][0])  # and different across seeds


def test_bad_fraction_and_unlabelled_data_are_one_line_errors():
    with pytest.raises(UserInputError, match="labelled_fraction"):
        models.make_config("svae", labelled_fraction=0.0)
    with pytest.raises(UserInputError, match="--model=aasvae"):
        models.make_config("svae", classify_generations=False)
    with pytest.raises(UserInputError, match="labelled data"):
        unlabelled = DatasetInfo(
            name="toy", kind="image", shape=(4, 4, 1), num_classes=0, num_examples=8
        )
        models.build_model("svae", models.make_config("svae"), unlabelled)


def test_log_importance_weight_averages_to_the_unlabelled_bound():
    """E_{y ~ q(y|x), z ~ q(z|x,y)}[log p(x, y, z) - log q(y, z|x)] = -U(x) (Kingma et al. eq. 7):
    the model's one-sample weights, averaged over 4,000 draws, against the bound summed over y
    exactly by numpy, with z averaged over 4,000 draws per label. q(y|x) is made far from
    uniform, so that drawing y from anything else than q shows."""
    batch = _batch(6, n=2)
    model, _, _ = _setup("svae", batch, labelled_fraction=1.0)
    state = create_train_state(model, batch, seed=2)
    params = jax.tree.map(lambda p: p, state.params)
    params["classifier"]["classes"]["kernel"] = params["classifier"]["classes"]["kernel"] * 30
    draws = 4000

    def one_draw(key):
        nets = Networks(
            model.networks, params, state.batch_stats, train=False, key=key, batch_size=2
        )
        return model.log_importance_weight_fn(nets, batch)

    def apply(net, *args):
        return model.networks[net].apply({"params": params[net]}, *args, train=False)

    weights = np.asarray(jax.vmap(one_draw)(jax.random.split(KEY, draws)), np.float64)
    log_q = special.log_softmax(np.asarray(apply("classifier", batch["x"]), np.float64), 1)
    assert np.exp(log_q).max(1).min() - np.exp(log_q).min(1).max() > 0.3  # far from uniform
    eps = np.random.default_rng(0).normal(size=(draws, 2))
    expected, variance = np.zeros(2), np.zeros(2)
    for i in range(2):
        x = np.repeat(batch["x"][i : i + 1], draws, axis=0)
        for y in range(K):
            bound = _numpy_bound(apply, x, np.full(draws, y), eps)
            expected[i] += np.exp(log_q[i, y]) * (bound.mean() - log_q[i, y])
            variance[i] += np.exp(2 * log_q[i, y]) * bound.var() / draws
    standard_error = np.sqrt(weights.var(0) / draws + variance)
    np.testing.assert_array_less(np.abs(weights.mean(0) - expected), 4 * standard_error)


def test_supervised_only_baseline_trains_the_classifier_alone_on_the_labelled_stream():
    """The sanity baseline: the same q(y|x) network, its mean cross-entropy on the labelled
    digits (numpy from the logits), nothing generative, the unlabelled batch unread."""
    batch = {**_batch(7), "labelled": _batch(8)}
    model, nets, apply = _setup("svae", batch, labelled_fraction=0.2, supervised_only=True)
    assert set(model.networks) == {"classifier"} and model.sample_fn is None
    assert [p.trains for p in model.phases] == [("classifier",)]
    assert model.log_importance_weight_fn is None and model.classify_fn is not None
    log_q = special.log_softmax(np.asarray(apply("classifier", batch["labelled"]["x"])), 1)
    expected = -np.mean(log_q[np.arange(5), batch["labelled"]["label"]])
    loss, _ = model.phases[0].loss_fn(nets(), batch)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    scrambled = {**batch, "x": np.zeros_like(batch["x"])}  # the unlabelled digits
    np.testing.assert_allclose(model.phases[0].loss_fn(nets(), scrambled)[0], loss, rtol=1e-6)
    with pytest.raises(UserInputError, match="supervised_only"):
        models.make_config("aasvae", supervised_only=True)
