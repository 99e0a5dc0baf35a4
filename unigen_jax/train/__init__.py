"""The training engine: state, step builder, data parallelism, checkpoints and the loop."""

from unigen_jax.models.networks import Networks
from unigen_jax.train.state import TrainState, create_train_state
from unigen_jax.train.step import (
    DATA_AXIS,
    make_mesh,
    make_per_device_step,
    make_train_step,
    replicate,
    shard_batch,
)

__all__ = [
    "DATA_AXIS",
    "Networks",
    "TrainState",
    "create_train_state",
    "make_mesh",
    "make_per_device_step",
    "make_train_step",
    "replicate",
    "shard_batch",
]
