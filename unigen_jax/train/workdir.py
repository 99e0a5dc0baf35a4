"""The files of a run's workdir that survive faults: an exclusive lock, atomic JSON, and a
metrics log that a kill can cut at any byte.

- `lock(workdir)`: an advisory `flock` on `workdir/.lock`, held while a run trains. A second
  run on the same workdir is refused with one line; the kernel releases the lock of a process
  that dies (kill -9 included), so no stale lock is ever left behind.
- `write_json_atomically`: write to a temporary file beside the target, then rename: a kill
  leaves the old or the new file, never half of one.
- `eval_report_name`: the file `experiments.evaluate` writes its report to.
- `MetricsLog`: `metrics.jsonl`, one JSON object per line, appended and flushed per record; on
  resume the records after the checkpoint step, and a last line cut short by a kill, are
  dropped (atomically).
- `drop_outputs_after`: on resume, the evaluation reports and sample grids of steps after the
  checkpoint: they describe checkpoints that no longer exist and that the run trains again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re

from unigen_jax.errors import PartialFailure, UserInputError

LOCK_NAME = ".lock"


@contextlib.contextmanager
def lock(workdir: str):
    """Holds the workdir's lock; raises a one-line UserInputError if another run holds it."""
    path = os.path.join(workdir, LOCK_NAME)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise UserInputError(
                    f"another run is training in {workdir} (it holds {path}); wait for it to "
                    "end or choose another --workdir"
                ) from None
            raise
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_json_atomically(path: str, value) -> None:
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def _records(path: str):
    """The complete records of a metrics log; a line cut short by a kill is skipped."""
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                return  # the last line of a killed run, written in part
            try:
                yield line, json.loads(line)
            except json.JSONDecodeError:
                continue


class MetricsLog:
    """`metrics.jsonl` of a run resumed at `start_step` (the records after it are dropped)."""

    def __init__(self, path: str, start_step: int):
        self.path = path
        if os.path.exists(path):
            kept = [line for line, record in _records(path) if record.get("step", 0) <= start_step]
            temporary = f"{path}.tmp{os.getpid()}"
            with open(temporary, "w") as f:
                f.writelines(kept)
            os.replace(temporary, path)

    def append(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def disk_failure(error: OSError, workdir: str) -> PartialFailure:
    """The one line for a workdir that cannot be written (disk full, read-only, removed)."""
    where = getattr(error, "filename", None) or workdir
    return PartialFailure(
        f"cannot write the run's files ({os.strerror(error.errno) if error.errno else error}: "
        f"{where}); free space or fix the workdir, then run the same command to resume from "
        "the last checkpoint"
    )


def eval_report_name(split: str = "test", step: int | None = None) -> str:
    """The name of `experiments.evaluate`'s report in the workdir: eval.json for the latest
    checkpoint on test data, eval_step_NNNNNN.json for the checkpoint of `step`, with
    `_validation` before `.json` for the validation split."""
    name = "eval" if step is None else f"eval_step_{step:06d}"
    return f"{name}.json" if split == "test" else f"{name}_{split}.json"


# The names of `eval_report_name` and of the loop's sample grids.
_EVAL_REPORT = re.compile(r"eval(_step_\d{6,})?(_\w+)?\.json")
_SAMPLE_GRID = re.compile(r"step_(\d{6,})(_\w+)?\.png")


def recorded_seconds(workdir: str) -> tuple[float, float]:
    """The seconds a run's own records give: training (config.json's `train_seconds`) and
    scoring (each evaluation report's `seconds`; a copy of a report, which the study runner
    makes of the latest step's, counted once). Records that lack them count 0."""
    train = 0.0
    try:
        with open(os.path.join(workdir, "config.json")) as f:
            train = float(json.load(f).get("train_seconds", 0.0))
    except (OSError, ValueError, TypeError):
        pass
    scored = set()
    for name in sorted(os.listdir(workdir)) if os.path.isdir(workdir) else []:
        if not _EVAL_REPORT.fullmatch(name):
            continue
        try:
            with open(os.path.join(workdir, name)) as f:
                report = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(report, dict) and isinstance(report.get("seconds"), (int, float)):
            scored.add((report.get("split"), report.get("step"), report["seconds"]))
    return train, sum(seconds for _, _, seconds in scored)


def _report_step(path: str) -> int | None:
    """The step an evaluation report scored, or None for a file that is not one."""
    try:
        with open(path) as f:
            step = json.load(f).get("step")
    except (OSError, ValueError, AttributeError):
        return None
    return step if isinstance(step, int) else None


def drop_outputs_after(workdir: str, step: int) -> list[str]:
    """Removes the evaluation reports (eval*.json) and sample grids (samples/step_N*.png) of
    steps after `step`, the checkpoint a run resumes from (0: a run that starts afresh), and
    returns their paths. Like the records of metrics.jsonl after it, they belong to checkpoints
    that are gone and will be trained again, so `experiments.evaluate` and the studies would
    otherwise keep scores of a model that no longer exists."""
    stale = []
    for name in sorted(os.listdir(workdir)):
        if _EVAL_REPORT.fullmatch(name):
            scored = _report_step(os.path.join(workdir, name))
            if scored is not None and scored > step:
                stale.append(os.path.join(workdir, name))
    samples = os.path.join(workdir, "samples")
    for name in sorted(os.listdir(samples)) if os.path.isdir(samples) else ():
        match = _SAMPLE_GRID.fullmatch(name)
        if match and int(match.group(1)) > step:
            stale.append(os.path.join(samples, name))
    for path in stale:
        os.remove(path)
    return stale
