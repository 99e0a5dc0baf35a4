"""Puts cut jobs back: `python reproductions/queue/requeue.py JOBFILE` finds, in
`JOBFILE.log` (written by `worker.sh`), the jobs that a worker started and never ended, as the
end of a machine session leaves them, and puts them back at the top of JOBFILE, in the order
they started, so that the next workers run them first. Their runs resume from their
checkpoints. Jobs that ended with a non-zero exit are listed, not put back (a broken command
would loop); `--failed` puts them back too. It refuses while a worker of JOBFILE runs, since
that worker's current job would look cut."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys

_EVENT = re.compile(r"^\S+ (start|end \(exit (-?\d+)\)) core \d+: (.*)$")


def unfinished(log_lines: list[str]) -> tuple[list[str], list[str]]:
    """The jobs whose last event is a start (cut), and those whose last is a failed end, each
    in the order of those events."""
    last: dict[str, tuple[int, str]] = {}
    for index, line in enumerate(log_lines):
        match = _EVENT.match(line.rstrip("\n"))
        if match:
            kind, code, job = match.groups()
            state = "started" if kind == "start" else ("ok" if code == "0" else "failed")
            last[job] = (index, state)
    by_time = sorted(last.items(), key=lambda item: item[1][0])
    return (
        [job for job, (_, state) in by_time if state == "started"],
        [job for job, (_, state) in by_time if state == "failed"],
    )


def requeue(jobfile: str, include_failed: bool = False) -> tuple[list[str], list[str]]:
    """Prepends the cut (and, if asked, failed) jobs not already queued to JOBFILE, under the
    workers' lock; returns (the jobs put back, the failed jobs left out)."""
    log = f"{jobfile}.log"
    with open(log) as f:
        cut, failed = unfinished(f.readlines())
    wanted = cut + failed if include_failed else cut
    with open(f"{jobfile}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        queued = []
        if os.path.exists(jobfile):
            with open(jobfile) as f:
                queued = f.read().splitlines()
        back = [job for job in wanted if job not in queued]
        with open(jobfile, "w") as f:
            f.write("".join(f"{job}\n" for job in back + queued))
    return back, [] if include_failed else failed


def worker_running(jobfile: str) -> bool:
    """Whether a `worker.sh CORE JOBFILE` process runs on this job file (its argument resolved
    against the process's own directory)."""
    found = subprocess.run(["pgrep", "-f", r"worker\.sh [0-9]+ "], capture_output=True, text=True)
    for pid in found.stdout.split():
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().decode().split("\0")[:-1]
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:  # ended meanwhile
            continue
        if argv and os.path.realpath(os.path.join(cwd, argv[-1])) == os.path.realpath(jobfile):
            return True
    return False


def main(argv: list[str]) -> None:
    args = [a for a in argv if a != "--failed"]
    if len(args) != 1:
        sys.exit("usage: python reproductions/queue/requeue.py JOBFILE [--failed]")
    jobfile = args[0]
    if not os.path.exists(f"{jobfile}.log"):
        sys.exit(f"requeue: no log {jobfile}.log; pass the job file the workers ran")
    if worker_running(jobfile):
        sys.exit(f"requeue: a worker of {jobfile} is running; requeue once it has stopped")
    back, failed = requeue(jobfile, include_failed="--failed" in argv)
    print(f"put back {len(back)} cut job(s) at the top of {jobfile}")
    if failed:
        print(f"{len(failed)} job(s) ended with a non-zero exit, not put back (--failed does):")
        print("\n".join(failed))


if __name__ == "__main__":
    main(sys.argv[1:])
