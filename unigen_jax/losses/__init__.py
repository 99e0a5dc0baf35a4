"""Loss functions of GANs, VAEs and their hybrids: pure functions on arrays.

No Flax and no state: `from unigen_jax import losses` imports only JAX. Every function is safe
under `jit`, `vmap` and `grad`, keeps the floating dtype of its data (bfloat16 in, bfloat16
out) and returns per-example values of shape [batch] that the caller reduces (except
`empirical_gaussian_kl`, `maximum_mean_discrepancy`, `feature_matching_generator_loss` and
`consensus_regularizer`, statistics of whole minibatches, which return scalars). Optional
per-example weights are the keyword `weights` (discriminator losses: `real_weights` and
`fake_weights`).

GAN losses are to be minimised; the ELBO, the IWAE bound and the log-likelihoods are to be
maximised (their negatives are losses).
"""

from unigen_jax.losses._gan import (
    adversary_activation_weights,
    hinge_discriminator_loss,
    hinge_generator_loss,
    importance_weights,
    least_squares_discriminator_loss,
    least_squares_generator_loss,
    minimax_discriminator_loss,
    minimax_generator_loss,
    modified_discriminator_loss,
    modified_generator_loss,
    wasserstein_discriminator_loss,
    wasserstein_generator_loss,
)
from unigen_jax.losses._infogan import infogan_mutual_information_penalty
from unigen_jax.losses._latent import empirical_gaussian_kl
from unigen_jax.losses._mmd import MMD_KERNELS, maximum_mean_discrepancy
from unigen_jax.losses._penalty import wasserstein_gradient_penalty
from unigen_jax.losses._stabilisers import (
    consensus_regularizer,
    feature_matching_generator_loss,
    instance_noise_std,
)
from unigen_jax.losses._vae import (
    bernoulli_log_likelihood,
    diagonal_gaussian_log_density,
    elbo,
    gaussian_kl_to_standard_normal,
    gaussian_log_likelihood,
    importance_weighted_bound,
    laplace_log_likelihood,
    unlabelled_bound,
)

__all__ = [
    # GAN families (TF-GAN naming).
    "minimax_generator_loss",
    "minimax_discriminator_loss",
    "modified_generator_loss",
    "modified_discriminator_loss",
    "wasserstein_generator_loss",
    "wasserstein_discriminator_loss",
    "wasserstein_gradient_penalty",
    "hinge_generator_loss",
    "hinge_discriminator_loss",
    "least_squares_generator_loss",
    "least_squares_discriminator_loss",
    # Example weights from a discriminator (Hu et al. 2017).
    "importance_weights",
    "adversary_activation_weights",
    # Variational bounds.
    "gaussian_kl_to_standard_normal",
    "diagonal_gaussian_log_density",
    "bernoulli_log_likelihood",
    "gaussian_log_likelihood",
    "laplace_log_likelihood",
    "elbo",
    "importance_weighted_bound",
    "unlabelled_bound",
    # Minibatch statistics of codes (Rosca et al. 2017, eq. 18; Ulyanov et al. 2017).
    "empirical_gaussian_kl",
    # InfoGAN (Chen et al. 2016; Hu et al. 2017, eq. 5).
    "infogan_mutual_information_penalty",
    # Two-sample statistics (Gretton et al. 2012; InfoVAE, Zhao et al. 2017).
    "MMD_KERNELS",
    "maximum_mean_discrepancy",
    # GAN stabilisers (Salimans et al. 2016; Sønderby et al. 2016; Mescheder et al. 2017).
    "feature_matching_generator_loss",
    "instance_noise_std",
    "consensus_regularizer",
]
