"""Reference semantics written from first principles, as loops over pixels and windows: the
oracles the tests compare zfcore against. Nothing here imports zfcore. Float64 throughout.
"""
import numpy as np


# -- sizes --------------------------------------------------------------------------------------
def conv_out(h, k, s, p):
    """floor((h + 2p - k) / s) + 1."""
    return (h + 2 * p - k) // s + 1


def pool_out(h, k, s, ceil_mode=True):
    """floor((h - k) / s) + 1; ceil mode: ceil((h - k) / s) + 1, minus one if the last window
    would start at or past the end of the input (the PyTorch / Caffe rule)."""
    if not ceil_mode:
        return (h - k) // s + 1
    out = -(-(h - k) // s) + 1
    if (out - 1) * s >= h:
        out -= 1
    return out


# -- convolution --------------------------------------------------------------------------------
def pad_zero(x, p):
    n, c, h, w = x.shape
    out = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=np.float64)
    out[:, :, p:p + h, p:p + w] = x
    return out


def conv(x, W, b, s, p):
    """y[n, o, i, j] = b[o] + sum_{c, di, dj} xpad[n, c, i*s + di, j*s + dj] * W[o, c, di, dj]."""
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
    """The deconvnet's filtering: every r[n, o, i, j] paints r * W[o] (all input channels) onto
    the k x k patch its forward window read; the padding is cut off at the end."""
    _, c, h, w = x_shape
    o_, _, k, _ = W.shape
    out = np.zeros((r.shape[0], c, h + 2 * p, w + 2 * p))
    for b_ in range(r.shape[0]):
        for o in range(o_):
            for i in range(r.shape[2]):
                for j in range(r.shape[3]):
                    out[b_, :, i * s:i * s + k, j * s:j * s + k] += r[b_, o, i, j] * W[o]
    return out[:, :, p:p + h, p:p + w]


# -- pooling ------------------------------------------------------------------------------------
def maxpool(x, k, s, ceil_mode=True):
    """Max and switch (row-major offset di * k + dj inside the window) of every window, the last
    window clipped at the edge; scanning row-major with a strict '>' keeps the first maximum."""
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
    """Each r[n, c, i, j] is added at its window's switch in a zero map of ``x_shape``."""
    out = np.zeros((r.shape[0],) + tuple(x_shape[1:]), dtype=np.float64)
    n, c, ho, wo = r.shape
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    di, dj = divmod(int(sw[b, ch, i, j]), k)
                    out[b, ch, i * s + di, j * s + dj] += r[b, ch, i, j]
    return out


# -- local response normalisation ---------------------------------------------------------------
def lrn_denominator(a, size, alpha, k):
    """d[n, c] = k + alpha * sum_{c' : |c' - c| <= size // 2} a[n, c']^2 (channels that exist)."""
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
    """b[n, c] = a[n, c] / d[n, c] ** beta (Krizhevsky et al. 2012, Sec. 3.3; alpha not / size)."""
    return a / lrn_denominator(a, size, alpha, k) ** beta


def lrn_vjp(r, a, size, alpha, beta, k):
    """sum_c r_c db_c/da_j, with db_c/da_j = [c = j] d_c^-beta
    - 2 alpha beta a_c a_j d_c^(-beta-1) [|c - j| <= size // 2]."""
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


# -- keeping one activation ---------------------------------------------------------------------
def first_argmax(m):
    """(i, j) of the largest entry of a 2-D map, the first in row-major order on ties."""
    best, where = None, None
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if best is None or m[i, j] > best:
                best, where = m[i, j], (i, j)
    return where
