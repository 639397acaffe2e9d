"""Two other ways to run the 3x3 stride-1 convolutions on NumPy, against the layer's own path
(``zfcore.layers.conv``: im2col in image blocks), on one core, one image block at a time.

    python bench/conv_algorithms.py [--repeat 15]

1. Winograd's F(2x2, 3x3) (Lavin & Gray, CVPR 2016): 2x2 output tiles from 4x4 input patches,
   ``y = A^T [sum_c (G g_c G^T) * (B^T d_c B)] A``; per entry (a, b) of the 4x4 domain, one
   product (tiles, C) @ (C, C_out): 16 multiplies a tile and channel pair against im2col's 36.
   The transforms are sums and differences of channels-last arrays (B^T, A^T hold 0 and +-1),
   done one row a of the domain at a time so that a block stays in cache. Backward: dM = A dY
   A^T, dU = dM^T V (dW = G^T dU G), dV = dM U (dx = B dV B^T added over the overlapping
   patches).
2. Shifted products (an implicit im2col): the input zero-padded into planes with the wide
   columns' row stride (``conv.wide_geometry``); for each of the 9 kernel offsets, one product
   of the (C_out, C) filter slice with the planes shifted by that offset, accumulated into the
   output (BLAS's beta = 1, which ``np.matmul`` cannot do: the BLAS NumPy ships is called
   through ``ctypes``). The data gradient goes the same way into shifted windows of the padded
   dx. No columns and no col2im at all.

Correctness first: both against the naive loop in float64 (Winograd) or float32 (the shifted
products, sgemm only), and both backward passes against the layer's. Then each is timed against
the layer's path on the same block (ratio = layer / this, so > 1 is faster), with BLAS on one
thread, as the layer runs its blocks. Neither was faster enough to keep (bench/RESULTS.md, "Where
the small step's time goes"); this script is their record.
"""
import argparse
import ctypes
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from zfcore import parallel  # noqa: E402
from zfcore.layers.conv import (_padded_planes, conv_backward_blocks,  # noqa: E402
                                conv_forward_blocks, conv_output_size, wide_geometry)
from zfcore.layers.naive import conv as conv_naive  # noqa: E402

# (images in the block, C, C_out, H, W): the small net's 3x3 layers, then ZFNet's
SHAPES = [(16, 96, 96, 8, 8), (16, 64, 96, 8, 8), (16, 96, 64, 8, 8), (8, 32, 64, 16, 16),
          (2, 384, 384, 13, 13), (2, 256, 384, 13, 13)]

# -- 1. Winograd F(2x2, 3x3) ----------------------------------------------------------------------
BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]])
AT = ((1, 1, 1, 0), (0, 1, -1, -1))
B, A = tuple(zip(*BT)), tuple(zip(*AT))


def _combine(coefs, parts, out):
    """out = sum_j coefs[j] * parts[j], coefficients 0 and +-1."""
    terms = sorted([(c, q) for c, q in zip(coefs, parts) if c], key=lambda t: -t[0])
    (c0, first), rest = terms[0], terms[1:]
    np.copyto(out, first) if c0 > 0 else np.negative(first, out=out)
    for c, q in rest:
        (np.add if c > 0 else np.subtract)(out, q, out=out)
    return out


def _filters(W):
    """U (16, C_out, C) = G g G^T, as one product with kron(G, G) (16, 9)."""
    K = np.kron(G, G).astype(W.dtype)
    return (K @ W.reshape(-1, 9).T).reshape(16, *W.shape[:2])


def _padded_last(x, p, th, tw):
    m, c, h, w = x.shape
    xpad = np.zeros((m, 2 * th + 2, 2 * tw + 2, c), dtype=x.dtype)
    xpad[:, p:p + h, p:p + w] = x.transpose(0, 2, 3, 1)
    return xpad


def _input_row(xpad, a, th, tw, out):
    """V[a, b] (4, tiles, C) for b = 0..3: row a of B^T d B."""
    m, _, wp, c = xpad.shape
    rows = _combine(BT[a], [xpad[:, i:i + 2 * th:2] for i in range(4)],
                    np.empty((m, th, wp, c), dtype=out.dtype))
    V = out.reshape(4, m, th, tw, c)
    for b in range(4):
        _combine(BT[b], [rows[:, :, j:j + 2 * tw:2] for j in range(4)], V[b])
    return out


def winograd_forward(x, W, b, p, relu):
    m, c, h, w = x.shape
    c_out = W.shape[0]
    ho, wo = h + 2 * p - 2, w + 2 * p - 2
    th, tw = (ho + 1) // 2, (wo + 1) // 2
    Ut = _filters(W).transpose(0, 2, 1)
    xpad = _padded_last(x, p, th, tw)
    V = np.empty((4, m * th * tw, c), dtype=x.dtype)
    M = np.empty((4, m * th * tw, c_out), dtype=x.dtype)
    P = np.empty((m, th, tw, c_out), dtype=x.dtype)
    Y = np.zeros((m, th, 2, tw, 2, c_out), dtype=x.dtype)
    for a in range(4):
        np.matmul(_input_row(xpad, a, th, tw, V), Ut[4 * a:4 * a + 4], out=M)
        for q in range(2):
            _combine(AT[q], M.reshape(4, m, th, tw, c_out), P)
            for r in range(2):
                if AT[r][a]:
                    (np.add if AT[r][a] > 0 else np.subtract)(Y[:, :, r, :, q], P,
                                                              out=Y[:, :, r, :, q])
    y = np.ascontiguousarray(Y.reshape(m, 2 * th, 2 * tw, c_out)[:, :ho, :wo].transpose(0, 3, 1, 2))
    y += b.reshape(1, -1, 1, 1)
    return np.maximum(y, 0, out=y) if relu else y


