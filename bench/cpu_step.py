"""Time the NumPy backend against PyTorch CPU on a whole training step, and against the machine's
own GEMM rate.

    python bench/cpu_step.py [--repeat 5] [--configs zfnet,small] [--threads N] [--clock cpu]

Configs: ``zfnet`` (Z&F Fig. 3, ``zfcore.models.zfnet(1000)``, batch 8, 3x224x224) and
``small`` (``zfcore.models.zfnet_small(10)``, batch 128, 3x64x64). Phases: ``forward``
(``train=False``) and ``step`` (forward ``train=True``, softmax cross-entropy, backward, and an
SGD-momentum update of every parameter). Each figure is the median of ``--repeat`` runs after
warm-up.

The peer is the identical model as a ``torch.nn.Sequential`` holding OUR weights (PyTorch's LRN
divides alpha by size, so it gets ``alpha = size * ours``), run with as many threads as NumPy's
BLAS uses. Correctness comes first: the logits and the gradients of an eval-mode step are
compared and printed before anything is timed. The limit is the GEMM floor: the step's
multiply-add FLOPs (convolutions and linear layers; the data gradient of conv1 is not needed)
divided by the float32 matmul rate NumPy reaches on a large square product in this same run.

PyTorch is imported here only, never inside zfcore; without it the peer columns read "-".
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # what `import zfcore` sets (zfcore/__init__)
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import zfcore.models  # noqa: E402
import zfcore.parallel  # noqa: E402
from peers import torch_model  # noqa: E402
from zfcore.layers import Conv2D, Linear  # noqa: E402

CONFIGS = {
    # name: (builder, num_classes, batch, input (C, H, W))
    "zfnet": (zfcore.models.zfnet, 1000, 8, (3, 224, 224)),
    "small": (zfcore.models.zfnet_small, 10, 128, (3, 64, 64)),
}
LR, MOMENTUM, WD = 1e-2, 0.9, 5e-4


# -- the limit ---------------------------------------------------------------------------------
def blas_threads():
    """How many threads NumPy's BLAS runs (threadpoolctl if present, else the CPU count)."""
    try:
        from threadpoolctl import threadpool_info
        n = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        if n:
            return n[0]
    except ImportError:
        pass
    return os.cpu_count()


def sgemm_rate(n=2048, repeat=5):
    """Best float32 matmul rate of NumPy, FLOP/s, on an n x n x n product."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=c)
    best = min(_timed(lambda: np.matmul(a, b, out=c)) for _ in range(repeat))
    return 2.0 * n ** 3 / best


def gemm_flops(net, batch):
    """(forward, step) multiply-add FLOPs of the convolutions and linear layers.

    step = forward + weight gradients + data gradients of every layer but the first (the input
    needs no gradient)."""
    shape, fwd, first, step_extra = net.input_shape, 0, True, 0
    for layer in net.layers.values():
        out = layer.output_shape(shape)
        if isinstance(layer, Conv2D):
            f = 2 * batch * out[0] * out[1] * out[2] * layer.c_in * layer.k ** 2
        elif isinstance(layer, Linear):
            f = 2 * batch * layer.d_in * layer.d_out
        else:
            f = 0
        if f:
            fwd += f
            step_extra += f if first else 2 * f
            first = False
        shape = out
    return fwd, fwd + step_extra


# -- our side ----------------------------------------------------------------------------------
CLOCK = time.perf_counter      # --clock cpu: time.process_time (this process's CPU time)


def _timed(fn):
    t = CLOCK()
    fn()
    return CLOCK() - t


def median_ms(fns, repeat, warmup=1):
    """Median milliseconds of each function in ``fns``. The runs alternate between them, so that
    a load that comes and goes (a shared machine) falls on all of them alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times):
            ts.append(_timed(fn))
    return [1e3 * float(np.median(ts)) for ts in times]


def sgd_momentum(net, velocity, lr=LR, momentum=MOMENTUM, wd=WD):
    """v = momentum * v - lr * (g + wd * w); w += v, in place on every parameter (weight decay
    on weights only, as zfcore.optim.SGD; used if that module is missing)."""
    lr, momentum, wd = np.float32(lr), np.float32(momentum), np.float32(wd)
    grads = net.grads()
    for key, w in net.params().items():
        v, g = velocity[key], grads[key]
        v *= momentum
        v -= lr * (g + wd * w) if key.endswith(".W") else lr * g
        w += v


def our_phases(net, x, labels):
    try:
        from zfcore.optim import SGD
        # The peer has no filter renormalisation (Z&F Sec. 3), so it is off here.
        update = SGD(net, lr=LR, momentum=MOMENTUM, weight_decay=WD, max_filter_rms=None).step
    except ImportError:
        velocity = {key: np.zeros_like(w) for key, w in net.params().items()}
        update = lambda: sgd_momentum(net, velocity)  # noqa: E731

    def forward():
        net.forward(x, train=False)

    def step():
        net.loss(net.forward(x, train=True), labels)
        net.backward(input_grad=False)   # as the peer: no gradient for the images
        update()

    return {"forward": forward, "step": step}


