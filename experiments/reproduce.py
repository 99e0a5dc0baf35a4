r"""Reruns a paper's headline result: `python -m experiments.reproduce --study=hu2017_table2_is`.

Every arm of the study is trained over several seeds with `experiments.train`, scored with
`experiments.evaluate` (the project's own classifier, trained first if missing), and printed as
Markdown beside the paper's figure (mean ± std over seeds). Arms that choose a hyperparameter
(AA-VAE's temperature) first train one run per value on the training split minus a held-out
validation share and keep the best by the study's metric on that validation data. Baselines
that overfit (the SVAE study's classifier on its labels alone) are stopped early: each run
scores evenly spaced checkpoints on that validation data and reports the best one's test score
(experiments.studies.early_stopping).

The study is resumable: each run is a workdir, a finished run (its eval file written) is
skipped, a run scored at fewer steps than asked for (a study lengthened, or `--steps` raised)
trains on from its latest checkpoint and is scored again, and `results.json` and `REPORT.md` are
rewritten as each run ends, under `--workdir/STUDY/SCALE/`. Scales: `cpu` (offline data, about
an hour on 2 CPU cores) and `full` (the full MNIST offline, `mnist70k`, at the paper's settings
as far as 2 CPU cores allow: hours to days a study, resumable) and `paper` (the paper's TFDS
data and settings, for an accelerator). A study whose scale has `at_steps` also scores each run
at those steps and writes the metrics against the step (TRAJECTORY.md, trajectory.png;
experiments.studies.trajectory).

  --study      one of the studies below (--help lists them)
  --scale      cpu | full | paper
  --seeds, --steps, --num_samples   override the scale's (e.g. a quick look)
  --dry_run    print the commands, run nothing
  --report_only  run nothing; write the table (results.json, REPORT.md, the trajectory) of the
               runs scored so far, for a study whose runs go on in other processes
"""

from __future__ import annotations

from absl import flags

from experiments import _cli
from experiments.studies import STUDIES
from experiments.studies.runner import run_study
from experiments.studies.trajectory import run_trajectory_study
from unigen_jax.errors import UserInputError

FLAGS = flags.FLAGS
flags.DEFINE_string("study", None, f"the study: one of {', '.join(STUDIES)}")
flags.DEFINE_enum(
    "scale",
    "cpu",
    ["cpu", "full", "paper"],
    "cpu (mnist5k, ~1 h on 2 cores), full (all of MNIST offline, the papers' settings: hours "
    "to days on 2 cores) or paper (TFDS, for an accelerator)",
)
flags.DEFINE_string("workdir", "runs/reproduce", "root folder of the studies' runs")
flags.DEFINE_integer("seeds", None, "seeds per arm (default: the scale's)")
flags.DEFINE_integer("steps", None, "training steps per run (default: the scale's)")
flags.DEFINE_integer("num_samples", None, "samples per evaluation (default: the scale's)")
flags.DEFINE_string("data_dir", None, "TFDS data directory (paper scale)")
flags.DEFINE_string(
    "classifier",
    None,
    "an existing classifier of the study's dataset (default: WORKDIR/classifier_DATASET, "
    "trained with experiments.train_classifier's defaults if missing)",
)
flags.DEFINE_boolean("dry_run", False, "print the commands without running them")
flags.DEFINE_boolean(
    "report_only",
    False,
    "run nothing; write the study's results.json and REPORT.md (and trajectory) from the runs "
    "scored so far, e.g. while its runs go on in other processes",
)


def main(argv):
    _cli.check_no_arguments(argv)
    if FLAGS.study not in STUDIES:
        raise UserInputError(
            f"--study={FLAGS.study!r} is not a study; choose one of: {', '.join(STUDIES)}"
        )
    study = STUDIES[FLAGS.study]
    if FLAGS.scale not in study.scales:
        raise UserInputError(
            f"study {FLAGS.study!r} has no --scale={FLAGS.scale}; choose one of: "
            f"{', '.join(study.scales)}"
        )
    # A study scored along training (Scale.at_steps): also its trajectory table and curves.
    run = run_trajectory_study if study.scales[FLAGS.scale].at_steps else run_study
    run(
        study,
        FLAGS.scale,
        FLAGS.workdir,
        overrides={k: FLAGS[k].value for k in ("seeds", "steps", "num_samples")},
        dry_run=FLAGS.dry_run,
        report_only=FLAGS.report_only,
        data_dir=FLAGS.data_dir,
        classifier=FLAGS.classifier,
    )


if __name__ == "__main__":
    _cli.run(main)
