"""Probe: AS-VAE-r (no flow) f-estimator variants; encoder posterior stats after N steps."""

import dataclasses
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from unigen_jax import losses, models
from unigen_jax.data import registry
from unigen_jax.data.subsets import training_sources
from unigen_jax.models.networks import Networks
from unigen_jax.models.spec import Phase
from unigen_jax.train.state import create_train_state
from unigen_jax.train.step import make_per_device_step

LR = float(os.environ.get("LR", "1e-3"))
# The full-scale check: DATASET=binarized_mnist70k BATCH=100 VALIDATION=0.16666666666666666
# (the asvae study's full scale: its 50,000 training digits, batch 100).
DATASET = os.environ.get("DATASET", "mnist5k")
BATCH = int(os.environ.get("BATCH", "64"))
VALIDATION = float(os.environ.get("VALIDATION", "0"))
variant = sys.argv[1]
steps = int(sys.argv[2])
seed = 0
train, _ = training_sources(registry.get_source(DATASET, "train"), validation_fraction=VALIDATION)
test = registry.get_source(DATASET, "test")
cfg = models.ASVAEConfig(
    bound="x",
    flow_length=0,
    architecture="mlp",
    hidden_sizes=(256, 256),
    latent_dim=16,
    learning_rate=LR,
    ratio_lr=LR,
)
name = "asvae_r"
if variant == "vae":
    cfg = models.VAEConfig(
        architecture="mlp", hidden_sizes=(256, 256), latent_dim=16, learning_rate=LR
    )
    name = "vae"
model = models.build_model(name, cfg, train.info, axis_name=None)
L = 16


def ratio_phase(nets, batch):
    x = batch["x"]
    mean, logvar = nets("encoder", x)
    z_q = mean + jnp.exp(0.5 * logvar) * nets.normal("eps", (L,))
    z_p = nets.normal("z", (L,))
    if variant == "avb":  # negatives share the real x: (x, z~p(z))
        x_neg = x
    else:
        x_p = jax.nn.sigmoid(nets("generator", z_p))
        x_neg = nets.batch_roll(x_p)
        if variant == "bern":  # binarise both classes' x at f's input
            x = (nets.uniform("bx", x.shape[1:]) < x).astype(x.dtype)
            x_neg = (nets.uniform("bn", x.shape[1:]) < x_neg).astype(x.dtype)
    real, _ = nets("f_ratio", x, z_q)
    fake, _ = nets("f_ratio", x_neg, z_p)
    loss = jnp.mean(losses.minimax_discriminator_loss(real, fake))
    return loss, {"f_loss": loss, "f_real": jnp.mean(real), "f_fake": jnp.mean(fake)}


def known(nets, x, z):
    mean, logvar = nets("encoder", x)
    return losses.diagonal_gaussian_log_density(
        z, mean, logvar
    ) - losses.diagonal_gaussian_log_density(z, jnp.zeros_like(z), 0.0)


def ratio_known(nets, batch):
    x = batch["x"]
    mean, logvar = nets("encoder", x)
    z_q = mean + jnp.exp(0.5 * logvar) * nets.normal("eps", (L,))
    z_p = nets.normal("z", (L,))
    x_neg = nets.batch_roll(jax.nn.sigmoid(nets("generator", z_p)))
    real = nets("f_ratio", x, z_q)[0] + known(nets, x, z_q)
    fake = nets("f_ratio", x_neg, z_p)[0] + known(nets, x_neg, z_p)
    loss = jnp.mean(losses.minimax_discriminator_loss(real, fake))
    return loss, {"f_loss": loss, "f_real": jnp.mean(real), "f_fake": jnp.mean(fake)}


def encdec_known(nets, batch):
    x = batch["x"]
    mean, logvar = nets("encoder", x)
    z = mean + jnp.exp(0.5 * logvar) * nets.normal("eps", (L,))
    log_px = losses.bernoulli_log_likelihood(nets("generator", z), x)
    f = nets("f_ratio", x, z)[0] + known(nets, x, z)
    loss = -jnp.mean(log_px - f)
    return loss, {"loss": loss, "reconstruction": -jnp.mean(log_px), "f_logit": jnp.mean(f)}


