"""Train a ZF-style net with the recipe of Z&F Sec. 3.

    python -m zfcore.train                      # small ZF net on the built-in synthetic shapes
    python -m zfcore.train --arch zfnet --data /data/imagenet.h5 --device gpu

SGD with momentum 0.9, batch 128, lr 1e-2 divided by 10 when the validation error has not
improved for ``--patience`` epochs, N(0, 1e-2) weights and zero biases, conv filters renormalised
to RMS 0.1, dropout 0.5 in fc6/fc7, random crops and flips of mean-subtracted images (the small
nets: He init, inputs scaled by 1/64, no dropout; see ``zfcore.recipe``). Every epoch writes
``checkpoint.h5`` (and ``best.h5`` by validation error) and a row of ``metrics.csv``.

``mpiexec -n N python -m zfcore.train ...`` trains the same run data-parallel on N processes
(``zfcore.distributed``): the global batch is ``--batch-size``, each rank takes 1/N of it; rank 0
prints and writes the run folder, the other ranks are quiet; a rank that fails ends the job.

This module is the command line over the library: ``fit`` / ``Trainer`` (``zfcore.trainer``)
and ``recipe`` (``zfcore.recipe``), re-exported here: ``from zfcore.train import fit``.
"""
import argparse
import contextlib
import math
import os
import sys
import time
import traceback

from zfcore import cli, distributed
from zfcore.backend import to_device
from zfcore.checkpoint import load_checkpoint
from zfcore.evaluation import evaluate
from zfcore.models import SPECS
from zfcore.recipe import (DEFAULT_ARCH, MIN_BATCH, MIN_STEPS, MIN_STEPS_PER_EPOCH,
                           PLATEAU_STEPS, TRAINING, ANNEAL_BY_32, parse_init, recipe)
from zfcore.trainer import (METRICS, Callback, CheckpointSaver, MetricsCSV, Progress, RunLocked,
                            Trainer, TrainingError, fit, run_lock)

__all__ = ["fit", "Trainer", "Callback", "CheckpointSaver", "MetricsCSV", "Progress",
           "TrainingError", "RunLocked", "METRICS", "recipe", "main", "parse_args", "train"]

DEFAULT_DATA = "synthetic"
# The options a run keeps in its checkpoint (state['args']) and a --resume restores; --device,
# --out, --resume and --quiet belong to one invocation. The optimiser settings are also in
# state['settings'] as the trainer resolved them.
RUN_ARGS = ("arch", "data", "epochs", "batch_size", "lr", "momentum", "weight_decay",
            "patience", "anneal_by", "init", "dropout", "seed", "n_train", "evolution")
SETTING_ARGS = ("epochs", "batch_size", "momentum", "weight_decay", "patience", "anneal_by")


