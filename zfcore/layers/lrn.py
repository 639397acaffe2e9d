"""Local response normalisation across channels (Krizhevsky et al. 2012, Sec. 3.3).

    b_c = a_c / (k + alpha * sum_{|c'-c| <= size//2} a_c'^2) ** beta

with the sum clipped at the channel ends. alpha is NOT divided by size (PyTorch's and Caffe's
alpha equal size * ours). The deconvnet passes through LRN unchanged (Z&F Sec. 2.1 has no
contrast normalisation on the way down).
"""
import numpy as np

from zfcore import backend, parallel
from zfcore.backend import xp_of
from zfcore.layers.base import Layer, register


def channel_window_sum(a, size, out=None):
    """``out[:, c] = sum_{|c'-c| <= size//2} a[:, c']`` (clipped at the ends); into ``out`` (a's
    shape, not a itself) if given.

    One add per neighbour distance o = 1..size//2, from below and from above: each is a shifted
    block of whole (H, W) maps, so it runs at memory speed. (A running sum over channels would
    be one pass, but a strided one, several times slower, and it loses float32 precision.)
    """
    if out is None:
        out = a.copy()
    else:
        out[...] = a
    for o in range(1, size // 2 + 1):
        out[:, o:] += a[:, :-o]                                 # channel c - o
        out[:, :-o] += a[:, o:]                                 # channel c + o
    return out


def lrn_forward(a, size=5, alpha=1e-4, beta=0.75, k=2.0):
    """a (N, C, H, W) -> b (same shape), and ``d = k + alpha * window_sum(a^2)`` for backward.
    The batch is split over the cores (``zfcore.parallel``)."""
    if backend.use_kernels(a):
        return _lrn_forward_gpu(a, size, alpha, beta, k, store_d=True)
    xp = xp_of(a)
    b, d = xp.empty(a.shape, dtype=a.dtype), xp.empty(a.shape, dtype=a.dtype)

    def part(lo, hi):
        # d = k + alpha * window_sum(a^2); b = a * d^-beta (in place: no temporary per operation)
        ap, dp, bp = a[lo:hi], d[lo:hi], b[lo:hi]
        channel_window_sum(ap * ap, size, out=dp)
        dp *= alpha
        dp += k
        xp.power(dp, -beta, out=bp)
        bp *= ap

    parallel.over(len(a), part, 4 * a.size, like=a)
    return b, d


def lrn_backward(dy, a, b, d, size=5, alpha=1e-4, beta=0.75):
    """dL/da_j = dy_j d_j^-beta - 2 alpha beta a_j sum_{|c-j| <= size//2} dy_c b_c / d_c.

    (The window is symmetric, so the sum over the c whose window holds j is the same window sum.)
    The batch is split over the cores.
    """
    if backend.use_kernels(a):
        return _lrn_backward_gpu(dy, a, d, size, alpha, beta)
    xp = xp_of(a)
    dx = xp.empty(a.shape, dtype=a.dtype)

    def part(lo, hi):
        t = dy[lo:hi] * b[lo:hi]                                # in place from here on
        t /= d[lo:hi]
        t = channel_window_sum(t, size)
        t *= a[lo:hi]
        t *= 2.0 * alpha * beta
        out = dx[lo:hi]
        xp.power(d[lo:hi], -beta, out=out)
        out *= dy[lo:hi]
        out -= t

    parallel.over(len(a), part, 6 * a.size, like=a)
    return dx


@register("lrn")
class LRN(Layer):
    """Local response normalisation across channels (Krizhevsky et al. 2012, Sec. 3.3):
    ``b_c = a_c / (k + alpha * sum_{|c'-c| <= size//2} a_c'^2) ** beta``.

    Args:
        size: the channel window, odd (clipped at the channel ends).
        alpha, beta, k: as in the formula; alpha is not divided by size.

    Shapes: x (N, C, H, W) -> y, same shape; no params. ``deconv`` is the identity (the
    deconvnet has no contrast normalisation, Z&F Sec. 2.1); backprop and guided modes of
    ``down`` take LRN's true gradient.
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0):
        super().__init__()
        if size % 2 != 1 or size < 1:
            raise ValueError("LRN size must be odd and positive, got %r" % (size,))
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x, train=False):
        if backend.use_kernels(x):  # the GPU backward recomputes d from x: keep only y (d=None)
            y, d = _lrn_forward_gpu(x, self.size, self.alpha, self.beta, self.k, store_d=False)
        else:
            y, d = lrn_forward(x, self.size, self.alpha, self.beta, self.k)
        self.cache = (x, y, d)
        return y

    def backward(self, dy, need_dx=True):
        x, y, d = self.cache
        if d is None:
            return _lrn_backward_gpu(dy, x, None, self.size, self.alpha, self.beta, self.k)
        return lrn_backward(dy, x, y, d, self.size, self.alpha, self.beta)

    def deconv(self, r):
        return r

    def down(self, r, mode="deconv"):
        """The deconvnet skips LRN; backprop and guided backprop take its true gradient."""
        return r if mode == "deconv" else self.backward(r)

    def describe(self):
        return "size=%d, alpha=%g, beta=%g, k=%g" % (self.size, self.alpha, self.beta, self.k)


# -- GPU: kernels/lrn.cu ----------------------------------------------------------------------
def _channel_runs(n, c, hw, size):
    """Channels per thread: all of them, unless that leaves too few threads (N*H*W columns) to
    fill the GPU; a run that starts past channel 0 re-reads ~2*size channels to warm up."""
    want_threads = 1 << 20
    runs = min(-(-want_threads // max(1, n * hw)), max(1, c // (4 * size)))
    return -(-c // max(1, runs))


def _lrn_forward_gpu(a, size, alpha, beta, k, store_d):
    """``lrn_fwd``: one thread per (image, pixel, run of channels), running window sum."""
    xp = xp_of(a)
    if a.ndim < 2:
        raise ValueError("lrn: x must be (N, C, ...), got %s" % (tuple(a.shape),))
    a = xp.ascontiguousarray(a)
    n, c = a.shape[:2]
    hw = a.size // max(1, n * c)
    y = xp.empty_like(a)
    d = xp.empty_like(a) if store_d else None
    cb = _channel_runs(n, c, hw, size)
    backend.launch("lrn", "lrn_fwd", (a, y, y if d is None else d, np.int32(n), np.int32(c),
                                      np.int32(hw), np.int32(size), np.float32(alpha),
                                      np.float32(beta), np.float32(k), np.int32(cb),
                                      np.int32(store_d)), n * hw * (-(-c // cb)))
    return y, d


def _lrn_backward_gpu(dy, a, d, size, alpha, beta, k=None):
    """``lrn_bwd`` in one pass over a and dy: d is read if given, else recomputed with k."""
    xp = xp_of(a)
    for what, arr in (("dy", dy), ("d", d)):
        if arr is not None and tuple(arr.shape) != tuple(a.shape):
            raise ValueError("lrn backward: %s is %s, the forward input %s (same shape needed)"
                             % (what, tuple(arr.shape), tuple(a.shape)))
    if a.ndim < 2:
        raise ValueError("lrn backward: x must be (N, C, ...), got %s" % (tuple(a.shape),))
    a = xp.ascontiguousarray(a)
    dy = xp.ascontiguousarray(dy, dtype=np.float32)
    n, c = a.shape[:2]
    hw = a.size // max(1, n * c)
    dx = xp.empty_like(a)
    use_d = d is not None
    cb = _channel_runs(n, c, hw, size)
    backend.launch("lrn", "lrn_bwd", (a, dy, xp.ascontiguousarray(d) if use_d else a, dx,
                                      np.int32(n), np.int32(c), np.int32(hw), np.int32(size),
                                      np.float32(alpha), np.float32(beta),
                                      np.float32(0.0 if k is None else k), np.int32(cb),
                                      np.int32(use_d)), n * hw * (-(-c // cb)))
    return dx
