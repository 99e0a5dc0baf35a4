"""The registry-wide contract: every registered model, and every option that changes its
phases, at tiny shapes (MLP networks on `digits`, the UCI 8x8 digits resized to 28x28,
which have labels):

- one step runs, and each phase changes only the networks it trains (or writes);
- 1 and 2 devices agree within float tolerance;
- no recompilation after the first step;
- a run resumed from its step-1 checkpoint is bit-identical to the uninterrupted one;
- a sample grid is written (by a model that generates), and the evaluation of the run
  computes every metric that applies, but those that read nothing of the model beyond its
  samples (the critic, FID, KID, diversity: the same code for every model once the samples
  are drawn, which the inception score checks).

A new model is covered by registering it; a new phase-changing option by adding it to OPTIONS.
An option runs the phase, device and recompilation checks, which its phases change; the resume
and evaluation checks only where it changes what a run stores (its networks, shadows or data
streams): an option that changes only a loss resumes and evaluates as its model does, which
that model's case checks.
"""

import dataclasses
import os
import shutil

import chex
import jax
import numpy as np
import optax
import pytest

from unigen_jax import data, models
from unigen_jax.eval import classifier as classifiers
from unigen_jax.eval import runner
from unigen_jax.models.spec import ParamUpdate
from unigen_jax.train import create_train_state, make_mesh, make_train_step, replicate
from unigen_jax.train.loop import RunConfig, select_streams, train
from unigen_jax.train.step import make_per_device_step, shard_batch

from .helpers import saved_classifier

TINY = {"latent_dim": 3, "hidden_sizes": (16,), "architecture": "mlp"}


def _tiny(name):
    """The TINY overrides that model `name`'s config has (EM's mixture has no networks)."""
    fields = {f.name for f in dataclasses.fields(models.config_class(name))}
    return {k: v for k, v in TINY.items() if k in fields}


# Options that change a model's phases, beyond what the registered presets already switch on.
# Options that combine are one case: each check still runs on every option's phases, one
# compile for several options (a failing case: rerun its options one at a time to find which).
OPTIONS = [
    (
        "gan",
        {
            "ema_decay": 0.9,  # a ParamUpdate phase after the optimiser phases
            "generator_steps": 2,  # a repeated phase
            "discriminator_steps": 2,  # repeated, on one batch: batches_per_step stays 1
            "fresh_discriminator_batches": False,
        },
    ),
    (
        "gan",
        {
            "feature_matching": True,  # Salimans et al. 2016, Section 3.1
            "minibatch_kernels": 3,  # Salimans et al. 2016, Section 3.2: global batch
            "instance_noise": 0.1,  # Sønderby et al. 2016
            "consensus": 1.0,  # Mescheder et al. 2017: double backprop, device mean
        },
    ),
    ("cgan", {"importance_weighted": True}),  # IW-CGAN
    ("aavae", {"conditional": True, "temperature": 3.0}),  # AA-CVAE
    ("aavae", {"conditional": True, "example_weights": "equal"}),  # the control: no D at all
    ("aasvae", {"example_weights": "equal"}),  # the same for AA-SVAE
    ("aasvae", {"labelled_fraction": 1.0}),  # every example labelled: no unlabelled stream
    ("alpha_gan", {"code_critic": "empirical_kl"}),  # Rosca et al. 2017, Appendix D
    ("em_gmm", {"init": "random"}),  # no initialise phase
    # Planar flows of one layer: the wiring is what the contract checks; tests/test_flows.py
    # checks longer flows against autodiff and numpy.
    ("asvae", {"flow_length": 1}),  # a planar-flow posterior (Pu et al. 2017, Section 5)
    ("aavae", {"flow_length": 1}),  # the flow inside AA-VAE's weighted ELBO
    ("ali", {"schedule": "single_pass"}),  # Dumoulin et al. 2016, Alg. 1: one phase, 3 losses
    ("svae", {"supervised_only": True}),  # the sanity baseline: the classifier alone
]
CASES = [(name, {}) for name in models.MODEL_NAMES] + OPTIONS
BATCH = 8
# Metrics that read nothing of a model but its samples (see the resume test).
SAMPLES_ONLY = ("critic", "fid", "kid", "diversity")


