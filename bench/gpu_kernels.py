"""Time every GPU kernel of zfcore at ZFNet's shapes (batch 128, Z&F Fig. 3) against the GPU's own
limits and against PyTorch/cuDNN doing the same op, in the same run.

    python bench/gpu_kernels.py [--repeat 20] [--only pool,lrn,conv,...]

For each op: correctness first (our GPU result on the full batch, checked on its first and last
images against the NumPy reference on those images, and against PyTorch where it computes the
same thing), then warm-up, then the mean of
``--repeat`` runs between two CUDA events. Memory-bound ops print bytes moved / time as a
fraction of the device copy bandwidth measured here (a 1 GiB device-to-device copy, read +
write); convolutions print FLOPs / time as a fraction of the float32 matmul rate measured here
(cuBLAS, 8192^3). TF32 is off on both sides (CuPy's default; torch flags set below), so every
product is true float32. PyTorch is imported here only, never inside zfcore; without it the
peer columns read "-".
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from zfcore.backend import cupy_or_none, cupy_unusable_reason  # noqa: E402
from peers import import_torch  # noqa: E402

# The bars (PyTorch on an H100, measured before this backend existed), in ms.
BARS = {
    "maxpool_fwd": "< 0.57 ms and >= 70% of copy bandwidth",
    "maxpool_bwd (unpool)": "< 0.84 ms",
    "lrn_fwd": "<= 1.50 / 3 = 0.50 ms",
    "lrn_fwd+bwd": "<= 4.09 / 3 = 1.36 ms",
}
N = 128
EDGES = (slice(0, 2), slice(N - 2, N))  # the images checked against NumPy: first and last two


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--only", default="", help="comma-separated groups: "
                    "pool,lrn,relu,dropout,conv,loss,sgd (default: all)")
    args = ap.parse_args()
    cp = cupy_or_none()
    if cp is None:
        sys.exit("bench/gpu_kernels.py: CuPy is unusable (%s); nothing to time"
                 % cupy_unusable_reason())
    torch = import_torch()
    bench = Bench(cp, torch, args.repeat)
    groups = [g for g in args.only.split(",") if g] or list(GROUPS)
    bench.header()
    for g in groups:
        GROUPS[g](bench)
    bench.summary()




class Bench:
    def __init__(self, cp, torch, repeat):
        self.cp, self.torch, self.repeat = cp, torch, repeat
        self.rows, self.failures = [], []
        self.copy_bw = self.measure_copy()
        self.sgemm = self.measure_sgemm()

    # -- timing ------------------------------------------------------------------------------
    def ms(self, fn, warmup=3):
        cp = self.cp
        for _ in range(warmup):
            fn()
        cp.cuda.Device().synchronize()
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        for _ in range(self.repeat):
            fn()
        end.record()
        end.synchronize()
        return cp.cuda.get_elapsed_time(start, end) / self.repeat

    def torch_ms(self, fn, warmup=3):
        torch = self.torch
        for _ in range(warmup):
            fn()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(self.repeat):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / self.repeat

    def measure_copy(self):
        a = self.cp.ones(1 << 28, dtype=np.float32)  # 1 GiB
        b = self.cp.empty_like(a)
        t = self.ms(lambda: self.cp.copyto(b, a))
        return 2 * (1 << 30) / (t * 1e-3)

    def measure_sgemm(self, n=8192):
        a = self.cp.random.standard_normal((n, n), dtype=np.float32)
        b = self.cp.random.standard_normal((n, n), dtype=np.float32)
        c = self.cp.empty((n, n), dtype=np.float32)
        t = self.ms(lambda: self.cp.matmul(a, b, out=c), warmup=2)
        return 2.0 * n ** 3 / (t * 1e-3)

    # -- rows --------------------------------------------------------------------------------
    def tensor(self, a):
        """The same device memory as a torch tensor (no copy)."""
        return self.torch.as_tensor(a, device="cuda")

    def check(self, name, got, want, tol):
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        err = float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)) if want.size else 0.0
        if not err <= tol:
            self.failures.append("%s: relative error %.2e > %.0e" % (name, err, tol))
        return err

    def row(self, op, shape, ours_ms, work, kind, peer_ms=None, note=""):
        """kind 'bytes': work is bytes moved; 'flops': work is FLOPs."""
        if kind == "bytes":
            rate = "%7.0f GB/s %5.1f%% copy" % (work / (ours_ms * 1e-3) / 1e9,
                                               100 * work / (ours_ms * 1e-3) / self.copy_bw)
        else:
            rate = "%7.1f TFLOP/s %5.1f%% sgemm" % (work / (ours_ms * 1e-3) / 1e12,
                                                    100 * work / (ours_ms * 1e-3) / self.sgemm)
        peer = ("%8.3f ms  x%5.2f" % (peer_ms, peer_ms / ours_ms) if peer_ms
                else "%8s  %6s" % ("-", "-"))
        line = "%-24s %-22s %8.3f ms  %-30s %s  %s" % (op, shape, ours_ms, rate, peer, note)
        print(line, flush=True)
        self.rows.append((op, ours_ms, peer_ms, work, kind))

    def header(self):
        cp = self.cp
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        print("device: %s; copy bandwidth %.0f GB/s (1 GiB copy, read+write); sgemm %.1f TFLOP/s "
              "(8192^3, no TF32); torch: %s"
              % (name, self.copy_bw / 1e9, self.sgemm / 1e12,
                 self.torch.__version__ if self.torch else "absent"))
        print("%-24s %-22s %11s  %-30s %8s  %6s"
              % ("op", "shape", "ours", "rate", "torch", "torch/ours"))

    def summary(self):
        print()
        for op, bar in BARS.items():
            hit = [r for r in self.rows if r[0] == op]
            if hit:
                _, ours, peer, work, kind = hit[0]
                extra = ""
                if kind == "bytes":
                    extra = ", %.0f%% of copy bandwidth" % (
                        100 * work / (ours * 1e-3) / self.copy_bw)
                print("bar %-22s %s: ours %.3f ms%s%s" % (op, bar, ours, extra,
                                                          ", torch %.3f ms" % peer if peer else ""))
        if self.failures:
            print("CORRECTNESS FAILURES:\n  " + "\n  ".join(self.failures))
            sys.exit(1)
        print("all correctness checks passed")


def rnd(cp, shape, seed=0):
    return cp.random.RandomState(seed).standard_normal(shape, dtype=np.float32)


# -- groups ----------------------------------------------------------------------------------
def bench_pool(b):
    from zfcore.layers.pool import maxpool_forward, unpool
    cp, torch = b.cp, b.torch
    x = rnd(cp, (N, 96, 110, 110))
    y, sw = maxpool_forward(x, 3, 2)
    r = rnd(cp, y.shape, 1)
    out = unpool(r, sw, x.shape, 3, 2)
    for part in EDGES:
        y_ref, sw_ref = maxpool_forward(x[part].get(), 3, 2)
        b.check("maxpool y", y[part].get(), y_ref, 0.0)
        if not np.array_equal(sw[part].get(), sw_ref):
            b.failures.append("maxpool switches differ from NumPy (images %s)" % part)
        b.check("unpool", out[part].get(),
                unpool(r[part].get(), sw_ref, (2, 96, 110, 110), 3, 2), 1e-6)
    peer_fwd = peer_bwd = peer_unpool = None
    if torch:
        F = torch.nn.functional
        xt, rt = b.tensor(x), b.tensor(r)
        yt, idx = F.max_pool2d(xt, 3, 2, ceil_mode=True, return_indices=True)
        b.check("maxpool y vs torch", y[:2].get(), yt[:2].cpu().numpy(), 0.0)
        bwd = torch.ops.aten.max_pool2d_with_indices_backward
        b.check("unpool vs torch pool backward", out[:2].get(),
                bwd(rt, xt, [3, 3], [2, 2], [0, 0], [1, 1], True, idx)[:2].cpu().numpy(), 1e-6)
        peer_fwd = b.torch_ms(lambda: F.max_pool2d(xt, 3, 2, ceil_mode=True, return_indices=True))
        peer_bwd = b.torch_ms(lambda: bwd(rt, xt, [3, 3], [2, 2], [0, 0], [1, 1], True, idx))
        peer_unpool = b.torch_ms(lambda: F.max_unpool2d(rt, idx, 3, 2, output_size=(110, 110)))
    b.row("maxpool_fwd", "128x96x110x110 3/2", b.ms(lambda: maxpool_forward(x, 3, 2)),
          x.nbytes + y.nbytes + sw.nbytes, "bytes", peer_fwd, "torch: int64 indices")
    ours = b.ms(lambda: unpool(r, sw, x.shape, 3, 2))
    b.row("maxpool_bwd (unpool)", "-> 128x96x110x110", ours, r.nbytes + sw.nbytes + out.nbytes,
          "bytes", peer_bwd, "torch: max_pool2d backward")
    if peer_unpool:
        b.row("  vs F.max_unpool2d", "-> 128x96x110x110", ours, r.nbytes + sw.nbytes + out.nbytes,
              "bytes", peer_unpool, "(overwrites, no overlap sums)")


def bench_lrn(b):
    from zfcore.layers.lrn import LRN, lrn_backward, lrn_forward
    cp, torch = b.cp, b.torch
    for shape in [(N, 96, 55, 55), (N, 256, 13, 13)]:
        x, dy = rnd(cp, shape), rnd(cp, shape, 1)
        lay = LRN()
        y = lay.forward(x)
        dx = lay.backward(dy)
        for part in EDGES:
            y_ref, d_ref = lrn_forward(x[part].get())
            b.check("lrn y", y[part].get(), y_ref, 1e-4)
            b.check("lrn dx", dx[part].get(),
                    lrn_backward(dy[part].get(), x[part].get(), y_ref, d_ref), 1e-4)
        peer_f = peer_fb = None
        if torch:
            F = torch.nn.functional
            xt, dyt = b.tensor(x), b.tensor(dy)
            lrn_t = lambda a: F.local_response_norm(a, 5, alpha=5 * 1e-4, beta=0.75, k=2.0)  # noqa: E731
            b.check("lrn y vs torch", y[:2].get(), lrn_t(xt[:2]).cpu().numpy(), 1e-4)
            xg = xt.detach().clone().requires_grad_(True)

            def fwd_bwd_t():
                xg.grad = None
                lrn_t(xg).backward(dyt)

            peer_f = b.torch_ms(lambda: lrn_t(xt))
            peer_fb = b.torch_ms(fwd_bwd_t)

        def fwd_bwd():
            lay.forward(x)
            lay.backward(dy)

        label = "x".join(map(str, shape))
        b.row("lrn_fwd", label, b.ms(lambda: lay.forward(x)), 2 * x.nbytes, "bytes", peer_f)
        b.row("lrn_fwd+bwd", label, b.ms(fwd_bwd), 5 * x.nbytes, "bytes", peer_fb,
              "fwd a->y, bwd a,dy->dx")


def bench_relu(b):
    from zfcore.layers.activation import relu_backward, relu_forward
    cp, torch = b.cp, b.torch
    x, dy = rnd(cp, (N, 96, 110, 110)), rnd(cp, (N, 96, 110, 110), 1)
    y, dx = relu_forward(x), relu_backward(dy, x)
    for part in EDGES:
        b.check("relu", y[part].get(), np.maximum(x[part].get(), 0), 0.0)
        b.check("relu bwd", dx[part].get(), dy[part].get() * (x[part].get() > 0), 0.0)
    pf = pb = None
    if torch:
        xt, dyt = b.tensor(x), b.tensor(dy)
        pf = b.torch_ms(lambda: torch.relu(xt))
        pb = b.torch_ms(lambda: torch.ops.aten.threshold_backward(dyt, xt, 0))
    b.row("relu_fwd", "128x96x110x110", b.ms(lambda: relu_forward(x)), 2 * x.nbytes, "bytes", pf)
    b.row("relu_bwd", "128x96x110x110", b.ms(lambda: relu_backward(dy, x)), 3 * x.nbytes, "bytes",
          pb)


def bench_dropout(b):
    from zfcore.layers.dropout import dropout_gpu
    cp, torch = b.cp, b.torch
    x = rnd(cp, (N, 4096))
    keep = float((dropout_gpu(x, 0.5, 1) != 0).astype(np.float32).mean())
    if abs(keep - 0.5) > 0.01:
        b.failures.append("dropout keep rate %.4f" % keep)
    pf = None
    if torch:
        xt = b.tensor(x)
        pf = b.torch_ms(lambda: torch.nn.functional.dropout(xt, 0.5, training=True))
    b.row("dropout_fwd", "128x4096", b.ms(lambda: dropout_gpu(x, 0.5, 1)), 2 * x.nbytes, "bytes",
          pf)
    big = rnd(cp, (N, 96, 55, 55))
    pf = (b.torch_ms(lambda: torch.nn.functional.dropout(b.tensor(big), 0.5, training=True))
          if torch else None)
    b.row("dropout_fwd", "128x96x55x55", b.ms(lambda: dropout_gpu(big, 0.5, 1)), 2 * big.nbytes,
          "bytes", pf)


# ZFNet's convolutions (Fig. 3): input shape, (c_out, k, s, p)
CONVS = [("conv1", (N, 3, 224, 224), (96, 7, 2, 1)), ("conv2", (N, 96, 55, 55), (256, 5, 2, 0)),
         ("conv3", (N, 256, 13, 13), (384, 3, 1, 1)), ("conv4", (N, 384, 13, 13), (384, 3, 1, 1)),
         ("conv5", (N, 384, 13, 13), (256, 3, 1, 1))]


def bench_conv(b):
    from zfcore.layers.activation import relu_forward
    from zfcore.layers.conv import (col2im, conv_backward_data, conv_backward_params, conv_forward,
                                    conv_output_size, dy_rows, im2col)
    cp, torch = b.cp, b.torch
    for name, shape, (c_out, k, s, p) in CONVS:
        c = shape[1]
        x = rnd(cp, shape)
        W = rnd(cp, (c_out, c, k, k), 1) * np.float32(0.05)
        bias = rnd(cp, (c_out,), 2)
        ho = conv_output_size(shape[2], k, s, p)
        flops = 2.0 * N * c_out * ho * ho * c * k * k
        # correctness on 2 images (every output depends on its own image only, dW on the batch)
        x2, dy2 = x[:2], rnd(cp, (2, c_out, ho, ho), 3)
        y2, cols2 = conv_forward(x2, W, bias, s, p)
        yr, colsr = conv_forward(x2.get(), W.get(), bias.get(), s, p)
        b.check(name + " y", y2.get(), yr, 1e-4)
        b.check(name + " dx", conv_backward_data(dy2, W, x2.shape, s, p).get(),
                conv_backward_data(dy2.get(), W.get(), x2.shape, s, p), 1e-4)
        b.check(name + " dW", conv_backward_params(dy2, cols2, W.shape)[0].get(),
                conv_backward_params(dy2.get(), colsr, W.shape)[0], 1e-4)
        y, cols = conv_forward(x, W, bias, s, p)
        dy = rnd(cp, y.shape, 4)
        y_relu = conv_forward(x, W, bias, s, p, relu=True)[0]
        dx = conv_backward_data(dy, W, x.shape, s, p)
        for part in EDGES[1:]:  # the full batch's last images against NumPy on those images
            xl, dyl = x[part].get(), dy[part].get()
            yl = conv_forward(xl, W.get(), bias.get(), s, p)[0]
            b.check(name + " y (last images)", y[part].get(), yl, 1e-4)
            b.check(name + " y+relu (last images)", y_relu[part].get(), np.maximum(yl, 0), 1e-4)
            b.check(name + " dx (last images)", dx[part].get(),
                    conv_backward_data(dyl, W.get(), xl.shape, s, p), 1e-4)
        del dx
        pf = pd = pw = None
        if torch:
            F = torch.nn.functional
            xt, Wt, bt, dyt = b.tensor(x), b.tensor(W), b.tensor(bias), b.tensor(dy)
            b.check(name + " y vs torch", y[:2].get(), F.conv2d(xt[:2], Wt, bt, s, p).cpu().numpy(),
                    1e-4)
            cb = torch.ops.aten.convolution_backward
            args = (dyt, xt, Wt, [c_out], [s, s], [p, p], [1, 1], False, [0, 0], 1)
            pf = b.torch_ms(lambda: F.conv2d(xt, Wt, bt, s, p))
            pd = b.torch_ms(lambda: cb(*args, [True, False, False]))
            pw = b.torch_ms(lambda: cb(*args, [False, True, True]))
        label = "%dx%dx%dx%d %d/%d" % (shape + (k, s))
        b.row(name + " fwd", label, b.ms(lambda: conv_forward(x, W, bias, s, p)), flops, "flops",
              pf)
        b.row(name + " fwd+relu fused", label,
              b.ms(lambda: conv_forward(x, W, bias, s, p, relu=True)), flops, "flops", None,
              "vs fwd then relu: %.3f ms" % b.ms(lambda: relu_forward(conv_forward(x, W, bias, s,
                                                                                    p)[0])))
        b.row("  dy_rows (once/bwd)", label, b.ms(lambda: dy_rows(dy)), 2 * dy.nbytes, "bytes")
        b.row(name + " bwd data", label, b.ms(lambda: conv_backward_data(dy, W, x.shape, s, p)),
              flops, "flops", pd)
        b.row(name + " bwd W,b", label, b.ms(lambda: conv_backward_params(dy, cols, W.shape)),
              flops, "flops", pw)
        dcols = cp.empty_like(cols)
        pi = pc = None
        if torch:
            pi = b.torch_ms(lambda: F.unfold(xt, k, padding=p, stride=s))
            ut = F.unfold(xt, k, padding=p, stride=s)
            pc = b.torch_ms(lambda: F.fold(ut, shape[2:], k, padding=p, stride=s))
        b.row("  im2col", label, b.ms(lambda: im2col(x, k, s, p)), x.nbytes + cols.nbytes, "bytes",
              pi, "torch: F.unfold")
        b.row("  col2im", label, b.ms(lambda: col2im(dcols, x.shape, k, s, p)),
              x.nbytes + cols.nbytes, "bytes", pc, "torch: F.fold")


def bench_loss(b):
    from zfcore.layers.loss import SoftmaxCrossEntropy
    cp, torch = b.cp, b.torch
    logits = rnd(cp, (N, 1000))
    labels = cp.asarray(np.random.default_rng(0).integers(0, 1000, N))
    head, ref = SoftmaxCrossEntropy(), SoftmaxCrossEntropy()
    loss = head.forward(logits, labels)
    b.check("softmax xent loss", loss.get(), ref.forward(logits.get(), labels.get()), 1e-5)
    b.check("softmax xent dlogits", head.backward().get(), ref.backward(), 1e-5)
    pf = None
    if torch:
        lt, labt = b.tensor(logits).clone().requires_grad_(True), b.tensor(labels)

        def fb():
            lt.grad = None
            torch.nn.functional.cross_entropy(lt, labt).backward()

        pf = b.torch_ms(fb)
    b.row("softmax_xent_fwd_bwd", "128x1000",
          b.ms(lambda: (head.forward(logits, labels), head.backward())), 2 * logits.nbytes, "bytes",
          pf)


def bench_sgd(b):
    from zfcore.optim import sgd_step_gpu
    cp, torch = b.cp, b.torch
    for name, shape, rms in [("conv2.W", (256, 96, 5, 5), 0.1), ("fc6.W", (4096, 9216), 0.0)]:
        w, g = rnd(cp, shape) * np.float32(0.01), rnd(cp, shape, 1)
        v = cp.zeros_like(w)
        pf = None
        if torch:
            wt, gt, vt = b.tensor(w.copy()), b.tensor(g), b.tensor(v.copy())

            def step_t():
                vt.mul_(0.9).add_(gt + 5e-4 * wt, alpha=-0.01)
                wt.add_(vt)
                if rms:
                    r = wt.pow(2).mean(dim=tuple(range(1, wt.dim())), keepdim=True).sqrt()
                    wt.mul_(torch.clamp(rms / r, max=1.0))

            pf = b.torch_ms(step_t)
        ours = b.ms(lambda: sgd_step_gpu(w, g, v, 0.01, 0.9, 5e-4, rms))
        b.row("sgd_momentum" + ("_renorm" if rms else ""), name + " " + "x".join(map(str, shape)),
              ours, 5 * w.nbytes, "bytes", pf, "w,g,v read; w,v written")


GROUPS = {"pool": bench_pool, "lrn": bench_lrn, "relu": bench_relu, "dropout": bench_dropout,
          "conv": bench_conv, "loss": bench_loss, "sgd": bench_sgd}

if __name__ == "__main__":
    main()
