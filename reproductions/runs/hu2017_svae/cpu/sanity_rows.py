"""The record of the SVAE study's cpu-scale sanity rows, run after its other cpu rows: the study
with its early-stopped arms alone. Usage, from the repository root:
PYTHONPATH=. python reproductions/runs/hu2017_svae/cpu/sanity_rows.py OUT_DIR"""

import dataclasses
import sys

from experiments.studies import STUDIES, runner

if len(sys.argv) != 2:
    sys.exit("usage: sanity_rows.py OUT_DIR (the folder the runs go in)")
study = STUDIES["hu2017_svae"]
sanity_only = dataclasses.replace(study, arms=tuple(a for a in study.arms if a.early_stopping))
runner.run_study(sanity_only, "cpu", sys.argv[1])
