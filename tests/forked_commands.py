"""Runs many `experiments.train` commands in one process: `python -m tests.forked_commands`
reads a JSON list of argument lists on stdin and prints, as JSON, each command's exit status,
stdout and stderr.

The commands are forks of this process after it has imported experiments.train (1.3 s of
imports on the 2-core CPU, paid once instead of once a command); each child runs what
`python -m experiments.train ARGS` runs after its imports, `_cli.run(main, ...)`, with its own
stdout and stderr. No JAX backend has started before the fork. tests/test_cli.py runs its
bad-input cases through it.
"""

import json
import os
import sys
import tempfile


def _run_in_child(args: list[str], out_path: str, err_path: str) -> None:
    """In a forked child: the command with stdout and stderr in files; never returns."""
    # Imported here, not at the top: pytest's doctest collection imports this file, and
    # experiments.train's absl flags must stay out of pytest's process.
    from experiments import _cli
    from experiments import train as train_command

    code = 1
    try:
        for fd, path in ((1, out_path), (2, err_path)):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        sys.argv = ["experiments/train.py", *args]
        _cli.run(train_command.main, flags_parser=_cli.parse_flags_keeping_config)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_all(commands: list[list[str]]) -> list[dict]:
    from experiments import train  # noqa: F401 (imported once, before the forks)

    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for i, args in enumerate(commands):
            out, err = (os.path.join(scratch, f"{i}.{name}") for name in ("out", "err"))
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                _run_in_child(args, out, err)
            _, status = os.waitpid(pid, 0)
            with open(out) as f_out, open(err) as f_err:
                results.append(
                    {
                        "returncode": os.waitstatus_to_exitcode(status),
                        "stdout": f_out.read(),
                        "stderr": f_err.read(),
                    }
                )
    return results


if __name__ == "__main__":
    print(json.dumps(run_all(json.load(sys.stdin))))
