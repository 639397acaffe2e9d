"""Every layer again, as plain loops over pixels and windows: the readable reference.

These are the formulas of the paper written out one number at a time, in float64. They are
slow (use them on inputs small enough to print) and they share no code with the fast modules
beside them: the tests compare the fast code against these loops, so this file imports NumPy
only. Side by side with, e.g., ``conv.conv_forward`` (im2col and one matrix product) they show
what the vectorised code computes.

| here                      | fast version (module of zfcore.layers)    | paper                  |
|---------------------------|-------------------------------------------|------------------------|
| conv                      | conv.conv_forward                         | Z&F Sec. 2             |
| conv_transpose            | conv.conv_backward_data (deconv)          | Z&F Sec. 2.1 filtering |
| relu, relu_deconv         | activation.relu_forward, relu_deconv      | Z&F Sec. 2.1 rectify   |
| maxpool, unpool           | pool.maxpool_forward, unpool              | Z&F Sec. 2.1 unpooling |
| lrn, lrn_vjp              | lrn.lrn_forward, lrn_backward             | Krizhevsky Sec. 3.3    |
| linear, linear_transpose  | linear.linear_forward, linear_backward_data | Z&F Fig. 3 (6-8)     |
| softmax_cross_entropy     | loss.softmax_xent_forward                 | Z&F Sec. 2             |
"""
import math

import numpy as np


# -- sizes --------------------------------------------------------------------------------------
def conv_out(h, k, s, p):
    """Convolution output size: ``floor((h + 2p - k) / s) + 1``."""
    return (h + 2 * p - k) // s + 1