def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m zfcore.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default=None, choices=sorted(SPECS),
                   help="architecture (default %s)" % DEFAULT_ARCH)
    p.add_argument("--data", default=None, help="synthetic | image folder | CIFAR-10 dir | "
                   "MNIST dir | packed .h5 (default synthetic)")
    p.add_argument("--epochs", type=int, default=None,
                   help="total epochs (default %d, more on a small training set: at least %d "
                   "steps)" % (TRAINING["epochs"], MIN_STEPS))
    p.add_argument("--batch-size", type=int, default=None,
                   help="default %d, halved (down to %d) until an epoch has %d steps"
                   % (TRAINING["batch_size"], MIN_BATCH, MIN_STEPS_PER_EPOCH))
    p.add_argument("--lr", type=float, default=None, help="initial learning rate (default 1e-2)")
    p.add_argument("--momentum", type=float, default=None,
                   help="default %g" % TRAINING["momentum"])
    p.add_argument("--weight-decay", type=float, default=None,
                   help="default %g" % TRAINING["weight_decay"])
    p.add_argument("--patience", type=int, default=None,
                   help="epochs without a better validation error before lr is divided by 10 "
                   "(default %d, or as many as make %d steps; at most %d times)"
                   % (TRAINING["patience"], PLATEAU_STEPS, TRAINING["max_lr_drops"]))
    p.add_argument("--anneal-by", type=float, default=None,
                   help="divide lr by 10 after this fraction of the epochs if the plateau rule "
                   "has not yet (default %.3g for the *_small32 nets: after epoch 20 of 30; "
                   "0, never, for the others)" % ANNEAL_BY_32)
    p.add_argument("--init", default=None, help="weight init std: a number (the paper: 0.01) or "
                   "'he'; default 'he' for the *_small nets, 0.01 otherwise")
    p.add_argument("--dropout", type=float, default=None,
                   help="dropout probability of fc6/fc7 (default 0.5; 0 for the *_small nets)")
    cli.add_device_argument(p)
    p.add_argument("--out", default=None, help="run folder (default runs/<arch>-<data>-<time>)")
    p.add_argument("--resume", default=None, help="a checkpoint.h5 (or its run folder) to "
                   "continue; every option not given again is the original run's")
    p.add_argument("--seed", type=int, default=None,
                   help="the seed of the data, the init and the data order (default 0)")
    p.add_argument("--n-train", type=int, default=None,
                   help="train on the first N images of the training split (val and test stay "
                   "whole)")
    p.add_argument("--evolution", action=argparse.BooleanOptionalAction, default=None,
                   help="record the feature evolution figures (Z&F Fig. 4) after each epoch (on "
                   "long runs: epochs 1, 2, 5, 10, 20, ... and the last), into <out>/figures "
                   "(default on; about a second an epoch on the small net)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def check_args(args):
    for name in ("epochs", "batch_size", "patience"):
        v = getattr(args, name)
        if v is not None and v < (0 if name == "patience" else 1):
            raise cli.UsageError("--%s must be positive, got %d" % (name.replace("_", "-"), v))
    if args.lr is not None and not (args.lr > 0 and math.isfinite(args.lr)):
        raise cli.UsageError("--lr must be a positive number, got %r" % args.lr)
    if args.momentum is not None and not 0 <= args.momentum < 1:
        raise cli.UsageError("--momentum must be in [0, 1), got %r" % args.momentum)
    if args.weight_decay is not None and args.weight_decay < 0:
        raise cli.UsageError("--weight-decay must be >= 0, got %r" % args.weight_decay)
    if args.anneal_by is not None and not 0 <= args.anneal_by <= 1:
        raise cli.UsageError("--anneal-by must be in [0, 1], got %r" % args.anneal_by)
    if args.dropout is not None and not 0 <= args.dropout < 1:
        raise cli.UsageError("--dropout must be in [0, 1), got %r" % args.dropout)
    if args.n_train is not None and args.n_train < 1:
        raise cli.UsageError("--n-train must be positive, got %d" % args.n_train)
    if args.init is not None and args.init != "he":
        try:
            if not float(args.init) > 0:
                raise ValueError
        except ValueError:
            raise cli.UsageError("--init must be 'he' or a positive std, got %r" % args.init)


def data_args(args, spec_input):
    """Keyword arguments of ``open_dataset`` for every split of this run (kept in the checkpoint;
    ``--n-train`` is kept apart: it limits the training split only)."""
    return {"seed": args.seed, "size": _stored_size(args.data, spec_input[1])}


def _stored_size(source, crop):
    """Images are stored at the net's input size scaled by 256/224 (Z&F Sec. 3), except the
    generated and fixed-size datasets, which are stored at the input size itself."""
    if source == "synthetic":
        return crop
    if os.path.isdir(source) and not _is_fixed_size(source):
        return int(round(crop * 256 / 224))
    return None


def _is_fixed_size(path):
    names = set(os.listdir(path))
    return "batches.meta" in names or any("idx" in n for n in names)


def default_out(arch, data):
    tag = os.path.splitext(os.path.basename(os.path.normpath(data)))[0] or "data"
    return os.path.join("runs", "%s-%s-%s" % (arch, tag, time.strftime("%Y%m%d-%H%M%S")))


def evolution_epochs(epochs):
    """The epochs whose Fig. 4 frames a run of ``epochs`` records: every one up to 10 epochs;
    on a longer run 1, 2, 5, then every 10th and the last (the paper shows 1, 2, 5, 10, 20,
    30, 40, 64)."""
    if epochs <= 10:
        return set(range(1, epochs + 1))
    return {1, 2, 5, epochs} | set(range(10, epochs + 1, 10))


class Evolution(Callback):
    """The feature evolution figures (Z&F Fig. 4): ``zfcore.vis.evolution.EvolutionRecorder``
    over ``probe`` (a fixed batch of training images, mean-subtracted, on the host). Each
    epoch of ``evolution_epochs`` is written to ``out_dir/evolution/epoch_NNNN.npz`` and the
    figures in ``out_dir/figures`` are redrawn when it ends; a resumed run reloads the history
    of the epochs before it (and records the epoch it resumes from, if the run stopped after
    that epoch's checkpoint but before its frame), so an interrupted run keeps every frame.
    ``paths``: the figures."""

    PROBE = 64                      # images in the probe batch

    def __init__(self, probe, out_dir):
        self.probe, self.out_dir, self.recorder, self.paths = probe, out_dir, None, []

    @classmethod
    def of_dataset(cls, dataset, crop, out_dir):
        """Over the first ``PROBE`` images of ``dataset``, centre-cropped to ``crop`` and
        mean-subtracted as the evaluation batches are (no augmentation: the same images at every
        frame)."""
        from zfcore.data import batches
        return cls(next(iter(batches(dataset, cls.PROBE, crop, train=False)))[0], out_dir)

    def on_train_start(self, trainer):
        from zfcore.vis.evolution import EvolutionRecorder
        self.recorder = EvolutionRecorder(trainer.net, to_device(self.probe, trainer.device),
                                          self.out_dir)
        done = trainer.epoch          # a resumed run: its net is the one of the epoch resumed
        if done and done in evolution_epochs(trainer.epochs) and done not in self.recorder.epochs:
            self.recorder.record(done)    # stopped between the checkpoint and the frame

    def on_epoch_end(self, trainer, row):
        if row["epoch"] in evolution_epochs(trainer.epochs):
            self.recorder.record(row["epoch"])

    def on_train_end(self, trainer):
        figures = [os.path.join(self.out_dir, "figures", "evolution_%s.png" % name)
                   for name in self.recorder.layers]
        if not all(os.path.exists(p) for p in figures):   # nothing recorded in this run
            figures = self.recorder.save() or []
        self.paths = [p for p in figures if os.path.exists(p)]


def run_folder(args):
    """The run folder of ``args``: --out, else the folder of --resume, else a new name."""
    if args.out:
        return args.out
    if args.resume:
        return args.resume if os.path.isdir(args.resume) \
            else os.path.dirname(os.path.abspath(args.resume))
    return default_out(args.arch or DEFAULT_ARCH, args.data or DEFAULT_DATA)


def _show(name, v):
    return "--%s %s" % (name.replace("_", "-"), v) if not isinstance(v, bool) else \
        "--%s%s" % ("" if v else "no-", name.replace("_", "-"))


def restore_args(args, ck):
    """Fill every option not given on the command line from the run resumed (``ck``), and say
    which ones given override it (one line each). Options fixed by the net (--arch, --data,
    --seed, --init, --dropout) cannot change: a different value is a UsageError."""
    state = ck.state
    stored = dict(state.get("args") or {})
    stored.update({k: v for k, v in state.get("settings", {}).items() if k in SETTING_ARGS})
    stored.update(arch=ck.spec.get("arch"), data=ck.data, seed=state.get("seed", 0),
                  n_train=state.get("n_train"))
    stored.setdefault("evolution", True)
    fixed = dict(arch=ck.spec.get("arch"), data=ck.data, seed=state.get("seed", 0),
                 init=ck.spec.get("init_std"), dropout=_dropout_of(ck.spec))
    for name, have in fixed.items():
        given = getattr(args, name)
        if name == "init" and given is not None:
            given = parse_init(given)
        if given is not None and given != have:
            raise cli.UsageError("--resume %s: its net was built with %s; %s cannot change on "
                                 "a resume" % (ck.path, _show(name, have), _show(name, given)))
    for name in RUN_ARGS:
        given = getattr(args, name)
        if name == "lr":
            have = state.get("lr")
            if given is not None and given != have:
                print("%s overrides the run's current lr %g" % (_show(name, given), have))
            continue
        have = stored.get(name)
        if given is None:
            setattr(args, name, have)
        elif given != have and name not in fixed:
            print("%s overrides the run's %s" % (_show(name, given),
                                                 "whole training split" if have is None
                                                 else _show(name, have).split(" ")[-1]))
    return args


def _dropout_of(spec):
    ps = {float(a["p"]) for _, kind, a in spec.get("layers", []) if kind == "dropout"}
    return ps.pop() if len(ps) == 1 else None


def train(args):
    """Run the training that parsed and checked ``args`` describe, in this process: take the
    run folder's lock, open the data, build the net from the recipe (or resume it: every option
    not given again is the original run's), ``Trainer.fit``, then the test error. Returns the
    test {'top1', 'top5'} error, or None when a resumed run had nothing left to do."""
    out = run_folder(args)
    try:
        comm = distributed.world()
    except distributed.DistributedError as e:
        raise cli.UsageError(str(e)) from None
    if comm.rank != 0:                    # rank 0 speaks for the run; errors still go to stderr
        sys.stdout = open(os.devnull, "w")
    try:
        with run_lock(out) if comm.rank == 0 else contextlib.nullcontext():
            return _train(args, out, comm)
    except distributed.DistributedError as e:
        raise TrainingError(str(e)) from None


def _train(args, out, comm):
    from zfcore.data import open_dataset
    if comm.size > 1 and (args.device or "auto") != "cpu":
        comm.pick_gpu()                   # one GPU per rank, before CuPy allocates anything
    device = cli.resolve_device(args.device or "auto")
    ck = None
    if args.resume:
        path = cli.checkpoint_path(args.resume)
        ck = load_checkpoint(path)
        restore_args(args, ck)
        epochs = args.epochs or ck.state.get("settings", {}).get("epochs", TRAINING["epochs"])
        if ck.epoch >= epochs:
            print("nothing to do: %s is at epoch %d of %d (give --epochs N, more than %d, to "
                  "train on)" % (path, ck.epoch, epochs, ck.epoch))
            return None
        dargs = ck.state["data_args"]
    else:
        args.arch = args.arch or DEFAULT_ARCH
        args.data = args.data or DEFAULT_DATA
        args.seed = args.seed if args.seed is not None else 0
        args.evolution = True if args.evolution is None else args.evolution
        dargs = data_args(args, SPECS[args.arch]["input"])
    train_ds = open_dataset(args.data, "train", n=args.n_train, **dargs)
    val_ds = open_dataset(args.data, "val", **dargs)
    n_classes = len(train_ds.class_names)
    if ck is not None:
        if ck.spec["num_classes"] != n_classes:
            raise cli.UsageError("--resume: the checkpoint's net has %d classes, %s has %d"
                                 % (ck.spec["num_classes"], args.data, n_classes))
        net = ck.net
    else:
        net = recipe(args.arch, n_classes, input_channels=3, init=args.init,
                     dropout=args.dropout).build(seed=args.seed)
    crop = net.spec["input"][1]
    size = train_ds.images.shape[1]
    if size < crop:
        raise cli.UsageError("--data %s has %dx%d images, smaller than %s's %dx%d input"
                             % (args.data, size, size, args.arch, crop, crop))
    if ck is None and os.path.exists(os.path.join(out, "checkpoint.h5")):
        raise cli.UsageError("--out %s already holds a checkpoint; use --resume %s or another "
                             "--out" % (out, out))
    callbacks = []
    if args.evolution:
        callbacks.append(Evolution.of_dataset(train_ds, crop, out))
    stored = {k: getattr(args, k) for k in RUN_ARGS}
    if ck is not None:
        stored["lr"] = (ck.state.get("args") or {}).get("lr", args.lr)
    trainer = Trainer(net, train_ds, val_ds, out_dir=out, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
                      weight_decay=args.weight_decay, patience=args.patience,
                      anneal_by=args.anneal_by, seed=args.seed,
                      callbacks=callbacks, device=device, verbose=1 if args.quiet else 2,
                      resume=ck, state=dict(data=args.data, data_args=dargs, n_train=args.n_train,
                                            args=stored), comm=comm)
    started = time.time()
    try:
        trainer.fit()
    except KeyboardInterrupt:
        if os.path.exists(trainer.checkpoint_path):
            raise KeyboardInterrupt("the last good checkpoint is %s (go on with --resume %s)"
                                    % (trainer.checkpoint_path, out)) from None
        raise
    return _finish(trainer, args, dargs, callbacks, started)


def _finish(trainer, args, dargs, callbacks, started):
    """The test error of the final net, and the files this run wrote."""
    from zfcore.data import open_dataset
    out = trainer.out_dir
    candidates = [trainer.checkpoint_path, os.path.join(out, "best.h5"),
                  os.path.join(out, "metrics.csv")]
    for cb in callbacks:
        candidates += getattr(cb, "paths", [])
    history = os.path.join(out, "evolution")
    if os.path.isdir(history):
        candidates.append(history + os.sep)
    test = open_dataset(args.data, "test", **dargs)
    test.mean = trainer.train_ds.mean
    err = evaluate(trainer.net, test, trainer.crop, trainer.batch_size, device=trainer.device,
                   comm=trainer.comm)
    print("test accuracy %.2f%% (top-1 error %.2f%%, top-5 error %.2f%%) on %d %s test images"
          % (100 * (1 - err["top1"]), 100 * err["top1"], 100 * err["top5"], len(test.labels),
             args.data))
    written = [p for p in candidates if os.path.exists(p) and os.path.getmtime(p) >= started - 1]
    if written:
        print("wrote:")
        for path in written:
            print("  " + path)
    return err


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    return train(args)


def _command():
    """``python -m zfcore.train``: ``cli.run(main)``; a rank of several that stops with an error
    (or a bug) ends the whole job (``distributed.exit_world``), so no rank waits for it."""
    try:
        cli.run(main, prog="zfcore.train")
    except SystemExit as e:
        distributed.exit_world(e.code)
        raise
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        distributed.exit_world(1)
        raise


if __name__ == "__main__":
    _command()
