r"""Training-step benchmark: `python -m experiments.benchmark` (also `make bench`).

For each model at its standard shapes (DCGAN 28x28x1 and 32x32x3 at batch 64, the VAE at batch
128, the 2-D MLP GAN at batch 512), on 1 and 2 devices and with 1 or K steps fused per call,
and for each family with a PyTorch reference (`FAMILY_CONFIGS`: WGAN-GP, InfoGAN, VAE/GAN,
alpha-GAN, ALI, SVAE, AS-VAE with a planar flow; the registry's defaults on 28x28x1 at batch
64) at `experiments.train`'s default (1 device, 1 step a call): the first (compiling) call,
steady-state steps/s, the step's XLA buffer sizes and the process's peak memory; the same
architectures, losses and optimizers in PyTorch eager (`experiments/torch_reference/`, a
benchmark-only extra: `pip install torch==2.13.0`; its parameter count must equal the JAX
model's, or the run stops), run back to back, and the ratio; the achieved FLOP/s (FLOPs from
XLA's cost analysis) as a share of what this machine reaches on a large float32 matmul; how far
the parameters after the first call on 2 devices are from those on 1 device (||a - b|| / ||a||,
same batch, same noise) and how far the first step's losses and gradient norms are; and for the
settings `experiments.train` uses by default, steps/s when batches come from the input pipeline
(a dataset, the host-batch thread and the device-prefetch thread) against one constant batch.

Every measurement runs in a fresh process (`--worker`, internal), so that the device count is
the process's own and peak memory is the measured variant's alone. Rates are the best of
`--rounds` rounds of at least `--round_seconds` each (whole multiples of 20 steps, counted from
the warm-up's rate, so that a fast model is not timed over a few milliseconds), and every
measurement (PyTorch's too) is repeated in `--passes` passes over the model's variants, the
best pass counting: on a shared machine a neighbour's load can slow one process by 30%. The
matmul peak is the better of a run before and one after. "First call" is a cold compile (the
persistent compilation cache is off in the workers, unless `--cold_compile=false`) plus one
call. Prints a summary and the rows as a Markdown table; writes `benchmark.json`. Compare
ratios, not absolute figures.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any, NamedTuple

from absl import flags, logging

from experiments import _cli
from unigen_jax.errors import UserInputError

FLAGS = flags.FLAGS
flags.DEFINE_float(
    "round_seconds", 1.0, "least duration of a timed round (0: one quantum of 20 steps)"
)
flags.DEFINE_integer("rounds", 3, "timed rounds per measurement; the best round counts")
flags.DEFINE_integer("passes", 2, "passes over all measurements; the best pass counts")
flags.DEFINE_string("output_dir", "runs/benchmark", "where benchmark.json is written")
flags.DEFINE_bool("torch", True, "also run the PyTorch eager reference when installed")
flags.DEFINE_bool(
    "cold_compile",
    True,
    "compile each measurement from scratch, so that 'first call' is a cold compile; false "
    "reads and fills the persistent compilation cache (repeated runs start sooner)",
)
flags.DEFINE_string("worker", None, "internal: run one measurement, given as JSON")

# Steps per round and warm-up steps are multiples of this, so that every variant (1, 4 or 10
# steps per call) runs the same steps and can be compared parameter for parameter.
STEP_QUANTUM = 20


class Config:
    """One benchmark configuration: a model at its standard shapes, timed on each of `devices`
    with 1 and `fused` steps per call; `hp` overrides the registry's hyperparameters (for the
    PyTorch reference too)."""

    def __init__(
        self,
        model,
        kind,
        shape,
        batch,
        fused,
        torch_name,
        dataset,
        target=None,
        devices=(1, 2),
        **hp,
    ):
        self.model, self.kind, self.shape, self.batch = model, kind, tuple(shape), batch
        self.fused, self.torch_name, self.dataset, self.target = fused, torch_name, dataset, target
        self.devices = tuple(devices)
        self.hyperparameters = hp

    @property
    def variants(self) -> list[tuple[int, int]]:
        """(devices, steps per call) of every measured variant."""
        return [(d, f) for d in self.devices for f in dict.fromkeys((1, self.fused))]

    @property
    def architecture(self) -> str:
        return "dcgan" if self.kind == "image" else "mlp"


CONFIGS = {
    # dcgan32 has no offline 32x32x3 dataset here: its pipeline reads random in-memory images.
    "dcgan28": Config("gan", "image", (28, 28, 1), 64, 4, "dcgan", "mnist70k", target=1.3),
    "dcgan32": Config("gan", "image", (32, 32, 3), 64, 4, "dcgan", None),
    "vae": Config("vae", "image", (28, 28, 1), 128, 4, "vae", "mnist70k", target=1.3),
    "mlp_gan": Config(
        "gan", "vector", (2,), 512, 10, "mlp_gan", "ring8", target=3.0, hidden_sizes=(128, 128)
    ),
    # Hu et al. (2017)'s models at the DCGAN/VAE shapes above (no PyTorch reference): their
    # cost next to the GAN's and the VAE's.
    "cgan28": Config("cgan", "image", (28, 28, 1), 64, 4, None, "mnist70k"),
    "iwgan28": Config("iwgan", "image", (28, 28, 1), 64, 4, None, "mnist70k"),
    "cvae": Config("cvae", "image", (28, 28, 1), 128, 4, None, "mnist70k"),
    "aavae": Config("aavae", "image", (28, 28, 1), 128, 4, None, "mnist70k"),
    # The SVAE study's full-scale step (Kingma et al.'s MLPs, hidden 500, 50 latents; 600
    # labels of 50,000): on the default list of neither; for `--configs` and profile_step.
    "svae_mlp": Config(
        "svae",
        "image",
        (28, 28, 1),
        64,
        4,
        None,
        "mnist70k",
        architecture="mlp",
        hidden_sizes=(500,),
        latent_dim=50,
        labelled_fraction=0.012,
    ),
    # The families beside their PyTorch references (issue 22): the registry's defaults on
    # 28x28x1 at batch 64, one variant each (experiments.train's default: 1 device, 1 step a
    # call), its input pipeline included.
    **{
        f"{name}28": Config(name, "image", (28, 28, 1), 64, 1, name, "mnist70k", 1.3, (1,), **hp)
        for name, hp in (
            ("wgan_gp", {}),
            ("infogan", {}),
            ("vaegan", {}),
            ("alpha_gan", {}),
            ("ali", {}),
            ("svae", {}),
            # Pu et al. 2017, Section 5, and the AS-VAE study: a planar flow of length 80.
            ("asvae", {"flow_length": 80}),
        )
    },
}
FAMILY_CONFIGS = tuple(name for name, c in CONFIGS.items() if c.devices == (1,))
flags.DEFINE_list(
    "configs",
    ["dcgan28", "dcgan32", "vae", "mlp_gan", *FAMILY_CONFIGS],
    "configurations to run",
)
PIPELINE_TARGET = 0.95


# ---------------------------------------------------------------------------------------------
# Workers: one measurement each, in a fresh process; the result is printed as one JSON line.


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def steps_per_round(rate: float, seconds: float) -> int:
    """Whole multiples of STEP_QUANTUM lasting at least `seconds` at `rate` steps/s."""
    return STEP_QUANTUM * max(1, math.ceil(rate * seconds / STEP_QUANTUM))


def _best_rate(run_steps, steps: int, rounds: int) -> float:
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        run_steps(steps)
        best = max(best, steps / (time.perf_counter() - start))
    return best


def _pipeline_source(config: Config):
    import numpy as np

    from unigen_jax import data

    if config.dataset:
        return data.get_source(config.dataset, "train", seed=0)
    rng = np.random.default_rng(0)
    info = data.DatasetInfo("random", config.kind, config.shape, 0, 5000)
    images = rng.integers(0, 256, size=(5000, *config.shape), dtype=np.uint8) / np.float32(255)
    return data.ArraySource(info, images, np.zeros(5000, np.int32))


class BenchmarkStep(NamedTuple):
    """A configuration's training step, compiled on first call, and its inputs (`build_step`)."""

    model: Any
    mesh: Any
    state: Any  # replicated over `mesh`
    step: Any
    batch: Any  # one constant batch, sharded for `step` (each stream's included)
    example: dict  # the host batch that initialises the networks
    leading: int  # leading axes of a step's batch: 1 when a step reads several batches
    num_params: int


