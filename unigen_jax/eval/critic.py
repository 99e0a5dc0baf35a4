"""Independent Wasserstein critic: a WGAN-GP critic trained only to score a finished generator.

Rosca et al. 2017 (arXiv 1706.04987, §5, "Independent Wasserstein critic"), after Danihelka
et al. 2017: a fresh critic is trained to tell held-out real data from generated samples, and
its estimate of the Wasserstein-1 distance on separate evaluation sets is reported negated
(higher is better). A generator that memorises the training set or drops modes is easy to tell
from held-out data and gets a large distance. Danihelka et al. clip weights (WGAN); 003, like
this module, uses the gradient penalty of WGAN-GP (Gulrajani et al. 2017).

Note on scale: with a soft penalty the critic is only approximately 1-Lipschitz. For two
distributions a translation `delta` apart, the best linear critic of slope a maximises
a ||delta|| - lambda (a - 1)^2, so a = 1 + ||delta|| / (2 lambda) and the estimate exceeds W1
by that factor (about 10% at ||delta|| = 2, lambda = 10). Compare estimates made with the same
penalty weight, critic and step count only.
"""

from __future__ import annotations

import functools
import inspect
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from unigen_jax import losses
from unigen_jax.errors import UserInputError
from unigen_jax.nets import DCGANDiscriminator, MLPDiscriminator
from unigen_jax.train import settings

# Adam as in WGAN-GP (Gulrajani et al. 2017, Algorithm 1): beta1 = 0.5 (their code), 0.9.
ADAM_B1 = 0.5
ADAM_B2 = 0.9
EVAL_BATCH_SIZE = 500


def default_critic(example_shape: tuple[int, ...]) -> nn.Module:
    """The critic used when none is given: chosen by the rank of one example.

    Images [H, W, C] get `DCGANDiscriminator(base_features=16, normalization='layer')` (WGAN-GP
    replaces batch normalization by layer normalization in the critic, since the per-example
    gradient penalty is wrong for a critic that mixes examples; 16 base features because the
    penalty's double backward through convolutions is slow on XLA:CPU: measured 81 ms a step at
    16 against 1.9 s at 64, batch 64, 28x28); vectors [D] (and anything else) get
    `MLPDiscriminator()`, which flattens its input.
    """
    if len(example_shape) == 3:
        return DCGANDiscriminator(base_features=16, normalization="layer")
    return MLPDiscriminator()


