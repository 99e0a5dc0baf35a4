import sys

import jax
import jax.numpy as jnp
import numpy as np

from unigen_jax import models
from unigen_jax.data import registry
from unigen_jax.train.state import create_train_state
from unigen_jax.train.step import make_per_device_step

lik, steps = sys.argv[1], int(sys.argv[2])
train = registry.get_source("mnist5k", "train")
cfg = models.ASVAEConfig(
    bound="z",
    flow_length=0,
    architecture="mlp",
    hidden_sizes=(256, 256),
    latent_dim=16,
    learning_rate=float(sys.argv[3]),
    ratio_lr=float(sys.argv[3]),
    likelihood=lik,
)
model = models.build_model("asvae_g", cfg, train.info, axis_name=None)
state = create_train_state(
    model, {k: jnp.asarray(v) for k, v in train.get(np.arange(64)).items()}, 0
)
step = jax.jit(make_per_device_step(model, axis_name=None))
rng = np.random.default_rng(0)
for s in range(steps):
    b = train.get(np.sort(rng.choice(len(train), 64, replace=False)))
    state, m = step(state, {k: jnp.asarray(v) for k, v in b.items()})
    if (s + 1) % 100 == 0:
        print(
            s + 1,
            {
                k: round(float(v), 2)
                for k, v in m.items()
                if k in ("h_loss", "h_real_logit", "h_fake_logit", "log_q_z", "z_bound")
            },
            flush=True,
        )
z = jax.random.normal(jax.random.PRNGKey(5), (256, 16))
x = jax.nn.sigmoid(
    model.networks["generator"].apply(
        {
            "params": state.params["generator"],
            **(
                {"batch_stats": state.batch_stats["generator"]}
                if state.batch_stats.get("generator")
                else {}
            ),
        },
        z,
        train=False,
    )
)
print("sample pixel std across samples (mean over pixels):", float(jnp.mean(jnp.std(x, axis=0))))
