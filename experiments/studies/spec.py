"""A study is data: arms (a model and its hyperparameters), seeds, one metric (and optional
extra ones), the paper's figures, and the settings of each scale (`cpu`: offline data, about
an hour on 2 cores; `paper`: the paper's data and settings, for an accelerator)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


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
    at_steps: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Selection:
    """A hyperparameter chosen per arm on the validation split (one seed, the first), by the
    best value of the study's metric there, before the arm's seeds are scored on test data."""

    field: str
    values: tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Arm:
    """One row of the study's table.

    Attributes:
      label: the row's name, as the paper writes it.
      model: a registered model.
      config: `--config.FIELD=VALUE` overrides.
      run: run flags (`train_fraction`, ...).
      paper: the paper's figure for this row, as text ("8.34 ± .03"), or "" if not tabulated.
      select: a hyperparameter chosen on the validation split, or None.
    """

    label: str
    model: str
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    run: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    paper: str = ""
    select: Selection | None = None


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
    """

    name: str
    title: str
    metric: tuple[str, str]
    arms: tuple[Arm, ...]
    scales: Mapping[str, Scale]
    validation_fraction: float = 0.0
    notes: str = ""
    also: tuple[tuple[str, str], ...] = ()

    @property
    def metrics(self) -> tuple[tuple[str, str], ...]:
        """(metric, key) of the main metric, then of each extra one."""
        return (tuple(self.metric), *(tuple(pair) for pair in self.also))
