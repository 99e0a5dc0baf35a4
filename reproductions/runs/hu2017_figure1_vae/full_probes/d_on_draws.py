"""What the AA-VAE's discriminator learnt when it was shown the generator's grey means: its
logits, with BatchNorm on each batch's own statistics as in a training phase (batches of 64), on
real binary digits, on generated means, on pixel draws from those same means, and on real
digits with pixels moved to 0.05 / 0.95. Usage (from the repository root):

  python reproductions/runs/hu2017_figure1_vae/full_probes/d_on_draws.py WORKDIR STEP

with WORKDIR a run that kept its checkpoints (the record: the 100% AA-VAE's tau = 5 selection
run, step 14,800, trained before the model drew its generated digits; output in
d_on_draws.txt)."""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from unigen_jax.eval import runner
from unigen_jax.models.networks import Networks

BATCH = 64
COUNT = 512


def main(workdir: str, step: int) -> None:
    run = runner.load_run(workdir, split="validation", step=step)
    key = jax.random.PRNGKey(0)
    sampling = run.model.inference_networks(
        run.state.params, run.state.batch_stats, key=key, batch_size=COUNT
    )
    means = np.asarray(run.model.sample_fn(sampling, {}))
    real = np.asarray(run.test_source.get(np.arange(COUNT))["x"])  # validation digits
    draws = (np.random.default_rng(0).random(means.shape) < means).astype(np.float32)
    shifted = (real * 0.9 + 0.05).astype(np.float32)

    def logits(x):
        out = []
        for start in range(0, len(x), BATCH):
            nets = Networks(
                run.model.networks,
                run.state.params,
                run.state.batch_stats,
                train=True,
                key=key,
                batch_size=BATCH,
            )
            out.append(np.asarray(nets("discriminator", jnp.asarray(x[start : start + BATCH]))[0]))
        return np.concatenate(out).ravel()

    print(f"{workdir} at step {step}; D's logit over {COUNT} examples in batches of {BATCH}")
    for name, x in [
        ("real digits (binary)", real),
        ("generated means (grey)", means),
        ("draws from the same means", draws),
        ("real digits, pixels 0.05 / 0.95", shifted),
    ]:
        values = logits(x)
        low, median, high = np.percentile(values, [10, 50, 90])
        print(
            f"{name:34s} median {median:7.2f}  10th-90th percentile {low:7.2f} {high:7.2f}  "
            f"judged real {np.mean(values > 0):.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
