#!/bin/bash
# The record of how the probes of Figure 1's full scale were made (from the repository root,
# at the commit their run.log names or later): one arm trained as the study's full scale
# (binarized_mnist70k, batch 64, the share's length, a checkpoint every 200 steps scored on the
# validation digits) with FLAGs added, and the test bound at the best checkpoint and at every
# fifth of training.
#   Usage: probe.sh OUT_DIR NAME MODEL SHARE [FLAG...]
#   MODEL vae or cvae; SHARE 1pct, 10pct or 100pct; SEEDS="0" by default; P=python.
# The probes:
#   probe.sh OUT vae_100pct_latent_100 vae 100pct --config.latent_dim=100
#     (the study's VAE has the project's 16-d code; Hu et al. give their VAEs the generators
#     of their GAN experiments, DCGAN's, whose input has 100 dimensions)
#   probe.sh OUT aa_vae_10pct_draws_tau5 vae 10pct --config.adversary_activated=true \
#     --config.temperature=5.0 --config.generated_examples=draw
#     (AA-VAE with D shown draws from p(x|z), not the generator's grey means)
#   probe.sh OUT aa_vae_10pct_draws_equal_weights vae 10pct --config.adversary_activated=true \
#     --config.temperature=1000000.0 --config.generated_examples=draw
#     (the same with D's judgement taken out: sigmoid(logit / 1e6) is 0.5 for every example,
#     real or generated, so the generated digits weigh as the real ones; and at 1pct)
set -eu
usage="usage: probe.sh OUT_DIR NAME MODEL SHARE [FLAG...] (MODEL vae|cvae, SHARE 1pct|10pct|100pct)"
[ $# -ge 4 ] || { echo "$usage" >&2; exit 2; }
P=${P:-python}
OUT=$1 NAME=$2 MODEL=$3 SHARE_NAME=$4
shift 4
case $MODEL in vae|cvae) ;; *) echo "probe.sh: unknown MODEL '$MODEL'; $usage" >&2; exit 2;; esac
declare -A SPEC=([1pct]="0.012 3000" [10pct]="0.12 6000" [100pct]="1.0 15000")
[ -n "${SPEC[$SHARE_NAME]:-}" ] || { echo "probe.sh: unknown SHARE '$SHARE_NAME'; $usage" >&2; exit 2; }
set -- ${SPEC[$SHARE_NAME]} "$@"
share=$1 steps=$2
shift 2
mkdir -p "$OUT"
echo "$(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null || echo '?') probe.sh $OUT $NAME $MODEL $SHARE_NAME $*" >> "$OUT/run.log"
for seed in ${SEEDS:-0}; do
  W=$OUT/$NAME/seed$seed
  $P -m experiments.train --model=$MODEL --dataset=binarized_mnist70k --workdir=$W --steps=$steps --batch_size=64 --seed=$seed --validation_fraction=0.16666666666666666 --train_fraction=$share --checkpoint_every=200 --keep_checkpoints_every=200 --config.base_features=64 --config.likelihood=bernoulli "$@"
  $P -m experiments.evaluate --workdir=$W --metrics=elbo --split=validation --num_samples=5000 --seed=$seed --step=$(seq -s, 200 200 $steps)
  best=$($P -c "
import glob, json
from experiments.studies.early_stopping import best_step
scores = {json.load(open(f))['step']: json.load(open(f))['metrics']['elbo']['model']['elbo'] for f in glob.glob('$W/eval_step_*_validation.json')}
print(best_step(scores, 'max'))")
  $P -m experiments.evaluate --workdir=$W --metrics=elbo --split=test --num_samples=5000 --seed=$seed --step=$best,$(seq -s, $((steps / 5)) $((steps / 5)) $steps)
  echo "$(date -u +%FT%TZ) $NAME seed$seed best validation step $best" >> "$OUT/run.log"
done
