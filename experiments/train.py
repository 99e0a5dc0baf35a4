r"""Trains a model: `python -m experiments.train --model=gan --dataset=mnist5k --workdir=W`.

Run settings: --model --dataset --workdir --steps --batch_size --seed (and --data_dir,
--num_devices, --steps_per_call, --log_every, --sample_every, --checkpoint_every,
--keep_checkpoints_every).
Running again on the same workdir resumes from its latest checkpoint.

Model hyperparameters are the fields of the model's config dataclass, set as flax's and
big_vision's config overrides: `--config.FIELD=VALUE`, e.g. `--config.loss=hinge
--config.latent_dim=100` for the GAN or `--config.beta=4 --config.likelihood=laplace` for the
VAE (tuples comma-separated: `--config.hidden_sizes=64,64`; booleans true/false/1/0).
`--config=FILE.py` reads overrides from the dict that the file's get_config() returns, and
`--config.FIELD` flags apply on top. `--model=vae --list_config` prints the model's fields with
their types and defaults (and, with overrides, the values they resolve to) and exits.

On a CPU-only host the defaults are the settings `make bench` measured fastest for the model's
network family (`unigen_jax.train.settings`): one XLA device whose kernels use every core, with
10 steps fused per call for MLPs on 2-D mixtures and 4 for the convolutional VAE.
--cpu_devices (e.g. one device per core) and --steps_per_call override them.
"""

from __future__ import annotations

import os

from absl import flags, logging

from experiments import _cli
from unigen_jax import models
from unigen_jax.data.mixtures import MIXTURES
from unigen_jax.errors import UserInputError
from unigen_jax.models import common
from unigen_jax.train import settings

RUN = flags.FLAGS
flags.DEFINE_string(
    "model",
    "gan",
    f"model: one of {', '.join(models.MODEL_NAMES)} (--list_config prints its hyperparameters)",
)
flags.DEFINE_string("dataset", "mnist5k", "dataset name (see unigen_jax.data.DATASETS)")
flags.DEFINE_string("workdir", None, "folder for checkpoints, metrics, samples, config.json")
flags.DEFINE_integer("steps", 3000, "total training steps (a resumed run continues to it)")
flags.DEFINE_integer("batch_size", 64, "global batch size, split over the devices")
flags.DEFINE_integer("seed", 0, "seed of initialisation, noise and batch order")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default: TFDS_DATA_DIR or ~)")
flags.DEFINE_integer("num_devices", None, "use only the first N devices (default: all)")
flags.DEFINE_string(
    "coordinator_address",
    None,
    "multi-host: HOST:PORT of process 0, the same on every process (Cloud TPU pods and SLURM "
    "are detected without it)",
)
flags.DEFINE_integer("num_processes", None, "multi-host: the number of processes")
flags.DEFINE_integer("process_id", None, "multi-host: this process's index, 0 ... N-1")
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
flags.DEFINE_integer(
    "keep_checkpoints_every",
    0,
    "also keep every checkpoint whose step is a multiple of N (a multiple of "
    "--checkpoint_every), for `experiments.evaluate --step` along the run (0: only the newest 3)",
)
flags.DEFINE_float(
    "train_fraction",
    1.0,
    "train on this class-balanced share of the training split (fixed examples, whatever the "
    "seed; applied after --validation_fraction)",
)
flags.DEFINE_float(
    "validation_fraction",
    0.0,
    "hold out this class-balanced share of the training split as a validation split "
    "(`experiments.evaluate --split=validation` scores on it)",
)
flags.DEFINE_string(
    "config",
    None,
    "a Python file whose get_config() returns a dict (or ml_collections.ConfigDict) of the "
    "model's hyperparameters to override; --config.FIELD=VALUE overrides one field on top "
    "(e.g. --config.latent_dim=100, --config.hidden_sizes=64,64, --config.flag=true)",
)
flags.DEFINE_boolean(
    "list_config",
    False,
    "print --model's hyperparameters (type, default, and the value after --config) and exit",
)


def default_steps_per_call(model_config) -> int:
    """The fastest measured steps per call for --model's family on --dataset (with its
    architecture): measured for the GAN and the VAE, used for every model of their family."""
    kind = "vector" if RUN.dataset in MIXTURES else "image"
    architecture = common.resolve_architecture(getattr(model_config, "architecture", "auto"), kind)
    return settings.fastest_steps_per_call(models.family(RUN.model), architecture)


def _start_distributed() -> None:
    from unigen_jax.train import distributed

    distributed.initialize(RUN.coordinator_address, RUN.num_processes, RUN.process_id)


def _expose_cpu_cores(count: int) -> None:
    """Before JAX starts its backends: the XLA host device count (CPU platform only)."""
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={count}"
    ).strip()


def main(argv):
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO
    overrides, positional = _cli.split_arguments(argv)
    _cli.check_no_arguments(positional)
    model_config = _cli.model_config(RUN.model, RUN.config, overrides)
    if RUN.list_config:
        print(_cli.describe_config(RUN.model, model_config))
        return
    if RUN.cpu_devices is not None and RUN.cpu_devices < 1:
        raise UserInputError(f"--cpu_devices must be positive, got {RUN.cpu_devices}")
    _expose_cpu_cores(RUN.cpu_devices or 1)
    _start_distributed()  # before any JAX backend starts
    from unigen_jax.train.loop import RunConfig, train  # imports JAX backends after XLA_FLAGS

    steps_per_call = RUN.steps_per_call
    if steps_per_call is None:
        steps_per_call = settings.fused_steps_dividing(
            default_steps_per_call(model_config), max(RUN.checkpoint_every, 1)
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
        keep_checkpoints_every=RUN.keep_checkpoints_every,
        train_fraction=RUN.train_fraction,
        validation_fraction=RUN.validation_fraction,
    )
    train(run, model_config)


if __name__ == "__main__":
    _cli.run(main, flags_parser=_cli.parse_flags_keeping_config)
