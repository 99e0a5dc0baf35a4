"""Writes sample grids (images) and scatter plots (2-D data) as PNG, with Pillow only."""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image


def image_grid(images: np.ndarray, *, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """Tiles images [N, H, W, C] in [0, 1] into one uint8 array [rows*(H+p)+p, ..., C]."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    n, h, w, c = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    grid = np.ones((rows * (h + padding) + padding, columns * (w + padding) + padding, c))
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = images[i]
    return (grid * 255).round().astype(np.uint8)


def save_image_grid(path: str, images: np.ndarray, *, columns: int | None = None) -> None:
    """Saves images [N, H, W, C] in [0, 1] (C = 1 or 3) as one PNG grid."""
    grid = image_grid(images, columns=columns)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    _save_png(path, grid)


def save_scatter(
    path: str,
    points: np.ndarray,
    reference: np.ndarray | None = None,
    *,
    size: int = 320,
    dot: int = 3,
) -> None:
    """Saves 2-D points [N, 2] (black) over reference points (light blue) as a PNG,
    each drawn as a `dot` x `dot` square."""
    points = np.asarray(points, np.float64)
    everything = points if reference is None else np.concatenate([points, reference])
    finite = everything[np.all(np.isfinite(everything), axis=1)]
    low, high = (finite.min(0), finite.max(0)) if len(finite) else (np.zeros(2), np.ones(2))
    center, half = (low + high) / 2, max(float(np.max(high - low)) / 2, 1e-6) * 1.1
    canvas = np.full((size, size, 3), 255, np.uint8)

    def draw(xy, colour):
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        pixels = ((xy - center) / half * 0.5 + 0.5) * (size - 1)
        cols = pixels[:, 0].round().astype(int)
        rows = (size - 1 - pixels[:, 1]).round().astype(int)
        for dr in range(-(dot // 2), dot - dot // 2):
            for dc in range(-(dot // 2), dot - dot // 2):
                canvas[np.clip(rows + dr, 0, size - 1), np.clip(cols + dc, 0, size - 1)] = colour

    if reference is not None:
        draw(np.asarray(reference, np.float64), (150, 190, 255))
    draw(points, (0, 0, 0))
    _save_png(path, canvas)


def _save_png(path: str, array: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    Image.fromarray(array).save(tmp, format="PNG")
    os.replace(tmp, path)  # never leave a half-written PNG behind
