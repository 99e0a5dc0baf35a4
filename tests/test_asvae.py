"""AS-VAE (Pu et al. 2017, arXiv 1711.04915): the ratio estimators' logistic losses (eqs. 5-6)
and the encoder/decoder objective (eq. 11, its halves eqs. 8 and 9) against a float64 numpy
recomputation with every network applied by hand (the flow's inverse by a scalar root finder,
its log-determinant by autodiff's Jacobian), the phases each preset trains, the evaluation
hooks, and bad options."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, special

from unigen_jax import models
from unigen_jax.data import DatasetInfo
from unigen_jax.errors import UserInputError
from unigen_jax.nets.flows import constrained_u, planar_forward
from unigen_jax.train import Networks, create_train_state

IMAGES = DatasetInfo(name="toy", kind="image", shape=(3, 3, 1), num_classes=0, num_examples=8)
VECTORS = DatasetInfo(name="toy", kind="vector", shape=(2,), num_classes=0, num_examples=8)
LATENT = 3
SCALE = 0.3  # the Gaussian decoder's likelihood_scale
KEY = jax.random.PRNGKey(11)


def _f64(tree):
    return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


def _dense(p, a):
    return a @ p["kernel"] + p["bias"]


def _encoder(p, x):
    h = np.maximum(_dense(p["hidden_0"], x.reshape(len(x), -1)), 0)
    out = _dense(p["gaussian"], h)
    return out[:, :LATENT], out[:, LATENT:]


def _generator(p, z):
    return _dense(p["output"], np.maximum(_dense(p["hidden_0"], z), 0))


def _joint(p, x, z):
    """The MLP on [x, z]: one LeakyReLU(0.2) layer, then the logit."""
    a = _dense(p["joint_hidden_0"], np.concatenate([x.reshape(len(x), -1), z], axis=1))
    return _dense(p["logit"], np.where(a > 0, a, 0.2 * a))[:, 0]


def _flow_params(params):
    u_hat = np.asarray(constrained_u(params["flow"]["u"], params["flow"]["w"]), np.float64)
    return u_hat, np.asarray(params["flow"]["w"], np.float64), np.asarray(params["flow"]["b"])


def _flow_log_det(params, z0):
    """log|det| of the whole flow at each z0, by jax.jacfwd and slogdet."""
    u_hat, w, b = (jnp.asarray(a, jnp.float32) for a in _flow_params(params))
    one = lambda z: planar_forward(z[None], u_hat, w, b)[0][0]  # noqa: E731
    return np.linalg.slogdet(np.asarray(jax.vmap(jax.jacfwd(one))(jnp.asarray(z0))))[1]


def _flow_forward(params, z):
    for u, w, b in zip(*_flow_params(params), strict=True):
        z = z + np.tanh(z @ w + b)[:, None] * u
    return z


def _flow_inverse(params, z):
    """Each layer inverted by Brent's method on alpha + (w^T u) tanh(alpha + b) = w^T y."""
    for u, w, b in reversed(list(zip(*_flow_params(params), strict=True))):
        wu = w @ u
        alphas = [
            optimize.brentq(
                lambda a, c=c, wu=wu, b=b: a + wu * np.tanh(a + b) - c,
                c - 1 - abs(wu),
                c + 1 + abs(wu),
            )
            for c in z @ w
        ]
        z = z - np.tanh(np.asarray(alphas) + b)[:, None] * u
    return z


def _log_normal(z, mean, log_variance):
    return np.sum(
        -0.5 * (np.log(2 * np.pi) + log_variance + (z - mean) ** 2 / np.exp(log_variance)), -1
    )


def _log_sigmoid(a):
    return -np.logaddexp(0, -a)


def _setup(info, bound, flow_length):
    hyperparameters = {
        "latent_dim": LATENT,
        "hidden_sizes": (5,),
        "architecture": "mlp",
        "flow_length": flow_length,
        "likelihood_scale": SCALE,
    }
    name = {"xz": "asvae", "x": "asvae_r", "z": "asvae_g"}[bound]
    config = models.make_config(name, **hyperparameters)
    model = models.build_model(name, config, info, axis_name=None)
    rng = np.random.default_rng(5)
    x = rng.uniform(size=(6, *info.shape)).astype(np.float32)
    batch = {"x": x, "label": np.zeros(6, np.int32)}
    state = create_train_state(model, batch, seed=2)

    def nets():
        return Networks(
            model.networks, state.params, state.batch_stats, train=True, key=KEY, batch_size=6
        )

    return model, state, batch, nets


CASES = [
    (VECTORS, "xz", 2),
    (VECTORS, "x", 2),
    (VECTORS, "z", 2),
    (IMAGES, "xz", 0),
]


