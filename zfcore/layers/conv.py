"""Convolution: forward, backward, and the deconvnet's filtering step (Z&F Sec. 2.1).

The NumPy reference unfolds the input into columns (im2col) and does one BLAS product for the
whole batch. The loops below run over the k*k kernel offsets, never over pixels or images.
"""
import threading

import numpy as np

from zfcore import backend, parallel
from zfcore.backend import xp_of
from zfcore.layers.base import Layer, init_scale, register


def conv_output_size(h, k, s, p):
    """``floor((h + 2p - k) / s) + 1``."""
    return (h + 2 * p - k) // s + 1


def _phase_span(a, s, p, h):
    """The rows of x (height h) that land in stride phase a of x zero-padded by p (padded rows
    a, a+s, a+2s, ...), as a slice of x, and where they land, as a slice of the phase."""
    first = (a - p) % s
    at = (first + p) // s
    return slice(first, h, s), slice(at, at + len(range(first, h, s)))


def _padded_phases(x, s, p):
    """x (N, C, H, W) zero-padded by p, channels first, split into its s*s stride phases:
    ``phases[a][b] = xpad.transpose(1, 0, 2, 3)[:, :, a::s, b::s]``, each contiguous (C, N, ., .).

    Kernel offset (i, j) of output (oi, oj) reads padded pixel (oi*s + i, oj*s + j), which is
    ``phases[i % s][j % s][:, :, oi + i // s, oj + j // s]``: every offset is a shifted block of
    one phase, already in the (C, N) order of the columns, so im2col copies whole rows.
    """
    xp = xp_of(x)
    n, c, h, w = x.shape
    phases = []
    for a in range(s):
        rows_x, rows_ph = _phase_span(a, s, p, h)
        row = []
        for b in range(s):
            cols_x, cols_ph = _phase_span(b, s, p, w)
            phase = xp.zeros((c, n, len(range(a, h + 2 * p, s)), len(range(b, w + 2 * p, s))),
                             dtype=x.dtype)
            phase[:, :, rows_ph, cols_ph] = x[:, :, rows_x, cols_x].transpose(1, 0, 2, 3)
            row.append(phase)
        phases.append(row)
    return phases


def reuse(buf, shape, dtype):
    """``buf`` reshaped to ``shape`` if it is a C-contiguous NumPy array of that size and
    ``dtype``, else a new empty array. Columns of a layer's size (tens of MB: over glibc's 32 MB
    mmap limit) come fresh from the kernel on every allocation, and faulting in fresh pages costs
    about as much as filling them: a caller hands a buffer it keeps (a thread's ``scratch``)
    back here."""
    if (isinstance(buf, np.ndarray) and buf.size == int(np.prod(shape)) and buf.dtype == dtype
            and buf.flags.c_contiguous):
        return buf.reshape(shape)
    return np.empty(shape, dtype=dtype)


_scratch = threading.local()


def scratch(shape, dtype, slot="dcols"):
    """A (shape, dtype) view of this thread's scratch buffer named ``slot`` (grown to the largest
    request): for a temporary that is dead before the next request of that slot, like the data
    gradient's columns, or one image block's columns."""
    size = int(np.prod(shape))
    bufs = getattr(_scratch, "bufs", None)
    if bufs is None:
        bufs = _scratch.bufs = {}
    buf = bufs.get(slot)
    if buf is None or buf.dtype != dtype or buf.size < size:
        buf = bufs[slot] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


