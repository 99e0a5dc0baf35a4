#!/bin/bash
# The record of how the continued Table 2 left runs were made: one seed of an arm of the full
# study, copied and continued from its step-5,000 checkpoint to STEPS (constant Adam and exact
# resume, so the same as a STEPS-long run), then scored every 1,000 steps past 5,000.
# Usage, from the repository root with the project's python first on PATH:
#   continue.sh SEED ARM STUDY_DIR OUT_DIR [STEPS]
# (ARM: gan or iwgan; STUDY_DIR: the full study's folder, WORKDIR/hu2017_table2_is/full for the
# study's --workdir=WORKDIR, whose classifier_mnist70k scores the runs; STEPS: 8000, the
# default, a multiple of 1000 above 5000)
set -eu
SEED=$1 ARM=$2 STEPS=${5:-8000}
case "$ARM" in
  gan | iwgan) ;;
  *) echo "continue.sh: unknown arm '$ARM'; use gan or iwgan" >&2; exit 2 ;;
esac
if [ "$STEPS" -le 5000 ] || [ $((STEPS % 1000)) != 0 ]; then
  echo "continue.sh: STEPS '$STEPS' is not a multiple of 1000 above 5000" >&2; exit 2
fi
SRC=$3/$ARM/seed$SEED W=$4/$ARM/seed$SEED
CLASSIFIER=$(dirname "$(dirname "$3")")/classifier_mnist70k
[ -d "$SRC/checkpoints" ] || { echo "continue.sh: no checkpoints in $SRC" >&2; exit 2; }
[ -d "$CLASSIFIER" ] || { echo "continue.sh: no scoring classifier at $CLASSIFIER" >&2; exit 2; }
[ -d "$W" ] || { mkdir -p "$(dirname "$W")"; cp -r "$SRC" "$W"; }
python -m experiments.train --model="$ARM" --dataset=mnist70k --workdir="$W" --steps="$STEPS" \
  --batch_size=128 --seed="$SEED" --checkpoint_every=1000 --keep_checkpoints_every=1000 \
  --config.latent_dim=100 --config.noise=uniform --config.architecture=chen_mnist
python -m experiments.evaluate --workdir="$W" --metrics=inception_score --split=test \
  --num_samples=10000 --seed="$SEED" --classifier="$CLASSIFIER" \
  --step="$(seq -s, 6000 1000 "$STEPS")"