def pool_out(h, k, s, ceil_mode=True):
    """Pooling output size: ``floor((h - k) / s) + 1``; ceil mode: ``ceil((h - k) / s) + 1``,
    minus one if the last window would start at or past the end of the input (the PyTorch /
    Caffe rule)."""
    if not ceil_mode:
        return (h - k) // s + 1
    out = -(-(h - k) // s) + 1
    if (out - 1) * s >= h:
        out -= 1
    return out


# -- convolution (Z&F Sec. 2; deconv Sec. 2.1) --------------------------------------------------
def pad_zero(x, p):
    """x (N, C, H, W) with p zeros around each map: (N, C, H + 2p, W + 2p), float64."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=np.float64)
    out[:, :, p:p + h, p:p + w] = x
    return out


def conv(x, W, b, s, p):
    """``y[n, o, i, j] = b[o] + sum_{c, di, dj} xpad[n, c, i*s + di, j*s + dj] * W[o, c, di, dj]``.

    x (N, C, H, W), W (O, C, k, k), b (O,) -> y (N, O, Ho, Wo), Ho = floor((H + 2p - k)/s) + 1.
    A cross-correlation (no filter flip), as every framework computes it (Z&F Sec. 2).
    """
    n, c, h, w = x.shape
    o_, _, k, _ = W.shape
    ho, wo = conv_out(h, k, s, p), conv_out(w, k, s, p)
    xp = pad_zero(x, p)
    y = np.zeros((n, o_, ho, wo))
    for b_ in range(n):
        for o in range(o_):
            for i in range(ho):
                for j in range(wo):
                    total = float(b[o])
                    for cc in range(c):
                        for di in range(k):
                            for dj in range(k):
                                total += xp[b_, cc, i * s + di, j * s + dj] * W[o, cc, di, dj]
                    y[b_, o, i, j] = total
    return y


def conv_transpose(r, W, x_shape, s, p):
    """The deconvnet's filtering (Z&F Sec. 2.1), also conv's backward pass w.r.t. x: every
    ``r[n, o, i, j]`` paints ``r * W[o]`` (all input channels) onto the k x k patch its forward
    window read; the padding is cut off at the end. No bias.

    r (N, O, Ho, Wo), W (O, C, k, k) -> (N, C, H, W) with ``x_shape``'s C, H, W.
    """
    _, c, h, w = x_shape
    o_, _, k, _ = W.shape
    out = np.zeros((r.shape[0], c, h + 2 * p, w + 2 * p))
    for b_ in range(r.shape[0]):
        for o in range(o_):
            for i in range(r.shape[2]):
                for j in range(r.shape[3]):
                    out[b_, :, i * s:i * s + k, j * s:j * s + k] += r[b_, o, i, j] * W[o]
    return out[:, :, p:p + h, p:p + w]


# -- rectification (Z&F Sec. 2.1) ---------------------------------------------------------------
def relu(x):
    """``y = max(x, 0)``, one element at a time; any shape."""
    y = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        y[idx] = x[idx] if x[idx] > 0 else 0.0
    return y


def relu_deconv(r):
    """The deconvnet's rectification: ``max(r, 0)`` of the signal itself, whatever the forward
    pass saw (Z&F Sec. 2.1). The gradient would instead be ``r * (x > 0)``."""
    return relu(r)


# -- max-pooling and unpooling (Z&F Sec. 2.1, Fig. 1) ------------------------------------------
def maxpool(x, k, s, ceil_mode=True):
    """Max and switch (row-major offset ``di * k + dj`` inside the window) of every k x k window
    at (i*s, j*s), the last window clipped at the edge; scanning row-major with a strict '>'
    keeps the first maximum on ties.

    x (N, C, H, W) -> y (N, C, Ho, Wo) and switches (N, C, Ho, Wo) int64.
    """
    n, c, h, w = x.shape
    ho, wo = pool_out(h, k, s, ceil_mode), pool_out(w, k, s, ceil_mode)
    y = np.zeros((n, c, ho, wo), dtype=x.dtype)
    sw = np.zeros((n, c, ho, wo), dtype=np.int64)
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    best, where = None, None
                    for di in range(k):
                        for dj in range(k):
                            r, q = i * s + di, j * s + dj
                            if r >= h or q >= w:
                                continue                      # clipped
                            if best is None or x[b, ch, r, q] > best:
                                best, where = x[b, ch, r, q], di * k + dj
                    y[b, ch, i, j], sw[b, ch, i, j] = best, where
    return y, sw


def unpool(r, sw, x_shape, k, s):
    """Unpooling (Z&F Sec. 2.1), also max-pool's backward pass: each ``r[n, c, i, j]`` is added
    at its window's switch in a zero map of ``x_shape``; windows that chose the same pixel add.

    r (N, C, Ho, Wo), switches as ``maxpool`` returns them -> (N, C, H, W).
    """
    out = np.zeros((r.shape[0],) + tuple(x_shape[1:]), dtype=np.float64)
    n, c, ho, wo = r.shape
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    di, dj = divmod(int(sw[b, ch, i, j]), k)
                    out[b, ch, i * s + di, j * s + dj] += r[b, ch, i, j]
    return out


# -- local response normalisation (Krizhevsky et al. 2012, Sec. 3.3) ----------------------------
def lrn_denominator(a, size, alpha, k):
    """``d[n, c] = k + alpha * sum_{c' : |c' - c| <= size // 2} a[n, c']^2`` over the channels
    that exist (the window is clipped at both ends). a (N, C, ...) -> d, same shape."""
    n, C = a.shape[:2]
    d = np.zeros(a.shape, dtype=np.float64)
    for i in range(n):
        for c in range(C):
            total = np.zeros(a.shape[2:])
            for cc in range(C):
                if abs(cc - c) <= size // 2:
                    total = total + a[i, cc].astype(np.float64) ** 2
            d[i, c] = k + alpha * total
    return d


def lrn(a, size, alpha, beta, k):
    """``b[n, c] = a[n, c] / d[n, c] ** beta`` (Krizhevsky et al. 2012, Sec. 3.3; alpha is not
    divided by size). a (N, C, H, W) -> b, same shape."""
    return a / lrn_denominator(a, size, alpha, k) ** beta


def lrn_vjp(r, a, size, alpha, beta, k):
    """LRN's backward pass: ``sum_c r_c db_c/da_j``, with ``db_c/da_j = [c = j] d_c^-beta
    - 2 alpha beta a_c a_j d_c^(-beta-1) [|c - j| <= size // 2]``. r, a (N, C, H, W)."""
    d = lrn_denominator(a, size, alpha, k)
    n, C = a.shape[:2]
    out = np.zeros(a.shape)
    for i in range(n):
        for j in range(C):
            for c in range(C):
                term = np.zeros(a.shape[2:])
                if c == j:
                    term = term + d[i, c] ** -beta
                if abs(c - j) <= size // 2:
                    term = term - 2 * alpha * beta * a[i, c] * a[i, j] * d[i, c] ** (-beta - 1)
                out[i, j] += r[i, c] * term
    return out


# -- fully connected layers (Z&F Fig. 3, layers 6-8) -------------------------------------------
def linear(x, W, b):
    """``y[n, o] = b[o] + sum_j x[n, j] * W[o, j]``. x (N, D_in), W (D_out, D_in), b (D_out,)."""
    n, d_in = x.shape
    d_out = W.shape[0]
    y = np.zeros((n, d_out))
    for i in range(n):
        for o in range(d_out):
            total = float(b[o])
            for j in range(d_in):
                total += x[i, j] * W[o, j]
            y[i, o] = total
    return y


def linear_transpose(r, W):
    """The way down through a linear layer (its deconv, and its backward w.r.t. x):
    ``out[n, j] = sum_o r[n, o] * W[o, j]``, no bias. r (N, D_out) -> (N, D_in)."""
    n, d_out = r.shape
    d_in = W.shape[1]
    out = np.zeros((n, d_in))
    for i in range(n):
        for j in range(d_in):
            for o in range(d_out):
                out[i, j] += r[i, o] * W[o, j]
    return out


# -- the loss head (Z&F Sec. 2: a softmax classifier) -----------------------------------------
def softmax_cross_entropy(logits, labels):
    """``mean_n -log(exp(z[n, y_n]) / sum_j exp(z[n, j]))`` in plain Python floats (no
    max-subtraction: keep the logits moderate). logits (N, C), labels (N,) ints -> a float."""
    total = 0.0
    for z, y in zip(np.asarray(logits).tolist(), np.asarray(labels).tolist()):
        total += -math.log(math.exp(z[y]) / sum(math.exp(v) for v in z))
    return total / len(labels)


# -- keeping one activation (Z&F Sec. 2.1: one feature map's strongest activation) -------------
def first_argmax(m):
    """(i, j) of the largest entry of a 2-D map, the first in row-major order on ties."""
    best, where = None, None
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if best is None or m[i, j] > best:
                best, where = m[i, j], (i, j)
    return where
