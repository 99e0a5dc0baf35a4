"""EM for a Gaussian mixture: a model with no neural network and no gradient step.

Su 2018 (arXiv 1807.05936, eqs. 8-11) derives EM as variational inference with the model
q(x, z) = q(z) q(x|z), here K Gaussians (z = k the component, q(k) = pi_k,
q(x|k) = N(mu_k, Sigma_k)), and p(x, z) = p~(x) p(z|x), alternately optimised::

  E step, eq. 11:  p(k|x_i) = q(x_i|k) q(k) / sum_j q(x_i|j) q(j) =: r_ik  (responsibilities)
  M step, eq. 8:   q = argmax_q sum_i sum_k r_ik log q(x_i, k), in closed form for Gaussians
                   (Bishop 2006, "Pattern Recognition and Machine Learning", eqs. 9.24-9.27):
    N_k = sum_i r_ik,   pi_k = N_k / N,   mu_k = (1 / N_k) sum_i r_ik x_i,
    Sigma_k = (1 / N_k) sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T + reg_covar I
  (`covariance=diagonal`: the diagonal of Sigma_k only). N_k gets 10 machine epsilons, as in
  scikit-learn's GaussianMixture, so that a component no example claims stays finite.

A training step is one EM iteration, the E step and then the M step, on the step's batch; the
sums run over the GLOBAL batch (`nets.batch_sum`), so 1 and 2 devices agree. This is exact
(full-batch) EM when `--batch_size` is the number of training examples: every step then reads
the whole data set and the data log-likelihood never decreases (Dempster, Laird, Rubin 1977).
A smaller batch makes each step the EM iteration of that batch alone (the mixture moves from
batch to batch); online EM (Cappe & Moulines 2009), which averages the sufficient statistics
over batches, is not implemented.

`init`, at step 0 from the first global batch: the means by k-means++ seeding (`kmeans++`, the
default; Arthur & Vassilvitskii 2007, the seeding of scikit-learn's default k-means start,
without its Lloyd iterations) or K distinct examples drawn uniformly (`data`: scikit-learn's
'random_from_data'; with fewer examples than K, some repeat); every covariance the batch's
covariance (or its diagonal) + reg_covar; uniform weights. `init=random`: the module's
initial params (means from N(0, I), unit covariances).

Metrics: `log_likelihood`, the mean over the batch of log q(x_i) = log sum_k q(x_i, k) at the
params the step starts from (the E step's by-product). The model's samples are ancestral
(k ~ pi, then x ~ N(mu_k, Sigma_k)); its log importance weight log q(x, k) - p(k|x) is log q(x)
for every k (the E step's posterior is exact), so evaluation's NLL is the exact one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from unigen_jax.models import common
from unigen_jax.models.spec import ModelSpec, ParamUpdate
from unigen_jax.nets.mixture import COVARIANCES, GaussianMixture

INITS = ("kmeans++", "data", "random")
DEFAULT_COMPONENTS = 8  # for data without a known number of modes


@dataclasses.dataclass(frozen=True)
class EMConfig:
    """EM for a Gaussian mixture: hyperparameters (no optimizer: the updates are closed form).

    num_components: K; 0 for the data set's number of classes (its modes: 8 on ring8, 25 on
    grid25), or 8 for unlabelled data. covariance: 'full', 'diagonal', or 'auto': full for
    vectors, diagonal for images (a full covariance of 784 pixels is 307k numbers a component,
    nearly singular, and its Cholesky factor the step's whole cost). reg_covar: added to every
    covariance's diagonal (scikit-learn's default 1e-6).
    """

    num_components: int = 0
    covariance: str = "auto"
    init: str = "kmeans++"
    reg_covar: float = 1e-6

    def __post_init__(self):
        common.check_choice("covariance", self.covariance, ("auto", *COVARIANCES))
        common.check_choice("init", self.init, INITS)
        common.check_positive("num_components", self.num_components, allow_zero=True)
        common.check_positive("reg_covar", self.reg_covar, allow_zero=True)


def e_step(log_joint: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Su 2018, eq. 11: the posterior over components from the log joint densities.

    Args:
      log_joint: [batch, K] log q(x_i, k) = log pi_k + log N(x_i; mu_k, Sigma_k).

    Returns:
      (responsibilities r_ik = p(k|x_i) [batch, K], each row summing to 1;
       log q(x_i) = log sum_k q(x_i, k) [batch]).
    """
    log_px = logsumexp(log_joint, axis=1)
    return jnp.exp(log_joint - log_px[:, None]), log_px


