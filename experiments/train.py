r"""Trains a model: `python -m experiments.train --model=gan --dataset=mnist5k --workdir=W`.

Run settings: --model --dataset --workdir --steps --batch_size --seed (and --data_dir,
--num_devices, --steps_per_call, --log_every, --sample_every, --checkpoint_every).
Model hyperparameters are flags too, one per field of the model's config dataclass, e.g.
`--loss=hinge --latent_dim=100` for the GAN or `--beta=4 --likelihood=laplace` for the VAE;
`--help` lists them. Running again on the same workdir resumes from its latest checkpoint.

On a CPU-only host the defaults are the settings `make bench` measured fastest for the model's
network family (`unigen_jax.train.settings`): one XLA device whose kernels use every core, with
10 steps fused per call for MLPs on 2-D mixtures and 4 for the convolutional VAE.
--cpu_devices (e.g. one device per core) and --steps_per_call override them.
"""

from __future__ import annotations

import dataclasses
import os

from absl import flags, logging

from experiments import _cli
from unigen_jax import models
from unigen_jax.data.mixtures import MIXTURES
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.train import settings

RUN = flags.FLAGS
flags.DEFINE_string("model", "gan", f"model: one of {', '.join(models.MODEL_NAMES)}")
flags.DEFINE_string("dataset", "mnist5k", "dataset name (see unigen_jax.data.DATASETS)")
flags.DEFINE_string("workdir", None, "folder for checkpoints, metrics, samples, config.json")
flags.DEFINE_integer("steps", 3000, "total training steps (a resumed run continues to it)")
flags.DEFINE_integer("batch_size", 64, "global batch size, split over the devices")
flags.DEFINE_integer("seed", 0, "seed of initialisation, noise and batch order")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: TFDS_DATA_DIR or ~)")
flags.DEFINE_integer("num_devices", None, "use only the first N devices (default: all)")
flags.DEFINE_integer(
    "cpu_devices",
    None,
    "XLA host devices on a CPU-only machine (default 1, measured fastest for every model: its "
    "kernels use all cores; e.g. the core count splits the batch over the cores instead)",
)
flags.DEFINE_integer(
    "steps_per_call",
    None,
    "training steps fused into one compiled call (default: the fastest measured for the "
    "model, 10 for MLPs, 4 for the convolutional VAE, else 1; reduced to divide "
    "--checkpoint_every)",
)
flags.DEFINE_integer("log_every", 100, "log metrics every N steps (and at the last)")
flags.DEFINE_integer("sample_every", 500, "write a sample grid every N steps (and at the last)")
flags.DEFINE_integer("checkpoint_every", 1000, "checkpoint every N steps (and at the last)")


def _hyperparameter_fields():
    """Every model config field, with the models that have it."""
    fields: dict[str, dict[str, dataclasses.Field]] = {}
    for name in models.MODEL_NAMES:
        for field in dataclasses.fields(models.config_class(name)):
            fields.setdefault(field.name, {})[name] = field
    return fields


HYPERPARAMETERS = _hyperparameter_fields()
for _name, _by_model in HYPERPARAMETERS.items():
    _defaults = ", ".join(f"{m}: {f.default}" for m, f in _by_model.items())
    _models = "/".join(_by_model)
    flags.DEFINE_string(_name, None, f"hyperparameter of {_models} (default {_defaults})")


def _parse(name: str, text: str, default):
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if isinstance(default, tuple):
            return tuple(int(v) for v in text.split(",") if v.strip())
        return type(default)(text)
    except ValueError:
        kind = "comma-separated integers" if isinstance(default, tuple) else type(default).__name__
        raise UserInputError(f"--{name}={text!r} is not a valid {kind}") from None


def model_overrides(model: str) -> dict:
    """The hyperparameter flags given on the command line, parsed for `model`."""
    fields = {f.name: f for f in dataclasses.fields(models.config_class(model))}
    overrides = {}
    for name, by_model in HYPERPARAMETERS.items():
        text = RUN[name].value
        if text is None:
            continue
        if model not in by_model:
            raise UserInputError(
                f"--{name} is not a hyperparameter of model {model!r}; "
                f"it has: {', '.join(sorted(fields))}"
            )
        overrides[name] = _parse(name, text, fields[name].default)
    return overrides


def default_steps_per_call() -> int:
    """The fastest measured steps per call for --model on --dataset (with --architecture)."""
    kind = "vector" if RUN.dataset in MIXTURES else "image"
    architecture = common.resolve_architecture(RUN.architecture or "auto", kind)
    return settings.fastest_steps_per_call(RUN.model, architecture)


def _expose_cpu_cores(count: int) -> None:
    """Before JAX starts its backends: the XLA host device count (CPU platform only)."""
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={count}"
    ).strip()


def main(argv):
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO
    _cli.check_no_arguments(argv)
    if RUN.cpu_devices is not None and RUN.cpu_devices < 1:
        raise UserInputError(f"--cpu_devices must be positive, got {RUN.cpu_devices}")
    _expose_cpu_cores(RUN.cpu_devices or 1)
    from unigen_jax.train.loop import RunConfig, train  # imports JAX backends after XLA_FLAGS

    model_config = models.make_config(RUN.model, **model_overrides(RUN.model))
    steps_per_call = RUN.steps_per_call
    if steps_per_call is None:
        steps_per_call = settings.fused_steps_dividing(
            default_steps_per_call(), max(RUN.checkpoint_every, 1)
        )
    run = RunConfig(
        model=RUN.model,
        dataset=RUN.dataset,
        workdir=RUN.workdir or "",
        steps=RUN.steps,
        batch_size=RUN.batch_size,
        seed=RUN.seed,
        data_dir=RUN.data_dir,
        num_devices=RUN.num_devices,
        steps_per_call=steps_per_call,
        log_every=RUN.log_every,
        sample_every=RUN.sample_every,
        checkpoint_every=RUN.checkpoint_every,
    )
    train(run, model_config)


if __name__ == "__main__":
    _cli.run(main)
