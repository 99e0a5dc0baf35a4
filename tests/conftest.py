"""Shared test set-up: two CPU devices and a persistent compilation cache outside the repo."""

import os

# Two host devices let one process compare 1-device and 2-device steps; must precede JAX init.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("UNIGEN_JAX_CACHE", os.path.expanduser("~/.cache/unigen_jax/jit")),
)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
