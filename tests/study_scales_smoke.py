"""Runs every study's accelerator scales (`paper`: the TFDS data; `full`: all of MNIST offline)
as far as a CPU test can: `python -m tests.study_scales_smoke ROOT`.

1. Every `experiments.train` command that `experiments.reproduce --dry_run` prints for those
   scales (every arm, seed and selection value) is parsed as `experiments.train` parses it:
   its run flags, then its `--config.FIELD=VALUE` overrides against the model's config
   dataclass, then the model is built for the dataset's shapes. A typo in a flag, a config
   field or a value, or a model that cannot take the dataset, fails here.
2. The first command of each study and scale (its first arm's first seed, or first
   selection value) is trained for 2 steps through `experiments.train`'s own entry point, in
   this one process, with tiny networks (every hidden layer 8 wide, base_features 4, a flow
   of length 2), unless both its model and its dataset were trained already: about a dozen
   compiles in all (a few seconds each on 2 idle cores). So every model that comes first in
   a study, and every dataset that a study starts with, trains. The paper scales come first:
   TFDS datasets are TFDS's mock data here (`tfds.testing.mock_data`: random examples of the
   real shapes); mnist70k and binarized_mnist70k are the real offline data.

Prints one line per study and scale with its wall time, `ok` at the end; exits non-zero with
the failing command on the first failure. One subprocess (tests/test_study_scales.py) keeps
`experiments.train`'s absl flags out of pytest's process.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import sys
import time

SCALES = ("paper", "full")
MOCK_EXAMPLES = 400  # 1% of 400 class-balanced is one digit a class; > every batch size
TINY_WIDTH = 8
TINY = {"base_features": 4, "flow_length": 2}
TRAIN_PREFIX = "$ python -m experiments.train "
SMOKE_FLAGS = ("--steps=2", "--steps_per_call=1", "--log_every=1")


def train_commands(study, scale_name: str, root: str) -> list[list[str]]:
    """The `experiments.train` arguments of every run that `experiments.reproduce` would start
    for `study` at `scale_name` (its dry run, as the CLI chooses it)."""
    from experiments.studies.runner import run_study
    from experiments.studies.trajectory import run_trajectory_study

    run = run_trajectory_study if study.scales[scale_name].at_steps else run_study
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run(study, scale_name, root, dry_run=True, log=lambda *_: None)
    return [
        shlex.split(line.split(TRAIN_PREFIX, 1)[1])
        for line in printed.getvalue().splitlines()
        if TRAIN_PREFIX in line
    ]


def parse(args: list[str]):
    """(run flags, model config) of `experiments.train ARGS`, as its main parses them."""
    from absl import flags

    from experiments import _cli

    flags.FLAGS.unparse_flags()  # every command starts from the defaults
    rest = _cli.parse_flags_keeping_config(["experiments.train", *args])
    overrides, positional = _cli.split_arguments(rest)
    _cli.check_no_arguments(positional)
    run_flags = flags.FLAGS
    return run_flags, _cli.model_config(run_flags.model, run_flags.config, overrides)


def check_builds(args: list[str], infos: dict) -> tuple[str, str]:
    """Parses `args` and builds its model for its dataset's shapes; returns (model, dataset)."""
    from unigen_jax import data, models

    run_flags, config = parse(args)
    model, dataset = run_flags.model, run_flags.dataset
    if dataset not in infos:
        infos[dataset] = data.get_source(dataset, "train").info
    models.build_model(model, config, infos[dataset])
    return model, dataset


def to_train(commands: list[tuple[list[str], str, str]], models: set, datasets: set):
    """The first of (args, model, dataset) `commands` if its model is not in `models` or its
    dataset not in `datasets`, else None."""
    args, model, dataset = commands[0]
    return args if model not in models or dataset not in datasets else None


def tiny_overrides(config) -> list[str]:
    """`--config` overrides that shrink `config`'s networks: hidden layers TINY_WIDTH wide (as
    many as it has), base_features and flow_length from TINY where set."""
    import dataclasses

    from experiments.studies.common import flag_value

    tiny = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if "hidden" in field.name and isinstance(value, tuple) and value:
            tiny[field.name] = (TINY_WIDTH,) * len(value)
        elif "hidden" in field.name and isinstance(value, int) and value > 0:
            tiny[field.name] = TINY_WIDTH
        elif field.name in TINY and isinstance(value, int) and value > 0:
            tiny[field.name] = TINY[field.name]
    return [f"--config.{name}={flag_value(value)}" for name, value in tiny.items()]


def train_two_steps(args: list[str]) -> None:
    """Trains `experiments.train ARGS` for 2 steps with tiny networks, in this process."""
    from absl import flags

    from experiments import _cli
    from experiments import train as train_cli

    _, config = parse(args)
    kept = [a for a in args if not a.startswith(("--steps=", "--steps_per_call=", "--log_every="))]
    flags.FLAGS.unparse_flags()
    argv = ["experiments.train", *kept, *SMOKE_FLAGS, *tiny_overrides(config)]
    with contextlib.redirect_stdout(io.StringIO()):
        train_cli.main(_cli.parse_flags_keeping_config(argv))


def main(argv: list[str]) -> int:
    import tensorflow_datasets as tfds

    from experiments import _cli

    _cli.use_compilation_cache()  # as experiments' commands do (the tests: every program)
    import experiments.train  # noqa: F401  (defines the run flags that `parse` reads)
    from experiments.studies import STUDIES

    root = argv[1]
    infos: dict = {}
    models: set[str] = set()  # the models and datasets trained for 2 steps so far
    datasets: set[str] = set()
    started = time.perf_counter()
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        for scale_name in SCALES:
            for study in STUDIES.values():
                if scale_name not in study.scales:
                    continue
                begun = time.perf_counter()
                commands = train_commands(study, scale_name, f"{root}/{scale_name}")
                if not commands:
                    print(f"FAIL {study.name} {scale_name}: no experiments.train command")
                    return 1
                checked = []
                for args in commands:
                    try:
                        checked.append((args, *check_builds(args, infos)))
                    except Exception as error:  # the command and why, then stop
                        print(f"FAIL {study.name} {scale_name}: {error}\n  {shlex.join(args)}")
                        return 1
                note = "parsed"
                chosen = to_train(checked, models, datasets)
                if chosen is not None:
                    try:
                        train_two_steps(chosen)
                    except Exception as error:
                        print(f"FAIL {study.name} {scale_name} (2 steps): {error!r}")
                        print(f"  {shlex.join(chosen)}")
                        return 1
                    _, model, dataset = checked[0]
                    models.add(model)
                    datasets.add(dataset)
                    note = f"parsed; {model} on {dataset} 2 steps"
                seconds = time.perf_counter() - begun
                print(
                    f"{study.name} {scale_name}: {len(commands)} commands {note} {seconds:.1f}s",
                    flush=True,
                )
    print(f"ok {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
