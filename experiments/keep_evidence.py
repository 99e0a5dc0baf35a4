r"""Copies what studies' runs leave as evidence into a record that outlives the machine:
`python -m experiments.keep_evidence --workdir=runs/reproduce --study=hu2017_svae`.

A study too long for one machine session runs under a scratch `--workdir`; its checkpoints are
large and stay there. This command copies the rest of each run (its configuration, metrics,
scores, log and latest sample grids), each study's `results.json` and `REPORT.md`, and the
scoring classifiers its runs name that lie under `--workdir` (with their training logs) into
`--into` (default `reproductions/runs`, the record kept in the repository; see its README).
`experiments.reproduce --workdir=reproductions/runs` then skips every run scored there, on any
machine, scoring later runs with the same classifiers: a run cut off before its score is
written starts again from scratch.

Left behind: `checkpoints/`, `tensorboard/`, lock and temporary files, and every sample grid
but the latest step's. Files already in `--into` with the same content are not rewritten;
changed ones are. It prints what it copied.

  --workdir   the studies' root (`experiments.reproduce --workdir`)
  --study     one study (default: every study folder under --workdir)
  --scale     one scale (default: every scale of the study)
  --into      the record's root (default reproductions/runs)
"""

from __future__ import annotations

import filecmp
import glob
import json
import os
import re
import shutil

from absl import flags

from experiments import _cli
from unigen_jax.errors import UserInputError

flags.DEFINE_string("workdir", None, "the studies' root, as given to experiments.reproduce")
flags.DEFINE_string("study", None, "one study (default: every study under --workdir)")
flags.DEFINE_string("scale", None, "one scale (default: every scale of each study)")
flags.DEFINE_string("into", "reproductions/runs", "the record's root")
FLAGS = flags.FLAGS

LEFT_BEHIND_DIRS = frozenset({"checkpoints", "tensorboard"})
LEFT_BEHIND_SUFFIXES = (".lock", ".tmp")
_SAMPLE_STEP = re.compile(r"step_(\d+)")


def _latest_samples(names: list[str]) -> set[str]:
    """The sample grids of the latest step among `names` (step_NNNNNN*.png)."""
    steps = {name: int(m.group(1)) for name in names if (m := _SAMPLE_STEP.match(name))}
    if not steps:
        return set(names)
    latest = max(steps.values())
    return {name for name, step in steps.items() if step == latest}


def _folders(path: str) -> list[str]:
    if not os.path.isdir(path):
        return []
    return sorted(n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n)))


def evidence_files(study_dir: str) -> list[str]:
    """The files under `study_dir` to keep, relative to it, sorted."""
    kept = []
    for folder, dirs, files in os.walk(study_dir):
        dirs[:] = sorted(d for d in dirs if d not in LEFT_BEHIND_DIRS)
        files = [f for f in files if not f.startswith(".") and not f.endswith(LEFT_BEHIND_SUFFIXES)]
        if os.path.basename(folder) == "samples":
            files = _latest_samples(files)
        kept += [os.path.relpath(os.path.join(folder, f), study_dir) for f in files]
    return sorted(kept)


def classifier_dirs(workdir: str, study_dir: str) -> list[str]:
    """The classifiers that the eval reports under `workdir/study_dir` name and that lie under
    `workdir`, relative to it, sorted. (A classifier given from elsewhere is the user's own.)"""
    root = os.path.abspath(workdir)
    found = set()
    pattern = os.path.join(workdir, study_dir, "**", "eval*.json")
    for report_path in glob.glob(pattern, recursive=True):
        with open(report_path) as f:
            path = (json.load(f).get("classifier") or {}).get("path")
        if path and os.path.abspath(path).startswith(root + os.sep):
            found.add(os.path.relpath(os.path.abspath(path), root))
    return sorted(found)


def _classifier_files(workdir: str, classifier: str) -> list[str]:
    """A classifier's files and its training log, relative to `workdir`."""
    files = [os.path.join(classifier, f) for f in evidence_files(os.path.join(workdir, classifier))]
    log = classifier + ".log"
    return files + ([log] if os.path.isfile(os.path.join(workdir, log)) else [])


def keep(workdir: str, into: str, study: str | None = None, scale: str | None = None) -> list:
    """Copies the evidence of `workdir`'s studies (one study, one scale if given) into `into`;
    returns the paths written, relative to `into`."""
    if not os.path.isdir(workdir):
        raise UserInputError(f"--workdir={workdir} is not a folder; give the studies' root")
    if os.path.abspath(workdir) == os.path.abspath(into):
        raise UserInputError(f"--workdir and --into are the same folder ({into}); nothing to copy")
    studies = [study] if study else _folders(workdir)
    study_dirs = []
    for name in studies:
        scales = [scale] if scale else _folders(os.path.join(workdir, name))
        study_dirs += [os.path.join(name, s) for s in scales]
    missing = [
        d for d in study_dirs if not os.path.exists(os.path.join(workdir, d, "results.json"))
    ]
    if study and (missing or not study_dirs):
        where = os.path.join(workdir, missing[0] if missing else study)
        raise UserInputError(
            f"{where} holds no study results (results.json); check --workdir, --study and --scale"
        )
    paths = []
    for study_dir in (d for d in study_dirs if d not in missing):
        paths += [
            os.path.join(study_dir, rel) for rel in evidence_files(os.path.join(workdir, study_dir))
        ]
        for classifier in classifier_dirs(workdir, study_dir):
            paths += _classifier_files(workdir, classifier)
    written = []
    for rel in dict.fromkeys(paths):
        source, target = os.path.join(workdir, rel), os.path.join(into, rel)
        if os.path.exists(target) and filecmp.cmp(source, target, shallow=False):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)
        written.append(rel)
    return written


def main(argv):
    _cli.check_no_arguments(argv)
    if not FLAGS.workdir:
        raise UserInputError("--workdir is required: the studies' root, e.g. runs/reproduce")
    if FLAGS.scale and not FLAGS.study:
        raise UserInputError("--scale needs --study: give the study whose scale to keep")
    written = keep(FLAGS.workdir, FLAGS.into, FLAGS.study, FLAGS.scale)
    for path in written:
        print(path)
    print(f"{len(written)} files written under {FLAGS.into}")


if __name__ == "__main__":
    _cli.run(main)