def _sum_over_batch(x: jax.Array) -> jax.Array:
    return jnp.sum(x, axis=0)


def m_step(
    x: jax.Array,
    responsibilities: jax.Array,
    *,
    covariance: str = "full",
    reg_covar: float = 1e-6,
    batch_sum: Callable[[jax.Array], jax.Array] | None = None,
) -> dict[str, jax.Array]:
    """Su 2018, eq. 8, in closed form: the mixture maximising sum_i sum_k r_ik log q(x_i, k).

    Objective: pi_k = N_k / N, mu_k = sum_i r_ik x_i / N_k,
      Sigma_k = sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T / N_k + reg_covar I (diagonal: its
      diagonal), with N_k = sum_i r_ik + 10 eps (Bishop 2006, eqs. 9.24-9.27).

    Args:
      x: [batch, D] data.
      responsibilities: [batch, K] r_ik.
      covariance: 'full' or 'diagonal'.
      reg_covar: added to the covariances' diagonal.
      batch_sum: the sum over the batch, `x[batch, ...] -> [...]` (default: over axis 0).
        Inside a data-parallel step pass `nets.batch_sum`: the GLOBAL batch's statistics.

    Returns:
      {"weights": [K], "means": [K, D], "covariances": [K, D, D] or [K, D]}.
    """
    total = _sum_over_batch if batch_sum is None else batch_sum
    eps = 10.0 * jnp.finfo(x.dtype).eps
    counts = total(responsibilities) + eps  # N_k
    num_examples = total(jnp.ones((x.shape[0],), x.dtype))
    # A sum over the batch of per-device sums: [1, ...] so that `total` sums its only row.
    means = total(jnp.einsum("bk,bd->kd", responsibilities, x)[None]) / counts[:, None]
    diff = x[:, None, :] - means[None]  # [batch, K, D]
    if covariance == "diagonal":
        scatter = total(jnp.einsum("bk,bkd->kd", responsibilities, jnp.square(diff))[None])
        covariances = scatter / counts[:, None] + reg_covar
    else:
        scatter = total(jnp.einsum("bk,bkd,bke->kde", responsibilities, diff, diff)[None])
        eye = jnp.eye(x.shape[1], dtype=x.dtype)
        covariances = scatter / counts[:, None, None] + reg_covar * eye
    return {"weights": counts / num_examples, "means": means, "covariances": covariances}


