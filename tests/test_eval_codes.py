"""The encoder-code statistics (Rosca et al. 2017, Appendix D, Figures 11-12), against numpy
written directly here, a Monte Carlo correlation, and through `eval.runner.evaluate`."""

import json

import jax
import numpy as np
import pytest

from unigen_jax import data, models
from unigen_jax.errors import UserInputError
from unigen_jax.eval import codes, runner
from unigen_jax.train import create_train_state


def _direct(z):
    """The statistics by numpy's own estimators (np.var, np.corrcoef)."""
    mean, variance = z.mean(0), z.var(0)
    corr = np.corrcoef(z, rowvar=False)
    off = np.abs(corr[~np.eye(z.shape[1], dtype=bool)])
    kl = np.mean((variance + mean**2 - 1 - np.log(variance)) / 2)
    return mean, variance, corr, off, kl


def test_code_statistics_match_numpy_estimators():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 5)) * [1, 2, 0.5, 1, 3] + [0, 1, -1, 0.5, 0]
    z[:, 3] += 0.8 * z[:, 0]  # one correlated pair
    stats = codes.code_statistics(z)
    mean, variance, corr, off, kl = _direct(z)
    np.testing.assert_allclose(stats["per_dimension_mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(stats["per_dimension_variance"], variance, rtol=1e-12)
    np.testing.assert_allclose(stats["correlation"], corr, rtol=1e-10, atol=1e-12)
    assert stats["mean_abs_mean"] == pytest.approx(np.abs(mean).mean())
    assert stats["mean_variance"] == pytest.approx(variance.mean())
    assert stats["mean_abs_variance_gap"] == pytest.approx(np.abs(variance - 1).mean())
    assert stats["mean_abs_correlation"] == pytest.approx(off.mean())
    assert stats["max_abs_correlation"] == pytest.approx(off.max())
    assert stats["empirical_kl"] == pytest.approx(kl, rel=1e-5)  # float32 inside the loss
    assert stats["constant_dimensions"] == 0
    assert (stats["num_codes"], stats["latent_dim"]) == (300, 5)


def test_correlated_codes_show_their_correlation_and_prior_draws_do_not():
    rng = np.random.default_rng(1)
    n, rho = 20_000, 0.6
    u, v = rng.normal(size=(2, n))
    entangled = codes.code_statistics(np.stack([u, rho * u + np.sqrt(1 - rho**2) * v], 1))
    # Two dimensions: one off-diagonal pair, |rho| up to Monte Carlo error (~(1 - rho^2)/sqrt n).
    assert entangled["mean_abs_correlation"] == pytest.approx(rho, abs=0.02)
    prior = codes.code_statistics(rng.normal(size=(n, 8)))
    assert prior["mean_abs_correlation"] < 0.03 and prior["mean_abs_mean"] < 0.03
    assert prior["mean_variance"] == pytest.approx(1, abs=0.03)
    assert prior["empirical_kl"] < 1e-3


def test_a_constant_dimension_has_zero_correlation_and_is_counted():
    rng = np.random.default_rng(2)
    z = np.concatenate([rng.normal(size=(50, 2)), np.full((50, 1), 3.0)], axis=1)
    stats = codes.code_statistics(z)
    assert stats["constant_dimensions"] == 1 and stats["empirical_kl"] == float("inf")
    assert np.all(stats["correlation"][2] == 0) and np.all(stats["correlation"][:, 2] == 0)
    expected = np.corrcoef(z[:, :2], rowvar=False)[0, 1]
    assert stats["correlation"][0, 1] == pytest.approx(expected)
    # Six off-diagonal entries: the pair twice, the constant dimension's four zeros.
    assert stats["mean_abs_correlation"] == pytest.approx(2 * abs(expected) / 6)
    with pytest.raises(ValueError, match="at least 2 codes"):
        codes.code_statistics(np.zeros((1, 3)))


def test_evaluate_reports_the_encoders_code_statistics_of_the_test_data():
    """alpha-GAN's deterministic codes E(x) of every test example, beside N(0, I) draws."""
    train, test = data.get_source("digits"), data.get_source("digits", "test")
    config = models.make_config("alpha_gan", latent_dim=3, hidden_sizes=(16,), architecture="mlp")
    model = models.build_model("alpha_gan", config, train.info, axis_name=None)
    state = create_train_state(model, train.get(np.arange(2)), seed=0)
    run = runner.LoadedRun(model, state, 0, {}, train, test)
    assert "code_statistics" in runner.applicable_metrics(model, train.info)
    gan = models.build_model("gan", models.make_config("gan", architecture="mlp"), train.info)
    assert "code_statistics" not in runner.applicable_metrics(gan, train.info)
    results, failures = runner.evaluate(run, ["code_statistics"], log=lambda _: None)
    assert failures == []
    x = test.get(np.arange(len(test)))["x"]
    nets = model.inference_networks(
        state.params, state.batch_stats, key=jax.random.PRNGKey(0), batch_size=len(x)
    )
    mean, variance, corr, off, _ = _direct(np.asarray(nets("encoder", x)[0], np.float64))
    entry = results["code_statistics"]
    assert entry["model"]["num_codes"] == len(x) and entry["model"]["latent_dim"] == 3
    assert entry["model"]["mean_abs_mean"] == pytest.approx(np.abs(mean).mean(), rel=1e-4)
    assert entry["model"]["mean_abs_correlation"] == pytest.approx(off.mean(), rel=1e-3)
    np.testing.assert_allclose(entry["settings"]["per_dimension_variance"], variance, rtol=1e-3)
    np.testing.assert_allclose(entry["settings"]["correlation"], corr, atol=2e-4)
    # The real column: as many prior draws, whose moments are near 0 and 1.
    assert entry["real"]["num_codes"] == len(x)
    assert entry["real"]["mean_abs_mean"] < 0.1
    assert entry["real"]["mean_variance"] == pytest.approx(1, abs=0.1)


def test_plot_codes_draws_the_statistics_of_eval_files(tmp_path):
    """experiments.plot_codes reads what evaluate writes (Figures 11-12 side by side)."""
    from experiments import plot_codes

    stats = codes.code_statistics(np.random.default_rng(3).normal(size=(40, 4)))
    entry = {
        "model": {k: v for k, v in stats.items() if np.ndim(v) == 0},
        "settings": {
            "per_dimension_mean": stats["per_dimension_mean"].tolist(),
            "per_dimension_variance": stats["per_dimension_variance"].tolist(),
            "correlation": stats["correlation"].tolist(),
        },
    }
    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"metrics": {"code_statistics": entry}}))
    loaded = plot_codes.load(str(path))
    np.testing.assert_array_equal(loaded["correlation"], stats["correlation"])
    out = tmp_path / "codes.png"
    plot_codes.plot([loaded, loaded], ["a", "b"], str(out))
    assert out.read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "gan.json").write_text(json.dumps({"metrics": {}}))
    with pytest.raises(UserInputError, match="no code_statistics"):
        plot_codes.load(str(tmp_path / "gan.json"))
