"""Checkpoints of the whole `TrainState` with orbax's CheckpointManager.

orbax writes each step into a temporary folder and renames it when complete, so a save killed
half-way is never mistaken for a checkpoint (the next save cleans it up). A checkpoint that is
complete but unreadable (truncated or corrupted on disk) is set aside as `STEP.unreadable` by
`restore_latest_readable`, which then resumes from the one before.
"""

from __future__ import annotations

import os
import shutil

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    """Saves and restores `TrainState`s under `directory`: the newest `max_to_keep`, and with
    `keep_every` = N > 0 also every step that is a multiple of N (for scores along a run)."""

    def __init__(
        self,
        directory: str,
        *,
        max_to_keep: int = 3,
        keep_every: int = 0,
        read_only: bool = False,
    ):
        self.directory = os.path.abspath(directory)
        self._options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            keep_period=keep_every or None,
            create=not read_only,
            read_only=read_only,
            enable_async_checkpointing=False,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=self._options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """The steps that have a checkpoint, in increasing order."""
        return sorted(self._manager.all_steps())

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

    def restore_latest_readable(self, template, log=print):
        """(state, step) of the newest checkpoint that restores, or (template, None) if none
        does; each unreadable newer one is named in one line and set aside."""
        for step in sorted(self._manager.all_steps(), reverse=True):
            try:
                return self.restore(template, step), step
            except Exception as error:  # orbax/tensorstore raise many kinds for bad files
                reason = f"{type(error).__name__}: {error}".splitlines()[0][:200]
                aside = os.path.join(self.directory, f"{step}.unreadable")
                log(
                    f"checkpoint {os.path.join(self.directory, str(step))} cannot be read "
                    f"({reason}); moved to {aside}, resuming from the one before"
                )
                self._set_aside(step, aside)
        return template, None

    def _set_aside(self, step: int, aside: str) -> None:
        self._manager.close()
        if jax.process_index() == 0:  # one process moves it; every process then skips it
            shutil.rmtree(aside, ignore_errors=True)  # an older copy set aside at that step
            os.replace(os.path.join(self.directory, str(step)), aside)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"set aside checkpoint {step}")
        self._manager = ocp.CheckpointManager(self.directory, options=self._options)

    def close(self) -> None:
        self._manager.close()
