"""Multi-host data parallelism on JAX's own distributed runtime.

`initialize` starts `jax.distributed` before any backend is used:
- with an explicit coordinator (`--coordinator_address=HOST:PORT --num_processes=N
  --process_id=I`, the same address and count on every process), for any cluster;
- without one, only where JAX can find the cluster itself: Cloud TPU pod slices (a list of
  TPU worker hosts), SLURM jobs of several tasks, and other environments JAX's cluster
  detection knows; a single machine runs one process and needs nothing.

CPU processes exchange collectives over gloo. Every process then sees the global devices; the
engine's mesh spans them, each process reads its own slice of every global batch
(`data.batch_indices`), assembled into global arrays by `jax.make_array_from_process_local_data`,
orbax saves and restores collectively, and only process 0 writes metrics, samples, TensorBoard
events and config.json.
"""

from __future__ import annotations

import os

import jax

from unigen_jax.errors import UserInputError


def _cluster_detected() -> bool:
    """Whether this process is one task of a multi-process job JAX can set up by itself."""
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        return True
    hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
    return "," in hosts  # a pod slice lists several workers; a single host lists one or none


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Starts jax.distributed if the flags or the environment ask for it; True if started."""
    given = [coordinator_address, num_processes, process_id]
    if any(v is not None for v in given) and any(v is None for v in given):
        raise UserInputError(
            "--coordinator_address, --num_processes and --process_id go together: give all "
            "three on every process (or none on Cloud TPU and SLURM, which are detected)"
        )
    if coordinator_address is None and not _cluster_detected():
        return False
    if num_processes is not None:
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise UserInputError(
                f"--process_id={process_id} must lie in [0, --num_processes={num_processes})"
            )
        if num_processes == 1:
            return False
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )
    return True


def is_primary() -> bool:
    """Process 0: the one that writes the run's files."""
    return jax.process_index() == 0
