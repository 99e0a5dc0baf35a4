#!/bin/bash
# The record of how the continued SVAE runs were made: one seed of the full study, copied and
# continued from its last checkpoint to STEPS (constant Adam 3e-4 and exact resume, so the same
# as a STEPS-long run), then scored at the kept checkpoints.
# Usage, from the repository root: continue.sh SEED STUDY_DIR OUT_DIR [ARM] [STEPS]
# (STUDY_DIR: the full study's folder, e.g. runs/reproduce/hu2017_svae/full; ARM: svae_10pct,
# the default, with 6,000 labels, or svae_1pct with 599; STEPS: 60000, the default, which
# continued the study's earlier 20,000-step runs (svae_10pct_to_60000/), or more, which continues
# its 60,000-step runs, scored every 12,000 steps past 60,000 (svae_to_120000/); 240000 with a
# STUDY_DIR whose svae_1pct/ holds the 120,000-step runs made svae_1pct_to_240000/)
set -eu
SEED=$1 ARM=${4:-svae_10pct} STEPS=${5:-60000}
case "$ARM" in
  svae_10pct) SHARE=0.12 ;;
  svae_1pct) SHARE=0.012 ;;
  *) echo "continue.sh: unknown arm '$ARM'; use svae_10pct or svae_1pct" >&2; exit 2 ;;
esac
if [ "$STEPS" = 60000 ]; then
  EVERY=4000 SCORED=24000,28000,32000,36000,44000,52000,60000
elif [ "$STEPS" -gt 60000 ] && [ $((STEPS % 12000)) = 0 ]; then
  EVERY=12000 SCORED=$(seq -s, 72000 12000 "$STEPS")
else
  echo "continue.sh: STEPS '$STEPS' is neither 60000 nor a multiple of 12000 above it" >&2; exit 2
fi
SRC=$2/$ARM/seed$SEED W=$3/$ARM/seed$SEED
[ -d "$W" ] || { mkdir -p "$(dirname "$W")"; cp -r "$SRC" "$W"; rm -f "$W/eval.json"; }
python -m experiments.train --model=svae --dataset=mnist70k --workdir="$W" --steps="$STEPS" \
  --batch_size=64 --seed="$SEED" --validation_fraction=0.16666666666666666 \
  --checkpoint_every="$EVERY" --keep_checkpoints_every="$EVERY" \
  --config.architecture=mlp --config.labelled_fraction="$SHARE"
python -m experiments.evaluate --workdir="$W" --metrics=classification_accuracy,elbo \
  --split=test --num_samples=5000 --seed="$SEED" --skip_inapplicable --step="$SCORED"
