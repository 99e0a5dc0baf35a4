#!/bin/bash
# The record of how these runs were made (from the repository root, at commit d158f29 or later):
# Figure 1's VAE at 1%, 10% and 100% trained on dynamically binarised digits
# (--dataset=dynamic_binarized_mnist70k), everything else as the study's full scale: a
# checkpoint every 200 steps, each scored on the validation digits' fixed draw, and the test
# bound at the best one and at the last step. Usage: run.sh OUT_DIR [SHARE...] with SHARE 1pct,
# 10pct or 100pct (default: 1pct 10pct); SEEDS="0 1 2" by default.
set -eu
[ $# -ge 1 ] || { echo "usage: run.sh OUT_DIR [1pct|10pct|100pct ...]" >&2; exit 2; }
P=${P:-python}
OUT=$1
shift
declare -A SPEC=([1pct]="0.012 3000" [10pct]="0.12 6000" [100pct]="1.0 15000")
shares=("$@")
[ ${#shares[@]} -gt 0 ] || shares=(1pct 10pct)
for share_name in "${shares[@]}"; do
  [ -n "${SPEC[$share_name]:-}" ] || { echo "run.sh: unknown share '$share_name'; use 1pct, 10pct or 100pct" >&2; exit 2; }
  set -- ${SPEC[$share_name]}; arm=vae_$share_name; share=$1; steps=$2
  for seed in ${SEEDS:-0 1 2}; do
    W=$OUT/$arm/seed$seed
    $P -m experiments.train --model=vae --dataset=dynamic_binarized_mnist70k --workdir=$W --steps=$steps --batch_size=64 --seed=$seed --validation_fraction=0.16666666666666666 --train_fraction=$share --checkpoint_every=200 --keep_checkpoints_every=200 --config.base_features=64 --config.likelihood=bernoulli
    $P -m experiments.evaluate --workdir=$W --metrics=elbo --split=validation --num_samples=5000 --seed=$seed --step=$(seq -s, 200 200 $steps)
    best=$($P -c "
import glob, json
scores = {json.load(open(f))['step']: json.load(open(f))['metrics']['elbo']['model']['elbo'] for f in glob.glob('$W/eval_step_*_validation.json')}
print(max(scores, key=scores.get))")
    $P -m experiments.evaluate --workdir=$W --metrics=elbo --split=test --num_samples=5000 --seed=$seed --step=$best,$steps
    echo "$(date -u +%FT%TZ) $arm seed$seed best validation step $best" >> $OUT/run.log
  done
done
