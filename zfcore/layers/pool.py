"""Max-pooling with switches, and unpooling through them (Z&F Sec. 2.1, Fig. 1).

The forward pass records, for every window, where its maximum was (the "switch": the offset
inside the window, one byte). Pool backward and the deconvnet's unpool are the same operation:
each value goes to its window's switch, and windows that chose the same pixel add up.
"""
import math

import numpy as np

from zfcore import backend
from zfcore.backend import xp_of
from zfcore.layers.base import Layer


def pool_output_size(h, k, s, ceil_mode=True):
    """``floor((h - k) / s) + 1``; with ``ceil_mode``, ``ceil((h - k) / s) + 1``, minus one if the
    last window would start at or past the input's end (the PyTorch/Caffe rule)."""
    if not ceil_mode:
        return (h - k) // s + 1
    out = math.ceil((h - k) / s) + 1
    if (out - 1) * s >= h:
        out -= 1
    return out


def _padded_size(h, k, s, ceil_mode):
    """Height of the input once padded so that every (clipped) window is whole."""
    ho = pool_output_size(h, k, s, ceil_mode)
    return ho, max(h, (ho - 1) * s + k)


def maxpool_forward(x, k, s, ceil_mode=True):
    """y[n, c, i, j] = max of the k x k window at (i*s, j*s), clipped at the edge.

    x (N, C, H, W) -> y (N, C, Ho, Wo) and switches (N, C, Ho, Wo) uint8: the row-major offset
    ``di * k + dj`` of the maximum inside its window. Ties go to the first offset in row-major
    order (the strict ``>`` below never replaces an equal earlier value).
    """
    if backend.use_kernels(x):
        return _maxpool_forward_gpu(x, k, s, ceil_mode)
    xp = xp_of(x)
    n, c, h, w = x.shape
    ho, hp = _padded_size(h, k, s, ceil_mode)
    wo, wp = _padded_size(w, k, s, ceil_mode)
    if hp > h or wp > w:  # clipped windows: the padding can never be a window's maximum
        x = xp.pad(x, ((0, 0), (0, 0), (0, hp - h), (0, wp - w)), constant_values=-np.inf)
    y = x[:, :, 0:s * (ho - 1) + 1:s, 0:s * (wo - 1) + 1:s].copy()
    switches = xp.zeros((n, c, ho, wo), dtype=np.uint8)
    for di in range(k):
        for dj in range(k):
            if di == 0 and dj == 0:
                continue
            cand = x[:, :, di:di + s * (ho - 1) + 1:s, dj:dj + s * (wo - 1) + 1:s]
            better = cand > y
            y = xp.where(better, cand, y)
            switches = xp.where(better, np.uint8(di * k + dj), switches)
    return y, switches


def unpool(r, switches, x_shape, k, s):
    """Each value of r (N, C, Ho, Wo) goes to its window's switch in a zero map of ``x_shape``;
    overlapping windows that chose the same pixel add up. This is both the deconvnet's unpooling
    (Z&F Sec. 2.1) and max-pool's backward pass."""
    if backend.use_kernels(r):
        return _unpool_gpu(r, switches, x_shape, k, s)
    xp = xp_of(r)
    n, c, h, w = x_shape
    n = r.shape[0]
    ho, wo = r.shape[2], r.shape[3]
    hp, wp = max(h, (ho - 1) * s + k), max(w, (wo - 1) * s + k)
    out = xp.zeros((n, c, hp, wp), dtype=r.dtype)
    for di in range(k):
        for dj in range(k):
            chosen = switches == di * k + dj
            out[:, :, di:di + s * (ho - 1) + 1:s, dj:dj + s * (wo - 1) + 1:s] += xp.where(chosen, r, 0)
    return out[:, :, :h, :w]


class MaxPool2D(Layer):
    """Max-pooling that keeps its switches in ``self.switches`` (uint8)."""

    def __init__(self, k, stride, ceil_mode=True):
        super().__init__()
        self.k, self.stride, self.ceil_mode = k, stride, ceil_mode
        if k * k > 256:
            raise ValueError("pool window %dx%d too large for one-byte switches" % (k, k))
        self.switches = None

    def forward(self, x, train=False):
        y, self.switches = maxpool_forward(x, self.k, self.stride, self.ceil_mode)
        self.cache = x.shape
        return y

    def backward(self, dy):
        return unpool(dy, self.switches, self.cache, self.k, self.stride)

    def deconv(self, r):
        return unpool(r, self.switches, self.cache, self.k, self.stride)

    def output_shape(self, in_shape):
        c, h, w = in_shape
        return (c, pool_output_size(h, self.k, self.stride, self.ceil_mode),
                pool_output_size(w, self.k, self.stride, self.ceil_mode))

    def describe(self):
        return "%dx%d/%d%s" % (self.k, self.k, self.stride, ", ceil" if self.ceil_mode else "")


# -- GPU: kernels/pool.cu ---------------------------------------------------------------------
def _maxpool_forward_gpu(x, k, s, ceil_mode):
    """``maxpool_fwd``: one thread per output, switches written as bytes in the same pass."""
    xp = xp_of(x)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    ho, wo = pool_output_size(h, k, s, ceil_mode), pool_output_size(w, k, s, ceil_mode)
    y = xp.empty((n, c, ho, wo), dtype=np.float32)
    switches = xp.empty((n, c, ho, wo), dtype=np.uint8)
    i32 = np.int32
    backend.launch("pool", "maxpool_fwd", (x, y, switches, i32(n), i32(c), i32(h), i32(w), i32(k),
                                           i32(s), i32(ho), i32(wo)), y.size)
    return y, switches


def _unpool_gpu(r, switches, x_shape, k, s):
    """``maxpool_bwd``: a gather, one thread per pixel of the (N, C, H, W) result."""
    xp = xp_of(r)
    r = xp.ascontiguousarray(r)
    switches = xp.ascontiguousarray(switches)
    n, c, ho, wo = r.shape
    h, w = x_shape[2], x_shape[3]
    out = xp.empty((n, c, h, w), dtype=np.float32)
    i32 = np.int32
    backend.launch("pool", "maxpool_bwd", (r, switches, out, i32(n), i32(c), i32(h), i32(w), i32(k),
                                           i32(s), i32(ho), i32(wo)), out.size)
    return out
