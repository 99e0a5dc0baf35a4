"""TensorBoard event files for a training run, written without TensorFlow.

`workdir/tensorboard/events.out.tfevents.*` holds, step by step, what the rest of the workdir
holds (`tensorboard --logdir=runs` shows every run under `runs/`):

  scalars   every metric of `metrics.jsonl`, under the same name, at the same steps
  images    `samples` and `reconstructions`: the PNGs of `samples/`, at the same steps
  text      `config`: the resolved `config.json`, at the step each training session starts

The writer is tensorboardX's (protocol buffers and a record file, no TensorFlow). Only the
process that writes the rest of the workdir writes events (`active`; process 0 of a multi-host
run).

Resuming: a resumed run repeats the steps after its checkpoint, so, as `metrics.jsonl` is
rewound to the checkpoint step, the event files already there are rewritten without the events
after that step (and without the config of a session that started at it, written again), before
a new event file takes the resumed steps. TensorBoard then shows each step once, whichever of
its readers is used; a TensorBoard that was already showing the run keeps the dropped points
until it is restarted. A record cut short by a killed process is dropped the same way.
"""

from __future__ import annotations

import json
import os
import struct
import time

import numpy as np
from PIL import Image

SUBDIR = "tensorboard"
CONFIG_TAG = "config"
_HEADER = struct.Struct("<QI")  # a record: length, masked CRC of the length, data, CRC of data
_FOOTER_BYTES = 4


class TensorBoardWriter:
    """Writes a run's scalars, sample images and config as TensorBoard events.

    A context manager: leaving it flushes and closes the event file. The file is created at
    the first write, so a run that writes nothing leaves no empty file behind.
    """

    def __init__(self, logdir: str, *, start_step: int, active: bool = True):
        """Rewinds the event files in `logdir` to `start_step`, the step training resumes at.

        Args:
          logdir: the folder of the event files (`workdir/tensorboard`).
          start_step: the checkpoint step this training session starts from (0 if none).
          active: False on processes that do not write the workdir: every method does nothing.
        """
        self.logdir, self._active, self._start_step = logdir, active, start_step
        self._writer = None
        if active:
            rewind(logdir, start_step)

    def _summary_writer(self):
        if self._writer is None:
            from tensorboardX import SummaryWriter

            # A suffix unique to this session: tensorboardX names files by the second and
            # host only, and opens them for writing, so a resume within the same second
            # would overwrite the events of the session before.
            self._writer = SummaryWriter(
                self.logdir,
                flush_secs=60,
                filename_suffix=f".{os.getpid()}.{time.time_ns()}",
            )
        return self._writer

    def config(self, resolved: dict) -> None:
        """The resolved configuration as text (JSON, shown as a code block)."""
        if not self._active:
            return
        text = json.dumps(resolved, indent=2, sort_keys=True)
        block = "\n".join("    " + line for line in text.splitlines())  # Markdown code block
        self._summary_writer().add_text(CONFIG_TAG, block, self._start_step)
        self.flush()

    def scalars(self, step: int, metrics: dict) -> None:
        """Every value of a `metrics.jsonl` row (its "step" key is the step)."""
        if not self._active:
            return
        writer = self._summary_writer()
        for name, value in metrics.items():
            if name != "step":
                writer.add_scalar(name, float(value), step)
        self.flush()

    def images(self, step: int, paths: dict[str, str]) -> None:
        """PNG files as images, by tag (`{"samples": path, ...}`); missing files are skipped."""
        if not self._active:
            return
        writer = self._summary_writer()
        for tag, path in paths.items():
            if os.path.exists(path):
                with Image.open(path) as image:
                    pixels = np.asarray(image.convert("RGB"))
                writer.add_image(tag, pixels, step, dataformats="HWC")
        self.flush()

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_records(path: str):
    """(record bytes, Event) for each whole record of an event file, in order.

    Stops at the first record that is cut short or does not parse (a killed writer's last).
    """
    from google.protobuf.message import DecodeError
    from tensorboardX.proto import event_pb2

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
