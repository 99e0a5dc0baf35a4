"""Likelihood metrics of models with a Gaussian encoder: test ELBO, IWAE NLL, reconstruction RMSE;
and, for any explicit joint p(x, h) with a proposal q(h|x), the ELBO and the importance-sampled
NLL from log importance weights (`elbo_from_log_weights`,
`importance_weighted_nll_from_log_weights`).

Model-agnostic: a model enters as callables, all traceable by JAX:
  encode(x [n, ...]) -> (mean [n, d], log_variance [n, d]) of q(z|x) = N(mean, diag exp(log_var)),
  log_likelihood(x [n, ...], z [n, d]) -> [n] log p(x|z) per example (normalised, in nats),
  reconstruct(x [n, ...]) -> [n, ...] reconstructions (for the reconstruction error);
and the prior is p(z) = N(0, I); or
  log_weight(x [n, ...], keys [n]) -> [n] log p(x_i, h_i) - log q(h_i|x_i), h_i ~ q(h|x_i)
  drawn from keys[i] (the general path: any latent space, any proposal).

A plain function (e.g. a closure over trained parameters) is compiled once per function object
and batch shape, its closed-over arrays baked in as constants. For large parameter sets pass a
`jax.tree_util.Partial(fn, params)` instead: its bound arguments are traced, not baked in.

Randomness: z for example i (its row in `x`) and sample j is mean_i + sigma_i * eps, with
eps ~ N(0, I) drawn from the key fold_in(fold_in(key, i), j). The samples therefore depend on
neither `batch_size` nor `chunk_size`, and `test_elbo` uses sample j = 0, the first sample of
`importance_weighted_nll` with the same key.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from unigen_jax import losses
from unigen_jax.errors import UserInputError


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise UserInputError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _check_data(x):
    """x [n, ...], or a batch {'x': [n, ...], 'label': [n], ...} (conditional models)."""
    if isinstance(x, dict):
        data = _check_data(x["x"]) if "x" in x else None
        if data is None:
            raise UserInputError("a batch given as x must hold its data under 'x'.")
        batch = {k: np.asarray(v) for k, v in x.items()}
        if any(v.shape[:1] != data.shape[:1] for v in batch.values()):
            raise UserInputError("every array of the batch x must have the same length.")
        return batch
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] < 1:
        raise UserInputError(
            f"x must be an array [n, ...] with n >= 1 and at least one feature axis, "
            f"got shape {x.shape}."
        )
    return x


def _rows(x) -> int:
    return (x["x"] if isinstance(x, dict) else x).shape[0]


def _as_pytree_fn(name: str, fn) -> jax.tree_util.Partial:
    """Wraps a callable as a pytree so that it can be a (non-static) argument of `jax.jit`."""
    if not callable(fn):
        raise UserInputError(f"{name} must be callable, got {type(fn).__name__}.")
    if isinstance(fn, jax.tree_util.Partial):
        return fn
    return jax.tree_util.Partial(fn)


def _encode(encode, x):
    """q(z|x) as float32 (mean, log_variance), each [batch, d], with shape checks."""
    mean, log_variance = encode(x)
    mean, log_variance = jnp.asarray(mean), jnp.asarray(log_variance)
    if mean.ndim != 2 or mean.shape != log_variance.shape or mean.shape[0] != _rows(x):
        raise UserInputError(
            f"encode must return (mean, log_variance), each [batch, latent] with batch = "
            f"{_rows(x)}, got shapes {mean.shape} and {log_variance.shape}."
        )
    return mean.astype(jnp.float32), log_variance.astype(jnp.float32)


def _log_likelihood(log_likelihood, x, z):
    values = jnp.asarray(log_likelihood(x, z))
    if values.shape != (_rows(x),):
        raise UserInputError(
            f"log_likelihood(x, z) must return [batch] = ({_rows(x)},), got {values.shape}."
        )
    return values.astype(jnp.float32)


def _noise(example_keys, sample_index, latent_dim):
    """eps [batch, d] for one sample index: eps_ij from fold_in(key_i, j)."""
    return jax.vmap(
        lambda k: jax.random.normal(jax.random.fold_in(k, sample_index), (latent_dim,))
    )(example_keys)


def _example_keys(key, indices):
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, indices)


def _batches(x, batch_size: int):
    """Yields (start, valid, batch): batches of exactly `batch_size` rows (padded at the end)."""
    n = _rows(x)
    for start in range(0, n, batch_size):
        valid = min(batch_size, n - start)

        def rows(a, start=start, valid=valid):
            a = a[start : start + valid]
            if valid < batch_size:  # pad with copies of the last row: one compiled shape only
                a = np.concatenate([a, np.repeat(a[-1:], batch_size - valid, axis=0)])
            return a

        yield start, valid, jax.tree.map(rows, x)


def _indices(start: int, batch_size: int) -> np.ndarray:
    return np.arange(start, start + batch_size, dtype=np.uint32)


def _over_batches(compute, x, batch_size: int) -> np.ndarray:
    """[n] float64: `compute(batch, indices)` -> [batch_size] on each padded batch of x, with
    the padding dropped."""
    values = []
    for start, valid, batch in _batches(x, batch_size):
        values.append(np.asarray(compute(batch, _indices(start, batch_size)), np.float64)[:valid])
    return np.concatenate(values)


def _nll_report(bounds: np.ndarray, num_samples: int) -> dict:
    """The NLL result of per-example importance-weighted bounds L_k [n]."""
    per_example = -bounds
    nll, standard_error = _mean_and_standard_error(per_example)
    return {
        "nll": nll,
        "standard_error": standard_error,
        "num_samples": num_samples,
        "per_example_nll": per_example,
    }


def _mean_and_standard_error(values: np.ndarray) -> tuple[float, float]:
    if values.size < 2:
        return float(values.mean()), float("nan")
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


@jax.jit
def _elbo_batch(encode, log_likelihood, x, indices, key):
    mean, log_variance = _encode(encode, x)
    eps = _noise(_example_keys(key, indices), 0, mean.shape[1])
    z = mean + jnp.exp(0.5 * log_variance) * eps
    return _log_likelihood(log_likelihood, x, z), losses.gaussian_kl_to_standard_normal(
        mean, log_variance
    )


def test_elbo(encode, log_likelihood, x, key, *, batch_size: int = 500) -> dict:
    """Evidence lower bound on held-out data: one z per example and the analytic KL.

    Objective: ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || N(0, I)), the expectation
    estimated with a single z = mean + sigma * eps per example (unbiased), the KL exact.

    Args:
      encode: x [batch, ...] -> (mean, log_variance) [batch, d] (see the module docstring).
      log_likelihood: (x [batch, ...], z [batch, d]) -> log p(x|z) [batch].
      x: [n, ...] evaluation data, or a batch {'x': [n, ...], 'label': [n]} that encode and
        log_likelihood receive whole (conditional models).
      key: PRNG key for z.
      batch_size: examples per compiled call (the last batch is padded).

    Returns:
      dict with 'elbo' (mean over examples, nats), 'standard_error' (of that mean over
      examples), 'reconstruction' (mean estimate of E_q[log p(x|z)]), 'kl' (mean KL) and
      'per_example_elbo' ([n] numpy array).

    References: Kingma & Welling 2014, "Auto-Encoding Variational Bayes", eq. 10.
    """
    x = _check_data(x)
    batch_size = min(_check_positive_int("batch_size", batch_size), _rows(x))
    encode = _as_pytree_fn("encode", encode)
    log_likelihood = _as_pytree_fn("log_likelihood", log_likelihood)
    reconstructions, kls = [], []
    for start, valid, batch in _batches(x, batch_size):
        rec, kl = _elbo_batch(encode, log_likelihood, batch, _indices(start, batch_size), key)
        reconstructions.append(np.asarray(rec, np.float64)[:valid])
        kls.append(np.asarray(kl, np.float64)[:valid])
    reconstruction, kl = np.concatenate(reconstructions), np.concatenate(kls)
    per_example = reconstruction - kl
    elbo, standard_error = _mean_and_standard_error(per_example)
    return {
        "elbo": elbo,
        "standard_error": standard_error,
        "reconstruction": float(reconstruction.mean()),
        "kl": float(kl.mean()),
        "per_example_elbo": per_example,
    }


test_elbo.__test__ = False  # a metric, not a test: pytest must not collect it when imported


@functools.partial(jax.jit, static_argnames=("num_samples", "chunk_size"))
def _iwae_batch(encode, log_likelihood, x, indices, key, *, num_samples, chunk_size):
    """[batch] L_k, the samples drawn and weighed `chunk_size` at a time."""
    mean, log_variance = _encode(encode, x)
    latent_dim = mean.shape[1]
    example_keys = _example_keys(key, indices)
    zeros = jnp.zeros_like(mean)
    # log q(z|x) from eps itself: log N(z; mu, sigma^2) = log N(eps; 0, I) - sum log sigma,
    # exact, where (z - mu) / sigma would round.
    log_q_offset = -0.5 * jnp.sum(log_variance, axis=1)

    def chunk_log_weights(sample_indices):
        eps = jax.vmap(lambda j: _noise(example_keys, j, latent_dim))(sample_indices)
        z = mean + jnp.exp(0.5 * log_variance) * eps  # [chunk, batch, d]

        def log_weight(z_j, eps_j):
            log_prior = losses.diagonal_gaussian_log_density(z_j, zeros, 0.0)
            log_q = losses.diagonal_gaussian_log_density(eps_j, zeros, 0.0) + log_q_offset
            return _log_likelihood(log_likelihood, x, z_j) + log_prior - log_q

        return jax.vmap(log_weight)(z, eps)  # [chunk, batch]

    return _log_mean_exp_in_chunks(chunk_log_weights, mean.shape[0], num_samples, chunk_size)


def _log_mean_exp_in_chunks(chunk_log_weights, rows: int, num_samples: int, chunk_size: int):
    """[rows] log (1/k) sum_j exp(w_j) over k = num_samples log weights, computed a chunk at a
    time: chunk_log_weights(sample_indices [chunk]) -> [chunk, rows]."""

    def chunk_logsumexp(chunk_index):
        sample_indices = chunk_index * chunk_size + jnp.arange(chunk_size)
        log_weights = chunk_log_weights(sample_indices)
        # The last chunk may run past num_samples: its extra samples get weight zero.
        valid = (sample_indices < num_samples)[:, None]
        return jax.nn.logsumexp(jnp.where(valid, log_weights, -jnp.inf), axis=0)

    # Running log sum_j w_j over chunks: logaddexp never exponentiates a large log weight.
    num_chunks = -(-num_samples // chunk_size)
    total = jax.lax.fori_loop(
        0,
        num_chunks,
        lambda c, acc: jnp.logaddexp(acc, chunk_logsumexp(c)),
        jnp.full((rows,), -jnp.inf, jnp.float32),
    )
    return total - math.log(num_samples)


def importance_weighted_nll(
    encode,
    log_likelihood,
    x,
    key,
    *,
    num_samples: int = 5000,
    chunk_size: int = 500,
    batch_size: int = 100,
) -> dict:
    """Negative log-likelihood estimated by the k-sample importance weighted bound (IWAE).

    Objective: NLL_k(x) = -L_k(x), L_k = log (1/k) sum_{j=1..k} p(x|z_j) p(z_j) / q(z_j|x),
    z_j ~ q(z|x); L_1 is a one-sample ELBO, E[L_k] increases with k and tends to log p(x), so
    NLL_k is an upper bound in expectation that tightens with k (k = 5000 is the usual
    reporting choice). The k samples are weighed `chunk_size` at a time with a running
    logsumexp, so memory grows with batch_size * chunk_size, not with k.

    Args:
      encode: x [batch, ...] -> (mean, log_variance) [batch, d] (see the module docstring).
      log_likelihood: (x [batch, ...], z [batch, d]) -> log p(x|z) [batch]; it is vmapped
        over the samples of a chunk (each call sees one sample per example).
      x: [n, ...] evaluation data, or a batch dict as for `test_elbo`.
      key: PRNG key for the samples.
      num_samples: k, samples per example.
      chunk_size: samples per example weighed at once (capped at k); the result does not
        depend on it beyond rounding.
      batch_size: examples per compiled call (the last batch is padded).

    Returns:
      dict with 'nll' (mean -L_k over examples, nats), 'standard_error' (of that mean over
      examples), 'num_samples' and 'per_example_nll' ([n] numpy array).

    References: Burda, Grosse, Salakhutdinov 2016, "Importance Weighted Autoencoders", eq. 8,
    Theorem 1 and §5 (k = 5000 for the reported NLL).
    """
    x = _check_data(x)
    num_samples = _check_positive_int("num_samples", num_samples)
    chunk_size = min(_check_positive_int("chunk_size", chunk_size), num_samples)
    batch_size = min(_check_positive_int("batch_size", batch_size), _rows(x))
    encode = _as_pytree_fn("encode", encode)
    log_likelihood = _as_pytree_fn("log_likelihood", log_likelihood)
    bounds = _over_batches(
        lambda batch, indices: _iwae_batch(
            encode,
            log_likelihood,
            batch,
            indices,
            key,
            num_samples=num_samples,
            chunk_size=chunk_size,
        ),
        x,
        batch_size,
    )
    return _nll_report(bounds, num_samples)


def _sample_keys(example_keys, sample_index):
    """[batch] keys of sample j: fold_in(key_i, j), the keys `_noise` draws eps_ij from."""
    return jax.vmap(lambda k: jax.random.fold_in(k, sample_index))(example_keys)


def _log_weights(log_weight, x, sample_keys):
    values = jnp.asarray(log_weight(x, sample_keys))
    if values.shape != (_rows(x),):
        raise UserInputError(
            f"log_weight(x, keys) must return [batch] = ({_rows(x)},), got {values.shape}."
        )
    return values.astype(jnp.float32)


@jax.jit
def _log_weights_batch(log_weight, x, indices, key):
    return _log_weights(log_weight, x, _sample_keys(_example_keys(key, indices), 0))


def elbo_from_log_weights(log_weight, x, key, *, batch_size: int = 500) -> dict:
    """Evidence lower bound on held-out data from log importance weights: one h per example.

    Objective: ELBO(x) = E_q(h|x)[log p(x, h) - log q(h|x)], estimated with one h per example
    (unbiased). For any model with an explicit joint p(x, h) and proposal q(h|x), discrete or
    continuous (wake-sleep's sigmoid belief networks); `test_elbo` is the Gaussian special
    case with the KL in closed form.

    Args:
      log_weight: (x [batch, ...], keys [batch]) -> [batch] log p(x_i, h_i) - log q(h_i|x_i)
        with h_i ~ q(h|x_i) drawn from keys[i] (and nothing else: one key an example).
      x: [n, ...] evaluation data, or a batch dict as for `test_elbo`.
      key: PRNG key; example i (its row in x) draws sample j from fold_in(fold_in(key, i), j),
        so the result depends on neither `batch_size` nor the chunking, and the ELBO is the
        first sample (j = 0) of `importance_weighted_nll_from_log_weights` with the same key.
      batch_size: examples per compiled call (the last batch is padded).

    Returns:
      dict with 'elbo' (mean over examples, nats), 'standard_error' (of that mean over
      examples) and 'per_example_elbo' ([n] numpy array).

    References: Kingma & Welling 2014, eq. 3; Bornschein & Bengio 2015, arXiv 1406.2751.
    """
    x = _check_data(x)
    batch_size = min(_check_positive_int("batch_size", batch_size), _rows(x))
    log_weight = _as_pytree_fn("log_weight", log_weight)
    per_example = _over_batches(
        lambda batch, indices: _log_weights_batch(log_weight, batch, indices, key), x, batch_size
    )
    elbo, standard_error = _mean_and_standard_error(per_example)
    return {"elbo": elbo, "standard_error": standard_error, "per_example_elbo": per_example}


@functools.partial(jax.jit, static_argnames=("num_samples", "chunk_size"))
def _iwae_from_log_weights_batch(log_weight, x, indices, key, *, num_samples, chunk_size):
    example_keys = _example_keys(key, indices)

    def chunk_log_weights(sample_indices):
        return jax.vmap(lambda j: _log_weights(log_weight, x, _sample_keys(example_keys, j)))(
            sample_indices
        )

    return _log_mean_exp_in_chunks(chunk_log_weights, _rows(x), num_samples, chunk_size)


def importance_weighted_nll_from_log_weights(
    log_weight,
    x,
    key,
    *,
    num_samples: int = 5000,
    chunk_size: int = 500,
    batch_size: int = 100,
) -> dict:
    """Negative log-likelihood estimated from k log importance weights per example.

    Objective: NLL_k(x) = -log (1/k) sum_{j=1..k} p(x, h_j) / q(h_j|x), h_j ~ q(h|x): the
    estimator of `importance_weighted_nll` for any explicit joint and proposal (k = 1: a
    one-sample ELBO; E[NLL_k] decreases to -log p(x) as k grows). The weights are combined
    `chunk_size` samples at a time with a running logsumexp, so memory grows with
    batch_size * chunk_size, not with k.

    Args:
      log_weight: (x [batch, ...], keys [batch]) -> [batch] log weights, as for
        `elbo_from_log_weights`; vmapped over the samples of a chunk.
      x: [n, ...] evaluation data, or a batch dict as for `test_elbo`.
      key: PRNG key; sample j of example i is drawn from fold_in(fold_in(key, i), j).
      num_samples: k, samples per example.
      chunk_size: samples per example weighed at once (capped at k).
      batch_size: examples per compiled call (the last batch is padded).

    Returns:
      dict with 'nll' (mean over examples, nats), 'standard_error', 'num_samples' and
      'per_example_nll' ([n] numpy array).

    References: Burda, Grosse, Salakhutdinov 2016, eq. 8; Bornschein & Bengio 2015,
    arXiv 1406.2751 (the estimate of p(x) with the recognition net as proposal).
    """
    x = _check_data(x)
    num_samples = _check_positive_int("num_samples", num_samples)
    chunk_size = min(_check_positive_int("chunk_size", chunk_size), num_samples)
    batch_size = min(_check_positive_int("batch_size", batch_size), _rows(x))
    log_weight = _as_pytree_fn("log_weight", log_weight)
    bounds = _over_batches(
        lambda batch, indices: _iwae_from_log_weights_batch(
            log_weight, batch, indices, key, num_samples=num_samples, chunk_size=chunk_size
        ),
        x,
        batch_size,
    )
    return _nll_report(bounds, num_samples)


@jax.jit
def _squared_errors_batch(reconstruct, x):
    data = x["x"] if isinstance(x, dict) else x
    reconstruction = jnp.asarray(reconstruct(x))
    if reconstruction.shape != data.shape:
        raise UserInputError(
            f"reconstruct must return the shape of x, {data.shape}, got {reconstruction.shape}."
        )
    error = data.astype(jnp.float32) - reconstruction.astype(jnp.float32)
    return jnp.sum(jnp.square(error).reshape(data.shape[0], -1), axis=1)


def reconstruction_rmse(reconstruct, x, *, batch_size: int = 500) -> float:
    """Root mean squared error of a model's reconstructions.

    Objective: sqrt(mean over examples and elements of (x - reconstruct(x))^2); for a VAE,
    reconstruct(x) = decode_mean(mu(x)) with mu(x) the mean of q(z|x) (no sampling).

    Args:
      reconstruct: x [batch, ...] (or a batch dict) -> [batch, ...] reconstructions of x.
      x: [n, ...] data, or a batch dict as for `test_elbo`.
      batch_size: examples per compiled call (the last batch is padded).

    Returns:
      The RMSE as a float, in the units of x.

    References: Pu et al. 2017, arXiv 1711.04915 (AS-VAE), CIFAR-10 experiments: RMSE of
    reconstructions beside the NLL (and for ALI, whose NLL cannot be computed).
    """
    x = _check_data(x)
    batch_size = min(_check_positive_int("batch_size", batch_size), _rows(x))
    reconstruct = _as_pytree_fn("reconstruct", reconstruct)
    total = 0.0
    for _, valid, batch in _batches(x, batch_size):
        errors = _squared_errors_batch(reconstruct, batch)
        total += float(np.asarray(errors, np.float64)[:valid].sum())
    data = x["x"] if isinstance(x, dict) else x
    return math.sqrt(total / data.size)