@pytest.mark.parametrize("info, bound, flow_length", CASES, ids=["xz", "x", "z", "image"])
def test_phases_against_numpy(info, bound, flow_length):
    """Eqs. 5-6 (logistic losses of f on q(x, z) vs p(x) p(z), of h on p(x, z) vs q(x) q(z))
    and eq. 11 (-[E_q log p(x|z) - f] - [E_p log q(z|x) - h], the halves of the bound)."""
    model, state, batch, nets = _setup(info, bound, flow_length)
    ratios = {"xz": ("f_ratio", "h_ratio"), "x": ("f_ratio",), "z": ("h_ratio",)}[bound]
    autoencoder = ("encoder", "generator") + (("flow",) if flow_length else ())
    assert [(p.name, p.trains) for p in model.phases] == [
        ("ratio_estimators", ratios),
        ("encoder_decoder", autoencoder),
    ]
    params = _f64(state.params)
    x = np.asarray(batch["x"], np.float64)
    draws = nets()
    eps = np.asarray(draws.normal("eps", (LATENT,)), np.float64)
    z_p = np.asarray(draws.normal("z", (LATENT,)), np.float64)
    mean, log_variance = _encoder(params["encoder"], x)
    z_q = mean + np.exp(0.5 * log_variance) * eps
    if flow_length:
        z_q = _flow_forward(params, z_q)
    if info.kind == "image":  # x_theta(z): the Bernoulli decoder's mean
        x_p = special.expit(_generator(params["generator"], z_p)).reshape(-1, *info.shape)
    else:  # x_theta(z, xi) = mean + scale * xi
        xi = np.asarray(draws.normal("xi", info.shape), np.float64)
        x_p = _generator(params["generator"], z_p) + SCALE * xi

    expected, terms = 0.0, {}
    if "f_ratio" in ratios:
        real = _joint(params["f_ratio"], x, z_q)
        fake = _joint(params["f_ratio"], np.roll(x_p, 1, axis=0), z_p)
        terms["f_loss"] = np.mean(-_log_sigmoid(real) - _log_sigmoid(-fake))
    if "h_ratio" in ratios:
        real = _joint(params["h_ratio"], x_p, z_p)
        fake = _joint(params["h_ratio"], x, np.roll(z_q, 1, axis=0))
        terms["h_loss"] = np.mean(-_log_sigmoid(real) - _log_sigmoid(-fake))
    loss, metrics = model.phases[0].loss_fn(nets(), batch)
    np.testing.assert_allclose(loss, sum(terms.values()), rtol=1e-5)
    for name, value in terms.items():
        np.testing.assert_allclose(metrics[name], value, rtol=1e-5)

    if "f_ratio" in ratios:  # eq. 8: log p(x|z) - f(x, z) at z ~ q(z|x)
        out = _generator(params["generator"], z_q).reshape(x.shape)
        if info.kind == "image":
            log_px = np.sum(x * _log_sigmoid(out) + (1 - x) * _log_sigmoid(-out), axis=(1, 2, 3))
        else:
            log_px = np.sum(
                -0.5 * np.log(2 * np.pi) - np.log(SCALE) - 0.5 * ((x - out) / SCALE) ** 2, 1
            )
        terms["x_bound"] = np.mean(log_px - _joint(params["f_ratio"], x, z_q))
        expected += terms["x_bound"]
        z0 = mean + np.exp(0.5 * log_variance) * eps  # the diagnostics of q(z|x)
        log_q = _log_normal(z0, mean, log_variance)
        if flow_length:
            log_q -= _flow_log_det(params, z0)
        terms["posterior_kl"] = np.mean(log_q - _log_normal(z_q, 0.0, 0.0))
        terms["posterior_log_variance"] = np.mean(log_variance)
    if "h_ratio" in ratios:  # eq. 9: log q(z|x) - h(x, z) at x ~ p(x|z), z ~ p(z)
        mean_p, log_variance_p = _encoder(params["encoder"], x_p)
        z0 = _flow_inverse(params, z_p) if flow_length else z_p
        log_q = _log_normal(z0, mean_p, log_variance_p)
        if flow_length:
            log_q -= _flow_log_det(params, z0)
        terms["z_bound"] = np.mean(log_q - _joint(params["h_ratio"], x_p, z_p))
        expected += terms["z_bound"]
    loss, metrics = model.phases[1].loss_fn(nets(), batch)
    np.testing.assert_allclose(loss, -expected, rtol=1e-4, atol=1e-4)
    for name in ("x_bound", "z_bound", "posterior_kl", "posterior_log_variance"):
        if name in terms:
            np.testing.assert_allclose(metrics[name], terms[name], rtol=1e-4, atol=1e-4)


def test_evaluation_hooks():
    """Gaussian posterior: encode_fn and log p(x|z) (the Gaussian NLL path); flow posterior:
    log importance weights log p(x|z) + log p(z) - log q(z|x) at the phase's z ~ q; both
    reconstruct with G of the (flowed) mean."""
    model, _, _, _ = _setup(VECTORS, "xz", 0)
    assert model.encode_fn is not None and model.log_importance_weight_fn is None
    model, state, batch, nets = _setup(VECTORS, "xz", 2)
    assert model.encode_fn is None
    params = _f64(state.params)
    x = np.asarray(batch["x"], np.float64)
    mean, log_variance = _encoder(params["encoder"], x)
    eps = np.asarray(nets().normal("eps", (LATENT,)), np.float64)
    z0 = mean + np.exp(0.5 * log_variance) * eps
    z = _flow_forward(params, z0)
    out = _generator(params["generator"], z)
    log_px = np.sum(-0.5 * np.log(2 * np.pi) - np.log(SCALE) - 0.5 * ((x - out) / SCALE) ** 2, 1)
    log_q = _log_normal(z0, mean, log_variance) - _flow_log_det(params, z0)
    expected = log_px + _log_normal(z, 0.0, 0.0) - log_q
    np.testing.assert_allclose(
        model.log_importance_weight_fn(nets(), batch), expected, rtol=1e-4, atol=1e-3
    )
    np.testing.assert_allclose(
        model.reconstruct_fn(nets(), batch),
        _generator(params["generator"], _flow_forward(params, mean)),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "hyperparameters, message",
    [
        ({"bound": "y"}, "unknown bound 'y'; choose one of: xz, x, z"),
        ({"flow_length": -2}, "flow_length must be >= 0"),
        ({"joint_hidden_sizes": (0,)}, "joint_hidden_sizes must list positive"),
        ({"ratio_lr": 0.0}, "ratio_lr must be > 0"),
    ],
)
def test_bad_hyperparameters_are_one_line_user_errors(hyperparameters, message):
    with pytest.raises(UserInputError, match=message) as error:
        models.make_config("asvae", **hyperparameters)
    assert "\n" not in str(error.value)
