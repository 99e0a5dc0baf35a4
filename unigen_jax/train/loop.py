"""The training loop: data, compiled step, logging, samples, checkpoints, resume, SIGTERM.

Workdir layout (the contract users rely on)::

  config.json                 the resolved configuration, with the device count and
                              `train_seconds`: the wall time of every finished invocation
                              (a resumed run adds its own; one killed adds nothing)
  metrics.jsonl               one JSON object per logged step (the last step always logged)
  samples/step_NNNNNN.png     sample grid (scatter plot for 2-D data; one row per class for
                              class-conditional models; an EMA generator's if it has one)
  samples/step_NNNNNN_reconstructions.png   models with an encoder: data row, reconstruction row
  samples/step_NNNNNN_<name>.png   image data: each of the model's extra grids
                              (`ModelSpec.sample_grids`: InfoGAN's sweeps of its continuous codes)
  checkpoints/                orbax checkpoints (the newest 3, and with
                              --keep_checkpoints_every=N every multiple of N, which
                              `experiments.evaluate --step` scores); running again resumes
  tensorboard/                TensorBoard events: the metrics, sample images and config
                              (unigen_jax.train.tensorboard)
  eval*.json                  `experiments.evaluate`'s reports

A resumed run rewinds metrics.jsonl and tensorboard/ to its checkpoint and removes the sample
grids and evaluation reports of later steps: they describe checkpoints it trains again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import time

import jax
import numpy as np

from unigen_jax import data, models
from unigen_jax.errors import UserInputError
from unigen_jax.models.common import flag_value
from unigen_jax.train import distributed, images
from unigen_jax.train import workdir as files
from unigen_jax.train.checkpoint import Checkpointer
from unigen_jax.train.divergence import NonFiniteWatch
from unigen_jax.train.prefetch import DevicePrefetcher, call_sizes
from unigen_jax.train.state import create_train_state
from unigen_jax.train.step import make_mesh, make_train_step, replicate
from unigen_jax.train.tensorboard import SUBDIR as TENSORBOARD_SUBDIR
from unigen_jax.train.tensorboard import TensorBoardWriter

NUM_SAMPLES = 64  # an 8x8 grid of images
GRID_COLUMNS = 8
MAX_GRID_ROWS = 16  # class-conditional grids: one row per class, up to this many classes
NUM_POINTS = 1000  # a scatter plot of 2-D samples
NUM_RECONSTRUCTIONS = 16
# Settings that must not change between a run and its resumption.
RESUME_KEYS = (
    "model",
    "dataset",
    "seed",
    "batch_size",
    "model_config",
    "train_fraction",
    "validation_fraction",
)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How to train (the model's own hyperparameters live in its config dataclass)."""

    model: str = "gan"
    dataset: str = "mnist5k"
    workdir: str = ""
    steps: int = 3000
    batch_size: int = 64
    seed: int = 0
    data_dir: str | None = None
    num_devices: int | None = None
    steps_per_call: int = 1
    log_every: int = 100
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints_every: int = 0
    train_fraction: float = 1.0
    validation_fraction: float = 0.0

    def validate(self) -> None:
        if not self.workdir:
            raise UserInputError("--workdir is required: the folder for checkpoints and outputs")
        for name in (
            "steps",
            "batch_size",
            "steps_per_call",
            "log_every",
            "sample_every",
            "checkpoint_every",
        ):
            if getattr(self, name) <= 0:
                raise UserInputError(f"--{name} must be positive, got {getattr(self, name)}")
        if self.num_devices is not None:
            available = len(jax.devices())
            if not 1 <= self.num_devices <= available:
                raise UserInputError(
                    f"--num_devices={self.num_devices} but {available} device(s) are available"
                )
        if not 0 < self.train_fraction <= 1:
            raise UserInputError(f"--train_fraction must be in (0, 1], got {self.train_fraction}")
        if not 0 <= self.validation_fraction < 1:
            raise UserInputError(
                f"--validation_fraction must be in [0, 1), got {self.validation_fraction}"
            )
        if self.keep_checkpoints_every < 0:
            raise UserInputError(
                f"--keep_checkpoints_every must be >= 0 (0: keep only the newest 3), got "
                f"{self.keep_checkpoints_every}"
            )
        if self.keep_checkpoints_every % self.checkpoint_every:
            raise UserInputError(
                f"--keep_checkpoints_every={self.keep_checkpoints_every} must be a multiple of "
                f"--checkpoint_every={self.checkpoint_every}: only saved steps can be kept"
            )
        if self.checkpoint_every % self.steps_per_call:
            raise UserInputError(
                f"--checkpoint_every={self.checkpoint_every} must be a multiple of "
                f"--steps_per_call={self.steps_per_call}, so resumed runs repeat the same calls"
            )


