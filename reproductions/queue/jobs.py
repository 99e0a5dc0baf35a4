"""Shell jobs of a full-scale study, one per run: `python reproductions/queue/jobs.py STUDY
WORKDIR [PATTERN ...]` prints, for each `experiments.train` command of the study's dry run whose
command line matches one of the regular expressions PATTERN (all when none is given), one line
that trains the run and then scores it (the `experiments.evaluate` commands that follow it),
run from the repository with this interpreter. `worker.sh` runs such lines, one core each."""

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


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python reproductions/queue/jobs.py STUDY WORKDIR [PATTERN ...]")
    study, workdir, *patterns = sys.argv[1:]
    print("\n".join(jobs(dry_run(study, os.path.abspath(workdir)), patterns)))