REPEATS = int(sys.argv[3]) if len(sys.argv) > 3 else 1
if variant in ("avb", "bern", "base", "known"):
    phases = list(model.phases)
    fn = {"known": ratio_known}.get(variant, ratio_phase)
    phases[0] = Phase("ratio_estimators", phases[0].trains, fn, repeats=REPEATS)
    if variant == "known":
        phases[1] = Phase("encoder_decoder", phases[1].trains, encdec_known)
    model = dataclasses.replace(model, phases=tuple(phases))

batch0 = train.get(np.arange(BATCH))
state = create_train_state(model, {k: jnp.asarray(v) for k, v in batch0.items()}, seed)
step = jax.jit(make_per_device_step(model, axis_name=None))
rng = np.random.default_rng(seed)
n = len(train)
t0 = time.time()
for s in range(steps):
    b = train.get(np.sort(rng.choice(n, BATCH, replace=False)))
    state, m = step(state, {k: jnp.asarray(v) for k, v in b.items()})
    if (s + 1) % 100 == 0:
        print(
            s + 1,
            {
                k: round(float(v), 2)
                for k, v in m.items()
                if "grad" not in k and k != "steps_per_sec"
            },
            flush=True,
        )
print("time", round(time.time() - t0, 1))

# Posterior statistics on 500 test digits.
tb = {k: jnp.asarray(v) for k, v in test.get(np.arange(len(test))).items()}
nets = Networks(
    model.networks,
    state.params,
    state.batch_stats,
    train=False,
    key=jax.random.PRNGKey(1),
    batch_size=tb["x"].shape[0],
    axis_name=None,
    step=state.step,
    shadows=model.shadow_sources,
)
mean, logvar = nets("encoder", tb["x"])
kl = 0.5 * jnp.sum(jnp.exp(logvar) + mean**2 - 1 - logvar, -1)
z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(jax.random.PRNGKey(2), mean.shape)
recon = -losses.bernoulli_log_likelihood(nets("generator", z), tb["x"])
print(
    f"test KL {float(jnp.mean(kl)):.1f}  recon {float(jnp.mean(recon)):.1f}  "
    f"-ELBO {float(jnp.mean(kl + recon)):.1f}  "
    f"mean logvar {float(jnp.mean(logvar)):.2f}  mean |mu|^2/dim {float(jnp.mean(mean**2)):.2f}"
)
if "f_ratio" in model.networks:

    def f_full(xx, zz):
        out = nets("f_ratio", xx, zz)[0]
        return out + known(nets, xx, zz) if variant == "known" else out

    def f_of(zz):
        return jnp.sum(f_full(tb["x"], zz))

    gf = jax.grad(f_of)(z)
    # ideal z-gradient of f* = log q(z|x) - log p(z) (+ terms free of z)
    gideal = -(z - mean) / jnp.exp(logvar) + z
    cos = jnp.sum(gf * gideal, -1) / (
        jnp.linalg.norm(gf, axis=-1) * jnp.linalg.norm(gideal, axis=-1) + 1e-12
    )
    print(
        f"|grad_z f| {float(jnp.mean(jnp.linalg.norm(gf, axis=-1))):.2f}  "
        f"|grad_z f*| {float(jnp.mean(jnp.linalg.norm(gideal, axis=-1))):.2f}  "
        f"cos {float(jnp.mean(cos)):.2f}"
    )
    fr = f_full(tb["x"], z)
    zp = jax.random.normal(jax.random.PRNGKey(3), z.shape)
    fx = f_full(tb["x"], zp)
    print(
        f"f(x,z~q) {float(jnp.mean(fr)):.2f}  f(x, z~p) {float(jnp.mean(fx)):.2f}  "
        f"(AVB-ideal gap = E KL = {float(jnp.mean(kl)):.1f})"
    )