def _case_id(case):
    name, options = case
    return name + "".join(f"-{k}={v}" for k, v in options.items())


def _model(name, options, *, axis_name="data"):
    source = data.get_source("digits")
    config = models.make_config(name, **_tiny(name), **options)
    return models.build_model(name, config, source.info, axis_name=axis_name), source


def _stored(model):
    """What a checkpoint and the data streams of a run of `model` hold, by name."""
    return sorted(model.networks), sorted(model.shadows), sorted(model.streams)


def _changes_what_a_run_stores(case):
    name, options = case
    return _stored(_model(name, options)[0]) != _stored(_model(name, {})[0])


RUN_CASES = [case for case in CASES if not case[1] or _changes_what_a_run_stores(case)]


def _example(model, source):
    """The two-example batch that initialises the networks, with every stream's."""
    _, streams = select_streams(model, source, seed=0, batch_size=BATCH)
    example = source.get(np.arange(2))
    example.update({name: s.get(np.arange(2)) for name, (s, _) in streams.items()})
    return example


def _step_data(model, source, seed=0):
    source, streams = select_streams(model, source, seed=seed, batch_size=BATCH)
    with data.StepBatches(
        source,
        seed=seed,
        global_batch_size=BATCH,
        batches_per_step=model.batches_per_step,
        streams=streams,
        prefetch=0,
    ) as batches:
        return next(batches), batches.leading_axes


def _networks_written(phase):
    return set(phase.writes if isinstance(phase, ParamUpdate) else phase.trains)


def _changed(before, after):
    return {
        name
        for name in before
        if any(
            not np.array_equal(a, b)
            for a, b in zip(
                jax.tree.leaves(before[name]), jax.tree.leaves(after[name]), strict=True
            )
        )
    }


@pytest.fixture(scope="module")
def digits_classifier(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("classifier") / "digits")
    saved_classifier("digits", path, steps=2, batch_size=16)
    return classifiers.load_classifier(path)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_each_phase_changes_only_what_it_trains(case):
    model, source = _model(*case, axis_name=None)
    batch, _ = _step_data(model, source)
    # SGD so that a phase's update shows in its networks whatever Adam's first step does.
    model = dataclasses.replace(model, optimizers={n: optax.sgd(0.1) for n in model.optimizers})
    state = create_train_state(model, _example(model, source), seed=0)
    for phase in model.phases:
        alone = dataclasses.replace(model, phases=(phase,))
        phase_batch = batch
        if model.batches_per_step != alone.batches_per_step:  # only the first batch is read
            phase_batch = jax.tree.map(lambda b: b[0], batch)
        step = jax.jit(make_per_device_step(alone, axis_name=None))
        new_state, metrics = step(state, phase_batch)
        assert all(np.isfinite(v) for v in jax.tree.leaves(metrics)), (phase.name, metrics)
        written = _networks_written(phase)
        changed = _changed(state.params, new_state.params)
        assert changed <= written, f"phase {phase.name} changed {changed - written}"
        assert changed, f"phase {phase.name} changed nothing"
        state = new_state.replace(step=state.step)  # the next phase starts where this one ended