def build_step(name: str, devices: int, steps_per_call: int, seed: int = 0) -> BenchmarkStep:
    """Configuration `name`'s model at its shapes, its state (seed `seed`) and training step on
    `devices` devices with `steps_per_call` steps a call, and one constant batch of random
    data (uniform images or normal vectors, random labels) with each stream's."""
    import itertools

    import jax
    import numpy as np

    from unigen_jax import data, models
    from unigen_jax.train import create_train_state, make_mesh, make_train_step, replicate
    from unigen_jax.train.prefetch import shard_calls

    config = CONFIGS[name]
    classes = 10 if config.kind == "image" else 0
    info = data.DatasetInfo("benchmark", config.kind, config.shape, classes, config.batch)
    model_config = models.make_config(config.model, **config.hyperparameters)
    model = models.build_model(config.model, model_config, info)
    mesh = make_mesh(devices)
    rng = np.random.default_rng(0)
    k = model.batches_per_step  # real batches a step reads (WGAN-GP's fresh critic batches)
    shape = (k, config.batch, *config.shape) if k > 1 else (config.batch, *config.shape)
    x = rng.uniform(size=shape) if config.kind == "image" else rng.normal(size=shape)
    labels = rng.integers(0, max(classes, 1), size=shape[: 1 + (k > 1)]).astype(np.int32)
    host_batch = {"x": x.astype(np.float32), "label": labels}
    for stream_name, stream in model.streams.items():  # SVAE's labelled stream
        size = stream.batch_size or config.batch
        first = {"x": x, "label": labels}
        host_batch[stream_name] = {
            key: np.take(a, range(size), axis=int(k > 1)) for key, a in first.items()
        }
    example = jax.tree.map(lambda b: b[0], host_batch) if k > 1 else host_batch
    unreplicated = create_train_state(model, example, seed)
    leading = int(k > 1)
    _, batch = next(shard_calls(itertools.repeat(host_batch), [steps_per_call], mesh, leading))
    return BenchmarkStep(
        model=model,
        mesh=mesh,
        state=replicate(unreplicated, mesh),
        step=make_train_step(model, mesh, steps_per_call=steps_per_call),
        batch=batch,
        example=example,
        leading=leading,
        num_params=count_parameters(model, unreplicated.params),
    )


