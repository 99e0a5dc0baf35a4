"""Images of one dataset brought to another's shape: `ResizedSource`.

Domain adaptation (Ganin et al. 2016, arXiv 1505.07818) reads two datasets with one feature
extractor, so the source domain's images must take the target's shape: SVHN's 32x32x3 for
MNIST's 28x28x1, or MNIST's 28x28x1 for an 8x8x1 dataset.

- Height and width: bilinear interpolation with PIL (half-pixel centres; when shrinking, PIL
  widens the triangle kernel by the scale factor, i.e. antialiasing), one channel at a time in
  float ("F" mode).
- Channels: kept when they agree; 3 -> 1 by the mean of the three channels; 1 -> 3 by
  repeating the one channel. Any other pair is an error.

Images are in [0, 1] and bilinear weights are non-negative and sum to one, so the results stay
in [0, 1] (clipped against rounding).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from unigen_jax.data.sources import Source, check_indices
from unigen_jax.errors import UserInputError


def convertible(from_shape, to_shape) -> bool:
    """Whether images of `from_shape` (H, W, C) can be brought to `to_shape` (H', W', C')."""
    if len(from_shape) != 3 or len(to_shape) != 3:
        return False
    c, target_c = from_shape[-1], to_shape[-1]
    return c == target_c or (c, target_c) in ((3, 1), (1, 3))


def resize_images(images: np.ndarray, shape) -> np.ndarray:
    """Images float [n, h, w, c] in [0, 1] -> float32 `[n, *shape]` (see the module docstring)."""
    images = np.asarray(images, np.float32)
    height, width, channels = shape
    if not convertible(images.shape[1:], shape):
        raise ValueError(f"cannot convert images of shape {images.shape[1:]} to {tuple(shape)}")
    if images.shape[-1] == 3 and channels == 1:
        images = images.mean(axis=-1, keepdims=True)
    if images.shape[1:3] != (height, width):
        out = np.empty((*images.shape[:1], height, width, images.shape[-1]), np.float32)
        for i, image in enumerate(images):
            for c in range(image.shape[-1]):
                pil = Image.fromarray(np.ascontiguousarray(image[..., c]))  # mode "F"
                out[i, ..., c] = np.asarray(pil.resize((width, height), Image.Resampling.BILINEAR))
        images = np.clip(out, 0.0, 1.0)
    if images.shape[-1] == 1 and channels == 3:
        images = np.repeat(images, 3, axis=-1)
    return images


class ResizedSource:
    """The examples of `base` (images) resized to `shape` (H, W, C); labels unchanged.

    Resizing happens when a batch is read (`get`), so only the examples read are resized.
    """

    def __init__(self, base: Source, shape):
        shape = tuple(int(s) for s in shape)
        if base.info.kind != "image" or not convertible(base.info.shape, shape):
            raise UserInputError(
                f"cannot resize dataset {base.info.name!r} ({base.info.kind}, shape "
                f"{base.info.shape}) to images of shape {shape}: it needs images with the same "
                "channels, or 3 channels to 1, or 1 to 3"
            )
        self._base = base
        # Binary pixels stay binary when only 1 channel is copied into 3; interpolation, or
        # averaging 3 channels into 1, makes them grey. A dynamically binarised source still
        # draws binary training batches (from its resized grey levels).
        kept = shape[:2] == base.info.shape[:2] and base.info.shape[2] in (1, shape[2])
        binary = base.info.binary and (kept or base.info.dynamic_binarization)
        self.info = dataclasses.replace(base.info, shape=shape, binary=binary)

    def __len__(self) -> int:
        return self.info.num_examples

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        batch = self._base.get(check_indices(indices, len(self)))
        return {**batch, "x": resize_images(batch["x"], self.info.shape)}

    def grey_levels(self, indices: np.ndarray) -> np.ndarray:
        """The base's `grey_levels` resized (a dynamically binarised base only)."""
        return resize_images(
            self._base.grey_levels(check_indices(indices, len(self))), self.info.shape
        )

    def __repr__(self) -> str:
        return f"ResizedSource({self.info})"
