"""The metrics as data (`eval.metrics`): which apply to which model on which data, against the
lists written out here, and that a name declared twice is declared by exclusive predicates."""

import pytest

from unigen_jax import data, models
from unigen_jax.errors import UserInputError
from unigen_jax.eval import metrics

IMAGE = ("inception_score", "fid", "kid", "diversity", "critic")
LIKELIHOOD = ("elbo", "nll")


def _model(name, dataset):
    info = data.get_source(dataset, "train").info
    return models.build_model(name, models.make_config(name), info, axis_name=None), info


@pytest.mark.parametrize(
    "name, dataset, expected",
    [
        ("gan", "mnist5k", IMAGE),
        ("cgan", "mnist5k", (*IMAGE, "conditional_accuracy")),
        # Stacked MNIST: a per-channel classifier, 1000 modes, no inception score.
        ("gan", "stacked_mnist", ("fid", "kid", "diversity", "critic", "mode_coverage")),
        ("gan", "ring8", ("mode_coverage", "critic")),
        ("vae", "mnist5k", (*IMAGE, *LIKELIHOOD, "rmse", "code_statistics")),
        ("vae", "ring8", ("mode_coverage", "critic", *LIKELIHOOD, "rmse", "code_statistics")),
        (
            "svae",
            "mnist5k",
            (*IMAGE, "conditional_accuracy", *LIKELIHOOD, "rmse", "classification_accuracy"),
        ),
        ("em_gmm", "mnist5k", (*IMAGE, *LIKELIHOOD)),
        ("ada", "mnist5k", ("classification_accuracy",)),  # not a generator
    ],
)
def test_applicable_metrics_of_each_kind_of_model_and_data(name, dataset, expected):
    model, info = _model(name, dataset)
    assert metrics.applicable_metrics(model, info) == expected


@pytest.mark.parametrize("dataset", ["mnist5k", "stacked_mnist", "ring8"])
def test_a_name_declared_twice_applies_at_most_once(dataset):
    for name in models.MODEL_NAMES:
        try:
            model, info = _model(name, dataset)
        except UserInputError:  # a model that needs labels or images
            continue
        applying = [m.name for m in metrics.METRICS if m.applies(model, info)]
        assert len(applying) == len(set(applying)), (name, dataset, applying)