def _traced_once(phase):
    """`phase` whose function raises if traced more often than one compile of a step does."""
    if isinstance(phase, ParamUpdate):
        return dataclasses.replace(phase, update_fn=chex.assert_max_traces(phase.update_fn, n=1))
    traces = phase.repeats  # each repeat of a phase traces its loss once
    return dataclasses.replace(phase, loss_fn=chex.assert_max_traces(phase.loss_fn, n=traces))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_two_devices_agree_with_one_and_nothing_recompiles(case):
    model, source = _model(*case)
    host_batch, leading = _step_data(model, source)
    state = jax.device_get(create_train_state(model, _example(model, source), seed=0))
    results = {}
    for devices in (1, 2):
        mesh = make_mesh(devices)
        # Each phase's function may be traced only as often as one compile of the step needs.
        chex.clear_trace_counter()
        watched = dataclasses.replace(model, phases=tuple(_traced_once(p) for p in model.phases))
        # Donating as training does: on 1 device this is the program that training compiles in
        # the resume test below, which then reads it from the compile cache.
        step = make_train_step(watched, mesh)
        batch = shard_batch(host_batch, mesh, stacked=leading)
        new_state, metrics = step(replicate(state, mesh), batch)  # fresh buffers from host
        results[devices] = jax.device_get((new_state.params, metrics))
        step(new_state, batch)  # a second step with new values: the same compiled program
    one, two = results[1], results[2]
    assert sorted(one[1]) == sorted(two[1])
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(two), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("case", RUN_CASES, ids=_case_id)
def test_resume_is_bit_identical_and_the_run_evaluates(case, tmp_path, digits_classifier):
    name, options = case
    config = models.make_config(name, **_tiny(name), **options)

    def run(workdir):
        settings = RunConfig(
            model=name,
            dataset="digits",
            workdir=str(tmp_path / workdir),
            steps=2,
            batch_size=BATCH,
            log_every=1,
            sample_every=2,
            checkpoint_every=1,
            num_devices=1,
        )
        logged = []
        train(settings, config, log=logged.append)
        return logged

    run("straight")
    # The run as a kill after step 2 but before its checkpoint leaves it: step 1's checkpoint,
    # and step 2's metrics and samples, which resuming rewinds (tests/test_faults.py kills
    # runs at random moments; this is the moment that resumes mid-run).
    shutil.copytree(tmp_path / "straight", tmp_path / "resumed")
    shutil.rmtree(tmp_path / "resumed" / "checkpoints" / "2")
    assert any("resumed from" in line and "at step 1" in line for line in run("resumed"))
    loaded, resumed = (runner.load_run(str(tmp_path / w)) for w in ("straight", "resumed"))
    assert loaded.step == resumed.step == 2
    restored = [jax.device_get(r.state) for r in (loaded, resumed)]
    for a, b in zip(jax.tree.leaves(restored[0]), jax.tree.leaves(restored[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    grid = tmp_path / "straight" / "samples" / "step_000002.png"
    assert os.path.exists(grid) == (loaded.model.sample_fn is not None)
    # Every metric but those that read only the samples and the real data, the same for every
    # model once the samples are drawn: the independent critic (the slowest, 3-5 s a model
    # with the suite's XLA flags), FID, KID and diversity (about 2.7 s a model together).
    # The inception score draws the samples as they do, through the model's sampler;
    # tests/test_eval_runner.py and the metrics' own tests check the four.
    applicable = runner.applicable_metrics(loaded.model, loaded.train_source.info)
    if "inception_score" in applicable:
        assert set(SAMPLES_ONLY) <= set(applicable)
    metrics = [name for name in applicable if name not in SAMPLES_ONLY]
    results, failures = runner.evaluate(
        loaded,
        metrics,
        classifier=digits_classifier,
        num_samples=40,
        nll_samples=4,
        nll_examples=4,
        log=lambda _: None,
    )
    assert failures == [], [f.reason for f in failures]
    assert set(results) == set(metrics)
    if "label" in loaded.model.conditions:
        assert "conditional_accuracy" in results
    if loaded.model.encode_fn is not None:
        assert {"elbo", "nll", "rmse"} <= set(results)
    if runner.code_function(loaded.model) is not None:
        assert "code_statistics" in results
    if loaded.model.classify_fn is not None:
        assert "classification_accuracy" in results
