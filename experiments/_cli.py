"""What every experiment command shares: bad input is one line on stderr and exit status 2;
model hyperparameters as `--config.FIELD=VALUE` overrides of the model's config dataclass.

Hyperparameters are not absl flags: their names and defaults depend on `--model`, known only
once the flags are parsed. `parse_flags_keeping_config` parses the run flags and leaves the
rest; `model_config` turns `--config=FILE.py` and the `--config.FIELD=VALUE` overrides into the
model's config dataclass, checking each name and value against the dataclass's fields.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
import types
import typing
from collections.abc import Mapping

import jax
from absl import app, flags

from unigen_jax import models
from unigen_jax.errors import PartialFailure, UserInputError

CONFIG_PREFIX = "config."
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


def check_no_arguments(argv) -> None:
    if len(argv) > 1:
        raise UserInputError(f"unexpected arguments {argv[1:]}; flags look like --steps=100")


def use_compilation_cache() -> None:
    """Caches compiled programs on disk: in UNIGEN_JAX_CACHE (default
    ~/.cache/unigen_jax/jit), those that compiled in UNIGEN_JAX_CACHE_MIN_SECS or more
    (default 0.5: faster ones are not worth a cache file; the tests set 0)."""
    cache = os.environ.get("UNIGEN_JAX_CACHE", os.path.expanduser("~/.cache/unigen_jax/jit"))
    jax.config.update("jax_compilation_cache_dir", cache)
    min_seconds = float(os.environ.get("UNIGEN_JAX_CACHE_MIN_SECS", "0.5"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_seconds)


def run(main, flags_parser=None) -> None:
    """absl's app.run(main), with a UserInputError printed as `error: ...` and exit status 2,
    a PartialFailure (the rest of the work saved) as `error: ...` and exit status 1.

    Compiled programs are cached on disk (`use_compilation_cache`), so a second run of the
    same command skips XLA compilation.
    """
    use_compilation_cache()
    try:
        if flags_parser is None:
            app.run(main)
        else:
            app.run(main, flags_parser=flags_parser)
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except PartialFailure as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def parse_flags_keeping_config(argv: list[str]) -> list[str]:
    """An app.run flags_parser: parses the defined flags, returns every other argument
    (`--config.FIELD=VALUE` overrides, unknown flags) for `split_arguments`. A bad flag
    value is a UserInputError, so one line."""
    try:
        return flags.FLAGS(argv, known_only=True)
    except flags.Error as error:
        raise UserInputError(_one_line(error)) from None


def split_arguments(argv: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The `--config.FIELD=VALUE` overrides as (FIELD, VALUE), and the positional arguments
    (argv[0] first). Any other flag left by `parse_flags_keeping_config` is an error; a
    model hyperparameter written as a run flag (`--latent_dim=2`) says how to write it."""
    overrides, positional = [], list(argv[:1])
    rest = list(argv[1:])
    while rest:
        token = rest.pop(0)
        if token == "--":
            positional.extend(rest)
            break
        if not token.startswith("-") or token == "-":
            positional.append(token)
            continue
        name, has_value, value = token.lstrip("-").partition("=")
        if name.startswith(CONFIG_PREFIX):
            if not has_value:
                raise UserInputError(f"--{name} needs a value: write --{name}=VALUE")
            overrides.append((name[len(CONFIG_PREFIX) :], value))
        elif name in _all_hyperparameters():
            example = f"--{CONFIG_PREFIX}{name}={value if has_value else 'VALUE'}"
            raise UserInputError(
                f"--{name} is a model hyperparameter: write {example} "
                "(--list_config lists the model's hyperparameters)"
            )
        else:
            close = difflib.get_close_matches(name, list(flags.FLAGS), n=1)
            hint = f"did you mean --{close[0]}? " if close else ""
            raise UserInputError(f"unknown flag --{name}; {hint}--helpfull lists the flags")
    return overrides, positional


def model_config(model: str, config_file: str | None, overrides: list[tuple[str, str]]):
    """Model `model`'s config dataclass: its defaults, then the dict that `config_file`'s
    get_config() returns, then the command line's (FIELD, VALUE) overrides."""
    hints = field_types(model)
    values = {}
    if config_file is not None:
        for name, value in load_config_file(config_file).items():
            source = f"--config={config_file} sets "
            values[name] = _convert_or_explain(model, hints, name, value, source)
    for name, text in overrides:
        values[name] = _convert_or_explain(model, hints, name, text, f"--{CONFIG_PREFIX}")
    return models.make_config(model, **values)


def field_types(model: str) -> dict[str, typing.Any]:
    """Each field of model `model`'s config dataclass, in order, with its resolved type."""
    cls = models.config_class(model)
    hints = typing.get_type_hints(cls)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


