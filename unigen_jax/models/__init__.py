"""Model families by name: each a hyperparameter dataclass and a `ModelSpec` factory."""

from __future__ import annotations

import dataclasses

from unigen_jax.errors import UserInputError
from unigen_jax.models.gan import GANConfig, make_gan
from unigen_jax.models.spec import ModelSpec, Phase
from unigen_jax.models.vae import VAEConfig, make_vae

# name -> (config class, factory(config, data_info, *, axis_name) -> ModelSpec)
REGISTRY = {
    "gan": (GANConfig, make_gan),
    "vae": (VAEConfig, make_vae),
}
MODEL_NAMES = tuple(REGISTRY)


def _entry(name: str):
    if name not in REGISTRY:
        raise UserInputError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    return REGISTRY[name]


def config_class(name: str):
    """The hyperparameter dataclass of model `name`."""
    return _entry(name)[0]


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
    return cls(**overrides)


def build_model(name: str, config, data_info, *, axis_name: str | None = "data") -> ModelSpec:
    """The `ModelSpec` of model `name` with `config` for data described by `data_info`."""
    return _entry(name)[1](config, data_info, axis_name=axis_name)


__all__ = [
    "GANConfig",
    "MODEL_NAMES",
    "ModelSpec",
    "Phase",
    "REGISTRY",
    "VAEConfig",
    "build_model",
    "config_class",
    "make_config",
]
