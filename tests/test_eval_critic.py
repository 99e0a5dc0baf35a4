"""Independent Wasserstein critic against the closed form W1 of translated distributions.

For Q = P shifted by delta, W1(P, Q) = ||delta|| (f(x) = <x, delta> / ||delta|| attains it and
the coupling x -> x + delta costs exactly that). With the soft gradient penalty the best
linear critic has slope 1 + ||delta|| / (2 lambda) (maximise a ||delta|| - lambda (a - 1)^2),
so WGAN-GP's estimate tends to ||delta|| + ||delta||^2 / (2 lambda).
"""

import flax.linen as nn
import numpy as np
import pytest

from unigen_jax.eval.critic import independent_wasserstein_critic
from unigen_jax.nets import MLPDiscriminator

DELTA = np.array([1.5, -1.0])
W1 = float(np.linalg.norm(DELTA))
SMALL = dict(critic=MLPDiscriminator(hidden=(64, 64)), steps=1000, batch_size=256)


def gaussians(seed, shift):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((2000, 2)) + s for s in (0.0, shift, 0.0, shift)]


def test_estimate_of_translated_gaussians_is_the_shift_norm():
    result = independent_wasserstein_critic(*gaussians(0, DELTA), learning_rate=1e-3, **SMALL)
    estimate = result["wasserstein_estimate"]
    assert estimate == pytest.approx(W1, rel=0.15)
    assert estimate == pytest.approx(W1 + W1**2 / (2 * 10.0), rel=0.05)
    assert result["negative_distance"] == -estimate
    assert result["standard_error"] < 0.05
    # A critic of a well-separated pair barely overfits its 2,000 training points.
    assert result["train_wasserstein_estimate"] == pytest.approx(estimate, rel=0.05)
    assert result["steps"] == 1000 and result["train_curve"].shape == (1000,)
    assert result["train_curve"][-100:].mean() == pytest.approx(estimate, rel=0.1)


def test_estimate_of_identical_distributions_is_near_zero():
    result = independent_wasserstein_critic(*gaussians(1, 0.0), learning_rate=1e-3, **SMALL)
    # Held-out sets from one distribution: zero in expectation whatever the critic learned.
    assert abs(result["wasserstein_estimate"]) < 4 * result["standard_error"] + 0.02
    assert abs(result["wasserstein_estimate"]) < 0.05 * W1


def test_default_image_critic_is_deterministic_given_seed():
    rng = np.random.default_rng(2)
    sets = [rng.uniform(size=(16, 8, 8, 1)) for _ in range(4)]
    first, second, other = (
        independent_wasserstein_critic(*sets, steps=3, batch_size=4, seed=seed)
        for seed in (0, 0, 1)
    )
    assert first["wasserstein_estimate"] == second["wasserstein_estimate"]
    np.testing.assert_array_equal(first["train_curve"], second["train_curve"])
    assert first["wasserstein_estimate"] != other["wasserstein_estimate"]


class _BatchNormCritic(nn.Module):
    @nn.compact
    def __call__(self, x, *, train):
        return nn.Dense(1)(nn.BatchNorm(use_running_average=not train)(x))[:, 0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(steps=0), "steps"),
        (dict(batch_size=-1), "batch_size"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(critic=_BatchNormCritic()), "batch_stats"),
    ],
)
def test_invalid_arguments_raise_one_line_value_errors(kwargs, message):
    sets = gaussians(3, DELTA)
    with pytest.raises(ValueError, match=message) as info:
        independent_wasserstein_critic(*sets, **kwargs)
    assert "\n" not in str(info.value)


def test_mismatched_example_shapes_raise():
    real, fake, real_eval, _ = gaussians(4, DELTA)
    with pytest.raises(ValueError, match="fake_eval"):
        independent_wasserstein_critic(real, fake, real_eval, np.zeros((5, 3)))