# -- the peer ----------------------------------------------------------------------------------
def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def check_against_torch(net, model, build, x, labels):
    """Ours vs torch before timing: float32 logits, then every gradient of an eval-mode step in
    float64 on both sides (torch's float32 oneDNN weight gradients are only good to ~1e-3, which
    would hide a real error). Prints the worst relative errors; False on a mismatch."""
    import torch
    model.eval()
    with torch.no_grad():
        logits_t = model(torch.from_numpy(x)).numpy()
    errs = {"logits f32": (rel_err(net.forward(x, train=False), logits_t), 1e-4)}
    net64 = build().astype(np.float64)
    model64 = torch_model(net64).double().eval()
    x64 = x.astype(np.float64)
    torch.nn.functional.cross_entropy(model64(torch.from_numpy(x64)),
                                      torch.from_numpy(labels)).backward()
    net64.loss(net64.forward(x64, train=False), labels)
    net64.backward()
    grads = net64.grads()
    names = [n for n, layer in net64.layers.items() if layer.params]
    mods = [m for m in model64 if hasattr(m, "weight")]
    worst = ("", 0.0)
    for name, m in zip(names, mods):
        for key, t in (("W", m.weight), ("b", m.bias)):
            e = rel_err(grads["%s.%s" % (name, key)], t.grad.numpy())
            if e >= worst[1]:
                worst = ("%s.%s" % (name, key), e)
    errs["grads f64 (worst: %s)" % worst[0]] = (worst[1], 1e-9)
    ok = all(e < tol for e, tol in errs.values())
    print("  check vs torch: " + ", ".join("%s rel err %.1e (tol %.0e)" % (k, e, tol)
                                           for k, (e, tol) in errs.items())
          + ("  OK" if ok else "  MISMATCH"))
    return ok


def torch_phases(model, x, labels):
    import torch
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
    weights = [m.weight for m in model if hasattr(m, "weight")]
    biases = [m.bias for m in model if hasattr(m, "bias")]
    opt = torch.optim.SGD([{"params": weights, "weight_decay": WD},
                           {"params": biases, "weight_decay": 0.0}], lr=LR, momentum=MOMENTUM)

    def forward():
        model.eval()
        with torch.no_grad():
            model(xt)

    def step():
        model.train()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()

    return {"forward": forward, "step": step}


# -- main --------------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per figure (median)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for NumPy's BLAS and for torch (default: what the BLAS uses; "
                         "needs threadpoolctl to change it)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time, or this process's CPU time: on a shared, loaded machine, "
                         "--threads 1 --clock cpu still compares the two fairly")
    ap.add_argument("--configs", default="zfnet,small",
                    help="comma-separated, from: %s" % ", ".join(CONFIGS))
    args = ap.parse_args(argv)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for c in configs:
        if c not in CONFIGS:
            ap.error("unknown config %r (known: %s)" % (c, ", ".join(CONFIGS)))

    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads is not None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            ap.error("--threads needs threadpoolctl (pip install threadpoolctl)")
        threadpool_limits(limits=args.threads, user_api="blas")
    threads = blas_threads()
    zfcore.parallel.set_threads(threads)  # the element-wise passes on the same cores as BLAS
    if args.clock == "cpu" and threads > 1:
        print("note: --clock cpu adds up the CPU time of all %d threads; it compares fairly only "
              "with --threads 1" % threads)
    try:
        import torch
        torch.set_num_threads(threads)
        peer = "torch %s, %d threads" % (torch.__version__, torch.get_num_threads())
    except ImportError:
        torch = None
        peer = "torch not installed"
    rate = sgemm_rate()
    print("numpy %s, BLAS threads %d, zfcore threads %d; %s; numpy sgemm 2048^3: %.1f GFLOP/s; "
          "%s clock; load average %.1f"
          % (np.__version__, threads, zfcore.parallel.threads(), peer, rate / 1e9, args.clock,
             os.getloadavg()[0]))

    rows = []
    for c in configs:
        build, classes, batch, in_shape = CONFIGS[c]
        net = build(classes)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch,) + in_shape, dtype=np.float32)
        labels = rng.integers(0, classes, batch)
        fwd_flops, step_flops = gemm_flops(net, batch)
        print("%s: batch %d, %s, %.2f GFLOP forward, %.2f GFLOP step"
              % (c, batch, "x".join(map(str, in_shape)), fwd_flops / 1e9, step_flops / 1e9))
        model = None
        if torch is not None:
            model = torch_model(net)
            check_against_torch(net, model, lambda: build(classes), x, labels)
        ours = our_phases(net, x, labels)
        theirs = torch_phases(model, x, labels) if model is not None else {}
        for phase, flops in (("forward", fwd_flops), ("step", step_flops)):
            fns = [ours[phase]] + ([theirs[phase]] if theirs else [])
            t_ours, t_torch = (median_ms(fns, args.repeat, args.warmup) + [None])[:2]
            rows.append((c, phase, t_ours, t_torch, 1e3 * flops / rate))

    print("\nload average at the end: %.1f (on %d CPUs)" % (os.getloadavg()[0], os.cpu_count()))
    print("| config | phase | ours ms | torch ms | ours/torch | GEMM floor ms | ours/floor |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for c, phase, t_ours, t_torch, floor in rows:
        print("| %s | %s | %.1f | %s | %s | %.1f | %.1f |"
              % (c, phase, t_ours, "-" if t_torch is None else "%.1f" % t_torch,
                 "-" if t_torch is None else "%.2f" % (t_ours / t_torch), floor, t_ours / floor))


if __name__ == "__main__":
    main()
