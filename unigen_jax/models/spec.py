"""A model is data: its networks, their optimizers, and an ordered list of update phases.

The training engine (`unigen_jax.train.step`) compiles the phases of a `ModelSpec` into one
step. Adding a model family means writing a new `ModelSpec` factory, never a new engine::

  GAN:        Phase('discriminator', trains=('discriminator',)), Phase('generator', ...)
  VAE:        Phase('vae', trains=('encoder', 'generator'))
  WGAN-GP:    Phase('discriminator', ..., repeats=5, fresh_batches=True), Phase('generator')
  WGAN:       ... Phase('discriminator', ..., project=clip_to(0.01)) ...
  EMA G:      ..., Phase('generator', ...), ParamUpdate('generator_ema', ...) with a Shadow
  alpha-GAN:  Phase('encoder_generator', ..., repeats=2), Phase('discriminators', ...)
  VAE/GAN:    Phase(..., trains=('encoder', 'generator', 'discriminator')) whose loss_fn
              returns {network: its own loss}: one forward pass, three objectives
  Su's G_old: ParamUpdate('snapshot', writes=('generator_old',)), Phase('generator', ...)

What a model can do beyond training is declared by its optional functions (`conditions`,
`encode_fn`, `reconstruct_fn`, `code_fn`, `log_likelihood_fn`, `log_importance_weight_fn`,
`classify_fn`;
a `sample_fn` of None for a model that does not generate); evaluation picks its metrics from
them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import optax

from unigen_jax.models.networks import Networks

Batch = Mapping[str, Any]
# loss_fn(nets, batch) -> (scalar loss to minimise, {metric name: scalar}), or
# ({network: its own scalar loss} for every network the phase trains, {metric name: scalar}).
LossFn = Callable[
    [Networks, Batch], tuple[jax.Array | Mapping[str, jax.Array], dict[str, jax.Array]]
]
# update_fn(nets, batch) -> ({network: new params}, {metric name: scalar}).
UpdateFn = Callable[[Networks, Batch], tuple[dict[str, Any], dict[str, jax.Array]]]
# sample_fn(nets, conditions) -> nets.batch_size samples in data space (images in [0, 1]);
# `conditions` holds one array [nets.batch_size] per name in ModelSpec.conditions ({} if none).
SampleFn = Callable[[Networks, Mapping[str, jax.Array]], jax.Array]
# reconstruct_fn(nets, x) -> reconstructions of x in data space.
ReconstructFn = Callable[[Networks, jax.Array], jax.Array]
# encode_fn(nets, x) -> (mean, log variance) of a Gaussian q(z|x), each [batch, latent].
EncodeFn = Callable[[Networks, jax.Array], tuple[jax.Array, jax.Array]]
# code_fn(nets, batch) -> the encoder's code of each example [batch, latent]: a deterministic
# encoder's output (alpha-GAN, AGE), or the mean head of an encoder in a model without a
# likelihood (AAE, ALI); for a model with `encode_fn`, that Gaussian's mean serves.
CodeFn = Callable[[Networks, Batch], jax.Array]
# log_likelihood_fn(nets, x, z) -> log p(x|z) per example [batch].
LogLikelihoodFn = Callable[[Networks, jax.Array, jax.Array], jax.Array]
# log_importance_weight_fn(nets, batch) -> [batch] log p(x, h) - log q(h|x) at one h ~ q(h|x)
# drawn with the handle's noise (a model whose q is not Gaussian: wake-sleep's recognition net).
LogImportanceWeightFn = Callable[[Networks, Batch], jax.Array]
# classify_fn(nets, batch) -> class logits [batch, K] of the model's own classifier of x
# (SVAE's q(y|x), ADA's label classifier, InfoGAN's Q on the categorical code).
ClassifyFn = Callable[[Networks, Batch], jax.Array]


@dataclasses.dataclass(frozen=True)
class Phase:
    """One gradient update of some networks, on one loss or on one loss each.

    A phase runs its loss function once (one forward pass of the networks it calls), then
    updates every network it trains at once, from the same params. Its loss function returns
    either one scalar, which every trained network descends, or a dict {network: loss} with
    an entry for each trained network: each network then descends its OWN loss, all from the
    one forward pass (Larsen et al. 2016, arXiv 1512.09300, Algorithm 1: encoder, decoder and
    discriminator of a VAE/GAN updated on three objectives from one computation; Dumoulin et
    al. 2016, arXiv 1606.00704, Algorithm 1: ALI's discriminator and generator likewise).
    Networks given the same loss object (`{"encoder": l, "generator": l}`) share one backward
    pass. How the engine differentiates each network's own loss: `unigen_jax.train.step`.

    Updating several networks from one forward pass is a simultaneous (Jacobi) update; as
    separate phases (`sequential_phases`), each network's step sees the networks before it
    already updated (Gauss-Seidel), at the cost of a forward pass each.

    Attributes:
      name: used in error messages and metric names.
      trains: the networks whose params this phase differentiates and updates. Every other
        network is called with its params held constant (stop-gradient) in this phase.
      loss_fn: `(nets, batch) -> (loss, metrics)`; `loss` is the mean over this device's
        examples (or a dict of such means, one a trained network), the engine averages
        gradients across devices.
      repeats: how many consecutive updates this phase makes per step (each with fresh noise).
      fresh_batches: each repeat reads a real batch of its own (repeat r the step's r-th batch),
        as in Gulrajani et al. (2017), Algorithm 1; otherwise every repeat reads the first.
      project: applied to the params of every network this phase trains after each of its
        updates (projected gradient descent: WGAN's weight clipping), or None.

    Examples:
      WGAN-GP's critic phase: five updates a step, each on a real batch of its own, the
      generator held constant while the critic trains:

      >>> import jax.numpy as jnp
      >>> from unigen_jax import losses
      >>> from unigen_jax.models.spec import Phase
      >>> def critic_loss(nets, batch):
      ...     fake = nets("generator", nets.normal("z", (8,)))
      ...     real_scores, _ = nets("discriminator", batch["x"])
      ...     fake_scores, _ = nets("discriminator", fake)
      ...     loss = losses.wasserstein_discriminator_loss(real_scores, fake_scores)
      ...     return jnp.mean(loss), {"critic_loss": jnp.mean(loss)}
      >>> critic = Phase("critic", trains=("discriminator",), loss_fn=critic_loss, repeats=5,
      ...                fresh_batches=True)
      >>> critic.repeats, critic.trains
      (5, ('discriminator',))
      >>> Phase("idle", trains=(), loss_fn=critic_loss)
      Traceback (most recent call last):
      ...
      ValueError: phase 'idle' trains no network
    """

    name: str
    trains: tuple[str, ...]
    loss_fn: LossFn
    repeats: int = 1
    fresh_batches: bool = False
    project: Callable[[Any], Any] | None = None

    def __post_init__(self):
        if not self.trains:
            raise ValueError(f"phase {self.name!r} trains no network")
        if self.repeats < 1:
            raise ValueError(f"phase {self.name!r} has repeats={self.repeats}; it must be >= 1")


def sequential_phases(
    phase: Phase, groups: tuple[tuple[str, ...], ...] | None = None
) -> tuple[Phase, ...]:
    """A phase with one loss a network, as consecutive phases: one for each group of networks
    (by default each network of `phase.trains` alone, in that order), each a gradient step on
    its group's own loss, which sees the params the phases before it updated (Gauss-Seidel).
    A group's networks must share one loss object. Each sub-phase, named by its networks
    joined with "_", runs the whole forward pass and reports all of `phase`'s metrics.
    The schedule `phase` replaces, kept for comparisons."""
    groups = groups if groups is not None else tuple((net,) for net in phase.trains)
    if sorted(net for group in groups for net in group) != sorted(phase.trains):
        raise ValueError(f"groups {groups} do not partition phase {phase.name!r}'s networks")

    def group_loss(group):
        def loss_fn(nets, batch):
            objectives, metrics = phase.loss_fn(nets, batch)
            loss = objectives[group[0]]
            if any(objectives[net] is not loss for net in group):
                raise ValueError(f"networks {group} of phase {phase.name!r} have different losses")
            return loss, metrics

        return loss_fn

    return tuple(
        dataclasses.replace(phase, name="_".join(group), trains=group, loss_fn=group_loss(group))
        for group in groups
    )


@dataclasses.dataclass(frozen=True)
class ParamUpdate:
    """An update that is not a gradient step: new params computed from the current ones.

    Copying or averaging params (a snapshot, an exponential moving average) or assigning
    closed-form values (EM's M-step). `update_fn(nets, batch)` reads any network's params with
    `nets.params(name)` (and may apply networks and draw noise, like a loss) and returns the
    new params of the networks in `writes`. A shadow network written here takes its source's
    BatchNorm statistics at the same time.

    Examples:
      An exponential moving average of the generator's params, with decay 0.9: from 0 towards
      a generator param of 1, one update moves the average to 0.1:

      >>> import jax, jax.numpy as jnp
      >>> from unigen_jax.models.networks import Networks
      >>> from unigen_jax.models.spec import ParamUpdate
      >>> def ema(nets, batch):
      ...     average = jax.tree.map(lambda a, p: 0.9 * a + 0.1 * p,
      ...                            nets.params("generator_ema"), nets.params("generator"))
      ...     return {"generator_ema": average}, {}
      >>> update = ParamUpdate("ema", writes=("generator_ema",), update_fn=ema)
      >>> params = {"generator": {"w": jnp.array(1.0)}, "generator_ema": {"w": jnp.array(0.0)}}
      >>> nets = Networks({}, params, {}, train=False, key=jax.random.PRNGKey(0), batch_size=1)
      >>> new_params, metrics = update.update_fn(nets, {})
      >>> print(new_params["generator_ema"]["w"])
      0.1
    """

    name: str
    writes: tuple[str, ...]
    update_fn: UpdateFn

    def __post_init__(self):
        if not self.writes:
            raise ValueError(f"update {self.name!r} writes no network")


@dataclasses.dataclass(frozen=True)
class Shadow:
    """A network holding a copy of another one's params, updated without gradients.

    Attributes:
      of: the network whose module it applies and whose params it starts from.
      replaces_in_sampling: samples and evaluation use this copy in place of `of` (an EMA
        generator); otherwise it is only read by phases (Su's snapshot G_old).

    Examples:
      The EMA generator, which samples in place of the trained one (its `ModelSpec` then
      lists a `ParamUpdate` that writes it), and Su's snapshot, which only phases read:

      >>> from unigen_jax.models.spec import Shadow
      >>> shadows = {"generator_ema": Shadow(of="generator", replaces_in_sampling=True),
      ...            "generator_old": Shadow(of="generator")}
      >>> shadows["generator_old"].replaces_in_sampling
      False
    """

    of: str
    replaces_in_sampling: bool = False


@dataclasses.dataclass(frozen=True)
class Stream:
    """A second source of real batches read in the same step (ADA's target domain, SVAE's
    labelled subset), next to the run's dataset. Phases see it as `batch[name]`; reduce over
    it with `nets.batch_mean` / `batch_sum` (global over devices). Noise draws
    (`nets.normal`, ...) are per example of the run's own batch.

    Attributes:
      select: `(train_source, seed) -> Source` of this stream's examples.
      batch_size: its global batch size (None: the run's --batch_size).
      exclusive: the stream's examples are taken out of the run's dataset, which keeps the
        rest (SVAE: the labelled share, and the rest as unlabelled data). `select` must then
        return a subset of the train source (`unigen_jax.data.subsets.share`).

    Examples:
      SVAE's labelled share: a tenth of the training split, class-balanced, in batches of 16
      that phases read as `batch["labelled"]`, and taken out of the unlabelled data:

      >>> import numpy as np
      >>> from unigen_jax.data import ArraySource, DatasetInfo, share
      >>> from unigen_jax.models.spec import Stream
      >>> labelled = Stream(select=lambda source, seed: share(source, 0.1, data_seed=seed),
      ...                   batch_size=16, exclusive=True)
      >>> info = DatasetInfo(name="toy", kind="vector", shape=(2,), num_classes=2,
      ...                    num_examples=100)
      >>> train_source = ArraySource(info, np.zeros((100, 2)), np.arange(100) % 2)
      >>> len(labelled.select(train_source, 0))
      10
    """

    select: Callable[[Any, int], Any]
    batch_size: int | None = None
    exclusive: bool = False


@dataclasses.dataclass(frozen=True)
class SampleGrid:
    """An extra sample grid the training loop writes beside the main one (image data), as
    `samples/step_NNNNNN_<name>.png`: e.g. one code swept along each row while the noise and
    the other codes stay fixed (Chen et al. 2016, arXiv 1606.03657, Figure 2).

    Attributes:
      conditions: the `sample_fn` conditions of the grid's samples, in row-major order, each
        an array with one entry a sample (may hold keys beyond `ModelSpec.conditions`, which a
        model's `sample_fn` reads when present, like InfoGAN's "continuous").
      columns: samples a row.
      noise: int [samples]: the example index whose noise each sample draws (samples given one
        index share their noise, as `Networks(noise_indices=...)`); None: each its own.
    """

    conditions: Mapping[str, Any]
    columns: int
    noise: Any = None

    @property
    def num_samples(self) -> int:
        sizes = {len(v) for v in self.conditions.values()}
        if self.noise is not None:
            sizes.add(len(self.noise))
        return sizes.pop() if len(sizes) == 1 else -1


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything the engine needs to train a model.

    Attributes:
      name: the registry name (`gan`, `vae`, ...).
      config: the resolved hyperparameters (a frozen dataclass), recorded in config.json.
      networks: Flax modules by name. They take a keyword-only `train` argument.
      init_args: for each network, `example_batch -> positional args` used to initialise it.
      optimizers: one optax transformation per trained network.
      phases: the updates, in order: `Phase` (gradient steps) and `ParamUpdate`.
      sample_fn: draws samples for the sample grids and for evaluation; None for a model
        that does not generate data (ADA), which then has neither grids nor sample metrics.
      shadows: {name: Shadow}: copies of networks that no optimizer trains.
      streams: {name: Stream}: real batches beside the run's dataset, in `batch[name]`.
      conditions: the conditions `sample_fn` takes (("label",) for class-conditional models).
      reconstruct_fn: for models with an encoder, reconstructs data; None otherwise.
      encode_fn: for models with a Gaussian encoder, q(z|x)'s mean and log variance.
      code_fn: for models with an encoder but no `encode_fn`, the encoder's codes;
        evaluation reports their statistics (`code_statistics`), from `encode_fn`'s mean
        where there is no `code_fn`.
      log_likelihood_fn: for models with an explicit likelihood, log p(x|z); with `encode_fn`
        and the prior N(0, I) it defines the test ELBO and the importance-weighted NLL.
      log_importance_weight_fn: for models with any explicit joint p(x, h) and proposal
        q(h|x), the log importance weight of one h ~ q(h|x) drawn with the handle's noise; it
        defines the test ELBO (one sample) and the importance-weighted NLL (k samples).
      classify_fn: for models with a classifier of x, its class logits; evaluation reports
        its test accuracy (`classification_accuracy`).
      sample_grids: {name: SampleGrid}: grids the training loop writes beside the main one
        (InfoGAN's sweep of each continuous code); names of lowercase letters, digits, "_".

    Examples:
      The smallest model: one learned value fitted to the data by least squares. One SGD
      step of rate 1/2 on the mean squared error 1/N sum_i (v - x_i)^2, whose gradient is
      2 (v - mean(x)), takes v from 0 to the data's mean, 3:

      >>> import flax.linen as nn, jax.numpy as jnp, optax
      >>> from unigen_jax.models.spec import ModelSpec, Phase
      >>> from unigen_jax.train import create_train_state, make_mesh, make_train_step, shard_batch
      >>> class Constant(nn.Module):
      ...     @nn.compact
      ...     def __call__(self, x, *, train):
      ...         return jnp.broadcast_to(self.param("v", nn.initializers.zeros, ()), x.shape)
      >>> def least_squares(nets, batch):
      ...     loss = jnp.mean((nets("estimate", batch["x"]) - batch["x"]) ** 2)
      ...     return loss, {"squared_error": loss}
      >>> model = ModelSpec(
      ...     name="mean",
      ...     config=None,
      ...     networks={"estimate": Constant()},
      ...     init_args={"estimate": lambda batch: (batch["x"],)},
      ...     optimizers={"estimate": optax.sgd(0.5)},
      ...     phases=(Phase("fit", trains=("estimate",), loss_fn=least_squares),),
      ...     sample_fn=None,
      ... )
      >>> batch = {"x": jnp.array([1.0, 2.0, 3.0, 6.0]), "label": jnp.zeros(4, jnp.int32)}
      >>> state = create_train_state(model, batch, seed=0)
      >>> mesh = make_mesh(1)
      >>> step = make_train_step(model, mesh)
      >>> state, metrics = step(state, shard_batch(batch, mesh))
      >>> print(metrics["squared_error"])  # at v = 0: (1 + 4 + 9 + 36) / 4
      12.5
      >>> print(state.params["estimate"]["v"])
      3.0

      A spec is checked when it is built:

      >>> ModelSpec(name="mean", config=None, networks={"estimate": Constant()},
      ...           init_args={"estimate": lambda batch: (batch["x"],)}, optimizers={},
      ...           phases=(Phase("fit", trains=("estimate",), loss_fn=least_squares),),
      ...           sample_fn=None)
      Traceback (most recent call last):
      ...
      ValueError: network 'estimate' is trained but has no optimizer
    """

    name: str
    config: Any
    networks: Mapping[str, nn.Module]
    init_args: Mapping[str, Callable[[Mapping[str, jax.Array]], tuple]]
    optimizers: Mapping[str, optax.GradientTransformation]
    phases: tuple[Phase | ParamUpdate, ...]
    sample_fn: SampleFn | None
    shadows: Mapping[str, Shadow] = dataclasses.field(default_factory=dict)
    streams: Mapping[str, Stream] = dataclasses.field(default_factory=dict)
    conditions: tuple[str, ...] = ()
    reconstruct_fn: ReconstructFn | None = None
    encode_fn: EncodeFn | None = None
    code_fn: CodeFn | None = None
    log_likelihood_fn: LogLikelihoodFn | None = None
    log_importance_weight_fn: LogImportanceWeightFn | None = None
    classify_fn: ClassifyFn | None = None
    sample_grids: Mapping[str, SampleGrid] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for name, grid in self.sample_grids.items():
            if not name or not all(c.islower() or c.isdigit() or c == "_" for c in name):
                raise ValueError(f"sample grid name {name!r}: use lowercase letters, digits, _")
            if name == "reconstructions" or self.sample_fn is None:
                raise ValueError(f"sample grid {name!r}: reserved name or a model without samples")
            n = grid.num_samples
            if n <= 0 or grid.columns <= 0 or n % grid.columns:
                raise ValueError(
                    f"sample grid {name!r}: its conditions and noise must hold one entry a "
                    f"sample, a whole number of rows of {grid.columns}"
                )
        for name, shadow in self.shadows.items():
            if name in self.networks or shadow.of not in self.networks:
                raise ValueError(f"shadow {name!r} must be a new name copying a network")
        for phase in self.phases:
            if isinstance(phase, ParamUpdate):
                for net in phase.writes:
                    if net not in self.networks and net not in self.shadows:
                        raise ValueError(f"update {phase.name!r} writes unknown network {net!r}")
                continue
            for net in phase.trains:
                if net not in self.networks:
                    raise ValueError(f"phase {phase.name!r} trains unknown network {net!r}")
                if net not in self.optimizers:
                    raise ValueError(f"network {net!r} is trained but has no optimizer")
        missing = set(self.networks) - set(self.init_args)
        if missing:
            raise ValueError(f"networks without init_args: {sorted(missing)}")
        if set(self.streams) & {"x", "label"}:
            raise ValueError("streams may not be named like batch fields ('x', 'label')")

    @property
    def batches_per_step(self) -> int:
        """The number of real batches of each stream a step reads (the most repeats of a
        fresh-batch phase)."""
        fresh = [p.repeats for p in self.phases if isinstance(p, Phase) and p.fresh_batches]
        return max(fresh, default=1)

    @property
    def shadow_sources(self) -> dict[str, str]:
        """The network whose module each shadow applies, by shadow name."""
        return {name: shadow.of for name, shadow in self.shadows.items()}

    def inference_networks(
        self, params, batch_stats, *, key, batch_size: int, noise_indices=None
    ) -> Networks:
        """The handle that samples, reconstructs and evaluates (BatchNorm in inference mode);
        a shadow that replaces its source in sampling (an EMA generator) stands in for it.
        `noise_indices`: see `Networks` (a `SampleGrid`'s shared noise)."""
        params, batch_stats = dict(params), dict(batch_stats)
        for name, shadow in self.shadows.items():
            if shadow.replaces_in_sampling:
                params[shadow.of], batch_stats[shadow.of] = params[name], batch_stats[name]
        return Networks(
            self.networks,
            params,
            batch_stats,
            train=False,
            key=key,
            batch_size=batch_size,
            shadows=self.shadow_sources,
            noise_indices=noise_indices,
        )