def _jsonable(value):
    if dataclasses.is_dataclass(value):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _check_resumable(config_path: str, resolved: dict) -> None:
    """A workdir holding another run's checkpoints must not be resumed with other settings.

    A model config field that the stored run lacks was added to the model after the run began;
    the run counts as having trained with the behaviour before it: the field's default, or the
    value its config class names in `FORMERLY` where the default changed what the model does
    (a study resumed across such a change continues its runs, and one trained before it cannot
    be continued with the new behaviour by mistake).
    """
    with open(config_path) as f:
        previous = json.load(f)
    if (
        isinstance(previous.get("model_config"), dict)
        and previous.get("model") in models.MODEL_NAMES
    ):
        config_class = models.config_class(previous["model"])
        formerly = getattr(config_class, "FORMERLY", {})
        defaults = _jsonable(config_class())
        added = {
            k: formerly.get(k, v) for k, v in defaults.items() if k not in previous["model_config"]
        }
        previous["model_config"] = {**added, **previous["model_config"]}
    for key in RESUME_KEYS:
        before, now = previous.get(key), resolved.get(key)
        if before == now:
            continue
        if isinstance(before, dict) and isinstance(now, dict):  # name the fields that differ
            differ = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
            raise UserInputError(
                f"workdir {resolved['workdir']} holds a run with "
                + ", ".join(f"config.{k}={before.get(k)}" for k in differ)
                + ", not "
                + ", ".join(f"{now.get(k)}" for k in differ)
                + "; resume it with "
                + " ".join(f"--config.{k}={flag_value(before.get(k))}" for k in differ)
                + " or choose a new --workdir"
            )
        raise UserInputError(
            f"workdir {resolved['workdir']} holds a run with {key}={before}, not {now}; resume "
            "with the same settings or choose a new --workdir"
        )


