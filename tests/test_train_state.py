"""`create_train_state`: each network initialised as its Flax module's own `init` would, and
a model built again (a resumed run, an evaluation in the same process) initialised without
tracing its networks again."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from unigen_jax import models
from unigen_jax.data import DatasetInfo
from unigen_jax.train import create_train_state
from unigen_jax.train import state as state_lib

VECTORS = DatasetInfo(name="toy", kind="vector", shape=(2,), num_classes=0, num_examples=8)
CONFIG = models.make_config("vae", latent_dim=2, hidden_sizes=(4,), architecture="mlp")
BATCH = {"x": np.linspace(-1.0, 1.0, 4, dtype=np.float32).reshape(2, 2)}
SEED = 3


def _build():
    return models.build_model("vae", CONFIG, VECTORS, axis_name=None)


def _assert_trees_close(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_each_network_starts_from_its_modules_own_init():
    model = _build()
    state = create_train_state(model, BATCH, SEED)
    init_key, _ = jax.random.split(jax.random.PRNGKey(SEED))
    for name, module in model.networks.items():
        key = state_lib.network_key(init_key, name)
        # Flax's init run op by op, without jit or the run-once compiler options.
        with jax.disable_jit():
            expected = module.init({"params": key}, *model.init_args[name](BATCH), train=False)
        _assert_trees_close(state.params[name], expected["params"])


def test_a_model_built_again_is_initialised_without_a_new_trace_to_the_same_bits():
    model = _build()
    first = create_train_state(model, BATCH, SEED)
    traces = state_lib._shared_initialiser()._cache_size()
    assert traces >= len(model.networks)  # one trace a network, in the shared initialiser
    second = create_train_state(_build(), BATCH, SEED)
    assert state_lib._shared_initialiser()._cache_size() == traces
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(second), strict=True):
        np.testing.assert_array_equal(a, b)


class _ListSized(nn.Module):
    """A module with a field that does not hash, so it cannot key a trace cache."""

    sizes: list

    @nn.compact
    def __call__(self, x, train=False):
        for size in self.sizes:
            x = nn.Dense(size)(x)
        return x


def test_a_module_that_does_not_hash_gets_an_initialiser_of_its_own():
    module = _ListSized([3, 1])
    key, x = jax.random.PRNGKey(0), jnp.ones((2, 2))
    variables = state_lib._initialiser(module)(key, x)
    with jax.disable_jit():
        expected = module.init({"params": key}, x, train=False)
    _assert_trees_close(variables, expected)
