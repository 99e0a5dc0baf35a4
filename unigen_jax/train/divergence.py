"""Stops a run whose losses or gradients stop being finite, before that state is saved.

The loop hands each call's metrics (device arrays, no host sync) to `NonFiniteWatch.add`, and
calls `check()` wherever it reads metrics anyway (the log points) and before every checkpoint:
one transfer of the metrics since the last check finds the first step whose loss or gradient
norm (every phase reports `*_grad_norm`) is NaN or infinite, and `check()` raises one line that
names the step, the phase and the metric. The checkpoint of that state is then never written,
so the last checkpoint on disk is the last good one.
"""

from __future__ import annotations

import jax
import numpy as np

from unigen_jax.errors import PartialFailure


class NonFiniteWatch:
    def __init__(self, metric_phases: dict, last_good_checkpoint: int | None):
        self._phases = metric_phases  # {metric: phase}, filled when the step compiles
        self._pending: list[tuple[int, int, dict]] = []
        self.last_good_checkpoint = last_good_checkpoint

    def add(self, first_step: int, steps: int, metrics) -> None:
        """Metrics of a call of `steps` steps, the first of them step `first_step` + 1."""
        self._pending.append((first_step, steps, metrics))

    def check(self) -> None:
        pending, self._pending = self._pending, []
        for first_step, steps, metrics in jax.device_get(pending):
            for name, values in metrics.items():
                values = np.reshape(values, (steps,))
                bad = np.flatnonzero(~np.isfinite(values))
                if bad.size:
                    step = first_step + 1 + int(bad[0])
                    self._raise(step, name, float(values[bad[0]]))

    def saved(self, step: int) -> None:
        self.last_good_checkpoint = step

    def _raise(self, step: int, name: str, value: float):
        phase = self._phases.get(name, "?")
        good = self.last_good_checkpoint
        last = "no checkpoint was written" if good is None else f"the last checkpoint, step {good}"
        raise PartialFailure(
            f"{name} became {value} at step {step} (phase {phase}); training stopped before "
            f"saving that state, and {last}, is good: lower the learning rate or change the "
            "model, in a new --workdir or resuming from it"
        )
