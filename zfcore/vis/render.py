"""Turning arrays into pictures: contrast normalisation, mosaics, and PNG files.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend
switch), so this works headless and never disturbs an interactive session of the caller.
"""
import os

import numpy as np

from zfcore.backend import to_numpy


def normalise(r):
    """Per-image contrast normalisation of projections (Z&F Fig. 2, 4): (..., 3, H, W) signals ->
    (..., H, W, 3) in [0, 1], each image scaled by its own largest |value| so that zero is
    mid-grey and the strongest pixel reaches 0 or 1. An all-zero image stays mid-grey."""
    r = to_numpy(r).astype(np.float64)
    peak = np.abs(r).max(axis=(-3, -2, -1), keepdims=True)
    out = 0.5 + 0.5 * r / np.where(peak > 0, peak, 1.0)
    return np.moveaxis(out, -3, -1)


def to_rgb(x):
    """Net inputs (..., 3, H, W) (mean-subtracted) -> (..., H, W, 3) in [0, 1], each image
    stretched from its own minimum to its maximum: for when the raw pixels are not at hand."""
    x = to_numpy(x).astype(np.float64)
    lo = x.min(axis=(-3, -2, -1), keepdims=True)
    hi = x.max(axis=(-3, -2, -1), keepdims=True)
    out = (x - lo) / np.where(hi > lo, hi - lo, 1.0)
    return np.moveaxis(out, -3, -1)


def mosaic(tiles, ncols, pad=1, pad_value=1.0):
    """Tiles (N, h, w, 3) -> one image (rows*(h+pad)-pad, ncols*(w+pad)-pad, 3), row-major."""
    tiles = np.asarray(tiles)
    n, h, w = tiles.shape[:3]
    nrows = max(1, -(-n // ncols))
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad) + tiles.shape[3:], pad_value,
                  dtype=np.float64)
    for t in range(n):
        r, c = divmod(t, ncols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = tiles[t]
    return out


def crop(images, boxes):
    """images (N, H, W, 3), boxes (N, 4) (y0, x0, y1, x1) of equal size -> (N, y1-y0, x1-x0, 3)."""
    return np.stack([img[y0:y1, x0:x1] for img, (y0, x0, y1, x1) in zip(images, boxes)])


def figure(width, height):
    """A matplotlib Figure on its own Agg canvas, ``width`` x ``height`` inches."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def show(ax, img, title=None, **kw):
    """imshow without ticks; nearest-neighbour so small filters and patches stay crisp."""
    kw.setdefault("interpolation", "nearest")
    im = ax.imshow(np.clip(img, 0, 1) if np.ndim(img) == 3 else img, **kw)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return im


def save(fig, path, dpi=110):
    """Write ``fig`` as a PNG (folders made as needed); returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
