"""Train a ZF-style net with the recipe of Z&F Sec. 3.

    python -m zfcore.train                      # small ZF net on the built-in synthetic shapes
    python -m zfcore.train --arch zfnet --data /data/imagenet.h5 --device gpu

SGD with momentum 0.9, batch 128, lr 1e-2 divided by 10 when the validation error has not
improved for ``--patience`` epochs, N(0, 1e-2) weights and zero biases, conv filters renormalised
to RMS 0.1, dropout 0.5 in fc6/fc7, random crops and flips of mean-subtracted images. Every
epoch writes ``checkpoint.h5`` (and ``best.h5`` by validation error) and a row of ``metrics.csv``.
"""
import argparse
import csv
import math
import os
import sys
import time

import numpy as np

from zfcore import cli
from zfcore.backend import cupy_or_none, to_device, to_numpy
from zfcore.checkpoint import load_checkpoint, save_checkpoint
from zfcore.evaluate import evaluate
from zfcore.models import SPECS, build, spec_of
from zfcore.optim import SGD

# The default run: the 64x64 ZF net on synthetic shapes. With the paper's N(0, 1e-2) init and
# dropout it sits at chance for several epochs on this small net (see README), so the *_small
# nets default to He init (inputs scaled by 1/64) and no dropout; zfnet/alexnet keep the paper's.
SMALL_DEFAULTS = dict(arch="zfnet_small", data="synthetic", epochs=8, init="he", lr=1e-2, dropout=0.0)
METRICS = ["epoch", "step", "lr", "train_loss", "train_acc", "val_top1_err", "val_top5_err",
           "images_per_s", "seconds"]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m zfcore.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default=None, choices=sorted(SPECS),
                   help="architecture (default %s)" % SMALL_DEFAULTS["arch"])
    p.add_argument("--data", default=None, help="synthetic | image folder | CIFAR-10 dir | "
                   "MNIST dir | packed .h5 (default synthetic)")
    p.add_argument("--epochs", type=int, default=None, help="total epochs (default %d)" % SMALL_DEFAULTS["epochs"])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=None, help="initial learning rate (default 1e-2)")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--patience", type=int, default=2,
                   help="epochs without a better validation error before lr is divided by 10")
    p.add_argument("--init", default=None, help="weight init std: a number (the paper: 0.01) or "
                   "'he'; default 'he' for the *_small nets, 0.01 otherwise")
    p.add_argument("--dropout", type=float, default=None,
                   help="dropout probability of fc6/fc7 (default 0.5; 0 for the *_small nets)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--out", default=None, help="run folder (default runs/<arch>-<data>-<time>)")
    p.add_argument("--resume", default=None, help="a checkpoint.h5 (or its run folder) to continue")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=None,
                   help="train on the first N images of the training split (val and test stay whole)")
    p.add_argument("--evolution", action=argparse.BooleanOptionalAction, default=True,
                   help="record the feature evolution figures (Z&F Fig. 4) after each epoch, "
                   "into <out>/figures (default on; under a second an epoch on the small net)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def check_args(args):
    for name in ("epochs", "batch_size", "patience"):
        v = getattr(args, name)
        if v is not None and v < (0 if name == "patience" else 1):
            raise cli.UsageError("--%s must be positive, got %d" % (name.replace("_", "-"), v))
    if args.lr is not None and not (args.lr > 0 and math.isfinite(args.lr)):
        raise cli.UsageError("--lr must be a positive number, got %r" % args.lr)
    if not 0 <= args.momentum < 1:
        raise cli.UsageError("--momentum must be in [0, 1), got %r" % args.momentum)
    if args.weight_decay < 0:
        raise cli.UsageError("--weight-decay must be >= 0, got %r" % args.weight_decay)
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


def resolve_device(name):
    """'auto' -> 'cupy' when CuPy sees a GPU, else 'numpy'."""
    if name == "gpu":
        if cupy_or_none() is None:
            raise cli.UsageError("--device gpu: CuPy or a CUDA device is missing "
                                 "(pip install 'zfcore[cuda13]')")
        return "cupy"
    if name == "auto" and cupy_or_none() is not None:
        return "cupy"
    return "numpy"


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


class Run:
    """A training run: the net, its optimiser, its data and its folder."""

    def __init__(self, args):
        from zfcore.data import open_dataset
        self.args, self.device = args, resolve_device(args.device)
        self.state = {"epoch": 0, "step": 0, "best_val_err": None, "since_best": 0}
        velocity = None
        if args.resume:
            path = os.path.join(args.resume, "checkpoint.h5") if os.path.isdir(args.resume) else args.resume
            ck = load_checkpoint(path)
            if args.arch is not None and args.arch != ck.spec.get("arch"):
                raise cli.UsageError("--resume %s holds a %s net, not --arch %s"
                                     % (path, ck.spec.get("arch"), args.arch))
            if args.data is not None and args.data != ck.data:
                raise cli.UsageError("--resume %s was trained on %s, not --data %s" % (path, ck.data, args.data))
            self.net, self.spec, velocity = ck.net, ck.spec, ck.velocity
            self.state.update(ck.state)
            if args.lr is not None:  # an explicit --lr overrides the checkpoint's schedule
                self.state["lr"] = args.lr
            args.arch, args.data, args.seed = ck.spec["arch"], ck.data, ck.state["seed"]
            self.out = args.out or ck.run_dir
            self.data_args = ck.state["data_args"]
            args.n_train = ck.state.get("n_train")
        else:
            args.arch = args.arch or SMALL_DEFAULTS["arch"]
            args.data = args.data or SMALL_DEFAULTS["data"]
            self.out = args.out or default_out(args.arch, args.data)
            self.data_args = data_args(args, SPECS[args.arch]["input"])
        self.train_ds = open_dataset(args.data, "train", n=args.n_train, **self.data_args)
        self.val_ds = open_dataset(args.data, "val", **self.data_args)
        n_classes = len(self.train_ds.class_names)
        if args.resume:
            if self.spec["num_classes"] != n_classes:
                raise cli.UsageError("--resume: the checkpoint's net has %d classes, %s has %d"
                                     % (self.spec["num_classes"], args.data, n_classes))
        else:
            small = args.arch.endswith(("small", "small32"))
            init = args.init or ("he" if small else "0.01")
            # He's rule assumes unit-variance inputs: with it, the 0..255 pixels are scaled by
            # 1/64 (about their std) as they enter the net.
            self.spec = spec_of(args.arch, n_classes, input_channels=3,
                                init_std=init if init == "he" else float(init),
                                input_scale=1 / 64 if init == "he" else 1.0)
            dropout = args.dropout
            if dropout is None and small:
                dropout = SMALL_DEFAULTS["dropout"]
            if dropout is not None:
                for _, kind, layer_args in self.spec["layers"]:
                    if kind == "dropout":
                        layer_args["p"] = dropout
            self.net = build(self.spec, seed=args.seed)
            self.state.update(lr=args.lr or SMALL_DEFAULTS["lr"], seed=args.seed, data=args.data,
                              data_args=self.data_args, n_train=args.n_train)
        self.check_images_fit()
        self.net.to(self.device)
        self.opt = SGD(self.net, self.state["lr"], args.momentum, args.weight_decay)
        for key, v in (velocity or {}).items():
            self.opt.velocity[key] = to_device(v, self.device)
        self.epochs = args.epochs or SMALL_DEFAULTS["epochs"]
        os.makedirs(self.out, exist_ok=True)
        self.checkpoint = os.path.join(self.out, "checkpoint.h5")
        if not args.resume and os.path.exists(self.checkpoint):
            raise cli.UsageError("--out %s already holds a checkpoint; use --resume %s or another --out"
                                 % (self.out, self.out))
        self.metrics = os.path.join(self.out, "metrics.csv")
        self.recorder = None
        if args.evolution:
            from zfcore.vis.evolution import EvolutionRecorder
            probe = next(iter(_batches(self.train_ds, 64, self.crop, False)))[0]
            self.recorder = EvolutionRecorder(self.net, to_device(probe, self.device), self.out)

    @property
    def crop(self):
        return self.spec["input"][1]

    def check_images_fit(self):
        size = self.train_ds.images.shape[1]
        if size < self.crop:
            raise cli.UsageError("--data %s has %dx%d images, smaller than %s's %dx%d input"
                                 % (self.args.data, size, size, self.spec["arch"], self.crop, self.crop))

    def train(self):
        # A diverging run is caught by the finite-loss check below, with one clear message;
        # NumPy's overflow warnings on the way there would only bury it.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._train()

    def _train(self):
        args, net, opt = self.args, self.net, self.opt
        start_epoch = self.state["epoch"]
        if start_epoch >= self.epochs:
            print("nothing to do: the checkpoint is at epoch %d of %d" % (start_epoch, self.epochs))
        for epoch in range(start_epoch, self.epochs):
            t0, seen, loss_sum, correct = time.time(), 0, 0.0, 0
            n_batches = math.ceil(len(self.train_ds.labels) / args.batch_size)
            bar = _progress(_batches(self.train_ds, args.batch_size, self.crop, True, self.state["seed"],
                                     epoch), n_batches, "epoch %d/%d" % (epoch + 1, self.epochs), args.quiet)
            opt.lr = self.state["lr"]
            for x, y in bar:
                x = to_device(x, self.device)
                logits = net.forward(x, train=True)
                loss = float(net.loss(logits, to_device(y, self.device)))
                if not math.isfinite(loss):
                    bar.close()
                    raise cli.TrainingError(
                        "loss became %s at epoch %d, step %d (try a smaller --lr); the last good "
                        "checkpoint is %s" % (loss, epoch + 1, self.state["step"] + 1,
                                              self.checkpoint if os.path.exists(self.checkpoint) else "none"))
                net.backward(input_grad=False)
                opt.step()
                self.state["step"] += 1
                seen += len(y)
                loss_sum += loss * len(y)
                correct += int((to_numpy(logits.argmax(axis=1)) == y).sum())
                bar.set_postfix(loss="%.3f" % (loss_sum / seen), acc="%.3f" % (correct / seen),
                                img_s="%.0f" % (seen / (time.time() - t0)))
            seconds = time.time() - t0
            val = evaluate(net, self.val_ds, self.crop, args.batch_size, device=self.device)
            self.end_epoch(epoch, val)
            row = dict(epoch=epoch + 1, step=self.state["step"], lr=opt.lr, train_loss=loss_sum / seen,
                       train_acc=correct / seen, val_top1_err=val["top1"], val_top5_err=val["top5"],
                       images_per_s=seen / seconds, seconds=seconds)
            self.write_metrics(row)
            print("epoch %d/%d  loss %.4f  train acc %.2f%%  val top-1 err %.2f%%  top-5 err %.2f%%  "
                  "lr %.0e  %.0f img/s" % (epoch + 1, self.epochs, row["train_loss"], 100 * row["train_acc"],
                                           100 * val["top1"], 100 * val["top5"], row["lr"], row["images_per_s"]),
                  flush=True)
        return self.finish()

    def end_epoch(self, epoch, val):
        """Plateau schedule, checkpoint, best.h5, evolution snapshot."""
        st = self.state
        st["epoch"] = epoch + 1
        improved = st["best_val_err"] is None or val["top1"] < st["best_val_err"]
        if improved:
            st["best_val_err"], st["since_best"] = val["top1"], 0
        else:
            st["since_best"] += 1
        self.save(self.checkpoint)
        if improved:
            self.save(os.path.join(self.out, "best.h5"))
        if st["since_best"] >= self.args.patience:
            st["lr"], st["since_best"] = st["lr"] * 0.1, 0
        if self.recorder is not None:
            self.recorder.record(epoch + 1)

    def save(self, path):
        save_checkpoint(path, self.net, self.opt.velocity, self.train_ds.mean,
                        self.train_ds.class_names, self.state)

    def write_metrics(self, row):
        rows = []
        if os.path.exists(self.metrics):  # a resumed run keeps the rows of the epochs it keeps
            with open(self.metrics) as f:
                rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < row["epoch"]]
        rows.append(row)
        tmp = self.metrics + ".tmp"
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, METRICS)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.metrics)

    def finish(self):
        from zfcore.data import open_dataset
        written = [self.checkpoint, os.path.join(self.out, "best.h5"), self.metrics]
        if self.recorder is not None:
            written += self.recorder.save() or []
        test = open_dataset(self.args.data, "test", **self.data_args)
        test.mean = self.train_ds.mean
        err = evaluate(self.net, test, self.crop, self.args.batch_size, device=self.device)
        print("test accuracy %.2f%% (top-1 error %.2f%%, top-5 error %.2f%%) on %d %s test images"
              % (100 * (1 - err["top1"]), 100 * err["top1"], 100 * err["top5"], len(test.labels),
                 self.args.data))
        print("wrote:")
        for path in written:
            if os.path.exists(path):
                print("  " + path)
        return err


def _batches(ds, batch_size, crop, train, seed=0, epoch=0):
    from zfcore.data import batches
    return batches(ds, batch_size, crop, train=train, seed=seed, epoch=epoch)


def _progress(it, total, desc, quiet):
    from tqdm import tqdm
    return tqdm(it, total=total, desc=desc, leave=False, disable=quiet, file=sys.stderr,
                dynamic_ncols=True)


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    return Run(args).train()


if __name__ == "__main__":
    cli.run(main, prog="zfcore.train")
