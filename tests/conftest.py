"""Shared test set-up: two CPU devices and a persistent compilation cache outside the repo;
temporary files and the classifier cache kept inside pytest's own temporary folder."""

import os
import tempfile

import pytest

# Two host devices let one process compare 1-device and 2-device steps; must precede JAX init.
# And programs compiled for a fast compile rather than a fast run: the suite compiles about
# two thousand small programs and runs most of them once or twice. XLA:CPU's loop fusions
# through its older emitters, and LLVM at -O0: the contract test's training steps of 8 models
# on 1 and 2 devices compiled in 16 s instead of 40, and the whole suite, cold, took 15m31s
# instead of 19m10s (2 cores). The benchmarks and the commands keep XLA's defaults; tests
# check the math, which these options leave within float32 rounding.
TEST_XLA_FLAGS = (
    "--xla_force_host_platform_device_count=2",
    "--xla_cpu_use_fusion_emitters=false",
    "--xla_backend_optimization_level=0",
)
os.environ["XLA_FLAGS"] = " ".join((os.environ.get("XLA_FLAGS", ""), *TEST_XLA_FLAGS)).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Never download a TFDS dataset from a test, even on a machine with TensorFlow and internet.
os.environ.setdefault("UNIGEN_JAX_OFFLINE", "1")

import jax  # noqa: E402

jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("UNIGEN_JAX_CACHE", os.path.expanduser("~/.cache/unigen_jax/jit")),
)
# Every program is cached, however fast it compiled: the suite compiles hundreds of small ones
# (eager ops, tiny steps) that a floor of 0.5 s would compile again on every run. Through the
# environment, the commands the tests start as subprocesses (experiments._cli) cache them too.
os.environ.setdefault("UNIGEN_JAX_CACHE_MIN_SECS", "0")
jax.config.update(
    "jax_persistent_cache_min_compile_time_secs", float(os.environ["UNIGEN_JAX_CACHE_MIN_SECS"])
)

# The test files that take longest, longest first (seconds of test time, warm, 2 cores,
# 2026-12-03, `make test`: 7m01s in all). `make test` hands whole files to its 2 workers in
# collection order (--dist loadfile --no-loadscope-reorder), so these go out first and the
# short files even out the end; xdist's own order (most tests first) left a 57-second file for
# last, and one worker idle for about 2 minutes.
SLOWEST_FILES = (
    "tests/test_contract.py",  # 195
    "tests/test_eval_runner.py",  # 98
    "tests/test_multihost.py",  # 41
    "tests/test_study_scales.py",  # 40
    "tests/test_benchmark.py",  # 39
    "tests/test_faults.py",  # 39
    "tests/test_cli.py",  # 29
    "tests/test_train_step.py",  # 29
    "tests/test_reproduce.py",  # 24
    "tests/test_loop.py",  # 22
)


def pytest_collection_modifyitems(config, items):
    """`SLOWEST_FILES` first, in that order; the rest as collected (a stable sort)."""
    rank = {path: i for i, path in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


CLASSIFIER_CACHE_ENV = "UNIGEN_JAX_CLASSIFIERS"  # unigen_jax.eval.classifier.CACHE_ENV


@pytest.fixture(scope="session", autouse=True)
def system_tmpdir(tmp_path_factory):
    """The system temporary folder, which the suite leaves as it found it.

    For the session, `tempfile` (in this process, and through TMPDIR in the subprocesses the
    tests start) points into pytest's own temporary folder, which pytest prunes to its last
    few sessions: TFDS 4.9 leaves an empty `tmp*tfds` folder in the temporary folder each time
    it builds the info of a dataset that is not prepared (`DatasetInfo.initialize_from_bucket`
    makes it before finding that no bucket can be reached), about 50 a session. The per-user
    classifier cache of `experiments.evaluate` points there too, so no test reads or writes the
    real one in the home folder.
    """
    system = tempfile.gettempdir()
    tmp_path_factory.getbasetemp()  # made first, where pytest makes it
    scratch = tmp_path_factory.mktemp("system_tmp")
    names = ("TMPDIR", CLASSIFIER_CACHE_ENV)
    saved_env, saved_tempdir = {name: os.environ.get(name) for name in names}, tempfile.tempdir
    os.environ["TMPDIR"] = tempfile.tempdir = str(scratch)
    os.environ[CLASSIFIER_CACHE_ENV] = str(tmp_path_factory.mktemp("classifier_cache"))
    yield system
    tempfile.tempdir = saved_tempdir
    for name, value in saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
