"""What every experiment command shares: bad input is one line on stderr and exit status 2."""

from __future__ import annotations

import os
import sys

import jax
from absl import app

from unigen_jax.errors import PartialFailure, UserInputError


def check_no_arguments(argv) -> None:
    if len(argv) > 1:
        raise UserInputError(f"unexpected arguments {argv[1:]}; flags look like --steps=100")


def run(main) -> None:
    """absl's app.run(main), with a UserInputError printed as `error: ...` and exit status 2,
    a PartialFailure (the rest of the work saved) as `error: ...` and exit status 1.

    Compiled programs are cached on disk (UNIGEN_JAX_CACHE, default ~/.cache/unigen_jax/jit),
    so a second run of the same command skips XLA compilation.
    """
    cache = os.environ.get("UNIGEN_JAX_CACHE", os.path.expanduser("~/.cache/unigen_jax/jit"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    try:
        app.run(main)
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except PartialFailure as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
