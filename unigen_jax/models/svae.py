"""SVAE: the semi-supervised VAE (Kingma et al. 2014, "M2"), and its adversary activated form
AA-SVAE (Hu et al. 2017).

Kingma, Rezende, Mohamed, Welling 2014, "Semi-supervised Learning with Deep Generative Models"
(arXiv 1406.5298), Section 3.1.2, eqs. 6-9; Hu et al. 2017, "On Unifying Deep Generative
Models" (arXiv 1706.00550), Section 5.2, Table 2 right and Figure 1 right.

Networks: the classifier q(y|x), the encoder q(z|x, y) (y one-hot: as channels of x for conv
nets, beside the flattened x for MLPs) and the
decoder p(x|y, z) (y one-hot beside z); priors p(y) = uniform over K classes, p(z) = N(0, I).

  labelled bound  B(x, y) = E_q(z|x,y)[log p(x|y, z)] + log p(y) - KL(q(z|x, y) || p(z))
                  = -L(x, y) of eq. 6, one reparameterised z
  unlabelled      -U(x) = sum_y q(y|x) B(x, y) + H(q(y|x))              (eq. 7,
                  `losses.unlabelled_bound`; the sum over y is exact: K decoder passes)
  objective       J^alpha = sum_labelled L(x, y) + sum_unlabelled U(x)
                            + alpha * E_labelled[-log q(y|x)]              (eq. 9)

Data: `labelled_fraction` of the training split, class-balanced and chosen by the run's seed,
is the labelled stream `batch["labelled"]`; the rest of the split is the run's own batch,
read without its labels (`Stream(exclusive=True)`). With `labelled_fraction=1` every example
is labelled and the run's own batch is the labelled one.

Normalisation: eq. 9 sums over N = N_l + N_u examples with Kingma's alpha = 0.1 N. Divided by
N, with batch means m_l, m_u over the two streams and f = labelled_fraction ~ N_l / N:

  loss = f m_l[L(x, y)] + (1 - f) m_u[U(x)] + alpha' m_l[-log q(y|x)],   alpha' = alpha / N

(`classification_weight` = alpha' = 0.1 by default, Kingma's choice).

AA-SVAE (`adversary_activated`, Hu et al. Section 5.2, as AA-VAE's eqs. 16-18 in
`unigen_jax.models.vae`): a discriminator D learns real x (the run's batch) against as many
generated x' = G(y', z'), y' uniform, z' ~ N(0, I) (its phase: the logistic loss). In the SVAE
phase every example's whole term (bound, and classification loss for labelled ones) is
weighted by w(x) = sigmoid(logit_D(x) / tau) (`temperature`), and the generated pairs
(x', y') join as labelled examples that carry the label they were generated from, so they train
the classifier too. x', y' and all weights are constants; x' is drawn from p(x|y', z') where
the data are binary (`generated_examples`, as in AA-VAE). The real data and the generated
batch are the two halves of the mixture, as in AA-VAE:

  loss = 1/2 [f m_l[w L] + (1 - f) m_u[w U] + alpha' m_l[w CE]]
       + 1/2 [m_g[w' L(x', y')] + alpha' m_g[w' CE(x', y')]]

With a perfect discriminator (w = 1 on real, 0 on generated) it is half the SVAE's loss.
`example_weights=equal` weighs every example 1/2 and builds no D (the control of AA-VAE's
`example_weights`). `classify_generations=False` drops m_g[w' CE(x', y')]: the generated
pairs then train the encoder and decoder only (a diagnostic; Hu et al. do not say whether
their labels train q(y|x), and they are wrong wherever the decoder does not tie y to the
digit).

Options (defaults: the plain objective above on grey x, the MLP nets' own layers):
`activation` and `init_stddev` set the MLPs' hidden nonlinearity and a N(0, s^2) kernel init;
`binarize` trains on x' ~ Bernoulli(x) drawn afresh each step (the classifier too);
`KINGMA_2014` holds the three as Kingma et al.'s code sets them. `shared_label_noise` draws
one eps per unlabelled x for all K labelled bounds (common random numbers, so that B(x, y)
differs over y only through y; Kingma et al. draw one per (x, y)). `labelled_bound_weight`
> 0 replaces f as the weight of m_l[L] (a departure from eq. 9, which gives each labelled
digit the weight of an unlabelled one).

The sanity baseline (`supervised_only`): the same classifier q(y|x) trained on the labelled
stream alone, by the mean cross-entropy m_l[-log q(y|x)]; no generative model, no unlabelled
data. A semi-supervised arm that does not beat it gains nothing from its unlabelled digits.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from unigen_jax import losses
from unigen_jax import nets as flax_nets
from unigen_jax.data import subsets
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.models.spec import ModelSpec, Phase, Stream
from unigen_jax.models.vae import (
    GENERATED_EXAMPLES,
    LIKELIHOODS,
    check_example_weights,
    decoder_log_likelihood,
    generated_example,
    has_discriminator,
    mixture_weights,
    resolve_generated_examples,
    resolve_likelihood,
)

# Kingma et al. 2014's M2 as their released code (github.com/dpkingma/nips14-ssl) builds it,
# beyond the shared hidden size, latent size, Adam settings and alpha: softplus hidden layers
# in all three MLPs (`anglepy/models/VAE_YZ_X.py`, `MLP_Categorical.py`), every weight drawn
# from N(0, 0.001^2) (`init_w(1e-3)`), and pixels binarised afresh for every minibatch
# (`gpulearn_yz_x.py`, M2 on MNIST pixels: `bernoulli_x`). For the MLP architecture.
KINGMA_2014 = {"activation": "softplus", "init_stddev": 0.001, "binarize": True}


@dataclasses.dataclass(frozen=True)
class SVAEConfig:
    """SVAE hyperparameters (Kingma et al. 2014: alpha = 0.1 N, 50 latent variables)."""

    labelled_fraction: float = 0.01
    classification_weight: float = 0.1
    latent_dim: int = 50
    likelihood: str = "auto"
    likelihood_scale: float = 0.1
    architecture: str = "auto"
    base_features: int = 32
    hidden_sizes: tuple[int, ...] = (500,)
    activation: str = "auto"
    init_stddev: float = 0.0
    binarize: bool = False
    shared_label_noise: bool = False
    labelled_bound_weight: float = 0.0
    learning_rate: float = 3e-4
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adversary_activated: bool = False
    temperature: float = 1.0
    generated_examples: str = "auto"
    example_weights: str = "discriminator"
    classify_generations: bool = True
    supervised_only: bool = False

    # A run stored before `generated_examples` existed showed D the generator's means.
    FORMERLY: ClassVar[dict] = {"generated_examples": "mean"}

    def __post_init__(self):
        if self.supervised_only and self.adversary_activated:
            raise UserInputError(
                "config.supervised_only trains the classifier alone: it has no generator for "
                "config.adversary_activated to weight; set one of them to false"
            )
        if not self.classify_generations and not self.adversary_activated:
            raise UserInputError(
                "config.classify_generations=false applies to the generated pairs of "
                "AA-SVAE only: use --model=aasvae (or config.adversary_activated=true)"
            )
        common.check_choice("likelihood", self.likelihood, LIKELIHOODS)
        common.check_choice("generated_examples", self.generated_examples, GENERATED_EXAMPLES)
        check_example_weights(self)
        common.check_choice("architecture", self.architecture, common.ARCHITECTURES)
        common.check_choice("activation", self.activation, ("auto", *flax_nets.ACTIVATIONS))
        common.check_positive("init_stddev", self.init_stddev, allow_zero=True)
        common.check_positive("labelled_bound_weight", self.labelled_bound_weight, allow_zero=True)
        for field in ("latent_dim", "base_features", "learning_rate", "likelihood_scale"):
            common.check_positive(field, getattr(self, field))
        common.check_positive("classification_weight", self.classification_weight, allow_zero=True)
        common.check_positive("temperature", self.temperature)
        subsets.check_fraction("config.labelled_fraction", self.labelled_fraction, allow_one=True)


def make_svae(
    config: SVAEConfig, data_info, *, axis_name: str | None = "data", name: str = "svae"
) -> ModelSpec:
    """An SVAE (or AA-SVAE) for labelled data described by `data_info`."""
    common.check_conditional(data_info)
    architecture = common.resolve_architecture(config.architecture, data_info.kind)
    likelihood = resolve_likelihood(config.likelihood, data_info.kind)
    log_likelihood = decoder_log_likelihood(likelihood, config.likelihood_scale, data_info.kind)
    num_classes, latent_dim = data_info.num_classes, config.latent_dim
    # `binarize` draws the bound's data, not what D sees (the raw batch): a draw is only
    # chosen where the data themselves are binary.
    generated_examples = resolve_generated_examples(
        config.generated_examples, likelihood, data_info, config.adversary_activated
    )
    fraction = config.labelled_fraction
    all_labelled = fraction == 1.0
    log_prior_y = -math.log(num_classes)
    bound_weight = config.labelled_bound_weight or fraction

    def encoder_input(x, label):
        """x with y: one-hot channels for a conv encoder, K more inputs for an MLP (which
        flattens x anyway, and would otherwise read K constant channels per pixel)."""
        if architecture == "mlp":
            x = x.reshape(x.shape[0], -1)
        return common.with_condition(x, label, num_classes)

    def encode(nets, x, label):
        """q(z|x, y)'s (mean, log_variance) for r n labels and x's n rows, r consecutive
        labels per example. The MLP encoder reads y beside x and computes x's first layer once
        per example (a 10th of its cost when U(x) enumerates every label)."""
        if architecture == "mlp":
            return nets("encoder", x, condition=common.one_hot(label, num_classes))
        repeats = label.shape[0] // x.shape[0]
        return nets("encoder", encoder_input(jnp.repeat(x, repeats, axis=0), label))

    def decode(nets, z, label):
        return nets("generator", jnp.concatenate([z, common.one_hot(label, num_classes)], -1))

    def labelled_bound(nets, x, label, eps):
        """B(x, y) per label, at z = mean + sigma * eps (eps [len(label), latent_dim]): r n
        labels for x's n rows, r consecutive labels per example."""
        mean, log_variance = encode(nets, x, label)
        z = mean + jnp.exp(0.5 * log_variance) * eps
        logits = decode(nets, z, label)
        # log p(x|y, z) of each of x's labels, x read by each label's row without copies of x.
        logits = logits.reshape(x.shape[0], -1, *logits.shape[1:])
        log_px = jax.vmap(log_likelihood, in_axes=(1, None), out_axes=1)(logits, x).reshape(-1)
        kl = losses.gaussian_kl_to_standard_normal(mean, log_variance)
        return losses.elbo(log_px, kl) + log_prior_y

    def classification_terms(nets, labelled):
        """(-log q(y|x), q's accuracy) per labelled example."""
        logits = nets("classifier", labelled["x"])
        label = labelled["label"][:, None].astype(jnp.int32)
        cross_entropy = -jnp.take_along_axis(jax.nn.log_softmax(logits), label, axis=-1)[:, 0]
        hits = (jnp.argmax(logits, -1) == labelled["label"]).astype(jnp.float32)
        return cross_entropy, hits

    def labelled_terms(nets, batch, tag):
        """(B(x, y), -log q(y|x), q's accuracy) per labelled example."""
        x, label = batch["x"], batch["label"]
        bound = labelled_bound(nets, x, label, nets.normal(tag, (latent_dim,)))
        return bound, *classification_terms(nets, batch)

    def unlabelled_terms(nets, x, tag):
        """-U(x) per example: the labelled bound for every label, summed under q(y|x); and
        the spread of B(x, y) over y (its standard deviation, per example): near 0 when the
        decoder ignores y, so that U's entropy term pulls q(y|x) towards uniform. With one eps
        per (x, y) (the default) it includes the one-sample bounds' Monte Carlo noise: about
        6 nats on MNIST with a decoder that ignores y (0.7 with `shared_label_noise`)."""
        n = x.shape[0]
        every_label = jnp.tile(jnp.arange(num_classes, dtype=jnp.int32), n)  # K labels per x
        if config.shared_label_noise:  # one eps per example, the same for every label
            eps = jnp.repeat(nets.normal(tag, (latent_dim,)), num_classes, axis=0)
        else:
            eps = nets.normal(tag, (num_classes, latent_dim)).reshape(n * num_classes, latent_dim)
        bounds = labelled_bound(nets, x, every_label, eps).reshape(n, num_classes)
        spread = jnp.std(jax.lax.stop_gradient(bounds), axis=-1)
        return losses.unlabelled_bound(nets("classifier", x), bounds), spread

    def labelled_batch(batch):
        return batch if all_labelled else batch["labelled"]

    def training_data(nets, batch):
        """The batch (and its labelled stream) as the phases train on it: with `binarize`,
        every pixel redrawn as a binary one, 1 with probability its grey level (Kingma et
        al.'s dynamic binarisation), fresh each step."""
        if not config.binarize:
            return batch

        def binarize(x, tag):
            return (nets.uniform(tag, x.shape[1:]) < x).astype(x.dtype)

        batch = {**batch, "x": binarize(batch["x"], "binarize")}
        if not all_labelled:
            labelled = batch["labelled"]
            batch["labelled"] = {**labelled, "x": binarize(labelled["x"], "binarize_labelled")}
        return batch

    def supervised_phase(nets, batch):
        """The baseline: m_l[-log q(y|x)] on the labelled stream alone."""
        cross_entropy, hits = classification_terms(nets, labelled_batch(training_data(nets, batch)))
        loss = jnp.mean(cross_entropy)
        return loss, {"loss": loss, "labelled_accuracy": jnp.mean(hits)}

    def real_objective(nets, batch, labelled_weights=1.0, unlabelled_weights=1.0):
        """f m_l[w (L + alpha' CE)] + (1 - f) m_u[w U] on the data, and metrics."""
        batch = training_data(nets, batch)
        labelled = labelled_batch(batch)
        bound, cross_entropy, hits = labelled_terms(nets, labelled, "labelled_eps")
        per_example = -bound_weight * bound + config.classification_weight * cross_entropy
        loss = jnp.mean(labelled_weights * per_example)
        metrics = {
            "labelled_bound": jnp.mean(bound),
            "classification_loss": jnp.mean(cross_entropy),
            "labelled_accuracy": jnp.mean(hits),
        }
        if not all_labelled:
            unlabelled, spread = unlabelled_terms(nets, batch["x"], "unlabelled_eps")
            loss += jnp.mean(unlabelled_weights * -(1.0 - fraction) * unlabelled)
            metrics["unlabelled_bound"] = jnp.mean(unlabelled)
            metrics["bound_spread_over_labels"] = jnp.mean(spread)
        return loss, metrics

    def svae_phase(nets, batch):
        """Eq. 9 per example of the data (see the normalisation in the module docstring)."""
        loss, metrics = real_objective(nets, batch)
        return loss, {"loss": loss, **metrics}

    def generated_batch(nets, tag):
        """As many (x', y') as the run's batch: y' uniform, z' ~ N(0, I), x' = G(y', z') or a
        draw from it (`generated_examples`)."""
        label = nets.categorical(f"{tag}_label", num_classes)
        z = nets.normal(f"{tag}_z", (latent_dim,))
        mean = common.to_data_space(decode(nets, z, label), data_info.kind)
        return {
            "x": generated_example(nets, f"{tag}_pixels", mean, generated_examples),
            "label": label,
        }

    def discriminator_phase(nets, batch):
        """Hu et al. eq. 18: D learns the data (the run's batch) against generated x'."""
        real_logits = nets("discriminator", batch["x"])[0]
        fake_logits = nets("discriminator", generated_batch(nets, "fake")["x"])[0]
        loss = jnp.mean(losses.minimax_discriminator_loss(real_logits, fake_logits))
        return loss, common.discriminator_metrics(loss, real_logits, fake_logits)

    def adversary_activated_phase(nets, batch):
        """Every example's term weighted by w(x) = sigmoid(logit_D(x) / tau) (or 1/2 each,
        `example_weights=equal`); generated pairs join as labelled data (module docstring)."""
        fake = jax.tree.map(jax.lax.stop_gradient, generated_batch(nets, "fake"))

        def weight(x):
            return mixture_weights(config, lambda inputs: nets("discriminator", inputs)[0], x)

        labelled_weights = weight(labelled_batch(batch)["x"])
        unlabelled_weights = labelled_weights if all_labelled else weight(batch["x"])
        real_loss, metrics = real_objective(nets, batch, labelled_weights, unlabelled_weights)
        fake_bound, fake_cross_entropy, _ = labelled_terms(nets, fake, "fake_eps")
        fake_weights = weight(fake["x"])
        fake_classification_weight = (
            config.classification_weight if config.classify_generations else 0.0
        )
        fake_loss = jnp.mean(
            fake_weights * (-fake_bound + fake_classification_weight * fake_cross_entropy)
        )
        loss = 0.5 * (real_loss + fake_loss)
        return loss, {
            "loss": loss,
            **metrics,
            "real_weight": jnp.mean(unlabelled_weights),
            "fake_weight": jnp.mean(fake_weights),
        }

    def sample(nets, conditions):
        label = common.sampling_labels(nets, conditions, num_classes)
        z = nets.normal("sample_z", (latent_dim,))
        return common.to_data_space(decode(nets, z, label), data_info.kind)

    def classify(nets, batch):
        return nets("classifier", batch["x"])

    def log_importance_weight(nets, batch):
        """log p(x, y, z) - log q(y, z|x) at y ~ q(y|x), z ~ q(z|x, y): its mean is the
        unlabelled bound -U(x) on log p(x) (eq. 7, sampled over y), so evaluation reports the
        test ELBO and the importance-weighted NLL of the SVAE as of a VAE."""
        x = batch["x"]
        log_q_y = jax.nn.log_softmax(classify(nets, batch), axis=-1)
        u = nets.uniform("eval_y", ())
        label = jnp.sum(jnp.cumsum(jnp.exp(log_q_y), -1) < u[:, None], -1)  # inverse CDF
        label = jnp.minimum(label, num_classes - 1)
        mean, log_variance = encode(nets, x, label)
        z = mean + jnp.exp(0.5 * log_variance) * nets.normal("eval_z", (latent_dim,))
        log_joint = (
            log_likelihood(decode(nets, z, label), x)
            + log_prior_y
            + losses.diagonal_gaussian_log_density(z, jnp.zeros_like(z), 0.0)
        )
        log_proposal = jnp.take_along_axis(log_q_y, label[:, None], -1)[:, 0]
        log_proposal += losses.diagonal_gaussian_log_density(z, mean, log_variance)
        return log_joint - log_proposal

    def reconstruct(nets, batch):
        """x -> G(y_hat, mean of q(z|x, y_hat)), y_hat the classifier's label."""
        label = jnp.argmax(classify(nets, batch), -1)
        mean, _ = encode(nets, batch["x"], label)
        return common.to_data_space(decode(nets, mean, label), data_info.kind)

    kernel_stddev = config.init_stddev or None
    mlp_kwargs = common.mlp_options(
        architecture,
        activation=None if config.activation == "auto" else config.activation,
        kernel_stddev=kernel_stddev,
    )
    shape_kwargs = dict(
        base_features=config.base_features, hidden_sizes=config.hidden_sizes, **mlp_kwargs
    )
    discriminator_kwargs = dict(normalization="batch", axis_name=axis_name, **shape_kwargs)
    networks = {
        "classifier": flax_nets.DiscriminatorClassifier(
            common.discriminator_net(architecture, **discriminator_kwargs),
            num_classes,
            kernel_stddev=kernel_stddev,
        ),
        **common.autoencoder_nets(
            architecture, latent_dim, data_info.shape, axis_name=axis_name, **shape_kwargs
        ),
    }
    init_args = {
        "classifier": common.data_input,
        "encoder": lambda batch: (encoder_input(batch["x"], batch["label"]),),
        "generator": common.latent_input(latent_dim + num_classes),
    }
    trained = ("classifier", "encoder", "generator")
    phases = (Phase("svae", trained, svae_phase),)
    sample_fn, generative_fns = (
        sample,
        dict(reconstruct_fn=reconstruct, log_importance_weight_fn=log_importance_weight),
    )
    if config.supervised_only:
        networks = {"classifier": networks["classifier"]}
        init_args = {"classifier": init_args["classifier"]}
        phases = (Phase("classifier", ("classifier",), supervised_phase),)
        sample_fn, generative_fns = None, {}
    if config.adversary_activated:
        phases = (Phase("svae", trained, adversary_activated_phase),)
    if has_discriminator(config):
        networks["discriminator"] = common.discriminator_net(architecture, **discriminator_kwargs)
        init_args["discriminator"] = common.data_input
        phases = (Phase("discriminator", ("discriminator",), discriminator_phase), *phases)
    streams = {}
    if not all_labelled:
        streams["labelled"] = Stream(
            select=functools.partial(_labelled_share, fraction=fraction), exclusive=True
        )
    return ModelSpec(
        name=name,
        config=dataclasses.replace(
            config, likelihood=likelihood, generated_examples=generated_examples
        ),
        networks=networks,
        init_args=init_args,
        optimizers={
            net: common.adam(config.learning_rate, config.adam_b1, config.adam_b2)
            for net in networks
        },
        phases=phases,
        sample_fn=sample_fn,
        streams=streams,
        conditions=("label",) if sample_fn else (),
        classify_fn=classify,
        **generative_fns,
    )


def _labelled_share(train_source, seed: int, *, fraction: float):
    """The labelled examples: a class-balanced share of the training split, drawn by seed."""
    return subsets.share(train_source, fraction, data_seed=seed)
