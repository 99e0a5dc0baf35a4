"""InfoGAN: a GAN whose generator input carries structured codes that a head Q on the
discriminator's trunk must recover from the generated samples.

Chen et al. 2016, "InfoGAN" (arXiv 1606.03657), eqs. 1 and 6, in the non-saturating form of
their code; Hu et al. 2017 (arXiv 1706.00550), eq. 5, which reads the mutual-information term
as reconstructing the code c from x with q_eta(c|x) (the "inverted" view of a VAE's
reconstruction of x from z)::

  G's input: (z, c), z ~ N(0, I_latent_dim) noise (`noise="uniform"`: z_i ~ Uniform[-1, 1], as
    in Chen et al.'s code); c = (k, u): one categorical code
    k ~ Uniform{0, ..., K-1} (one-hot) and C continuous codes u_j ~ Uniform[-1, 1].
  L_I(G, Q) = E_{c, x = G(z, c)}[log Q(c|x)] + H(c)     (eq. 4-5 of Chen et al., a lower
    bound on I(c; G(z, c)); H(c) is a constant and is dropped)
  -L_I per example (`losses.infogan_mutual_information_penalty`):
    lambda_cat * CE(Q_cat(x), k) + lambda_cont * sum_j -log N(u_j; m_j(x), s_j(x)^2)
  D and Q: min  E_x[softplus(-D(x))] + E_{z,c}[softplus(D(G(z, c)))] - L_I
  G and Q: min  E_{z,c}[softplus(-D(G(z, c)))] - L_I
  (`q_in_generator_phase=False`: G alone in the second phase, Q held constant there.)

Both phases draw fresh (z, c). Q is `nets.InfoGANQHead` on D's features (the discriminator
network returns (logits, features)), so in the D phase -L_I shapes D's trunk as well, and in
the G phase its gradient flows through the (constant) trunk into G. By default Q is updated in
both phases, with the discriminator's learning rate. In Chen et al.'s released code (its
trainer) the penalty enters both losses, D's optimizer updates D's and Q's variables (Q's
layers are in D's variable scope) and G's optimizer G's alone: `q_in_generator_phase=False`.
D sees the real and the generated batch in two separate calls (BatchNorm statistics of each
batch on its own), as their code does.

`infogan_chen` (registry preset `CHEN_MNIST`) is their released MNIST experiment:
`architecture="chen_mnist"` (`nets.InfoGANMNISTGenerator`, `InfoGANMNISTDiscriminator`,
`InfoGANMNISTQHead`: the FC-1024 and BatchNorm layers, LeakyReLU 0.01, D reading [0, 1]),
uniform noise, Q trained with D only; batch 128 and 50 epochs of 100 updates (5,000 steps) are
the run's settings. The GAN losses are the softplus forms of their -log(sigmoid + 1e-8)
(equal unless a logit passes about 18 in size).

Hyperparameters (Chen et al. Appendix C, MNIST): 62 noise variables, one 10-way categorical
code, 2 continuous codes, lambda = 1 for both; Adam with beta1 0.5, learning rate 2e-4 for D
(and Q) and 1e-3 for G; the continuous codes' Q has a fixed unit standard deviation in their
code (`learn_continuous_std=False`; True learns Q's log std from the head).
Noise and Q's phases default to this library's original choices (normal noise, Q in both
phases), so the `infogan` runs and studies made before stay reproducible; `infogan_chen` sets
Chen et al.'s.

Sampling: the categorical code is the sampling condition "label" (`ModelSpec.conditions`), so
sample grids have one row per code value and `experiments.evaluate` reports the
"conditional accuracy" of the classifier's labels against the code values. InfoGAN learns the
code without labels, so which value lands on which digit is arbitrary: that accuracy matches
value k to digit k and can be low for a perfectly disentangled code; the fair measure is its
"matched" figure, the accuracy under the best one-to-one matching of code values to digits
(Chen et al. report about 5% error on MNIST). `classify_fn` is Q's categorical head on real
data, so evaluation also reports `classification_accuracy`: the code Q infers for real test
digits against their labels, identity and matched. A label outside [0, K) is taken modulo K.
The continuous codes are drawn uniformly unless `conditions["continuous"]` [batch, C] gives
them (a sweep of one code).

Sample grids (Chen et al. Figure 2): the main grid has one row per categorical value (Figure 2a,
transposed); `sample_grids` adds one grid per continuous code u_j, `sweep_u<j>` (j from 1;
Chen et al.'s c2, c3 on MNIST): row k holds code value k (or, without a categorical code, one
of 8 noise draws) with its own fixed noise z, the other continuous codes at 0, and u_j going
from -2 to 2 in 9 columns, beyond the prior's [-1, 1] as in Chen et al. (Figure 2c-d).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from unigen_jax import losses
from unigen_jax import nets as flax_nets
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.models.spec import ModelSpec, Phase, SampleGrid
from unigen_jax.nets.dcgan import NORMALIZATIONS

SWEEP_RANGE = 2.0  # Chen et al. 2016, Figure 2c-d: "varying c2 from -2 to 2"
SWEEP_COLUMNS = 9  # -2, -1.5, ..., 2
SWEEP_ROWS = 8  # rows of a sweep grid without a categorical code (one noise draw each)
MAX_SWEEP_ROWS = 16
CHEN_ARCHITECTURE = common.CHEN_MNIST
ARCHITECTURES = common.GAN_ARCHITECTURES
# Chen et al.'s released MNIST experiment (launchers/run_mnist_exp.py, infogan_trainer.py):
# their nets, Uniform(62) noise, Q updated by D's optimizer only. The other settings are the
# config's defaults (62 noise variables, a 10-way and 2 continuous codes with Q's unit std,
# lambda 1, Adam beta1 0.5, D 2e-4, G 1e-3).
CHEN_MNIST = {
    "architecture": CHEN_ARCHITECTURE,
    "noise": "uniform",
    "q_in_generator_phase": False,
}


def sweep_grids(num_values: int, num_continuous: int) -> dict[str, SampleGrid]:
    """{`sweep_u<j>`: SampleGrid}: each continuous code u_j swept over [-2, 2] along the
    columns; rows are the categorical values (or noise draws), each with its own fixed noise,
    the other continuous codes at 0 (Chen et al. 2016, Figure 2c-d)."""
    rows = min(num_values, MAX_SWEEP_ROWS) if num_values else SWEEP_ROWS
    sweep = np.linspace(-SWEEP_RANGE, SWEEP_RANGE, SWEEP_COLUMNS, dtype=np.float32)
    grids = {}
    for j in range(num_continuous):
        continuous = np.zeros((rows, SWEEP_COLUMNS, num_continuous), np.float32)
        continuous[:, :, j] = sweep
        conditions = {"continuous": continuous.reshape(rows * SWEEP_COLUMNS, num_continuous)}
        if num_values:
            conditions["label"] = np.repeat(np.arange(rows, dtype=np.int32), SWEEP_COLUMNS)
        grids[f"sweep_u{j + 1}"] = SampleGrid(
            conditions=conditions,
            columns=SWEEP_COLUMNS,
            noise=np.repeat(np.arange(rows, dtype=np.int32), SWEEP_COLUMNS),
        )
    return grids


@dataclasses.dataclass(frozen=True)
class InfoGANConfig:
    """InfoGAN hyperparameters (Chen et al. 2016, Appendix C, MNIST: 62 noise variables, a
    10-way code, 2 continuous codes, lambda 1, Adam beta1 0.5, D 2e-4, G 1e-3).

    `architecture="chen_mnist"` reads `base_features` and `q_hidden_sizes`; its FC layers have
    1024 units and its D BatchNorm (`hidden_sizes` unused, `discriminator_norm` "batch")."""

    latent_dim: int = 62
    categorical_dim: int = 10
    continuous_dim: int = 2
    categorical_weight: float = 1.0
    continuous_weight: float = 1.0
    learn_continuous_std: bool = False
    q_hidden_sizes: tuple[int, ...] = (128,)
    architecture: str = "auto"
    base_features: int = 64
    hidden_sizes: tuple[int, ...] = (128, 128)
    generator_lr: float = 1e-3
    discriminator_lr: float = 2e-4
    adam_b1: float = 0.5
    adam_b2: float = 0.999
    discriminator_norm: str = "batch"
    noise: str = "normal"
    q_in_generator_phase: bool = True

    def __post_init__(self):
        common.check_choice("architecture", self.architecture, ARCHITECTURES)
        common.check_choice("noise", self.noise, common.NOISES)
        common.check_choice("discriminator_norm", self.discriminator_norm, NORMALIZATIONS)
        for field in ("latent_dim", "base_features", "generator_lr", "discriminator_lr"):
            common.check_positive(field, getattr(self, field))
        for field in (
            "categorical_dim",
            "continuous_dim",
            "categorical_weight",
            "continuous_weight",
        ):
            common.check_positive(field, getattr(self, field), allow_zero=True)
        if self.categorical_dim == 1:
            raise UserInputError(
                "--config.categorical_dim must be 0 (no categorical code) or >= 2, got 1"
            )
        if not (self.categorical_dim or self.continuous_dim):
            raise UserInputError(
                "InfoGAN needs a code: set --config.categorical_dim or --config.continuous_dim "
                "above 0"
            )


def make_infogan(
    config: InfoGANConfig, data_info, *, axis_name: str | None = "data", name: str = "infogan"
) -> ModelSpec:
    """An InfoGAN for data described by `data_info` (a `unigen_jax.data.DatasetInfo`)."""
    num_values, num_continuous = config.categorical_dim, config.continuous_dim

    def draw_codes(nets, prefix=""):
        """c = (k [batch] or None, u [batch, C] or None), drawn from the code prior p(c)."""
        value = nets.categorical(f"{prefix}code", num_values) if num_values else None
        continuous = None
        if num_continuous:
            continuous = 2.0 * nets.uniform(f"{prefix}continuous", (num_continuous,)) - 1.0
        return value, continuous

    def draw_noise(nets, tag):
        """z [batch, latent_dim]: N(0, I), or Uniform[-1, 1] in each variable."""
        return common.draw_noise(nets, tag, config.latent_dim, config.noise)

    def generate(nets, z, value, continuous):
        parts = [z]
        if num_values:
            parts.append(common.one_hot(value, num_values))
        if num_continuous:
            parts.append(continuous)
        return common.to_data_space(nets("generator", jnp.concatenate(parts, -1)), data_info.kind)

    def information_penalty(nets, features, value, continuous):
        """Per-example -L_I (Chen et al. eq. 5 up to H(c)) and Q's accuracy on k."""
        categorical_logits, mean, log_std = nets("q_head", features)
        if not config.learn_continuous_std:
            log_std = jnp.zeros_like(mean)
        penalty = losses.infogan_mutual_information_penalty(
            categorical_logits if num_values else None,
            value,
            mean if num_continuous else None,
            log_std if num_continuous else None,
            continuous,
            categorical_weight=config.categorical_weight,
            continuous_weight=config.continuous_weight,
        )
        metrics = {"information_penalty": jnp.mean(penalty)}
        if num_values:
            hits = jnp.argmax(categorical_logits, axis=-1) == value
            metrics["q_code_accuracy"] = jnp.mean(hits.astype(jnp.float32))
        return penalty, metrics

    def discriminator_phase(nets, batch):
        """D and Q: min E[softplus(-D(x))] + E[softplus(D(G(z, c)))] - L_I."""
        value, continuous = draw_codes(nets)
        fake = generate(nets, draw_noise(nets, "z"), value, continuous)
        real_logits, _ = nets("discriminator", batch["x"])
        fake_logits, fake_features = nets("discriminator", fake)
        gan_loss = jnp.mean(losses.modified_discriminator_loss(real_logits, fake_logits))
        penalty, metrics = information_penalty(nets, fake_features, value, continuous)
        loss = gan_loss + jnp.mean(penalty)
        return loss, {**common.discriminator_metrics(gan_loss, real_logits, fake_logits), **metrics}

    def generator_phase(nets, batch):
        """G (and Q): min E[softplus(-D(G(z, c)))] - L_I (non-saturating)."""
        del batch
        value, continuous = draw_codes(nets)
        fake = generate(nets, draw_noise(nets, "z"), value, continuous)
        fake_logits, fake_features = nets("discriminator", fake)
        gan_loss = jnp.mean(losses.modified_generator_loss(fake_logits))
        penalty, metrics = information_penalty(nets, fake_features, value, continuous)
        return gan_loss + jnp.mean(penalty), {"generator_loss": gan_loss, **metrics}

    generator, discriminator, q_head = _networks(config, data_info, axis_name)

    def q_head_input(batch):
        """init_args of Q: zeros shaped like D's features on the example batch."""

        def features(x):
            variables = discriminator.init(jax.random.PRNGKey(0), x, train=False)
            return discriminator.apply(variables, x, train=False)[1]

        shape = jax.eval_shape(features, batch["x"])
        return (jnp.zeros(shape.shape, shape.dtype),)

    def sample(nets, conditions):
        z = draw_noise(nets, "sample_z")
        value = continuous = None
        if num_values:
            label = conditions.get("label")
            if label is None:
                value = nets.categorical("sample_code", num_values)
            else:
                value = jnp.asarray(label, jnp.int32) % num_values
        if num_continuous:
            continuous = conditions.get("continuous")
            if continuous is None:
                continuous = 2.0 * nets.uniform("sample_continuous", (num_continuous,)) - 1.0
            continuous = jnp.asarray(continuous, jnp.float32)
        return generate(nets, z, value, continuous)

    def infer_code(nets, batch):
        """Q's logits of the categorical code for data x: the code's "classification" of real
        digits (Chen et al. 2016, Section 7.2), scored up to a permutation of the values."""
        _, features = nets("discriminator", batch["x"])
        return nets("q_head", features)[0]

    code_size = config.latent_dim + num_values + num_continuous

    def adam(learning_rate):
        return common.adam(learning_rate, config.adam_b1, config.adam_b2)

    return ModelSpec(
        name=name,
        config=config,
        networks={
            "generator": generator,
            "discriminator": discriminator,
            "q_head": q_head,
        },
        init_args={
            "generator": common.latent_input(code_size),
            "discriminator": common.data_input,
            "q_head": q_head_input,
        },
        optimizers={
            "generator": adam(config.generator_lr),
            "discriminator": adam(config.discriminator_lr),
            "q_head": adam(config.discriminator_lr),
        },
        phases=(
            Phase("discriminator", ("discriminator", "q_head"), discriminator_phase),
            Phase(
                "generator",
                ("generator", "q_head") if config.q_in_generator_phase else ("generator",),
                generator_phase,
            ),
        ),
        sample_fn=sample,
        conditions=("label",) if num_values else (),
        classify_fn=infer_code if num_values else None,
        sample_grids=sweep_grids(num_values, num_continuous),
    )


def _networks(config: InfoGANConfig, data_info, axis_name):
    """(generator, discriminator, Q head) of the configured architecture: Chen et al.'s MNIST
    nets come with their Q head (`InfoGANMNISTQHead`, BatchNorm), the others with an MLP one."""
    heads = dict(categorical_dim=config.categorical_dim, continuous_dim=config.continuous_dim)
    q_hidden = tuple(config.q_hidden_sizes)
    architecture = common.resolve_architecture(config.architecture, data_info.kind)
    q_head = (
        flax_nets.InfoGANMNISTQHead if architecture == CHEN_ARCHITECTURE else flax_nets.InfoGANQHead
    )
    shape_kwargs = dict(base_features=config.base_features, hidden_sizes=config.hidden_sizes)
    return (
        common.generator_net(architecture, data_info.shape, axis_name=axis_name, **shape_kwargs),
        common.discriminator_net(
            architecture,
            normalization=config.discriminator_norm,
            axis_name=axis_name,
            **shape_kwargs,
        ),
        q_head(**heads, hidden=q_hidden, axis_name=axis_name),
    )
