"""experiments.profile_step: the trace's operations summed per name, their kinds of work, and
one line for a bad flag."""

import gzip
import json
import subprocess
import sys

from experiments import profile_step


def test_operation_times_sums_xla_operations_and_skips_bookkeeping(tmp_path):
    """Only X events on XLA's threads count; executor bookkeeping and Python's do not."""
    events = [
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 7, "args": {"name": "tf_XLAEigen/1"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 8, "args": {"name": "python"}},
        {"ph": "X", "name": "convolution.3", "pid": 1, "tid": 7, "dur": 5.0},
        {"ph": "X", "name": "convolution.3", "pid": 1, "tid": 7, "dur": 2.5},
        {"ph": "X", "name": "ThunkExecutor::Execute", "pid": 1, "tid": 7, "dur": 100.0},
        {"ph": "X", "name": "end: ynn_fusion", "pid": 1, "tid": 7, "dur": 1.0},
        {"ph": "X", "name": "transpose_copy_fusion.2", "pid": 1, "tid": 7, "dur": 1.5},
        {"ph": "X", "name": "PjitFunction(step)", "pid": 1, "tid": 8, "dur": 50.0},
    ]
    (tmp_path / "plugins").mkdir()
    with gzip.open(tmp_path / "plugins" / "perfetto_trace.json.gz", "wt") as f:
        json.dump({"traceEvents": events}, f)
    times = profile_step.operation_times(str(tmp_path))
    assert dict(times) == {"convolution.3": 7.5, "transpose_copy_fusion.2": 1.5}


def test_category_reads_the_kind_of_work_from_the_operation_name():
    assert profile_step.category("convolution-base-dilated.4") == "convolutions"
    assert profile_step.category("conv_general_dilated.42") == "convolutions"
    assert profile_step.category("dot_general.22") == "dots (XLA)"
    assert profile_step.category("ynn_fusion.52").startswith("YNNPACK")
    assert profile_step.category("transpose_copy_fusion.17").startswith("data movement")
    assert profile_step.category("broadcast_concatenate_fusion").startswith("data movement")
    assert profile_step.category("broadcast_add_fusion.2").startswith("elementwise")
    assert profile_step.category("wrapped_multiply.13").startswith("elementwise")


def test_unknown_config_is_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "experiments.profile_step", "--config=nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown --config 'nope'; choose from:")
