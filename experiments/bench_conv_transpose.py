"""Times one DCGAN training step with flax's nn.ConvTranspose vs FastConvTranspose.

One step = a discriminator update then a generator update (non-saturating GAN loss, Adam
2e-4, beta1 0.5), BatchNorm in training mode, on MNIST-shaped random data. Both generators
share the same parameters; the script checks that both steps produce the same parameters and
prints milliseconds per step (median after warmup) and the speed-up.

  python -m experiments.bench_conv_transpose --batch_size=64 --steps=15
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from unigen_jax.nets import DCGANDiscriminator, DCGANGenerator


def _sigmoid_cross_entropy(logits, label):
    # -[label * log sigmoid(l) + (1 - label) * log sigmoid(-l)], stable for large |l|.
    return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label))


def make_step(generator, discriminator, optimizer, latent_dim):
    """Returns a jitted `(state, real, key) -> (state, metrics)` GAN step."""

    def fake_images(g_vars, z):
        logits, g_updates = generator.apply(g_vars, z, train=True, mutable=["batch_stats"])
        return jax.nn.sigmoid(logits), g_updates["batch_stats"]

    def d_loss_fn(d_params, d_stats, g_vars, real, z):
        fake, _ = fake_images(g_vars, z)
        images = jnp.concatenate([real, jax.lax.stop_gradient(fake)])
        (logits, _), updates = discriminator.apply(
            {"params": d_params, "batch_stats": d_stats},
            images,
            train=True,
            mutable=["batch_stats"],
        )
        batch = real.shape[0]
        loss = jnp.mean(_sigmoid_cross_entropy(logits[:batch], 1.0)) + jnp.mean(
            _sigmoid_cross_entropy(logits[batch:], 0.0)
        )
        return loss, updates["batch_stats"]

    def g_loss_fn(g_params, g_stats, d_vars, z):
        fake, new_g_stats = fake_images({"params": g_params, "batch_stats": g_stats}, z)
        (logits, _), _ = discriminator.apply(d_vars, fake, train=True, mutable=["batch_stats"])
        return jnp.mean(_sigmoid_cross_entropy(logits, 1.0)), new_g_stats  # -log D(G(z))

    @jax.jit
    def step(state, real, key):
        d_key, g_key = jax.random.split(key)
        batch = real.shape[0]
        g_vars = {"params": state["g_params"], "batch_stats": state["g_stats"]}
        d_z = jax.random.normal(d_key, (batch, latent_dim))
        (d_loss, d_stats), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            state["d_params"], state["d_stats"], g_vars, real, d_z
        )
        d_updates, d_opt = optimizer.update(d_grads, state["d_opt"], state["d_params"])
        d_params = optax.apply_updates(state["d_params"], d_updates)

        g_z = jax.random.normal(g_key, (batch, latent_dim))
        d_vars = {"params": d_params, "batch_stats": d_stats}
        (g_loss, g_stats), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
            state["g_params"], state["g_stats"], d_vars, g_z
        )
        g_updates, g_opt = optimizer.update(g_grads, state["g_opt"], state["g_params"])
        g_params = optax.apply_updates(state["g_params"], g_updates)
        new_state = dict(
            g_params=g_params,
            g_stats=g_stats,
            g_opt=g_opt,
            d_params=d_params,
            d_stats=d_stats,
            d_opt=d_opt,
        )
        return new_state, {"d_loss": d_loss, "g_loss": g_loss}

    return step


def time_step(step, state, real, key, *, warmup, steps):
    """Median wall time (ms) of `steps` calls after `warmup` calls; returns (ms, final state)."""
    for i in range(warmup):
        state, metrics = step(state, real, jax.random.fold_in(key, i))
    jax.block_until_ready((state, metrics))
    times = []
    for i in range(steps):
        start = time.perf_counter()
        state, metrics = step(state, real, jax.random.fold_in(key, warmup + i))
        jax.block_until_ready((state, metrics))
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times), state


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--image_size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--latent_dim", type=int, default=64)
    parser.add_argument("--base_features", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    shape = (args.image_size, args.image_size, args.channels)
    generators = {
        "nn.ConvTranspose": DCGANGenerator(
            shape, args.base_features, use_fast_conv_transpose=False
        ),
        "FastConvTranspose": DCGANGenerator(shape, args.base_features),
    }
    discriminator = DCGANDiscriminator(args.base_features)
    optimizer = optax.adam(2e-4, b1=0.5)

    key = jax.random.key(args.seed)
    g_key, d_key, data_key, step_key = jax.random.split(key, 4)
    real = jax.random.uniform(data_key, (args.batch_size, *shape))
    g_vars = generators["FastConvTranspose"].init(
        g_key, jnp.zeros((1, args.latent_dim)), train=False
    )
    d_vars = discriminator.init(d_key, real[:1], train=False)
    state = dict(
        g_params=g_vars["params"],
        g_stats=g_vars["batch_stats"],
        g_opt=optimizer.init(g_vars["params"]),
        d_params=d_vars["params"],
        d_stats=d_vars["batch_stats"],
        d_opt=optimizer.init(d_vars["params"]),
    )

    print(
        f"jax {jax.__version__} on {jax.devices()[0].device_kind} x{jax.device_count()}; "
        f"batch {args.batch_size}, images {shape}, median of {args.steps} steps "
        f"after {args.warmup} warmup"
    )
    results, final_states = {}, {}
    for name, generator in generators.items():
        step = make_step(generator, discriminator, optimizer, args.latent_dim)
        start = time.perf_counter()
        jax.block_until_ready(step(state, real, step_key))  # compile
        compile_s = time.perf_counter() - start
        ms, final_states[name] = time_step(
            step, state, real, step_key, warmup=args.warmup, steps=args.steps
        )
        results[name] = ms
        print(
            f"{name:>18}: {ms:8.1f} ms/step  ({1e3 / ms:5.2f} steps/s, "
            f"first call {compile_s:.1f} s)"
        )
    ref, fast = results["nn.ConvTranspose"], results["FastConvTranspose"]
    print(f"{'speed-up':>18}: {ref / fast:8.2f}x")
    diffs = jax.tree.map(
        lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)))),
        final_states["nn.ConvTranspose"]["g_params"],
        final_states["FastConvTranspose"]["g_params"],
    )
    print(
        f"max |G params difference| after {args.warmup + args.steps} steps: "
        f"{max(jax.tree.leaves(diffs)):.2e}"
    )


if __name__ == "__main__":
    main()