class _SigtermFlag:
    """Turns SIGTERM into a flag the loop checks between steps (then saves and exits)."""

    def __init__(self):
        self.raised = False
        self._previous = None

    def __enter__(self):
        def handler(signum, frame):
            self.raised = True

        self._previous = signal.signal(signal.SIGTERM, handler)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self._previous)


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class _Outputs:
    """Writes the sample grids (and reconstructions) of a state into the workdir."""

    def __init__(self, model, source, test_source, seed: int, workdir: str):
        self._model, self._info, self._workdir = model, source.info, workdir
        self._sample_key = jax.random.fold_in(jax.random.PRNGKey(seed), 0x5A3)
        if self._info.kind == "vector":  # drawn under the samples of 2-D data
            self._reference = source.get(np.arange(min(len(source), 2000)))["x"]
        self._test_batch = test_source.get(np.arange(NUM_RECONSTRUCTIONS))

        def nets(state, batch_size, noise_indices=None):
            return model.inference_networks(
                state.params,
                state.batch_stats,
                key=self._sample_key,
                batch_size=batch_size,
                noise_indices=noise_indices,
            )

        conditions = {}
        if self._info.kind == "vector":
            n, self._columns = NUM_POINTS, None
        elif "label" in model.conditions:  # one row per class
            classes = min(self._info.num_classes, MAX_GRID_ROWS)
            n, self._columns = classes * GRID_COLUMNS, GRID_COLUMNS
            conditions["label"] = np.repeat(np.arange(classes, dtype=np.int32), GRID_COLUMNS)
        else:
            n, self._columns = NUM_SAMPLES, GRID_COLUMNS
        self._sample = None  # a model that does not generate (ADA) has no sample grid
        if model.sample_fn is not None:
            self._sample = jax.jit(lambda s: model.sample_fn(nets(s, n), conditions))
        self._grids = {}  # name -> (jitted sampler, columns); image data only
        if self._info.kind == "image":
            for name, grid in model.sample_grids.items():
                self._grids[name] = (self._grid_sampler(nets, grid), grid.columns)
        self._reconstruct = None
        if model.reconstruct_fn is not None:
            self._reconstruct = jax.jit(
                lambda s, batch: model.reconstruct_fn(nets(s, batch["x"].shape[0]), batch)
            )

    def _grid_sampler(self, nets, grid):
        conditions = {k: np.asarray(v) for k, v in grid.conditions.items()}
        noise = None if grid.noise is None else np.asarray(grid.noise, np.int32)
        n = grid.num_samples
        return jax.jit(lambda s: self._model.sample_fn(nets(s, n, noise), conditions))

    def write(self, state, step: int, *, save: bool = True) -> dict[str, str]:
        """Saves the PNGs of `step`; returns their paths by TensorBoard tag. Every process
        computes them (the computation spans every process's devices); `save` on one."""
        path = os.path.join(self._workdir, "samples", f"step_{step:06d}.png")
        samples = None
        if self._sample is not None:
            samples = np.asarray(jax.device_get(self._sample(state)))
        reconstructions = None
        if self._reconstruct is not None and self._info.kind == "image":
            reconstructions = np.asarray(jax.device_get(self._reconstruct(state, self._test_batch)))
        grids = {
            name: (np.asarray(jax.device_get(sampler(state))), columns)
            for name, (sampler, columns) in self._grids.items()
        }
        if not save:
            return {}
        written = {"samples": path} if samples is not None else {}
        if samples is not None and self._info.kind == "image":
            images.save_image_grid(path, samples, columns=self._columns)
        elif samples is not None:
            images.save_scatter(
                path,
                samples.reshape(len(samples), -1)[:, :2],
                self._reference.reshape(len(self._reference), -1)[:, :2],
            )
        if reconstructions is not None:
            written["reconstructions"] = path.replace(".png", "_reconstructions.png")
            images.save_image_grid(
                written["reconstructions"],
                np.concatenate([self._test_batch["x"], reconstructions]),
                columns=NUM_RECONSTRUCTIONS,
            )
        for name, (grid, columns) in grids.items():
            written[f"samples_{name}"] = path.replace(".png", f"_{name}.png")
            images.save_image_grid(written[f"samples_{name}"], grid, columns=columns)
        return written


def select_streams(model, source, *, seed: int, batch_size: int, num_devices: int = 1):
    """(the run's own data, {stream: (source, global batch size)}) of `model`'s streams
    selected from the training data `source`; an exclusive stream's examples leave the run's
    own data."""
    streams = {}
    for name, stream in model.streams.items():
        stream_batch_size = stream.batch_size or batch_size
        if stream_batch_size % num_devices:
            raise UserInputError(
                f"stream {name!r} has batch size {stream_batch_size}, not divisible by the "
                f"{num_devices} devices"
            )
        selected = stream.select(source, seed)
        if stream.exclusive:
            source = data.subsets.without(source, selected)
        streams[name] = (selected, stream_batch_size)
    return source, streams


