"""The early-stopped sanity rows: per run, the step of the best validation accuracy and the
test accuracy there (run.sh's record). `summarize.py --best_step RUN` prints that step alone;
`summarize.py OUT_DIR` writes OUT_DIR/summary.json and prints each arm's mean ± std."""

import glob
import json
import os
import statistics
import sys


def _accuracy(path):
    with open(path) as f:
        return json.load(f)["metrics"]["classification_accuracy"]["model"]["value"]


def best_step(run):
    """The step of the run's best validation accuracy (the earliest of ties)."""
    scores = {}
    for path in glob.glob(os.path.join(run, "eval_step_*_validation.json")):
        scores[int(os.path.basename(path).split("_")[2])] = _accuracy(path)
    if not scores:
        sys.exit(
            f"summarize.py: {run} holds no eval_step_*_validation.json; score it first (run.sh)"
        )
    return max(sorted(scores), key=scores.get), scores


def main(argv):
    if len(argv) != (2 if argv[:1] == ["--best_step"] else 1):
        sys.exit("usage: summarize.py OUT_DIR (run.sh's) | summarize.py --best_step RUN")
    if argv[:1] == ["--best_step"]:
        print(best_step(argv[1])[0])
        return
    summary = {}
    arms = sorted(glob.glob(os.path.join(argv[0], "labels_alone_*")))
    if not arms:
        sys.exit(f"summarize.py: no labels_alone_* runs in {argv[0]}; make them with run.sh")
    for arm in arms:
        rows = []
        for run in sorted(glob.glob(os.path.join(arm, "seed*"))):
            step, scores = best_step(run)
            test = os.path.join(run, f"eval_step_{step:06d}.json")
            rows.append(
                {
                    "run": os.path.relpath(run, argv[0]),
                    "best_step": step,
                    "validation": scores[step],
                    "test": _accuracy(test) if os.path.exists(test) else None,
                    "validation_by_step": dict(sorted(scores.items())),
                }
            )
        tests = [row["test"] for row in rows if row["test"] is not None]
        summary[os.path.basename(arm)] = {
            "runs": rows,
            "test_mean": statistics.mean(tests) if tests else None,
            "test_std": statistics.stdev(tests) if len(tests) > 1 else None,
        }
        spread = f" ± {summary[os.path.basename(arm)]['test_std']:.4f}" if len(tests) > 1 else ""
        steps = ", ".join(str(row["best_step"]) for row in rows)
        mean = summary[os.path.basename(arm)]["test_mean"]
        print(f"{os.path.basename(arm)}: test {mean:.4f}{spread} at steps {steps}")
    with open(os.path.join(argv[0], "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main(sys.argv[1:])
