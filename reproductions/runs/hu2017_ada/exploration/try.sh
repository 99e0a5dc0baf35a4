#!/bin/bash
# Exploration on the target's VALIDATION share (10% of its training split), never its test split.
cd /work/wt_ada
PY=/work/main/.venv/bin/python
STEPS=${STEPS:-400}
run() { n=$1; shift; w=/work/runs/ada_try/$n
  nice $PY -m experiments.train --model=ada --workdir=$w --steps=$STEPS --log_every=100 --validation_fraction=0.1 --config.schedule_steps=$STEPS "$@" > $w.log 2>&1
  nice $PY -m experiments.evaluate --workdir=$w --split=validation >> $w.log 2>&1
  echo "$n $(grep -o "classification_accuracy (.*" $w.log | tail -1) $(grep -o '[0-9.]* steps/s' $w.log | tail -1)"
}
for spec in "$@"; do eval run $spec; done
