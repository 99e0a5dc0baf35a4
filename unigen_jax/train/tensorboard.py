"""TensorBoard event files for a training run, written without TensorFlow.

`workdir/tensorboard/events.out.tfevents.*` holds, step by step, what the rest of the workdir
holds (`tensorboard --logdir=runs` shows every run under `runs/`):

  scalars   every metric of `metrics.jsonl`, under the same name, at the same steps
  images    `samples` and `reconstructions`: the PNGs of `samples/`, at the same steps
  text      `config`: the resolved `config.json`, at the step each training session starts

The events are tensorboardX's protocol buffers in its record file writer (no TensorFlow).
Only the process that writes the rest of the workdir writes events (`active`; process 0 of a
multi-host run).

Resuming: a resumed run repeats the steps after its checkpoint, so, as `metrics.jsonl` is
rewound to the checkpoint step, the event files already there are rewritten without the events
after that step (and without the config of a session that started at it, written again), before
a new event file takes the resumed steps. TensorBoard then shows each step once, whichever of
its readers is used; a TensorBoard that was already showing the run keeps the dropped points
until it is restarted. A record cut short by a killed process is dropped the same way.
"""

from __future__ import annotations

import functools
import io
import json
import os
import struct
import sys
import time
import types

from PIL import Image

SUBDIR = "tensorboard"
CONFIG_TAG = "config"
_HEADER = struct.Struct("<QI")  # a record: length, masked CRC of the length, data, CRC of data
_FOOTER_BYTES = 4


@functools.cache
def _tensorboardx() -> types.SimpleNamespace:
    """The parts of tensorboardX this module uses, imported without PyTorch.

    tensorboardX's package imports its `SummaryWriter`, which imports torch when it is installed
    (`make test` installs it for the benchmarks): 1.6 of 1.8 s, paid by every training process
    on the 2-core CPU. The record writer and the protocol buffers need none of it, so torch is
    hidden while they are imported (unless this process already imported it).
    """
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # `import torch` raises ImportError, which tensorboardX allows
    try:
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto import event_pb2, summary_pb2
        from tensorboardX.summary import text
    finally:
        if hide and sys.modules.get("torch", ...) is None:
            del sys.modules["torch"]
    return types.SimpleNamespace(
        EventsWriter=EventsWriter, event_pb2=event_pb2, summary_pb2=summary_pb2, text=text
    )


class TensorBoardWriter:
    """Writes a run's scalars, sample images and config as TensorBoard events.

    Each call writes its events and flushes them before it returns (no background thread, as
    tensorboardX's `SummaryWriter` has, whose queue a killed process would lose while
    `metrics.jsonl` kept the same steps). A context manager: leaving it closes the file. The
    file is created at the first write, so a session that writes nothing leaves no file.
    """

    def __init__(self, logdir: str, *, start_step: int, active: bool = True):
        """Rewinds the event files in `logdir` to `start_step`, the step training resumes at.

        Args:
          logdir: the folder of the event files (`workdir/tensorboard`).
          start_step: the checkpoint step this training session starts from (0 if none).
          active: False on processes that do not write the workdir: every method does nothing.
        """
        self.logdir, self._active, self._start_step = logdir, active, start_step
        self._file = None
        if active:
            rewind(logdir, start_step)

    def _write(self, step: int, values: list) -> None:
        """One event of `values` (`Summary.Value`s) at `step`, on disk when this returns."""
        tbx = _tensorboardx()
        if self._file is None:
            os.makedirs(self.logdir, exist_ok=True)
            # Named by the second and host, as TensorBoard expects, and by this session: a
            # resume within the same second must not overwrite the events of the one before.
            self._file = tbx.EventsWriter(
                os.path.join(self.logdir, "events"), f".{os.getpid()}.{time.time_ns()}"
            )
        summary = tbx.summary_pb2.Summary(value=values)
        event = tbx.event_pb2.Event(wall_time=time.time(), step=step, summary=summary)
        self._file.write_event(event)
        self._file.flush()

    def config(self, resolved: dict) -> None:
        """The resolved configuration as text (JSON, shown as a code block)."""
        if not self._active:
            return
        lines = json.dumps(resolved, indent=2, sort_keys=True).splitlines()
        block = "\n".join("    " + line for line in lines)  # a Markdown code block
        self._write(self._start_step, list(_tensorboardx().text(CONFIG_TAG, block).value))

    def scalars(self, step: int, metrics: dict) -> None:
        """Every value of a `metrics.jsonl` row (its "step" key is the step)."""
        if not self._active:
            return
        Summary = _tensorboardx().summary_pb2.Summary  # noqa: N806 (the protocol buffer's name)

        values = [
            Summary.Value(tag=name, simple_value=float(value))
            for name, value in metrics.items()
            if name != "step"
        ]
        self._write(step, values)

    def images(self, step: int, paths: dict[str, str]) -> None:
        """PNG files as images, by tag (`{"samples": path, ...}`), their bytes as they are."""
        if not self._active:
            return
        Summary = _tensorboardx().summary_pb2.Summary  # noqa: N806 (the protocol buffer's name)

        values = []
        for tag, path in paths.items():
            with open(path, "rb") as f:
                png = f.read()
            with Image.open(io.BytesIO(png)) as image:
                (width, height), bands = image.size, len(image.getbands())
            values.append(
                Summary.Value(
                    tag=tag,
                    image=Summary.Image(
                        height=height, width=width, colorspace=bands, encoded_image_string=png
                    ),
                )
            )
        self._write(step, values)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_records(path: str):
    """(record bytes, Event) for each whole record of an event file, in order.

    Stops at the first record that is cut short or does not parse (a killed writer's last).
    """
    from google.protobuf.message import DecodeError

    event_pb2 = _tensorboardx().event_pb2

    with open(path, "rb") as f:
        contents = f.read()
    offset = 0
    while offset + _HEADER.size <= len(contents):
        length, _ = _HEADER.unpack_from(contents, offset)
        end = offset + _HEADER.size + length + _FOOTER_BYTES
        if end > len(contents):
            return
        try:
            event = event_pb2.Event.FromString(
                contents[offset + _HEADER.size : offset + _HEADER.size + length]
            )
        except DecodeError:
            return
        yield contents[offset:end], event
        offset = end


def _is_config(event) -> bool:
    return any(value.tag.startswith(CONFIG_TAG + "/") for value in event.summary.value)


def rewind(logdir: str, step: int) -> None:
    """Rewrites the event files in `logdir` without the events a resume at `step` repeats.

    Kept: events up to `step` (the checkpoint's own step was logged before it was saved),
    except a config text at `step` or later (each session writes its own). A file left with
    no event but its header is removed.
    """
    if not os.path.isdir(logdir):
        return
    for name in sorted(os.listdir(logdir)):
        path = os.path.join(logdir, name)
        if not name.startswith("events.out.tfevents.") or not os.path.isfile(path):
            continue
        records = list(read_records(path))
        kept = [
            (record, event)
            for record, event in records
            if event.step < step or (event.step == step and not _is_config(event))
        ]
        if len(kept) == len(records) and sum(len(r) for r, _ in kept) == os.path.getsize(path):
            continue  # nothing to drop, nothing cut short
        if not any(event.HasField("summary") for _, event in kept):
            os.remove(path)
            continue
        # A name without "tfevents": TensorBoard does not read one a kill left behind.
        scratch = os.path.join(logdir, ".rewinding")
        with open(scratch, "wb") as f:
            f.writelines(record for record, _ in kept)
        os.replace(scratch, path)
