"""The fastest run settings on a CPU-only host, per network family, as `make bench` measured them.

On a CPU, XLA can expose the cores as separate devices (data parallelism over the cores) or
run one device whose kernels use the cores themselves; and it can fuse K steps into one call.
Which is faster depends on the model's size (BENCHMARKS.md, 2-core x86 CPU, jax 0.10.2):

  - convolutional nets (DCGAN G/D/E): one device per core; fusing steps helps the VAE
    (K = 4: 1.12x) but not the GAN, whose step is long enough to hide the dispatch;
  - MLPs (2-D mixtures): one device (its matmuls are too small to split: 2 devices run at
    0.7x), with K = 10 steps per call.

`experiments.train` uses these unless --cpu_devices / --steps_per_call are given.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class CpuSettings:
    """`one_device`: one XLA device (else one per core); `steps_per_call`: K steps per call."""

    one_device: bool
    steps_per_call: int


FASTEST_CPU_SETTINGS = {
    ("gan", "dcgan"): CpuSettings(one_device=False, steps_per_call=1),
    ("vae", "dcgan"): CpuSettings(one_device=False, steps_per_call=4),
    ("gan", "mlp"): CpuSettings(one_device=True, steps_per_call=10),
    ("vae", "mlp"): CpuSettings(one_device=True, steps_per_call=10),
}
_FALLBACK = CpuSettings(one_device=False, steps_per_call=1)


def fastest_cpu_settings(model: str, architecture: str) -> CpuSettings:
    """The measured fastest settings for `model` with `architecture` ('dcgan' or 'mlp'),
    or one device per core and unfused steps for a pair that was not measured."""
    return FASTEST_CPU_SETTINGS.get((model, architecture), _FALLBACK)


def fused_steps_dividing(preferred: int, checkpoint_every: int) -> int:
    """`preferred` if it divides `checkpoint_every` (resumed runs must repeat the same calls),
    else the largest divisor of `checkpoint_every` below it."""
    return max(k for k in range(1, preferred + 1) if checkpoint_every % k == 0)