def train(run: RunConfig, model_config, *, log=print) -> dict:
    """Trains (or resumes) a run; returns the last logged metrics.

    Everything that can be wrong with the input is checked before the workdir is touched.
    Faults end in one line (a UserInputError or a PartialFailure) and leave a workdir that the
    same command resumes: another run holding the workdir, a loss or gradient that is no longer
    finite (its state is never saved), an unreadable newest checkpoint (the one before is
    used), a disk that fills or a workdir that cannot be written.
    """
    run.validate()
    mesh = make_mesh(run.num_devices)
    if run.batch_size % mesh.size:
        raise UserInputError(
            f"--batch_size={run.batch_size} is not divisible by the {mesh.size} devices; "
            f"use a multiple of {mesh.size} or set --num_devices"
        )
    source, _ = data.training_sources(
        data.get_source(run.dataset, "train", data_dir=run.data_dir, seed=run.seed),
        train_fraction=run.train_fraction,
        validation_fraction=run.validation_fraction,
    )
    test_source = data.get_source(run.dataset, "test", data_dir=run.data_dir, seed=run.seed)
    model = models.build_model(run.model, model_config, source.info)
    source, streams = select_streams(
        model, source, seed=run.seed, batch_size=run.batch_size, num_devices=mesh.size
    )
    resolved = {
        **_jsonable(run),
        "model_config": _jsonable(model.config),
        "num_devices": mesh.size,
        "platform": jax.devices()[0].platform,
        "jax_version": jax.__version__,
        "data": _jsonable(source.info),
    }
    config_path = os.path.join(run.workdir, "config.json")
    if os.path.exists(config_path):
        _check_resumable(config_path, resolved)

    # From here on the workdir is written, by process 0 only (all processes checkpoint).
    primary = distributed.is_primary()
    if not primary:
        log = _silent
    try:
        os.makedirs(run.workdir, exist_ok=True)
        with files.lock(run.workdir) if primary else contextlib.nullcontext():
            return _train_locked(
                run, model, source, test_source, streams, resolved, mesh, config_path, log
            )
    except OSError as error:
        raise files.disk_failure(error, run.workdir) from None


def _silent(_):
    pass


def _previous_record(config_path: str) -> dict:
    """What config.json records of the run's earlier invocations: their training time (0 if
    none) and, if any compiled, their first calls' times, which a rerun that compiles
    nothing (a finished run) keeps."""
    try:
        with open(config_path) as f:
            previous = json.load(f)
        record = {"train_seconds": float(previous.get("train_seconds", 0.0))}
        if isinstance(previous.get("first_call_sec"), dict):
            record["first_call_sec"] = dict(previous["first_call_sec"])
        return record
    except (OSError, ValueError, TypeError, AttributeError):
        return {"train_seconds": 0.0}