def load_config_file(path: str) -> dict:
    """The overrides that the Python file's get_config() returns (a dict or a ConfigDict)."""
    if not os.path.isfile(path):
        raise UserInputError(
            f"--config={path}: no such file; give a Python file whose get_config() returns "
            "a dict of hyperparameters (--list_config lists the model's hyperparameters)"
        )
    # Run with exec, not imported: no __pycache__ is written beside the file.
    namespace = {"__name__": "unigen_jax_config", "__file__": os.path.abspath(path)}
    try:
        with open(path) as f:
            exec(compile(f.read(), path, "exec"), namespace)
        get_config = namespace.get("get_config")
        if not callable(get_config):
            raise UserInputError(f"--config={path} defines no get_config() function")
        config = get_config()
    except UserInputError:
        raise
    except Exception as error:  # the user's code: any error is theirs to fix
        raise UserInputError(
            f"--config={path} failed: {type(error).__name__}: {_one_line(error)}"
        ) from None
    if hasattr(config, "to_dict"):  # an ml_collections.ConfigDict
        config = config.to_dict()
    if not isinstance(config, Mapping):
        raise UserInputError(
            f"--config={path}: get_config() returned a {type(config).__name__}, "
            "not a dict of hyperparameters"
        )
    return dict(config)


def describe_config(model: str, config) -> str:
    """The fields of `config` (model `model`'s), their types, defaults and values."""
    defaults = models.make_config(model)
    rows = [("field", "type", "default", "value")]
    for name, hint in field_types(model).items():
        value, default = getattr(config, name), getattr(defaults, name)
        shown = format_value(value) if value != default else ""
        rows.append((name, type_name(hint), format_value(default), shown))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"model {model!r}: set a hyperparameter with --{CONFIG_PREFIX}FIELD=VALUE "
        "or in --config=FILE.py"
    ]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append(("  " + "  ".join([*cells, row[3]])).rstrip())
    return "\n".join(lines)


def hyperparameter_table() -> str:
    """The README's Markdown table: every registered model's hyperparameters and defaults.

    A model sharing its config class with an earlier one (a preset of its family, such as
    `wgan` of the GAN's) lists only the defaults it changes.
    """
    lines = ["| model | hyperparameters: `--config.FIELD=VALUE` (default) |", "| --- | --- |"]
    family_heads = {}
    for model in models.MODEL_NAMES:
        head = family_heads.setdefault(models.config_class(model), model)
        defaults, head_defaults = models.make_config(model), models.make_config(head)
        cells = ", ".join(
            f"`{name}` ({format_value(getattr(defaults, name))})"
            for name in field_types(model)
            if head == model or getattr(defaults, name) != getattr(head_defaults, name)
        )
        if head != model:
            cells = f"as `{head}`, with {cells}" if cells else f"as `{head}`"
        lines.append(f"| `{model}` | {cells} |")
    return "\n".join(lines)


def format_value(value) -> str:
    """`value` as it is written on the command line."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(format_value(v) for v in value)
    if value is None:
        return "none"
    return str(value)


def type_name(hint) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def _convert_or_explain(model, hints, name, value, source):
    """`value` of field `name` converted to its type; `source` starts the error messages."""
    if name not in hints:
        close = difflib.get_close_matches(name, list(hints), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UserInputError(
            f"{source}{name}: model {model!r} has no hyperparameter {name!r}; {hint}"
            f"it has: {', '.join(hints)}"
        )
    try:
        return _convert(hints[name], value)
    except ValueError:
        kind = type_name(hints[name])
        if typing.get_origin(hints[name]) is tuple:
            kind += f" (comma-separated, e.g. --{CONFIG_PREFIX}{name}=64,64)"
        elif hints[name] is bool:
            kind += " (true, false, 1 or 0)"
        raise UserInputError(f"{source}{name}={value!r}: not a valid {kind}") from None


def _convert(hint, value):
    """`value` (text from the command line, or a Python value from a config file) as type
    `hint`; ValueError if it is not one."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or str(value).lower() == "none"):
            return None
        for arg in args:
            try:
                return _convert(arg, value)
            except ValueError:
                pass
        raise ValueError(value)
    if origin is typing.Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and value == str(choice)):
                return choice
        raise ValueError(value)
    if origin is tuple:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",")] if value.strip() else []
        if not isinstance(value, list | tuple):
            raise ValueError(value)
        item_types = [args[0]] * len(value) if args[-1:] == (Ellipsis,) else list(args)
        if len(item_types) != len(value):
            raise ValueError(value)
        return tuple(_convert(t, v) for t, v in zip(item_types, value, strict=True))
    if hint is bool:
        if isinstance(value, str) and value.lower() in _BOOLEANS:
            return _BOOLEANS[value.lower()]
        if isinstance(value, bool):
            return value
        raise ValueError(value)
    if hint in (int, float):
        numeric = (int, float) if hint is float else (int,)
        if isinstance(value, bool) or not isinstance(value, (str, *numeric)):
            raise ValueError(value)
        return hint(value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError(value)
    if type(None) is hint and value is None:
        return None
    raise ValueError(f"type {hint} is not supported")


def _all_hyperparameters() -> set[str]:
    return {name for model in models.MODEL_NAMES for name in field_types(model)}


def _one_line(error) -> str:
    return " ".join(str(error).split())


def mean_and_std(values) -> tuple[float, float]:
    """The mean of `values` and their std with n - 1 (0 for one value), as a baseline over
    seeds is reported."""
    import numpy as np

    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return float(np.mean(values)), std


def write_report(path: str, report: dict) -> None:
    """Writes a command's figures as JSON to `path` (its folder made), atomically."""
    from unigen_jax.train import workdir as files

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    files.write_json_atomically(path, report)
    print(f"wrote {path}")
