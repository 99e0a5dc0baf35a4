"""A study is data: arms (a model and its hyperparameters), seeds, one metric (and optional
extra ones), the paper's figures, and the settings of each scale (`cpu`: offline data, about
an hour on 2 cores; `paper`: the paper's data and settings, for an accelerator)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

GOALS = ("max", "min", "real")


@dataclasses.dataclass(frozen=True)
class Scale:
    """Settings of one scale: the dataset, the training length, the seeds, the samples, and
    `config`: `--config.FIELD=VALUE` overrides of every arm at this scale (an arm's own config
    wins), for settings that depend on the scale (a schedule's length, the architecture).
    `at_steps`: steps (besides the last) at which every run is also scored, for studies of a
    metric along training (experiments.studies.trajectory)."""

    dataset: str
    steps: int
    seeds: int
    num_samples: int = 5000
    batch_size: int = 64
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # `experiments.evaluate` flags of every evaluation at this scale ({"critic_steps": 200}).
    evaluate: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # The validation share at this scale, if not the study's (0: none, e.g. a cpu scale that
    # cannot afford the validation scores of a Sweep; not with Selection arms).
    validation_fraction: float | None = None
    at_steps: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Selection:
    """A hyperparameter chosen per arm on the validation split (one seed, the first), by the
    best value of the study's metric there, before the arm's seeds are scored on test data."""

    field: str
    values: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A small hyperparameter sweep of one arm, reported as Rosca et al. 2017 (arXiv
    1706.04987, Section 6) report theirs: each metric's quartiles over every run of the sweep
    and its best run.

    Every setting is trained with each of the scale's seeds and scored on test data; those
    scores give the quartiles (descriptive) and the best run (picked on TEST data, as Rosca et
    al. do: an optimistic figure, labelled so). When the study holds out a validation share
    (`Study.validation_fraction`, or the scale's), every run is also scored on it by the
    study's main metric, and the setting with the best mean there is the arm's chosen one: the
    row's values are its seeds' test scores (as `Selection` does for one field); without one,
    the row's values are every run's.

    Attributes:
      settings: the `--config.FIELD=VALUE` overrides of each setting, over the arm's config.
    """

    settings: tuple[Mapping[str, Any], ...]

    def __post_init__(self):
        if not self.settings:
            raise ValueError("a sweep needs at least one setting")

    @classmethod
    def grid(cls, **values) -> Sweep:
        """Every combination of the given values: `Sweep.grid(lr=(1e-4, 2e-4), beta=(1, 2))`."""
        fields = list(values)
        combos = itertools.product(*values.values())
        return cls(tuple(dict(zip(fields, combo, strict=True)) for combo in combos))


@dataclasses.dataclass(frozen=True)
class Arm:
    """One row of the study's table.

    Attributes:
      label: the row's name, as the paper writes it.
      model: a registered model.
      config: `--config.FIELD=VALUE` overrides.
      run: run flags (`train_fraction`, ...).
      paper: the paper's figure for this row, as text ("8.34 ± .03"), or "" if not tabulated.
      select: a hyperparameter chosen on the validation split, or None; or {scale name:
        Selection} for a choice made at some scales only (a scale it lacks runs the arm with
        its config, whose value of the field is then fixed, e.g. by `scale_config`).
      sweep: a hyperparameter sweep reported by quartiles and best run, or {scale name:
        Sweep} for sweeps that differ by scale (a scale it lacks runs the arm plain), or
        None; not with `select`.
      scale_config: {scale name: overrides of `config` at that scale}, for a setting of the
        arm that the scale changes (the labelled share that gives the paper's 600 labels of
        the full MNIST's 50,000 training digits, where mnist5k takes 1%).
      scale_run: {scale name: overrides of `run` at that scale} (the `train_fraction` that
        gives the paper's 600 training digits at the full scale).
      early_stopping: k > 0: each run keeps k evenly spaced checkpoints (every steps // k
        steps), scores them on the validation split by the study's metric, and reports on test
        the best of them (experiments.studies.early_stopping): a model that overfits its
        data, compared at its best without looking at test data; 0: the last step; or
        {scale name: k} (a scale it lacks: 0). With `select`, each candidate is scored by its
        best checkpoint on validation: the value and the step are chosen together. Needs the
        study's validation share; not with `sweep`.
    """

    label: str
    model: str
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    run: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    paper: str = ""
    select: Selection | Mapping[str, Selection] | None = None
    sweep: Sweep | Mapping[str, Sweep] | None = None
    scale_config: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    scale_run: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    early_stopping: int | Mapping[str, int] = 0

    def __post_init__(self):
        if self.select is not None and self.sweep is not None:
            raise ValueError(f"arm {self.label!r}: a Selection or a Sweep, not both")
        counts = (
            tuple(self.early_stopping.values())
            if isinstance(self.early_stopping, Mapping)
            else (self.early_stopping,)
        )
        if any(count < 0 for count in counts):
            raise ValueError(f"arm {self.label!r}: early_stopping must be >= 0")
        if any(counts) and self.sweep is not None:
            raise ValueError(f"arm {self.label!r}: early stopping with a Sweep")

    def at_scale(self, scale: str) -> Arm:
        """The arm as it runs at scale `scale`: its `config` and `run` with that scale's
        overrides applied, and no per-scale overrides left."""
        return dataclasses.replace(
            self,
            config={**self.config, **self.scale_config.get(scale, {})},
            run={**self.run, **self.scale_run.get(scale, {})},
            scale_config={},
            scale_run={},
            select=self.select.get(scale) if isinstance(self.select, Mapping) else self.select,
            early_stopping=(
                self.early_stopping.get(scale, 0)
                if isinstance(self.early_stopping, Mapping)
                else self.early_stopping
            ),
        )

    def sweep_at(self, scale: str) -> Sweep | None:
        """The arm's sweep at scale `scale` (None: the arm runs plain there)."""
        if self.sweep is None or isinstance(self.sweep, Sweep):
            return self.sweep
        return self.sweep.get(scale)


@dataclasses.dataclass(frozen=True)
class Study:
    """A paper's result.

    Attributes:
      name: the `--study` name.
      title: what it reproduces, with the citation.
      metric: the `experiments.evaluate` metric and the key of its value ("inception_score",
        "mean"), higher is better.
      arms: the rows.
      scales: {"cpu": Scale, "paper": Scale}.
      validation_fraction: the share of the training split every arm holds out (needed by
        arms with a Selection; 0 for none).
      notes: what to know when reading the table (the paper's setting, our differences).
      also: extra (metric, key) pairs computed in the same `experiments.evaluate` call as
        `metric` and shown beside it: in REPORT.md one more group of columns each (mean ± std,
        per seed, real test data), in results.json `rows[i]["also"]["metric.key"]` =
        {"values": [per seed], "real": value on real data or None}. Selections and the
        "ours" column use `metric` alone. E.g. (("elbo", "elbo"),) beside an accuracy.
      goals: {"metric.key": "max" | "min" | "real"}: what a sweep's best run is for each
        metric: the highest (the default), the lowest, or the nearest to the value on real
        data (Rosca et al.'s rule for sample diversity). A Sweep's choice on validation data
        follows `metric`'s goal.
    """

    name: str
    title: str
    metric: tuple[str, str]
    arms: tuple[Arm, ...]
    scales: Mapping[str, Scale]
    validation_fraction: float = 0.0
    notes: str = ""
    also: tuple[tuple[str, str], ...] = ()
    goals: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for name, goal in self.goals.items():
            if goal not in GOALS:
                raise ValueError(f"study {self.name!r}: goal {goal!r} of {name}, not in {GOALS}")

    def goal(self, metric: str, key: str) -> str:
        """The goal of `metric.key` ("max" unless `goals` says otherwise)."""
        return self.goals.get(f"{metric}.{key}", "max")

    @property
    def metrics(self) -> tuple[tuple[str, str], ...]:
        """(metric, key) of the main metric, then of each extra one."""
        return (tuple(self.metric), *(tuple(pair) for pair in self.also))
