"""What the study modules share (`runner`, `sweep`, `trajectory`, `early_stopping`): a value
as its command-line text, a label as a folder name, whether an eval report is complete, a
metric's value in it, mean ± std over seeds, the number format of the reports and the notes'
sentence on the full scales' mixture-of-Bernoullis sanity row. A leaf: it imports no other
study module."""

from __future__ import annotations

import json
import math
import os

from unigen_jax.models.common import flag_value  # noqa: F401 (the studies' import)


def slug(text: str) -> str:
    """A label as a folder name: `AA-VAE (5%)` -> `aa_vae_5pct`."""
    text = text.lower().replace("%", "pct")
    return "_".join("".join(c if c.isalnum() else " " for c in text).split())


def metric_name(metric: str, key: str) -> str:
    """A (metric, key) pair as one name: `inception_score.mean`."""
    return f"{metric}.{key}"


def validation_fraction(study, scale) -> float:
    """The validation share every run of `study` holds out at `scale`: the scale's, if it
    sets one, else the study's."""
    if scale.validation_fraction is not None:
        return scale.validation_fraction
    return study.validation_fraction


def report_value(report, metric, key, which="model"):
    """`report["metrics"][metric][which][key]`; None if the report (a failed run) or the
    entry is missing."""
    if report is None:
        return None
    return report["metrics"].get(metric, {}).get(which, {}).get(key)


def mean_std(values):
    """Mean and sample standard deviation (n - 1) of the values that are not None; (None,
    None) without any, std NaN with one."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    mean = sum(values) / len(values)
    std = (
        math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        if len(values) > 1
        else float("nan")
    )
    return mean, std


def fmt(value, digits=4) -> str:
    """A report's number: `digits` significant digits, "n/a" for None or NaN."""
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.{digits}g}"
    )


def complete_report(path: str, metric_names) -> dict | None:
    """The eval report at `path` if it exists and holds every metric of `metric_names`, each
    scored or not applicable; else None."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        report = json.load(f)
    done = set(report.get("metrics", {})) | set(report.get("not_applicable", []))
    return report if all(name in done for name in metric_names) else None


def mixture_sanity_row(figures: str) -> str:
    """The notes' sentence on a full-scale study's sanity row, whose `figures` it states: a
    mixture of Bernoullis fit by EM on the same training digits (REPRODUCTIONS.md)."""
    return (
        " Sanity row, which a model with a collapsed code or generator would not beat: a "
        "mixture of Bernoullis fit by EM on the same training digits, binarised, K chosen on "
        "the validation digits (`python -m experiments.likelihood_baseline`; the commands in "
        f"reproductions/runs/mixture_of_bernoullis): {figures}."
    )
