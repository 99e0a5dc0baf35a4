"""Wake-sleep: a Helmholtz machine of stochastic binary units trained by its two phases.

Hinton, Dayan, Frey, Neal 1995, "The wake-sleep algorithm for unsupervised neural networks"
(Science 268:1158); Dayan, Hinton, Neal, Zemel 1995, "The Helmholtz machine" (Neural
Computation 7:889); Hu et al. 2017, arXiv 1706.00550, Section 3.4, eq. 10.

Two sigmoid belief networks (`unigen_jax.nets.SigmoidBeliefNet`) over binary layers x = h_0
(the data), h_1, ..., h_L (h_L of `latent_dim` units, h_1..h_{L-1} of `hidden_sizes`):

  generative  p(h_L) = prod_j Bernoulli(sigmoid(b_L)_j),
              p(h_{l-1} | h_l) = Bernoulli(sigmoid(W_l h_l + b_{l-1})),  l = L..1;
  recognition q(h_1 | x) = Bernoulli(sigmoid(R_1 x + c_1)),
              q(h_{l+1} | h_l) = Bernoulli(sigmoid(R_{l+1} h_l + c_{l+1})).

Eq. 10 of Hu et al. (with the latents h and the recognition net's parameters lambda):

  Wake  (generative net, theta):   max_theta  E_{p_data(x) q_lambda(h|x)} [log p_theta(x, h)]
  Sleep (recognition net, lambda): max_lambda E_{p_theta(x, h)} [log q_lambda(h|x)]

Each phase draws its binary states by ancestral sampling from the other network (no
reparameterisation: the samples are constants) and maximises a sum of Bernoulli
log-likelihoods, one per layer, of those states. For logits a = W s + b and target t,
d/dW [t log sigmoid(a) + (1 - t) log(1 - sigmoid(a))] = (t - sigmoid(a)) s^T: autodiff of
these losses is exactly the local delta rule of Hinton et al. 1995 (averaged over the batch;
the wake phase here also trains the top layer's prior p(h_L), as the paper's generative
biases). Adam replaces the paper's plain stochastic gradient steps.

The reading of Hu et al. 2017, Section 3.4: the wake phase reconstructs visibles from latents
inferred by q, the VAE's update of the generator (their eq. 7 in theta, the VAE extending it
by also training q through the reparameterised ELBO); the sleep phase reconstructs latents
from generated visibles, the GAN-like update of the inference model: GAN's discriminator
phase is a sleep phase with h = the real/fake label y (their eq. 1), and InfoGAN's Q (eq. 5)
one with h = the code z.

Data: the units are binary. Inputs are binarised inside the model by thresholding, x >= 1/2
(an identity on binary data such as `binarized_mnist5k`), so on grey-level data (`mnist5k`,
`digits`) the model, its NLL and ELBO are those of the thresholded images: not comparable with
a Bernoulli VAE's cross-entropy on grey levels. Vector data are rejected.

Evaluation: the test ELBO and the importance-sampled NLL with the recognition net as the
proposal, from `log_importance_weight_fn` = log p(x, h) - log q(h|x) at one h ~ q(h|x)
(the estimator of Bornschein & Bengio 2015, arXiv 1406.2751); reconstructions are the
Bernoulli means of p(x | h_1) at h_1 = E_q[h_1 | x]; samples are the Bernoulli means of
p(x | h_1) at an ancestral sample of h_1.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax import nets as flax_nets
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.models.spec import ModelSpec, Phase

ARCHITECTURES = ("mlp",)


@dataclasses.dataclass(frozen=True)
class WakeSleepConfig:
    """Wake-sleep hyperparameters: layer sizes from the data up (hidden_sizes, then the top
    layer's latent_dim units) and Adam's settings (one optimizer per network)."""

    latent_dim: int = 50
    hidden_sizes: tuple[int, ...] = (200,)
    architecture: str = "mlp"
    learning_rate: float = 1e-3
    adam_b1: float = 0.9
    adam_b2: float = 0.999

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise UserInputError(
                f"wake_sleep has sigmoid belief (fully connected) layers only: "
                f"--config.architecture={self.architecture!r} is not supported; use mlp"
            )
        common.check_positive("latent_dim", self.latent_dim)
        common.check_positive("learning_rate", self.learning_rate)
        for size in self.hidden_sizes:
            common.check_positive("hidden_sizes", size)


def binarize(x: jax.Array) -> jax.Array:
    """Binary units of data x [batch, ...] in [0, 1]: 1 where x >= 1/2, flattened [batch, D]."""
    return (jnp.reshape(x, (x.shape[0], -1)) >= 0.5).astype(jnp.float32)


def bernoulli_sample(nets, tag: str, logits: jax.Array) -> jax.Array:
    """Binary states ~ Bernoulli(sigmoid(logits)) from uniform noise `tag`: 1 where u < p.
    Constants: no gradient flows through a sample (no reparameterisation)."""
    u = nets.uniform(tag, logits.shape[1:])
    return jax.lax.stop_gradient((u < jax.nn.sigmoid(logits)).astype(jnp.float32))


def log_probability(logits, states) -> jax.Array:
    """sum over layers of log Bernoulli(state | sigmoid(logits)), per example [batch]."""
    return sum(losses.bernoulli_log_likelihood(a, s) for a, s in zip(logits, states, strict=True))


def recognize(nets, v: jax.Array, num_layers: int, tag: str):
    """h ~ q(h|x) bottom-up: ((h_1, ..., h_L), their logits)."""
    states, logits, below = [], [], v
    for layer in range(num_layers):
        a = nets("recognition", below, layer=layer)
        below = bernoulli_sample(nets, f"{tag}_h{layer + 1}", a)
        states.append(below)
        logits.append(a)
    return tuple(states), tuple(logits)


def dream(nets, top_size: int, num_layers: int, tag: str):
    """(h, x) ~ p(h) p(x|h) top-down: ((h_L, ..., h_1, x), their logits)."""
    above = jnp.zeros((nets.batch_size, top_size), jnp.float32)  # layer 0 reads its batch only
    states, logits = [], []
    for layer in range(num_layers + 1):
        a = nets("generative", above, layer=layer)
        above = bernoulli_sample(nets, f"{tag}_{layer}", a)
        states.append(above)
        logits.append(a)
    return tuple(states), tuple(logits)


def log_joint(nets, v: jax.Array, hidden) -> jax.Array:
    """log p(x, h) = log p(h_L) + sum_l log p(h_{l-1} | h_l), per example; hidden = (h_1..h_L)."""
    top_down = tuple(reversed(hidden))  # (h_L, ..., h_1)
    return log_probability(nets("generative", top_down), (*top_down, v))


def log_recognition(nets, v: jax.Array, hidden) -> jax.Array:
    """log q(h|x) = sum_l log q(h_l | h_{l-1}), per example; hidden = (h_1..h_L)."""
    return log_probability(nets("recognition", (v, *hidden[:-1])), hidden)


def make_wake_sleep(
    config: WakeSleepConfig, data_info, *, axis_name: str | None = "data", name: str = "wake_sleep"
) -> ModelSpec:
    """A Helmholtz machine for binary(-ised) images described by `data_info`."""
    del axis_name  # no normalization, no cross-device statistics
    if data_info.kind != "image":
        raise UserInputError(
            f"wake_sleep models binary data (images in [0, 1], binarised at 1/2); "
            f"{data_info.name} holds vectors: choose an image dataset such as binarized_mnist5k"
        )
    sizes = (*config.hidden_sizes, config.latent_dim)  # h_1 .. h_L
    num_layers = len(sizes)
    data_size = math.prod(data_info.shape)

    def wake_phase(nets, batch):
        """Eq. 10, wake: log p(x, h) at h ~ q(h|x), the recognition samples held constant."""
        v = binarize(batch["x"])
        hidden, q_logits = recognize(nets, v, num_layers, "wake")
        log_p = log_joint(nets, v, hidden)
        loss = -jnp.mean(log_p)
        log_q = log_probability(q_logits, hidden)
        return loss, {"wake_loss": loss, "elbo": jnp.mean(log_p - log_q)}

    def sleep_phase(nets, batch):
        """Eq. 10, sleep: log q(h|x) on a dream (h, x) ~ p(h) p(x|h), held constant."""
        del batch
        states, _ = dream(nets, sizes[-1], num_layers, "sleep")
        v, hidden = states[-1], tuple(reversed(states[:-1]))
        loss = -jnp.mean(log_recognition(nets, v, hidden))
        return loss, {"sleep_loss": loss}

    def log_importance_weight(nets, batch):
        """log p(x, h) - log q(h|x) at one h ~ q(h|x), per example."""
        v = binarize(batch["x"])
        hidden, q_logits = recognize(nets, v, num_layers, "importance")
        return log_joint(nets, v, hidden) - log_probability(q_logits, hidden)

    def sample(nets, conditions):
        del conditions
        _, logits = dream(nets, sizes[-1], num_layers, "sample")
        return jax.nn.sigmoid(logits[-1]).reshape((nets.batch_size, *data_info.shape))

    def reconstruct(nets, batch):
        x = batch["x"]
        h1_mean = jax.nn.sigmoid(nets("recognition", binarize(x), layer=0))
        logits = nets("generative", h1_mean, layer=num_layers)
        return jax.nn.sigmoid(logits).reshape(x.shape)

    def zeros(*layer_sizes):
        return lambda batch: tuple(
            jnp.zeros((batch["x"].shape[0], n), jnp.float32) for n in layer_sizes
        )

    return ModelSpec(
        name=name,
        config=config,
        networks={
            # Layers h_L, ..., h_1, x: the prior, then each layer given the one above.
            "generative": flax_nets.SigmoidBeliefNet(
                sizes=(*reversed(sizes), data_size), prior=True
            ),
            # Layers h_1, ..., h_L, each given the one below (h_1 given x).
            "recognition": flax_nets.SigmoidBeliefNet(sizes=sizes),
        },
        init_args={
            "generative": lambda batch: (zeros(*reversed(sizes))(batch),),
            "recognition": lambda batch: ((binarize(batch["x"]), *zeros(*sizes[:-1])(batch)),),
        },
        optimizers={
            net: common.adam(config.learning_rate, config.adam_b1, config.adam_b2)
            for net in ("generative", "recognition")
        },
        phases=(
            Phase("wake", ("generative",), wake_phase),
            Phase("sleep", ("recognition",), sleep_phase),
        ),
        sample_fn=sample,
        reconstruct_fn=reconstruct,
        log_importance_weight_fn=log_importance_weight,
    )
