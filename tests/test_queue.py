"""reproductions/queue/: a study's dry run as one shell job per run (jobs.py), and the jobs a
session's end cut put back (requeue.py)."""

import importlib.util
import pathlib
import shlex
import sys

import pytest

QUEUE = pathlib.Path(__file__).parent.parent / "reproductions" / "queue"


def _load(script):
    """A script of reproductions/queue/ (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f"queue_{script}", QUEUE / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


jobs_module = _load("jobs")
requeue_module = _load("requeue")

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


def test_run_mode_waits_for_the_arms_selection_then_runs_its_jobs(monkeypatch, capsys):
    """`--run` plans when it runs: a seed of an arm whose select_* runs are still planned is
    refused (exit 3), another arm's seeds are not held back, and once the selection is done
    the matching jobs run, in order."""
    planned = [
        "python -m experiments.train --model=vae --workdir=W/aa_10pct/select_temperature_3.0",
        "python -m experiments.evaluate --workdir=W/aa_10pct/select_temperature_3.0",
        "python -m experiments.train --model=vae --workdir=W/aa_10pct/seed1 --t=5",
        "python -m experiments.train --model=vae --workdir=W/aa_1pct/seed1 --t=1",
        "python -m experiments.evaluate --workdir=W/aa_1pct/seed1",
    ]
    ran = []
    monkeypatch.setattr(jobs_module, "dry_run", lambda study, workdir: plan)
    monkeypatch.setattr(
        jobs_module.subprocess,
        "run",
        lambda argv: ran.append(argv[-1]) or type("Done", (), {"returncode": 0}),
    )
    plan = planned
    assert jobs_module.run_now("study", "W", ["aa_10pct/seed1 "]) == 3
    assert "select_temperature_3.0" in capsys.readouterr().err and not ran
    assert jobs_module.run_now("study", "W", ["aa_1pct/seed1 "]) == 0
    assert [_commands(job)[0].endswith("--t=1") for job in ran] == [True]
    plan, ran[:] = planned[2:], []  # the selection done: the plan keeps the chosen seeds
    assert jobs_module.run_now("study", "W", ["aa_10pct/seed1 "]) == 0
    assert len(ran) == 1 and "aa_10pct/seed1" in ran[0]


# A worker log as worker.sh writes it: A ran; B was cut and, put back, ran to the end on the
# other core; C failed; D and E were cut by the end of the session (D started first).
WORKER_LOG = [
    "2026-12-04T19:00:00Z start core 0: job A",
    "2026-12-04T19:00:00Z start core 1: job B",
    "2026-12-04T19:30:00Z end (exit 0) core 0: job A",
    "2026-12-04T19:30:00Z start core 0: job C",
    "2026-12-04T19:31:00Z end (exit 2) core 0: job C",
    "2026-12-04T20:00:00Z start core 1: job B",
    "2026-12-04T20:10:00Z end (exit 0) core 1: job B",
    "2026-12-04T20:11:00Z start core 1: job D",
    "2026-12-04T20:12:00Z start core 0: job E && then more",
]


def test_unfinished_jobs_are_those_whose_last_event_is_a_start():
    cut, failed = requeue_module.unfinished(WORKER_LOG)
    assert cut == ["job D", "job E && then more"]
    assert failed == ["job C"]


def test_requeue_puts_cut_jobs_first_once_and_leaves_failed_ones_out(tmp_path):
    jobfile = tmp_path / "jobs.txt"
    jobfile.write_text("job F\njob E && then more\n")
    (tmp_path / "jobs.txt.log").write_text("\n".join(WORKER_LOG) + "\n")
    back, failed = requeue_module.requeue(str(jobfile))
    assert (back, failed) == (["job D"], ["job C"])
    assert jobfile.read_text().splitlines() == ["job D", "job F", "job E && then more"]
    # Again: nothing new to put back; with --failed, the failed job goes first.
    assert requeue_module.requeue(str(jobfile)) == ([], ["job C"])
    assert requeue_module.requeue(str(jobfile), include_failed=True) == (["job C"], [])
    assert jobfile.read_text().splitlines()[0] == "job C"


def test_requeue_refuses_a_missing_log_in_one_line(tmp_path):
    with pytest.raises(SystemExit) as exit_:
        requeue_module.main([str(tmp_path / "jobs.txt")])
    assert "no log" in str(exit_.value) and "\n" not in str(exit_.value)
    assert not requeue_module.worker_running(str(tmp_path / "jobs.txt"))
