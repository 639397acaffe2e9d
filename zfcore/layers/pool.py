"""Max-pooling with switches, and unpooling through them (Z&F Sec. 2.1, Fig. 1).

The forward pass records, for every window, where its maximum was (the "switch": the offset
inside the window, one byte). Pool backward and the deconvnet's unpool are the same operation:
each value goes to its window's switch, and windows that chose the same pixel add up.
"""
import math

import numpy as np

from zfcore import backend, parallel
from zfcore.backend import xp_of
from zfcore.layers.base import Layer, register


def pool_output_size(h, k, s, ceil_mode=True):
    """``floor((h - k) / s) + 1``; with ``ceil_mode``, ``ceil((h - k) / s) + 1``, minus one if the
    last window would start at or past the input's end (the PyTorch/Caffe rule)."""
    if not ceil_mode:
        return (h - k) // s + 1
    out = math.ceil((h - k) / s) + 1
    if (out - 1) * s >= h:
        out -= 1
    return out


def _grid(h, w, k, s, ho, wo):
    """(rows, cols) of the phase grids: room for every stride phase of an (h, w) map, and for
    the ``(k - 1) // s`` extra rows and columns the windows of an (ho, wo) output read."""
    q = (k - 1) // s
    return max(ho + q, -(-h // s)), max(wo + q, -(-w // s))


def _phase_grids(x, k, s, ho, wo, fill):
    """The s*s stride phases of x (N, C, H, W), ``phases[a][b] = x[:, :, a::s, b::s]``, each in
    its own contiguous (N*C, hg, wg) grid, padded with ``fill``; and the grid's (hg, wg).

    Window offset (di, dj) of output (i, j) reads ``x[i*s + di, j*s + dj]``, which is
    ``phases[di % s][dj % s][i + di // s, j + dj // s]``. In the flat grid that is entry
    ``g + (di // s) * wg + dj // s`` for output entry g = i * wg + j: every offset is ONE shifted
    1-D slice, so NumPy runs it as a single long loop. (An edge-clipped window reads ``fill``.)
    """
    xp = xp_of(x)
    n, c, h, w = x.shape
    hg, wg = _grid(h, w, k, s, ho, wo)
    grids = []
    for a in range(s):
        row = []
        for b in range(s):
            hx, wx = len(range(a, h, s)), len(range(b, w, s))
            g = xp.empty((n * c, hg, wg), dtype=x.dtype)
            g[:, :hx, :wx] = x[:, :, a::s, b::s].reshape(n * c, hx, wx)
            g[:, hx:, :] = fill
            g[:, :hx, wx:] = fill
            row.append(g)
        grids.append(row)
    return grids, hg, wg


def _offsets(k, s, wg, size):
    """(offset di*k + dj, phase (a, b), shift in the flat grid) for every window offset, in
    row-major order; and how many output entries of a flat grid of ``size`` have all their
    offsets inside it."""
    q = (k - 1) // s
    out = [(di * k + dj, (di % s, dj % s), (di // s) * wg + dj // s)
           for di in range(k) for dj in range(k)]
    return out, size - (q * wg + q)


def maxpool_forward(x, k, s, ceil_mode=True, switches=True):
    """y[n, c, i, j] = max of the k x k window at (i*s, j*s), clipped at the edge.

    x (N, C, H, W) -> y (N, C, Ho, Wo) and switches (N, C, Ho, Wo) uint8: the row-major offset
    ``di * k + dj`` of the maximum inside its window; ties go to the first offset in row-major
    order (the strict ``>`` in ``_maxpool_part`` never replaces an equal earlier value).
    ``switches=False``: (y, None), a third of the passes (``pool_switches`` makes them later
    from x). The (image, channel) planes are split over the cores (``zfcore.parallel``).
    """
    if backend.use_kernels(x):
        return _maxpool_forward_gpu(x, k, s, ceil_mode)
    xp = xp_of(x)
    n, c, h, w = x.shape
    ho, wo = pool_output_size(h, k, s, ceil_mode), pool_output_size(w, k, s, ceil_mode)
    y = xp.empty((n, c, ho, wo), dtype=x.dtype)
    sw = xp.empty((n, c, ho, wo), dtype=np.uint8) if switches else None
    _over_planes(x, y, sw, k, s)
    return y, sw


def pool_switches(x, k, s, ceil_mode=True):
    """The switches of the pooling of x (N, C, H, W): ``maxpool_forward(x, ...)[1]``."""
    return maxpool_forward(x, k, s, ceil_mode)[1]


def _over_planes(x, y, sw, k, s):
    """``_maxpool_part`` over every (image, channel) plane, split over the cores."""
    n, c = x.shape[:2]
    planes, yp = x.reshape(n * c, 1, *x.shape[2:]), y.reshape(n * c, 1, *y.shape[2:])
    sp = None if sw is None else sw.reshape(n * c, 1, *sw.shape[2:])
    parallel.over(n * c, lambda lo, hi: _maxpool_part(
        planes[lo:hi], k, s, yp[lo:hi], None if sp is None else sp[lo:hi]), 2 * x.size, like=x)


def _maxpool_part(x, k, s, y, switches=None):
    """Max-pool x into y and, if ``switches`` is given, the switches (all (N, C, Ho, Wo))."""
    xp = xp_of(x)
    ho, wo = y.shape[2:]
    grids, hg, wg = _phase_grids(x, k, s, ho, wo, -np.inf)
    offsets, r = _offsets(k, s, wg, grids[0][0].size)
    flat = [[g.reshape(-1) for g in row] for row in grids]
    shape = y.shape[:2] + (hg, wg)
    best = flat[0][0].copy()                                    # offset (0, 0): always inside
    bv = best[:r]
    if switches is None:
        for _, (a, b), shift in offsets[1:]:
            xp.maximum(bv, flat[a][b][shift:shift + r], out=bv)
        y[...] = best.reshape(shape)[:, :, :ho, :wo]
        return
    sw = xp.zeros(best.shape, dtype=np.uint8)
    better = xp.empty(r, dtype=bool)
    mark = xp.empty(r, dtype=np.uint8)
    sv = sw[:r]
    for o, (a, b), shift in offsets[1:]:
        cand = flat[a][b][shift:shift + r]
        xp.greater(cand, bv, out=better)
        xp.maximum(bv, cand, out=bv)
        # Offsets come in increasing order, so where this one is better it is also the
        # largest offset so far: max(switch, better * offset) writes it, and nothing else.
        xp.multiply(better, np.uint8(o), out=mark)
        xp.maximum(sv, mark, out=sv)
    y[...] = best.reshape(shape)[:, :, :ho, :wo]
    switches[...] = sw.reshape(shape)[:, :, :ho, :wo]


def unpool(r, switches, x_shape, k, s):
    """Each value of r (N, C, Ho, Wo) goes to its window's switch in a zero map of ``x_shape``;
    overlapping windows that chose the same pixel add up. This is both the deconvnet's unpooling
    (Z&F Sec. 2.1) and max-pool's backward pass. The batch is split over the cores."""
    if backend.use_kernels(r):
        return _unpool_gpu(r, switches, x_shape, k, s)
    xp = xp_of(r)
    n, c = r.shape[:2]
    out = xp.empty((n,) + tuple(x_shape[1:]), dtype=r.dtype)
    planes, sp, op = (a.reshape(n * c, 1, *a.shape[2:]) for a in (r, switches, out))
    parallel.over(n * c, lambda lo, hi: _unpool_part(planes[lo:hi], sp[lo:hi], k, s, op[lo:hi]),
                  2 * out.size, like=r)
    return out


def _unpool_part(r, switches, k, s, out):
    """``unpool`` of r through switches into out (N, C, H, W), on the flat phase grids of
    ``_phase_grids``: the values of offset o are ``r * (switches == o)``, added into its phase
    at its shift; the offsets are added in row-major order."""
    xp = xp_of(r)
    n, c, h, w = out.shape
    ho, wo = r.shape[2:]
    hg, wg = _grid(h, w, k, s, ho, wo)
    rg = xp.empty((n * c, hg, wg), dtype=r.dtype)              # r and switches on the grid,
    sg = xp.empty((n * c, hg, wg), dtype=np.uint8)              # zero past (ho, wo)
    for g, a in ((rg, r), (sg, switches)):
        g[:, :ho, :wo] = a.reshape(n * c, ho, wo)
        g[:, ho:] = 0
        g[:, :ho, wo:] = 0
    offsets, size = _offsets(k, s, wg, rg.size)
    rf, sf = rg.reshape(-1)[:size], sg.reshape(-1)[:size]
    phases = [[xp.zeros(n * c * hg * wg, dtype=r.dtype) for b in range(s)] for a in range(s)]
    chosen = xp.empty(size, dtype=bool)
    part = xp.empty(size, dtype=r.dtype)
    for o, (a, b), shift in offsets:
        xp.equal(sf, o, out=chosen)
        xp.multiply(rf, chosen, out=part)
        phases[a][b][shift:shift + size] += part
    for a in range(s):
        for b in range(s):
            hx, wx = len(range(a, h, s)), len(range(b, w, s))
            out[:, :, a::s, b::s] = phases[a][b].reshape(n, c, hg, wg)[:, :, :hx, :wx]


@register("pool")
class MaxPool2D(Layer):
    """Max-pooling that keeps its switches in ``self.switches`` (Z&F Sec. 2.1, Fig. 1).

    Args:
        k: square window size (k*k <= 256: a switch is one byte).
        stride: the step between windows.
        ceil_mode: keep a last, edge-clipped window (the PyTorch/Caffe rule; Z&F's 110 -> 55).

    Shapes: x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = floor((H - k) / stride) + 1, or with
    ceil_mode ceil((H - k) / stride) + 1 minus one if the last window would start past the
    end; ``switches`` (N, C, Ho, Wo) uint8, the row-major offset of each window's maximum.
    backward and deconv (unpooling) take (N, C, Ho, Wo) back to (N, C, H, W).
    """

    def __init__(self, k, stride, ceil_mode=True):
        super().__init__()
        self.k, self.stride, self.ceil_mode = k, stride, ceil_mode
        if k * k > 256:
            raise ValueError("pool window %dx%d too large for one-byte switches" % (k, k))
        self._switches, self._lazy = None, None

    @property
    def switches(self):
        """The last forward's switches; an eval forward on NumPy leaves them to be made here,
        from its input (kept for this), the first time they are asked for (a deconv, a
        backward): evaluation never needs them."""
        if self._switches is None and self._lazy is not None:
            self._switches = pool_switches(self._lazy, self.k, self.stride, self.ceil_mode)
            self._lazy = None
        return self._switches

    @classmethod
    def from_spec(cls, in_shape, args, init_std, rng):
        """``args``: k (3), stride (2), ceil_mode (True): the pooling of Z&F Fig. 3."""
        return cls(args.get("k", 3), args.get("stride", 2), args.get("ceil_mode", True))

    def forward(self, x, train=False):
        lazy = not train and not backend.use_kernels(x)
        y, self._switches = maxpool_forward(x, self.k, self.stride, self.ceil_mode,
                                            switches=not lazy)
        self._lazy = x if lazy else None
        self.cache = x.shape
        return y

    def backward(self, dy, need_dx=True):
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


def check_unpool_args(r, switches, x_shape, k, s):
    """ValueError unless r and switches are (N, C, Ho, Wo) alike, uint8 switches, and (Ho, Wo)
    is what a k/s pooling (floor or ceil mode) makes of ``x_shape``'s (H, W): the kernel reads
    r and switches at every window around each pixel, trusting these shapes."""
    if r.ndim != 4 or len(x_shape) != 4:
        raise ValueError("unpool: r must be (N, C, Ho, Wo) and x_shape (N, C, H, W), got %s and "
                         "%s" % (r.shape, tuple(x_shape)))
    if tuple(switches.shape) != tuple(r.shape) or switches.dtype != np.uint8:
        raise ValueError("unpool: switches %s %s, want uint8 of r's shape %s"
                         % (switches.dtype, tuple(switches.shape), tuple(r.shape)))
    if r.shape[1] != x_shape[1]:
        raise ValueError("unpool: r has %d channels, x_shape %d" % (r.shape[1], x_shape[1]))
    for axis, (out, size) in enumerate(zip(r.shape[2:], x_shape[2:])):
        allowed = {pool_output_size(size, k, s, False), pool_output_size(size, k, s, True)}
        if out < 1 or out not in allowed:
            raise ValueError("unpool: r is %s, but a %dx%d/%d pooling of %s gives %s on axis %d"
                             % (tuple(r.shape), k, k, s, tuple(x_shape), sorted(allowed),
                                axis + 2))


def _unpool_gpu(r, switches, x_shape, k, s):
    """``maxpool_bwd``: a gather, one thread per pixel of the (N, C, H, W) result."""
    check_unpool_args(r, switches, x_shape, k, s)
    xp = xp_of(r)
    r = xp.ascontiguousarray(r, dtype=np.float32)
    switches = xp.ascontiguousarray(switches)
    n, c, ho, wo = r.shape
    h, w = x_shape[2], x_shape[3]
    out = xp.empty((n, c, h, w), dtype=np.float32)
    i32 = np.int32
    backend.launch("pool", "maxpool_bwd", (r, switches, out, i32(n), i32(c), i32(h), i32(w), i32(k),
                                           i32(s), i32(ho), i32(wo)), out.size)
    return out