def make_em_gmm(
    config: EMConfig, data_info, *, axis_name: str | None = "data", name: str = "em_gmm"
) -> ModelSpec:
    """EM for a mixture of Gaussians on data described by `data_info` (images flattened)."""
    del axis_name  # no BatchNorm; the reductions go through the Networks handle
    num_components = config.num_components or data_info.num_classes or DEFAULT_COMPONENTS
    if config.covariance == "auto":
        config = dataclasses.replace(
            config, covariance="diagonal" if data_info.kind == "image" else "full"
        )
    dim = math.prod(data_info.shape)
    mixture = GaussianMixture(num_components, dim, covariance=config.covariance)

    def flat(x):
        return x.reshape(x.shape[0], -1).astype(jnp.float32)

    def rows_at(nets, x, positions):
        """The global batch's rows at `positions` [K], each from the device holding it."""
        picks = (nets.example_indices()[:, None] == positions[None]).astype(x.dtype)  # [b, K]
        return nets.batch_sum(picks[:, :, None] * x[:, None, :])

    def random_examples(nets, x):
        """K distinct examples of the global batch, uniformly (fewer than K: some repeat)."""
        n = nets.global_batch_size()
        chosen = jax.random.permutation(nets.key("initial_means"), n)
        return rows_at(nets, x, chosen[jnp.arange(num_components) % n])

    def kmeans_plus_plus(nets, x):
        """k-means++ seeding (Arthur & Vassilvitskii 2007): the first mean a uniformly drawn
        example, each next one an example drawn with probability d_i^2 / sum_j d_j^2, d_i the
        distance to the nearest mean so far; drawn over the GLOBAL batch by the Gumbel-max
        trick, argmax_i (log d_i^2 + g_i), g_i ~ Gumbel(0, 1)."""
        u = nets.uniform("initial_means", (num_components,))  # [b, K], one column a draw
        gumbel = -jnp.log(-jnp.log(u))

        def draw(log_weights):  # the global position of the Gumbel-max example
            return jnp.argmax(nets.batch_gather(log_weights))[None]

        def next_mean(k, carry):
            means, squared_distance = carry
            # log 0 = -inf: an example already chosen is never drawn again.
            mean = rows_at(nets, x, draw(jnp.log(squared_distance) + gumbel[:, k]))[0]
            squared_distance = jnp.minimum(squared_distance, jnp.sum(jnp.square(x - mean), axis=-1))
            return means.at[k].set(mean), squared_distance

        first = rows_at(nets, x, draw(gumbel[:, 0]))[0]
        means = jnp.zeros((num_components, dim), x.dtype).at[0].set(first)
        squared_distance = jnp.sum(jnp.square(x - first), axis=-1)
        means, _ = jax.lax.fori_loop(1, num_components, next_mean, (means, squared_distance))
        return means

    def initial_mixture(nets, x):
        """The means of `init`, every covariance the batch's own, uniform weights."""
        means = (kmeans_plus_plus if config.init == "kmeans++" else random_examples)(nets, x)
        centre = nets.batch_mean(x)
        if config.covariance == "diagonal":
            spread = nets.batch_mean(jnp.square(x - centre)) + config.reg_covar
            covariances = jnp.broadcast_to(spread, (num_components, dim))
        else:
            centred = x - centre
            spread = nets.batch_mean(centred[:, :, None] * centred[:, None, :])
            spread = spread + config.reg_covar * jnp.eye(dim, dtype=x.dtype)
            covariances = jnp.broadcast_to(spread, (num_components, dim, dim))
        return {
            "weights": jnp.full((num_components,), 1.0 / num_components, x.dtype),
            "means": means,
            "covariances": covariances,
        }

    def initialise(nets, batch):
        """Step 0 only: the initial mixture from the step's batch (see the module docstring);
        afterwards the params are kept (and nothing of this is computed)."""
        x = flat(batch["x"])
        current = nets.params("mixture")
        new = jax.lax.cond(nets.step == 0, lambda: initial_mixture(nets, x), lambda: dict(current))
        return {"mixture": new}, {}

    def em_iteration(nets, batch):
        """Eq. 11 (E step) at the current params, then eq. 8 (M step) in closed form."""
        x = flat(batch["x"])
        responsibilities, log_px = e_step(nets("mixture", x))
        new = m_step(
            x,
            responsibilities,
            covariance=config.covariance,
            reg_covar=config.reg_covar,
            batch_sum=nets.batch_sum,
        )
        return {"mixture": new}, {"log_likelihood": nets.batch_mean(log_px)}

    def sample(nets, conditions):
        """Ancestral samples: k ~ pi, then x ~ N(mu_k, Sigma_k)."""
        del conditions
        params = nets.params("mixture")
        u = nets.uniform("component", ())
        cdf = jnp.cumsum(params["weights"]) / jnp.sum(params["weights"])
        k = jnp.minimum(jnp.sum(u[:, None] >= cdf[None], axis=1), num_components - 1)
        eps = nets.normal("sample_eps", (dim,))
        if config.covariance == "diagonal":
            x = params["means"][k] + jnp.sqrt(params["covariances"][k]) * eps
        else:
            lower = jnp.linalg.cholesky(params["covariances"])[k]
            x = params["means"][k] + jnp.einsum("bde,be->bd", lower, eps)
        x = x.reshape(x.shape[0], *data_info.shape)
        return jnp.clip(x, 0.0, 1.0) if data_info.kind == "image" else x

    def log_importance_weight(nets, batch):
        """log q(x, k) - log p(k|x) = log q(x) for every k: the exact posterior's weight."""
        return e_step(nets("mixture", flat(batch["x"])))[1]

    phases = (ParamUpdate("em_iteration", ("mixture",), em_iteration),)
    if config.init != "random":
        phases = (ParamUpdate("initialise", ("mixture",), initialise), *phases)
    return ModelSpec(
        name=name,
        config=dataclasses.replace(config, num_components=num_components),
        networks={"mixture": mixture},
        init_args={"mixture": common.data_input},
        optimizers={},
        phases=phases,
        sample_fn=sample,
        log_importance_weight_fn=log_importance_weight,
    )
