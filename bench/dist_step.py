"""Images/s of the data-parallel training step (``zfcore.distributed``) for N = 1 and 2 ranks,
one thread each, and the share of the step spent in the gradient all-reduce.

    python bench/dist_step.py [--ranks 1,2] [--batch 64] [--steps 10] [--warmup 2]
    python bench/dist_step.py --device gpu --ranks 2     # one rank per GPU: NCCL bandwidth

Each N is one ``mpiexec -n N`` of this script (``--worker``), with OMP/OpenBLAS/MKL threads at
1: ``zfcore.trainer.Trainer`` (the real loop: data order, crops, forward, backward, the
all-reduce, SGD) trains ``zfnet_small`` (64x64, 12 classes) on ``--steps`` + ``--warmup``
global batches of ``--batch`` synthetic images, no dropout. N = 1 is the plain single-process
path (no communicator). Timed: the wall time of the steps after the warm-up (validation
excluded), and inside them the time in ``comm.allreduce_mean``.

Correctness first: the first step on N ranks must make N = 1's update to float32
summation-order tolerance (the largest difference at most 1e-4 of the largest change of each
parameter; it is the same SGD step on the same global batch), and the ranks' weights are checked
bitwise equal (``comm.check_same``) at the end. Over more steps the runs drift apart (a max-pool
switch or a ReLU that flips on a last-bit difference sends a gradient elsewhere); the drift at
the end is printed, not judged.
The bar: 2 ranks at least 1.6x the images/s of 1 rank.

On GPUs (``--device gpu``) each rank takes its own GPU and the all-reduce is NCCL's; the script
also times ``allreduce_mean`` alone on the flat gradient buffer and reports the algorithm and
bus bandwidth as nccl-tests defines them (bus = alg x 2(N-1)/N), to be set against the link's
(NVLink / PCIe) peak. That path has not run on a multi-GPU machine yet.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

BAR = 1.6
THREADS = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def worker(args):
    from zfcore import distributed
    from zfcore.data import open_dataset
    from zfcore.recipe import recipe
    from zfcore.trainer import Callback, Trainer
    comm = distributed.world()
    device = "cupy" if args.device == "gpu" else "numpy"
    if device == "cupy":
        comm.pick_gpu()
    steps = args.steps + args.warmup
    train = open_dataset("synthetic", "train", n=steps * args.batch, seed=0)
    val = open_dataset("synthetic", "val", n=8, seed=0)
    net = recipe("zfnet_small", num_classes=12, dropout=0.0).build(seed=0)
    spent = {"allreduce": 0.0}

    class Clock(Callback):
        all_ranks = True

        def __init__(self):
            self.t, self.saved = [], {}

        def on_step_end(self, trainer, stats):
            self.t.append(time.perf_counter())
            if len(self.t) == 1:
                self.keep("first", trainer)

        def keep(self, name, trainer):
            from zfcore.backend import to_numpy
            self.saved.update({"%s/%s" % (name, k): to_numpy(a).copy()
                               for k, a in trainer.net.params().items()})

        def on_train_start(self, trainer):
            self.keep("start", trainer)
            c = trainer.comm
            if c.size > 1:          # time the all-reduce inside the real step
                inner = c.allreduce_mean

                def timed(flat):
                    t0 = time.perf_counter()
                    out = inner(flat)
                    if len(self.t) >= args.warmup:
                        spent["allreduce"] += time.perf_counter() - t0
                    return out
                c.allreduce_mean = timed

    clock = Clock()
    trainer = Trainer(net, train, val, epochs=1, batch_size=args.batch, lr=1e-2, seed=0,
                      patience=100, callbacks=[clock], device=device, comm=comm)
    trainer.fit()
    comm.check_same(net.params())
    seconds = clock.t[-1] - clock.t[args.warmup - 1]
    out = {"ranks": comm.size, "seconds": seconds, "images": args.steps * args.batch,
           "allreduce": spent["allreduce"], "floats": sum(int(a.size) for a in
                                                           net.params().values())}
    if comm.size > 1:
        out.update(allreduce_alone(trainer.comm, out["floats"], device))
    if comm.rank == 0:
        clock.keep("last", trainer)
        np.savez(os.path.join(args.out, "weights_%d.npz" % comm.size), **clock.saved)
        with open(os.path.join(args.out, "result_%d.json" % comm.size), "w") as f:
            json.dump(out, f)


def allreduce_alone(comm, n, device, repeat=10):
    """``allreduce_mean`` alone on a buffer the size of the gradients, the ranks lined up by a
    barrier before each call (so no waiting for a late rank is counted): the median seconds,
    and the algorithm and bus bandwidth in GB/s (nccl-tests: bus = alg x 2(N-1)/N)."""
    from zfcore.backend import module_named
    xp = module_named(device)
    flat = xp.ones(n, dtype=np.float32)
    times = []
    for _ in range(repeat + 1):
        comm.barrier()
        t0 = time.perf_counter()
        comm.allreduce_mean(flat)
        if device == "cupy":
            xp.cuda.get_current_stream().synchronize()
        times.append(time.perf_counter() - t0)
    t = float(np.median(times[1:]))
    alg = 4 * n / t / 1e9
    return {"alone_s": t, "alg_gbs": alg, "bus_gbs": alg * 2 * (comm.size - 1) / comm.size}


def launch(n, args, out):
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = here if os.path.exists(here) else shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("bench/dist_step.py: no mpiexec: pip install '.[mpi]'")
    cmd = [mpiexec, "-n", str(n), sys.executable, os.path.abspath(__file__), "--worker",
           "--out", out, "--batch", str(args.batch), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--device", args.device]
    subprocess.run(cmd, check=True, env=dict(os.environ, **THREADS))
    with open(os.path.join(out, "result_%d.json" % n)) as f:
        return json.load(f)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--batch", type=int, default=64, help="global batch (default 64)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    ranks = [int(r) for r in args.ranks.split(",")]
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as out:
        results = {n: launch(n, args, out) for n in ranks}
        base = np.load(os.path.join(out, "weights_%d.npz" % ranks[0]))
        keys = [k[len("start/"):] for k in base.files if k.startswith("start/")]
        print("correctness against N=%d: largest difference / largest change of a parameter"
              % ranks[0])
        for n in ranks[1:]:
            w = np.load(os.path.join(out, "weights_%d.npz" % n))
            first, last = ([float(np.abs(w[t + k] - base[t + k]).max()
                                  / np.abs(base[t + k] - base["start/" + k]).max())
                            for k in keys] for t in ("first/", "last/"))
            ok = max(first) < 1e-4
            print("  N=%d: first step %.1e %s; after %d steps %.1e (drift, not judged)"
                  % (n, max(first), "ok" if ok else "FAILED (limit 1e-4)",
                     args.steps + args.warmup, max(last)))
            if not ok:
                sys.exit(1)
    print("load average at the start: %.2f %.2f %.2f (1, 5, 15 min); %d CPUs"
          % (load + (os.cpu_count(),)))
    print("zfnet_small, global batch %d, %d timed steps (+%d warm-up), %s, 1 thread a rank"
          % (args.batch, args.steps, args.warmup, args.device))
    print("%5s %8s %9s %10s %18s %22s" % ("ranks", "step s", "images/s", "vs 1 rank",
                                           "in all-reduce", "all-reduce alone"))
    one = results[ranks[0]]["images"] / results[ranks[0]]["seconds"]
    for n, r in results.items():
        ips = r["images"] / r["seconds"]
        step = r["seconds"] / args.steps
        alone = ("%.1f ms (%.1f%%)" % (1e3 * r["alone_s"], 100 * r["alone_s"] / step)
                 if "alone_s" in r else "-")
        print("%5d %8.3f %9.1f %9.2fx %17.1f%% %22s" % (n, step, ips, ips / one,
                                                        100 * r["allreduce"] / r["seconds"],
                                                        alone))
    for n, r in results.items():
        if "bus_gbs" in r:
            print("N=%d: all-reduce of %d floats (%.1f MB) alone: %.2f ms, alg %.2f GB/s, bus "
                  "%.2f GB/s" % (n, r["floats"], 4e-6 * r["floats"], 1e3 * r["alone_s"],
                                 r["alg_gbs"], r["bus_gbs"]))
    print("'in all-reduce': the share of the timed steps inside allreduce_mean, waiting for "
          "the other ranks included; 'alone': the call by itself after a barrier")
    if 2 in results and ranks[0] == 1:
        speedup = results[2]["images"] / results[2]["seconds"] / one
        print("bar: 2 ranks >= %.1fx 1 rank: %.2fx %s" % (BAR, speedup,
                                                         "met" if speedup >= BAR else "NOT met"))


if __name__ == "__main__":
    main()
