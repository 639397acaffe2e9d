"""Train the 32x32 small ZF net on real images, ours and PyTorch's side by side, epoch by epoch.

    python bench/train_real.py [--data DIR] [--epochs 30] [--out bench/out/train_real]
    python bench/train_real.py --data synthetic --epochs 1 --n-train 512 --no-torch   # smoke
    python bench/train_real.py --resume [--out DIR] [--epochs 30]   # go on with a stopped run

Ours is the command line's run: the net and the settings from ``zfcore.recipe`` for
``zfnet_small32`` (He init, inputs scaled by 1/64, no dropout) trained by ``zfcore.trainer.fit``
(Z&F Sec. 3: v = 0.9 v - lr (g + wd w); w += v; every conv filter renormalised to RMS <= 0.1;
lr x0.1 when the validation error plateaus). Its crops are the loader's for an image as large as
the net's input: the image reflect-padded by 4 pixels and a random 32 x 32 crop of it (shifts of
up to 4 pixels), mirrored with probability 1/2.

The PyTorch twin (``torch.nn.Sequential`` holding copies of the same initial weights, fed the
same scaled inputs) takes the same update, written out by hand, over the same batches in the same
order (``zfcore.data.batches`` with the same seed and epoch), with the lr ours had in that epoch.
The two alternate: ours trains epoch e, then the twin trains its epoch e, so that both are timed
under the same load. After each epoch both are tested on the test split: top-1 of the centre crop
and of the 10 crops (Sec. 3: 4 corners, centre, and their mirror images; on 32 x 32 images with
32 x 32 crops the five places coincide, so the 10 crops are the image and its mirror image, and
each side's net sees just those two).

Writes ``OUT/epochs.csv`` (one row per epoch and side), ``OUT/curves.png`` (both learning
curves) and ours' run folder ``OUT/ours`` (checkpoints, metrics and, unless ``--no-evolution``,
the Fig. 4 frames: ``python -m zfcore.visualize OUT/ours`` draws its report). Prints a table
and the bars: |ours - torch| <= 0.5 points of 10-crop test top-1; ours >= 80% on CIFAR-10 (92%
on Fashion-MNIST) in at most 30 epochs; ours per epoch <= 1.3x the twin's time. Without PyTorch
only ours runs.
"""
import argparse
import csv
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # what `import zfcore` sets (zfcore/__init__)
import numpy as np  # noqa: E402

from zfcore.data import batches, centre_crop, open_dataset, ten_crop  # noqa: E402
from zfcore.evaluation import evaluate  # noqa: E402
from zfcore.recipe import anneal_epoch, recipe  # noqa: E402
from zfcore.train import Evolution  # noqa: E402
from zfcore.trainer import Callback, Trainer  # noqa: E402

SHARED = os.path.join(HERE, "..", "..", "shared", "data")
CANDIDATES = ["cifar10-jpeg", "cifar-10-batches-py", "fashion-mnist"]
BARS = {"cifar": 0.80, "fashion": 0.92}          # 10-crop test top-1 the recipe must reach
COLUMNS = ["side", "epoch", "lr", "train_loss", "train_acc", "test_centre", "test_10crop",
           "images_per_s", "seconds"]


def find_data():
    for name in CANDIDATES:
        path = os.path.join(SHARED, name)
        if os.path.isdir(path):
            return os.path.normpath(path)
    return None


def bar_for(data):
    name = os.path.basename(os.path.normpath(data)).lower()
    return next((v for k, v in BARS.items() if k in name), None)


# -- the twin ---------------------------------------------------------------------------------
def torch_update(model, velocity, lr, momentum, wd, max_rms=0.1):
    """The update of zfcore.optim.SGD, in PyTorch."""
    import torch
    with torch.no_grad():
        for i, m in enumerate(model):
            if not hasattr(m, "weight"):
                continue
            for name, p in (("W", m.weight), ("b", m.bias)):
                key = "%d.%s" % (i, name)
                v = velocity.setdefault(key, torch.zeros_like(p))
                g = p.grad + wd * p if name == "W" else p.grad
                v.mul_(momentum).sub_(lr * g)
                p.add_(v)
                if name == "W" and p.dim() == 4:
                    rms = p.pow(2).mean(dim=(1, 2, 3)).sqrt()
                    scale = torch.where(rms > max_rms, max_rms / rms.clamp_min(1e-30),
                                        torch.ones_like(rms))
                    p.mul_(scale.view(-1, 1, 1, 1))
                p.grad = None


