#!/bin/bash
# The record of how these runs were made: one SVAE seed of the full study, continued from its
# step-20,000 checkpoint to 60,000 steps (constant Adam 3e-4 and exact resume, so the same as a
# 60,000-step run), then scored at the kept checkpoints.
# Usage, from the repository root: continue.sh SEED STUDY_DIR OUT_DIR [ARM]
# (STUDY_DIR: the full study's folder, e.g. runs/reproduce/hu2017_svae/full; ARM: svae_10pct,
# the default, with 6,000 labels, or svae_1pct with 599)
set -eu
SEED=$1 ARM=${4:-svae_10pct}
case "$ARM" in
  svae_10pct) SHARE=0.12 ;;
  svae_1pct) SHARE=0.012 ;;
  *) echo "continue.sh: unknown arm '$ARM'; use svae_10pct or svae_1pct" >&2; exit 2 ;;
esac
SRC=$2/$ARM/seed$SEED W=$3/$ARM/seed$SEED
[ -d "$W" ] || { mkdir -p "$(dirname "$W")"; cp -r "$SRC" "$W"; rm -f "$W/eval.json"; }
python -m experiments.train --model=svae --dataset=mnist70k --workdir="$W" --steps=60000 \
  --batch_size=64 --seed="$SEED" --validation_fraction=0.16666666666666666 \
  --checkpoint_every=4000 --keep_checkpoints_every=4000 \
  --config.architecture=mlp --config.labelled_fraction="$SHARE"
python -m experiments.evaluate --workdir="$W" --metrics=classification_accuracy,elbo \
  --split=test --num_samples=5000 --seed="$SEED" --skip_inapplicable \
  --step=24000,28000,32000,36000,44000,52000,60000
