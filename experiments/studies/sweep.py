"""A study arm's hyperparameter sweep (`spec.Sweep`): its runs, the quartiles and best run of
each metric over them, the setting chosen on validation data, the report's section and a box
plot, as Rosca et al. 2017 (arXiv 1706.04987, Section 6) report their sweeps ("both the best
values obtained by each algorithm, as well as the quartiles obtained by each hyperparameter
sweep"; box plots of every job)."""

from __future__ import annotations

import json
import math
import os

from experiments.studies import STUDIES
from experiments.studies.common import (
    flag_value,
    fmt,
    mean_std,
    metric_name,
    report_value,
    slug,
    validation_fraction,
)


def quantile(values, q: float) -> float:
    """The q-quantile (0 <= q <= 1) of values by linear interpolation between order
    statistics: with v_(0) <= ... <= v_(n-1) and h = (n - 1) q,
    v_(floor h) + (h - floor h) (v_(floor h + 1) - v_(floor h)) (Hyndman and Fan 1996,
    definition 7, numpy.percentile's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("the quantile of no values")
    h = (len(ordered) - 1) * q
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def best_index(values, goal: str, real=None) -> int | None:
    """Index of the best of values (None entries skipped) under goal "max", "min", or "real"
    (nearest to `real`; the highest when `real` is None); None if every value is None."""
    scored = [(i, v) for i, v in enumerate(values) if v is not None]
    if not scored:
        return None
    if goal == "min":
        return min(scored, key=lambda iv: iv[1])[0]
    if goal == "real" and real is not None:
        return min(scored, key=lambda iv: abs(iv[1] - real))[0]
    return max(scored, key=lambda iv: iv[1])[0]


def setting_label(setting) -> str:
    """`lr=0.0001, beta=2` ("default" for the arm's own config)."""
    return ", ".join(f"{k}={flag_value(v)}" for k, v in setting.items()) or "default"


def summarize(runs, name: str, goal: str, real=None) -> dict:
    """Quartiles and best run of metric `name` over the sweep's runs (each {"setting",
    "seed", "test": {name: value}}); runs without a value are left out and counted."""
    values = [run["test"].get(name) for run in runs]
    present = [v for v in values if v is not None]
    summary = {"runs": len(present), "missing": len(values) - len(present)}
    if not present:
        return summary
    best = best_index(values, goal, real)
    return {
        **summary,
        "q25": quantile(present, 0.25),
        "median": quantile(present, 0.5),
        "q75": quantile(present, 0.75),
        "best": values[best],
        "best_setting": runs[best]["setting"],
        "best_seed": runs[best]["seed"],
        "goal": goal,
    }


def run_arm(runner, study, scale, arm, settings, arm_dir, config, classifier, row, save=None):
    """Trains and scores every setting (`--config` overrides over `config`) x seed of an
    arm's sweep under arm_dir, on test data and, when the study holds out a validation share,
    on it by the study's main metric; fills `row`: "sweep" (the runs, the choice, the
    summaries) and, as for any arm, "values", "also", "real", "chosen" (the chosen setting's
    seeds; every run without a validation share). `save()`, if given, after each run."""
    names = [metric_name(*pair) for pair in study.metrics]
    validate = bool(validation_fraction(study, scale))
    labels = [setting_label(setting) for setting in settings]
    row["sweep"] = {"settings": labels, "runs": [], "chosen": None, "summary": {}}
    real = {}
    for setting, label in zip(settings, labels, strict=True):
        candidate = {**config, **setting}
        for seed in range(scale.seeds):
            workdir = os.path.join(arm_dir, slug(label), f"seed{seed}")
            report = runner.score(workdir, arm, candidate, seed, "test", classifier)
            run = {"setting": label, "seed": seed, "test": {}, "validation": None}
            for pair, name in zip(study.metrics, names, strict=True):
                run["test"][name] = report_value(report, *pair)
                if real.get(name) is None:
                    real[name] = report_value(report, *pair, "real")
            if validate and report is not None:
                checked = runner.evaluate(
                    workdir,
                    seed,
                    "validation",
                    classifier,
                    metrics=(study.metric,),
                    steps=runner.run_steps(arm),
                )
                run["validation"] = report_value(checked, *study.metric)
            row["sweep"]["runs"].append(run)
            _fill(study, row, names, real, validate)
            if save is not None:
                save()


def _fill(study, row, names, real, validate) -> None:
    """The row's summaries, choice and values from its runs so far."""
    runs = row["sweep"]["runs"]
    row["sweep"]["summary"] = {
        name: summarize(runs, name, study.goal(*name.split(".", 1)), real.get(name))
        for name in names
    }
    chosen = None
    if validate:
        by_setting = {}
        for run in runs:
            if run["validation"] is not None:
                by_setting.setdefault(run["setting"], []).append(run["validation"])
        labels = list(by_setting)
        means = [sum(v) / len(v) for v in by_setting.values()]
        best = best_index(means, study.goal(*study.metric), real.get(names[0]))
        chosen = None if best is None else labels[best]
    row["sweep"]["chosen"] = chosen
    row["sweep"]["real"] = dict(real)
    row["chosen"] = chosen or ("" if validate else "all sweep runs")
    kept = [run for run in runs if not validate or run["setting"] == chosen]
    row["values"] = [run["test"][names[0]] for run in kept]
    row["seeds"] = [run["seed"] for run in kept]
    row["real"] = real.get(names[0])
    for name in names[1:]:
        row["also"][name] = {"values": [run["test"][name] for run in kept], "real": real.get(name)}


def report_lines(study, rows) -> list[str]:
    """The report's sweep section: per arm and metric, the quartiles over every run, the best
    run (picked on test data) and the test mean of the setting chosen on validation data."""
    swept = [row for row in rows if "sweep" in row]
    if not swept:
        return []
    lines = [
        "",
        "Sweeps (Rosca et al.'s report): per metric, the quartiles over every run of the "
        "arm's sweep (settings x seeds, test data; descriptive), the best run PICKED ON TEST "
        "DATA as Rosca et al. pick it (optimistic), and the test mean ± std over the seeds of "
        "the setting chosen on the validation share by the main metric "
        f"`{'.'.join(study.metric)}` (the honest figure; '-' without a validation share).",
        "",
        "| arm | metric | goal | runs | 25% | median | 75% | best (picked on test) | its "
        "setting | chosen on validation: test mean ± std | real |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in swept:
        chosen = row["sweep"]["chosen"]
        for name, summary in row["sweep"]["summary"].items():
            if not summary["runs"]:
                continue
            kept = [run["test"][name] for run in row["sweep"]["runs"] if run["setting"] == chosen]
            mean, std = mean_std(kept)
            honest = f"{fmt(mean)} ± {fmt(std, 2)} ({chosen})" if chosen else "-"
            real = row["sweep"]["real"].get(name)
            lines.append(
                f"| {row['label']} | {name} | {summary['goal']} | {summary['runs']} | "
                f"{fmt(summary['q25'])} | {fmt(summary['median'])} | {fmt(summary['q75'])} "
                f"| {fmt(summary['best'])} | {summary['best_setting']}, seed "
                f"{summary['best_seed']} | {honest} | {fmt(real)} |"
            )
    return lines


def box_plot(study, rows, path: str, *, log=print) -> bool:
    """Writes a PNG of one panel per metric: a box (quartiles, whiskers to the extremes) of
    every sweep run per arm, the runs as dots, the chosen setting's runs filled, the value on
    real data (for code statistics: prior draws) dashed. False (and a log line) without
    matplotlib or without runs."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("no matplotlib (pip install 'unigen_jax[data]'): no box plot")
        return False
    swept = [row for row in rows if row.get("sweep", {}).get("runs")]
    names = [metric_name(*pair) for pair in study.metrics]
    panels = [n for n in names if any(r["sweep"]["summary"][n].get("runs") for r in swept)]
    if not panels:
        return False
    columns = min(3, len(panels))
    lines = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.6 * lines), squeeze=False)
    for ax, name in zip(axes.flat, panels, strict=False):
        data, labels, reals = [], [], []
        for row in swept:
            runs = [r for r in row["sweep"]["runs"] if r["test"].get(name) is not None]
            if not runs:
                continue
            position = len(data) + 1
            values = [r["test"][name] for r in runs]
            data.append(values)
            labels.append(row["label"])
            for run, value in zip(runs, values, strict=True):
                filled = run["setting"] == row["sweep"]["chosen"]
                ax.plot(position, value, "o", ms=5, mfc="black" if filled else "none", mec="black")
            reals.append(row["sweep"]["real"].get(name))
        ax.boxplot(data, whis=(0, 100))
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right", fontsize=8)
        real = next((r for r in reals if r is not None), None)
        if real is not None:
            ax.axhline(real, ls="--", color="grey", lw=1, label="real data")
            ax.legend(fontsize=7)
        ax.set_title(f"{name} ({study.goal(*name.split('.', 1))})", fontsize=9)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    chosen = any(row["sweep"]["chosen"] for row in swept)
    figure.suptitle(
        f"{study.name}: every sweep run"
        + (" (filled: the setting chosen on validation)" if chosen else " (test data)")
    )
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    log(f"wrote {path}")
    return True


def plot_results(results_path: str, path: str | None = None) -> bool:
    """Redraws the box plot of a finished study from its results.json (beside it by
    default)."""
    with open(results_path) as f:
        results = json.load(f)
    out = path or os.path.join(os.path.dirname(results_path), "sweep.png")
    return box_plot(STUDIES[results["study"]], results["rows"], out)
