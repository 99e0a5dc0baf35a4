r"""Trains a model: `python -m experiments.train --model=gan --dataset=mnist5k --workdir=W`.

Run settings: --model --dataset --workdir --steps --batch_size --seed (and --data_dir,
--num_devices, --steps_per_call, --log_every, --sample_every, --checkpoint_every).
Model hyperparameters are flags too, one per field of the model's config dataclass, e.g.
`--loss=hinge --latent_dim=100` for the GAN or `--beta=4 --likelihood=laplace` for the VAE;
`--help` lists them. Running again on the same workdir resumes from its latest checkpoint.

On a CPU-only host the cores are exposed as separate XLA devices (--cpu_devices; by default
the largest count up to min(cores, 8) that divides --batch_size), so the data-parallel step
uses all of them: on 2 cores a DCGAN step runs faster as 2 devices than as 1.
"""

from __future__ import annotations

import dataclasses
import os

from absl import flags, logging

from experiments import _cli
from unigen_jax import models
from unigen_jax.errors import UserInputError

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
    "XLA host devices on a CPU-only machine (default: the largest count up to "
    "min(cores, 8) that divides --batch_size)",
)
flags.DEFINE_integer("steps_per_call", 1, "training steps fused into one compiled call")
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


def default_cpu_devices(cores: int, batch_size: int) -> int:
    """The largest device count up to min(cores, 8) that divides the batch (at least 1)."""
    if batch_size < 1:
        return 1
    return max(n for n in range(1, min(cores, 8) + 1) if batch_size % n == 0)


def _expose_cpu_cores(count: int | None, batch_size: int) -> None:
    """Before JAX starts its backends: one XLA host device per core (CPU platform only)."""
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    count = count or default_cpu_devices(os.cpu_count() or 1, batch_size)
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={count}"
    ).strip()


def main(argv):
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO
    _cli.check_no_arguments(argv)
    if RUN.cpu_devices is not None and RUN.cpu_devices < 1:
        raise UserInputError(f"--cpu_devices must be positive, got {RUN.cpu_devices}")
    _expose_cpu_cores(RUN.cpu_devices, RUN.batch_size)
    from unigen_jax.train.loop import RunConfig, train  # imports JAX backends after XLA_FLAGS

    model_config = models.make_config(RUN.model, **model_overrides(RUN.model))
    run = RunConfig(
        model=RUN.model,
        dataset=RUN.dataset,
        workdir=RUN.workdir or "",
        steps=RUN.steps,
        batch_size=RUN.batch_size,
        seed=RUN.seed,
        data_dir=RUN.data_dir,
        num_devices=RUN.num_devices,
        steps_per_call=RUN.steps_per_call,
        log_every=RUN.log_every,
        sample_every=RUN.sample_every,
        checkpoint_every=RUN.checkpoint_every,
    )
    train(run, model_config)


if __name__ == "__main__":
    _cli.run(main)
