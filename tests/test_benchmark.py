"""CI checks that a tiny benchmark runs and reports; the figures come from `make bench`."""

import json
import os
import subprocess
import sys

import pytest

from experiments import benchmark

try:  # a benchmark extra, which `make test` installs (the CPU wheel: pip install torch==2.13.0)
    from experiments import torch_reference
except ImportError:
    torch_reference = None

# The PyTorch references are second implementations that pin the models' math; CI runs them
# (`make test` installs torch). Without torch they skip, saying how to run them.
needs_torch = pytest.mark.skipif(
    torch_reference is None, reason="PyTorch is not installed: pip install torch==2.13.0"
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _benchmark(*args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", "--torch=false", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_tiny_benchmark_writes_its_table(tmp_path):
    result = _benchmark(
        "--round_seconds=0",
        "--rounds=1",
        "--passes=1",
        "--configs=mlp_gan",
        f"--output_dir={tmp_path}",
        "--cold_compile=false",  # the suite's compilation cache: 4 compiles of 8-11 s each
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / "benchmark.json") as f:
        report = json.load(f)
    variants = {(row["devices"], row["steps_per_call"]) for row in report["rows"]}
    assert variants == {(1, 1), (2, 1), (1, 10), (2, 10)}
    assert all(row["steps_per_sec"] > 0 for row in report["rows"])
    # Two devices take the same first step as one, within float32 rounding.
    two_device_rows = [row for row in report["rows"] if row["devices"] == 2]
    assert all(row["first_step_metric_difference_vs_1_device"] < 1e-5 for row in two_device_rows)
    assert report["matmul_peak_flops_per_sec"] > 0


def test_unknown_config_is_one_line():
    result = _benchmark("--configs=nope")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown config 'nope'; choose from: dcgan28, dcgan32, vae, mlp_gan, cgan28, "
        "iwgan28, cvae, aavae, svae_mlp, wgan_gp28, infogan28, vaegan28, alpha_gan28, ali28, "
        "svae28, asvae28"
    ]


def test_negative_round_seconds_is_one_line():
    result = _benchmark("--round_seconds=-1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --rounds and --passes must be positive, --round_seconds >= 0"
    ]


# ---------------------------------------------------------------------------------------------
# The PyTorch references (experiments/torch_reference): the same architectures (parameter
# counts), a step that trains every network, and the same losses at the same parameters.

TORCH_CONFIGS = [name for name, config in benchmark.CONFIGS.items() if config.torch_name]
TINY_IMAGE = (16, 16, 1)  # two stride-2 layers each way, BatchNorm/LayerNorm included
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _jax_model(model_name, shape, **hyperparameters):
    from unigen_jax import data, models

    kind = "image" if len(shape) == 3 else "vector"
    info = data.DatasetInfo("test", kind, tuple(shape), 10 if kind == "image" else 0, 64)
    config = models.make_config(model_name, **hyperparameters)
    return models.build_model(model_name, config, info, axis_name=None)


def _example(model, shape, batch=2):
    import numpy as np

    example = {"x": np.zeros((batch, *shape), np.float32), "label": np.zeros(batch, np.int32)}
    example.update({name: dict(example) for name in model.streams})
    return example


@needs_torch
@pytest.mark.parametrize("name", TORCH_CONFIGS)
def test_torch_reference_has_the_jax_models_parameter_count(name):
    import jax

    config = benchmark.CONFIGS[name]
    model = _jax_model(config.model, config.shape, **config.hyperparameters)
    example = _example(model, config.shape)
    params = {
        net: jax.eval_shape(
            lambda args, m=module: m.init(jax.random.PRNGKey(0), *args, train=False),
            model.init_args[net](example),
        )["params"]
        for net, module in model.networks.items()
    }
    expected = benchmark.count_parameters(model, params)
    assert (
        torch_reference.num_parameters(
            config.torch_name, image_shape=config.shape, **config.hyperparameters
        )
        == expected
    )


def _tiny(name):
    """A reference's tiny settings: 16x16 images, narrow nets, a short flow."""
    if name == "mlp_gan":
        return {"image_shape": (2,), "hidden_sizes": (8,)}
    settings = {"image_shape": TINY_IMAGE, "base_features": 4}
    if name in ("ali", "asvae"):
        settings.update(z_hidden_sizes=(8,), joint_hidden_sizes=(8,))
    if name == "asvae":
        settings["flow_length"] = 2
    if name == "alpha_gan":
        settings["code_discriminator_hidden"] = (8,)
    if name == "wgan_gp":
        settings["discriminator_steps"] = 1
    return settings


@needs_torch
@pytest.mark.parametrize("name", torch_reference.MODELS if torch_reference else ["none"])
def test_torch_reference_step_trains_every_network(name):
    import torch

    step_fn, _, nets = torch_reference.make_torch_step(name, batch_size=4, **_tiny(name))
    torch.set_num_threads(1)  # tiny ops: one thread is faster, and on a busy machine by far
    before = {n: [p.detach().clone() for p in net.parameters()] for n, net in nets.items()}
    loss = step_fn()
    assert torch.isfinite(loss)
    for n, net in nets.items():
        moved = [not torch.equal(a, p) for a, p in zip(before[n], net.parameters(), strict=True)]
        assert any(moved), f"{name}: the step left network {n!r} unchanged"


def _tensor(array):
    import numpy as np
    import torch

    return torch.from_numpy(np.array(array))  # a writable copy


def _load_dense(linear, params, input_hwc=None):
    """A flax Dense into a torch Linear; `input_hwc`: its input is a flattened NHWC map (torch
    flattens NCHW)."""
    import numpy as np

    kernel = np.asarray(params["kernel"])
    if input_hwc:
        h, w, c = input_hwc
        kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
    linear.weight.copy_(_tensor(kernel.T))
    if "bias" in params:
        linear.bias.copy_(_tensor(params["bias"]))


def _load_norm(norm, params):
    norm.weight.copy_(_tensor(params["scale"]))
    norm.bias.copy_(_tensor(params["bias"]))


def _load_trunk(trunk, params):
    """A DCGANTrunk; returns its output map's (h, w, c) for the dense layer after it."""
    import numpy as np

    for i, block in enumerate(trunk.blocks):
        conv = params[f"conv_{i}"]
        kernel = np.asarray(conv["kernel"]).transpose(3, 2, 0, 1)  # HWIO -> OIHW
        block[0].weight.copy_(_tensor(kernel))
        if "bias" in conv:
            block[0].bias.copy_(_tensor(conv["bias"]))
        for norm in (f"conv_{i}_bn", f"conv_{i}_ln"):
            if norm in params:
                _load_norm(block[1], params[norm])
    channels = trunk.blocks[-1][0].out_channels
    size = int(round((trunk.num_features // channels) ** 0.5))
    return size, size, channels


def _load_generator(generator, params):
    import numpy as np
    from torch import nn

    s, top = generator.start, generator.top
    kernel = np.asarray(params["project"]["kernel"])  # [latent, s * s * top], NHWC order
    kernel = kernel.reshape(-1, s, s, top).transpose(0, 3, 1, 2).reshape(len(kernel), -1)
    generator.project.weight.copy_(_tensor(kernel.T))
    _load_norm(generator.project_bn, params["project_bn"])
    convs = [m for m in generator.deconvs if isinstance(m, nn.ConvTranspose2d)]
    norms = [m for m in generator.deconvs if isinstance(m, nn.BatchNorm2d)]
    for i, conv in enumerate(convs):
        # flax's transposed conv does not flip its kernel; torch's (a conv's gradient) does.
        kernel = np.asarray(params[f"deconv_{i}"]["kernel"])[::-1, ::-1].transpose(2, 3, 0, 1)
        conv.weight.copy_(_tensor(kernel))
        if conv.bias is not None:
            conv.bias.copy_(_tensor(params[f"deconv_{i}"]["bias"]))
    for i, norm in enumerate(norms):
        _load_norm(norm, params[f"deconv_{i}_bn"])


def _load_dcgan_networks(nets, params):
    """The JAX model's DCGAN params into the reference's networks (same names)."""
    import torch

    from experiments.torch_reference import nets as torch_nets

    with torch.no_grad():
        for name, net in nets.items():
            if isinstance(net, torch_nets.DCGANGenerator):
                _load_generator(net, params[name])
            else:
                hwc = _load_trunk(net.trunk, params[name]["trunk"])
                head = "logit" if isinstance(net, torch_nets.DCGANDiscriminator) else "gaussian"
                _load_dense(getattr(net, head), params[name][head], hwc)


@needs_torch
@pytest.mark.parametrize(
    "name, hyperparameters",
    [("vaegan", {"gamma": 0.5}), ("wgan_gp", {})],  # a gamma that weighs in the G loss
)
def test_torch_reference_losses_equal_the_jax_models(name, hyperparameters):
    """A second implementation pins each model's math: at the same parameters, batch and
    noise, the reference's losses equal the JAX phases' (VAE/GAN's three objectives;
    WGAN-GP's critic loss with its gradient penalty, layer norm included, and G's loss)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import torch

    from experiments.torch_reference import gans, hybrids
    from unigen_jax.models.networks import Networks
    from unigen_jax.models.spec import Phase

    hyperparameters = {"base_features": 4, "latent_dim": 3, **hyperparameters}
    model = _jax_model(name, TINY_IMAGE, **hyperparameters)
    batch_size = 8
    x = np.random.default_rng(0).uniform(size=(batch_size, *TINY_IMAGE)).astype(np.float32)

    @jax.jit  # one compilation: the initial params, every phase's loss, the noise
    def jax_side(x):
        batch = {"x": x, "label": jnp.zeros(batch_size, jnp.int32)}
        variables = {
            net: module.init(jax.random.PRNGKey(i), *model.init_args[net](batch), train=False)
            for i, (net, module) in enumerate(model.networks.items())
        }
        params = {net: v["params"] for net, v in variables.items()}
        stats = {net: v.get("batch_stats", {}) for net, v in variables.items()}

        def handle():  # every handle with this key draws the same noise for a tag
            return Networks(
                model.networks,
                params,
                stats,
                train=True,
                key=jax.random.PRNGKey(1),
                batch_size=batch_size,
            )

        losses, metrics = {}, {}
        for phase in model.phases:
            if isinstance(phase, Phase):
                losses[phase.name], phase_metrics = phase.loss_fn(handle(), batch)
                metrics.update(phase_metrics)
        noise = handle()
        draws = {"z": noise.normal("z", (3,)), "eps": noise.normal("eps", (3,))}
        draws["penalty"] = noise.uniform("penalty", ())
        return params, losses, metrics, draws

    # A tiny program: XLA's fast-compiling settings.
    compiled = jax_side.lower(x).compile(FAST_COMPILE)
    params, jax_losses, metrics, draws = jax.device_get(compiled(x))
    z = torch.from_numpy(np.array(draws["z"]))
    nets = torch_reference.build_networks(name, image_shape=TINY_IMAGE, **hyperparameters)
    _load_dcgan_networks(nets, params)
    config = torch_reference.model_config(name, **hyperparameters)
    real = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    if name == "vaegan":
        eps = torch.from_numpy(np.array(draws["eps"]))
        torch_losses = hybrids.vaegan_losses(config, nets, real, eps, z)
        expected = [metrics[f"{n}_loss"] for n in ("encoder", "generator", "discriminator")]
    else:
        interpolation = torch.from_numpy(np.array(draws["penalty"]))
        torch_losses = (
            gans.gan_discriminator_loss(config, nets, real, z, interpolation),
            gans.gan_generator_loss(config, nets, z, images=True),
        )
        expected = [jax_losses["discriminator"], jax_losses["generator"]]
        assert metrics["gradient_penalty"] > 1e-3  # the penalty weighs in
    np.testing.assert_allclose(
        [float(loss.detach()) for loss in torch_losses], np.asarray(expected, np.float64), rtol=2e-5
    )