def _as_float_array(name: str, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 2 or x.shape[0] < 1:
        raise UserInputError(
            f"{name} must be an array [n, ...] with n >= 1 and at least one feature axis, "
            f"got shape {x.shape}."
        )
    return x


def _takes_train(module: nn.Module) -> bool:
    try:
        parameters = inspect.signature(type(module).__call__).parameters
    except (TypeError, ValueError):
        return False
    return "train" in parameters


def _scores_fn(module: nn.Module):
    """params, x [batch, ...] -> critic scores [batch] (patch outputs averaged per example)."""
    kwargs = {"train": False} if _takes_train(module) else {}

    def scores(params, x):
        out = module.apply({"params": params}, x, **kwargs)
        if isinstance(out, (tuple, list)):
            out = out[0]  # (logits, features) as the library's discriminators return
        if out.ndim < 1 or out.shape[0] != x.shape[0]:
            raise UserInputError(
                f"critic must map [batch, ...] to logits [batch] (or (logits, features)), "
                f"got output shape {out.shape} for input shape {x.shape}."
            )
        out = out.astype(jnp.float32)
        return jnp.mean(out.reshape(out.shape[0], -1), axis=1)

    return scores


def _all_scores(scores_jit, params, x: np.ndarray) -> np.ndarray:
    """Scores of every row of x, in batches of EVAL_BATCH_SIZE (the last one padded)."""
    n = x.shape[0]
    size = min(EVAL_BATCH_SIZE, n)
    out = []
    for start in range(0, n, size):
        batch = x[start : start + size]
        valid = batch.shape[0]
        if valid < size:  # pad with copies of the last row: one compiled shape for all batches
            batch = np.concatenate([batch, np.repeat(batch[-1:], size - valid, axis=0)])
        out.append(np.asarray(scores_jit(params, batch), dtype=np.float64)[:valid])
    return np.concatenate(out)


def independent_wasserstein_critic(
    real_train,
    fake_train,
    real_eval,
    fake_eval,
    *,
    critic: nn.Module | None = None,
    steps: int = 2000,
    batch_size: int = 64,
    learning_rate: float = 1e-4,
    gradient_penalty: float = 10.0,
    seed: int = 0,
) -> dict:
    """Trains a fresh WGAN-GP critic on held-out real data vs samples; scores separate sets.

    Objective (maximised by the critic f over `steps` Adam steps on minibatches drawn with
    replacement from the training sets)::

      E_real_train[f(x)] - E_fake_train[f(x)] - lambda E_x_hat[(||grad f(x_hat)||_2 - 1)^2]

    x_hat on random lines between real and fake examples. Reported, on the evaluation sets::

      wasserstein_estimate = mean_real_eval f(x) - mean_fake_eval f(x)  (~ W1(real, fake))

    and its negative (003's "higher is better" convention).

    Args:
      real_train: [n1, ...] held-out real data the critic trains on (not the generator's
        training data: a generator that memorised its training set must look different).
      fake_train: [n2, ...] generated samples the critic trains on.
      real_eval: [n3, ...] real data for the estimate, disjoint from `real_train`.
      fake_eval: [n4, ...] generated samples for the estimate, disjoint from `fake_train`.
      critic: a flax module mapping [batch, ...] to logits [batch] or (logits, features),
        called with `train=False` if it accepts `train`; it must have only 'params' (no batch
        statistics) and must treat examples independently. Default: `default_critic`.
      steps: critic updates.
      batch_size: real and fake examples per update (each).
      learning_rate: Adam learning rate (b1 = 0.5, b2 = 0.9, as in WGAN-GP).
      gradient_penalty: lambda, the weight of the gradient penalty.
      seed: seeds the initialisation, the minibatches and the interpolation points; the
        result is deterministic given it (on one backend).

    Returns:
      dict with 'wasserstein_estimate' and 'negative_distance' (floats, evaluation sets),
      'standard_error' (of the estimate over the evaluation examples, the critic held fixed),
      'train_wasserstein_estimate' (the same estimate on the full training sets: a large gap
      to the evaluation estimate means the critic overfitted, 003 Appendix E), 'steps', and
      'train_curve' ([steps] minibatch estimates E_real[f] - E_fake[f] during training).

    References: Rosca et al. 2017 (arXiv 1706.04987) §5 and Appendix E; Danihelka et al. 2017,
    "Comparison of Maximum Likelihood and GAN-based training of Real NVPs"; Gulrajani et al.
    2017, "Improved Training of Wasserstein GANs", Algorithm 1.
    """
    arrays = {
        "real_train": _as_float_array("real_train", real_train),
        "fake_train": _as_float_array("fake_train", fake_train),
        "real_eval": _as_float_array("real_eval", real_eval),
        "fake_eval": _as_float_array("fake_eval", fake_eval),
    }
    example_shape = arrays["real_train"].shape[1:]
    for name, x in arrays.items():
        if x.shape[1:] != example_shape:
            raise UserInputError(
                f"{name} has examples of shape {x.shape[1:]} but real_train has "
                f"{example_shape}; all four sets must hold examples of one shape."
            )
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise UserInputError(f"{name} must be a positive integer, got {value!r}.")
    if not (learning_rate > 0 and math.isfinite(learning_rate)):
        raise UserInputError(f"learning_rate must be positive, got {learning_rate!r}.")
    if not (gradient_penalty >= 0 and math.isfinite(gradient_penalty)):
        raise UserInputError(f"gradient_penalty must be >= 0, got {gradient_penalty!r}.")
    steps, batch_size = int(steps), int(batch_size)

    module = default_critic(example_shape) if critic is None else critic
    scores = _scores_fn(module)
    init_key, train_key = jax.random.split(jax.random.PRNGKey(seed))
    kwargs = {"train": False} if _takes_train(module) else {}
    # One program (eagerly, each initializer of each shape would compile its own).
    init = settings.jit_run_once(functools.partial(module.init, **kwargs))
    variables = init(init_key, arrays["real_train"][:1])
    if set(variables) != {"params"}:
        raise UserInputError(
            f"critic has variable collections {sorted(variables)}; it may only have 'params' "
            f"(use layer normalization or none: the gradient penalty needs a per-example critic)."
        )
    params = variables["params"]
    optimizer = optax.adam(learning_rate, b1=ADAM_B1, b2=ADAM_B2)
    opt_state = optimizer.init(params)

    def train(params, opt_state, real_data, fake_data, train_key):
        def step(carry, step_index):
            params, opt_state = carry
            # A fresh key per step (fold_in), split into named keys: none is used twice.
            step_key = jax.random.fold_in(train_key, step_index)
            real_key, fake_key, penalty_key = jax.random.split(step_key, 3)
            real_rows = jax.random.randint(real_key, (batch_size,), 0, real_data.shape[0])
            fake_rows = jax.random.randint(fake_key, (batch_size,), 0, fake_data.shape[0])
            real, fake = real_data[real_rows], fake_data[fake_rows]

            def loss_fn(params):
                real_scores, fake_scores = scores(params, real), scores(params, fake)
                critic_loss = jnp.mean(
                    losses.wasserstein_discriminator_loss(real_scores, fake_scores)
                )
                penalty = jnp.mean(
                    losses.wasserstein_gradient_penalty(
                        lambda x: scores(params, x), real, fake, penalty_key
                    )
                )
                return critic_loss + gradient_penalty * penalty, -critic_loss

            grads, estimate = jax.grad(loss_fn, has_aux=True)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), estimate

        (params, opt_state), curve = jax.lax.scan(step, (params, opt_state), jnp.arange(steps))
        return params, curve

    # All steps in one compiled scan: one dispatch, the data on the device once.
    params, curve = jax.jit(train)(
        params, opt_state, arrays["real_train"], arrays["fake_train"], train_key
    )

    scores_jit = jax.jit(scores)
    real_eval_scores = _all_scores(scores_jit, params, arrays["real_eval"])
    fake_eval_scores = _all_scores(scores_jit, params, arrays["fake_eval"])
    estimate = float(real_eval_scores.mean() - fake_eval_scores.mean())
    variance = real_eval_scores.var() / real_eval_scores.size
    variance += fake_eval_scores.var() / fake_eval_scores.size
    train_estimate = float(
        _all_scores(scores_jit, params, arrays["real_train"]).mean()
        - _all_scores(scores_jit, params, arrays["fake_train"]).mean()
    )
    return {
        "wasserstein_estimate": estimate,
        "negative_distance": -estimate,
        "standard_error": float(math.sqrt(variance)),
        "train_wasserstein_estimate": train_estimate,
        "steps": steps,
        "train_curve": np.asarray(curve, dtype=np.float64),
    }
