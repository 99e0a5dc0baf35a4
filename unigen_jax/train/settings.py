"""The fastest run settings on a CPU-only host, per network family, as `make bench` measured them.

On a CPU, XLA can expose the cores as separate devices (data parallelism over the cores) or
run one device whose kernels use the cores themselves; and it can fuse K steps into one call.
Measured on the 2-core x86 CPU (BENCHMARKS.md, jax 0.10.2, with `CPU_COMPILER_OPTIONS` and the
phase-decomposed convolutions of `unigen_jax.nets`), one device is the fastest for every family:

  - DCGAN GAN 28x28: 12.4 steps/s on one device against 10.5 on two (unfused; K = 4: 11.7);
  - conv VAE: K = 4 steps per call, 34.2 against 31.8 on two devices (29.7 unfused);
  - MLPs (2-D mixtures): K = 10 steps per call, 420 steps/s against 359 on two devices (335
    unfused): their matmuls are too small to split.

So `experiments.train` exposes one XLA device on a CPU-only host, and fuses the steps per call
below, unless --cpu_devices / --steps_per_call are given.

Whatever the settings, the training step on a CPU mesh is compiled with `CPU_COMPILER_OPTIONS`
(see `cpu_compiler_options`).
"""

from __future__ import annotations

import functools
import logging

# Steps fused per call, by (model, architecture); a pair that was not measured gets 1.
FASTEST_STEPS_PER_CALL = {
    ("vae", "dcgan"): 4,
    ("gan", "mlp"): 10,
    ("vae", "mlp"): 10,
}


def fastest_steps_per_call(model: str, architecture: str) -> int:
    """The measured fastest steps per call for `model` with `architecture` ('dcgan' or 'mlp')."""
    return FASTEST_STEPS_PER_CALL.get((model, architecture), 1)


def fused_steps_dividing(preferred: int, checkpoint_every: int) -> int:
    """`preferred` if it divides `checkpoint_every` (resumed runs must repeat the same calls),
    else the largest divisor of `checkpoint_every` below it."""
    return max(k for k in range(1, preferred + 1) if checkpoint_every % k == 0)


# XLA:CPU in jaxlib 0.10 hands dots, convolutions and reductions to the YNNPACK library. On the
# 2-core x86 CPU its convolutions ran the DCGAN's 4x4 stride-2 convolution of 64 x 14 x 14 x 64
# images at 95 GFLOP/s against 161 for XLA's own (Eigen) kernels, and its dots the MLP GAN's
# 512 x 128 x 128 matmuls at 84 GFLOP/s against 110; its reductions (BatchNorm statistics) beat
# XLA's. Whole steps, same process, best of 6 rounds: DCGAN 28x28 on one device 8.6 steps/s
# with the defaults, 11.0 with YNNPACK for reductions only, 9.5 with no YNNPACK at all; MLP GAN
# 334 against 411. So the training step keeps YNNPACK for reductions only.
CPU_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_REDUCE"}


@functools.cache
def cpu_compiler_options() -> dict[str, str]:
    """`CPU_COMPILER_OPTIONS` if this jaxlib's XLA:CPU accepts them, else {} (with a warning).

    The options name an experimental XLA field; a jaxlib without it rejects the compilation,
    so they are tried once on a one-line program first.
    """
    import jax
    import jax.numpy as jnp

    try:
        probe = jax.jit(lambda x: jnp.sum(x * x), compiler_options=CPU_COMPILER_OPTIONS)
        jax.block_until_ready(probe(jnp.ones((2, 2), jnp.float32, device=jax.devices("cpu")[0])))
    except Exception as error:  # noqa: BLE001 - any rejection means: compile without them
        logging.warning("XLA:CPU rejected %s (%s); using its defaults", CPU_COMPILER_OPTIONS, error)
        return {}
    return dict(CPU_COMPILER_OPTIONS)


# Programs that run once, such as the networks' initialisation, are compiled for a fast
# compile rather than a fast run: LLVM at -O0 and without its expensive passes. Measured on the
# 2-core CPU, cold: the evaluation classifier's initialisation compiled in 0.9 s instead of 4.5
# and ran in 30 ms instead of 13. Their results may differ from an optimised compile's in the
# last bit (1e-7 on initial weights); runs resumed from a checkpoint restore, not recompute them.
RUN_ONCE_COMPILER_OPTIONS = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}


def jit_run_once(fn, **jit_kwargs):
    """`jax.jit(fn)` for a program that runs once: on a CPU, compiled with
    `RUN_ONCE_COMPILER_OPTIONS`."""
    import jax

    options = RUN_ONCE_COMPILER_OPTIONS if jax.default_backend() == "cpu" else {}
    return jax.jit(fn, compiler_options=options, **jit_kwargs)
