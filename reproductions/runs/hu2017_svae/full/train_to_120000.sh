#!/bin/bash
# The record of how seeds 1 and 2 of the 120,000-step SVAE runs were made (seed 0 was continued
# from its 60,000-step checkpoint by continue.sh; those checkpoints are gone for seeds 1 and 2,
# and with constant Adam and exact resume, training from step 0 is the same training): the full
# study's SVAE arm trained to 120,000 steps, a checkpoint kept every 12,000 steps, each scored on
# the test split. From the repository root: train_to_120000.sh SEED ARM OUT_DIR
# (ARM svae_1pct, 599 labels, or svae_10pct, 6,000; P=python by default).
set -eu
[ $# = 3 ] || { echo "usage: train_to_120000.sh SEED ARM OUT_DIR (ARM svae_1pct or svae_10pct)" >&2; exit 2; }
SEED=$1 ARM=$2 OUT=$3 P=${P:-python}
case "$ARM" in
  svae_10pct) SHARE=0.12 ;;
  svae_1pct) SHARE=0.012 ;;
  *) echo "train_to_120000.sh: unknown arm '$ARM'; use svae_1pct or svae_10pct" >&2; exit 2 ;;
esac
W=$OUT/${ARM}_to_120000/seed$SEED
$P -m experiments.train --model=svae --dataset=mnist70k --workdir="$W" --steps=120000 \
  --batch_size=64 --seed="$SEED" --validation_fraction=0.16666666666666666 \
  --checkpoint_every=12000 --keep_checkpoints_every=12000 \
  --config.architecture=mlp --config.labelled_fraction="$SHARE"
$P -m experiments.evaluate --workdir="$W" --metrics=classification_accuracy,elbo \
  --split=test --num_samples=5000 --seed="$SEED" --skip_inapplicable \
  --step=$(seq -s, 12000 12000 120000)
