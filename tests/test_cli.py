"""experiments.train: model hyperparameters as --config.FIELD=VALUE and --config=FILE.py;
bad input is one line on stderr, exit status 2, and an untouched workdir."""

import json
import os
import subprocess
import sys
import typing

import pytest

from .helpers import one_device_env, run_commands

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(*args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.train", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_one_line_error(result, message):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


GAN_FIELDS = "it has: loss, latent_dim, noise, architecture"


BAD_FLAGS = [
    (["--model=nope"], "unknown model 'nope'"),
    (["--dataset=nope"], "unknown dataset 'nope'"),
    (["--steps=0"], "--steps must be positive"),
    (["--steps=abc"], "flag --steps=abc: invalid literal for int()"),
    (["--stpes=3"], "unknown flag --stpes; did you mean --steps?"),
    (["--batch_size=-4"], "--batch_size must be positive"),
    (["--batch_size=7", "--cpu_devices=2"], "not divisible by the 2 devices"),
    (["--config.latent_dim=abc"], "--config.latent_dim='abc': not a valid int"),
    (["--config.hidden_sizes=64,x"], "not a valid tuple[int, ...] (comma-separated, e.g."),
    (["--config.latent_dim"], "--config.latent_dim needs a value"),
    (["--config.beta=4"], f"model 'gan' has no hyperparameter 'beta'; {GAN_FIELDS}"),
    (["--config.latnt_dim=4"], "did you mean 'latent_dim'?"),
    (["--latent_dim=2"], "--latent_dim is a model hyperparameter: write --config.latent_dim=2"),
    (["--model=vae", "--beta=4"], "write --config.beta=4"),
    (["--config.loss=nope"], "unknown loss 'nope'"),
    (["--config.latent_dim=0"], "--config.latent_dim must be > 0"),
    (["--config.loss=hinge", "--config.label_smoothing=0.1"], "not --config.loss=hinge"),
    (["--model=vae", "--config.likelihood=bernoulli", "--dataset=ring8"], "in [0, 1]"),
    (["--config=MISSING/config.py"], "no such file; give a Python file whose get_config()"),
    (["--config=help"], "--list_config lists the model's hyperparameters"),
    (["--dataset=cifar10", "--data_dir=MISSING"], "'cifar10' is not prepared"),
    (["stray"], "unexpected arguments ['stray']"),
]
BAD_CONFIG_FILES = [
    ("def get_config(:\n", "failed: SyntaxError"),
    ("x = 1\n", "defines no get_config() function"),
    ("def get_config():\n    raise KeyError('x')\n", "failed: KeyError: 'x'"),
    ("def get_config():\n    return [2]\n", "get_config() returned a list, not a dict"),
    ("def get_config():\n    return {'beta': 2}\n", "sets beta: model 'gan' has no hyper"),
    ("def get_config():\n    return {'latent_dim': 2.5}\n", "sets latent_dim=2.5: not a"),
    ("def get_config():\n    return {'hidden_sizes': 8}\n", "sets hidden_sizes=8: not a"),
]


@pytest.fixture(scope="module")
def bad_input(tmp_path_factory):
    """Every bad-input command, run once for the module in forks of one process that imported
    experiments.train (tests/forked_commands.py): what each case printed and left on disk."""
    root = tmp_path_factory.mktemp("bad_input")
    commands = []
    for i, (args, _) in enumerate(BAD_FLAGS):
        (root / f"flags{i}").mkdir()
        missing = str(root / f"flags{i}" / "tfds")
        args = [a.replace("MISSING", missing) for a in args]
        commands.append([f"--workdir={root / f'flags{i}' / 'run'}", "--steps=5", *args])
    for i, (source, _) in enumerate(BAD_CONFIG_FILES):
        (root / f"file{i}").mkdir()
        config = root / f"file{i}" / "config.py"
        config.write_text(source)
        commands.append(
            [f"--workdir={root / f'file{i}' / 'run'}", f"--config={config}", "--steps=5"]
        )
    results = run_commands("experiments.train", commands)
    return root, results


@pytest.mark.parametrize("case", range(len(BAD_FLAGS)), ids=[m for _, m in BAD_FLAGS])
def test_bad_input_is_one_line_and_a_nonzero_exit(bad_input, case):
    root, results = bad_input
    _assert_one_line_error(results[case], BAD_FLAGS[case][1])
    assert os.listdir(root / f"flags{case}") == []  # no workdir, no TFDS folder


@pytest.mark.parametrize("case", range(len(BAD_CONFIG_FILES)), ids=[m for _, m in BAD_CONFIG_FILES])
def test_a_bad_config_file_is_one_line_and_a_nonzero_exit(bad_input, case):
    root, results = bad_input
    _assert_one_line_error(results[len(BAD_FLAGS) + case], BAD_CONFIG_FILES[case][1])
    assert os.listdir(root / f"file{case}") == ["config.py"]  # no __pycache__ beside it either


def test_config_file_then_config_flags_set_the_model_hyperparameters(tmp_path):
    """flax style: --config=FILE.py, then --config.FIELD=VALUE on top, recorded in
    config.json."""
    config = tmp_path / "vae_config.py"
    config.write_text(
        "def get_config():\n"
        "    return {'latent_dim': 7, 'likelihood': 'laplace', 'hidden_sizes': [8]}\n"
    )
    workdir = tmp_path / "run"
    result = _train(
        f"--workdir={workdir}",
        "--model=vae",
        "--dataset=digits",
        "--steps=2",
        "--batch_size=8",
        f"--config={config}",
        "--config.latent_dim=2",
        "--config.base_features=4",
        "--config.adam_b1=0",
    )
    assert result.returncode == 0, result.stderr
    with open(workdir / "config.json") as f:
        recorded = json.load(f)["model_config"]
    assert recorded["latent_dim"] == 2  # the flag wins over the file
    assert recorded["base_features"] == 4
    assert recorded["likelihood"] == "laplace"  # from the file
    assert recorded["hidden_sizes"] == [8]
    assert recorded["adam_b1"] == 0.0
    assert recorded["beta"] == 1.0  # the default


def test_a_config_file_may_return_a_config_dict(tmp_path):
    from experiments import _cli

    config = tmp_path / "config.py"
    config.write_text(
        "class ConfigDict:  # ml_collections.ConfigDict's interface, as far as it is used\n"
        "    def to_dict(self):\n"
        "        return {'latent_dim': 3}\n"
        "def get_config():\n"
        "    return ConfigDict()\n"
    )
    assert _cli.load_config_file(str(config)) == {"latent_dim": 3}
    assert _cli.model_config("gan", str(config), [("latent_dim", "5")]).latent_dim == 5


def test_list_config_prints_the_model_hyperparameters_and_exits(tmp_path):
    workdir = tmp_path / "run"
    result = _train(
        f"--workdir={workdir}",
        "--model=gan",
        "--config.loss=hinge",
        "--config.hidden_sizes=64,64",
        "--list_config",
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[2:]}
    assert rows["latent_dim"] == ["int", "64"]
    assert rows["loss"] == ["str", "modified", "hinge"]
    assert rows["hidden_sizes"] == ["tuple[int,", "...]", "128,128", "64,64"]
    assert "--config.FIELD=VALUE" in result.stdout.splitlines()[0]
    assert not workdir.exists()


def test_readme_lists_every_model_hyperparameter():
    """The README's table is generated from the registry; regenerate it with
    `.venv/bin/python -c 'from experiments import _cli; print(_cli.hyperparameter_table())'`."""
    from experiments import _cli

    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    assert _cli.hyperparameter_table() in readme


@pytest.mark.parametrize(
    "hint, value, expected",
    [
        (bool, "true", True),
        (bool, "False", False),
        (bool, "1", True),
        (bool, "0", False),
        (bool, False, False),
        (int, "64", 64),
        (int, 64, 64),
        (float, "2e-4", 2e-4),
        (float, 1, 1.0),
        (str, "hinge", "hinge"),
        (tuple[int, ...], "64,64", (64, 64)),
        (tuple[int, ...], " 8 ", (8,)),
        (tuple[int, ...], "", ()),
        (tuple[int, ...], [8, 16], (8, 16)),
        (tuple[float, int], "0.5,3", (0.5, 3)),
        (int | None, "none", None),
        (int | None, "3", 3),
        (typing.Literal["a", "b"], "b", "b"),
    ],
)
def test_values_convert_to_the_field_type(hint, value, expected):
    from experiments import _cli

    converted = _cli._convert(hint, value)
    assert converted == expected and type(converted) is type(expected)


@pytest.mark.parametrize(
    "hint, value",
    [
        (bool, "yes"),
        (bool, 1),
        (int, "2.0"),
        (int, 2.5),
        (int, True),
        (float, "x"),
        (str, 3),
        (tuple[int, ...], "a,b"),
        (tuple[int, ...], 8),
        (tuple[float, int], "1"),
        (int | None, "x"),
        (typing.Literal["a", "b"], "c"),
    ],
)
def test_values_of_another_type_are_rejected(hint, value):
    from experiments import _cli

    with pytest.raises(ValueError):
        _cli._convert(hint, value)


def test_resuming_with_another_model_harms_nothing(tmp_path):
    workdir = tmp_path / "run"
    first = _train(
        f"--workdir={workdir}",
        "--model=gan",
        "--dataset=ring8",
        "--steps=2",
        "--config.hidden_sizes=8",
    )
    assert first.returncode == 0, first.stderr
    before = {p: os.path.getmtime(p) for p in workdir.rglob("*")}
    second = _train(f"--workdir={workdir}", "--model=vae", "--dataset=ring8", "--steps=4")
    assert second.returncode == 2
    assert "holds a run with model=gan" in second.stderr
    assert {p: os.path.getmtime(p) for p in workdir.rglob("*")} == before


def _train_with_default_devices(workdir, *args):
    """experiments.train without the test session's forced device count."""
    env = one_device_env()
    result = subprocess.run(
        [sys.executable, "-m", "experiments.train", f"--workdir={workdir}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    with open(os.path.join(workdir, "config.json")) as f:
        return json.load(f)


def test_defaults_are_the_fastest_measured_settings(tmp_path):
    mlp = _train_with_default_devices(
        tmp_path / "mlp", "--model=gan", "--dataset=ring8", "--steps=20", "--config.hidden_sizes=8"
    )
    assert (mlp["num_devices"], mlp["steps_per_call"]) == (1, 10)
    conv = _train_with_default_devices(
        tmp_path / "conv",
        "--model=vae",
        "--dataset=digits",
        "--steps=6",
        "--batch_size=8",
        "--checkpoint_every=6",  # 4 steps per call would straddle it: 3 is used
        "--config.base_features=4",
        "--config.latent_dim=2",
    )
    assert (conv["num_devices"], conv["steps_per_call"]) == (1, 3)


def test_fused_steps_divide_the_checkpoint_interval():
    from unigen_jax.train.settings import fused_steps_dividing

    assert fused_steps_dividing(10, 1000) == 10
    assert fused_steps_dividing(4, 6) == 3
    assert fused_steps_dividing(4, 7) == 1
