"""ADA: adversarial domain adaptation, a feature extractor that a domain discriminator cannot
tell the two domains apart by, with a label classifier trained on the labelled source domain.

Ganin et al. 2016, "Domain-Adversarial Training of Neural Networks" (JMLR, arXiv 1505.07818),
Algorithm 1; Hu et al. 2017 (arXiv 1706.00550), Section 3.1, eq. 1, which reads ADA as a
GAN-like game whose "generator" is the feature extractor x = G_theta(z) of an example z of
either domain, y = 1 for the source domain and y = 0 for the target, p(y) uniform::

  max_phi    L_phi   = E_{p_theta(x|y) p(y)}[log q_phi(y|x)]
  max_theta  L_theta = E_{p_theta(x|y) p(y)}[log q^r_phi(y|x)],   q^r(y|x) = q(1 - y|x)

plus, for theta, the classification loss of the labelled source examples. With D(x) =
q_phi(y = 1|x) = sigmoid(logit) and B source and B target examples a step (p(y) uniform: the
mean over the 2B examples)::

  phase 1, `domain` (D; features held constant), eq. 1 top:
    -L_phi   = 1/2 mean_src[softplus(-logit)] + 1/2 mean_tgt[softplus(logit)]
  phase 2, `features` (extractor and label classifier; D held constant), eq. 1 bottom in its
  non-saturating, flipped-label form (the domain labels reversed, not the loss negated as by
  Ganin et al.'s gradient reversal layer):
    CE(classifier(G(z_src)), y_src) + lambda_p * (1/2 mean_src[softplus(logit)]
                                                 + 1/2 mean_tgt[softplus(-logit)])

Adaptation weight (Ganin et al., Section 5.2): lambda_p = adaptation_weight *
(2 / (1 + exp(-gamma p)) - 1), gamma = 10, p = min(step / schedule_steps, 1) the training
progress. adaptation_weight = 0 trains the same networks on the source labels alone (the
"source only" baseline). Optimizer: Adam by default (every network, one learning rate), or
`optimizer="sgd"`: Ganin et al.'s SGD with momentum 0.9 and the annealed learning rate
mu_p = learning_rate / (1 + 10 p)^0.75 (with Ganin et al.'s mu_0 = 0.01).

Data: the run's dataset is the TARGET domain; its training images are read without their
labels (`batch["x"]` only). The SOURCE domain is the `Stream` "source": the training split of
`source_dataset`, labelled, resized to the target's image shape (`data.ResizedSource`), in
`batch["source"]`. `source_dataset="auto"` pairs the offline digits with each other (digits ->
mnist5k, mnist5k -> digits) and SVHN with MNIST (svhn_cropped -> mnist, Ganin et al.'s
Table 2 pair). ADA does not generate (`sample_fn` is None); `classify_fn` is the label
classifier on the extractor's features, so evaluation reports its accuracy on the target's
test split (`classification_accuracy`).

Networks (Ganin et al., Figure 4, MNIST): the extractor `nets.ConvFeatures` (conv 5x5 32,
pool, conv 5x5 48, pool, then Dense(latent_dim) + ReLU here) or, with `architecture="mlp"`, an
`nets.MLPFeatures`; the label classifier `nets.MLPClassifier` (100, 100); the domain
discriminator `nets.MLPDiscriminator` (100; LeakyReLU(0.2) where Ganin et al. use ReLU).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from unigen_jax import data, losses
from unigen_jax import nets as flax_nets
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.models.spec import ModelSpec, Phase, Stream

ARCHITECTURES = ("auto", "conv", "mlp")
OPTIMIZERS = ("adam", "sgd")
# The default source domain of each target (source_dataset="auto").
AUTO_SOURCES = {"mnist5k": "digits", "digits": "mnist5k", "mnist": "svhn_cropped"}
STREAM = "source"


@dataclasses.dataclass(frozen=True)
class ADAConfig:
    """ADA hyperparameters (Ganin et al. 2016: gamma 10, SGD momentum 0.9, mu_0 0.01; here Adam
    1e-3 by default).

    Attributes:
      source_dataset: the labelled source domain ("auto": see `AUTO_SOURCES`).
      source_data_dir: TFDS data directory of a TFDS source ("": TFDS's default).
      adaptation_weight: multiplies lambda_p; 0 is the source-only baseline.
      schedule_gamma: gamma of lambda_p = 2 / (1 + exp(-gamma p)) - 1.
      schedule_steps: steps over which the progress p runs from 0 to 1 (then stays at 1).
      latent_dim: the feature size.
      architecture: the extractor: "conv" (images; "auto" picks it) or "mlp".
      conv_channels: channels of the extractor's convs.
      hidden_sizes: hidden layers of the MLP extractor.
      classifier_hidden_sizes: hidden layers of the label classifier.
      discriminator_hidden_sizes: hidden layers of the domain discriminator.
      optimizer: "adam" or "sgd" (momentum 0.9, Ganin et al.'s annealed learning rate).
      learning_rate: of every network (mu_0 for "sgd").
    """

    source_dataset: str = "auto"
    source_data_dir: str = ""
    adaptation_weight: float = 1.0
    schedule_gamma: float = 10.0
    schedule_steps: int = 10000
    latent_dim: int = 128
    architecture: str = "auto"
    conv_channels: tuple[int, ...] = (32, 48)
    hidden_sizes: tuple[int, ...] = (256, 256)
    classifier_hidden_sizes: tuple[int, ...] = (100, 100)
    discriminator_hidden_sizes: tuple[int, ...] = (100,)
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    adam_b1: float = 0.9
    adam_b2: float = 0.999

    def __post_init__(self):
        common.check_choice("architecture", self.architecture, ARCHITECTURES)
        common.check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for field in ("latent_dim", "schedule_steps", "learning_rate", "schedule_gamma"):
            common.check_positive(field, getattr(self, field))
        common.check_positive("adaptation_weight", self.adaptation_weight, allow_zero=True)
        if not self.conv_channels:
            raise UserInputError("--config.conv_channels needs at least one conv")


def adaptation_schedule(step, *, schedule_steps: int, gamma: float = 10.0) -> jax.Array:
    """lambda_p = 2 / (1 + exp(-gamma p)) - 1 with p = min(step / schedule_steps, 1)
    (Ganin et al. 2016, arXiv 1505.07818, Section 5.2): 0 at the start, 1 - 2/(1 + e^gamma)
    at the end."""
    progress = jnp.minimum(jnp.asarray(step, jnp.float32) / schedule_steps, 1.0)
    return 2.0 / (1.0 + jnp.exp(-gamma * progress)) - 1.0


def annealed_learning_rate(learning_rate: float, schedule_steps: int):
    """mu_p = mu_0 / (1 + 10 p)^0.75, p = min(count / schedule_steps, 1) (Ganin et al. 2016,
    Section 5.2), as an optax schedule of the optimizer's update count."""

    def schedule(count):
        progress = jnp.minimum(jnp.asarray(count, jnp.float32) / schedule_steps, 1.0)
        return learning_rate / (1.0 + 10.0 * progress) ** 0.75

    return schedule


def domain_loss(source_logits: jax.Array, target_logits: jax.Array) -> jax.Array:
    """-L_phi of Hu et al. eq. 1 (p(y) uniform): the logistic loss of D with source labelled 1
    and target 0, the mean over both domains' examples (equal numbers of each)."""
    return 0.5 * jnp.mean(losses.minimax_discriminator_loss(source_logits, target_logits))


def reversed_domain_loss(source_logits: jax.Array, target_logits: jax.Array) -> jax.Array:
    """-L_theta of Hu et al. eq. 1: D's logistic loss with the domain labels reversed (source
    labelled 0, target 1): what the features minimise to make D call each domain the other."""
    return domain_loss(target_logits, source_logits)


def resolve_source(config: ADAConfig, target_info):
    """The source domain's training split resized to the target's images, or a one-line
    UserInputError saying what is wrong."""
    name = config.source_dataset
    if name == "auto":
        if target_info.name not in AUTO_SOURCES:
            raise UserInputError(
                f"ADA has no default source domain for target {target_info.name!r}; set "
                f"--config.source_dataset to a labelled image dataset (defaults exist for "
                f"{', '.join(AUTO_SOURCES)})"
            )
        name = AUTO_SOURCES[target_info.name]
    if name not in data.DATASETS:
        raise UserInputError(
            f"unknown --config.source_dataset {name!r}; choose one of: {', '.join(data.DATASETS)}"
        )
    if name == target_info.name:
        raise UserInputError(
            f"--config.source_dataset={name} is the target dataset itself; ADA needs another "
            "labelled domain (the target's labels are never read)"
        )
    if target_info.kind != "image":
        raise UserInputError(f"ADA needs image data; {target_info.name} is {target_info.kind}")
    source = data.get_source(name, "train", data_dir=config.source_data_dir or None)
    info = source.info
    if info.kind != "image" or info.num_classes < 2:
        raise UserInputError(
            f"--config.source_dataset={name} must be a labelled image dataset (it is "
            f"{info.kind} with {info.num_classes} classes)"
        )
    if target_info.num_classes and info.num_classes != target_info.num_classes:
        raise UserInputError(
            f"--config.source_dataset={name} has {info.num_classes} classes but the target "
            f"{target_info.name} has {target_info.num_classes}; choose a source with the same "
            "classes"
        )
    return data.ResizedSource(source, target_info.shape)


def make_ada(
    config: ADAConfig, data_info, *, axis_name: str | None = "data", name: str = "ada"
) -> ModelSpec:
    """ADA with `data_info`'s dataset as the target domain (see the module docstring)."""
    source = resolve_source(config, data_info)
    num_classes = source.info.num_classes
    architecture = "conv" if config.architecture == "auto" else config.architecture

    def features_of(nets, x):
        return nets("extractor", x)

    def domain_logits(nets, source_features, batch):
        """D's logits of "source" on the source and the target examples' features."""
        source_logits, _ = nets("domain", source_features)
        target_logits, _ = nets("domain", features_of(nets, batch["x"]))
        return source_logits, target_logits

    def domain_accuracy(source_logits, target_logits):
        hits = jnp.concatenate([source_logits > 0, target_logits <= 0])
        return jnp.mean(hits.astype(jnp.float32))

    def domain_phase(nets, batch):
        """Eq. 1 top: D learns to tell the source (1) from the target (0) features."""
        source_features = features_of(nets, batch[STREAM]["x"])
        source_logits, target_logits = domain_logits(nets, source_features, batch)
        loss = domain_loss(source_logits, target_logits)
        return loss, {
            "domain_loss": loss,
            "domain_accuracy": domain_accuracy(source_logits, target_logits),
        }

    def features_phase(nets, batch):
        """Eq. 1 bottom (flipped labels) plus the source classification loss."""
        labelled = batch[STREAM]
        source_features = features_of(nets, labelled["x"])
        class_logits = nets("classifier", source_features)
        classification = jnp.mean(
            optax.softmax_cross_entropy_with_integer_labels(class_logits, labelled["label"])
        )
        source_logits, target_logits = domain_logits(nets, source_features, batch)
        confusion = reversed_domain_loss(source_logits, target_logits)
        weight = config.adaptation_weight * adaptation_schedule(
            nets.step, schedule_steps=config.schedule_steps, gamma=config.schedule_gamma
        )
        hits = jnp.argmax(class_logits, axis=-1) == labelled["label"]
        return classification + weight * confusion, {
            "classification_loss": classification,
            "source_accuracy": jnp.mean(hits.astype(jnp.float32)),
            "confusion_loss": confusion,
            "adaptation_weight": weight,
        }

    def classify(nets, batch):
        return nets("classifier", features_of(nets, batch["x"]))

    if architecture == "conv":
        extractor = flax_nets.ConvFeatures(
            features=config.latent_dim, channels=tuple(config.conv_channels)
        )
    else:
        extractor = flax_nets.MLPFeatures(
            features=config.latent_dim, hidden=tuple(config.hidden_sizes)
        )

    def features_input(batch):
        return (jnp.zeros((batch["x"].shape[0], config.latent_dim), jnp.float32),)

    if config.optimizer == "sgd":
        rate = annealed_learning_rate(config.learning_rate, config.schedule_steps)
        optimizer = optax.sgd(rate, momentum=0.9)
    else:
        optimizer = common.adam(config.learning_rate, config.adam_b1, config.adam_b2)

    return ModelSpec(
        name=name,
        config=config,
        networks={
            "extractor": extractor,
            "classifier": flax_nets.MLPClassifier(
                num_classes=num_classes, hidden=tuple(config.classifier_hidden_sizes)
            ),
            "domain": flax_nets.MLPDiscriminator(hidden=tuple(config.discriminator_hidden_sizes)),
        },
        init_args={
            "extractor": common.data_input,
            "classifier": features_input,
            "domain": features_input,
        },
        optimizers={"extractor": optimizer, "classifier": optimizer, "domain": optimizer},
        phases=(
            Phase("domain", ("domain",), domain_phase),
            Phase("features", ("extractor", "classifier"), features_phase),
        ),
        sample_fn=None,
        streams={STREAM: Stream(select=lambda train_source, seed: source)},
        classify_fn=classify,
    )