def torch_test(model, ds, crop, scale, batch_size=250):
    """(centre-crop top-1, 10-crop top-1) of the twin: the same crops as ``zfcore.evaluation``
    (the distinct ones of the 10, each weighted by how many it stands for)."""
    import torch
    model.eval()
    right = np.zeros(2)

    def probs(x):
        return torch.softmax(model(torch.from_numpy(x * scale)), dim=1).numpy()

    with torch.no_grad():
        for s in range(0, len(ds.labels), batch_size):
            images, y = np.asarray(ds.images[s:s + batch_size]), ds.labels[s:s + batch_size]
            right[0] += (probs(centre_crop(images, ds.mean, crop)).argmax(1) == y).sum()
            x, w = ten_crop(images, ds.mean, crop, distinct=True)
            p = (probs(x).reshape(len(y), len(w), -1) * w[:, None]).sum(1)
            right[1] += (p.argmax(1) == y).sum()
    return right / len(ds.labels)


class Twin:
    """The PyTorch twin of our net, trained one epoch at a time over the batches ours saw."""

    def __init__(self, net, seed, threads):
        import torch
        from peers import torch_model
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        self.model = torch_model(net)      # copies of the initial weights, before ours train
        first = next(m for m in self.model if hasattr(m, "weight"))
        # torch_model folds input_scale into conv1; the twin must train the same weights as
        # ours (their gradient, decay and RMS cap act on the unfolded values), so it keeps ours
        # and is fed the scaled inputs instead
        with torch.no_grad():
            first.weight.copy_(torch.from_numpy(np.asarray(net.params()["conv1.W"])))
        self.velocity = {}

    def state(self):
        return {"model": self.model.state_dict(), "velocity": self.velocity}

    def load(self, state):
        self.model.load_state_dict(state["model"])
        self.velocity = dict(state["velocity"])

    def epoch(self, train, epoch, lr, hp, seed, crop, scale):
        import torch
        self.model.train()
        t, seen, loss_sum, right = time.perf_counter(), 0, 0.0, 0
        for x, y in batches(train, hp["batch_size"], crop, train=True, seed=seed, epoch=epoch):
            logits = self.model(torch.from_numpy(x * scale))
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y))
            loss.backward()
            torch_update(self.model, self.velocity, lr, hp["momentum"], hp["weight_decay"],
                         hp["max_filter_rms"])
            seen += len(y)
            loss_sum += float(loss.detach()) * len(y)
            right += int((logits.argmax(1).numpy() == y).sum())
        seconds = time.perf_counter() - t
        return dict(train_loss=loss_sum / seen, train_acc=right / seen,
                    images_per_s=seen / seconds, seconds=seconds)


