"""What tests/dist/test_mpi.py runs under ``mpiexec -n 2 python -m tests.dist.worker MODE OUT``.

Each rank writes what it saw to ``OUT/<mode>_rank<r>.npz`` (or .json); the test compares them
with each other and with single-process results. Nothing here asserts: the test does.

    step      one step of a 2-rank Trainer on a global batch of B (16: even shards; 15: 8 and 7)
              beside a 1-process Trainer (``Single``) on the same B images, in the same process:
              both nets' gradients and weights after the step; then a short run (3 epochs, an
              uneven last batch) with the weights' checksum of every rank after every step
    analyses  the top-9 scan, the validation error (centre and 10 crops) and an occlusion sweep,
              sharded over the ranks and in one process
    run       a 2-rank run of 2 epochs into OUT/full and one of 1 epoch into OUT/half (the test
              resumes the second with 1 process); each rank lists the callbacks it runs
    die       a 2-rank run into OUT/die; rank 1 stops itself during epoch 2 (SIGKILL or SIGSTOP,
              the second argument) after writing the time to OUT/die_at
"""
import json
import os
import signal
import sys
import time

import numpy as np

from tests.nets import tiny_zfnet
from zfcore import distributed
from zfcore.data import open_dataset
from zfcore.distributed import Single, digest
from zfcore.trainer import Callback, Trainer

SEED = 1


def data(n_train, n_val=24):
    return (open_dataset("synthetic", "train", n=n_train, seed=SEED, size=32),
            open_dataset("synthetic", "val", n=n_val, seed=SEED, size=32))


def no_dropout(net):
    """The 1-process and 2-process steps agree only when no rank draws a dropout mask."""
    for layer in net.layers.values():
        if hasattr(layer, "p"):
            layer.p = 0.0
    return net


def settings(**kw):
    base = dict(lr=0.02, momentum=0.9, weight_decay=5e-4, patience=100, seed=SEED)
    base.update(kw)
    return base


class Digests(Callback):
    """On every rank: the checksum of every parameter after every step."""
    all_ranks = True

    def __init__(self):
        self.rows = []

    def on_step_end(self, trainer, stats):
        self.rows.append([digest(a) for _, a in sorted(trainer.net.params().items())])


def step(out, comm):
    saved = {}
    for b in (16, 15):
        train, val = data(b)
        ref = no_dropout(tiny_zfnet(12, seed=0))
        Trainer(ref, train, val, epochs=1, batch_size=b, comm=Single(), **settings()).fit()
        net = no_dropout(tiny_zfnet(12, seed=0))
        if comm.rank == 1:       # rank 0's weights must reach every rank
            for a in net.params().values():
                a += 1.0
        Trainer(net, train, val, epochs=1, batch_size=b, comm=comm, **settings()).fit()
        for key, a in net.params().items():
            saved["B%d/w/%s" % (b, key)] = a
            saved["B%d/ref_w/%s" % (b, key)] = ref.params()[key]
        for key, g in net.grads().items():
            saved["B%d/g/%s" % (b, key)] = g
            saved["B%d/ref_g/%s" % (b, key)] = ref.grads()[key]
    train, val = data(46)               # batches of 16, 16, 14: shards 8/8, 8/8, 7/7
    cb = Digests()                      # with dropout (0.5 in fc6, fc7): masks differ by rank
    Trainer(tiny_zfnet(12, seed=0), train, val, epochs=3, batch_size=16, comm=comm, callbacks=[cb],
            **settings()).fit()
    saved["digests"] = np.array(cb.rows, dtype=np.int64)
    np.savez(os.path.join(out, "step_rank%d.npz" % comm.rank), **saved)


def analyses(out, comm):
    from zfcore.evaluation import evaluate
    from zfcore.vis.occlude import occlusion
    from zfcore.vis.probe import Inputs
    from zfcore.vis.topk import top_activations
    from zfcore.data import batches
    train, val = data(40, n_val=37)
    net = tiny_zfnet(12, seed=2)
    x = np.concatenate([b for b, _ in batches(train, 40, 32, train=False)])
    saved = {}
    for tag, c in (("sharded", comm), ("single", None)):
        tops = top_activations(net, Inputs(x), k=9, batch_size=6, comm=c)
        for layer, t in tops.items():
            for field in ("values", "image", "i", "j"):
                saved["%s/top/%s/%s" % (tag, layer, field)] = getattr(t, field)
        for ten in (False, True):
            e = evaluate(net, val, 32, batch_size=10, ten_crops=ten, comm=c)
            saved["%s/val/%s" % (tag, "ten" if ten else "centre")] = [e["top1"], e["top5"]]
        occ = occlusion(net, x[3], 1, size=8, stride=3, layer="pool2", chunk=7, comm=c)
        for k, v in occ.items():
            saved["%s/occ/%s" % (tag, k)] = v
    np.savez(os.path.join(out, "analyses_rank%d.npz" % comm.rank), **saved)


class Seen(Callback):
    """Which callbacks ran on this rank (one that does not ask for all ranks: rank 0 only)."""

    def __init__(self, out, all_ranks):
        self.out, self.all_ranks = out, all_ranks

    def on_train_start(self, trainer):
        path = os.path.join(self.out, "callbacks_rank%d_%s.json" % (trainer.comm.rank,
                                                                  self.all_ranks))
        with open(path, "w") as f:
            json.dump([type(cb).__name__ for cb in trainer.callbacks], f)


def run(out, comm):
    train, val = data(44)               # 16, 16, 12 a epoch
    for name, epochs in (("full", 2), ("half", 1)):
        Trainer(no_dropout(tiny_zfnet(12, seed=0)), train, val, out_dir=os.path.join(out, name),
                epochs=epochs, batch_size=16, comm=comm, verbose=1,
                callbacks=[Seen(out, True), Seen(out, False)], **settings()).fit()


class StopSelf(Callback):
    all_ranks = True

    def __init__(self, out, how):
        self.out, self.how = out, how

    def on_step_end(self, trainer, stats):
        if trainer.comm.rank == 1 and trainer.epoch == 1 and stats["seen"] >= 32:
            with open(os.path.join(self.out, "die_at"), "w") as f:
                json.dump({"time": time.time(), "pid": os.getpid()}, f)
            os.kill(os.getpid(), getattr(signal, self.how))


def die(out, comm, how):
    train, val = data(48)
    Trainer(tiny_zfnet(12, seed=0), train, val, out_dir=os.path.join(out, "die"), epochs=4,
            batch_size=16, comm=comm, callbacks=[StopSelf(out, how)], **settings()).fit()


def main(argv):
    mode, out = argv[0], argv[1]
    comm = distributed.world()
    if mode == "die":
        die(out, comm, argv[2])
    else:
        {"step": step, "analyses": analyses, "run": run}[mode](out, comm)


if __name__ == "__main__":
    main(sys.argv[1:])
