"""GAN stabilisers as transforms of the GAN's objectives (`gan.make_gan` composes them). Each
reads its own `GANConfig` fields (`FIELDS`), checks them (`check`) and is a no-op when off.

Notation as in `gan`: D the discriminator, f its trunk features (its layer before the logit),
G the generator, z the noise, y the label (CGAN), l_G the generator's per-example loss.

- Importance weighting (`ImportanceWeighting`, `importance_weighted`; IWGAN, Hu et al. 2017,
  arXiv 1706.00550, eq. 15) weights l_G per sample:

      G: min  E_z[w(z) * l_G(D(G(z, y), y))],   w_i = n * softmax_i(logit_i),

  the normalised importance weight of each sample over the GLOBAL minibatch of n, held
  constant (theta_0 in eq. 15), times n (so the weights average 1 and the loss keeps the
  engine's per-example-mean convention; the gradient is sum_i w~_i grad l_G(i), eq. 15).
  Logistic losses only.

- Feature matching (`FeatureMatching`, `feature_matching`; Salimans et al. 2016, arXiv
  1606.03498, Section 3.1; the survey of Bajaj & Singh, Section 3) fixes a generator that
  overtrains on the current discriminator: l_G is replaced by matching the mean of D's
  features on real and generated batches,

      G: min || E_x f(x) - E_z f(G(z)) ||_2^2   (`losses.feature_matching_generator_loss`),

  means over the GLOBAL batch, the real side constant; D reads the real and generated batch
  in ONE call on their concatenation (so its BatchNorm normalises both with the same
  statistics, which separate calls would centre apart); D's own objective is unchanged.

- Instance noise (`InstanceNoise`, `instance_noise` = sigma_0 > 0, `instance_noise_steps`;
  Sønderby et al. 2016, arXiv 1610.04490; Arjovsky & Bottou 2017, arXiv 1701.04862, Section 3)
  fixes disjoint supports of the data and the generator, where D saturates and its gradient
  carries no signal: every input of D, real or generated, in both phases, becomes

      x + sigma_t * eps,  eps ~ N(0, I) fresh per example,
      sigma_t = sigma_0 * max(0, 1 - t / instance_noise_steps)   (`losses.instance_noise_std`),

  t the step, in data units (images in [0, 1]).

- Su's regulariser (`SuRegularizer`, `su_regularizer` = lambda > 0; Su 2018, arXiv 1807.05936,
  eq. 26; the registered `su_gan`, lambda = 5 with `generator_steps=2` as in the author's
  code) adds to the generator's loss

      lambda * E_z[ mean_j (G(z)_j - G_old(z)_j)^2 ],

  G_old a copy of the generator (the shadow network `generator_old`, a non-gradient
  `snapshot` update) applied to the SAME z (and label) as G. The snapshot is taken at the end
  of each step, after the generator phase, and the shadow starts as a copy of the generator:
  since the discriminator phase leaves the generator's params and BatchNorm statistics alone,
  G_old is then exactly the generator as it was before this step's generator phase. The
  square is averaged over the example's units j (pixels and channels: a mean squared error,
  as in the author's code) and over the batch. Images are compared on the scale of the
  author's tanh generator, [-1, 1] (2 G(z) - 1 for our outputs in [0, 1], so 4x the squared
  error in [0, 1]); vectors on their own scale. One snapshot per step, before the FIRST
  generator repeat: eq. 21 defines q^o as the generator before this iteration's update
  Delta theta, and a snapshot before every repeat would make the term and its gradient vanish
  (G = G_old where the gradient is taken). So the first repeat is the plain GAN step and each
  later repeat is pulled towards the generator the step started from: the regulariser acts
  only with generator_steps >= 2, hence the preset's 2.

- Consensus optimisation (`Consensus`, `consensus` = gamma > 0; Mescheder, Nowozin, Geiger
  2017, arXiv 1705.10461, Section 3 and Algorithm 1; the survey's [25]) fixes the cycling of
  simultaneous gradient play, whose Jacobian has eigenvalues of large imaginary part: both
  players' losses get

      + gamma * R,  R = 1/2 (||grad_D L_D||^2 + ||grad_G L_G||^2)

  (`losses.consensus_regularizer`), v = (grad_D L_D, grad_G L_G) the gradient field of the
  game (the global batch's gradients), L_D and L_G each player's whole objective, both
  evaluated at the phase's noise (the same z, so at one minibatch, as in their Algorithm 1).
  R's gradient is a second derivative (`Networks.with_params` differentiates inside the
  phase; BENCHMARKS.md gives its cost). The engine's phases run one after the other, so D's
  step and G's step each see the other's latest params (Algorithm 1 steps both at once).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.models.spec import ParamUpdate, Shadow

LOGISTIC_FAMILIES = ("modified", "minimax")


def check_whole(field: str, value) -> None:
    """One line unless `value` of --config.`field` is a whole number >= 1."""
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise UserInputError(f"--config.{field} must be a whole number >= 1, got {value}")


class Generated(NamedTuple):
    """What the generator phase drew: z (with the one-hot label for a CGAN), G(z) in data
    space, and the label (None without `conditional`)."""

    z: jax.Array
    x: jax.Array
    label: jax.Array | None


# A generator objective from what the phase drew: (nets, batch, generated) -> (loss, metrics).
GeneratorObjective = Callable[..., tuple[jax.Array, dict]]


@dataclasses.dataclass(frozen=True)
class InstanceNoise:
    """Instance noise on every input of D (see the module docstring)."""

    FIELDS = ("instance_noise", "instance_noise_steps")
    initial_std: float
    anneal_steps: int

    @staticmethod
    def check(config) -> None:
        common.check_positive("instance_noise", config.instance_noise, allow_zero=True)
        check_whole("instance_noise_steps", config.instance_noise_steps)

    @classmethod
    def of(cls, config) -> InstanceNoise | None:
        if not config.instance_noise:
            return None
        return cls(config.instance_noise, config.instance_noise_steps)

    def std(self, nets) -> jax.Array:
        """sigma_t at the step being taken."""
        return losses.instance_noise_std(
            nets.step, initial_std=self.initial_std, anneal_steps=self.anneal_steps
        )


def discriminator_view(noise: InstanceNoise | None):
    """`(nets, x, tag) -> what D sees of x`: x + sigma_t * eps (eps drawn under `tag`) with
    instance noise, else x itself."""

    def view(nets, x, tag):
        if noise is None:
            return x
        return x + noise.std(nets) * nets.normal(tag, x.shape[1:])

    return view


def with_instance_noise_std(objective, noise: InstanceNoise | None):
    """The discriminator's `objective`, its metrics with sigma_t (`instance_noise_std`)."""
    if noise is None:
        return objective

    def reported(nets, batch):
        loss, metrics = objective(nets, batch)
        return loss, {**metrics, "instance_noise_std": noise.std(nets)}

    reported.__name__ = reported.__qualname__ = objective.__name__  # the phase's name
    return reported


