"""AGE: adversarial generator-encoder networks, a game between an encoder E onto the unit
sphere and a generator G, played on the statistics of the codes, with no discriminator.

Ulyanov, Vedaldi, Lempitsky 2017, "It Takes (Only) Two: Adversarial Generator-Encoder
Networks" (arXiv 1704.02304), eqs. 2-3 (the game: max_E min_G of
Delta(E(G(z)) || prior) - Delta(E(x) || prior)) with their reconstruction terms; one of Rosca
et al. 2017's baselines (arXiv 1706.04987, Section 5 and Appendix H). Latent space: the unit
sphere S^{M-1} of R^M; prior z uniform on it (a normal draw divided by its norm); E's output is
divided by its norm. Delta is the empirical KL (`losses.empirical_gaussian_kl`): the Gaussian
fitted dimension by dimension to the minibatch codes (moments of the GLOBAL batch) against
N(0, 1), divided by M, as in the authors' code (its default `KL=qp`, `criterion=param`)::

  E (maximises the game):  KL_emp(E(x)) - KL_emp(E(G(z))) + mu * |x - G(E(x))|_1
  G (minimises it):        KL_emp(E(G(z))) + lam * (1 - cos(z, E(G(z)))) / M

`|.|_1` is the mean absolute error over the data's elements, batch-averaged. The code
reconstruction divides the cosine distance by M because the authors' code averages the products
of the two normalised codes over the code's elements (2 - mean_j z_j e_j), so their weight
keeps its meaning here.

Update ratio and weights (the authors' code and README, github.com/DmitryUlyanov/AGE, for
CIFAR-10, Tiny ImageNet and their default): E once, then G twice per step (`generator_steps`
= 2; 3 for CelebA), each G step with fresh z; E: KL weights 1 and 1, data reconstruction
mu = 10 on their [-1, 1] pixels, which is `data_reconstruction_weight` = 20 on this
repository's [0, 1] pixels (the same term: differences double on [-1, 1]); G: KL weight 1,
code reconstruction lam = 1000 (2000 for Tiny ImageNet); Adam with learning rate 2e-4 and beta1
0.5, batch 64. Rosca et al. sweep the data reconstruction weight over {100, 500, 1000, 2000}
and keep the code reconstruction at 10 (their Appendix H). Left out: the authors decay the
learning rate by 0.96 every few epochs and adapt weights during training; as in Rosca et al.,
the rate here is fixed.

Divergence from the authors' code: their KL treats the sample variance v_j as if it were a
standard deviation ((v_j^2 + m_j^2) / 2 - log v_j - 1/2); this module uses the Gaussian KL of
the fitted N(m_j, v_j) written in the paper and in Rosca et al. eq. 18,
(v_j + m_j^2 - 1 - log v_j) / 2. Uniform codes on the sphere have v_j = 1/M, so even the
prior's own codes sit at KL_emp = (1/M - 1 + log M) / 2, not 0; the game only compares the two.

Paper scale: DCGAN networks, 64 (CelebA) or 128 (CIFAR-10) latent dimensions, 150 epochs on
CIFAR-10; cpu scale: a few thousand steps of batch 64 on `mnist5k`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.models.alpha_gan import l1_reconstruction
from unigen_jax.models.spec import ModelSpec, Phase


@dataclasses.dataclass(frozen=True)
class AGEConfig:
    """AGE hyperparameters (Ulyanov et al. 2017, the authors' CIFAR-10 settings)."""

    latent_dim: int = 64
    generator_steps: int = 2
    real_kl_weight: float = 1.0
    fake_kl_weight: float = 1.0
    data_reconstruction_weight: float = 20.0
    generator_kl_weight: float = 1.0
    code_reconstruction_weight: float = 1000.0
    architecture: str = "auto"
    base_features: int = 64
    hidden_sizes: tuple[int, ...] = (128, 128)
    learning_rate: float = 2e-4
    adam_b1: float = 0.5
    adam_b2: float = 0.999

    def __post_init__(self):
        common.check_choice("architecture", self.architecture, common.ARCHITECTURES)
        for field in ("latent_dim", "base_features", "learning_rate", "generator_steps"):
            common.check_positive(field, getattr(self, field))
        if self.latent_dim < 2:
            raise UserInputError(
                f"--config.latent_dim must be >= 2 for codes on a sphere, got {self.latent_dim}"
            )
        for field in (
            "real_kl_weight",
            "fake_kl_weight",
            "data_reconstruction_weight",
            "generator_kl_weight",
            "code_reconstruction_weight",
        ):
            common.check_positive(field, getattr(self, field), allow_zero=True)


def to_sphere(v: jax.Array) -> jax.Array:
    """v / ||v|| along the last axis (a zero vector stays zero)."""
    norm = jnp.sqrt(jnp.sum(jnp.square(v), axis=-1, keepdims=True))
    return v / jnp.maximum(norm, 1e-12)


def cosine_distance(a: jax.Array, b: jax.Array) -> jax.Array:
    """[batch] 1 - cos(a, b) along the last axis."""
    return 1.0 - jnp.sum(to_sphere(a) * to_sphere(b), axis=-1)


def make_age(
    config: AGEConfig, data_info, *, axis_name: str | None = "data", name: str = "age"
) -> ModelSpec:
    """An AGE for data described by `data_info` (a `unigen_jax.data.DatasetInfo`)."""
    architecture = common.resolve_architecture(config.architecture, data_info.kind)
    latent = config.latent_dim

    def encode(nets, x):
        """E(x) on the unit sphere (the encoder's mean head, normalised)."""
        return to_sphere(nets("encoder", x)[0])

    def decode(nets, z):
        return common.to_data_space(nets("generator", z), data_info.kind)

    def prior(nets, tag):
        """z uniform on the unit sphere."""
        return to_sphere(nets.normal(tag, (latent,)))

    def kl(nets, codes):
        return losses.empirical_gaussian_kl(codes, batch_mean=nets.batch_mean)

    def encoder_phase(nets, batch):
        """E: KL_emp(E(x)) - KL_emp(E(G(z))) + mu |x - G(E(x))|_1 (G constant)."""
        x = batch["x"]
        # Fake codes first: E's running BatchNorm statistics then end on real data.
        fake_codes = encode(nets, decode(nets, prior(nets, "z")))
        real_codes = encode(nets, x)
        kl_real, kl_fake = kl(nets, real_codes), kl(nets, fake_codes)
        reconstruction = l1_reconstruction(x, decode(nets, real_codes))
        loss = (
            config.real_kl_weight * kl_real
            - config.fake_kl_weight * kl_fake
            + config.data_reconstruction_weight * reconstruction
        )
        return loss, {
            "encoder_loss": loss,
            "kl_real": kl_real,
            "kl_fake": kl_fake,
            "reconstruction_l1": reconstruction,
        }

    def generator_phase(nets, batch):
        """G: KL_emp(E(G(z))) + lam (1 - cos(z, E(G(z)))) / M (E constant)."""
        del batch
        z = prior(nets, "z")
        fake_codes = encode(nets, decode(nets, z))
        kl_fake = kl(nets, fake_codes)
        code_reconstruction = jnp.mean(cosine_distance(z, fake_codes)) / latent
        loss = (
            config.generator_kl_weight * kl_fake
            + config.code_reconstruction_weight * code_reconstruction
        )
        return loss, {
            "generator_loss": loss,
            "generator_kl_fake": kl_fake,
            "code_cosine_distance": code_reconstruction * latent,
        }

    def sample(nets, conditions):
        del conditions
        return decode(nets, prior(nets, "sample_z"))

    def reconstruct(nets, batch):
        return decode(nets, encode(nets, batch["x"]))

    shape_kwargs = dict(base_features=config.base_features, hidden_sizes=config.hidden_sizes)
    adam = common.adam(config.learning_rate, config.adam_b1, config.adam_b2)
    return ModelSpec(
        name=name,
        config=config,
        networks={
            **common.autoencoder_nets(
                architecture, latent, data_info.shape, axis_name=axis_name, **shape_kwargs
            ),
        },
        init_args={"encoder": common.data_input, "generator": common.latent_input(latent)},
        optimizers={"encoder": adam, "generator": adam},
        phases=(
            Phase("encoder", ("encoder",), encoder_phase),
            Phase("generator", ("generator",), generator_phase, repeats=config.generator_steps),
        ),
        sample_fn=sample,
        reconstruct_fn=reconstruct,
        code_fn=lambda nets, batch: encode(nets, batch["x"]),
    )
