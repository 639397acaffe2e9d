"""Every GPU launcher of zfcore once, at small shapes, each result checked against NumPy: the
program to run under compute-sanitizer on the GPU run (bench/gpu_run.sh).

    compute-sanitizer --tool memcheck python bench/gpu_launchers.py     # also initcheck, racecheck
    python bench/gpu_launchers.py --emulate                             # on the CPU (tests/gpu)

On the GPU, CuPy's memory pool is switched off (every array its own cudaMalloc), so that a read
or write past an array's end is past an allocation, where memcheck sees it. The shapes are
chosen so that every code path of every kernel runs: ceil-mode edge windows and the k=2, k=3
and general max-pool paths, LRN with one and several channel runs and with d stored or
recomputed, conv with padding and stride, a partial Philox group, softmax rows wider than the
block, SGD with and without the renormalisation. Exit 1 if any result differs from NumPy.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from zfcore import backend  # noqa: E402


def normal(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def rel(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape or not np.isfinite(got).all():
        return np.inf
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)) if want.size else 0.0


class Run:
    """``dev(a)`` puts a NumPy array where the launchers run; ``check`` compares a result."""

    def __init__(self, to_device, to_host, on_gpu):
        self.dev, self.host, self.failures, self.count = to_device, to_host, [], 0
        self.on_gpu = on_gpu

    def check(self, what, got, want, tol=1e-4):
        self.count += 1
        err = rel(self.host(got), want)
        status = "ok" if err <= tol else "FAIL"
        print("%-44s rel err %.1e  %s" % (what, err, status), flush=True)
        if not err <= tol:
            self.failures.append(what)


def pool(run):
    from zfcore.layers.pool import maxpool_forward, unpool
    for k, s, shape in [(3, 2, (2, 3, 9, 8)), (2, 2, (1, 2, 7, 7)), (4, 3, (1, 2, 10, 11))]:
        x = normal(shape, k)
        y, sw = maxpool_forward(x, k, s)
        y_d, sw_d = maxpool_forward(run.dev(x), k, s)
        run.check("maxpool_fwd k%d s%d" % (k, s), y_d, y, 0.0)
        run.check("maxpool_fwd switches k%d s%d" % (k, s), sw_d, sw, 0.0)
        r = normal(y.shape, k + 1)
        run.check("maxpool_bwd (unpool) k%d s%d" % (k, s),
                  unpool(run.dev(r), sw_d, x.shape, k, s), unpool(r, sw, x.shape, k, s), 1e-6)


def activation(run):
    from zfcore.layers.activation import relu_backward, relu_forward, relu_guided
    x, r = normal((2, 3, 5, 7), 1), normal((2, 3, 5, 7), 2)
    xd, rd = run.dev(x), run.dev(r)
    run.check("relu_fwd", relu_forward(xd), relu_forward(x), 0.0)
    run.check("relu_bwd", relu_backward(rd, xd), relu_backward(r, x), 0.0)
    run.check("relu_guided", relu_guided(rd, xd), relu_guided(r, x), 0.0)


def lrn(run):
    import zfcore.layers.lrn as lrn_module
    from zfcore.layers.lrn import LRN, lrn_backward, lrn_forward
    a, dy = normal((2, 13, 3, 4), 3), normal((2, 13, 3, 4), 4)
    b, d = lrn_forward(a, 5, 1.0, 0.75, 1.0)
    dx = lrn_backward(dy, a, b, d, 5, 1.0, 0.75)
    saved = lrn_module._channel_runs
    for runs in (1, 3):
        lrn_module._channel_runs = lambda n, c, hw, size, runs=runs: -(-c // runs)
        try:
            b_d, d_d = lrn_forward(run.dev(a), 5, 1.0, 0.75, 1.0)
            run.check("lrn_fwd store_d, %d run(s)" % runs, b_d, b)
            run.check("lrn_bwd d given, %d run(s)" % runs,
                      lrn_backward(run.dev(dy), run.dev(a), b_d, d_d, 5, 1.0, 0.75), dx)
            lay = LRN(5, 1.0, 0.75, 1.0)
            run.check("lrn_fwd no d, %d run(s)" % runs, lay.forward(run.dev(a)), b)
            run.check("lrn_bwd d recomputed, %d run(s)" % runs, lay.backward(run.dev(dy)), dx)
        finally:
            lrn_module._channel_runs = saved


def conv(run):
    from zfcore.layers.conv import (col2im, conv_backward_data, conv_backward_params, conv_forward,
                                    dy_rows, im2col)
    x, W, b = normal((2, 3, 9, 8), 5), normal((4, 3, 3, 3), 6), normal((4,), 7)
    s, p = 2, 1
    y, cols = conv_forward(x, W, b, s, p)
    dy = normal(y.shape, 8)
    xd, Wd, bd, dyd = run.dev(x), run.dev(W), run.dev(b), run.dev(dy)
    run.check("im2col", im2col(xd, 3, s, p), cols, 0.0)
    run.check("col2im", col2im(run.dev(cols), x.shape, 3, s, p), col2im(cols, x.shape, 3, s, p),
              1e-6)
    y_d, cols_d = conv_forward(xd, Wd, bd, s, p)
    run.check("bias_nchw (conv fwd)", y_d, y)
    run.check("bias_nchw relu (conv fwd + relu)", conv_forward(xd, Wd, bd, s, p, relu=True)[0],
              np.maximum(y, 0))
    run.check("nchw_rows (dy rows)", dy_rows(dyd), dy_rows(dy), 0.0)
    run.check("conv bwd data (col2im)", conv_backward_data(dyd, Wd, x.shape, s, p),
              conv_backward_data(dy, W, x.shape, s, p))
    run.check("conv bwd W", conv_backward_params(dyd, cols_d, W.shape)[0],
              conv_backward_params(dy, cols, W.shape)[0])


def dropout(run):
    from zfcore.layers.dropout import dropout_gpu
    x = normal((3, 7, 5), 9)                         # 105 elements: a partial Philox group
    y = run.host(dropout_gpu(run.dev(x), 0.5, 123))
    keep = y != 0
    want = np.where(keep, x * np.float32(2.0), 0)
    run.check("dropout_fwd (kept units x 1/(1-p))", y, want, 0.0)
    out = run.dev(np.zeros(4 * 9, np.uint32))
    backend.launch("dropout", "philox_words_fwd", (out, np.uint64(5), np.int64(9)), 9)
    run.check("philox_words_fwd (words written)", run.host(out) != 0, np.ones(36, bool), 0.0)


def loss(run):
    from zfcore.layers.loss import SoftmaxCrossEntropy
    for n, c in [(3, 10), (4, 700)]:
        z = normal((n, c), 10) * 4
        labels = np.random.default_rng(11).integers(0, c, n)
        ref = SoftmaxCrossEntropy()
        want = ref.forward(z, labels)
        head = SoftmaxCrossEntropy()
        run.check("softmax_xent_fwd_bwd loss c=%d" % c, head.forward(run.dev(z), labels), want)
        run.check("softmax_xent_fwd_bwd dlogits c=%d" % c, head.backward(), ref.backward())


def optim(run):
    from zfcore.optim import renormalise_filters, sgd_step_gpu
    for shape, rms in [((5, 3, 3, 3), 0.1), ((7, 33), 0.0)]:
        w = normal(shape, 12) * np.float32(0.3)
        g, v = normal(shape, 13), normal(shape, 14) * np.float32(0.01)
        v_want = np.float32(0.9) * v - np.float32(0.05) * (g + np.float32(5e-4) * w)
        w_want = w + v_want
        if rms:
            renormalise_filters(w_want, rms)
        wd, vd = run.dev(w), run.dev(v)
        sgd_step_gpu(wd, run.dev(g), vd, 0.05, 0.9, 5e-4, rms)
        name = "sgd_momentum" + ("_renorm" if rms else "")
        run.check(name + " w", wd, w_want)
        run.check(name + " v", vd, v_want)


def feed(run):
    """zfcore.data.gpu_feed: on the GPU through pinned memory and the side stream."""
    from zfcore.data import Dataset, batches
    from zfcore.data.gpu_feed import device_batches
    rng = np.random.default_rng(15)
    ds = Dataset(rng.integers(0, 256, (5, 12, 12, 3), dtype=np.uint8), rng.integers(0, 3, 5),
                 "abc", (rng.random((12, 12, 3)) * 255).astype(np.float32), "t", "train")
    xp = backend.cupy_or_none() if run.on_gpu else np
    for crop in (8, 12):
        want = list(batches(ds, 2, crop, train=True, seed=1))
        got = list(device_batches(ds, 2, crop, train=True, seed=1, xp=xp))
        for i, ((x, y), (xw, yw)) in enumerate(zip(got, want)):
            run.check("gpu_feed batch %d, crop %d" % (i, crop), x, xw, 0.0)
            run.check("gpu_feed labels %d, crop %d" % (i, crop), y, yw, 0.0)


GROUPS = [pool, activation, lrn, conv, dropout, loss, optim, feed]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emulate", action="store_true",
                    help="run the kernels on the CPU (tests/gpu/emulator.py) instead of CuPy")
    args = ap.parse_args(argv)
    if args.emulate:
        from tests.gpu import emulator
        run = Run(lambda a: np.array(a), lambda a: np.asarray(a), False)
        with emulator.emulated():
            for group in GROUPS:
                group(run)
    else:
        cp = backend.cupy_or_none()
        if cp is None:
            sys.exit("bench/gpu_launchers.py: CuPy is unusable (%s)"
                     % backend.cupy_unusable_reason())
        cp.cuda.set_allocator(None)  # every array its own allocation, for memcheck
        run = Run(cp.asarray, lambda a: a.get() if hasattr(a, "get") else np.asarray(a), True)
        for group in GROUPS:
            group(run)
        cp.cuda.Device().synchronize()
    print("%d launcher checks, %d failed%s" % (run.count, len(run.failures),
                                              ": " + ", ".join(run.failures)
                                              if run.failures else ""))
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