@dataclasses.dataclass(frozen=True)
class ImportanceWeighting:
    """IWGAN's per-sample weights of l_G (see the module docstring)."""

    FIELDS = ("importance_weighted",)

    @staticmethod
    def check(config) -> None:
        if config.importance_weighted and config.loss not in LOGISTIC_FAMILIES:
            raise UserInputError(
                f"--config.importance_weighted applies to the logistic losses "
                f"{LOGISTIC_FAMILIES}, not --config.loss={config.loss}"
            )

    @classmethod
    def of(cls, config) -> ImportanceWeighting | None:
        return cls() if config.importance_weighted else None

    @staticmethod
    def weights(nets, fake_logits) -> tuple[jax.Array, dict]:
        """w [batch] of Hu et al. 2017, eq. 15, over the global minibatch, and the effective
        sample size 1 / sum_i w~_i^2 (the batch size for equal weights) as a metric."""
        per_example_logits = jnp.mean(fake_logits.reshape(len(fake_logits), -1), axis=1)
        # The weights are constants of the update (theta_0 in eq. 15).
        normalised = nets.batch_softmax(jax.lax.stop_gradient(per_example_logits))
        ess = 1.0 / nets.batch_sum(normalised**2)
        return normalised * nets.global_batch_size(), {"importance_ess": ess}


@dataclasses.dataclass(frozen=True)
class FeatureMatching:
    """Feature matching in place of l_G (see the module docstring)."""

    FIELDS = ("feature_matching",)

    @staticmethod
    def check(config) -> None:
        if config.feature_matching and config.importance_weighted:
            raise UserInputError(
                "--config.feature_matching replaces the generator loss that "
                "--config.importance_weighted weights per example; choose one"
            )

    @classmethod
    def of(cls, config) -> FeatureMatching | None:
        return cls() if config.feature_matching else None

    @staticmethod
    def objective(discriminator_outputs, view) -> GeneratorObjective:
        """The generator's objective: ||E f(real) - E f(fake)||^2, D's `discriminator_outputs
        (nets, x, label) -> (logits, features)` reading both batches (as `view` shows them to
        D) in one call."""

        def feature_matching(nets, batch, generated):
            seen = view(nets, generated.x, "instance_noise_fake")
            real = view(nets, batch["x"], "instance_noise_real")
            label = generated.label
            both_labels = None if label is None else jnp.concatenate([label, label])
            _, features = discriminator_outputs(nets, jnp.concatenate([real, seen]), both_labels)
            loss = losses.feature_matching_generator_loss(
                jax.lax.stop_gradient(features[: len(real)]),
                features[len(real) :],
                batch_mean=nets.batch_mean,
            )
            return loss, {}

        return feature_matching


