#!/bin/bash
# The record of how these runs were made (from the repository root, at commit dbce98c or later):
# Figure 1's VAE at 100% with a larger code, everything else as the study's full scale
# (binarized_mnist70k, 15,000 steps, a checkpoint every 200 steps scored on validation, the test
# bound at the best one and at the last step). The study's VAE keeps the project's default code
# of 16 dimensions; Hu et al. (Section 5.2) give their VAEs the generators of their GAN
# experiments, DCGAN's, whose input has 100. Usage: run.sh OUT_DIR LATENT_DIM...;
# SEEDS="0" by default.
set -eu
[ $# -ge 2 ] || { echo "usage: run.sh OUT_DIR LATENT_DIM... (e.g. run.sh out 100 50)" >&2; exit 2; }
P=${P:-python}
OUT=$1
shift
for latent_dim in "$@"; do
  [[ $latent_dim =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: LATENT_DIM must be a positive integer, got '$latent_dim'" >&2; exit 2; }
done
steps=15000
for latent_dim in "$@"; do
  for seed in ${SEEDS:-0}; do
    W=$OUT/vae_100pct_latent_$latent_dim/seed$seed
    $P -m experiments.train --model=vae --dataset=binarized_mnist70k --workdir=$W --steps=$steps --batch_size=64 --seed=$seed --validation_fraction=0.16666666666666666 --train_fraction=1.0 --checkpoint_every=200 --keep_checkpoints_every=200 --config.base_features=64 --config.likelihood=bernoulli --config.latent_dim=$latent_dim
    $P -m experiments.evaluate --workdir=$W --metrics=elbo --split=validation --num_samples=5000 --seed=$seed --step=$(seq -s, 200 200 $steps)
    best=$($P -c "
import glob, json
from experiments.studies.early_stopping import best_step
scores = {json.load(open(f))['step']: json.load(open(f))['metrics']['elbo']['model']['elbo'] for f in glob.glob('$W/eval_step_*_validation.json')}
print(best_step(scores, 'max'))")
    $P -m experiments.evaluate --workdir=$W --metrics=elbo --split=test --num_samples=5000 --seed=$seed --step=$best,$(seq -s, 3000 3000 $steps)
    echo "$(date -u +%FT%TZ) latent $latent_dim seed$seed best validation step $best" >> $OUT/run.log
  done
done