def _jax_worker(spec: dict) -> dict:
    import itertools

    import jax
    import numpy as np

    from unigen_jax import data
    from unigen_jax.train import create_train_state, replicate
    from unigen_jax.train.loop import select_streams
    from unigen_jax.train.prefetch import DevicePrefetcher

    if spec["cold_compile"]:  # first call = a cold compile
        jax.config.update("jax_enable_compilation_cache", False)
    config = CONFIGS[spec["config"]]
    devices, fused = spec["devices"], spec["steps_per_call"]
    rounds = spec["rounds"]
    rss_before = _peak_rss_mib()
    setup = build_step(spec["config"], devices, fused)
    model, mesh, state, step, batch = setup.model, setup.mesh, setup.state, setup.step, setup.batch
    example, leading, num_params = setup.example, setup.leading, setup.num_params
    k = model.batches_per_step

    def run_constant(n):
        nonlocal state
        for _ in range(n // fused):
            state, _ = step(state, batch)
        jax.block_until_ready(state)

    start = time.perf_counter()
    state, metrics = step(state, batch)
    jax.block_until_ready(state)
    first_call = time.perf_counter() - start
    # After the first call, to compare with 1 device: its parameters, and the first step's
    # losses and gradient norms (computed from the same parameters on every device count).
    _save_params(state.params, spec["params_path"])
    first_step = jax.tree.map(lambda m: np.asarray(m).reshape(-1)[0], jax.device_get(metrics))
    start = time.perf_counter()
    run_constant(STEP_QUANTUM - fused)  # warm-up: STEP_QUANTUM steps in all
    warm_rate = (STEP_QUANTUM - fused) / (time.perf_counter() - start)
    steps = steps_per_round(warm_rate, spec["round_seconds"])
    result = {
        "first_call_sec": first_call,
        "steps_per_round": steps,
        "first_step_metrics": {name: float(value) for name, value in first_step.items()},
        "num_params": num_params,
    }
    compiled = step.lower(state, batch).compile()
    memory = compiled.memory_analysis()
    if memory is not None:
        buffers = (
            memory.argument_size_in_bytes
            + memory.output_size_in_bytes
            + memory.temp_size_in_bytes
            - memory.alias_size_in_bytes
        )
        result["xla_buffers_mib"] = buffers / 2**20
    if devices == 1 and fused == 1:
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list | tuple) else cost
        result["flops_per_step"] = float(cost.get("flops", 0.0)) or None

    if not spec["pipeline"]:
        result["steps_per_sec"] = _best_rate(run_constant, steps, rounds)
    else:  # interleave constant-batch and pipeline rounds; the pipeline trains its own state
        pipeline_state = replicate(create_train_state(model, example, 1), mesh)
        source, streams = select_streams(
            model, _pipeline_source(config), seed=0, batch_size=config.batch
        )
        with (
            data.StepBatches(
                source,
                seed=0,
                global_batch_size=config.batch,
                batches_per_step=k,
                streams=streams,
            ) as host,
            DevicePrefetcher(host, itertools.repeat(fused), mesh, leading_axes=leading) as calls,
        ):

            def run_pipeline(n):
                nonlocal pipeline_state
                for _ in range(n // fused):
                    _, device_batch = next(calls)
                    pipeline_state, _ = step(pipeline_state, device_batch)
                jax.block_until_ready(pipeline_state)

            run_pipeline(STEP_QUANTUM)
            constant, pipeline = 0.0, 0.0
            for _ in range(rounds):
                constant = max(constant, _best_rate(run_constant, steps, 1))
                pipeline = max(pipeline, _best_rate(run_pipeline, steps, 1))
        result["steps_per_sec"] = constant
        result["pipeline_steps_per_sec"] = pipeline
    result["peak_rss_mib"] = _peak_rss_mib()
    result["rss_growth_mib"] = result["peak_rss_mib"] - rss_before
    return result


def count_parameters(model, params) -> int:
    """Trainable parameters of `model`: every network an optimizer trains (BatchNorm scale
    and offset included; running statistics, shadows and the like not). `params` may hold
    arrays or their abstract shapes (`jax.eval_shape`)."""
    import jax

    return sum(
        math.prod(leaf.shape) for name in model.optimizers for leaf in jax.tree.leaves(params[name])
    )


def _save_params(params, path: str) -> None:
    import jax
    import numpy as np

    leaves = jax.tree_util.tree_leaves_with_path(jax.device_get(params))
    np.savez(path, **{jax.tree_util.keystr(p): np.asarray(leaf) for p, leaf in leaves})


def _torch_worker(spec: dict) -> dict:
    from experiments import torch_reference

    config = CONFIGS[spec["config"]]
    kwargs = {"batch_size": config.batch, "image_shape": config.shape, **config.hyperparameters}
    rss_before = _peak_rss_mib()
    result = torch_reference.benchmark_torch(
        config.torch_name,
        round_seconds=spec["round_seconds"],
        warmup=5,
        rounds=spec["rounds"],
        **kwargs,
    )
    peak = _peak_rss_mib()
    return {**result, "peak_rss_mib": peak, "rss_growth_mib": peak - rss_before}


def _best_seconds(function, *args, repeats: int = 5) -> float:
    import jax

    jax.block_until_ready(function(*args))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function(*args))
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peak_flops_per_sec(n: int = 2048) -> float:
    """Float32 FLOP/s of an n x n matmul: the better of XLA:CPU's default kernels and the
    training step's, best of 5."""
    import jax
    import jax.numpy as jnp

    from unigen_jax.train import settings

    square = jnp.ones((n, n), jnp.float32)
    seconds = min(
        _best_seconds(jax.jit(lambda x: x @ x, compiler_options=options), square)
        for options in (None, settings.cpu_compiler_options())
    )
    return 2 * n**3 / seconds


