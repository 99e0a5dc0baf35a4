"""Small set-ups several test modules share."""

from unigen_jax import data
from unigen_jax.eval import classifier as classifiers


def saved_classifier(dataset: str, directory: str, *, steps: int, batch_size: int):
    """A classifier of `dataset` trained for `steps` steps and saved in `directory`."""
    trained = classifiers.train_classifier(
        data.get_source(dataset),
        data.get_source(dataset, "test"),
        steps=steps,
        batch_size=batch_size,
        log=lambda _: None,
    )
    classifiers.save_classifier(trained, directory)
    return trained