class SideBySide(Callback):
    """After each epoch of ours: test ours, train and test the twin's same epoch, write a row
    for each, print both. ``OUT/side_by_side.pt`` (written whole, then renamed) holds the rows
    and the twin after its last epoch: with ``resume``, both go on from there."""

    def __init__(self, test, crop, scale, twin, train, hp, seed, out):
        self.test, self.crop, self.scale, self.twin = test, crop, scale, twin
        self.train, self.hp, self.seed, self.out = train, hp, seed, out
        self.rows = []
        self.state_path = os.path.join(out, "side_by_side.pt")

    def resume(self, trainer):
        """Take the rows and the twin from the state file; if ours got one epoch further (the
        run stopped after ours' checkpoint and before the twin's epoch), do that epoch's
        tests and the twin's epoch now, from ours' metrics row."""
        import torch
        state = torch.load(self.state_path, weights_only=False)
        self.rows = state["rows"]
        if self.twin is not None and state["twin"] is not None:
            self.twin.load(state["twin"])
        done = max((r["epoch"] for r in self.rows), default=0)
        ours = trainer.state["epoch"]
        if ours == done + 1:
            with open(os.path.join(self.out, "ours", "metrics.csv")) as f:
                row = [r for r in csv.DictReader(f) if int(r["epoch"]) == ours][0]
            self.on_epoch_end(trainer, {k: float(v) if k != "epoch" else int(v)
                                        for k, v in row.items()})
        elif ours != done:
            sys.exit("train_real: %s is at epoch %d but ours at %d: cannot go on"
                     % (self.state_path, done, ours))

    def on_epoch_end(self, trainer, row):
        centre = 1 - evaluate(trainer.net, self.test, self.crop, 250)["top1"]
        ten = 1 - evaluate(trainer.net, self.test, self.crop, 250, ten_crops=True)["top1"]
        self._add("ours", row, centre, ten)
        if self.twin is not None:
            r = self.twin.epoch(self.train, row["epoch"] - 1, row["lr"], self.hp, self.seed,
                                self.crop, self.scale)
            c, t = torch_test(self.twin.model, self.test, self.crop, self.scale)
            self._add("torch", dict(r, epoch=row["epoch"], lr=row["lr"]), c, t)
        self._write()

    def _add(self, side, row, centre, ten):
        r = dict(side=side, epoch=row["epoch"], lr=row["lr"], train_loss=row["train_loss"],
                 train_acc=row["train_acc"], test_centre=centre, test_10crop=ten,
                 images_per_s=row["images_per_s"], seconds=row["seconds"])
        self.rows.append(r)
        print("epoch %2d %-5s loss %.4f  train acc %.2f%%  test top-1 %.2f%% (10-crop %.2f%%)  "
              "%.0f img/s  %.0f s  (lr %g)"
              % (r["epoch"], side, r["train_loss"], 100 * r["train_acc"], 100 * centre,
                 100 * ten, r["images_per_s"], r["seconds"], r["lr"]), flush=True)

    def _write(self):
        import torch
        from zfcore.atomic import atomic_write
        with atomic_write(self.state_path, "wb") as f:
            torch.save({"rows": self.rows,
                        "twin": self.twin.state() if self.twin is not None else None}, f)
        with atomic_write(os.path.join(self.out, "epochs.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, COLUMNS)
            w.writeheader()
            w.writerows(self.rows)
        plot(self.rows, os.path.join(self.out, "curves.png"))


def plot(rows, path):
    """Train loss and test top-1 (centre and 10-crop) per epoch, both sides on one figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for side, colour in (("ours", "tab:blue"), ("torch", "tab:orange")):
        rs = [r for r in rows if r["side"] == side]
        if not rs:
            continue
        e = [r["epoch"] for r in rs]
        a.plot(e, [r["train_loss"] for r in rs], "o-", color=colour, label=side)
        b.plot(e, [100 * r["test_10crop"] for r in rs], "o-", color=colour,
               label=side + " (10 crops)")
        b.plot(e, [100 * r["test_centre"] for r in rs], "--", color=colour,
               label=side + " (centre)")
    a.set(xlabel="epoch", ylabel="train loss", title="training loss")
    b.set(xlabel="epoch", ylabel="test top-1 (%)", title="test accuracy")
    from matplotlib.ticker import MaxNLocator
    for ax in (a, b):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))     # epochs are whole numbers
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    from zfcore.vis.render import save
    save(fig, path)
    plt.close(fig)             # redrawn every epoch: pyplot keeps every figure until closed


def report(rows, data, epochs, bar):
    ours = [r for r in rows if r["side"] == "ours"]
    theirs = [r for r in rows if r["side"] == "torch"]
    o = ours[-1]
    print("\n| side | epochs | train loss | train acc | test top-1 centre | test top-1 10-crop "
          "| s / epoch | img/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, rs in (("ours", ours), ("torch", theirs)):
        if rs:
            r = rs[-1]
            sec = sum(x["seconds"] for x in rs) / len(rs)
            print("| %s | %d | %.4f | %.2f%% | %.2f%% | %.2f%% | %.1f | %.0f |"
                  % (name, r["epoch"], r["train_loss"], 100 * r["train_acc"],
                     100 * r["test_centre"], 100 * r["test_10crop"], sec, r["images_per_s"]))
    if bar is not None:
        print("bar: ours >= %.0f%% 10-crop test top-1 in <= 30 epochs (%d): %s"
              % (100 * bar, epochs, "met" if o["test_10crop"] >= bar and epochs <= 30
                 else "NOT met"))
    if theirs:
        t = theirs[-1]
        gap = 100 * (o["test_10crop"] - t["test_10crop"])
        ratio = sum(r["seconds"] for r in ours) / sum(r["seconds"] for r in theirs)
        print("bar: |ours - torch| <= 0.5 points (10-crop): %+.2f, %s"
              % (gap, "met" if abs(gap) <= 0.5 else "NOT met"))
        print("bar: ours per epoch <= 1.3x torch's time: %.2fx, %s"
              % (ratio, "met" if ratio <= 1.3 else "NOT met"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="CIFAR-10 python folder, Fashion-MNIST idx "
                    "folder or synthetic (default: the first of %s in ../shared/data)"
                    % ", ".join(CANDIDATES))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=None, help="initial lr (default: the recipe's)")
    ap.add_argument("--weight-decay", type=float, default=None, help="default: the recipe's")
    ap.add_argument("--patience", type=int, default=None, help="default: the recipe's")
    ap.add_argument("--n-train", type=int, default=None, help="train on the first N images only")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="PyTorch's threads "
                    "(default: the CPU count, as NumPy's BLAS)")
    ap.add_argument("--out", default=os.path.join(HERE, "out", "train_real"))
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--evolution", action=argparse.BooleanOptionalAction, default=True,
                    help="record ours' feature evolution frames (Z&F Fig. 4) into OUT/ours, as "
                    "python -m zfcore.train --evolution does (default: on)")
    ap.add_argument("--resume", action="store_true", help="go on with the run in --out (ours "
                    "from OUT/ours, the twin and the rows from OUT/side_by_side.pt)")
    args = ap.parse_args(argv)
    data = args.data or find_data()
    if data is None:
        sys.exit("train_real: no CIFAR-10 or Fashion-MNIST folder in ../shared/data; pass --data")
    kw = {"seed": args.seed, "size": 32} if data == "synthetic" else {}
    train = open_dataset(data, "train", n=args.n_train, **kw)
    val = open_dataset(data, "val", **kw)
    test = open_dataset(data, "test", **kw)
    rec = recipe("zfnet_small32", len(train.class_names), input_channels=3)
    net = rec.build(seed=args.seed)
    crop, scale = rec.spec["input"][1], np.float32(rec.input_scale)
    hp = dict(rec.training, batch_size=args.batch_size)
    for key in ("lr", "weight_decay", "patience"):
        if getattr(args, key) is not None:
            hp[key] = getattr(args, key)
    twin = None
    if not args.no_torch:
        try:
            twin = Twin(net, args.seed, args.threads)
        except ImportError:
            print("PyTorch not importable: ours only")
    os.makedirs(args.out, exist_ok=True)
    print("data %s: %d train, %d val, %d test images, %d classes; zfnet_small32 (init %s, input "
          "scale %g, dropout %g), %d epochs, batch %d, lr %g, weight decay %g, patience %d, "
          "anneal by epoch %s; load average %s"
          % (data, len(train.labels), len(val.labels), len(test.labels), len(train.class_names),
             rec.init, rec.input_scale, rec.dropout, args.epochs, hp["batch_size"], hp["lr"],
             hp["weight_decay"], hp["patience"],
             anneal_epoch(dict(hp, epochs=args.epochs)) or "never",
             " ".join(open("/proc/loadavg").read().split()[:3])), flush=True)
    log = SideBySide(test, crop, scale, twin, train, hp, args.seed, args.out)
    ours_dir = os.path.join(args.out, "ours")
    callbacks = [log]
    if args.evolution:
        callbacks.append(Evolution.of_dataset(train, crop, ours_dir))
    if args.resume:
        if not os.path.exists(log.state_path):
            sys.exit("train_real: --resume: no %s" % log.state_path)
        trainer = Trainer(net, train, val, out_dir=ours_dir, epochs=args.epochs, seed=args.seed,
                          resume=ours_dir, callbacks=callbacks)
        log.resume(trainer)
    else:
        if os.path.exists(os.path.join(ours_dir, "checkpoint.h5")):
            sys.exit("train_real: %s already holds a run: go on with it (--resume) or choose "
                     "another --out" % args.out)
        trainer = Trainer(net, train, val, out_dir=ours_dir, epochs=args.epochs,
                          batch_size=hp["batch_size"], lr=hp["lr"], momentum=hp["momentum"],
                          weight_decay=hp["weight_decay"], max_filter_rms=hp["max_filter_rms"],
                          patience=hp["patience"], anneal_by=hp["anneal_by"], seed=args.seed,
                          callbacks=callbacks)
    trainer.fit()
    report(log.rows, data, args.epochs, bar_for(data))
    print("wrote %s and %s" % (os.path.join(args.out, "epochs.csv"),
                               os.path.join(args.out, "curves.png")))


if __name__ == "__main__":
    main()