def _peak_worker(spec: dict) -> dict:
    """Float32 FLOP/s of a 2048 x 2048 matmul (the better of XLA:CPU's default kernels and the
    training step's, best of 5), and of the MLP GAN's hidden-layer matmul, [512, 128] x
    [128, 128], with the training step's kernels (20 chained in one program)."""
    import jax
    import jax.numpy as jnp

    from unigen_jax.train import settings

    step_options = settings.cpu_compiler_options()

    def chained(x, w):
        for _ in range(20):
            x = x @ w
        return x

    hidden = jnp.full((512, 128), 0.01, jnp.float32)
    hidden_seconds = _best_seconds(
        jax.jit(chained, compiler_options=step_options), hidden, jnp.eye(128, dtype=jnp.float32)
    )
    return {
        "flops_per_sec": matmul_peak_flops_per_sec(),
        "mlp_hidden_matmul_flops_per_sec": 20 * 2 * 512 * 128 * 128 / hidden_seconds,
    }


WORKERS = {"jax": _jax_worker, "torch": _torch_worker, "peak": _peak_worker}
RESULT_PREFIX = "BENCHMARK_RESULT "


def _run_worker(kind: str, spec: dict, devices: int = 1) -> dict:
    """Runs one measurement in a fresh process with `devices` XLA host devices."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = " ".join(
        [f for f in env.get("XLA_FLAGS", "").split() if "host_platform_device_count" not in f]
        + [f"--xla_force_host_platform_device_count={devices}"]
    )
    command = [sys.executable, "-m", "experiments.benchmark", f"--worker={kind}:{json.dumps(spec)}"]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(f"benchmark worker {kind} {spec} failed:\n{done.stderr[-3000:]}")


def _worker_main(text: str) -> None:
    kind, _, spec = text.partition(":")
    print(RESULT_PREFIX + json.dumps(WORKERS[kind](json.loads(spec))), flush=True)


# ---------------------------------------------------------------------------------------------
# The parent: variants, comparisons, the table.


def _relative_param_difference(path_a: str, path_b: str) -> float:
    """||a - b|| / ||a|| over all parameters of two saved states."""
    import numpy as np

    with np.load(path_a) as a, np.load(path_b) as b:
        difference = sum(float(np.sum((a[k] - b[k]) ** 2)) for k in a.files)
        norm = sum(float(np.sum(a[k] ** 2)) for k in a.files)
    return math.sqrt(difference / norm)


def _best_of_passes(results: list[dict]) -> dict:
    """One measurement repeated over passes: the best rates and first call, else the first's."""
    merged = dict(results[0])
    for key in ("steps_per_sec", "pipeline_steps_per_sec"):
        if key in merged:
            merged[key] = max(result[key] for result in results)
    if "first_call_sec" in merged:
        merged["first_call_sec"] = min(result["first_call_sec"] for result in results)
    return merged