def winograd_backward(x, dy, W, p, mask):
    m, c, h, w = x.shape
    c_out, ho, wo = dy.shape[1:]
    th, tw = (ho + 1) // 2, (wo + 1) // 2
    U = _filters(W)
    dy = dy * (mask > 0)
    dY = np.zeros((m, 2 * th, 2 * tw, c_out), dtype=x.dtype)
    dY[:, :ho, :wo] = dy.transpose(0, 2, 3, 1)
    xpad = _padded_last(x, p, th, tw)
    n_t = m * th * tw
    V, dV = np.empty((4, n_t, c), dtype=x.dtype), np.empty((4, n_t, c), dtype=x.dtype)
    dM, dU = np.empty((4, n_t, c_out), dtype=x.dtype), np.empty((16, c_out, c), dtype=x.dtype)
    col, dxpad = np.empty((m, th, tw, c), dtype=x.dtype), np.zeros_like(xpad)
    for a in range(4):
        rows = _combine(A[a], [dY[:, r::2] for r in range(2)],
                        np.empty((m, th, 2 * tw, c_out), dtype=x.dtype))
        for b in range(4):
            _combine(A[b], [rows[:, :, q::2] for q in range(2)],
                     dM.reshape(4, m, th, tw, c_out)[b])
        np.matmul(dM.transpose(0, 2, 1), _input_row(xpad, a, th, tw, V), out=dU[4 * a:4 * a + 4])
        parts = np.matmul(dM, U[4 * a:4 * a + 4], out=dV).reshape(4, m, th, tw, c)
        for j in range(4):
            _combine(B[j], parts, col)
            for i in range(4):
                if B[i][a]:
                    win = dxpad[:, i:i + 2 * th:2, j:j + 2 * tw:2]
                    (np.add if B[i][a] > 0 else np.subtract)(win, col, out=win)
    dx = np.ascontiguousarray(dxpad[:, p:p + h, p:p + w].transpose(0, 3, 1, 2))
    dW = (dU.reshape(16, -1).T @ np.kron(G, G).astype(x.dtype)).reshape(W.shape)
    return dx, dW, dY.reshape(-1, c_out).sum(axis=0)


# -- 2. shifted products --------------------------------------------------------------------------
def _cblas_sgemm():
    """NumPy's own BLAS sgemm through ctypes (OpenBLAS as NumPy's wheels ship it), or None."""
    try:
        from threadpoolctl import threadpool_info
        path = [i["filepath"] for i in threadpool_info() if i["user_api"] == "blas"][0]
        lib = ctypes.CDLL(path)
    except (ImportError, IndexError, OSError):
        return None
    for name, integer in (("scipy_cblas_sgemm64_", ctypes.c_int64), ("cblas_sgemm64_",
                          ctypes.c_int64), ("cblas_sgemm", ctypes.c_int)):
        fn = getattr(lib, name, None)
        if fn is not None:
            i, f, ptr = integer, ctypes.c_float, ctypes.c_void_p
            fn.argtypes = [ctypes.c_int] * 3 + [i, i, i, f, ptr, i, ptr, i, f, ptr, i]
            fn.restype = None
            return fn
    return None


SGEMM = _cblas_sgemm()


def _gemm(ta, tb, m, n, k, a, aoff, lda, b, boff, ldb, beta, c, coff, ldc):
    """C[coff:] = op(A[aoff:]) @ op(B[boff:]) + beta C, row-major float32, leading dims given."""
    SGEMM(101, 112 if ta else 111, 112 if tb else 111, m, n, k, 1.0, a.ctypes.data + 4 * aoff,
          lda, b.ctypes.data + 4 * boff, ldb, beta, c.ctypes.data + 4 * coff, ldc)


def _shifted_setup(x, W, p):
    """(planes, filters by offset (k, k, C_out, C), Hp, Wp, Ho, Wo, m * plane) of a block."""
    m, _, h, w = x.shape
    k = W.shape[2]
    hp, wp, ho, plane, _ = wide_geometry(h, w, k, p)
    return (_padded_planes(x, k, p), np.ascontiguousarray(W.transpose(2, 3, 0, 1)), hp, wp, ho,
            conv_output_size(w, k, 1, p), m * plane)


