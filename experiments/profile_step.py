r"""Where a training step's time goes: `python -m experiments.profile_step --config=svae28`.

Runs `--steps` training steps of a benchmark configuration (`experiments.benchmark.CONFIGS`:
the same model, shapes and constant batch, one device, one step a call) under JAX's profiler,
and sums the time of every XLA:CPU operation (the thunks of the compiled step: convolutions,
dots, fusions, library calls) over those steps. Prints the step's wall time; the operations
by kind of work (convolutions, dots, data movement, elementwise fusions...) and the slowest
single operations, each with its share of the operations' summed time; and the step's FLOPs
(XLA's cost analysis) over its wall time against this machine's float32 matmul peak.
Operations run on both cores at once, so their summed time can exceed the wall time.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import re
import tempfile
import time

from absl import flags

from experiments import _cli, benchmark
from unigen_jax.errors import UserInputError

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "a benchmark configuration, e.g. svae28")
flags.DEFINE_integer("steps", 20, "profiled steps (after 5 warm-up steps)")
flags.DEFINE_integer("top", 15, "slowest operations listed")

# Runtime bookkeeping events on XLA's threads, not operations of the program.
_NOT_OPERATIONS = re.compile(r"^(end: |ThunkExecutor|ThreadpoolListener)")


def operation_times(trace_dir: str) -> collections.Counter:
    """Summed microseconds of each XLA:CPU operation in the Perfetto trace under `trace_dir`."""
    (path,) = glob.glob(f"{trace_dir}/**/perfetto_trace.json.gz", recursive=True)
    with gzip.open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    xla_threads = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M"
        and e.get("name") == "thread_name"
        and e["args"]["name"].startswith(("tf_XLA", "XLA"))
    }
    times = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and (e.get("pid"), e.get("tid")) in xla_threads:
            if not _NOT_OPERATIONS.match(e["name"]):
                times[e["name"]] += e.get("dur", 0.0)
    return times


# Fusions whose operations only move or copy data (the names XLA gives a fusion list them).
_DATA_MOVEMENT = {"transpose", "copy", "concatenate", "slice", "bitcast", "broadcast", "pad"}
_DATA_MOVEMENT |= {"reshape", "dynamic-slice", "dynamic-update-slice", "gather", "reverse"}


def category(operation: str) -> str:
    """The kind of work an XLA:CPU operation does, from its name (`convolution.3`,
    `transpose_copy_fusion.17`, `ynn_fusion.52`...)."""
    base = re.sub(r"[.\d]+$", "", operation)
    if "conv" in base:
        return "convolutions"
    if base.startswith("dot"):
        return "dots (XLA)"
    if base.startswith("ynn"):
        return "YNNPACK fusions (dots, reductions)"
    if set(base.removesuffix("_fusion").split("_")) <= _DATA_MOVEMENT:
        return "data movement (transposes, copies, concatenations)"
    return "elementwise and reduction fusions"


def main(argv):
    _cli.check_no_arguments(argv)
    choices = ", ".join(benchmark.CONFIGS)
    if FLAGS.config is None:
        raise UserInputError(f"--config is required; choose from: {choices}")
    if FLAGS.config not in benchmark.CONFIGS:
        raise UserInputError(f"unknown --config {FLAGS.config!r}; choose from: {choices}")
    if FLAGS.steps <= 0 or FLAGS.top <= 0:
        raise UserInputError("--steps and --top must be positive")
    import jax

    setup = benchmark.build_step(FLAGS.config, devices=1, steps_per_call=1)
    # Compiled once: the profiled steps and the FLOP count (cost analysis) use this program.
    step = setup.step.lower(setup.state, setup.batch).compile()
    state = setup.state
    for _ in range(5):
        state, _ = step(state, setup.batch)
    jax.block_until_ready(state)
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            start = time.perf_counter()
            for _ in range(FLAGS.steps):
                state, _ = step(state, setup.batch)
            jax.block_until_ready(state)
            wall = (time.perf_counter() - start) / FLAGS.steps
        times = operation_times(trace_dir)
    total = sum(times.values())
    by_category = collections.Counter()
    for operation, micros in times.items():
        by_category[category(operation)] += micros
    cost = step.cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    flops = float(cost.get("flops", 0.0))
    peak = benchmark.matmul_peak_flops_per_sec()
    print(
        f"{FLAGS.config}: {1e3 * wall:.1f} ms a step (profiled), operations' summed time "
        f"{total / 1e3 / FLAGS.steps:.1f} ms a step on XLA's threads"
    )
    print(
        f"{flops / 1e9:.2f} GFLOP a step: {flops / wall / 1e9:.0f} GFLOP/s, "
        f"{100 * flops / wall / peak:.0f}% of the float32 matmul peak ({peak / 1e9:.0f} GFLOP/s)"
    )
    print("\nby kind of work:")
    for name, micros in by_category.most_common():
        print(f"  {100 * micros / total:5.1f}%  {micros / 1e3 / FLAGS.steps:7.2f} ms  {name}")
    print(f"\nthe {FLAGS.top} slowest operations:")
    for name, micros in times.most_common(FLAGS.top):
        print(f"  {100 * micros / total:5.1f}%  {micros / 1e3 / FLAGS.steps:7.2f} ms  {name}")


if __name__ == "__main__":
    _cli.run(main)
