"""What the analyses feed a net and read from it: inputs fetched by index (``Inputs``) and the
strongest activation per map (``strongest``). The net itself is only reached through ``Net``:
``net.forward(x, keep=[...])`` for several layers' outputs from one pass, ``net.project_units``
for single units projected to pixels.
"""
import numpy as np

from zfcore.backend import to_numpy, xp_of
from zfcore.vis.render import to_rgb


class Inputs:
    """A set of images for the net, fetched by index in batches.

    ``Inputs(x)``: x (N, 3, H, W) float32, already as the net takes it (mean-subtracted); the
    pictures shown for it are ``x`` stretched per image. ``Inputs.from_images(images, mean)``:
    uint8 images (N, S, S, 3) and the training mean (M, M, 3); both are centre-cropped to ``crop``
    (default: the mean's size), and the pictures are the pixels themselves.
    ``xp`` is the array module the net runs on (numpy or cupy).
    """

    def __init__(self, x=None, rgb=None, mean=None, xp=None):
        if (x is None) == (rgb is None):
            raise ValueError("Inputs takes exactly one of x (net inputs) or rgb (images)")
        self._x, self._rgb, self._mean = x, rgb, mean
        self.xp = xp if xp is not None else (xp_of(x) if x is not None else np)

    @classmethod
    def from_images(cls, images, mean, crop=None, xp=np):
        mean = np.asarray(mean, dtype=np.float32)
        crop = crop if crop is not None else mean.shape[0]
        images = _centre(np.asarray(images), crop)              # (N, crop, crop, 3) uint8
        mean = _centre(mean[None], crop)[0]                      # (crop, crop, 3)
        return cls(rgb=images, mean=mean, xp=xp)

    def __len__(self):
        return len(self._x) if self._x is not None else len(self._rgb)

    @property
    def hw(self):
        return tuple(self._x.shape[2:]) if self._x is not None else tuple(self._rgb.shape[1:3])

    def x(self, idx):
        """Net inputs (B, 3, H, W) float32 on the net's device, for indices ``idx``."""
        idx = np.asarray(idx)
        if self._x is not None:
            return self._x[self.xp.asarray(idx)]
        x = self._rgb[idx].astype(np.float32) - self._mean      # (B, H, W, 3)
        return self.xp.asarray(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    def rgb(self, idx):
        """Pictures (B, H, W, 3) in [0, 1] for indices ``idx``."""
        idx = np.asarray(idx)
        if self._rgb is not None:
            return self._rgb[idx].astype(np.float64) / 255.0
        return to_rgb(self.x(idx))

    def pixels(self, x):
        """Net inputs x (..., 3, H, W) back to pictures (..., H, W, 3) in [0, 1]: the mean added
        back when it is known, else each image stretched (``render.to_rgb``)."""
        if self._mean is None:
            return to_rgb(x)
        return np.clip((np.moveaxis(to_numpy(x), -3, -1) + self._mean) / 255.0, 0.0, 1.0)

    def batches(self, batch_size):
        """(start, x) over the whole set in order."""
        for start in range(0, len(self), batch_size):
            yield start, self.x(np.arange(start, min(start + batch_size, len(self))))


def _centre(images, size):
    """Centre crop (N, S, S, ...) -> (N, size, size, ...)."""
    h, w = images.shape[1:3]
    if h < size or w < size:
        raise ValueError("images of %dx%d are smaller than the net's input %d" % (h, w, size))
    y0, x0 = (h - size) // 2, (w - size) // 2
    return images[:, y0:y0 + size, x0:x0 + size]


def strongest(a):
    """Per image and channel of a (B, C, H, W): the largest value (B, C) and its row-major flat
    position (B, C) (the first one on ties). For a (B, D) layer the values themselves and 0."""
    xp = xp_of(a)
    if a.ndim == 2:
        return a, xp.zeros(a.shape, dtype=np.int64)
    flat = a.reshape(a.shape[0], a.shape[1], -1)                # (B, C, H*W)
    pos = flat.argmax(axis=2)
    return xp.take_along_axis(flat, pos[..., None], axis=2)[..., 0], pos
