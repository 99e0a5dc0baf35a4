"""EM for a Gaussian mixture through the engine: the E step against scipy, the iterations
against scikit-learn's GaussianMixture from the same start, the log-likelihood never
decreasing, 1 and 2 devices agreeing, and ancestral samples against the mixture."""

import dataclasses
import warnings

import jax
import numpy as np
import pytest
from scipy import special, stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from unigen_jax import data, models
from unigen_jax.errors import UserInputError
from unigen_jax.models import em_gmm
from unigen_jax.nets.mixture import mixture_log_joint
from unigen_jax.train import create_train_state, make_mesh, make_train_step, replicate
from unigen_jax.train.step import make_per_device_step, shard_batch

NUM_POINTS = 1024  # a fixed subset of ring8: every step's batch is all of it (exact EM)


def _ring8():
    source = data.get_source("ring8")
    return source, source.get(np.arange(NUM_POINTS))


def _params(rng, k, d, covariance):
    """A random mixture: weights on the simplex, means, SPD (or positive diagonal) covariances."""
    weights = rng.dirichlet(np.ones(k))
    means = rng.normal(size=(k, d))
    if covariance == "full":
        a = rng.normal(size=(k, d, d))
        covariances = a @ np.swapaxes(a, 1, 2) + 0.5 * np.eye(d)
    else:
        covariances = rng.uniform(0.3, 2.0, size=(k, d))
    return {"weights": weights, "means": means, "covariances": covariances}


