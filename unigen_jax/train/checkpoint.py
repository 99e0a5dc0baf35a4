"""Checkpoints of the whole `TrainState` with orbax's CheckpointManager.

orbax writes each step into a temporary folder and renames it when complete, so a save killed
half-way is never mistaken for a checkpoint (the next save cleans it up).
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    """Saves and restores `TrainState`s under `directory` (keeping the newest `max_to_keep`)."""

    def __init__(self, directory: str, *, max_to_keep: int = 3, read_only: bool = False):
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            create=not read_only,
            read_only=read_only,
            enable_async_checkpointing=False,
        )
        self._manager = ocp.CheckpointManager(os.path.abspath(directory), options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, state) -> None:
        """Saves `state` under its step number (replacing nothing: steps are unique)."""
        step = int(jax.device_get(state.step))
        if step in self._manager.all_steps():
            return
        self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
        self._manager.wait_until_finished()

    def restore(self, template, step: int | None = None):
        """Restores the checkpoint of `step` (the latest by default) into `template`'s
        structure, shapes, dtypes and shardings."""
        step = self.latest_step() if step is None else step
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def close(self) -> None:
        self._manager.close()