def su_regularizer_term(generated, snapshot, data_kind: str) -> jax.Array:
    """Su (2018, arXiv 1807.05936) eq. 26's ||G(z) - G_old(z)||^2 as a mean squared error:
    [batch] means over each example's units, images on the [-1, 1] scale (see the module
    docstring); `generated` and `snapshot` in data space."""
    difference = generated - snapshot
    if data_kind == "image":
        difference = 2.0 * difference  # (2a - 1) - (2b - 1)
    return jnp.mean(jnp.square(difference).reshape(len(difference), -1), axis=1)


@dataclasses.dataclass(frozen=True)
class SuRegularizer:
    """Su's pull of G towards the generator the step started from (see the module docstring)."""

    FIELDS = ("su_regularizer",)
    weight: float

    @staticmethod
    def check(config) -> None:
        common.check_positive("su_regularizer", config.su_regularizer, allow_zero=True)

    @classmethod
    def of(cls, config) -> SuRegularizer | None:
        return cls(config.su_regularizer) if config.su_regularizer else None

    def shadows(self) -> dict:
        """G_old: the shadow network `generator_old`, a copy of the generator at the start."""
        return {"generator_old": Shadow(of="generator")}

    def snapshot(self) -> ParamUpdate:
        """G_old <- G, placed after the generator phase: the snapshot the NEXT step's generator
        phase reads is the generator before that step's G update."""
        # A snapshot placed before the generator phase would copy the same values (the
        # discriminator phase leaves G alone), but would be an update that changes nothing in
        # the registry's contract test, which runs each phase from the initial state, where
        # the copy already holds them.
        return ParamUpdate(
            "snapshot",
            ("generator_old",),
            lambda nets, batch: ({"generator_old": nets.params("generator")}, {}),
        )

    def wrap(self, objective: GeneratorObjective, generate_from, data_kind: str):
        """`objective` + lambda * E_z[mean_j (G(z)_j - G_old(z)_j)^2], G_old on the same z;
        `generate_from(nets, network, z)` maps z through a generator to data space."""

        def regularised(nets, batch, generated):
            loss, metrics = objective(nets, batch, generated)
            snapshot = generate_from(nets, "generator_old", generated.z)
            regularizer = jnp.mean(su_regularizer_term(generated.x, snapshot, data_kind))
            metrics = {**metrics, "su_regularizer": regularizer}
            return loss + self.weight * regularizer, metrics

        return regularised


@dataclasses.dataclass(frozen=True)
class Consensus:
    """Consensus optimisation of both players' objectives (see the module docstring)."""

    FIELDS = ("consensus",)
    gamma: float

    @staticmethod
    def check(config) -> None:
        common.check_positive("consensus", config.consensus, allow_zero=True)

    @classmethod
    def of(cls, config) -> Consensus | None:
        return cls(config.consensus) if config.consensus else None


def with_consensus(objective, consensus: Consensus | None, players):
    """`objective` + gamma * R, R = 1/2 ||v||^2 of the game's gradient field at this phase's
    noise (Mescheder et al. 2017, Algorithm 1); `objective` itself without `consensus`.
    `players`: ((objective, network) of D, (objective, network) of G), each objective
    `(nets, batch) -> (loss, metrics)` without the regulariser."""
    if consensus is None:
        return objective

    def own_loss(player_objective, network, nets, batch):
        return lambda params: player_objective(nets.with_params({network: params}), batch)[0]

    def regularised(nets, batch):
        loss, metrics = objective(nets, batch)
        regularizer = losses.consensus_regularizer(
            tuple(own_loss(fn, network, nets, batch) for fn, network in players),
            tuple(nets.params(network) for _, network in players),
            reduce_gradients=nets.device_mean,
        )
        metrics = {**metrics, "consensus_regularizer": regularizer}
        return loss + consensus.gamma * regularizer, metrics

    # One name a phase: the phases' functions share this code, and tools that count traces
    # (chex.assert_max_traces in the contract test) tell functions by their name.
    regularised.__name__ = regularised.__qualname__ = f"{objective.__name__}_with_consensus"
    return regularised


# Every stabiliser, in the order GANConfig checks them.
STABILISERS = (ImportanceWeighting, SuRegularizer, FeatureMatching, InstanceNoise, Consensus)
