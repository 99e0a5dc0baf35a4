#!/bin/bash
# The record of how the early-stopped sanity rows were made: q(y|x) trained on the labelled
# digits alone (the study's sanity arm, same flags), its checkpoint every 2,000 steps scored on
# the validation split (the last 10,000 training digits), and the best of them on test data.
# Usage, from the repository root: run.sh OUT_DIR   (then summarize.py OUT_DIR)
set -eu
OUT=$1
for ARM in 1pct:0.012 10pct:0.12; do
  NAME=${ARM%%:*} SHARE=${ARM##*:}
  for SEED in 0 1 2; do
    W=$OUT/labels_alone_$NAME/seed$SEED
    python -m experiments.train --model=svae --dataset=mnist70k --workdir="$W" --steps=60000 \
      --batch_size=64 --seed="$SEED" --validation_fraction=0.16666666666666666 \
      --checkpoint_every=2000 --keep_checkpoints_every=2000 --config.architecture=mlp \
      --config.labelled_fraction="$SHARE" --config.supervised_only=true
    python -m experiments.evaluate --workdir="$W" --metrics=classification_accuracy \
      --split=validation --seed="$SEED" --step="$(seq -s, 2000 2000 60000)"
    BEST=$(python "$(dirname "$0")/summarize.py" --best_step "$W")
    python -m experiments.evaluate --workdir="$W" --metrics=classification_accuracy \
      --split=test --seed="$SEED" --step="$BEST"
  done
done