def _relative_metric_difference(a: dict, b: dict) -> float:
    """max over metrics of |a - b| / max(|a|, 1e-6): the first step's losses and grad norms."""
    return max(abs(a[k] - b[k]) / max(abs(a[k]), 1e-6) for k in a)


def _run_config(name: str, round_seconds: float, with_torch: bool, scratch: str) -> list[dict]:
    """Every variant of config `name` (and PyTorch, where it has a reference), each measured
    once per pass."""
    from unigen_jax.train import settings

    config = CONFIGS[name]
    with_torch = with_torch and config.torch_name is not None
    # experiments.train's defaults: one device, this many steps per call.
    from unigen_jax import models

    family = models.family(config.model)
    default = (1, settings.fastest_steps_per_call(family, config.architecture))
    variants = config.variants + [default] * (default not in config.variants)
    torch_runs, jax_runs = [], {variant: [] for variant in variants}
    for index in range(FLAGS.passes):
        print(f"{name}: pass {index + 1} of {FLAGS.passes} ...", flush=True)
        if with_torch:
            spec = {"config": name, "round_seconds": round_seconds, "rounds": FLAGS.rounds}
            torch_runs.append(_run_worker("torch", spec))
        for devices, fused in variants:
            spec = {
                "config": name,
                "devices": devices,
                "steps_per_call": fused,
                "round_seconds": round_seconds,
                "rounds": FLAGS.rounds,
                "pipeline": (devices, fused) == default,
                "cold_compile": FLAGS.cold_compile,
                "params_path": os.path.join(scratch, f"{name}_{devices}_{fused}.npz"),
            }
            jax_runs[devices, fused].append(_run_worker("jax", spec, devices))
    if with_torch:
        best_torch = _best_of_passes(torch_runs)
        counts = {run["num_params"] for run in jax_runs[variants[0]]}
        if counts != {best_torch["num_params"]}:
            raise RuntimeError(
                f"{name}: the PyTorch reference has {best_torch['num_params']:,} parameters, "
                f"the JAX model {counts}: they are not the same architecture"
            )
        runs = ", ".join(f"{run['steps_per_sec']:.1f}" for run in torch_runs)
        print(
            f"{name:8s} PyTorch eager {best_torch['steps_per_sec']:8.1f} steps/s (passes: "
            f"{runs})  peak RSS {best_torch['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    rows = []
    for devices, fused in variants:
        row = {
            "config": name,
            "devices": devices,
            "steps_per_call": fused,
            "train_default": (devices, fused) == default,
            **_best_of_passes(jax_runs[devices, fused]),
            "steps_per_sec_passes": [run["steps_per_sec"] for run in jax_runs[devices, fused]],
        }
        if devices > 1:
            row["param_difference_vs_1_device"] = _relative_param_difference(
                os.path.join(scratch, f"{name}_1_{fused}.npz"),
                os.path.join(scratch, f"{name}_{devices}_{fused}.npz"),
            )
            row["first_step_metric_difference_vs_1_device"] = _relative_metric_difference(
                jax_runs[1, fused][0]["first_step_metrics"], row["first_step_metrics"]
            )
        if with_torch:
            row["torch_steps_per_sec"] = best_torch["steps_per_sec"]
            row["torch_steps_per_sec_passes"] = [run["steps_per_sec"] for run in torch_runs]
            row["torch_peak_rss_mib"] = best_torch["peak_rss_mib"]
            row["torch_rss_growth_mib"] = best_torch["rss_growth_mib"]
            row["ratio_vs_torch"] = row["steps_per_sec"] / best_torch["steps_per_sec"]
        _print_row(row)
        rows.append(row)
    flops = rows[0].get("flops_per_step")
    for row in rows:
        if flops:
            row["flops_per_step"] = flops
            row["achieved_flops_per_sec"] = flops * row["steps_per_sec"]
    return rows


def _print_row(row: dict) -> None:
    parts = [
        f"{row['config']:8s} devices={row['devices']} steps/call={row['steps_per_call']:2d}",
        f"first call {row['first_call_sec']:5.1f}s",
        f"{row['steps_per_sec']:8.1f} steps/s",
    ]
    if "ratio_vs_torch" in row:
        parts.append(f"= {row['ratio_vs_torch']:.2f}x torch")
    if "pipeline_steps_per_sec" in row:
        share = row["pipeline_steps_per_sec"] / row["steps_per_sec"]
        parts.append(f"pipeline {row['pipeline_steps_per_sec']:.1f} ({100 * share:.0f}%)")
    if "xla_buffers_mib" in row:
        parts.append(f"XLA buffers {row['xla_buffers_mib']:.0f} MiB")
    parts.append(f"peak RSS {row['peak_rss_mib']:.0f} MiB")
    if "param_difference_vs_1_device" in row:
        parts.append(
            f"vs 1 device: first-step losses {row['first_step_metric_difference_vs_1_device']:.0e}"
            f", params after the first call {row['param_difference_vs_1_device']:.0e}"
        )
    print("  ".join(parts) + ("  [train default]" if row["train_default"] else ""), flush=True)


def _summary(rows: list[dict], peak: float) -> list[dict]:
    """Per config: the fastest variant, its ratio against the target, the pipeline share."""
    lines = []
    for name in dict.fromkeys(row["config"] for row in rows):
        config = CONFIGS[name]
        own = [row for row in rows if row["config"] == name]
        best = max(own, key=lambda row: row["steps_per_sec"])
        default = next(row for row in own if row["train_default"])
        entry = {
            "config": name,
            "best_devices": best["devices"],
            "best_steps_per_call": best["steps_per_call"],
            "best_steps_per_sec": best["steps_per_sec"],
            "train_default_steps_per_sec": default["steps_per_sec"],
            "pipeline_share": default["pipeline_steps_per_sec"] / default["steps_per_sec"],
            "pipeline_target": PIPELINE_TARGET,
        }
        if "ratio_vs_torch" in best:
            entry["ratio_vs_torch"] = best["ratio_vs_torch"]
            entry["target_ratio"] = config.target
            entry["target_met"] = (
                None if config.target is None else best["ratio_vs_torch"] >= (config.target)
            )
        if best.get("flops_per_step"):
            entry["share_of_matmul_peak"] = best["achieved_flops_per_sec"] / peak
            if entry.get("target_met") is False:  # what the target would take
                needed = config.target * best["torch_steps_per_sec"] * best["flops_per_step"]
                entry["target_share_of_matmul_peak"] = needed / peak
        lines.append(entry)
    return lines


def _print_summary(summary: list[dict], peak: float, hidden_matmul: float) -> None:
    print(
        f"\nfloat32 matmul peak: {peak / 1e9:.0f} GFLOP/s (2048 x 2048); the MLP GAN's "
        f"[512, 128] x [128, 128] matmul: {hidden_matmul / 1e9:.0f} GFLOP/s"
    )
    for entry in summary:
        text = (
            f"{entry['config']:8s} fastest: {entry['best_devices']} device(s), "
            f"{entry['best_steps_per_call']} step(s)/call, {entry['best_steps_per_sec']:.1f} "
            "steps/s"
        )
        if "ratio_vs_torch" in entry:
            text += f" = {entry['ratio_vs_torch']:.2f}x PyTorch eager"
            if entry["target_ratio"]:
                verdict = "met" if entry["target_met"] else "NOT met"
                text += f" (target {entry['target_ratio']}x: {verdict})"
        if "share_of_matmul_peak" in entry:
            text += f"; {100 * entry['share_of_matmul_peak']:.0f}% of the matmul peak"
        if "target_share_of_matmul_peak" in entry:
            text += (
                f" (the target needs {100 * entry['target_share_of_matmul_peak']:.0f}% of it, "
                "every operation of the step included)"
            )
        share = entry["pipeline_share"]
        verdict = "met" if share >= PIPELINE_TARGET else "NOT met"
        text += (
            f"; input pipeline at the train defaults: {100 * share:.0f}% of constant-batch "
            f"steps/s (target {100 * PIPELINE_TARGET:.0f}%: {verdict})"
        )
        print(text)


def markdown_table(rows: list[dict]) -> str:
    """The rows as the Markdown table of BENCHMARKS.md."""
    lines = [
        "| config | devices | steps/call | first call | JAX steps/s | PyTorch steps/s | ratio "
        "| input pipeline | XLA buffers | peak RSS (PyTorch) | 2 vs 1 device: first step "
        "| 2 vs 1 device: params |",
        "|" + " --- |" * 12,
    ]
    for row in rows:
        torch_rate = row.get("torch_steps_per_sec")
        pipeline = row.get("pipeline_steps_per_sec")
        cells = [
            row["config"] + (" (train default)" if row["train_default"] else ""),
            str(row["devices"]),
            str(row["steps_per_call"]),
            f"{row['first_call_sec']:.1f} s",
            f"{row['steps_per_sec']:.1f}",
            f"{torch_rate:.1f}" if torch_rate else "-",
            f"{row['ratio_vs_torch']:.2f}x" if torch_rate else "-",
            f"{pipeline:.1f} ({100 * pipeline / row['steps_per_sec']:.0f}%)" if pipeline else "",
            f"{row.get('xla_buffers_mib', 0):.0f} MiB",
            f"{row['peak_rss_mib']:.0f} MiB"
            + (f" ({row['torch_peak_rss_mib']:.0f} MiB)" if torch_rate else ""),
            f"{row['first_step_metric_difference_vs_1_device']:.0e}" if row["devices"] > 1 else "",
            f"{row['param_difference_vs_1_device']:.0e}" if row["devices"] > 1 else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    logging.set_verbosity(logging.ERROR)
    _cli.check_no_arguments(argv)
    if FLAGS.worker:
        _worker_main(FLAGS.worker)
        return
    unknown = [c for c in FLAGS.configs if c not in CONFIGS]
    if unknown:
        raise UserInputError(f"unknown config {unknown[0]!r}; choose from: {', '.join(CONFIGS)}")
    if min(FLAGS.rounds, FLAGS.passes) <= 0 or FLAGS.round_seconds < 0:
        raise UserInputError("--rounds and --passes must be positive, --round_seconds >= 0")
    with_torch = False
    if FLAGS.torch:
        try:
            import torch  # noqa: F401

            with_torch = True
        except ImportError:
            print("PyTorch is not installed: JAX figures only (pip install torch==2.13.0)")
    peaks = [_run_worker("peak", {})]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in FLAGS.configs:
            rows += _run_config(name, FLAGS.round_seconds, with_torch, scratch)
    peaks.append(_run_worker("peak", {}))  # before and after: the better
    peak = max(p["flops_per_sec"] for p in peaks)
    hidden_matmul = max(p["mlp_hidden_matmul_flops_per_sec"] for p in peaks)
    for row in rows:
        if row.get("achieved_flops_per_sec"):
            row["share_of_matmul_peak"] = row["achieved_flops_per_sec"] / peak
    summary = _summary(rows, peak)
    _print_summary(summary, peak, hidden_matmul)
    print("\n" + markdown_table(rows) + "\n")
    import jax

    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "jax_version": jax.__version__,
        "torch": with_torch,
        "matmul_peak_flops_per_sec": peak,
        "mlp_hidden_matmul_flops_per_sec": hidden_matmul,
        "round_seconds": FLAGS.round_seconds,
        "rounds": FLAGS.rounds,
        "passes": FLAGS.passes,
        "rows": rows,
        "summary": summary,
    }
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    path = os.path.join(FLAGS.output_dir, "benchmark.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    _cli.run(main)
