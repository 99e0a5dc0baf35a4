"""Model families by name: each a hyperparameter dataclass and a `ModelSpec` factory."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from unigen_jax.errors import UserInputError
from unigen_jax.models.aae import AAEConfig, make_aae
from unigen_jax.models.ada import ADAConfig, make_ada
from unigen_jax.models.age import AGEConfig, make_age
from unigen_jax.models.ali import ALIConfig, make_ali
from unigen_jax.models.alpha_gan import AlphaGANConfig, make_alpha_gan
from unigen_jax.models.asvae import ASVAEConfig, make_asvae
from unigen_jax.models.em_gmm import EMConfig, make_em_gmm
from unigen_jax.models.gan import GANConfig, make_gan
from unigen_jax.models.infogan import CHEN_MNIST, InfoGANConfig, make_infogan
from unigen_jax.models.spec import ModelSpec, Phase
from unigen_jax.models.svae import SVAEConfig, make_svae
from unigen_jax.models.vae import VAEConfig, make_vae
from unigen_jax.models.vaegan import VAEGANConfig, make_vaegan
from unigen_jax.models.wake_sleep import WakeSleepConfig, make_wake_sleep


@dataclasses.dataclass(frozen=True)
class Entry:
    """A registered model: its family's config class and factory, and the family's
    hyperparameters that define it (`iwgan` is the GAN with `importance_weighted=True`).

    `factory(config, data_info, *, axis_name, name) -> ModelSpec`.
    """

    config_class: type
    factory: Callable
    preset: Mapping[str, Any] = dataclasses.field(default_factory=dict)


#: Every model by its name (`--model=NAME`): its family's config class and factory, and the
#: family's hyperparameters that define it.
REGISTRY = {
    "gan": Entry(GANConfig, make_gan),
    # Mirza & Osindero 2014; Hu et al. 2017, arXiv 1706.00550, Section 5.1.
    "cgan": Entry(GANConfig, make_gan, {"conditional": True}),
    # Hu et al. 2017, arXiv 1706.00550, eq. 15 (IW-CGAN: cgan with importance_weighted=True).
    "iwgan": Entry(GANConfig, make_gan, {"importance_weighted": True}),
    # Arjovsky, Chintala, Bottou 2017, Algorithm 1 (weight clipping, RMSProp 5e-5, n_critic 5).
    "wgan": Entry(
        GANConfig,
        make_gan,
        {
            "loss": "wasserstein",
            "weight_clip": 0.01,
            "optimizer": "rmsprop",
            "generator_lr": 5e-5,
            "discriminator_lr": 5e-5,
            "discriminator_steps": 5,
        },
    ),
    # Gulrajani et al. 2017, Algorithm 1 (lambda 10, n_critic 5, Adam 1e-4, betas 0 and 0.9;
    # layer norm in the critic instead of batch norm, their Section 4).
    "wgan_gp": Entry(
        GANConfig,
        make_gan,
        {
            "loss": "wasserstein",
            "gradient_penalty": 10.0,
            "discriminator_steps": 5,
            "discriminator_norm": "layer",
            "generator_lr": 1e-4,
            "discriminator_lr": 1e-4,
            "adam_b1": 0.0,
            "adam_b2": 0.9,
        },
    ),
    # Su 2018, arXiv 1807.05936, eq. 26 (lambda 5 on a mean squared error, 2 G steps a batch).
    "su_gan": Entry(GANConfig, make_gan, {"su_regularizer": 5.0, "generator_steps": 2}),
    "vae": Entry(VAEConfig, make_vae),
    # Sohn, Lee, Yan 2015; Hu et al. 2017, arXiv 1706.00550, Section 5.2.
    "cvae": Entry(VAEConfig, make_vae, {"conditional": True}),
    # Hu et al. 2017, arXiv 1706.00550, eqs. 16-18 (AA-CVAE: cvae with adversary_activated).
    "aavae": Entry(VAEConfig, make_vae, {"adversary_activated": True}),
    # Chen et al. 2016, arXiv 1606.03657; Hu et al. 2017, arXiv 1706.00550, eq. 5.
    "infogan": Entry(InfoGANConfig, make_infogan),
    # Chen et al. 2016's released MNIST code: their nets (FC-1024, BatchNorm), uniform noise,
    # Q updated with D only (unigen_jax.models.infogan.CHEN_MNIST).
    "infogan_chen": Entry(InfoGANConfig, make_infogan, CHEN_MNIST),
    # Kingma, Rezende, Mohamed, Welling 2014, arXiv 1406.5298 (M2), eqs. 6-9.
    "svae": Entry(SVAEConfig, make_svae),
    # Hu et al. 2017, arXiv 1706.00550, Section 5.2 (AA-SVAE: svae with adversary_activated).
    "aasvae": Entry(SVAEConfig, make_svae, {"adversary_activated": True}),
    # Hinton, Dayan, Frey, Neal 1995; Hu et al. 2017, arXiv 1706.00550, eq. 10.
    "wake_sleep": Entry(WakeSleepConfig, make_wake_sleep),
    # Ganin et al. 2016, arXiv 1505.07818; Hu et al. 2017, arXiv 1706.00550, eq. 1.
    "ada": Entry(ADAConfig, make_ada),
    # Larsen, Sønderby, Larochelle, Winther 2016, arXiv 1512.09300, Algorithm 1.
    "vaegan": Entry(VAEGANConfig, make_vaegan),
    # Rosca et al. 2017, arXiv 1706.04987, eq. 8 and Algorithm 1.
    "alpha_gan": Entry(AlphaGANConfig, make_alpha_gan),
    # Ulyanov, Vedaldi, Lempitsky 2017, arXiv 1704.02304 (Rosca et al.'s AGE baseline).
    "age": Entry(AGEConfig, make_age),
    # Makhzani et al. 2015, arXiv 1511.05644; Su 2018, arXiv 1807.05936, eqs. 27-34.
    "aae": Entry(AAEConfig, make_aae),
    # Dumoulin et al. 2016, arXiv 1606.00704; Donahue et al. 2016 (BiGAN); Su eqs. 38-43.
    "ali": Entry(ALIConfig, make_ali),
    # Zhao, Song, Ermon 2017, arXiv 1706.02262 (MMD-VAE: alpha = 1, no per-example KL).
    "infovae": Entry(VAEConfig, make_vae, {"divergence": "mmd", "beta": 0.0}),
    # Su 2018, arXiv 1807.05936, eqs. 8-11 (EM: closed-form updates, no neural network).
    "em_gmm": Entry(EMConfig, make_em_gmm),
    # Heusel et al. 2017, arXiv 1706.08500 (TTUR): D's learning rate four times G's (the pair
    # SAGAN, Zhang et al. 2018, arXiv 1805.08318, adopted from it).
    "ttur": Entry(GANConfig, make_gan, {"discriminator_lr": 4e-4, "generator_lr": 1e-4}),
    # Rezende & Mohamed 2015, arXiv 1505.05770, eqs. 10-15 (a planar flow of length 80, as
    # Pu et al. 2017, arXiv 1711.04915, Section 5, use on MNIST).
    "vae_flow": Entry(VAEConfig, make_vae, {"flow_length": 80}),
    # Pu et al. 2017, arXiv 1711.04915, eq. 12 (AS-VAE), eq. 8 (AS-VAE-r), eq. 9 (AS-VAE-g).
    "asvae": Entry(ASVAEConfig, make_asvae),
    "asvae_r": Entry(ASVAEConfig, make_asvae, {"bound": "x"}),
    "asvae_g": Entry(ASVAEConfig, make_asvae, {"bound": "z"}),
}
MODEL_NAMES = tuple(REGISTRY)


def _entry(name: str) -> Entry:
    if name not in REGISTRY:
        raise UserInputError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    return REGISTRY[name]


def config_class(name: str):
    """The hyperparameter dataclass of model `name`."""
    return _entry(name).config_class


def family(name: str) -> str:
    """The family model `name` belongs to: the first registered name with its config class
    (`cgan`, `iwgan`, `wgan` -> `gan`; `cvae`, `aavae` -> `vae`)."""
    config_class = _entry(name).config_class
    return next(n for n, entry in REGISTRY.items() if entry.config_class is config_class)


def default_config(name: str):
    """Model `name`'s hyperparameters: its family's defaults with the model's preset."""
    entry = _entry(name)
    return entry.config_class(**entry.preset)


def make_config(name: str, **overrides):
    """Model `name`'s default hyperparameters with `overrides`; unknown keys are an error."""
    cls = config_class(name)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UserInputError(
            f"model {name!r} has no hyperparameter {unknown[0]!r}; "
            f"it has: {', '.join(sorted(known))}"
        )
    return cls(**{**_entry(name).preset, **overrides})


def build_model(name: str, config, data_info, *, axis_name: str | None = "data") -> ModelSpec:
    """The `ModelSpec` of model `name` with `config` for data described by `data_info`."""
    return _entry(name).factory(config, data_info, axis_name=axis_name, name=name)


__all__ = [
    "ADAConfig",
    "AGEConfig",
    "AlphaGANConfig",
    "AAEConfig",
    "ALIConfig",
    "EMConfig",
    "GANConfig",
    "InfoGANConfig",
    "MODEL_NAMES",
    "ModelSpec",
    "Phase",
    "REGISTRY",
    "SVAEConfig",
    "VAEConfig",
    "VAEGANConfig",
    "WakeSleepConfig",
    "ASVAEConfig",
    "build_model",
    "config_class",
    "default_config",
    "family",
    "make_config",
]