@pytest.mark.parametrize("covariance", ["full", "diagonal"])
def test_e_step_matches_scipy_densities(covariance):
    rng = np.random.default_rng(0)
    params = _params(rng, 4, 3, covariance)
    x = rng.normal(size=(50, 3)) * 2
    f32 = {k: np.asarray(v, np.float32) for k, v in params.items()}
    responsibilities, log_px = em_gmm.e_step(
        mixture_log_joint(x.astype(np.float32), f32, covariance)
    )
    cov = params["covariances"]
    log_joint = np.stack(
        [
            np.log(params["weights"][k])
            + stats.multivariate_normal(
                params["means"][k], cov[k] if covariance == "full" else np.diag(cov[k])
            ).logpdf(x)
            for k in range(4)
        ],
        axis=1,
    )
    expected_log_px = special.logsumexp(log_joint, axis=1)
    np.testing.assert_allclose(log_px, expected_log_px, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(
        responsibilities, np.exp(log_joint - expected_log_px[:, None]), rtol=1e-4, atol=1e-6
    )


def _run_steps(model, state, batch, steps, devices=1):
    mesh = make_mesh(devices)
    step = make_train_step(model, mesh, donate=False)
    state, sharded = replicate(state, mesh), shard_batch(batch, mesh)
    log_likelihoods = []
    for _ in range(steps):
        state, metrics = step(state, sharded)
        log_likelihoods.append(float(metrics["log_likelihood"]))
    return jax.device_get(state), np.array(log_likelihoods)


# Started with two components in one mode, EM amplifies float32 rounding against scikit-learn's
# float64 (weights 0.4% apart after 12 iterations): that start is checked for 1 iteration, and
# a start with a component near each mode (EM contracts there) for 12.
@pytest.mark.parametrize(
    "covariance, start, steps",
    [("full", "scattered", 1), ("full", "near_modes", 12), ("diagonal", "near_modes", 12)],
)
def test_em_steps_match_scikit_learn_from_the_same_start(covariance, start, steps):
    source, batch = _ring8()
    config = models.make_config("em_gmm", covariance=covariance, init="random")
    model = models.build_model("em_gmm", config, source.info)
    state = create_train_state(model, batch, seed=0)
    # The start: means scattered around the ring (or near each mode), covariance 0.5 I,
    # unequal weights.
    rng = np.random.default_rng(3)
    x = batch["x"].astype(np.float64)
    modes = data.mixtures.mixture_modes("ring8")[0]
    scattered = start == "scattered"
    start = {
        "weights": rng.dirichlet(5 * np.ones(8)),
        "means": 1.5 * rng.normal(size=(8, 2))
        if scattered
        else modes + 0.4 * rng.normal(size=(8, 2)),
        "covariances": np.broadcast_to(0.5 * np.eye(2), (8, 2, 2))
        if covariance == "full"
        else np.full((8, 2), 0.5),
    }
    params = dict(state.params, mixture={k: np.asarray(v, np.float32) for k, v in start.items()})
    state = state.replace(params=params)
    final, log_likelihoods = _run_steps(model, state, batch, steps)

    precisions = np.linalg.inv(start["covariances"]) if covariance == "full" else 2.0
    reference = GaussianMixture(
        8,
        covariance_type="full" if covariance == "full" else "diag",
        weights_init=start["weights"],
        means_init=start["means"],
        precisions_init=np.broadcast_to(precisions, start["covariances"].shape),
        max_iter=steps,
        tol=0.0,
        reg_covar=config.reg_covar,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: it runs all the steps
        reference.fit(x)
    mixture = final.params["mixture"]
    np.testing.assert_allclose(mixture["weights"], reference.weights_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mixture["means"], reference.means_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mixture["covariances"], reference.covariances_, rtol=2e-4, atol=1e-6)
    # The last step logs log q(x) at the params it started from: scikit-learn's last E step.
    np.testing.assert_allclose(log_likelihoods[-1], reference.lower_bound_, rtol=1e-5)


def test_log_likelihood_never_decreases_and_two_devices_agree():
    """Exact EM through the engine (the default init from data included): each iteration's
    data log-likelihood is at least the one before (Dempster, Laird, Rubin 1977)."""
    source, batch = _ring8()
    model = models.build_model("em_gmm", models.make_config("em_gmm"), source.info)
    state = create_train_state(model, batch, seed=1)
    _, log_likelihoods = _run_steps(model, state, batch, steps=25)
    increments = np.diff(log_likelihoods)
    assert np.all(increments >= -1e-5 * np.abs(log_likelihoods[1:])), increments
    assert log_likelihoods[-1] > log_likelihoods[0] + 0.5  # it did move
    one, _ = _run_steps(model, state, batch, steps=3)
    two, two_log_likelihoods = _run_steps(model, state, batch, steps=3, devices=2)
    np.testing.assert_allclose(two_log_likelihoods, log_likelihoods[:3], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(two.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_kmeans_plus_plus_seeds_one_mean_in_each_far_apart_cluster():
    """With 4 tight clusters far apart, k-means++ draws each next mean from an uncovered one
    (probability about 1 - 1e-6 each); 4 uniform draws would cover all 4 in 10% of seeds."""
    centres = np.array([[-10.0, -10.0], [-10.0, 10.0], [10.0, -10.0], [10.0, 10.0]])
    rng = np.random.default_rng(0)
    x = (np.repeat(centres, 64, axis=0) + 0.01 * rng.normal(size=(256, 2))).astype(np.float32)
    info = data.DatasetInfo("clusters", "vector", (2,), 0, 256)
    config = models.make_config("em_gmm", num_components=4)
    model = models.build_model("em_gmm", config, info, axis_name=None)
    initialise = dataclasses.replace(model, phases=model.phases[:1])
    assert initialise.phases[0].name == "initialise"
    step = jax.jit(make_per_device_step(initialise, axis_name=None))
    batch = {"x": x, "label": np.zeros(256, np.int32)}
    for seed in range(10):
        state, _ = step(create_train_state(model, batch, seed=seed), batch)
        means = np.asarray(state.params["mixture"]["means"])
        # Each mean is an example, and the 4 lie in 4 different clusters.
        assert np.min(np.abs(means[:, None] - x[None]).sum(-1), axis=1).max() == 0.0
        nearest = np.argmin(((means[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        assert sorted(nearest) == [0, 1, 2, 3], (seed, means)


def test_samples_follow_the_mixture():
    source, batch = _ring8()
    config = models.make_config("em_gmm", init="random", num_components=3)
    model = models.build_model("em_gmm", config, source.info)
    state = create_train_state(model, batch, seed=0)
    mixture = {
        "weights": np.array([0.2, 0.5, 0.3], np.float32),
        "means": np.array([[-10.0, 0.0], [0.0, 10.0], [10.0, 0.0]], np.float32),
        "covariances": np.array(
            [[[1.0, 0.5], [0.5, 1.0]], [[0.25, 0.0], [0.0, 4.0]], [[2.0, -1.0], [-1.0, 1.0]]],
            np.float32,
        ),
    }
    params = dict(state.params, mixture=jax.tree.map(jax.numpy.asarray, mixture))
    n = 30_000
    nets = model.inference_networks(
        params, state.batch_stats, key=jax.random.PRNGKey(5), batch_size=n
    )
    samples = np.asarray(jax.jit(lambda: model.sample_fn(nets, {}))())
    component = np.argmin(((samples[:, None] - mixture["means"][None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(np.bincount(component) / n, mixture["weights"], atol=0.015)
    for k in range(3):
        own = samples[component == k]
        np.testing.assert_allclose(own.mean(0), mixture["means"][k], atol=0.06)
        np.testing.assert_allclose(np.cov(own.T), mixture["covariances"][k], atol=0.1)


def test_em_config_rejects_bad_input():
    with pytest.raises(UserInputError, match="covariance"):
        models.make_config("em_gmm", covariance="spherical")
    with pytest.raises(UserInputError, match="init"):
        models.make_config("em_gmm", init="kmeans")
    with pytest.raises(UserInputError, match="num_components"):
        models.make_config("em_gmm", num_components=-1)
