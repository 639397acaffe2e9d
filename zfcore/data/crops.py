"""Crops and flips, from uint8 NHWC images to the net's float32 NCHW input (Z&F Sec. 3).

Every function subtracts the per-pixel mean *before* cropping (the mean image is as large as
the stored images, and is cropped at the same place as the image), so a value of 0 is "the mean
image" in every crop. Values stay in pixel units (0..255 scale), as in Caffe and the paper.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from zfcore.data.base import DataError


def _check(images, crop, pad=0):
    if images.ndim != 4 or images.shape[3] != 3:
        raise DataError("images: expected (B, H, W, 3), got shape %s" % (images.shape,))
    side = min(images.shape[1:3]) + 2 * pad
    if isinstance(crop, bool) or not isinstance(crop, (int, np.integer)) or not 0 < crop <= side:
        raise DataError("crop: expected a side between 1 and %d (images %dx%d, pad %d), got %r"
                        % (side, images.shape[1], images.shape[2], pad, crop))


def _centred(images, mean):
    """images (B, H, W, 3) uint8 minus mean (H, W, 3) -> float32 (B, H, W, 3)."""
    x = np.asarray(images, dtype=np.float32)
    if mean is not None:
        x = x - np.asarray(mean, dtype=np.float32)
    return x


def crop_at(images, mean, crop, ys, xs, flips=None, pad=0):
    """One crop per image, at its own place: out[b] = (images[b] - mean) padded by ``pad``
    (reflection), rows ys[b]..ys[b]+crop, columns xs[b]..xs[b]+crop (in padded coordinates),
    mirrored left-right where ``flips[b]``.

    images (B, H, W, 3) uint8, mean (H, W, 3) or None -> (B, 3, crop, crop) float32.
    """
    x = _centred(images, mean)
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    b = x.shape[0]
    windows = sliding_window_view(x, (crop, crop), axis=(1, 2))  # (B, H-c+1, W-c+1, 3, c, c)
    out = windows[np.arange(b), np.asarray(ys), np.asarray(xs)]  # (B, 3, c, c), a copy
    if flips is not None:
        f = np.asarray(flips, dtype=bool)
        out[f] = out[f][..., ::-1]
    return out


def centre_crop(images, mean, crop):
    """The centre ``crop x crop`` of each image, mean-subtracted: images (B, H, W, 3) uint8 ->
    (B, 3, crop, crop) float32. The top-left corner is ((H - crop) // 2, (W - crop) // 2)."""
    images = np.asarray(images) if isinstance(images, (list, tuple)) else images
    _check(images, crop)
    b, h, w = images.shape[:3]
    return crop_at(images, mean, crop, np.full(b, (h - crop) // 2), np.full(b, (w - crop) // 2))


def ten_crop_positions(h, w, crop):
    """The five (y, x) top-left corners of Z&F's test crops: top-left, top-right, bottom-left,
    bottom-right, centre."""
    return [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop),
            ((h - crop) // 2, (w - crop) // 2)]


def ten_crop_views(h, w, crop, distinct=False):
    """The 10 crops as (y, x, flipped) in ``ten_crop``'s order, and each one's weight in the
    average (1/10); with ``distinct``, only the distinct ones, each weighted by how many of the
    10 it stands for, over 10."""
    views = [(y, x, f) for f in (False, True) for y, x in ten_crop_positions(h, w, crop)]
    if not distinct:
        return views, np.full(10, 0.1)
    kinds = list(dict.fromkeys(views))
    return kinds, np.array([views.count(v) / 10 for v in kinds])


def ten_crop(images, mean, crop, distinct=False):
    """Z&F Sec. 3 (after Krizhevsky et al.): the 4 corner crops and the centre crop of each image,
    and the same five mirrored left-right.

    images (B, H, W, 3) uint8, mean (H, W, 3) -> (B * 10, 3, crop, crop) float32, grouped by
    image: rows 10*b .. 10*b + 9 are image b's crops in the order of ``ten_crop_positions``,
    then those five flipped. Average a net's outputs with ``.reshape(B, 10, -1).mean(1)``.

    With ``distinct``: ``(crops (B * m, 3, crop, crop), weights (m,))``, only the m distinct
    crops of the 10 (where the crop is as large as the image, the five places are one, and
    m = 2), each weighted by how many of the 10 it stands for over 10: the 10-crop average is
    ``(out.reshape(B, m, -1) * weights[:, None]).sum(1)``, for m/10 of the forward passes.
    """
    _check(images, crop)
    b, h, w = images.shape[:3]
    views, weights = ten_crop_views(h, w, crop, distinct)
    m = len(views)
    ys = np.tile([v[0] for v in views], b)                            # (B*m,)
    xs = np.tile([v[1] for v in views], b)
    flips = np.tile([v[2] for v in views], b)
    x = _centred(images, mean)
    windows = sliding_window_view(x, (crop, crop), axis=(1, 2))
    out = windows[np.repeat(np.arange(b), m), ys, xs]                 # (B*m, 3, c, c)
    out[flips] = out[flips][..., ::-1]
    return (out, weights) if distinct else out


def random_crop_flip(images, mean, crop, rng, pad=0):
    """Training augmentation (Z&F Sec. 3: random 224 crops of the 256 images, and horizontal
    flips): a crop position uniform over every place the crop fits in the image padded by
    ``pad`` (reflection), and a flip with probability 1/2, drawn from ``rng`` for each image in
    order (y, x, flip per image, all y first)."""
    _check(images, crop, pad)
    b, h, w = images.shape[:3]
    ys = rng.integers(0, h + 2 * pad - crop + 1, size=b)
    xs = rng.integers(0, w + 2 * pad - crop + 1, size=b)
    flips = rng.random(b) < 0.5
    return crop_at(images, mean, crop, ys, xs, flips, pad=pad)
