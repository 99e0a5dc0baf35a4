"""Runs many commands of one module in one process: `python -m tests.forked_commands` reads
`{"module": "experiments.train", "commands": [[ARG, ...], ...]}` as JSON on stdin and prints,
as JSON, each command's exit status, stdout and stderr.

Each command is a fork of this process after it has imported the libraries the commands
import (JAX, Flax, the engine, the evaluation: 1.3 s on the 2-core CPU, paid once instead of
once a command), which then runs the module as `python -m MODULE ARGS` does (`runpy`, as
`__main__`), with its own stdout and stderr. No JAX backend has started before the fork.
tests/test_cli.py and tests/test_eval_runner.py run their bad-input cases through it.
"""

import json
import os
import runpy
import sys
import tempfile

# What every command imports before its own module's code; not the modules themselves, whose
# absl flags each child defines afresh.
PRELOADED = ("experiments._cli", "unigen_jax.train.loop", "unigen_jax.eval.runner")


def _run_in_child(module: str, args: list[str], out_path: str, err_path: str) -> None:
    """In a forked child: `python -m module args`, stdout and stderr in files; never returns."""
    code = 1
    try:
        for fd, path in ((1, out_path), (2, err_path)):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        sys.argv = [module, *args]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
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


def run_all(module: str, commands: list[list[str]]) -> list[dict]:
    """Each command's {"returncode", "stdout", "stderr"}, in order."""
    import importlib

    for name in PRELOADED:  # here, not at the top: pytest's doctest collection imports this
        importlib.import_module(name)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for i, args in enumerate(commands):
            out, err = (os.path.join(scratch, f"{i}.{name}") for name in ("out", "err"))
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                _run_in_child(module, args, out, err)
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
    request = json.load(sys.stdin)
    print(json.dumps(run_all(request["module"], request["commands"])))
