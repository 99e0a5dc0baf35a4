"""Shell jobs of a full-scale study, one per run: `python reproductions/queue/jobs.py STUDY
WORKDIR [PATTERN ...]` prints, for each `experiments.train` command of the study's dry run whose
command line matches one of the regular expressions PATTERN (all when none is given), one line
that trains the run and then scores it (the `experiments.evaluate` commands that follow it),
run from the repository with this interpreter. `worker.sh` runs such lines, one core each.

`python reproductions/queue/jobs.py --run STUDY WORKDIR PATTERN ...` plans when it runs, not
when it is queued, and runs the matching jobs itself, one after another: the line to queue for
the seeds of an arm that chooses a hyperparameter (`Selection`), whose settings exist only once
its `select_*` runs are done. It refuses (exit 3, one line) while a matched run's arm still has
a `select_*` run to do."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def dry_run(study: str, workdir: str) -> list[str]:
    """The `python -m ...` commands `experiments.reproduce --dry_run` prints, in order."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.reproduce",
            f"--study={study}",
            "--scale=full",
            f"--workdir={workdir}",
            "--dry_run",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode:  # the dry run's own one-line reason (an unknown study, say)
        sys.exit((done.stderr.strip().splitlines() or ["experiments.reproduce failed"])[-1])
    printed = done.stdout
    commands = (line.strip().removeprefix("$ ") for line in printed.splitlines())
    return [command for command in commands if command.startswith("python -m ")]


def jobs(commands: list[str], patterns: list[str]) -> list[str]:
    """Each train command with the evaluate commands after it, as one shell line."""
    groups: list[list[str]] = []
    for command in commands:
        command = shlex.quote(sys.executable) + command.removeprefix("python")
        if " -m experiments.train " in command:
            groups.append([command])
        elif groups and " -m experiments.evaluate " in command:
            groups[-1].append(command)
    chosen = [g for g in groups if not patterns or any(re.search(p, g[0]) for p in patterns)]
    return [f"cd {shlex.quote(ROOT)} && " + " && ".join(group) for group in chosen]


_WORKDIR = re.compile(r"--workdir=(\S+)")


def pending_selections(commands: list[str], chosen: list[str]) -> list[str]:
    """The planned `select_*` runs in the arm folder of a chosen job's run (its workdir's
    parent): while one is left, the arm's choice, and so its seeds' settings, are not known."""
    arms = {os.path.dirname(_WORKDIR.search(job).group(1)) for job in chosen}
    planned = (_WORKDIR.search(c) for c in commands if " -m experiments.train " in c)
    return [
        m.group(1)
        for m in planned
        if m
        and os.path.dirname(m.group(1)) in arms
        and os.path.basename(m.group(1)).startswith("select_")
    ]


def run_now(study: str, workdir: str, patterns: list[str]) -> int:
    """`--run`: plans now and runs the matching jobs in order; 3 while a selection is pending."""
    commands = dry_run(study, workdir)
    chosen = jobs(commands, patterns)
    pending = pending_selections(commands, chosen)
    if pending:
        print(
            f"jobs.py --run: {len(pending)} selection run(s) still to do first, e.g. "
            f"{pending[0]}; queue this line after them",
            file=sys.stderr,
        )
        return 3
    for job in chosen:
        code = subprocess.run(["bash", "-c", job]).returncode
        if code:
            return code
    return 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    run = arguments[:1] == ["--run"]
    arguments = arguments[1:] if run else arguments
    if len(arguments) < 2 + run:
        sys.exit(
            "usage: python reproductions/queue/jobs.py [--run] STUDY WORKDIR [PATTERN ...] "
            "(--run needs a PATTERN)"
        )
    study, workdir, *patterns = arguments
    if run:
        sys.exit(run_now(study, os.path.abspath(workdir), patterns))
    print("\n".join(jobs(dry_run(study, os.path.abspath(workdir)), patterns)))