def shifted_forward(x, W, b, p, relu):
    m, c = x.shape[:2]
    c_out, _, k, _ = W.shape
    planes, Wk, hp, wp, ho, wo, n = _shifted_setup(x, W, p)
    full = np.empty((c_out, n), dtype=np.float32)
    for i in range(k):
        for j in range(k):
            _gemm(0, 0, c_out, n, c, Wk[i, j], 0, c, planes, i * wp + j, planes.shape[1],
                  0.0 if i == j == 0 else 1.0, full, 0, n)
    y = np.ascontiguousarray(full.reshape(c_out, m, hp, wp)[:, :, :ho, :wo].transpose(1, 0, 2, 3))
    y += b.reshape(1, -1, 1, 1)
    return np.maximum(y, 0, out=y) if relu else y


def shifted_backward(x, dy, W, p, mask):
    m, c, h, w = x.shape
    c_out, _, k, _ = W.shape
    planes, Wk, hp, wp, ho, wo, n = _shifted_setup(x, W, p)
    length = planes.shape[1]
    full = np.zeros((c_out, n), dtype=np.float32)
    np.multiply(dy.transpose(1, 0, 2, 3), mask.transpose(1, 0, 2, 3) > 0,
                out=full.reshape(c_out, m, hp, wp)[:, :, :ho, :wo])
    dWk = np.empty((k, k, c_out, c), dtype=np.float32)
    dplanes = np.zeros((c, length), dtype=np.float32)
    for i in range(k):
        for j in range(k):
            _gemm(0, 1, c_out, c, n, full, 0, n, planes, i * wp + j, length, 0.0, dWk[i, j], 0, c)
            _gemm(1, 0, c, n, c_out, Wk[i, j], 0, c, full, 0, n, 1.0, dplanes, i * wp + j, length)
    dx = np.ascontiguousarray(
        dplanes[:, :n].reshape(c, m, hp, wp)[:, :, p:p + h, p:p + w].transpose(1, 0, 2, 3))
    return dx, np.ascontiguousarray(dWk.transpose(2, 3, 0, 1)), full.sum(axis=1)


# -- the checks and the table ---------------------------------------------------------------------
def check(rng):
    """Both algorithms against the naive loop and the layer's backward, or SystemExit."""
    for n, c, o, h, w, p in [(2, 3, 4, 5, 7, 1), (1, 2, 3, 8, 8, 1), (3, 4, 2, 6, 5, 0),
                             (2, 3, 3, 4, 9, 2)]:
        x, W, b = (rng.standard_normal(s) for s in ((n, c, h, w), (o, c, 3, 3), (o,)))
        expect = conv_naive(x, W, b, 1, p)
        dy, mask = rng.standard_normal(expect.shape), rng.standard_normal(expect.shape)
        want = conv_backward_blocks(x, dy, W, 1, p, mask)
        truth = [expect] + list(want)                  # y, then dx, dW, db
        results = [("Winograd", 1e-12, [winograd_forward(x, W, b, p, False)]
                    + list(winograd_backward(x, dy, W, p, mask)))]
        if SGEMM is not None:                          # float32 products: float32 tolerance
            x32, W32, b32 = (v.astype(np.float32) for v in (x, W, b))
            results.append(("shifted products", 1e-5, [shifted_forward(x32, W32, b32, p, False)]
                            + list(shifted_backward(x32, dy.astype(np.float32), W32, p,
                                                    mask.astype(np.float32)))))
        for name, tol, got in results:
            err = max(np.abs(g - e).max() / max(1.0, np.abs(e).max()) for g, e in zip(got, truth))
            if err > tol:
                sys.exit("conv_algorithms: %s wrong for %s (relative error %.2g)"
                         % (name, (n, c, o, h, w, p), err))
    print("correct: Winograd (float64) and shifted products (float32) match the naive loop and "
          "the layer's backward")


def best_ms(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    check(rng)
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    parallel.set_threads(1)
    print("one block on one core, best of %d, ms (ratio = the layer's time / this one's):"
          % args.repeat)
    print("| block (images, C, C_out, H, W) | pass | layer (im2col) | Winograd | ratio | "
          "shifted | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for n, c, o, h, w in SHAPES:
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        W = (rng.standard_normal((o, c, 3, 3)) * 0.05).astype(np.float32)
        b = np.zeros(o, np.float32)
        y = conv_forward_blocks(x, W, b, 1, 1, True)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        runs = {"forward": (lambda: conv_forward_blocks(x, W, b, 1, 1, True),
                            lambda: winograd_forward(x, W, b, 1, True),
                            lambda: shifted_forward(x, W, b, 1, True)),
                "backward": (lambda: conv_backward_blocks(x, dy, W, 1, 1, y),
                             lambda: winograd_backward(x, dy, W, 1, y),
                             lambda: shifted_backward(x, dy, W, 1, y))}
        for phase, (layer, wino, shifted) in runs.items():
            t0, t1 = best_ms(layer, args.repeat), best_ms(wino, args.repeat)
            t2 = best_ms(shifted, args.repeat) if SGEMM is not None else float("nan")
            print("| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f |"
                  % ((n, c, o, h, w), phase, t0, t1, t0 / t1, t2, t0 / t2))


if __name__ == "__main__":
    main()
