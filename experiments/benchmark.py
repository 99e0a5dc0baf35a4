r"""Training-step benchmark: `python -m experiments.benchmark` (also `make bench`).

For each model at its standard shapes, on 1 and 2 devices (and with K steps fused by
`lax.scan` for the small MLP GAN): time of the first (compiling) call, steady-state steps/s,
and, when PyTorch is installed (`pip install torch==2.13.0`, a benchmark-only extra), the same
architectures and losses in PyTorch eager, measured back to back in the same run, and the ratio.
Also the achieved FLOP/s of the DCGAN step (FLOPs from XLA's cost analysis) as a share of what
this machine reaches on a large float32 matmul. Prints a table; writes `benchmark.json`.
Compare ratios, not absolute figures: the machine is shared and noisy.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time

from absl import flags, logging

from experiments import _cli
from unigen_jax.errors import UserInputError

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 40, "timed steps per configuration (after warm-up)")
flags.DEFINE_list("configs", ["dcgan28", "dcgan32", "vae", "mlp_gan"], "configurations to run")
flags.DEFINE_string("output_dir", "runs/benchmark", "where benchmark.json is written")
flags.DEFINE_integer("cpu_devices", 2, "XLA host devices on a CPU-only machine")
flags.DEFINE_bool("torch", True, "also run the PyTorch eager reference when installed")

# name -> (model, data kind, shape, batch size, hyperparameters, torch reference name)
CONFIGS = {
    "dcgan28": ("gan", "image", (28, 28, 1), 64, {}, "dcgan"),
    "dcgan32": ("gan", "image", (32, 32, 3), 64, {}, "dcgan"),
    "vae": ("vae", "image", (28, 28, 1), 128, {}, "vae"),
    "mlp_gan": ("gan", "vector", (2,), 512, {"hidden_sizes": (128, 128)}, "mlp_gan"),
}


def _time_jax(name, num_devices, steps_per_call, steps):
    import jax
    import numpy as np

    from unigen_jax import models
    from unigen_jax.data import DatasetInfo
    from unigen_jax.train import (
        create_train_state,
        make_mesh,
        make_train_step,
        replicate,
        shard_batch,
    )

    model_name, kind, shape, batch_size, hyperparameters, _ = CONFIGS[name]
    info = DatasetInfo(name=name, kind=kind, shape=shape, num_classes=0, num_examples=batch_size)
    model = models.build_model(model_name, models.make_config(model_name, **hyperparameters), info)
    mesh = make_mesh(num_devices)
    rng = np.random.default_rng(0)
    x = (
        rng.uniform(size=(batch_size, *shape))
        if kind == "image"
        else rng.normal(size=(batch_size, *shape))
    )
    batch = {"x": x.astype(np.float32), "label": np.zeros(batch_size, np.int32)}
    state = replicate(create_train_state(model, batch, 0), mesh)
    step = make_train_step(model, mesh, steps_per_call=steps_per_call)
    if steps_per_call > 1:
        batch = shard_batch(
            jax.tree.map(lambda b: np.stack([b] * steps_per_call), batch), mesh, stacked=True
        )
    else:
        batch = shard_batch(batch, mesh)
    start = time.perf_counter()
    state, _ = step(state, batch)
    jax.block_until_ready(state)
    first_call = time.perf_counter() - start
    calls = max(steps // steps_per_call, 1)
    for _ in range(2):  # warm-up
        state, _ = step(state, batch)
    jax.block_until_ready(state)
    start = time.perf_counter()
    for _ in range(calls):
        state, _ = step(state, batch)
    jax.block_until_ready(state)
    seconds = time.perf_counter() - start
    flops = None
    if num_devices == 1 and steps_per_call == 1:
        try:
            cost = step.lower(state, batch).compile().cost_analysis()
            cost = cost[0] if isinstance(cost, (list, tuple)) else cost
            flops = float(cost.get("flops", 0.0)) or None
        except Exception:  # cost analysis is best-effort; it differs across backends
            flops = None
    return {
        "first_call_sec": first_call,
        "steps_per_sec": calls * steps_per_call / seconds,
        "flops_per_step": flops,
    }


def _matmul_peak_flops():
    import jax
    import jax.numpy as jnp

    n = 2048
    a = jnp.ones((n, n), jnp.float32)
    matmul = jax.jit(lambda x: x @ x)
    jax.block_until_ready(matmul(a))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        jax.block_until_ready(matmul(a))
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times)


def _time_torch(name, steps):
    try:
        from experiments import torch_reference
    except ImportError:
        return None
    _, kind, shape, batch_size, hyperparameters, reference = CONFIGS[name]
    kwargs = {"batch_size": batch_size}
    if kind == "image":
        kwargs["image_shape"] = shape
    return torch_reference.benchmark_torch(reference, steps=steps, **kwargs)


def main(argv):
    logging.set_verbosity(logging.ERROR)
    _cli.check_no_arguments(argv)
    unknown = [c for c in FLAGS.configs if c not in CONFIGS]
    if unknown:
        raise UserInputError(f"unknown config {unknown[0]!r}; choose from: {', '.join(CONFIGS)}")
    if FLAGS.steps <= 0 or FLAGS.cpu_devices <= 0:
        raise UserInputError("--steps and --cpu_devices must be positive")
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + f" --xla_force_host_platform_device_count={FLAGS.cpu_devices}"
    )
    import jax

    torch_available = False
    if FLAGS.torch:
        try:
            import torch  # noqa: F401

            torch_available = True
        except ImportError:
            print("PyTorch is not installed: JAX figures only (pip install torch==2.13.0)")
    device_counts = sorted({1, min(2, len(jax.devices()))})
    rows = []
    for name in FLAGS.configs:
        variants = [(d, 1) for d in device_counts]
        if name == "mlp_gan":
            variants += [(d, 10) for d in device_counts]
        torch_figures = _time_torch(name, FLAGS.steps) if torch_available else None
        for devices, fused in variants:
            result = _time_jax(name, devices, fused, FLAGS.steps)
            row = {"config": name, "devices": devices, "steps_per_call": fused, **result}
            if torch_figures:
                row["torch_steps_per_sec"] = torch_figures["steps_per_sec"]
                row["ratio_vs_torch"] = result["steps_per_sec"] / torch_figures["steps_per_sec"]
            rows.append(row)
            ratio = f"{row['ratio_vs_torch']:.2f}x" if "ratio_vs_torch" in row else "-"
            torch_rate = f"{row['torch_steps_per_sec']:.1f}" if torch_figures else "-"
            print(
                f"{name:8s} devices={devices} steps_per_call={fused:2d}  first call "
                f"{result['first_call_sec']:.1f}s  {result['steps_per_sec']:8.1f} steps/s  "
                f"torch {torch_rate} steps/s  ratio {ratio}",
                flush=True,
            )
    peak = _matmul_peak_flops()
    for row in rows:
        if row.get("flops_per_step"):
            row["achieved_flops_per_sec"] = row["flops_per_step"] * row["steps_per_sec"]
            row["share_of_matmul_peak"] = row["achieved_flops_per_sec"] / peak
            print(
                f"{row['config']}: {row['flops_per_step'] / 1e9:.2f} GFLOP/step, "
                f"{row['achieved_flops_per_sec'] / 1e9:.1f} GFLOP/s = "
                f"{100 * row['share_of_matmul_peak']:.0f}% of the {peak / 1e9:.0f} GFLOP/s "
                "float32 matmul peak"
            )
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "jax_version": jax.__version__,
        "platform": jax.devices()[0].platform,
        "matmul_peak_flops_per_sec": peak,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "timed_steps": FLAGS.steps,
        "rows": rows,
    }
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    path = os.path.join(FLAGS.output_dir, "benchmark.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    _cli.run(main)