def _train_locked(run, model, source, test_source, streams, resolved, mesh, config_path, log):
    """`train` once the workdir is locked."""
    started = time.perf_counter()
    resolved.update(_previous_record(config_path))
    primary = distributed.is_primary()
    checkpoint_dir = os.path.join(run.workdir, "checkpoints")
    example = source.get(np.arange(2))
    example.update({name: s.get(np.arange(2)) for name, (s, _) in streams.items()})
    state = create_train_state(model, example, run.seed)
    checkpointer = Checkpointer(checkpoint_dir, keep_every=run.keep_checkpoints_every)
    state, start = checkpointer.restore_latest_readable(state, log=log)
    if start is not None:
        log(f"resumed from {checkpoint_dir} at step {start}")
    last_checkpoint = start
    start = start or 0
    state = replicate(state, mesh)
    metrics_path = os.path.join(run.workdir, "metrics.jsonl")
    metrics_log = None
    if primary:
        files.write_json_atomically(config_path, resolved)
        metrics_log = files.MetricsLog(metrics_path, start)
        stale = files.drop_outputs_after(run.workdir, start)
        if stale:
            names = ", ".join(os.path.relpath(path, run.workdir) for path in stale)
            log(f"removed the scores and samples of steps after {start}, trained again: {names}")
    outputs = _Outputs(model, source, test_source, run.seed, run.workdir)
    where = f"metrics in {metrics_path}"
    if model.sample_fn is not None:  # a model that does not generate writes no sample grid
        where = f"samples in {os.path.join(run.workdir, 'samples')}, {where}"
    if start >= run.steps:
        log(f"already at step {start} >= --steps={run.steps}: nothing to do; {where}")
        checkpointer.close()
        return {"step": start}

    # Rewound to the checkpoint like metrics.jsonl; only process 0 writes (multi-host runs).
    board = TensorBoardWriter(
        os.path.join(run.workdir, TENSORBOARD_SUBDIR),
        start_step=start,
        active=primary,
    )

    fused = run.steps_per_call
    step_fns = {1: make_train_step(model, mesh, steps_per_call=1)}
    if fused > 1:
        step_fns[fused] = make_train_step(model, mesh, steps_per_call=fused)
    watch = NonFiniteWatch(step_fns[1].metric_phases, last_checkpoint)
    first_call_done = set()
    last_metrics: dict = {}
    step, interval_start, interval_steps = start, time.perf_counter(), 0
    log(
        f"training {run.model} on {run.dataset} ({source.info.num_examples} examples) "
        f"with {mesh.size} {resolved['platform']} device(s), batch {run.batch_size}, "
        f"steps {start} -> {run.steps}"
    )
    sizes = call_sizes(start, run.steps, fused=fused, checkpoint_every=run.checkpoint_every)
    with (
        data.StepBatches(
            source,
            seed=run.seed,
            global_batch_size=run.batch_size,
            start_step=start,
            batches_per_step=model.batches_per_step,
            streams=streams,
        ) as batches,
        DevicePrefetcher(batches, sizes, mesh, leading_axes=batches.leading_axes) as calls,
        _SigtermFlag() as sigterm,
        board,
    ):
        board.config(resolved)
        for k, batch in calls:
            t0 = time.perf_counter()
            state, metrics = step_fns[k](state, batch)
            watch.add(step, k, metrics)
            if k not in first_call_done:  # compiles, then runs once
                jax.block_until_ready(state)
                first_call_sec = time.perf_counter() - t0
                first_call_done.add(k)
                log(f"compiled and ran the first {k}-step call in {first_call_sec:.1f}s")
                resolved.setdefault("first_call_sec", {})[str(k)] = first_call_sec
                interval_start, interval_steps = time.perf_counter(), -k  # rate excludes it
            step += k
            interval_steps += k
            done = step >= run.steps
            if step % run.log_every < k or done or sigterm.raised:
                watch.check()
                metrics = jax.device_get(metrics)
                if k > 1:
                    metrics = jax.tree.map(lambda m: m[-1], metrics)
                elapsed = time.perf_counter() - interval_start
                rate = max(interval_steps, 1) / max(elapsed, 1e-9)
                last_metrics = {
                    "step": step,
                    **{n: float(v) for n, v in metrics.items()},
                    "steps_per_sec": rate,
                }
                if metrics_log is not None:
                    metrics_log.append(last_metrics)
                board.scalars(step, last_metrics)
                losses = "  ".join(
                    f"{n}={v:.4f}" for n, v in metrics.items() if not n.endswith("grad_norm")
                )
                eta = (run.steps - step) / max(rate, 1e-9)
                log(
                    f"step {step}/{run.steps}  {losses}  {rate:.2f} steps/s  "
                    f"ETA {_format_seconds(eta)}"
                )
                interval_start, interval_steps = time.perf_counter(), 0
            if step % run.sample_every < k or done:
                board.images(step, outputs.write(state, step, save=primary))
            if step % run.checkpoint_every < k or done or sigterm.raised:
                watch.check()  # a state that is no longer finite is never saved
                checkpointer.save(state)
                watch.saved(step)
            if sigterm.raised and not done:
                log(f"SIGTERM at step {step}: checkpoint saved; run the same command to resume")
                checkpointer.close()
                if primary:
                    resolved["train_seconds"] += time.perf_counter() - started
                    files.write_json_atomically(config_path, resolved)
                sys.exit(128 + signal.SIGTERM)
    checkpointer.close()
    if primary:
        resolved["train_seconds"] += time.perf_counter() - started
        files.write_json_atomically(config_path, resolved)
    log(f"done: {where}")
    return last_metrics
