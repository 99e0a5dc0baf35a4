"""A mixture of Bernoullis fit by EM, its exact NLL and samples (`eval.bernoulli_mixture`), and
the command that makes it the likelihood studies' sanity row (`experiments.likelihood_baseline`)."""

import itertools
import json
import os

import numpy as np

from unigen_jax.eval import bernoulli_mixture as baseline

from .helpers import one_device_env, run_commands, saved_classifier


def _mixture_probability(x, weights, means):
    """p(x) written out as the sum over k of pi_k times a product over pixels."""
    total = 0.0
    for pi, mu in zip(weights, means, strict=True):
        pixel_probabilities = [m if bit else 1.0 - m for bit, m in zip(x, mu, strict=True)]
        total += pi * np.prod(pixel_probabilities)
    return total


def test_the_likelihood_is_the_mixture_density_and_sums_to_one_over_all_images():
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(3))
    means = rng.uniform(0.05, 0.95, size=(3, 5))
    images = np.array(list(itertools.product([0.0, 1.0], repeat=5)), dtype=np.float32)
    ours = np.exp(baseline.log_likelihoods(images, np.log(weights), means))
    written_out = [_mixture_probability(x, weights, means) for x in images]
    np.testing.assert_allclose(ours, written_out, rtol=1e-5)
    np.testing.assert_allclose(ours.sum(), 1.0, rtol=1e-5)  # all 32 images of 5 pixels


def test_one_component_is_the_smoothed_pixel_mean_and_its_closed_form_likelihood():
    rng = np.random.default_rng(1)
    x = (rng.uniform(size=(200, 6)) < np.linspace(0.05, 0.95, 6)).astype(np.float32)
    log_weights, means, _ = baseline.fit(x, 1, seed=0)
    expected = (x.sum(axis=0) + 1.0) / (len(x) + 2.0)  # Laplace's rule of succession
    np.testing.assert_allclose(means[0], expected, rtol=1e-6)
    assert log_weights[0] == 0.0
    closed_form = np.sum(x * np.log(expected) + (1 - x) * np.log1p(-expected), axis=1)
    np.testing.assert_allclose(baseline.log_likelihoods(x, log_weights, means), closed_form, 1e-5)


def test_em_recovers_a_known_mixture_without_ever_decreasing_its_objective():
    rng = np.random.default_rng(2)
    true_means = rng.choice([0.1, 0.9], size=(3, 30))
    true_weights = np.array([0.5, 0.3, 0.2])

    def draw(n):
        component = rng.choice(3, size=n, p=true_weights)
        return (rng.uniform(size=(n, 30)) < true_means[component]).astype(np.float32)

    train, test = draw(3000), draw(3000)
    log_weights, means, objective = baseline.fit(train, 3, seed=0, tolerance=1e-9)
    # Monotone up to float32 rounding of the pixel sums (~1e-6 of 13 nats at convergence).
    assert np.all(np.diff(objective) >= -1e-5), objective
    assert objective[-1] - objective[0] > 1.0
    # Matched to the true components, the means and weights are the truth up to sampling.
    order = [int(np.argmin(np.abs(means - mu).sum(axis=1))) for mu in true_means]
    assert sorted(order) == [0, 1, 2]
    np.testing.assert_allclose(means[order], true_means, atol=0.05)
    np.testing.assert_allclose(np.exp(log_weights[order]), true_weights, atol=0.03)
    # On fresh images its NLL is the true mixture's, within sampling error (~0.01 nats).
    truth = -np.mean(baseline.log_likelihoods(test, np.log(true_weights), true_means))
    fitted = -np.mean(baseline.log_likelihoods(test, log_weights, means))
    assert abs(fitted - truth) < 0.1, (fitted, truth)


def test_the_conditional_baseline_is_one_mixture_per_class_scored_under_the_images_class():
    rng = np.random.default_rng(3)
    class_means = rng.uniform(0.05, 0.95, size=(2, 8))
    labels = np.repeat([0, 1], 150)
    x = (rng.uniform(size=(300, 8)) < class_means[labels]).astype(np.float32)
    nll, _, mixtures = baseline.fit_and_score(
        (x, labels), {"train": (x, labels)}, 1, 0, conditional=True
    )
    assert sorted(mixtures) == [0, 1]
    # K = 1 a class: each class's smoothed pixel means, each image scored under its own class.
    written_out = 0.0
    for c in (0, 1):
        mu = (x[labels == c].sum(axis=0) + 1.0) / (150 + 2.0)
        own = x[labels == c]
        written_out -= np.sum(own * np.log(mu) + (1 - own) * np.log1p(-mu))
    np.testing.assert_allclose(nll["train"], written_out / 300, rtol=1e-5)
    pooled, _, _ = baseline.fit_and_score((x, labels), {"train": (x, labels)}, 1, 0)
    assert nll["train"] < pooled["train"] - 0.5  # knowing the class helps here


