"""reproductions/queue/jobs.py: a study's dry run as one shell job per run."""

import importlib.util
import pathlib
import shlex
import sys

QUEUE = pathlib.Path(__file__).parent.parent / "reproductions" / "queue"
_spec = importlib.util.spec_from_file_location("queue_jobs", QUEUE / "jobs.py")
jobs_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(jobs_module)

DRY_RUN = [
    "python -m experiments.train --model=gan --workdir=W/gan/seed0",
    "python -m experiments.evaluate --workdir=W/gan/seed0 --step=1000,2000",
    "python -m experiments.train --model=iwgan --workdir=W/iwgan/seed0",
    "python -m experiments.evaluate --workdir=W/iwgan/seed0 --split=validation",
    "python -m experiments.evaluate --workdir=W/iwgan/seed0 --split=test --step=400",
    "python -m experiments.train --model=gan --workdir=W/gan/seed1",
]


def _commands(job):
    """The commands of one job line, without its `cd ROOT &&`."""
    cd, *commands = job.split(" && ")
    assert cd == f"cd {shlex.quote(jobs_module.ROOT)}"
    return commands


def test_each_train_command_takes_the_evaluations_after_it():
    lines = jobs_module.jobs(DRY_RUN, [])
    python = shlex.quote(sys.executable)
    assert [_commands(line) for line in lines] == [
        [f"{python}{command.removeprefix('python')}" for command in DRY_RUN[i:j]]
        for i, j in ((0, 2), (2, 5), (5, 6))
    ]


def test_patterns_pick_runs_by_their_train_command():
    picked = jobs_module.jobs(DRY_RUN, ["/gan/seed"])
    assert [len(_commands(line)) for line in picked] == [2, 1]
    assert all("iwgan" not in line for line in picked)
    assert len(jobs_module.jobs(DRY_RUN, ["/gan/seed1", "iwgan"])) == 2