def im2col(x, k, s, p, out=None):
    """Unfold ``x`` (N, C, H, W) into columns (C*k*k, N*Ho*Wo).

    Row ``(c, i, j)`` holds the input pixel at offset (i, j) of every window of channel c, so the
    convolution is ``W.reshape(C_out, -1) @ cols``. Channels are split over the cores
    (``zfcore.parallel``), in pieces that stay in cache.
    """
    if backend.use_kernels(x):
        return _im2col_gpu(x, k, s, p)
    xp = xp_of(x)
    n, c, h, w = x.shape
    ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
    shape = (c, k, k, n, ho, wo)
    cols = reuse(out, shape, x.dtype) if xp is np else xp.empty(shape, dtype=x.dtype)

    def part(lo, hi):
        phases = _padded_phases(x[:, lo:hi], s, p)
        for i in range(k):
            for j in range(k):
                cols[lo:hi, i, j] = phases[i % s][j % s][:, :, i // s:i // s + ho,
                                                         j // s:j // s + wo]

    parallel.over(c, part, cols.size + x.size, like=x)
    return cols.reshape(c * k * k, n * ho * wo)


def col2im(cols, x_shape, k, s, p, out=None):
    """The adjoint of ``im2col``: fold columns (C*k*k, N*Ho*Wo) back into (N, C, H, W), adding
    the values that overlapping windows share (into ``out`` if given). Channels are split over
    the cores."""
    if backend.use_kernels(cols):
        return _col2im_gpu(cols, x_shape, k, s, p)
    xp = xp_of(cols)
    n, c, h, w = x_shape
    ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
    cols = cols.reshape(c, k, k, n, ho, wo)
    x = xp.empty((n, c, h, w), dtype=cols.dtype) if out is None else out

    def part(lo, hi):
        phases = [[xp.zeros((hi - lo, n, len(range(a, h + 2 * p, s)), len(range(b, w + 2 * p, s))),
                            dtype=cols.dtype) for b in range(s)] for a in range(s)]
        for i in range(k):
            for j in range(k):
                phases[i % s][j % s][:, :, i // s:i // s + ho, j // s:j // s + wo] += \
                    cols[lo:hi, i, j]
        for a in range(s):
            rows_x, rows_ph = _phase_span(a, s, p, h)
            for b in range(s):
                cols_x, cols_ph = _phase_span(b, s, p, w)
                x[:, lo:hi, rows_x, cols_x] = \
                    phases[a][b][:, :, rows_ph, cols_ph].transpose(1, 0, 2, 3)

    parallel.over(c, part, cols.size + x.size, like=cols)
    return x


# -- stride 1: columns as wide as the padded rows ---------------------------------------------
# With stride 1, window offset (i, j) of output (oi, oj) reads padded pixel (oi + i, oj + j).
# Lay the padded planes out with a row stride Wp and give the columns that width instead of Wo:
# entry (oi, q) of image n for offset (i, j) is then flat entry ``n*Hp*Wp + (oi + i)*Wp + j + q``
# of the planes, so one offset is ONE run of Ho*Wp pixels per image (not Ho runs of Wo: 8 pixels
# at 8x8, where NumPy's per-row cost dominated). A row is [p zeros][W pixels] (plus zeros only if
# p > k - 1): its right-hand padding is the next row's left-hand zeros, so Wp = W + p, not W + 2p.
# The Wp - Wo extra columns of each row are garbage on the way up (dropped when the bias is added)
# and exactly zero on the way down (``dy_rows`` writes zeros there): the products cost Wp/Wo more
# (9/8 at 8x8 with 3x3 pad 1) and the copies several times less.

def wide_geometry(h, w, k, p):
    """(Hp, Wp, Ho, plane, tail) for a stride-1 convolution: the padded height, the row stride,
    the output height, a padded plane's size, and the zeros after a channel's last plane that
    the last offset's run reads past it."""
    hp, wp = h + 2 * p, w + p + max(0, p - (k - 1))
    return hp, wp, hp - k + 1, hp * wp, (k - 1) * (wp + 1)


def _padded_planes(x, k, p):
    """x (N, C, H, W) zero-padded by p, channels first: (C, N*Hp*Wp + tail), each channel's N
    padded planes in one row, then ``tail`` zeros."""
    xp = xp_of(x)
    n, c, h, w = x.shape
    hp, wp, _, plane, tail = wide_geometry(h, w, k, p)
    planes = xp.empty((c, n * plane + tail), dtype=x.dtype)
    grid = planes[:, :n * plane].reshape(c, n, hp, wp)
    grid[:, :, p:p + h, p:p + w] = x.transpose(1, 0, 2, 3)
    for border in (grid[:, :, :p], grid[:, :, p + h:], grid[:, :, p:p + h, :p],
                   grid[:, :, p:p + h, p + w:], planes[:, n * plane:]):
        border[...] = 0                                         # zeros only where x is not
    return planes


def im2col_wide(x, k, p, out=None):
    """Stride-1 columns (C*k*k, N*Ho*Wp): row (c, i, j), column (n, oi, q) holds padded pixel
    (oi + i, q + j) of image n; for q < Wo that is ``im2col``'s entry (n, oi, q). Channels are
    split over the cores."""
    xp = xp_of(x)
    n, c, h, w = x.shape
    _, wp, ho, plane, _ = wide_geometry(h, w, k, p)
    shape = (c, k, k, n, ho * wp)
    cols = reuse(out, shape, x.dtype) if xp is np else xp.empty(shape, dtype=x.dtype)

    def part(lo, hi):
        planes = _padded_planes(x[:, lo:hi], k, p)
        for i in range(k):
            for j in range(k):
                at = i * wp + j
                cols[lo:hi, i, j] = planes[:, at:at + n * plane].reshape(hi - lo, n, plane)[
                    :, :, :ho * wp]

    parallel.over(c, part, cols.size + x.size, like=x)
    return cols.reshape(c * k * k, n * ho * wp)


def col2im_wide(cols, x_shape, k, p, out=None):
    """The adjoint of ``im2col_wide`` on columns whose extra entries (q >= Wo) are zero: fold
    (C*k*k, N*Ho*Wp) back into (N, C, H, W) (into ``out`` if given), offsets added in the order
    ``col2im`` adds them."""
    xp = xp_of(cols)
    n, c, h, w = x_shape
    hp, wp, ho, plane, tail = wide_geometry(h, w, k, p)
    cols = cols.reshape(c, k, k, n, ho * wp)
    x = xp.empty((n, c, h, w), dtype=cols.dtype) if out is None else out

    def part(lo, hi):
        planes = xp.zeros((hi - lo, n * plane + tail), dtype=cols.dtype)
        for i in range(k):
            for j in range(k):
                at = i * wp + j
                planes[:, at:at + n * plane].reshape(hi - lo, n, plane)[:, :, :ho * wp] += \
                    cols[lo:hi, i, j]
        x[:, lo:hi] = planes[:, :n * plane].reshape(hi - lo, n, hp, wp)[
            :, :, p:p + h, p:p + w].transpose(1, 0, 2, 3)

    parallel.over(c, part, cols.size + x.size, like=cols)
    return x


def _wide(x, s):
    """True where a convolution takes the wide stride-1 columns (the NumPy/xp path)."""
    return s == 1 and not backend.use_kernels(x)


def conv_forward(x, W, b, s=1, p=0, relu=False):
    """``y[n, o] = sum_c x[n, c] * W[o, c] + b[o]`` (cross-correlation, as every framework);
    with ``relu``, ``max(y, 0)`` (the ReLU that follows most convs, fused on the GPU into the
    pass that adds the bias and writes NCHW).

    x (N, C, H, W), W (C_out, C, k, k), b (C_out,) -> y (N, C_out, Ho, Wo), and ``cols`` for
    backward. Ho = floor((H + 2p - k) / s) + 1.
    """
    n = x.shape[0]
    c_out, _, k, _ = W.shape
    ho, wo = conv_output_size(x.shape[2], k, s, p), conv_output_size(x.shape[3], k, s, p)
    if _wide(x, s):
        cols = im2col_wide(x, k, p)                 # (C*k*k, N*Ho*Wp)
        return bias_nchw(W.reshape(c_out, -1) @ cols, b, n, ho, wo, relu), cols
    cols = im2col(x, k, s, p)                   # (C*k*k, N*Ho*Wo)
    y = W.reshape(c_out, -1) @ cols                             # (C_out, N*Ho*Wo)
    if backend.use_kernels(y):
        return _bias_nchw_gpu(y, b, n, ho, wo, relu), cols
    return bias_nchw(y, b, n, ho, wo, relu), cols


def bias_nchw(rows, b, n, ho, wo, relu=False, out=None):
    """The product's rows (C_out, N*Ho*Wo), or wide ones (C_out, N*Ho*Wp) whose extra columns
    are dropped, + b, written as the contiguous (N, C_out, Ho, Wo) result (into ``out`` if
    given) in one pass (and rectified, with ``relu``); images split over the cores."""
    xp = xp_of(rows)
    c_out = rows.shape[0]
    width = rows.shape[1] // (n * ho)
    src = rows.reshape(c_out, n, ho, width)[:, :, :, :wo].transpose(1, 0, 2, 3)  # a view
    y = xp.empty((n, c_out, ho, wo), dtype=rows.dtype) if out is None else out
    bias = b.reshape(1, c_out, 1, 1)

    def part(lo, hi):
        xp.add(src[lo:hi], bias, out=y[lo:hi])
        if relu:
            xp.maximum(y[lo:hi], 0, out=y[lo:hi])

    parallel.over(n, part, 2 * y.size, like=rows)
    return y


def dy_rows(dy, width=None, mask=None, out=None):
    """dy (N, C_out, Ho, Wo) as the (C_out, N*Ho*Wo) matrix both backward products take (a
    transposed copy: make it once per backward and pass it to both as ``rows``); with ``width``
    (the padded Wp of a stride-1 conv), the wide (C_out, N*Ho*Wp) matrix, zero past Wo. With
    ``mask`` (dy's shape), ``dy * (mask > 0)`` in the same pass: the backward of the ReLU that
    followed the conv (its output as the mask). ``out``: a (C_out, N*Ho*width) buffer to fill."""
    if mask is not None and (backend.use_kernels(dy) or mask.shape != dy.shape):
        dy, mask = dy * (mask > 0), None
    if backend.use_kernels(dy):
        return _nchw_rows_gpu(dy)
    xp = xp_of(dy)
    n, c_out, ho, wo = dy.shape
    width = wo if width is None else width
    rows = xp.empty((c_out, n * ho * width), dtype=dy.dtype) if out is None else out
    src = dy.transpose(1, 0, 2, 3)                              # (C_out, N, Ho, Wo), a view
    keep = None if mask is None else mask.transpose(1, 0, 2, 3)
    dst = rows.reshape(c_out, n, ho, width)

    def part(lo, hi):
        if keep is None:
            dst[lo:hi, :, :, :wo] = src[lo:hi]
        else:
            xp.multiply(src[lo:hi], keep[lo:hi] > 0, out=dst[lo:hi, :, :, :wo])
        dst[lo:hi, :, :, wo:] = 0

    parallel.over(c_out, part, 2 * rows.size, like=dy)
    return rows


def conv_backward_data(dy, W, x_shape, s=1, p=0, rows=None):
    """dL/dx of a convolution, which is also the deconvnet's filtering step (Z&F Sec. 2.1):
    a transposed convolution with the same filters (flipped, in/out channels swapped), no bias.

    dy (N, C_out, Ho, Wo), W (C_out, C, k, k) -> dx with exactly ``x_shape``; ``rows``:
    ``dy_rows(dy)`` if already made (wide, for stride 1 on NumPy: ``conv_dy_rows``).
    """
    c_out, _, k, _ = W.shape
    dy2 = conv_dy_rows(dy, x_shape, k, s, p) if rows is None else rows
    Wt = W.reshape(c_out, -1).T
    if xp_of(dy2) is np and dy2.dtype == Wt.dtype:              # (C*k*k, N*Ho*Wo or Wp)
        # a contiguous copy of the (small) transposed filters: ~25% faster in OpenBLAS
        dcols = np.matmul(np.ascontiguousarray(Wt), dy2,
                          out=scratch((Wt.shape[0], dy2.shape[1]), dy2.dtype))
    else:
        dcols = Wt @ dy2
    if _wide(dy, s):
        return col2im_wide(dcols, x_shape, k, p)
    return col2im(dcols, x_shape, k, s, p)


def conv_backward_params(dy, cols, W_shape, rows=None):
    """dL/dW (C_out, C, k, k) and dL/db (C_out,) from dy (N, C_out, Ho, Wo) and the forward
    pass's columns (C*k*k, N*Ho*Wo, or N*Ho*Wp when wide); ``rows``: the matching
    ``dy_rows`` if already made."""
    n, _, ho, _ = dy.shape
    dy2 = dy_rows(dy, cols.shape[1] // (n * ho)) if rows is None else rows
    if xp_of(cols) is np:
        # (cols @ dy2.T).T: OpenBLAS runs this shape ~20% faster than dy2 @ cols.T (the long K
        # axis is the rows of both operands); the transpose copies only the small result
        dW = np.ascontiguousarray((cols @ dy2.T).T).reshape(W_shape)
    else:
        dW = (dy2 @ cols.T).reshape(W_shape)
    db = dy2.sum(axis=1)
    return dW, db


def conv_dy_rows(dy, x_shape, k, s, p, mask=None):
    """``dy_rows`` as the columns of this convolution take it: wide for stride 1 on NumPy."""
    return dy_rows(dy, wide_geometry(x_shape[2], x_shape[3], k, p)[1] if _wide(dy, s) else None,
                   mask)


# -- NumPy: the batch in image blocks that stay in cache ---------------------------------------
# The whole-batch columns of a layer are tens of MB, so each op of the pass streams through
# memory. Cut into blocks of ~``parallel.PIECE`` column entries (about one core's L2), a block's
# columns, product and NCHW write stay in cache, and the blocks run on every core, each product
# on one BLAS thread (``parallel.over(products=True)``), as PyTorch's own im2col convolution
# (slow_conv2d) unfolds and multiplies image by image on each of its threads.
# No columns are kept for backward: each block makes its own again from the kept input.

def _block_geometry(x_shape, k, s, p):
    """(C*k*k, the columns of one image, Ho, Wo, the rows' width: Wp when wide, else Wo)."""
    _, c, h, w = x_shape
    ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
    width = wide_geometry(h, w, k, p)[1] if s == 1 else wo
    return c * k * k, ho * width, ho, wo, width


def _block_columns(x, k, s, p, slot):
    """The columns of a block of images in this thread's scratch ``slot``: wide for stride 1."""
    kk, per, _, _, _ = _block_geometry(x.shape, k, s, p)
    buf = scratch((kk, len(x) * per), x.dtype, slot)
    return im2col_wide(x, k, p, buf) if s == 1 else im2col(x, k, s, p, buf)


def conv_forward_blocks(x, W, b, s=1, p=0, relu=False):
    """``conv_forward`` on NumPy arrays, block by block of images (above): each block's columns,
    its product ``W @ cols`` and the biased (and, with ``relu``, rectified) NCHW write. Returns
    y only: backward makes the columns again."""
    n = x.shape[0]
    c_out, _, k, _ = W.shape
    kk, per, ho, wo, _ = _block_geometry(x.shape, k, s, p)
    dtype = np.result_type(x, W, b)
    y = np.empty((n, c_out, ho, wo), dtype=dtype)
    W2 = W.reshape(c_out, -1)

    def block(lo, hi):
        cols = _block_columns(x[lo:hi], k, s, p, "cols")
        rows = np.matmul(W2, cols, out=scratch((c_out, cols.shape[1]), dtype, "rows"))
        bias_nchw(rows, b, hi - lo, ho, wo, relu, out=y[lo:hi])

    parallel.over(n, block, n * kk * per, like=x, products=True)
    return y


def conv_backward_blocks(x, dy, W, s=1, p=0, mask=None, need_dx=True):
    """(dx or None, dW, db) of a convolution on NumPy arrays, block by block of images: each
    block's dy rows (times ``mask > 0``: the fused ReLU's backward, as in ``dy_rows``), its
    columns made again from x, its share of dW and db, and its data gradient folded into dx.
    The blocks' shares of dW and db are added in block order, so the sums are the same numbers
    on any number of threads."""
    n = x.shape[0]
    c_out, _, k, _ = W.shape
    kk, per, _, _, width = _block_geometry(x.shape, k, s, p)
    dtype = np.result_type(dy, W)
    dx = np.empty(x.shape, dtype=dtype) if need_dx else None
    Wt = np.ascontiguousarray(W.reshape(c_out, -1).T)
    shares = {}

    def block(lo, hi):
        m = hi - lo
        rows = dy_rows(dy[lo:hi], width, None if mask is None else mask[lo:hi],
                       out=scratch((c_out, m * per), dy.dtype, "rows"))
        cols = _block_columns(x[lo:hi], k, s, p, "cols")
        shares[lo] = (cols @ rows.T, rows.sum(axis=1))          # (C*k*k, C_out), (C_out,)
        if need_dx:
            dcols = np.matmul(Wt, rows, out=scratch((kk, m * per), dtype, "dcols"))
            if s == 1:
                col2im_wide(dcols, (m,) + x.shape[1:], k, p, out=dx[lo:hi])
            else:
                col2im(dcols, (m,) + x.shape[1:], k, s, p, out=dx[lo:hi])

    parallel.over(n, block, n * kk * per, like=x, products=True)
    order = sorted(shares)
    dWt, db = shares[order[0]][0].copy(), shares[order[0]][1].copy()
    for lo in order[1:]:
        dWt += shares[lo][0]
        db += shares[lo][1]
    return dx, np.ascontiguousarray(dWt.T).reshape(W.shape), db


@register("conv")
class Conv2D(Layer):
    """2-D convolution (Z&F Sec. 2); ``deconv`` is the transposed convolution of Sec. 2.1.

    Args:
        c_in, c_out: input and output channels.
        k: square kernel size; stride, pad: the same in both directions (zero padding).
        std: weights ~ N(0, std^2) (Z&F Sec. 3: 1e-2); biases 0.
        rng: the numpy Generator the weights are drawn from (default: seed 0).

    Shapes: x (N, c_in, H, W) -> y (N, c_out, Ho, Wo), Ho = floor((H + 2 pad - k) / stride) + 1;
    params ``W`` (c_out, c_in, k, k), ``b`` (c_out,); deconv r (N, c_out, Ho, Wo) -> (N, c_in,
    H, W), the forward input's shape.
    """

    def __init__(self, c_in, c_out, k, stride=1, pad=0, std=1e-2, rng=None):
        super().__init__()
        self.c_in, self.c_out, self.k, self.stride, self.pad = c_in, c_out, k, stride, pad
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params = {
            "W": (rng.standard_normal((c_out, c_in, k, k)) * std).astype(np.float32),
            "b": np.zeros(c_out, dtype=np.float32),
        }

    @classmethod
    def from_spec(cls, in_shape, args, init_std, rng):
        """``args``: c_out, k, stride (1), pad (0); c_in is ``in_shape[0]``; fan-in c_in*k*k."""
        c_in, k = in_shape[0], args["k"]
        return cls(c_in, args["c_out"], k, args.get("stride", 1), args.get("pad", 0),
                   std=init_scale(init_std, c_in * k * k), rng=rng)

    def fuses(self, nxt):
        """A ReLU after the conv is applied in the pass that adds the bias and writes NCHW."""
        return nxt.kind == "relu"

    def forward(self, x, train=False, then=None):
        """On NumPy, block by block of images (``conv_forward_blocks``), keeping x; with the GPU
        kernels (or their emulator), in one product over the batch, keeping the columns."""
        W, b, relu = self.params["W"], self.params["b"], then is not None
        if isinstance(x, np.ndarray) and not backend.use_kernels(x):
            self.cache = (x.shape, x, None)
            return conv_forward_blocks(x, W, b, self.stride, self.pad, relu)
        self.cache = None
        y, cols = conv_forward(x, W, b, self.stride, self.pad, relu=relu)
        self.cache = (x.shape, None, cols)
        return y

    def backward(self, dy, need_dx=True, then=None):
        """Fills grads; returns dL/dx, or None with ``need_dx=False`` (the first layer of a
        training step has no use for it, and it costs a product and a col2im). ``then``: the
        ReLU after the conv (``fuses``), whose backward is done in the copy of dy into rows."""
        x_shape, x, cols = self.cache
        W = self.params["W"]
        mask = then.cache if then is not None else None          # the ReLU's output
        if cols is None:
            dx, self.grads["W"], self.grads["b"] = conv_backward_blocks(
                x, dy, W, self.stride, self.pad, mask, need_dx)
            return dx
        rows = conv_dy_rows(dy, x_shape, self.k, self.stride, self.pad, mask)  # once for both
        self.grads["W"], self.grads["b"] = conv_backward_params(dy, cols, W.shape, rows)
        if not need_dx:
            return None
        return conv_backward_data(dy, W, x_shape, self.stride, self.pad, rows)

    def deconv(self, r):
        x_shape = self.cache[0]
        return conv_backward_data(r, self.params["W"], (r.shape[0],) + tuple(x_shape[1:]),
                                  self.stride, self.pad)

    def output_shape(self, in_shape):
        _, h, w = in_shape
        return (self.c_out, conv_output_size(h, self.k, self.stride, self.pad),
                conv_output_size(w, self.k, self.stride, self.pad))

    def describe(self):
        return "%d->%d, %dx%d/%d pad %d" % (self.c_in, self.c_out, self.k, self.k, self.stride,
                                            self.pad)


# -- GPU: kernels/conv.cu (the products go to cuBLAS through CuPy's matmul in the xp bodies) ---
def _im2col_gpu(x, k, s, p):
    """``im2col``: one thread per (c, n, oi, oj) writes its k*k column entries."""
    xp = xp_of(x)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
    cols = xp.empty((c * k * k, n * ho * wo), dtype=np.float32)
    i32 = np.int32
    backend.launch("conv", "im2col", (x, cols, i32(n), i32(c), i32(h), i32(w), i32(k), i32(s),
                                      i32(p), i32(ho), i32(wo)), c * n * ho * wo)
    return cols


def _col2im_gpu(cols, x_shape, k, s, p):
    """``col2im``: a gather, one thread per input pixel; no atomics."""
    xp = xp_of(cols)
    cols = xp.ascontiguousarray(cols)
    n, c, h, w = x_shape
    ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
    if tuple(cols.shape) != (c * k * k, n * ho * wo):
        raise ValueError("col2im: columns %s, but %s with %dx%d/%d pad %d needs %s (is dy the "
                         "shape of the forward output?)" % (tuple(cols.shape), tuple(x_shape), k,
                                                            k, s, p, (c * k * k, n * ho * wo)))
    x = xp.empty((n, c, h, w), dtype=np.float32)
    i32 = np.int32
    backend.launch("conv", "col2im", (cols, x, i32(n), i32(c), i32(h), i32(w), i32(k), i32(s),
                                      i32(p), i32(ho), i32(wo)), x.size)
    return x


def _bias_nchw_gpu(rows, b, n, ho, wo, relu):
    """``bias_nchw``: the product's rows (C_out, N*Ho*Wo) + b, optionally rectified, written as
    (N, C_out, Ho, Wo) in one pass."""
    xp = xp_of(rows)
    c_out = rows.shape[0]
    if rows.shape != (c_out, n * ho * wo) or b.shape != (c_out,):
        raise ValueError("bias_nchw: rows %s and bias %s for (%d, %d, %d, %d)"
                         % (rows.shape, b.shape, n, c_out, ho, wo))
    rows = xp.ascontiguousarray(rows)
    y = xp.empty((n, c_out, ho, wo), dtype=np.float32)
    backend.launch("conv", "bias_nchw", (rows, xp.ascontiguousarray(b, dtype=np.float32), y,
                                         np.int32(n), np.int32(c_out), np.int32(ho * wo),
                                         np.int32(bool(relu))), y.size)
    return y


def _nchw_rows_gpu(dy):
    """``nchw_rows``: dy (N, C_out, Ho, Wo) -> (C_out, N*Ho*Wo) in one pass."""
    xp = xp_of(dy)
    if dy.ndim != 4:
        raise ValueError("conv backward: dy must be (N, C_out, Ho, Wo), got %s" % (dy.shape,))
    n, c_out, ho, wo = dy.shape
    dy = xp.ascontiguousarray(dy, dtype=np.float32)
    rows = xp.empty((c_out, n * ho * wo), dtype=np.float32)
    backend.launch("conv", "nchw_rows", (dy, rows, np.int32(n), np.int32(c_out),
                                         np.int32(ho * wo)), rows.size)
    return rows