def test_samples_follow_the_mixture_of_their_label():
    means = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.5]])
    weights = np.array([0.7, 0.3])
    pooled = {None: (np.log(weights), means)}
    images = baseline.sample_images(pooled, 20_000, seed=0)
    assert set(np.unique(images)) == {0.0, 1.0}
    # Each pixel's frequency is its mixture mean, sum_k pi_k mu_kd (standard error ~0.004);
    # pixels 0 and 1 co-occur as the components make them: E[x0 x1] = sum_k pi_k mu_k0 mu_k1.
    np.testing.assert_allclose(images.mean(axis=0), weights @ means, atol=0.015)
    np.testing.assert_allclose(np.mean(images[:, 0] * images[:, 1]), 0.111, atol=0.01)
    per_class = {0: (np.zeros(1), means[:1]), 1: (np.zeros(1), means[1:])}
    labels = np.arange(20_000) % 2
    images = baseline.sample_images(per_class, 20_000, seed=0, labels=labels)
    for c in (0, 1):
        np.testing.assert_allclose(images[labels == c].mean(axis=0), means[c], atol=0.02)


def test_the_command_chooses_k_on_validation_and_bad_input_is_one_line(tmp_path):
    output = tmp_path / "mixture.json"
    saved_classifier("binarized_mnist5k", str(tmp_path / "classifier"), steps=2, batch_size=8)
    common = ["--dataset=binarized_mnist5k", "--validation_fraction=0.1"]
    results = run_commands(
        "experiments.likelihood_baseline",
        [
            [*common, "--components=1,8", "--seeds=2", "--max_iterations=20", f"--output={output}"],
            [*common, "--components=0,8"],
            ["--dataset=digits", "--validation_fraction=0.1"],
            ["--dataset=binarized_mnist5k"],
            [*common, "--train_fraction=0.01", "--components=100"],
            [*common, "--train_fraction=0.01", "--components=1,30", "--conditional"],
            [
                *common,
                *("--components=1,3", "--conditional", "--seeds=1", "--max_iterations=10"),
                *(f"--classifier={tmp_path / 'classifier'}", "--num_samples=100"),
            ],
        ],
        env=one_device_env(),
    )
    assert results[0].returncode == 0, results[0].stderr[-2000:]
    with open(output) as f:
        report = json.load(f)
    assert report["num_train"] == 4050 and report["num_validation"] == 450
    one = [r for r in report["runs"] if r["components"] == 1]
    # K = 1 on binarised digits: about 206 nats, the independent-pixel figure of binarised
    # MNIST; 8 components beat it on validation, so K = 8 is chosen (on seed 0: seed 1 fits
    # only that K), and on test too.
    assert all(200 < r["test_nll"] < 215 for r in one), one
    assert report["chosen_components"] == 8
    assert [(r["seed"], r["components"]) for r in report["runs"]] == [(0, 1), (0, 8), (1, 8)]
    assert report["mean"] < min(r["test_nll"] for r in one) - 20
    assert f"{report['mean']:.2f}" in results[0].stdout
    conditional = results[-1]
    assert conditional.returncode == 0, conditional.stderr[-2000:]
    assert "NLL of p(x | y), a mixture per class" in conditional.stdout
    conditional_nll = float(conditional.stdout.split("over 1 seeds: ")[1].split()[0])
    assert conditional_nll < report["mean"]  # 3 components a class beat 8 for all digits
    assert "K=3, its samples: {'inception_score': " in conditional.stdout
    assert "'conditional_accuracy': " in conditional.stdout
    for result, message in zip(
        results[1:-1],
        [
            "--components must be positive integers",
            "has pixels other than 0 and 1",
            "--validation_fraction is required",
            "100 components of 40 training images",
            "images of the rarest class; use at most as many components as images",
        ],
        strict=True,
    ):
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
    assert sorted(os.listdir(tmp_path)) == ["classifier", "mixture.json"]
